"""Assignment of anchors to ground-truth boxes (Lin et al. 2017, "Focal Loss for Dense
Object Detection", §4 "Anchors": IoU ≥ 0.5 foreground, < 0.4 background, between ignored).

State encoding per anchor [C]: ``POSITIVE = 1`` (trained towards its box's class and box),
``NEGATIVE = 0`` (background), ``IGNORED = -1`` (no loss).
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_module
from ..errors import HalconDLError
from .boxes import check_boxes, check_compatible, check_index_array, check_instance_type
from .iou import box_iou

POSITIVE = 1
NEGATIVE = 0
IGNORED = -1


class AnchorMatch(NamedTuple):
    """Result of :func:`match_anchors`, three (N,) int64 arrays.

    ``gt_index``: the box matched to each positive anchor, -1 for the others;
    ``class_index``: ``gt_class_index[gt_index]`` for positive anchors, -1 for the others;
    ``state``: POSITIVE (1), NEGATIVE (0) or IGNORED (-1).
    """
    gt_index: object
    class_index: object
    state: object


def _check_thresholds(positive: float, negative: float):
    if not 0.0 <= negative <= positive <= 1.0:
        raise HalconDLError(
            f'matching thresholds need 0 <= negative <= positive <= 1, '
            f'got positive={positive!r}, negative={negative!r}')


def match_anchors(anchors, gt_boxes, gt_class_index, positive: float = 0.5,
                  negative: float = 0.4, instance_type: str = 'rectangle1') -> AnchorMatch:
    """Match N anchors to M ground-truth boxes of one image by IoU.

    ``anchors`` (N, 4|5), ``gt_boxes`` (M, 4|5) of ``instance_type`` on the same device,
    ``gt_class_index`` (M,) integer class indices.  The IoU is computed in the anchors' dtype:
    ground truth of another float dtype (user boxes in float64 against float32 anchors) is
    converted to it once, here.  With ``m_a = max_j IoU(a, j)``:

    * ``m_a ≥ positive`` -> POSITIVE, matched to ``argmax_j IoU(a, j)`` (the lowest such j);
    * ``m_a < negative`` -> NEGATIVE; in between -> IGNORED;
    * then every box j whose best IoU ``b_j = max_a IoU(a, j)`` is > 0 forces **all** anchors with
      ``IoU(a, j) = b_j`` to POSITIVE, matched to j.  An anchor forced by several boxes is matched
      to the one it overlaps most (the lowest index among ties).

    An image without boxes (M = 0) gives all anchors NEGATIVE (N = 0 gives empty arrays).
    rectangle2 uses the exact rotated IoU.  Returns an :class:`AnchorMatch` of (N,) int64 arrays
    on the anchors' device.
    """
    instance_type = check_instance_type(instance_type)
    anchors = check_boxes(anchors, instance_type, 'anchors')
    gt_boxes = check_boxes(gt_boxes, instance_type, 'gt_boxes').astype(anchors.dtype, copy=False)
    check_compatible(('anchors', anchors), ('gt_boxes', gt_boxes))
    _check_thresholds(positive, negative)
    xp = array_module(anchors)
    num_anchors, num_boxes = anchors.shape[0], gt_boxes.shape[0]
    gt_class_index = check_index_array(gt_class_index, anchors, 'gt_class_index', num_boxes)
    if num_boxes == 0 or num_anchors == 0:
        unmatched = xp.full(num_anchors, -1, dtype=xp.int64)
        return AnchorMatch(unmatched, unmatched.copy(), xp.full(num_anchors, NEGATIVE, xp.int64))
    return match_by_iou(matching_iou(anchors, gt_boxes, instance_type, negative), gt_class_index,
                        positive, negative)


def match_by_iou(iou, gt_class_index, positive: float = 0.5, negative: float = 0.4) -> AnchorMatch:
    """The rule of :func:`match_anchors` applied to an (N, M) IoU matrix, M ≥ 1 (as
    :func:`matching_iou` gives it); ``gt_class_index`` (M,) integers on the matrix's device."""
    xp = array_module(iou)
    best_box = xp.argmax(iou, axis=1)
    best_iou = xp.take_along_axis(iou, best_box[:, None], axis=1)[:, 0]
    state = xp.where(best_iou >= positive, POSITIVE,
                     xp.where(best_iou < negative, NEGATIVE, IGNORED)).astype(xp.int64)
    gt_index = xp.where(state == POSITIVE, best_box, -1)

    forced_anchor, forced_box = _forced_matches(iou)
    state[forced_anchor] = POSITIVE
    gt_index[forced_anchor] = forced_box
    class_index = xp.where(state == POSITIVE,
                           gt_class_index.astype(xp.int64)[xp.maximum(gt_index, 0)], -1)
    return AnchorMatch(gt_index, class_index, state)


def matching_iou(anchors, gt_boxes, instance_type: str, negative: float = 0.4):
    """The (N, M) IoU matrix of validated anchors and boxes, as far as matching reads it.

    rectangle1: exact.  rectangle2 (exact clipping is costly): exact from ``negative`` up
    (:func:`~halcon_dl.detection.iou.iou_rect2` with ``floor``), 0 for pairs below it — which
    changes no state (such an anchor is negative for that box) — except in the columns of boxes
    whose best IoU is below ``negative``, which are computed in full for the forced matches.
    Every column depends on its own box only, so the boxes of several images may be passed at
    once and the matrix split into their column blocks.
    """
    iou = box_iou(anchors, gt_boxes, instance_type, floor=negative)
    if instance_type == 'rectangle2' and negative > 0:
        xp = array_module(iou)
        low = xp.nonzero(iou.max(axis=0) < negative)[0]
        if low.shape[0]:
            iou[:, low] = box_iou(anchors, gt_boxes[low], instance_type)
    return iou


def _forced_matches(iou):
    """Anchors forced positive by some box being their best, and the box each is matched to.

    ``forced[a, j] = IoU(a, j) = max_a' IoU(a', j) > 0``; an anchor forced by several boxes takes
    the one with the largest IoU (argmax: the lowest index among ties).
    Returns (anchor indices, box indices), both 1-D.
    """
    xp = array_module(iou)
    best_per_box = xp.max(iou, axis=0)                                   # (M,)
    forced = (iou == best_per_box[None, :]) & (best_per_box[None, :] > 0)
    anchors = xp.nonzero(xp.any(forced, axis=1))[0]
    candidates = xp.where(forced[anchors], iou[anchors], -1)
    return anchors, xp.argmax(candidates, axis=1)
