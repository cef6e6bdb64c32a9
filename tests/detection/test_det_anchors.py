"""Anchors: counts, hand-computed values, the documented order, levels and errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from halcon_dl.detection import feature_map_shape, generate_anchors, num_anchors_per_cell
from halcon_dl.errors import HalconDLError

R2 = math.sqrt(2.0)


@given(st.integers(1, 70), st.integers(1, 70), st.integers(0, 3), st.integers(0, 2),
       st.integers(1, 3), st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=1,
                                   max_size=3),
       st.sampled_from(['rectangle1', 'rectangle2']))
def test_anchor_count_and_levels(height, width, min_level, extra, subscales, ratios, kind):
    max_level = min_level + extra
    angles = [0.0, 0.7] if kind == 'rectangle2' else None
    anchors, levels = generate_anchors(height, width, min_level, max_level, subscales, ratios,
                                       angles, kind)
    per_cell = subscales * len(ratios) * (2 if kind == 'rectangle2' else 1)
    assert num_anchors_per_cell(subscales, ratios, angles, kind) == per_cell
    counts = [math.ceil(height / 2 ** l) * math.ceil(width / 2 ** l) * per_cell
              for l in range(min_level, max_level + 1)]
    assert anchors.shape == (sum(counts), 4 if kind == 'rectangle1' else 5)
    expected_levels = np.repeat(np.arange(min_level, max_level + 1), counts)
    np.testing.assert_array_equal(levels, expected_levels)
    assert feature_map_shape(height, width, max_level) == (math.ceil(height / 2 ** max_level),
                                                           math.ceil(width / 2 ** max_level))


def test_hand_computed_rectangle1_anchors():
    # 8×12 image, level 2 only (stride 4): 2×3 cells, centres rows 1.5, 5.5; cols 1.5, 5.5, 9.5.
    # S = 2: sizes 16 and 16·√2; ratios [1, 2]: (h, w) = (16, 16), (16√2, 8√2),
    # (16√2, 16√2), (32, 16).  Order in a cell: subscale, then ratio.
    anchors, levels = generate_anchors(8, 12, 2, 2, 2, [1.0, 2.0], dtype=np.float64)
    assert anchors.shape == (2 * 3 * 4, 4)
    h = np.array([16.0, 16 * R2, 16 * R2, 32.0])
    w = np.array([16.0, 8 * R2, 16 * R2, 16.0])
    cell0 = np.stack([1.5 - h / 2, 1.5 - w / 2, 1.5 + h / 2, 1.5 + w / 2], axis=1)
    np.testing.assert_allclose(anchors[:4], cell0, rtol=0, atol=1e-12)
    # cell (0, 1) follows cell (0, 0) (row-major); cell (1, 2) is last
    np.testing.assert_allclose(anchors[4:8], cell0 + [0, 4, 0, 4], atol=1e-12)
    np.testing.assert_allclose(anchors[-4:], cell0 + [4, 8, 4, 8], atol=1e-12)
    np.testing.assert_array_equal(levels, 2)
    # the first anchor written out: (1.5 - 8, 1.5 - 8, 1.5 + 8, 1.5 + 8)
    np.testing.assert_allclose(anchors[0], [-6.5, -6.5, 9.5, 9.5], atol=1e-12)


def test_hand_computed_rectangle2_anchors_and_level_order():
    # 4×4 image, levels 1..2, S = 1, ratio 0.5, angles [0, 0.3] (angle-major).
    # Level 1: stride 2, size 8, h = 8/√2 = 4√2, w = 8√2: (l1, l2) = (4√2, 2√2); 2×2 cells,
    # centres 0.5, 2.5.  Level 2: stride 4, size 16, (l1, l2) = (8√2, 4√2); one cell at 1.5.
    anchors, levels = generate_anchors(4, 4, 1, 2, 1, [0.5], [0.0, 0.3], 'rectangle2',
                                       dtype=np.float64)
    expected = []
    for r in (0.5, 2.5):
        for c in (0.5, 2.5):
            expected += [[r, c, 0.0, 4 * R2, 2 * R2], [r, c, 0.3, 4 * R2, 2 * R2]]
    expected += [[1.5, 1.5, 0.0, 8 * R2, 4 * R2], [1.5, 1.5, 0.3, 8 * R2, 4 * R2]]
    np.testing.assert_allclose(anchors, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(levels, [1] * 8 + [2] * 2)


def test_cell_order_is_angle_then_subscale_then_ratio():
    anchors, _ = generate_anchors(4, 4, 2, 2, 2, [1.0, 4.0], [0.0, 1.0], 'rectangle2',
                                  dtype=np.float64)
    size = np.array([16.0, 16.0, 16 * R2, 16 * R2] * 2)
    ratio = np.array([1.0, 4.0] * 4)
    np.testing.assert_array_equal(anchors[:, 2], [0.0] * 4 + [1.0] * 4)
    np.testing.assert_allclose(anchors[:, 3], size / np.sqrt(ratio) / 2)      # w / 2
    np.testing.assert_allclose(anchors[:, 4], size * np.sqrt(ratio) / 2)      # h / 2


def test_anchor_dtype_and_rounding_once():
    a32, _ = generate_anchors(64, 64, 2, 3, 3, [1.0, 2.0, 0.5], dtype=np.float32)
    a64, _ = generate_anchors(64, 64, 2, 3, 3, [1.0, 2.0, 0.5], dtype=np.float64)
    assert a32.dtype == np.float32 and a64.dtype == np.float64
    np.testing.assert_array_equal(a32, a64.astype(np.float32))


@pytest.mark.parametrize('kwargs', [
    dict(image_height=0), dict(image_width=-3), dict(image_height=2.5),
    dict(min_level=3, max_level=2), dict(min_level=-1), dict(num_subscales=0),
    dict(aspect_ratios=[]), dict(aspect_ratios=[1.0, -2.0]), dict(aspect_ratios=[float('nan')]),
    dict(instance_type='polygon'), dict(angles=[0.5]), dict(dtype=np.int32),
    dict(instance_type='rectangle2', angles=[float('inf')]), dict(num_subscales=True),
])
def test_bad_anchor_parameters_raise(kwargs):
    args = dict(image_height=16, image_width=16, min_level=2, max_level=3, num_subscales=1,
                aspect_ratios=[1.0])
    args.update(kwargs)
    with pytest.raises(HalconDLError):
        generate_anchors(**args)
