"""Detection geometry on CuPy: results are CuPy arrays of the input dtype and agree with NumPy
(float64 to 1e-12, float32 to float32 rounding).  Skipped without CuPy and a CUDA device."""
import math

import numpy as np
import pytest

from halcon_dl.backend import gpu_available, to_numpy
from halcon_dl.detection import (decode, encode, generate_anchors, iou_rect1, iou_rect2,
                                 match_anchors, nms, normalize_angle, rect2_corners)

cp = pytest.importorskip('cupy')
if not gpu_available():
    pytest.skip('no CUDA device for CuPy', allow_module_level=True)

RNG = np.random.default_rng(7)
N = 300
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _boxes(kind):
    centre = RNG.uniform(0, 100, (N, 2))
    size = RNG.uniform(2, 20, (N, 2))
    if kind == 'rectangle1':
        return np.concatenate([centre - size, centre + size], axis=1)
    return np.column_stack([centre, RNG.uniform(-math.pi, math.pi, N), size])


def _on_gpu(x, dtype):
    return cp.asarray(x.astype(dtype))


def _check(gpu_result, cpu_result, dtype):
    assert isinstance(gpu_result, cp.ndarray)
    assert gpu_result.dtype == cpu_result.dtype
    tol = TOL[dtype] if np.issubdtype(cpu_result.dtype, np.floating) else 0
    np.testing.assert_allclose(to_numpy(gpu_result), cpu_result, rtol=tol, atol=tol)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_iou_gpu_matches_cpu(kind, dtype):
    a, b = _boxes(kind).astype(dtype), _boxes(kind)[:40].astype(dtype)
    fn = iou_rect1 if kind == 'rectangle1' else iou_rect2
    cpu = fn(a, b)
    assert np.count_nonzero(cpu) > 20
    _check(fn(_on_gpu(a, dtype), _on_gpu(b, dtype)), cpu, dtype)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_box_helpers_gpu_match_cpu(dtype):
    boxes = _boxes('rectangle2').astype(dtype)
    _check(rect2_corners(_on_gpu(boxes, dtype)), rect2_corners(boxes), dtype)
    _check(normalize_angle(_on_gpu(boxes[:, 2] * 5, dtype), True),
           normalize_angle(boxes[:, 2] * 5, True), dtype)


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_anchors_and_matching_gpu_match_cpu(kind):
    angles = [0.0, math.pi / 4] if kind == 'rectangle2' else None
    anchors, levels = generate_anchors(96, 96, 2, 4, 2, [1.0, 2.0], angles, kind,
                                       dtype=np.float64)
    anchors_gpu, levels_gpu = generate_anchors(96, 96, 2, 4, 2, [1.0, 2.0], angles, kind,
                                               dtype=np.float64, runtime='gpu')
    _check(anchors_gpu, anchors, np.float64)
    _check(levels_gpu, levels, np.float64)
    gt = _boxes(kind)[:6]
    classes = np.arange(6)
    cpu = match_anchors(anchors, gt, classes, instance_type=kind)
    gpu = match_anchors(anchors_gpu, cp.asarray(gt), cp.asarray(classes), instance_type=kind)
    for g, c in zip(gpu, cpu):
        _check(g, c, np.float64)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_coding_gpu_matches_cpu(kind, dtype):
    anchors, gt = _boxes(kind).astype(dtype), _boxes(kind).astype(dtype)
    deltas = encode(anchors, gt, kind, True)
    deltas_gpu = encode(_on_gpu(anchors, dtype), _on_gpu(gt, dtype), kind, True)
    _check(deltas_gpu, deltas, dtype)
    _check(decode(_on_gpu(anchors, dtype), deltas_gpu, kind, True),
           decode(anchors, deltas, kind, True), dtype)


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_nms_gpu_matches_cpu(kind):
    boxes = _boxes(kind)
    scores = RNG.uniform(0, 1, N)
    classes = RNG.integers(0, 3, N)
    cpu = nms(boxes, scores, classes, 0.3, 0.6, 50, kind)
    gpu = nms(cp.asarray(boxes), cp.asarray(scores), cp.asarray(classes), 0.3, 0.6, 50, kind)
    _check(gpu, cpu, np.float64)
