"""Box forms: rectangle2 corners and orientation convention, conversions, angle wrapping,
class_ids_no_orientation."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from det_reference import finite, rect2_boxes
from halcon_dl.detection import (apply_class_ids_no_orientation, normalize_angle, rect1_to_rect2,
                                 rect2_corners, rect2_to_rect1)
from halcon_dl.errors import HalconDLError


def test_corners_follow_the_halcon_orientation():
    # phi = 0: length1 along +column; phi = 90°: length1 along -row (counter-clockwise as shown)
    corners = rect2_corners(np.array([[10.0, 20.0, 0.0, 4.0, 1.0],
                                      [10.0, 20.0, math.pi / 2, 4.0, 1.0]]))
    np.testing.assert_allclose(corners[0], [[9, 24], [9, 16], [11, 16], [11, 24]], atol=1e-12)
    np.testing.assert_allclose(corners[1], [[6, 19], [14, 19], [14, 21], [6, 21]], atol=1e-12)


@given(rect2_boxes())
def test_corners_span_the_box(box):
    row, col, phi, l1, l2 = box
    corners = rect2_corners(np.array([box]))[0]
    np.testing.assert_allclose(corners.mean(axis=0), [row, col], atol=1e-9)
    side1 = corners[0] - corners[1]                     # 2·l1·u
    side2 = corners[1] - corners[2]                     # 2·l2·v
    np.testing.assert_allclose(side1, [-2 * l1 * math.sin(phi), 2 * l1 * math.cos(phi)],
                               atol=1e-9)
    np.testing.assert_allclose(side2, [-2 * l2 * math.cos(phi), -2 * l2 * math.sin(phi)],
                               atol=1e-9)


@given(st.lists(st.tuples(finite(-100, 100), finite(-100, 100), finite(0.1, 50), finite(0.1, 50)),
                min_size=1, max_size=5))
def test_rect1_rect2_round_trip(rows):
    rect1 = np.array([(r, c, r + h, c + w) for r, c, h, w in rows])
    rect2 = rect1_to_rect2(rect1)
    np.testing.assert_array_equal(rect2[:, 2], 0.0)
    np.testing.assert_allclose(rect2[:, 3], (rect1[:, 3] - rect1[:, 1]) / 2)   # l1: columns
    np.testing.assert_allclose(rect2[:, 4], (rect1[:, 2] - rect1[:, 0]) / 2)   # l2: rows
    np.testing.assert_allclose(rect2_to_rect1(rect2), rect1, rtol=0, atol=1e-12)


@given(rect2_boxes())
def test_enclosing_box_is_the_bounding_box_of_the_corners(box):
    corners = rect2_corners(np.array([box]))[0]
    expected = [corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()]
    np.testing.assert_allclose(rect2_to_rect1(np.array([box]))[0], expected, rtol=0, atol=1e-9)


@given(finite(-50.0, 50.0), st.booleans())
def test_normalize_angle_range_and_congruence(phi, ignore_direction):
    period = math.pi if ignore_direction else 2 * math.pi
    out = float(normalize_angle(np.array([phi]), ignore_direction)[0])
    assert -period / 2 < out <= period / 2
    turns = (phi - out) / period
    assert abs(turns - round(turns)) < 1e-9


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('ignore_direction', [False, True])
def test_normalize_angle_range_next_to_odd_multiples_of_the_half_period(dtype, ignore_direction):
    """Values within a few ulps of (2k+1)·P/2 are where the rounding of the wrapping formula
    can leave the range: 10^5 seeded ones, |k| < 3000."""
    half = dtype(math.pi / 2 if ignore_direction else math.pi)       # P/2 rounded to dtype
    rng = np.random.default_rng(2)
    base = ((2 * rng.integers(-3000, 3000, 100_000) + 1) * half).astype(dtype)
    phi = (base + rng.integers(-8, 9, base.size) * np.spacing(base)).astype(dtype)
    out = normalize_angle(phi, ignore_direction)
    assert out.dtype == dtype
    assert np.all((out > -half) & (out <= half))
    turns = (phi.astype(np.float64) - out) / (2 * float(half))
    assert np.all(np.abs(turns - np.round(turns)) < 1e-3)


def test_normalize_angle_boundaries():
    pi = math.pi
    np.testing.assert_array_equal(normalize_angle(np.array([pi, -pi, 3 * pi, 0.0])),
                                  [pi, pi, pi, 0.0])
    np.testing.assert_array_equal(normalize_angle(np.array([pi / 2, -pi / 2]), True),
                                  [pi / 2, pi / 2])
    np.testing.assert_allclose(normalize_angle(np.array([3 * pi / 4]), True), [-pi / 4])


def test_class_ids_no_orientation_replaces_only_listed_classes():
    boxes = np.array([[10.0, 20.0, math.pi / 6, 4.0, 2.0],
                      [10.0, 20.0, math.pi / 6, 4.0, 2.0],
                      [0.0, 0.0, math.pi / 2, 3.0, 1.0]])
    out = apply_class_ids_no_orientation(boxes, np.array([1, 2, 1]), [1])
    s, c = 0.5, math.sqrt(3) / 2
    # enclosing box of box 0: half height 4·sin30° + 2·cos30°, half width 4·cos30° + 2·sin30°
    np.testing.assert_allclose(out[0], [10, 20, 0, 4 * c + 2 * s, 4 * s + 2 * c], atol=1e-12)
    np.testing.assert_array_equal(out[1], boxes[1])
    np.testing.assert_allclose(out[2], [0, 0, 0, 1, 3], atol=1e-12)
    np.testing.assert_array_equal(apply_class_ids_no_orientation(boxes, np.array([1, 2, 1]), []),
                                  boxes)


@pytest.mark.parametrize('call', [
    lambda: rect2_corners(np.zeros((3, 4))),
    lambda: rect2_corners(np.zeros(5)),
    lambda: rect1_to_rect2(np.zeros((3, 5))),
    lambda: rect2_to_rect1(np.zeros((2, 5), dtype=np.int32)),
    lambda: apply_class_ids_no_orientation(np.zeros((2, 5)), np.array([1, 2, 3]), [1]),
])
def test_bad_box_arrays_raise(call):
    with pytest.raises(HalconDLError):
        call()
