"""float32 in gives float32 out (no silent upcast) for every float-valued function, and agrees
with the float64 result to float32 rounding; mixed dtypes are refused."""
import math

import numpy as np
import pytest

from halcon_dl.detection import (apply_class_ids_no_orientation, decode, encode,
                                 generate_anchors, iou_rect1, iou_rect2, match_anchors,
                                 nms, normalize_angle, rect1_to_rect2, rect2_corners,
                                 rect2_intersection_area, rect2_to_rect1)
from halcon_dl.errors import HalconDLError

RNG = np.random.default_rng(11)
RECT1 = np.concatenate([RNG.uniform(0, 50, (12, 2)), RNG.uniform(0, 50, (12, 2))], axis=1)
RECT1 = np.concatenate([RECT1[:, :2], RECT1[:, :2] + RNG.uniform(2, 20, (12, 2))], axis=1)
RECT2 = np.column_stack([RNG.uniform(0, 30, (12, 2)), RNG.uniform(-math.pi, math.pi, 12),
                         RNG.uniform(2, 12, (12, 2))])
CLASSES = np.arange(12) % 3

CASES = {
    'normalize_angle': lambda x1, x2: normalize_angle(x2[:, 2] * 3),
    'rect2_corners': lambda x1, x2: rect2_corners(x2),
    'rect1_to_rect2': lambda x1, x2: rect1_to_rect2(x1),
    'rect2_to_rect1': lambda x1, x2: rect2_to_rect1(x2),
    'class_ids_no_orientation': lambda x1, x2: apply_class_ids_no_orientation(x2, CLASSES, [1]),
    'iou_rect1': lambda x1, x2: iou_rect1(x1, x1[::2] + 3),
    'iou_rect2': lambda x1, x2: iou_rect2(x2, x2[::2] + 2),
    'rect2_intersection_area': lambda x1, x2: rect2_intersection_area(x2, x2[::-1]),
    'encode_rect1': lambda x1, x2: encode(x1, x1[::-1], 'rectangle1'),
    'encode_rect2': lambda x1, x2: encode(x2, x2[::-1], 'rectangle2'),
    'decode_rect1': lambda x1, x2: decode(x1, x1 / 100, 'rectangle1'),
    'decode_rect2': lambda x1, x2: decode(x2, x2 / 100, 'rectangle2', True),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_float32_in_float32_out(name):
    out32 = CASES[name](RECT1.astype(np.float32), RECT2.astype(np.float32))
    out64 = CASES[name](RECT1, RECT2)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_anchors_matching_and_nms_in_float32(kind):
    angles = [0.0, 0.5] if kind == 'rectangle2' else None
    anchors, _ = generate_anchors(40, 40, 2, 3, 2, [1.0, 2.0], angles, kind, dtype=np.float32)
    assert anchors.dtype == np.float32
    gt = (RECT1 if kind == 'rectangle1' else RECT2)[:4]
    m32 = match_anchors(anchors, gt.astype(np.float32), CLASSES[:4], instance_type=kind)
    m64 = match_anchors(anchors.astype(np.float64), gt, CLASSES[:4], instance_type=kind)
    assert m32.state.dtype == np.int64
    # float32 rounding may only move anchors whose IoU is within float32 rounding of a threshold
    assert np.mean(m32.state == m64.state) > 0.99
    scores = RNG.uniform(0, 1, anchors.shape[0]).astype(np.float32)
    kept = nms(anchors, scores, np.zeros(anchors.shape[0], dtype=np.int64), 0.5,
               instance_type=kind)
    assert kept.dtype == np.int64 and kept.shape[0] > 0


def test_mixed_dtypes_are_refused():
    with pytest.raises(HalconDLError):
        iou_rect2(RECT2.astype(np.float32), RECT2)
    with pytest.raises(HalconDLError):
        encode(RECT1.astype(np.float32), RECT1, 'rectangle1')
