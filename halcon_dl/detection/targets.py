"""Dense training targets for every anchor of every image (SPEC §6, §8): pure array code.

For anchors (A, D) and an image's ground truth (M, D) with class indices (M,):

* the matching rule of :func:`~halcon_dl.detection.matching.match_anchors` gives each anchor a
  state (positive, negative, ignored) and each positive anchor its box;
* ``class_index`` (A,) int64: the matched box's class index for positive anchors, -1 otherwise
  (the focal-loss target is the one-hot row of it: all zeros for -1);
* ``anchor_weight`` (A,): 1 for positive and negative anchors, 0 for ignored ones (the focal
  loss skips them);
* ``box_target`` (A, D): :func:`~halcon_dl.detection.coding.encode` of the matched box relative
  to the anchor for positive anchors, 0 elsewhere;
* ``box_weight`` (A, D): 1 on the coordinates of positive anchors, 0 elsewhere — and 0 on the
  angle of rectangle2 boxes whose class is in ``class_ids_no_orientation`` (no angle target).

An image without boxes has every anchor negative and all box weights 0.  rectangle2 boxes of the
classes in ``class_ids_no_orientation`` are first replaced by their axis-aligned enclosing box
with φ = 0 (:func:`~halcon_dl.detection.boxes.apply_class_ids_no_orientation`); with
``ignore_direction`` the angle targets are wrapped to (-π/2, π/2].
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_module
from ..errors import HalconDLError
from .boxes import (BOX_WIDTH, apply_class_ids_no_orientation, check_boxes, check_compatible,
                    check_index_array, check_instance_type)
from .coding import encode
from .matching import IGNORED, POSITIVE, match_by_iou, matching_iou


class AnchorTargets(NamedTuple):
    """Per-anchor targets (see the module docstring), on the anchors' device: (A,) and (A, D)
    for one image, (B, A) and (B, A, D) for a batch."""
    class_index: object      # int64, -1 where not positive
    anchor_weight: object    # anchors' dtype, 0 for ignored anchors
    box_target: object
    box_weight: object


def anchor_targets(anchors, gt_boxes, gt_class_index, instance_type: str, *, gt_class_ids=None,
                   class_ids_no_orientation=(), ignore_direction: bool = False) -> AnchorTargets:
    """The dense targets of one image: :func:`batch_anchor_targets` of a batch of one."""
    batch = batch_anchor_targets(anchors, [gt_boxes], [gt_class_index], instance_type,
                                 gt_class_ids=None if gt_class_ids is None else [gt_class_ids],
                                 class_ids_no_orientation=class_ids_no_orientation,
                                 ignore_direction=ignore_direction)
    return AnchorTargets(*(x[0] for x in batch))


def batch_anchor_targets(anchors, gt_boxes, gt_class_index, instance_type: str, *,
                         gt_class_ids=None, class_ids_no_orientation=(),
                         ignore_direction: bool = False) -> AnchorTargets:
    """The dense targets of B images, stacked: (B, A) and (B, A, D) arrays.

    ``anchors`` (A, D); per image (lists of B): ``gt_boxes`` (M_i, D) on the anchors' device
    (converted to their dtype, as in matching), ``gt_class_index`` (M_i,) class indices 0..K-1 and, for ``class_ids_no_orientation``
    (rectangle2), ``gt_class_ids`` (M_i,) class IDs.  The IoU of all images' boxes is computed
    in one call (:func:`~halcon_dl.detection.matching.matching_iou`, whose columns depend on
    their own box only) and split per image: one call instead of B amortises the fixed cost of
    the rotated IoU.
    """
    instance_type = check_instance_type(instance_type)
    anchors = check_boxes(anchors, instance_type, 'anchors')
    xp = array_module(anchors)
    boxes, classes = [], []
    for i, (gt, index) in enumerate(zip(gt_boxes, gt_class_index)):
        gt = check_boxes(gt, instance_type, f'gt_boxes[{i}]').astype(anchors.dtype, copy=False)
        check_compatible(('anchors', anchors), (f'gt_boxes[{i}]', gt))
        index = check_index_array(index, anchors, f'gt_class_index[{i}]', gt.shape[0])
        if instance_type == 'rectangle2' and len(class_ids_no_orientation) and gt.shape[0]:
            if gt_class_ids is None:
                raise HalconDLError('class_ids_no_orientation needs gt_class_ids')
            ids = check_index_array(gt_class_ids[i], anchors, f'gt_class_ids[{i}]', gt.shape[0])
            gt = apply_class_ids_no_orientation(gt, ids, class_ids_no_orientation)
            index = (index, xp.isin(ids, xp.asarray(list(class_ids_no_orientation))))
        else:
            index = (index, None)
        boxes.append(gt)
        classes.append(index)
    if len(boxes) != len(gt_class_index) or not boxes:
        raise HalconDLError('gt_boxes and gt_class_index must list the same images, at least one')
    all_boxes = xp.concatenate(boxes)
    iou = matching_iou(anchors, all_boxes, instance_type) if all_boxes.shape[0] else None
    parts, start = [], 0
    for gt, (index, no_orientation) in zip(boxes, classes):
        columns = slice(start, start + gt.shape[0])
        start = columns.stop
        parts.append(_image_targets(anchors, gt, index, no_orientation, iou, columns,
                                    instance_type, ignore_direction))
    return AnchorTargets(*(xp.stack(arrays) for arrays in zip(*parts)))


def _image_targets(anchors, gt, class_index, no_orientation, iou, columns, instance_type,
                   ignore_direction):
    """One image's targets from its column block of the batch's IoU matrix."""
    xp = array_module(anchors)
    num, width = anchors.shape[0], BOX_WIDTH[instance_type]
    box_target = xp.zeros((num, width), dtype=anchors.dtype)
    box_weight = xp.zeros((num, width), dtype=anchors.dtype)
    if gt.shape[0] == 0:
        return (xp.full(num, -1, dtype=xp.int64), xp.ones(num, dtype=anchors.dtype),
                box_target, box_weight)
    match = match_by_iou(iou[:, columns], class_index)
    pos = xp.nonzero(match.state == POSITIVE)[0]
    matched = match.gt_index[pos]
    box_target[pos] = encode(anchors[pos], gt[matched], instance_type, ignore_direction)
    box_weight[pos] = 1
    if no_orientation is not None:
        box_weight[pos, 4] = xp.where(no_orientation[matched], 0, 1)
    anchor_weight = (match.state != IGNORED).astype(anchors.dtype)
    return match.class_index, anchor_weight, box_target, box_weight
