"""Exact intersection area of rotated rectangles by convex polygon clipping.

Method (Sutherland & Hodgman 1974, "Reentrant Polygon Clipping", CACM 17(1)): the rectangle A is
clipped against the four half-planes of the rectangle B, then the area of the remaining convex
polygon follows from the shoelace formula.  Everything is vectorised over P pairs with
fixed-size vertex arrays and a vertex count per pair (the validity mask is ``slot < count``): a
convex k-gon clipped by one half-plane has at most k + 1 vertices, so the arrays grow by one slot
per clip, from A's 4 corners to at most 8 vertices.  Each clip stage only touches the polygons
that have a vertex outside its half-plane.

Working frame: both rectangles are expressed in B's own frame (origin at B's centre, x along
B's length1 axis, y along its length2 axis).  There B is the axis-aligned box
``|x| ≤ l1_B, |y| ≤ l2_B`` and A has centre ``(dx, dy)`` and orientation ``θ = φ_A - φ_B``.
This is what makes the degenerate cases exact:

* the clip lines are exact numbers (±l1_B, ±l2_B); vertices within a rounding tolerance
  ``tol`` of a clip line are **snapped onto it**, and intersection points get the clip coordinate
  exactly (only the other coordinate is interpolated), so polygons of touching boxes collapse
  onto a line and have area exactly 0;
* inside is ``d ≥ 0`` (on the line counts as inside) and an intersection point is emitted only
  where an edge crosses the line strictly (``d`` changes from > 0 to < 0 or back), so no
  duplicate vertices are made;
* the shoelace sum is taken relative to the first vertex (a fan of triangles), which avoids the
  cancellation of large absolute coordinates and gives exactly 0 for collinear vertices.

Snapping tolerance: ``tol = SNAP_ULPS · eps(dtype) · (|dx| + |dy| + l1_A + l2_A + l1_B + l2_B)``.
The corners of A carry a rounding error of a few ``eps`` times that scale and each of the four
clip stages adds a few more, so 16 ``eps`` covers them; a snapped vertex moves by at most
``tol``, which changes the area by at most ``tol`` times the perimeter.  With it the same
rectangle in any of its four parametrisations (φ + k·90°, lengths swapped for odd k) has
intersection area exactly ``4·l1·l2``, and rectangles sharing an edge (up to ``tol``) have
intersection area exactly 0.
Two shortcuts skip the clipping: pairs separated along one of the four edge normals
(separating-axis test) have area 0, and a rectangle whose corners all lie within the other (up
to ``tol``) contributes its own area ``4·l1·l2``.  Computation is in the dtype of the input
(float32 stays float32).
"""
from __future__ import annotations

from ..backend import array_module
from ..errors import HalconDLError
from .boxes import check_boxes, check_compatible, check_sizes

SNAP_ULPS = 16          # snapping tolerance in units of the dtype's machine epsilon


def _frame_of_b(a, b):
    """A's centre and orientation in B's frame: (dx, dy, cos θ, sin θ), each (P,).

    ``dx = Δ·u_B``, ``dy = Δ·v_B`` with ``Δ = c_A - c_B`` and B's axes
    ``u_B = (-sin φ_B, cos φ_B)``, ``v_B = (-cos φ_B, -sin φ_B)``; ``θ = φ_A - φ_B``.  In this
    frame A's axes are ``(cos θ, sin θ)`` and ``(-sin θ, cos θ)``.
    """
    xp = array_module(a)
    sin_b, cos_b = xp.sin(b[:, 2]), xp.cos(b[:, 2])
    d_row, d_col = a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]
    dx = cos_b * d_col - sin_b * d_row
    dy = -(cos_b * d_row + sin_b * d_col)
    theta = a[:, 2] - b[:, 2]
    return dx, dy, xp.cos(theta), xp.sin(theta)


def _corner_signs(dtype, xp):
    """(1, 4) sign rows of the corners (+,+), (-,+), (-,-), (+,-) of (l1, l2): a cyclic order."""
    signs = xp.asarray([[1, -1, -1, 1], [1, 1, -1, -1]], dtype=dtype)
    return signs[0:1], signs[1:2]


def _corners_of_a(a, frame):
    """A's corners in B's frame: (P, 4) arrays x, y, in the cyclic order of _corner_signs."""
    xp = array_module(a)
    dx, dy, cos_t, sin_t = frame
    sign1, sign2 = _corner_signs(a.dtype, xp)
    s1, s2 = sign1 * a[:, 3:4], sign2 * a[:, 4:5]
    x = dx[:, None] + (s1 * cos_t[:, None] - s2 * sin_t[:, None])
    y = dy[:, None] + (s1 * sin_t[:, None] + s2 * cos_t[:, None])
    return x, y


def _corners_of_b_in_a(b, frame):
    """B's corners (±l1_B, ±l2_B) expressed in A's frame: (P, 4) arrays u, v."""
    xp = array_module(b)
    dx, dy, cos_t, sin_t = frame
    sign1, sign2 = _corner_signs(b.dtype, xp)
    rel_x = sign1 * b[:, 3:4] - dx[:, None]
    rel_y = sign2 * b[:, 4:5] - dy[:, None]
    u = rel_x * cos_t[:, None] + rel_y * sin_t[:, None]
    v = rel_y * cos_t[:, None] - rel_x * sin_t[:, None]
    return u, v


def _all_inside(x, y, half_x, half_y, tol):
    """Rows whose 4 points satisfy ``|x| ≤ half_x + tol`` and ``|y| ≤ half_y + tol``."""
    xp = array_module(x)
    inside = ((xp.abs(x) <= (half_x + tol)[:, None]) & (xp.abs(y) <= (half_y + tol)[:, None]))
    return xp.all(inside, axis=1)


def _separated(a, b, frame):
    """Separating-axis test (the 4 edge normals of two rectangles): True where the pair is
    strictly apart along some axis, so its intersection is empty."""
    xp = array_module(a)
    dx, dy, cos_t, sin_t = frame
    c, s = xp.abs(cos_t), xp.abs(sin_t)
    l1a, l2a, l1b, l2b = a[:, 3], a[:, 4], b[:, 3], b[:, 4]
    return ((xp.abs(dx) > l1b + (l1a * c + l2a * s))
            | (xp.abs(dy) > l2b + (l1a * s + l2a * c))
            | (xp.abs(dx * cos_t + dy * sin_t) > l1a + (l1b * c + l2b * s))
            | (xp.abs(dy * cos_t - dx * sin_t) > l2a + (l1b * s + l2b * c)))


def _clip(w, o, count, bound, tol):
    """Clip polygons against the half-plane ``w ≤ bound`` (w: the clipped coordinate).

    ``w``, ``o``: (P, K) coordinates across and along the clip line, ``count`` (P,) vertices used,
    ``bound`` and ``tol`` (P,).  Returns ``(w, o, count)`` with K + 1 slots.
    Signed distance ``d = bound - w`` (≥ 0 inside); ``|d| ≤ tol`` snaps the vertex onto the line.
    Per edge (k, k+1) the candidates are vertex k if inside, then the crossing point if the edge
    crosses the line strictly; the kept candidates, in order, form the clipped polygon.
    """
    xp = array_module(w)
    num_pairs, num_slots = w.shape
    d = bound[:, None] - w
    on_line = xp.abs(d) <= tol[:, None]
    w = xp.where(on_line, bound[:, None], w)
    d = xp.where(on_line, 0, d)
    slot = xp.arange(num_slots)[None, :]
    used = slot < count[:, None]
    outside = used & (d < 0)
    pad = xp.zeros((num_pairs, 1), dtype=w.dtype)
    out_w, out_o = xp.concatenate([w, pad], axis=1), xp.concatenate([o, pad], axis=1)
    rows = xp.nonzero(xp.any(outside, axis=1))[0]        # only these polygons change
    if rows.shape[0] == 0:
        return out_w, out_o, count
    w, o, d, used, count_r = w[rows], o[rows], d[rows], used[rows], count[rows]
    last = slot == (count_r - 1)[:, None]
    d_next, o_next = _next_vertex(d, last), _next_vertex(o, last)
    keep_vertex = used & (d >= 0)
    crossing = used & (((d > 0) & (d_next < 0)) | ((d < 0) & (d_next > 0)))
    t = d / xp.where(crossing, d - d_next, 1)
    o_cross = o + t * (o_next - o)
    w_cross = xp.broadcast_to(bound[rows, None], w.shape)
    # candidates interleaved per slot: vertex k, then the crossing on edge (k, k+1)
    keep = xp.stack([keep_vertex, crossing], axis=2).reshape(w.shape[0], 2 * num_slots)
    cand_w = xp.stack([w, w_cross], axis=2).reshape(keep.shape)
    cand_o = xp.stack([o, o_cross], axis=2).reshape(keep.shape)
    new_w, new_o, new_count = _compact(cand_w, cand_o, keep, num_slots + 1)
    out_w[rows], out_o[rows] = new_w, new_o
    count = count.copy()
    count[rows] = new_count
    return out_w, out_o, count


def _next_vertex(values, last):
    """``values`` of the following vertex per slot; ``last`` marks the last used slot, whose
    successor is slot 0."""
    xp = array_module(values)
    shifted = xp.concatenate([values[:, 1:], values[:, :1]], axis=1)
    return xp.where(last, values[:, :1], shifted)


def _compact(cand_w, cand_o, keep, num_slots: int):
    """Move the kept candidates to the front, in order: (P, C) -> (P, num_slots) and counts.

    Each kept candidate goes to slot ``cumsum(keep) - 1``; dropped ones go to a spare slot that
    is cut off.  A convex k-gon clipped by a half-plane keeps at most k + 1 = num_slots.
    """
    xp = array_module(cand_w)
    num_pairs, num_cand = keep.shape
    position = xp.cumsum(keep, axis=1, dtype=xp.int32) - 1
    target = xp.where(keep & (position < num_slots), position, num_slots)
    flat = (xp.arange(num_pairs, dtype=xp.int32)[:, None] * (num_slots + 1) + target).ravel()
    out_w = xp.zeros((num_pairs, num_slots + 1), dtype=cand_w.dtype)
    out_o = xp.zeros_like(out_w)
    out_w.reshape(-1)[flat] = cand_w.reshape(-1)
    out_o.reshape(-1)[flat] = cand_o.reshape(-1)
    count = xp.minimum(position[:, -1] + 1, num_slots)
    return out_w[:, :num_slots], out_o[:, :num_slots], count


def _polygon_area(x, y, count):
    """Area of convex polygons with ``count`` vertices in the first slots of (P, K) x, y.

    Shoelace formula relative to the first vertex (fan triangulation):
    ``A = ½ |Σ_{k=1}^{n-2} (p_k - p_0) × (p_{k+1} - p_0)|``.
    """
    xp = array_module(x)
    rx, ry = x - x[:, :1], y - y[:, :1]
    cross = rx[:, :-1] * ry[:, 1:] - rx[:, 1:] * ry[:, :-1]        # term k uses slots k, k+1
    slot = xp.arange(1, x.shape[1])[None, :]
    cross = xp.where(slot < count[:, None], cross, 0)
    return xp.abs(xp.sum(cross, axis=1)) / 2


def _clipped_polygon_area(x, y, half_x, half_y, tol):
    """Area of the quadrilaterals (x, y) (P, 4) clipped to ``|x| ≤ half_x, |y| ≤ half_y``.

    The four half-planes x ≤ l1, -x ≤ l1, y ≤ l2, -y ≤ l2 in turn (a mirrored coordinate is
    clipped and mirrored back); 4 -> at most 5, 6, 7, 8 vertices.
    """
    xp = array_module(x)
    count = xp.full(x.shape[0], 4, dtype=xp.int32)
    x, y, count = _clip(x, y, count, half_x, tol)
    x, y, count = _clip(-x, y, count, half_x, tol)
    y, x, count = _clip(y, -x, count, half_y, tol)
    y, x, count = _clip(-y, x, count, half_y, tol)
    return _polygon_area(x, y, count)       # mirror images have the same area


def rect2_intersection_area(a, b):
    """Exact intersection area of rectangle2 pairs: (P, 5), (P, 5) -> (P,), pair by pair.

    Row k is the area of ``a[k] ∩ b[k]``: Sutherland–Hodgman clipping of A against B's four
    half-planes in B's frame, shoelace area (see the module docstring for the exactness of
    degenerate cases).  Half lengths must be ≥ 0.  Memory is O(P) (at most 8 vertices a pair,
    about 0.7 kB a pair in float64 at the peak); for all pairs
    of two box sets use :func:`~halcon_dl.detection.iou.iou_rect2`, which prefilters and chunks.
    """
    a = check_boxes(a, 'rectangle2', 'a')
    b = check_boxes(b, 'rectangle2', 'b')
    check_compatible(('a', a), ('b', b))
    if a.shape != b.shape:
        raise HalconDLError(f'a and b must pair up row by row, got shapes {tuple(a.shape)} '
                            f'and {tuple(b.shape)}')
    check_sizes(a, 'rectangle2', 'a', strict=False)
    check_sizes(b, 'rectangle2', 'b', strict=False)
    return clipped_area(a, b)


def clipped_area(a, b):
    """:func:`rect2_intersection_area` without validation (for callers that validated).

    The two shortcuts of the module docstring first; only the remaining pairs are clipped.
    """
    xp = array_module(a)
    frame = _frame_of_b(a, b)
    dx, dy = frame[0], frame[1]
    tol = SNAP_ULPS * xp.finfo(a.dtype).eps * (
        xp.abs(dx) + xp.abs(dy) + a[:, 3] + a[:, 4] + b[:, 3] + b[:, 4])
    x, y = _corners_of_a(a, frame)
    a_in_b = _all_inside(x, y, b[:, 3], b[:, 4], tol)
    b_in_a = _all_inside(*_corners_of_b_in_a(b, frame), a[:, 3], a[:, 4], tol)
    area = xp.where(a_in_b, 4 * a[:, 3] * a[:, 4],
                    xp.where(b_in_a, 4 * b[:, 3] * b[:, 4], 0)).astype(a.dtype)
    todo = xp.nonzero(~(a_in_b | b_in_a | _separated(a, b, frame)))[0]
    if todo.shape[0]:
        area[todo] = _clipped_polygon_area(x[todo], y[todo], b[todo, 3], b[todo, 4], tol[todo])
    return area
