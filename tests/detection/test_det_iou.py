"""IoU of axis-aligned and rotated boxes: properties, an exact reference, a rasterised estimate."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from det_reference import (finite, iou_rect1_plain, iou_rect2_exact, rect1_boxes, rect2_boxes,
                           rect2_pairs)
from halcon_dl.detection import clipping
from halcon_dl.detection import iou as iou_module
from halcon_dl.detection import iou_rect1, iou_rect2, rect2_intersection_area
from halcon_dl.errors import HalconDLError


def _rect1_as_rect2(boxes):
    """rectangle1 rows as rectangle2 rows with phi = 0, from the definition (not the library)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                     np.zeros(len(boxes)), (boxes[:, 3] - boxes[:, 1]) / 2,
                     (boxes[:, 2] - boxes[:, 0]) / 2], axis=1)


def _rotate(boxes, centre, alpha):
    """Rotate rectangle2 boxes about ``centre`` (row, col) by ``alpha``, counter-clockwise as
    displayed: the length1 direction (-sin φ, cos φ) becomes (-sin(φ+α), cos(φ+α))."""
    boxes = np.array(boxes, dtype=np.float64)
    dr, dc = boxes[:, 0] - centre[0], boxes[:, 1] - centre[1]
    boxes[:, 0] = centre[0] + math.cos(alpha) * dr - math.sin(alpha) * dc
    boxes[:, 1] = centre[1] + math.sin(alpha) * dr + math.cos(alpha) * dc
    boxes[:, 2] += alpha
    return boxes


# ------------------------------------------------------------------------- rectangle1

@given(st.lists(rect1_boxes(), min_size=1, max_size=8), st.lists(rect1_boxes(), min_size=1,
                                                                  max_size=8))
def test_iou_rect1_matches_plain_loop_and_is_symmetric(boxes_a, boxes_b):
    a, b = np.array(boxes_a), np.array(boxes_b)
    iou = iou_rect1(a, b)
    expected = np.array([[iou_rect1_plain(p, q) for q in boxes_b] for p in boxes_a])
    np.testing.assert_array_equal(iou, expected)   # half-integer boxes: exact up to one division
    np.testing.assert_array_equal(iou, iou_rect1(b, a).T)
    assert np.all((iou >= 0) & (iou <= 1))
    np.testing.assert_array_equal(np.diag(iou_rect1(a, a)), 1.0)


def test_iou_rect1_hand_values_and_far_boxes():
    a = np.array([[0.0, 0.0, 10.0, 20.0]])
    b = np.array([[0.0, 0.0, 10.0, 20.0],      # itself
                  [10.0, 0.0, 20.0, 20.0],     # shares the edge row = 10
                  [5.0, 10.0, 15.0, 30.0],     # inter 5·10 = 50, union 200 + 200 - 50
                  [2.0, 4.0, 4.0, 6.0],        # inside: 4 / 200
                  [1e6, 1e6, 1e6 + 1, 1e6 + 1]])
    np.testing.assert_array_equal(iou_rect1(a, b), [[1.0, 0.0, 50 / 350, 4 / 200, 0.0]])


def test_iou_rect1_empty_boxes_give_zero():
    a = np.array([[1.0, 1.0, 1.0, 5.0]])            # zero height
    np.testing.assert_array_equal(iou_rect1(a, a), [[0.0]])
    assert iou_rect1(np.zeros((0, 4)), a).shape == (0, 1)


# ------------------------------------------------------------------------- rectangle2: exact

@given(st.lists(rect2_pairs(), min_size=1, max_size=4))
@settings(max_examples=60)
def test_iou_rect2_matches_exact_reference(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    iou = iou_rect2(a, b)
    expected = np.array([[iou_rect2_exact(p, q) for q in b] for p in a])
    np.testing.assert_allclose(iou, expected, rtol=0, atol=1e-9)


DEGENERATE_PAIRS = [
    # identical, axis aligned and rotated
    ((3.0, 4.0, 0.0, 5.0, 2.0), (3.0, 4.0, 0.0, 5.0, 2.0)),
    ((3.3, 4.1, 0.7, 5.0, 2.0), (3.3, 4.1, 0.7, 5.0, 2.0)),
    # the same rectangle written with phi + 90° (lengths swapped) and phi + 180°
    ((3.3, 4.1, 0.7, 5.0, 2.0), (3.3, 4.1, 0.7 + math.pi / 2, 2.0, 5.0)),
    ((3.3, 4.1, 0.7, 5.0, 2.0), (3.3, 4.1, 0.7 - math.pi, 5.0, 2.0)),
    ((0.0, 0.0, 0.0, 4.0, 4.0), (0.0, 0.0, math.pi / 2, 4.0, 4.0)),
    # shared edge (columns 0..8 and 8..16), shared corner, shared partial edge
    ((0.0, 4.0, 0.0, 4.0, 3.0), (0.0, 12.0, 0.0, 4.0, 3.0)),
    ((0.0, 0.0, 0.0, 1.0, 1.0), (2.0, 2.0, 0.0, 1.0, 1.0)),
    ((0.0, 0.0, 0.0, 2.0, 2.0), (1.0, 3.0, 0.0, 1.0, 1.0)),
    # one inside the other, touching from inside, and rotated inside
    ((0.0, 0.0, 0.0, 10.0, 10.0), (0.0, 0.0, 0.0, 5.0, 5.0)),
    ((0.0, 0.0, 0.0, 10.0, 10.0), (0.0, 5.0, 0.0, 5.0, 5.0)),
    ((0.0, 0.0, 0.3, 10.0, 10.0), (1.0, -1.0, 1.1, 3.0, 2.0)),
    # nearly inside: sticking out by 0.01 along length1, as the first and as the second row
    # (the lexicographically first row is the one clipped)
    ((-0.001, 0.0, 0.4, 5.01, 1.0), (0.0, 0.0, 0.4, 5.0, 2.0)),
    ((0.001, 0.0, 0.4, 5.01, 1.0), (0.0, 0.0, 0.4, 5.0, 2.0)),
    # overlaps with collinear edges: partly shared bottom edge; a diamond whose vertices are
    # corners of the other box
    ((0.0, 0.0, 0.0, 2.0, 2.0), (1.0, 1.0, 0.0, 2.0, 1.0)),
    ((0.0, 0.0, math.pi / 4, math.sqrt(2), math.sqrt(2)), (1.0, 1.0, 0.0, 1.0, 1.0)),
    ((0.0, 0.0, 0.0, 3.0, 1.0), (0.0, 2.0, 0.0, 3.0, 1.0)),
    # a diamond in a square touching all four sides, a cross, 180° turns
    ((0.0, 0.0, 0.0, 2.0, 2.0), (0.0, 0.0, math.pi / 4, math.sqrt(2), math.sqrt(2))),
    ((0.0, 0.0, 0.0, 10.0, 1.0), (0.0, 0.0, math.pi / 2, 10.0, 1.0)),
    ((1.0, 2.0, math.pi, 3.0, 1.0), (1.5, 2.5, 0.0, 3.0, 1.0)),
]


@pytest.mark.parametrize('box_a, box_b', DEGENERATE_PAIRS)
def test_iou_rect2_degenerate_cases_against_reference(box_a, box_b):
    iou = iou_rect2(np.array([box_a]), np.array([box_b]))[0, 0]
    assert abs(iou - iou_rect2_exact(box_a, box_b)) <= 1e-12


@pytest.mark.parametrize('box_a, box_b', DEGENERATE_PAIRS[:5])
def test_iou_rect2_same_rectangle_is_one(box_a, box_b):
    assert abs(iou_rect2(np.array([box_a]), np.array([box_b]))[0, 0] - 1.0) <= 1e-12


def test_iou_rect2_touching_boxes_are_exactly_zero():
    a = np.array([[0.0, 4.0, 0.0, 4.0, 3.0], [0.0, 0.0, 0.0, 1.0, 1.0]])
    b = np.array([[0.0, 12.0, 0.0, 4.0, 3.0], [2.0, 2.0, 0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(np.diag(iou_rect2(a, b)), 0.0)


@given(rect2_boxes(), st.integers(0, 3))
def test_iou_rect2_same_rectangle_in_any_parametrisation_is_exactly_one(box, quarter_turns):
    row, col, phi, l1, l2 = box
    if quarter_turns % 2:
        l1, l2 = l2, l1
    other = (row, col, phi + quarter_turns * math.pi / 2, l1, l2)
    assert iou_rect2(np.array([box]), np.array([other]))[0, 0] == 1.0


@given(rect2_boxes(), st.booleans(), st.integers(0, 3))
def test_iou_rect2_rotated_neighbour_sharing_an_edge_is_exactly_zero(box, along_l1, turns):
    row, col, phi, l1, l2 = box
    if along_l1:            # shifted by 2·l1 along u = (-sin φ, cos φ)
        step = (-2 * l1 * math.sin(phi), 2 * l1 * math.cos(phi))
    else:                   # shifted by 2·l2 along v = (-cos φ, -sin φ)
        step = (-2 * l2 * math.cos(phi), -2 * l2 * math.sin(phi))
    a = np.array([box])
    b = np.array([[row + step[0], col + step[1], phi + turns * math.pi, l1, l2]])
    assert iou_rect2(a, b)[0, 0] == 0.0


@pytest.fixture
def clipping_only(monkeypatch):
    """Switch off the separating-axis and containment shortcuts: every pair is clipped."""
    monkeypatch.setattr(clipping, '_separated', lambda a, b, frame: np.zeros(len(a), dtype=bool))
    monkeypatch.setattr(clipping, '_all_inside', lambda x, *rest: np.zeros(len(x), dtype=bool))


@pytest.mark.parametrize('box_a, box_b', DEGENERATE_PAIRS)
def test_clipping_alone_handles_the_degenerate_cases(clipping_only, box_a, box_b):
    iou = iou_rect2(np.array([box_a]), np.array([box_b]))[0, 0]
    assert abs(iou - iou_rect2_exact(box_a, box_b)) <= 1e-12


def _same_and_shifted(boxes, quarter_turns, shift):
    """The rectangles ``boxes`` (P, 5) re-parametrised by quarter turns (lengths swapped for
    odd ones) and moved by ``shift``·l1 along their length1 axis (-sin φ, cos φ)."""
    row, col, phi, l1, l2 = boxes.T
    odd = quarter_turns % 2 == 1
    step = shift * l1
    return np.stack([row - step * np.sin(phi), col + step * np.cos(phi),
                     phi + quarter_turns * math.pi / 2, np.where(odd, l2, l1),
                     np.where(odd, l1, l2)], axis=1)


@pytest.mark.parametrize('shift', [0.0, 0.5, 2.0])
def test_clipping_alone_is_exact_for_same_and_edge_sharing_rectangles(clipping_only, shift):
    """Without the shortcuts, snapping alone makes these exact: the same rectangle in another
    parametrisation has area 4·l1·l2, one shifted by 2·l1 along its axis has area 0.  A shift
    by s·l1 leaves an overlap of (2 - s)·l1 × 2·l2.  2000 seeded random rectangles."""
    rng = np.random.default_rng(5)
    boxes = np.column_stack([rng.uniform(-50, 50, (2000, 2)), rng.uniform(-4, 4, 2000),
                             rng.uniform(0.1, 30, (2000, 2))])
    others = _same_and_shifted(boxes, rng.integers(0, 4, 2000), shift)
    area = rect2_intersection_area(boxes, others)
    expected = (2 - shift) * 2 * boxes[:, 3] * boxes[:, 4]
    if shift in (0.0, 2.0):
        np.testing.assert_array_equal(area, expected)
    else:
        np.testing.assert_allclose(area, expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------------- rectangle2: properties

@given(st.lists(rect2_boxes(), min_size=1, max_size=6))
def test_iou_rect2_self_symmetric_and_bounded(boxes):
    x = np.array(boxes)
    iou = iou_rect2(x, x)
    np.testing.assert_allclose(np.diag(iou), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(iou, iou.T)
    assert np.all((iou >= 0) & (iou <= 1))


@given(st.lists(rect2_pairs(), min_size=1, max_size=4))
def test_iou_rect2_argument_order_does_not_matter(pairs):
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    np.testing.assert_array_equal(iou_rect2(a, b), iou_rect2(b, a).T)


@given(rect2_boxes(), finite(100.0, 1e4))
def test_iou_rect2_far_boxes_are_zero(box, distance):
    far = (box[0] + distance, box[1] - distance) + box[2:]
    assert iou_rect2(np.array([box]), np.array([far]))[0, 0] == 0.0


@given(st.lists(rect2_pairs(), min_size=1, max_size=3), finite(-100, 100), finite(-100, 100),
       finite(-7.0, 7.0))
def test_iou_rect2_invariant_under_rotation_and_translation(pairs, row, col, alpha):
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    iou = iou_rect2(a, b)
    rotated = iou_rect2(_rotate(a, (row, col), alpha), _rotate(b, (row, col), alpha))
    np.testing.assert_allclose(rotated, iou, rtol=0, atol=1e-9)
    shift = np.array([row, col, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(iou_rect2(a + shift, b + shift), iou, rtol=0, atol=1e-9)


@given(st.lists(rect1_boxes(), min_size=1, max_size=6), st.lists(rect1_boxes(), min_size=1,
                                                                  max_size=6))
def test_iou_rect2_with_zero_angle_equals_iou_rect1(boxes_a, boxes_b):
    a, b = np.array(boxes_a), np.array(boxes_b)
    np.testing.assert_allclose(iou_rect2(_rect1_as_rect2(a), _rect1_as_rect2(b)),
                               iou_rect1(a, b), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------- rasterised estimate

GRID = 300


def _inside(points_r, points_c, box):
    """Membership of points in a rectangle2, from its definition |s| ≤ l1, |t| ≤ l2."""
    row, col, phi, l1, l2 = box
    dr, dc = points_r - row, points_c - col
    s = -math.sin(phi) * dr + math.cos(phi) * dc        # component along u
    t = -math.cos(phi) * dr - math.sin(phi) * dc        # component along v
    return (np.abs(s) <= l1) & (np.abs(t) <= l2)


def _raster_intersection(box_a, box_b):
    """Intersection area counted on a GRID×GRID grid of cell centres over B's bounding square,
    and its error bound.

    A cell can be misclassified only if it meets the boundary of A∩B, a convex curve of length
    P ≤ min(perimeters).  Cut into ceil(P/h) pieces of length ≤ h, each meets at most 2×2 cells,
    so |estimate - area| ≤ 4·ceil(P/h)·h².
    """
    row, col, _, l1, l2 = box_b
    half = math.hypot(l1, l2)
    h = 2 * half / GRID
    centres = (np.arange(GRID) + 0.5) * h - half
    rr, cc = np.meshgrid(row + centres, col + centres, indexing='ij')
    count = np.count_nonzero(_inside(rr, cc, box_a) & _inside(rr, cc, box_b))
    perimeter = min(4 * (box_a[3] + box_a[4]), 4 * (l1 + l2))
    return count * h * h, 4 * math.ceil(perimeter / h) * h * h


@given(rect2_pairs())
@settings(max_examples=40)
def test_iou_rect2_within_raster_error_bound(pair):
    box_a, box_b = pair
    estimate, bound = _raster_intersection(box_a, box_b)
    area_a, area_b = 4 * box_a[3] * box_a[4], 4 * box_b[3] * box_b[4]
    inter = rect2_intersection_area(np.array([box_a]), np.array([box_b]))[0]
    assert abs(inter - estimate) <= bound * (1 + 1e-9)
    iou = iou_rect2(np.array([box_a]), np.array([box_b]))[0, 0]
    low, high = max(0.0, estimate - bound), min(estimate + bound, area_a, area_b)
    assert low / (area_a + area_b - low) - 1e-12 <= iou <= high / (area_a + area_b - high) + 1e-12


# ------------------------------------------------------------------------- chunking and errors

def test_iou_rect2_chunked_equals_single_chunk(monkeypatch):
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(0, 40, (60, 2)), rng.uniform(-3, 3, 60),
                         rng.uniform(1, 10, (60, 2))])
    b = a[::3] + np.array([0.5, -0.5, 0.2, 0.0, 0.0])
    whole = iou_rect2(a, b)
    assert np.count_nonzero(whole) > 50
    monkeypatch.setattr(iou_module, 'MAX_PAIRS_PER_CHUNK', 7)
    monkeypatch.setattr(iou_module, 'PREFILTER_PAIRS_PER_BLOCK', 13)
    np.testing.assert_array_equal(iou_rect2(a, b), whole)


@pytest.mark.parametrize('call', [
    lambda: iou_rect1(np.zeros((2, 5)), np.zeros((2, 4))),
    lambda: iou_rect1(np.zeros((2, 4), dtype=np.int64), np.zeros((2, 4))),
    lambda: iou_rect1(np.zeros((2, 4), dtype=np.float32), np.zeros((2, 4))),
    lambda: iou_rect1(np.array([[0.0, 0.0, -1.0, 1.0]]), np.zeros((1, 4))),
    lambda: iou_rect2(np.zeros((2, 4)), np.zeros((2, 5))),
    lambda: iou_rect2(np.array([[0.0, 0.0, 0.0, -1.0, 1.0]]), np.zeros((1, 5))),
    lambda: iou_rect2(np.array([[0.0, 0.0, 0.0, np.nan, 1.0]]), np.zeros((1, 5))),
    lambda: rect2_intersection_area(np.zeros((2, 5)), np.zeros((3, 5))),
])
def test_iou_bad_input_raises(call):
    with pytest.raises(HalconDLError):
        call()
