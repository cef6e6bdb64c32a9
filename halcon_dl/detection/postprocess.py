"""From the network's outputs of one image to its detections (SPEC §8, §9): pure array code.

Per pyramid level, with confidences ``σ(z)`` (A_l, K) and box offsets (A_l, D):

1. candidates are the (anchor, class) pairs with confidence ≥ ``min_confidence``; of them only
   the ``top_k`` best per level are kept (``PRE_NMS_TOP_K`` = 1000 by default, as in RetinaNet:
   inference stays fast however many anchors pass the threshold);
2. their anchors' boxes are decoded (:func:`~halcon_dl.detection.coding.decode`, log terms
   clamped at log(1000/16)).

Then over all levels together:

3. rectangle1 boxes are clipped to the image, ``[-0.5, H - 0.5] × [-0.5, W - 0.5]`` [C]; a box
   left with no area (it lay wholly outside) is dropped.  rectangle2 boxes are not clipped [C]:
   a rotated box cut by the image border is no rectangle any more;
4. rectangle2 boxes of the classes in ``class_ids_no_orientation`` get φ = 0 (they were
   trained on their axis-aligned enclosing box with no angle target);
5. :func:`~halcon_dl.detection.nms.nms`: per class at ``max_overlap``, across classes at
   ``max_overlap_class_agnostic``, the best ``max_num_detections``, sorted by confidence.
"""
from __future__ import annotations

from ..backend import array_module
from .coding import decode
from .nms import nms

PRE_NMS_TOP_K = 1000


def top_candidates(scores, min_confidence: float, top_k: int):
    """The at most ``top_k`` (anchor, class) pairs of ``scores`` (A, K) with score ≥
    ``min_confidence``: (anchor index, class index, score) arrays, best first (ties: the lower
    flat index ``a·K + c`` first), so the choice is deterministic."""
    xp = array_module(scores)
    flat = scores.reshape(-1)
    index = xp.nonzero(flat >= min_confidence)[0]
    if index.shape[0] > top_k:
        index = index[xp.argsort(-flat[index], kind='stable')[:top_k]]
    num_classes = scores.shape[1]
    return index // num_classes, index % num_classes, flat[index]


def detect(levels, anchors, *, instance_type: str, image_height: int, image_width: int,
           min_confidence: float, max_overlap: float, max_overlap_class_agnostic: float,
           max_num_detections: int, ignore_direction: bool = False,
           no_orientation_classes=(), top_k: int = PRE_NMS_TOP_K):
    """Detections of one image (the steps of the module docstring).

    ``levels``: per pyramid level a pair (confidences (A_l, K), box offsets (A_l, D));
    ``anchors``: per level the (A_l, D) anchors; ``no_orientation_classes``: class *indices*
    whose rectangle2 boxes get φ = 0.  Returns (boxes (n, D), class indices (n,), confidences
    (n,)) sorted by confidence, descending.
    """
    xp = array_module(anchors[0])
    boxes, classes, scores = [], [], []
    for (conf, deltas), level_anchors in zip(levels, anchors):
        a, c, s = top_candidates(conf, min_confidence, top_k)
        boxes.append(decode(level_anchors[a], deltas[a], instance_type, ignore_direction))
        classes.append(c)
        scores.append(s)
    boxes, classes, scores = (xp.concatenate(v) for v in (boxes, classes, scores))
    if instance_type == 'rectangle1':
        limits = xp.asarray([image_height, image_width] * 2, dtype=boxes.dtype) - 0.5
        boxes = xp.clip(boxes, -0.5, limits)
        kept = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, classes, scores = boxes[kept], classes[kept], scores[kept]
    elif len(no_orientation_classes):
        flat = xp.isin(classes, xp.asarray(list(no_orientation_classes)))
        boxes[:, 2] = xp.where(flat, 0, boxes[:, 2])
    keep = nms(boxes, scores, classes, max_overlap, max_overlap_class_agnostic,
               max_num_detections, instance_type)
    return boxes[keep], classes[keep], scores[keep]
