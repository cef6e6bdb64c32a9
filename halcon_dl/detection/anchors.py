"""Anchor boxes of the feature pyramid (Lin et al. 2017, "Focal Loss for Dense Object
Detection", §4 "Anchors").

At pyramid level l the stride is 2^l and the feature map has ``ceil(H / 2^l) × ceil(W / 2^l)``
cells [C]: that is the size a chain of l stride-2 convolutions with "same" padding produces
(``ceil(ceil(n/2)/2) = ceil(n/4)``), so every image pixel belongs to exactly one cell and the cells
of the last row/column may stick out of the image.

Cell (i, j) of level l holds A anchors centred on its pixel block,
``((i + 0.5)·2^l - 0.5, (j + 0.5)·2^l - 0.5)`` [C].  Subscale s = 0..S-1 gives the size
``4·2^l·2^(s/S)``; aspect ratio r = h/w gives ``h = size·√r``, ``w = size/√r``; rectangle2 anchors
also take each of the given angles.  A = S·|ratios| (·|angles| for rectangle2).

**Anchor order** (the class and box heads use the same one): levels ascending; within a level the
cells row-major (i, then j); within a cell the A anchors ordered (angle, subscale, ratio) with the
ratio varying fastest, i.e. anchor index in the cell ``a = (k_angle·S + s)·|ratios| + k_ratio``
(rectangle1 has no angle axis).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import check_float_dtype, check_runtime, cupy_module
from ..errors import HalconDLError
from .boxes import check_instance_type

ANCHOR_SIZE_FACTOR = 4   # anchor size at subscale 0 is ANCHOR_SIZE_FACTOR · stride


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise HalconDLError(f'{name} must be an integer >= {minimum}, got {value!r}')
    return int(value)


def _check_values(values, name: str, positive: bool) -> list[float]:
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise HalconDLError(f'{name} must be a sequence of numbers, got {values!r}') from exc
    if not values:
        raise HalconDLError(f'{name} must not be empty')
    for v in values:
        if not math.isfinite(v) or (positive and v <= 0):
            kind = 'positive finite' if positive else 'finite'
            raise HalconDLError(f'{name} must hold {kind} numbers, got {values!r}')
    return values


def _anchor_angles(angles, instance_type: str) -> list[float]:
    """The angle list of the instance type: rectangle1 accepts only None or a single 0."""
    if check_instance_type(instance_type) == 'rectangle2':
        return [0.0] if angles is None else _check_values(angles, 'angles', positive=False)
    if angles is not None and _check_values(angles, 'angles', positive=False) != [0.0]:
        raise HalconDLError(f'anchor angles apply to rectangle2 only; rectangle1 takes None or '
                            f'[0.0], got {angles!r}')
    return [0.0]


def feature_map_shape(image_height: int, image_width: int, level: int) -> tuple[int, int]:
    """Cells of pyramid level ``level``: ``(ceil(H / 2^l), ceil(W / 2^l))``."""
    image_height = _check_int(image_height, 'image_height', 1)
    image_width = _check_int(image_width, 'image_width', 1)
    stride = 2 ** _check_int(level, 'level', 0)
    return -(-image_height // stride), -(-image_width // stride)


def num_anchors_per_cell(num_subscales: int, aspect_ratios, angles=None,
                         instance_type: str = 'rectangle1') -> int:
    """A = S · |aspect_ratios| (· |angles| for rectangle2; angles None counts as [0.0])."""
    num_subscales = _check_int(num_subscales, 'num_subscales', 1)
    ratios = _check_values(aspect_ratios, 'aspect_ratios', positive=True)
    return num_subscales * len(ratios) * len(_anchor_angles(angles, instance_type))


def cell_anchor_shapes(level: int, num_subscales: int, aspect_ratios, angles=None,
                       instance_type: str = 'rectangle1'):
    """Heights, widths and angles of the A anchors of one cell: three lists of A floats.

    ``size = 4·2^l·2^(s/S)``, ``h = size·√r``, ``w = size/√r``, in the documented
    (angle, subscale, ratio) order (ratio fastest).  A small parameter table, in plain Python.
    """
    level = _check_int(level, 'level', 0)
    num_subscales = _check_int(num_subscales, 'num_subscales', 1)
    ratios = _check_values(aspect_ratios, 'aspect_ratios', positive=True)
    cells = [(phi, ANCHOR_SIZE_FACTOR * 2.0 ** level * 2.0 ** (s / num_subscales), ratio)
             for phi in _anchor_angles(angles, instance_type)
             for s in range(num_subscales) for ratio in ratios]
    heights = [size * math.sqrt(ratio) for _, size, ratio in cells]
    widths = [size / math.sqrt(ratio) for _, size, ratio in cells]
    return heights, widths, [phi for phi, _, _ in cells]


def generate_anchors(image_height: int, image_width: int, min_level: int, max_level: int,
                     num_subscales: int, aspect_ratios, angles=None,
                     instance_type: str = 'rectangle1', dtype=np.float32, runtime: str = 'cpu'):
    """All anchors of an image, in the order documented in this module.

    Returns ``(anchors, levels)``: ``anchors`` of shape (N, 4) ``(row1, col1, row2, col2)`` for
    rectangle1 or (N, 5) ``(row, col, phi, length1 = w/2, length2 = h/2)`` for rectangle2 (half
    lengths; length1 runs along φ, so at φ = 0 it is the column extent), in ``dtype``; ``levels``
    (N,) int64, the pyramid level of each anchor.
    ``N = Σ_l ceil(H/2^l)·ceil(W/2^l)·A``.  The values are computed in float64 and rounded once
    to ``dtype``.  ``runtime`` 'cpu' gives NumPy arrays, 'gpu' CuPy arrays.
    """
    instance_type = check_instance_type(instance_type)
    dtype = check_float_dtype(dtype)
    xp = cupy_module() if check_runtime(runtime) == 'gpu' else np
    min_level = _check_int(min_level, 'min_level', 0)
    max_level = _check_int(max_level, 'max_level', min_level)
    all_anchors, all_levels = [], []
    for level in range(min_level, max_level + 1):
        rows, cols = feature_map_shape(image_height, image_width, level)
        heights, widths, phis = (
            xp.asarray(v, dtype=xp.float64) for v in cell_anchor_shapes(
                level, num_subscales, aspect_ratios, angles, instance_type))
        stride = 2.0 ** level
        centre_r = (xp.arange(rows, dtype=xp.float64) + 0.5) * stride - 0.5
        centre_c = (xp.arange(cols, dtype=xp.float64) + 0.5) * stride - 0.5
        # (rows, cols, A) grids in the documented order
        cr = xp.broadcast_to(centre_r[:, None, None], (rows, cols, heights.size))
        cc = xp.broadcast_to(centre_c[None, :, None], (rows, cols, heights.size))
        h, w = heights[None, None, :], widths[None, None, :]
        if instance_type == 'rectangle1':
            columns = [cr - h / 2, cc - w / 2, cr + h / 2, cc + w / 2]
        else:
            columns = [cr, cc, xp.broadcast_to(phis, cr.shape),
                       xp.broadcast_to(w / 2, cr.shape), xp.broadcast_to(h / 2, cr.shape)]
        all_anchors.append(xp.stack(columns, axis=-1).reshape(-1, len(columns)))
        all_levels.append(xp.full(rows * cols * heights.size, level, dtype=xp.int64))
    return xp.concatenate(all_anchors).astype(dtype), xp.concatenate(all_levels)
