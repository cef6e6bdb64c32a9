"""Box forms of detection, their validation and the conversions between them (HALCON's box parameters).

Coordinates [H]: pixel (r, c) has its centre at integer (r, c); a box covering a whole H×W image
is (-0.5, -0.5, H-0.5, W-0.5).

* **rectangle1** — one row ``(row1, col1, row2, col2)``: the axis-aligned box
  [row1, row2] × [col1, col2].  Areas are continuous: ``(row2 - row1) · (col2 - col1)`` (no +1).
* **rectangle2** — one row ``(row, col, phi, length1, length2)``: centre, orientation and the
  two *half* lengths.  ``phi = 0`` points along +column and positive ``phi`` turns
  counter-clockwise as displayed (towards -row).  In (row, col) components the unit vector along
  length1 is ``u = (-sin φ, cos φ)`` and the one along length2 is ``v = (-cos φ, -sin φ)``
  (``u`` turned by +90° the same way), so the rectangle is ``{c + s·u + t·v : |s| ≤ l1, |t| ≤ l2}``
  and its area is ``4 · l1 · l2``.

All functions take arrays of their array module (NumPy or CuPy), keep the dtype (float32 or
float64) and never move data between devices.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import FLOAT_DTYPES, array_module, is_gpu_array
from ..errors import HalconDLError

INSTANCE_TYPES = ('rectangle1', 'rectangle2')
BOX_WIDTH = {'rectangle1': 4, 'rectangle2': 5}
RECT1_COLUMNS = ('row1', 'col1', 'row2', 'col2')
RECT2_COLUMNS = ('row', 'col', 'phi', 'length1', 'length2')


# --------------------------------------------------------------------------------- validation

def check_instance_type(instance_type) -> str:
    """Return ``instance_type`` if it is 'rectangle1' or 'rectangle2', else raise HalconDLError."""
    if instance_type not in INSTANCE_TYPES:
        raise HalconDLError(
            f"instance_type must be one of {INSTANCE_TYPES}, got {instance_type!r}")
    return instance_type


def check_float_array(x, name: str):
    """``x`` as an array of its module with a float32/float64 dtype (lists become NumPy float64).

    Raises HalconDLError for integer, boolean or object data: a box needs real coordinates.
    """
    if not (isinstance(x, np.ndarray) or is_gpu_array(x)):
        try:
            x = np.asarray(x, dtype=np.float64)   # a Python sequence lives on the host
        except (TypeError, ValueError) as exc:
            raise HalconDLError(f'{name} must be a float array, got {type(x).__name__}') from exc
    if x.dtype not in FLOAT_DTYPES:
        raise HalconDLError(f'{name} must have dtype float32 or float64, got {x.dtype}')
    return x


def check_boxes(boxes, instance_type: str, name: str = 'boxes'):
    """Validate a box array of shape (N, 4) for rectangle1 or (N, 5) for rectangle2; return it."""
    width = BOX_WIDTH[check_instance_type(instance_type)]
    boxes = check_float_array(boxes, name)
    if boxes.ndim != 2 or boxes.shape[1] != width:
        columns = RECT1_COLUMNS if width == 4 else RECT2_COLUMNS
        raise HalconDLError(
            f'{name} must have shape (N, {width}) with columns {columns} for {instance_type}, '
            f'got shape {tuple(boxes.shape)}')
    return boxes


def check_compatible(*named_arrays):
    """Raise HalconDLError unless all ``(name, array)`` pairs share array module and dtype."""
    (name0, first), *rest = named_arrays
    for name, arr in rest:
        if is_gpu_array(arr) != is_gpu_array(first):
            raise HalconDLError(f'{name0} and {name} must live on the same device (NumPy or CuPy)')
        if arr.dtype != first.dtype:
            raise HalconDLError(
                f'{name0} and {name} must have the same dtype, got {first.dtype} and {arr.dtype} '
                '(nothing is converted silently)')


def check_index_array(values, like, name: str, length: int):
    """``values`` as an integer (length,) array on the device of the array ``like``.

    A NumPy array or a sequence is moved to the GPU when ``like`` is a CuPy array; a CuPy array
    next to NumPy boxes is refused (nothing is moved off the GPU silently).
    """
    if is_gpu_array(values) and not is_gpu_array(like):
        raise HalconDLError(f'{name} is a CuPy array but the boxes are NumPy arrays')
    values = array_module(like).asarray(values)
    if values.shape != (length,) or values.dtype.kind not in 'iu':
        raise HalconDLError(f'{name} must be an integer array of shape ({length},), got shape '
                            f'{tuple(values.shape)} and dtype {values.dtype}')
    return values


def check_sizes(boxes, instance_type: str, name: str, strict: bool):
    """Raise HalconDLError where a box has a negative (``strict``: non-positive) extent.

    rectangle1 extents are ``row2 - row1`` and ``col2 - col1``; rectangle2 extents are the half
    lengths.  This costs one pass over the N boxes (and a device sync on CuPy).
    """
    xp = array_module(boxes)
    if instance_type == 'rectangle1':
        extents = xp.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        what = 'row2 - row1 and col2 - col1'
    else:
        extents = boxes[:, 3:5]
        what = 'length1 and length2'
    bad = ~(extents > 0) if strict else ~(extents >= 0)      # the negation also catches NaN
    if bool(xp.any(bad)):
        index = int(xp.argmax(xp.any(bad, axis=1)))
        bound = '> 0' if strict else '>= 0'
        raise HalconDLError(f'{name}: {what} must be {bound}; box {index} violates it')


# ------------------------------------------------------------------------------------- angles

def normalize_angle(phi, ignore_direction: bool = False):
    """Wrap angles to (-π, π], or to (-π/2, π/2] when ``ignore_direction`` (period π).

    Formula: ``φ' = φ - P·ceil((φ - P/2) / P)`` with period P = 2π (P = π), followed by one
    correction step against rounding, so that ``-P/2 < φ' ≤ P/2`` holds in the array's dtype
    (P/2 being π resp. π/2 rounded to that dtype).  Shape and dtype are kept.
    """
    xp = array_module(phi)
    half = math.pi / 2 if ignore_direction else math.pi
    period = 2 * half
    wrapped = phi - period * xp.ceil((phi - half) / period)
    wrapped = xp.where(wrapped > half, wrapped - period, wrapped)
    return xp.where(wrapped <= -half, wrapped + period, wrapped)


# --------------------------------------------------------------------------------- rectangle2

def rect2_axes(phi):
    """Unit vectors of a rectangle2 orientation, as ((u_row, u_col), (v_row, v_col)).

    ``u = (-sin φ, cos φ)`` points along length1, ``v = (-cos φ, -sin φ)`` along length2.
    """
    xp = array_module(phi)
    sin, cos = xp.sin(phi), xp.cos(phi)
    return (-sin, cos), (-cos, -sin)


def rect2_corners(boxes):
    """Corners of rectangle2 boxes: (N, 5) -> (N, 4, 2) as (row, col).

    Order: ``c + l1·u + l2·v``, ``c - l1·u + l2·v``, ``c - l1·u - l2·v``, ``c + l1·u - l2·v``;
    for φ = 0 that is top-right, top-left, bottom-left, bottom-right: counter-clockwise as
    displayed.
    """
    boxes = check_boxes(boxes, 'rectangle2')
    xp = array_module(boxes)
    (ur, uc), (vr, vc) = rect2_axes(boxes[:, 2])
    l1, l2 = boxes[:, 3], boxes[:, 4]
    signs = xp.asarray([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=boxes.dtype)
    s1, s2 = signs[None, :, 0] * l1[:, None], signs[None, :, 1] * l2[:, None]   # (N, 4)
    rows = boxes[:, 0:1] + s1 * ur[:, None] + s2 * vr[:, None]
    cols = boxes[:, 1:2] + s1 * uc[:, None] + s2 * vc[:, None]
    return xp.stack([rows, cols], axis=2)


def rect1_to_rect2(boxes):
    """rectangle1 (N, 4) -> rectangle2 (N, 5): ``(centre row, centre col, 0, w/2, h/2)``.

    ``h = row2 - row1``, ``w = col2 - col1``; length1 runs along the columns (φ = 0).
    """
    boxes = check_boxes(boxes, 'rectangle1')
    xp = array_module(boxes)
    r1, c1, r2, c2 = (boxes[:, k] for k in range(4))
    return xp.stack([(r1 + r2) / 2, (c1 + c2) / 2, xp.zeros_like(r1),
                     (c2 - c1) / 2, (r2 - r1) / 2], axis=1)


def rect2_to_rect1(boxes):
    """rectangle2 (N, 5) -> the axis-aligned enclosing rectangle1 (N, 4).

    Half extents: rows ``l1·|sin φ| + l2·|cos φ|``, columns ``l1·|cos φ| + l2·|sin φ|``.
    """
    boxes = check_boxes(boxes, 'rectangle2')
    xp = array_module(boxes)
    row, col, phi, l1, l2 = (boxes[:, k] for k in range(5))
    sin, cos = xp.abs(xp.sin(phi)), xp.abs(xp.cos(phi))
    half_h = l1 * sin + l2 * cos
    half_w = l1 * cos + l2 * sin
    return xp.stack([row - half_h, col - half_w, row + half_h, col + half_w], axis=1)


def apply_class_ids_no_orientation(boxes, class_ids, class_ids_no_orientation):
    """Drop the orientation of the boxes whose class is in ``class_ids_no_orientation``.

    Such a rectangle2 is replaced by its axis-aligned enclosing box written as a rectangle2 with
    φ = 0 (``rect1_to_rect2(rect2_to_rect1(box))``), as HALCON does for classes whose orientation
    is meaningless.  ``boxes`` (N, 5), ``class_ids`` (N,) integers -> new (N, 5) array; the
    other boxes are copied unchanged.
    """
    boxes = check_boxes(boxes, 'rectangle2')
    xp = array_module(boxes)
    class_ids = check_index_array(class_ids, boxes, 'class_ids', boxes.shape[0])
    listed = xp.asarray(list(class_ids_no_orientation), dtype=class_ids.dtype)
    affected = xp.isin(class_ids, listed)
    axis_aligned = rect1_to_rect2(rect2_to_rect1(boxes))
    return xp.where(affected[:, None], axis_aligned, boxes)
