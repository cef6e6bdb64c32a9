"""Detection geometry: box forms, anchors, IoU, matching, box coding and NMS.

Pure array code on the array module of the inputs (NumPy or CuPy), no autograd.  float32 in gives
float32 out.  Conventions, each documented in its module:

* boxes (:mod:`.boxes`): rectangle1 ``(row1, col1, row2, col2)``; rectangle2
  ``(row, col, phi, length1, length2)`` with half lengths, length1 along ``(-sin φ, cos φ)``;
* anchors (:mod:`.anchors`): levels ascending, cells row-major, then (angle, subscale, ratio)
  with the ratio fastest;
* matching (:mod:`.matching`): state POSITIVE = 1, NEGATIVE = 0, IGNORED = -1;
* coding (:mod:`.coding`): rectangle2 anchor size ``ah = 2·l2``, ``aw = 2·l1``;
* NMS (:mod:`.nms`): suppress when IoU > threshold (strictly);
* training targets (:mod:`.targets`): dense per-anchor class, weight and box targets;
* inference (:mod:`.postprocess`): threshold, top-k per level, decode, clip, NMS.
"""
from .anchors import (cell_anchor_shapes, feature_map_shape, generate_anchors,
                      num_anchors_per_cell)
from .boxes import (INSTANCE_TYPES, apply_class_ids_no_orientation, normalize_angle,
                    rect1_to_rect2, rect2_corners, rect2_to_rect1)
from .clipping import rect2_intersection_area
from .coding import BBOX_LOG_CLAMP, decode, encode
from .iou import MAX_PAIRS_PER_CHUNK, box_iou, iou_rect1, iou_rect2
from .matching import (IGNORED, NEGATIVE, POSITIVE, AnchorMatch, match_anchors, match_by_iou,
                       matching_iou)
from .nms import nms
from .postprocess import PRE_NMS_TOP_K, detect, top_candidates
from .targets import AnchorTargets, anchor_targets, batch_anchor_targets

__all__ = [
    'INSTANCE_TYPES', 'normalize_angle', 'rect2_corners', 'rect1_to_rect2', 'rect2_to_rect1',
    'apply_class_ids_no_orientation',
    'generate_anchors', 'num_anchors_per_cell', 'feature_map_shape', 'cell_anchor_shapes',
    'iou_rect1', 'iou_rect2', 'box_iou', 'rect2_intersection_area', 'MAX_PAIRS_PER_CHUNK',
    'match_anchors', 'match_by_iou', 'matching_iou', 'AnchorMatch', 'POSITIVE', 'NEGATIVE',
    'IGNORED', 'anchor_targets', 'batch_anchor_targets', 'AnchorTargets',
    'encode', 'decode', 'BBOX_LOG_CLAMP',
    'nms', 'detect', 'top_candidates', 'PRE_NMS_TOP_K',
]
