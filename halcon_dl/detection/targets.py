"""Dense training targets of one image for every anchor (SPEC §6, §8): pure array code.

For anchors (A, D) and the image's ground truth (M, D) with class indices (M,):

* :func:`~halcon_dl.detection.matching.match_anchors` gives each anchor a state (positive,
  negative, ignored) and each positive anchor its box;
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
from .boxes import BOX_WIDTH, apply_class_ids_no_orientation
from .coding import encode
from .matching import IGNORED, POSITIVE, match_anchors


class AnchorTargets(NamedTuple):
    """Per-anchor targets of one image (see the module docstring), on the anchors' device."""
    class_index: object      # (A,) int64, -1 where not positive
    anchor_weight: object    # (A,) anchors' dtype, 0 for ignored anchors
    box_target: object       # (A, D)
    box_weight: object       # (A, D)


def anchor_targets(anchors, gt_boxes, gt_class_index, instance_type: str, *, gt_class_ids=None,
                   class_ids_no_orientation=(), ignore_direction: bool = False) -> AnchorTargets:
    """The dense targets of one image: anchors (A, D), gt_boxes (M, D) of the anchors' dtype and
    device, gt_class_index (M,) class indices 0..K-1; ``gt_class_ids`` (M,) the class IDs (needed
    for ``class_ids_no_orientation``, rectangle2 only)."""
    xp = array_module(anchors)
    width = BOX_WIDTH[instance_type]
    no_orientation = None
    if instance_type == 'rectangle2' and len(class_ids_no_orientation) and gt_boxes.shape[0]:
        gt_boxes = apply_class_ids_no_orientation(gt_boxes, gt_class_ids, class_ids_no_orientation)
        no_orientation = xp.isin(xp.asarray(gt_class_ids),
                                 xp.asarray(list(class_ids_no_orientation)))
    match = match_anchors(anchors, gt_boxes, gt_class_index, instance_type=instance_type)
    positive = match.state == POSITIVE
    pos = xp.nonzero(positive)[0]
    box_target = xp.zeros((anchors.shape[0], width), dtype=anchors.dtype)
    box_weight = xp.zeros((anchors.shape[0], width), dtype=anchors.dtype)
    if pos.shape[0]:
        matched = match.gt_index[pos]
        box_target[pos] = encode(anchors[pos], gt_boxes[matched], instance_type, ignore_direction)
        box_weight[pos] = 1
        if no_orientation is not None:
            box_weight[pos, 4] = xp.where(no_orientation[matched], 0, 1)
    anchor_weight = (match.state != IGNORED).astype(anchors.dtype)
    return AnchorTargets(match.class_index, anchor_weight, box_target, box_weight)
