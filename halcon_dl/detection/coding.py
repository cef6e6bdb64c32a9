"""Box regression targets relative to anchors (the parametrisation of Girshick et al.
2014, "Rich feature hierarchies ...", Appendix C, as used by RetinaNet, Lin et al. 2017).

rectangle1, anchor centre (ar, ac) and size (ah, aw), box centre (gr, gc) and size (gh, gw)::

    t = ((gr - ar)/ah, (gc - ac)/aw, log(gh/ah), log(gw/aw))

rectangle2 ``(row, col, phi, l1, l2)`` [C]: the anchor size is ``ah = 2·al2`` and ``aw = 2·al1``
(its full extents across and along φ; for φ = 0 exactly the rectangle1 height and width)::

    t = ((gr - ar)/ah, (gc - ac)/aw, log(gl1/al1), log(gl2/al2), wrap(gphi - aphi))

with ``wrap`` to (-π, π], or to (-π/2, π/2] with ``ignore_direction`` (a box and its 180° turn
are then the same).  :func:`decode` inverts this, clamping the log terms at
``log(1000/16)`` from above (so a prediction grows a box by at most 62.5×) and re-normalising φ.
"""
from __future__ import annotations

import math

from ..backend import array_module
from ..errors import HalconDLError
from .boxes import (BOX_WIDTH, check_boxes, check_compatible, check_float_array, check_sizes,
                    normalize_angle)

BBOX_LOG_CLAMP = math.log(1000 / 16)


def _centre_size(boxes, instance_type: str):
    """(centre row, centre col, height, width) of each box; for rectangle2 ``(2·l2, 2·l1)``."""
    if instance_type == 'rectangle1':
        return ((boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return boxes[:, 0], boxes[:, 1], 2 * boxes[:, 4], 2 * boxes[:, 3]


def _log_sizes(boxes, instance_type: str):
    """The sizes whose logarithms are coded: (h, w) for rectangle1, (l1, l2) for rectangle2."""
    if instance_type == 'rectangle1':
        return boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes[:, 3], boxes[:, 4]


def encode(anchors, gt, instance_type: str, ignore_direction: bool = False):
    """Regression targets of boxes ``gt`` relative to ``anchors``: (N, 4|5), (N, 4|5) -> (N, 4|5).

    Columns as in the module docstring: rectangle1 ``(dr, dc, log h-ratio, log w-ratio)``,
    rectangle2 ``(dr, dc, log l1-ratio, log l2-ratio, dphi)``.  Sizes must be > 0.
    ``ignore_direction`` matters for rectangle2 only.
    """
    anchors = check_boxes(anchors, instance_type, 'anchors')
    gt = check_boxes(gt, instance_type, 'gt')
    check_compatible(('anchors', anchors), ('gt', gt))
    if gt.shape[0] != anchors.shape[0]:
        raise HalconDLError(f'anchors and gt must have the same number of rows, got '
                            f'{anchors.shape[0]} and {gt.shape[0]}')
    check_sizes(anchors, instance_type, 'anchors', strict=True)
    check_sizes(gt, instance_type, 'gt', strict=True)
    xp = array_module(anchors)
    ar, ac, ah, aw = _centre_size(anchors, instance_type)
    gr, gc, _, _ = _centre_size(gt, instance_type)
    sizes = [xp.log(g / a) for g, a in zip(_log_sizes(gt, instance_type),
                                           _log_sizes(anchors, instance_type))]
    columns = [(gr - ar) / ah, (gc - ac) / aw, *sizes]
    if instance_type == 'rectangle2':
        columns.append(normalize_angle(gt[:, 2] - anchors[:, 2], ignore_direction))
    return xp.stack(columns, axis=1)


def decode(anchors, deltas, instance_type: str, ignore_direction: bool = False):
    """Boxes from regression outputs: the inverse of :func:`encode`, (N, 4|5) -> (N, 4|5).

    ``r = ar + dr·ah``, ``c = ac + dc·aw``, sizes ``a_size · exp(min(t, log(1000/16)))``;
    rectangle2 ``φ = wrap(aphi + dphi)`` to (-π, π] (or (-π/2, π/2] with ``ignore_direction``).
    """
    anchors = check_boxes(anchors, instance_type, 'anchors')
    deltas = check_float_array(deltas, 'deltas')
    check_compatible(('anchors', anchors), ('deltas', deltas))
    if deltas.shape != anchors.shape:
        raise HalconDLError(f'deltas must have the shape of the anchors {tuple(anchors.shape)} '
                            f'({BOX_WIDTH[instance_type]} columns for {instance_type}), '
                            f'got {tuple(deltas.shape)}')
    xp = array_module(anchors)
    ar, ac, ah, aw = _centre_size(anchors, instance_type)
    row = ar + deltas[:, 0] * ah
    col = ac + deltas[:, 1] * aw
    size_a, size_b = (s * xp.exp(xp.minimum(deltas[:, k], BBOX_LOG_CLAMP))
                      for s, k in zip(_log_sizes(anchors, instance_type), (2, 3)))
    if instance_type == 'rectangle1':
        h, w = size_a, size_b
        return xp.stack([row - h / 2, col - w / 2, row + h / 2, col + w / 2], axis=1)
    phi = normalize_angle(anchors[:, 2] + deltas[:, 4], ignore_direction)
    return xp.stack([row, col, phi, size_a, size_b], axis=1)
