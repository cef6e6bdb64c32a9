"""Independent references and strategies for the detection tests.

Nothing here calls halcon_dl: the references are plain Python, written from the definitions,
with a different algorithm from the library wherever the library has one:

* rotated-rectangle intersection: the corners of each rectangle (from 30-digit mpmath sin/cos,
  then exact rationals), the corners of each inside the other plus every pairwise edge
  intersection, sorted by angle about their centroid with exact comparisons, shoelace area —
  all in ``fractions.Fraction``, so the area is exact for those corners;
* axis-aligned IoU, greedy NMS and anchor matching as literal loops.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction

import mpmath
from hypothesis import strategies as st

CORNER_DIGITS = 30


# --------------------------------------------------------------------- exact rotated geometry

def _fraction(x) -> Fraction:
    """An mpmath number or a float as an exact Fraction."""
    if isinstance(x, mpmath.mpf):
        man, exp = x.man_exp                  # |x| = man · 2^exp; the sign is kept apart
        magnitude = Fraction(int(man)) * Fraction(2) ** int(exp)
        return -magnitude if x < 0 else magnitude
    return Fraction(x)


def rect2_corners_exact(box):
    """Corners of (row, col, phi, l1, l2) as exact Fractions (row, col), cyclic order.

    Unit vectors from the definition: along length1 ``(-sin φ, cos φ)``, along length2
    ``(-cos φ, -sin φ)``; sin/cos evaluated to CORNER_DIGITS digits.
    """
    row, col, phi, l1, l2 = (float(v) for v in box)
    with mpmath.workdps(CORNER_DIGITS):
        sin, cos = mpmath.sin(mpmath.mpf(phi)), mpmath.cos(mpmath.mpf(phi))
        u = (_fraction(-sin), _fraction(cos))
        v = (_fraction(-cos), _fraction(-sin))
    r, c, a, b = Fraction(row), Fraction(col), Fraction(l1), Fraction(l2)
    return [(r + s1 * a * u[0] + s2 * b * v[0], c + s1 * a * u[1] + s2 * b * v[1])
            for s1, s2 in ((1, 1), (-1, 1), (-1, -1), (1, -1))]


def _cross(o, p, q):
    """(p - o) × (q - o)."""
    return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])


def _inside_convex(point, polygon) -> bool:
    """Closed containment in a convex polygon of either orientation."""
    signs = [_cross(polygon[k], polygon[(k + 1) % len(polygon)], point)
             for k in range(len(polygon))]
    return not (any(s > 0 for s in signs) and any(s < 0 for s in signs))


def _segment_intersection(p1, p2, q1, q2):
    """The crossing point of two segments, or None (parallel segments give None)."""
    r = (p2[0] - p1[0], p2[1] - p1[1])
    s = (q2[0] - q1[0], q2[1] - q1[1])
    den = r[0] * s[1] - r[1] * s[0]
    if den == 0:
        return None
    qp = (q1[0] - p1[0], q1[1] - p1[1])
    t = (qp[0] * s[1] - qp[1] * s[0]) / den
    u = (qp[0] * r[1] - qp[1] * r[0]) / den
    if 0 <= t <= 1 and 0 <= u <= 1:
        return (p1[0] + t * r[0], p1[1] + t * r[1])
    return None


def convex_intersection_area(poly_a, poly_b) -> Fraction:
    """Exact area of the intersection of two convex polygons given by exact vertices."""
    points = {p for p in poly_a if _inside_convex(p, poly_b)}
    points |= {q for q in poly_b if _inside_convex(q, poly_a)}
    for k in range(len(poly_a)):
        for m in range(len(poly_b)):
            hit = _segment_intersection(poly_a[k], poly_a[(k + 1) % len(poly_a)],
                                        poly_b[m], poly_b[(m + 1) % len(poly_b)])
            if hit is not None:
                points.add(hit)
    if len(points) < 3:
        return Fraction(0)
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)

    def half(p):        # 0 for angles in [0, π), 1 for [π, 2π) about the centroid
        dx, dy = p[0] - cx, p[1] - cy
        return 0 if dy > 0 or (dy == 0 and dx > 0) else 1

    def by_angle(p, q):
        if half(p) != half(q):
            return half(p) - half(q)
        turn = _cross((cx, cy), p, q)
        return -1 if turn > 0 else (1 if turn < 0 else 0)

    ring = sorted(points, key=functools.cmp_to_key(by_angle))
    pairs = zip(ring, ring[1:] + ring[:1])
    twice = sum(p[0] * q[1] - q[0] * p[1] for p, q in pairs)
    return abs(twice) / 2


def iou_rect2_exact(box_a, box_b) -> float:
    """IoU of two rectangle2 boxes from the exact intersection area; areas 4·l1·l2 exactly."""
    inter = convex_intersection_area(rect2_corners_exact(box_a), rect2_corners_exact(box_b))
    area_a = 4 * Fraction(float(box_a[3])) * Fraction(float(box_a[4]))
    area_b = 4 * Fraction(float(box_b[3])) * Fraction(float(box_b[4]))
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


# ------------------------------------------------------------------------- literal references

def iou_rect1_plain(a, b) -> float:
    """IoU of two (row1, col1, row2, col2) boxes, written out; 0 when the union is empty."""
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def greedy_nms_plain(scores, class_ids, iou, max_overlap, max_overlap_agnostic, max_num):
    """Per-class then class-agnostic greedy NMS as loops; ``iou(i, j)`` gives a pair's IoU."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if max_overlap < 1 and any(class_ids[k] == class_ids[i] and iou(k, i) > max_overlap
                                   for k in kept):
            continue
        kept.append(i)
    if max_overlap_agnostic < 1:
        survivors, kept = kept, []
        for i in survivors:
            if not any(iou(k, i) > max_overlap_agnostic for k in kept):
                kept.append(i)
    return kept[:max_num]


def match_plain(iou, gt_class, positive, negative):
    """Anchor matching as loops over an IoU table ``iou[a][j]``: (gt_index, class, state)."""
    num_anchors = len(iou)
    num_boxes = len(gt_class)
    gt_index, state = [-1] * num_anchors, [0] * num_anchors
    for a in range(num_anchors):
        if num_boxes == 0:
            continue
        best = max(iou[a])
        if best >= positive:
            state[a], gt_index[a] = 1, iou[a].index(best)
        elif best >= negative:
            state[a] = -1
    forcing = {}
    for j in range(num_boxes):
        best = max(iou[a][j] for a in range(num_anchors)) if num_anchors else 0.0
        if best > 0:
            for a in range(num_anchors):
                if iou[a][j] == best:
                    forcing.setdefault(a, []).append(j)
    for a, boxes in forcing.items():
        state[a] = 1
        gt_index[a] = max(boxes, key=lambda j: (iou[a][j], -j))
    classes = [gt_class[gt_index[a]] if state[a] == 1 else -1 for a in range(num_anchors)]
    return gt_index, classes, state


# --------------------------------------------------------------------------------- strategies

def finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


SPECIAL_ANGLES = [0.0, math.pi / 2, math.pi, -math.pi / 2, -math.pi, math.pi / 4, 3 * math.pi / 2]
angles = st.one_of(finite(-4.0, 4.0), st.sampled_from(SPECIAL_ANGLES))


@st.composite
def rect2_boxes(draw, centre=finite(-50.0, 50.0), length=finite(0.1, 30.0)):
    """One rectangle2 box as a tuple (row, col, phi, l1, l2)."""
    return (draw(centre), draw(centre), draw(angles), draw(length), draw(length))


@st.composite
def rect2_pairs(draw):
    """Two rectangle2 boxes that often overlap: B's centre is near A's."""
    a = draw(rect2_boxes())
    reach = a[3] + a[4]
    b = (a[0] + draw(finite(-2.0, 2.0)) * reach, a[1] + draw(finite(-2.0, 2.0)) * reach,
         draw(angles), draw(finite(0.1, 30.0)), draw(finite(0.1, 30.0)))
    return a, b


@st.composite
def rect1_boxes(draw, lo=-20, hi=20):
    """One rectangle1 box with half-integer coordinates (all areas exact in floating point)."""
    r1, c1 = draw(st.integers(2 * lo, 2 * hi)), draw(st.integers(2 * lo, 2 * hi))
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    return (r1 / 2, c1 / 2, (r1 + h) / 2, (c1 + w) / 2)
