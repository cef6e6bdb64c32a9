"""Greedy non-maximum suppression (the greedy NMS of Felzenszwalb et al. 2010 as used by
RetinaNet, Lin et al. 2017): per class at ``max_overlap``, then across classes at
``max_overlap_class_agnostic``, then the best ``max_num_detections``.

Suppression rule [C]: a box is suppressed when its IoU with a kept box of higher rank is
**strictly greater** than the threshold (IoU = threshold survives), so a threshold of 1.0
suppresses nothing.  Rank = score descending, ties broken by the lower index (a stable sort), so
the result is deterministic.

One greedy scan in rank order does both passes at once (the same result as running them one
after the other): a box that no higher-ranked survivor of its class overlaps too much survives
the per-class pass and suppresses the later boxes of its class; it is kept if no kept box
overlaps it more than ``max_overlap_class_agnostic``, and then suppresses across classes; the
scan stops once ``max_num_detections`` boxes are kept.  IoUs are computed only as rows from a
surviving box to the later boxes still in play, on the boxes' array module (the scan's
bookkeeping is on the host, one transfer per row): with many overlapping candidates — rotated
boxes early in training — that is O(survivors · n) IoUs instead of O(n²), and memory is O(n).
Only whether an IoU exceeds the threshold matters, so rotated pairs whose IoU bound lies below it
skip the exact clipping (``iou_rect2``'s ``floor``).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import array_module, is_gpu_array, to_numpy
from ..errors import HalconDLError
from .boxes import check_boxes, check_compatible, check_index_array, check_instance_type
from .iou import box_iou


def _check_overlap(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise HalconDLError(f'{name} must be a number in [0, 1], got {value!r}')
    return float(value)


def _greedy_scan(boxes_ranked, classes_ranked, max_overlap: float, agnostic: float,
                 max_num_detections: int, instance_type: str) -> list:
    """Rank positions of the kept boxes, in rank order (the scan of the module docstring).

    ``alive[j]``: not suppressed within its class by a higher-ranked survivor; ``free[j]``: not
    suppressed by a kept box across classes.  Box i, when alive, suppresses the later alive
    boxes of its class with IoU > ``max_overlap``; when also free it is kept and suppresses the
    later boxes with IoU > ``agnostic``.
    """
    num = boxes_ranked.shape[0]
    xp = array_module(boxes_ranked)
    classes = to_numpy(classes_ranked)
    alive, free = np.ones(num, dtype=bool), np.ones(num, dtype=bool)   # host bookkeeping

    def suppress(i, flags, later, threshold):
        rows = np.flatnonzero(later) + i + 1
        if rows.size:
            iou = box_iou(boxes_ranked[i:i + 1], boxes_ranked[xp.asarray(rows)], instance_type,
                          floor=threshold)
            flags[rows] &= ~to_numpy(iou[0] > threshold)

    kept = []
    for i in range(num):
        if len(kept) == max_num_detections:
            break
        if not alive[i]:
            continue
        if max_overlap < 1.0:
            suppress(i, alive, alive[i + 1:] & (classes[i + 1:] == classes[i]), max_overlap)
        if free[i]:
            kept.append(i)
            if agnostic < 1.0:
                suppress(i, free, alive[i + 1:] & free[i + 1:], agnostic)
    return kept


def nms(boxes, scores, class_ids, max_overlap: float, max_overlap_class_agnostic: float = 1.0,
        max_num_detections: int = 100, instance_type: str = 'rectangle1'):
    """Indices of the detections that survive NMS, best first.

    ``boxes`` (N, 4|5) of ``instance_type``, ``scores`` (N,) of the same dtype and device,
    ``class_ids`` (N,) integers.  Steps: rank by score (descending, ties by lower index);
    per class, suppress boxes with IoU > ``max_overlap`` to a kept higher-ranked box of the same
    class; then, unless ``max_overlap_class_agnostic`` is 1.0, the same over all remaining boxes
    regardless of class; keep the first ``max_num_detections``.
    Returns an int64 (K,) array of indices into the inputs, sorted by confidence descending.
    """
    instance_type = check_instance_type(instance_type)
    boxes = check_boxes(boxes, instance_type, 'boxes')
    xp = array_module(boxes)
    num = boxes.shape[0]
    if not (isinstance(scores, np.ndarray) or is_gpu_array(scores)) or scores.shape != (num,):
        raise HalconDLError(f'scores must be an array of shape ({num},)')
    check_compatible(('boxes', boxes), ('scores', scores))
    class_ids = check_index_array(class_ids, boxes, 'class_ids', num)
    max_overlap = _check_overlap(max_overlap, 'max_overlap')
    agnostic = _check_overlap(max_overlap_class_agnostic, 'max_overlap_class_agnostic')
    if (isinstance(max_num_detections, bool) or not isinstance(max_num_detections, numbers.Integral)
            or max_num_detections < 0):
        raise HalconDLError(f'max_num_detections must be an integer >= 0, '
                            f'got {max_num_detections!r}')
    if bool(xp.any(xp.isnan(scores))):
        raise HalconDLError('scores must not contain NaN')

    order = xp.argsort(-scores, kind='stable')
    kept = _greedy_scan(boxes[order], class_ids[order], max_overlap, agnostic,
                        max_num_detections, instance_type)
    return order[xp.asarray(np.asarray(kept, dtype=np.int64))].astype(xp.int64)
