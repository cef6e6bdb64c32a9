"""Intersection over union of box sets: axis-aligned (rectangle1) and exact rotated (rectangle2).

``IoU(A, B) = |A ∩ B| / (|A| + |B| - |A ∩ B|)`` with continuous areas; a pair whose union has
area 0 (two empty boxes) has IoU 0.  Both functions return the (N, M) matrix of all pairs, in
the dtype of the inputs.
"""
from __future__ import annotations

from ..backend import array_module
from .boxes import check_boxes, check_compatible, check_instance_type, check_sizes
from .clipping import clipped_area

MAX_PAIRS_PER_CHUNK = 1 << 14        # rotated pairs clipped at once (~11 MB peak in float64)
PREFILTER_PAIRS_PER_BLOCK = 1 << 20  # pairs tested by the bounding-circle prefilter at once
FLOOR_MARGIN = 1e-3                  # iou_rect2's floor screen keeps bounds >= floor·(1 - this)


def _check_pair(a, b, instance_type: str):
    a = check_boxes(a, instance_type, 'a')
    b = check_boxes(b, instance_type, 'b')
    check_compatible(('a', a), ('b', b))
    check_sizes(a, instance_type, 'a', strict=False)
    check_sizes(b, instance_type, 'b', strict=False)
    return a, b


def _iou_from_areas(inter, area_a, area_b):
    """``inter / (area_a + area_b - inter)`` (broadcasting), 0 where the union is 0, clipped to
    [0, 1] against rounding."""
    xp = array_module(inter)
    union = (area_a + area_b) - inter
    positive = union > 0
    iou = xp.where(positive, inter / xp.where(positive, union, 1), 0)
    return xp.clip(iou, 0, 1)


def _rect1_area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_rect1(a, b):
    """IoU of axis-aligned boxes: a (N, 4), b (M, 4) ``(row1, col1, row2, col2)`` -> (N, M).

    ``|A ∩ B| = max(0, min(r2) - max(r1)) · max(0, min(c2) - max(c1))``, areas
    ``(row2 - row1)(col2 - col1)`` (no +1); extents must be ≥ 0.  The longer box list is put on
    the contiguous axis (so a transposed view may be returned); every operation is symmetric in
    the two boxes, so ``iou_rect1(a, b) == iou_rect1(b, a).T`` exactly.
    """
    a, b = _check_pair(a, b, 'rectangle1')
    if a.shape[0] >= b.shape[0]:
        return _iou_rect1_matrix(b, a).T
    return _iou_rect1_matrix(a, b)


def _iou_rect1_matrix(outer, inner):
    """IoU matrix (len(outer), len(inner)) of two validated rectangle1 arrays.

    Written with in-place updates of two (n_outer, n_inner) buffers and the inner coordinates as
    contiguous rows: about twice as fast as the plain broadcast expression.  Where both boxes
    are empty the union is 0 and the IoU is set to 0.  No clipping is needed: rounding is
    monotone, so ``inter ≤ min(area)`` and ``union ≥ inter`` hold in floating point too.
    """
    xp = array_module(outer)
    row1, col1, row2, col2 = xp.ascontiguousarray(inner.T)
    inter = xp.minimum(outer[:, 2:3], row2)
    inter -= xp.maximum(outer[:, 0:1], row1)
    xp.maximum(inter, 0, out=inter)
    width = xp.minimum(outer[:, 3:4], col2)
    width -= xp.maximum(outer[:, 1:2], col1)
    xp.maximum(width, 0, out=width)
    inter *= width
    union = width                              # reuse the buffer
    xp.add(_rect1_area(outer)[:, None], ((row2 - row1) * (col2 - col1))[None, :], out=union)
    union -= inter
    union[union <= 0] = 1                      # both boxes empty: inter = 0, IoU 0
    inter /= union
    return inter


def iou_rect2(a, b, floor: float = 0.0):
    """Exact IoU of rotated boxes: a (N, 5), b (M, 5) ``(row, col, phi, l1, l2)`` -> (N, M).

    Areas ``4·l1·l2`` (half lengths ≥ 0); the intersection area is exact up to rounding, by
    Sutherland–Hodgman clipping (:func:`~halcon_dl.detection.clipping.rect2_intersection_area`).
    Pairs are first screened by their bounding circles: if the centre distance exceeds the sum of
    the half diagonals ``sqrt(l1² + l2²)`` the pair cannot overlap and its IoU is 0 without
    clipping.  The circle test runs over blocks of PREFILTER_PAIRS_PER_BLOCK pairs and the
    clipping over chunks of MAX_PAIRS_PER_CHUNK pairs, so memory stays bounded (apart from the
    (N, M) result and the index list of the pairs that pass the circle test).
    Which box of a pair is clipped against the other is fixed by a lexicographic order of the
    box rows, so ``iou_rect2(a, b) == iou_rect2(b, a).T`` exactly.

    ``floor`` > 0 (matching and NMS read IoUs only from a threshold up): a pair whose
    upper bound :func:`_iou_upper_bound` is below ``floor·(1 - FLOOR_MARGIN)`` gets 0 without
    clipping, so every IoU ≥ ``floor`` is exact and every reported 0 is an IoU below ``floor``
    (the margin covers the bound's rounding).
    """
    a, b = _check_pair(a, b, 'rectangle2')
    xp = array_module(a)
    iou = xp.zeros((a.shape[0], b.shape[0]), dtype=a.dtype)
    area_a = 4 * a[:, 3] * a[:, 4]
    area_b = 4 * b[:, 3] * b[:, 4]
    if floor > 0:
        bound = _iou_upper_bound(a, b, area_a, area_b)
        pair_a, pair_b = xp.nonzero(bound >= floor * (1 - FLOOR_MARGIN))
    else:
        pair_a, pair_b = _overlap_candidates(a, b)
    for start in range(0, int(pair_a.shape[0]), MAX_PAIRS_PER_CHUNK):
        ia = pair_a[start:start + MAX_PAIRS_PER_CHUNK]
        ib = pair_b[start:start + MAX_PAIRS_PER_CHUNK]
        inter = clipped_area(*_canonical_roles(a[ia], b[ib]))
        iou.reshape(-1)[ia * b.shape[0] + ib] = _iou_from_areas(inter, area_a[ia], area_b[ib])
    return iou


def _iou_upper_bound(a, b, area_a, area_b):
    """Upper bounds of the IoU of all rotated pairs, (N, 5), (M, 5) -> (N, M), from the boxes'
    axis-aligned enclosing boxes E (half extents ``l1|sin φ| + l2|cos φ|`` in rows,
    ``l1|cos φ| + l2|sin φ|`` in columns): ``I = min(|E_a ∩ E_b|, |A|, |B|) ≥ |A ∩ B|``
    (A ⊆ E_a, B ⊆ E_b) and ``I / (|A| + |B| - I)`` grows with I.  Pairs whose enclosing boxes
    do not meet get 0."""
    xp = array_module(a)

    def enclosing(boxes):
        sin, cos = xp.abs(xp.sin(boxes[:, 2])), xp.abs(xp.cos(boxes[:, 2]))
        h, w = boxes[:, 3] * sin + boxes[:, 4] * cos, boxes[:, 3] * cos + boxes[:, 4] * sin
        return boxes[:, 0] - h, boxes[:, 1] - w, boxes[:, 0] + h, boxes[:, 1] + w

    (r1a, c1a, r2a, c2a), (r1b, c1b, r2b, c2b) = enclosing(a), enclosing(b)
    rows = xp.minimum(r2a[:, None], r2b[None, :]) - xp.maximum(r1a[:, None], r1b[None, :])
    cols = xp.minimum(c2a[:, None], c2b[None, :]) - xp.maximum(c1a[:, None], c1b[None, :])
    inter = xp.maximum(rows, 0)
    inter *= xp.maximum(cols, 0)
    xp.minimum(inter, xp.minimum(area_a[:, None], area_b[None, :]), out=inter)
    return _iou_from_areas(inter, area_a[:, None], area_b[None, :])


def _overlap_candidates(a, b):
    """Index arrays (ia, ib) of the pairs whose bounding circles meet (all others have IoU 0).

    ``(r_a - r_b)² + (c_a - c_b)² ≤ (R_a + R_b)²`` with ``R = sqrt(l1² + l2²)``.  The test is
    laid out with the longer list along the contiguous axis, in blocks of rows of the shorter.
    """
    xp = array_module(a)
    if a.shape[0] < b.shape[0]:
        found_b, found_a = _overlap_candidates(b, a)
        return found_a, found_b
    radius_a = xp.sqrt(a[:, 3] ** 2 + a[:, 4] ** 2)
    radius_b = xp.sqrt(b[:, 3] ** 2 + b[:, 4] ** 2)
    rows_per_block = max(1, PREFILTER_PAIRS_PER_BLOCK // max(1, a.shape[0]))
    found_a, found_b = [xp.zeros(0, dtype=xp.int64)], [xp.zeros(0, dtype=xp.int64)]
    for start in range(0, b.shape[0], rows_per_block):
        blk = slice(start, start + rows_per_block)
        dist2 = ((b[blk, None, 0] - a[None, :, 0]) ** 2
                 + (b[blk, None, 1] - a[None, :, 1]) ** 2)
        reach = radius_b[blk, None] + radius_a[None, :]
        ib, ia = xp.nonzero(dist2 <= reach * reach)
        found_a.append(ia)
        found_b.append(ib + start)
    return xp.concatenate(found_a), xp.concatenate(found_b)


def _canonical_roles(a, b):
    """(subject, clip) per pair: the lexicographically smaller row of (a[k], b[k]) is clipped
    against the other, so the result does not depend on the argument order."""
    xp = array_module(a)
    a_first = xp.zeros(a.shape[0], dtype=bool)
    decided = xp.zeros(a.shape[0], dtype=bool)
    for k in range(a.shape[1]):
        a_first |= ~decided & (a[:, k] < b[:, k])
        decided |= a[:, k] != b[:, k]
    a_first = a_first[:, None]
    return xp.where(a_first, a, b), xp.where(a_first, b, a)


def box_iou(a, b, instance_type: str, floor: float = 0.0):
    """IoU matrix (N, M) of two box arrays of ``instance_type``: :func:`iou_rect1` (always exact)
    or :func:`iou_rect2` (exact from ``floor`` up, see there)."""
    if check_instance_type(instance_type) == 'rectangle1':
        return iou_rect1(a, b)
    return iou_rect2(a, b, floor)
