"""Box coding: hand-computed targets, encode -> decode round trips, the decode clamp, errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from det_reference import finite, rect2_boxes
from halcon_dl.detection import BBOX_LOG_CLAMP, decode, encode
from halcon_dl.errors import HalconDLError

# sizes within a factor 50 of each other: log ratios stay below the decode clamp log(62.5)
rect1_rows = st.tuples(finite(-100, 100), finite(-100, 100), finite(1, 50), finite(1, 50)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))


def _same_angle(a, b, period):
    """|a - b| modulo the period, elementwise."""
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)


def test_hand_computed_rectangle1_targets():
    anchor = np.array([[0.0, 0.0, 10.0, 20.0]])      # centre (5, 10), h 10, w 20
    gt = np.array([[2.0, 4.0, 8.0, 24.0]])           # centre (5, 14), h 6, w 20
    np.testing.assert_allclose(encode(anchor, gt, 'rectangle1'),
                               [[0.0, 4 / 20, math.log(0.6), 0.0]], rtol=0, atol=1e-15)


def test_hand_computed_rectangle2_targets():
    anchor = np.array([[10.0, 20.0, 0.5, 8.0, 2.0]])    # ah = 2·l2 = 4, aw = 2·l1 = 16
    gt = np.array([[12.0, 16.0, -3.0, 4.0, 4.0]])
    wrapped = -3.0 - 0.5 + 2 * math.pi                  # -3.5 wrapped to (-π, π]
    np.testing.assert_allclose(
        encode(anchor, gt, 'rectangle2'),
        [[2 / 4, -4 / 16, math.log(0.5), math.log(2.0), wrapped]], rtol=0, atol=1e-15)
    # with ignore_direction the difference is taken modulo π: -3.5 + π
    np.testing.assert_allclose(encode(anchor, gt, 'rectangle2', ignore_direction=True)[0, 4],
                               -3.5 + math.pi, rtol=0, atol=1e-15)


@given(st.lists(st.tuples(rect1_rows, rect1_rows), min_size=1, max_size=6))
def test_rectangle1_round_trip(pairs):
    anchors = np.array([p[0] for p in pairs])
    gt = np.array([p[1] for p in pairs])
    deltas = encode(anchors, gt, 'rectangle1')
    assert np.all(deltas[:, 2:] < BBOX_LOG_CLAMP)
    np.testing.assert_allclose(decode(anchors, deltas, 'rectangle1'), gt, rtol=0, atol=1e-9)


rect2_rows = rect2_boxes(length=finite(1.0, 30.0))


@given(st.lists(st.tuples(rect2_rows, rect2_rows), min_size=1, max_size=6), st.booleans())
def test_rectangle2_round_trip(pairs, ignore_direction):
    anchors = np.array([p[0] for p in pairs])
    gt = np.array([p[1] for p in pairs])
    deltas = encode(anchors, gt, 'rectangle2', ignore_direction)
    half = math.pi / 2 if ignore_direction else math.pi
    assert np.all((deltas[:, 4] > -half) & (deltas[:, 4] <= half))
    boxes = decode(anchors, deltas, 'rectangle2', ignore_direction)
    np.testing.assert_allclose(boxes[:, [0, 1, 3, 4]], gt[:, [0, 1, 3, 4]], rtol=1e-12, atol=1e-9)
    assert np.all((boxes[:, 2] > -half) & (boxes[:, 2] <= half))
    assert np.all(_same_angle(boxes[:, 2], gt[:, 2], 2 * half) < 1e-9)


def test_decode_clamps_the_log_terms():
    anchor = np.array([[0.0, 0.0, 10.0, 20.0]])
    big = decode(anchor, np.array([[0.0, 0.0, 50.0, -1.0]]), 'rectangle1')
    # h = 10 · 1000/16, centred on row 5; w = 20 · e^-1 (below the clamp, unchanged)
    np.testing.assert_allclose(big, [[5 - 312.5, 10 - 10 / math.e, 5 + 312.5, 10 + 10 / math.e]])
    anchor2 = np.array([[0.0, 0.0, 0.0, 3.0, 2.0]])
    out = decode(anchor2, np.array([[0.0, 0.0, 40.0, 40.0, 0.0]]), 'rectangle2')
    np.testing.assert_allclose(out[0, 3:], [3 * 62.5, 2 * 62.5])


@pytest.mark.parametrize('call', [
    lambda: encode(np.ones((2, 4)), np.ones((3, 4)), 'rectangle1'),
    lambda: encode(np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[0.0, 0.0, 0.0, 1.0]]),
                   'rectangle1'),
    lambda: encode(np.array([[0.0, 0.0, 0.0, 1.0, 1.0]]), np.array([[0.0, 0.0, 0.0, 0.0, 1.0]]),
                   'rectangle2'),
    lambda: encode(np.ones((2, 4)), np.ones((2, 4)), 'rectangle3'),
    lambda: decode(np.ones((2, 5)), np.ones((2, 4)), 'rectangle2'),
    lambda: decode(np.ones((2, 4)), np.ones((2, 4), dtype=np.float32), 'rectangle1'),
])
def test_bad_coding_input_raises(call):
    with pytest.raises(HalconDLError):
        call()
