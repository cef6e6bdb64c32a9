"""Greedy non-maximum suppression (the greedy NMS of Felzenszwalb et al. 2010 as used by
RetinaNet, Lin et al. 2017): per class at ``max_overlap``, then across classes at
``max_overlap_class_agnostic``, then the best ``max_num_detections``.

Suppression rule [C]: a box is suppressed when its IoU with a kept box of higher rank is
**strictly greater** than the threshold (IoU = threshold survives), so a threshold of 1.0
suppresses nothing.  Rank = score descending, ties broken by the lower index (a stable sort), so
the result is deterministic.

Everything runs on the array module of the boxes except the greedy scan itself, which is
sequential: it runs on a host copy of each class's (n, n) boolean "overlaps too much" matrix (one
transfer per class instead of one device sync per box).  Memory is O(n²) for the largest class:
NMS expects boxes already filtered by ``min_confidence``.
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


def _greedy_keep(iou, threshold: float):
    """Greedy scan over boxes in rank order: a bool (n,) mask of the kept ones.

    ``iou`` (n, n) is the IoU matrix of the boxes sorted by rank; box i is kept unless some kept
    box k < i has ``iou[k, i] > threshold``.  The scan is sequential, so it runs on a host copy
    of the comparison matrix (one transfer instead of one device sync per box).
    """
    too_close = to_numpy(iou > threshold)
    keep = np.ones(too_close.shape[0], dtype=bool)           # host mask of the host scan
    for i in range(too_close.shape[0]):
        if keep[i]:
            keep[i + 1:] &= ~too_close[i, i + 1:]
    return array_module(iou).asarray(keep)


def _suppress(boxes_ranked, keep, groups, threshold: float, instance_type: str):
    """Run :func:`_greedy_keep` within each group of ranked boxes, updating the mask ``keep``.

    ``groups`` (n,) holds a group label per ranked box (all equal for class-agnostic NMS); only
    boxes still kept take part.
    """
    xp = array_module(boxes_ranked)
    for label in xp.unique(groups[keep]).tolist():
        positions = xp.nonzero(keep & (groups == label))[0]
        members = boxes_ranked[positions]
        keep[positions] = _greedy_keep(box_iou(members, members, instance_type), threshold)


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
    boxes_ranked = boxes[order]
    keep = xp.ones(num, dtype=bool)
    if max_overlap < 1.0:
        _suppress(boxes_ranked, keep, class_ids[order], max_overlap, instance_type)
    if agnostic < 1.0:
        _suppress(boxes_ranked, keep, xp.zeros(num, dtype=xp.int64), agnostic, instance_type)
    return order[xp.nonzero(keep)[0][:max_num_detections]].astype(xp.int64)
