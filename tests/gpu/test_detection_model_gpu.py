"""Detection training and inference on CuPy: agreement with the CPU, determinism, runtime moves.
Skipped without CuPy and a CUDA device (tests/gpu/conftest.py)."""
import math

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.backend import to_numpy
from halcon_dl.datasets import make_shapes_scenes
from halcon_dl.testing.models import assert_same_snapshot, snapshot

KINDS = ['rectangle1', 'rectangle2']


def make(kind, runtime, precision='float64'):
    extra = {'anchor_angles': [0.0, math.pi / 4]} if kind == 'rectangle2' else {}
    return hdl.create_dl_model('detection', class_ids=[1, 2], image_width=32, image_height=32,
                               image_num_channels=3, instance_type=kind, capacity='low',
                               batch_size=2, batch_size_multiplier=2, learning_rate=0.01,
                               weight_prior=1e-3, precision=precision, runtime=runtime, seed=3,
                               min_confidence=0.02, max_num_detections=10, **extra)


def samples(kind, seed):
    return make_shapes_scenes(4, 32, 3, seed=seed, min_shapes=1, max_shapes=3,
                              class_names=('square', 'circle'), class_ids=[1, 2],
                              size_range=(10, 22), overlap=False, with_boxes=kind)


@pytest.mark.parametrize('kind', KINDS)
def test_gpu_detection_training_and_inference_agree_with_cpu(kind):
    cpu, gpu = make(kind, 'cpu'), make(kind, 'gpu')
    for s in range(3):
        batch = samples(kind, s)
        rc, rg = hdl.train_dl_model_batch(cpu, batch), hdl.train_dl_model_batch(gpu, batch)
        assert rc.keys() == rg.keys()
        for k in rc:
            assert rg[k] == pytest.approx(rc[k], rel=1e-9, abs=1e-12), k
    for k, w in cpu.parameters().items():
        g = gpu.parameters()[k]
        assert type(g).__module__.startswith('cupy')
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-8, atol=1e-11)
    images = [{'image': s['image']} for s in samples(kind, 9)]
    for a, b in zip(hdl.apply_dl_model(cpu, images), hdl.apply_dl_model(gpu, images)):
        assert a.keys() == b.keys() and a['bbox_class_id'] == b['bbox_class_id']
        for key in a:
            if key not in ('bbox_class_id', 'bbox_class_name'):
                np.testing.assert_allclose(b[key], a[key], rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize('kind', KINDS)
def test_gpu_detection_runs_are_bit_identical_when_deterministic(kind):
    hdl.set_system('cudnn_deterministic', 'true')
    try:
        runs = []
        for _ in range(2):
            m = make(kind, 'gpu', precision='float32')
            losses = [hdl.train_dl_model_batch(m, samples(kind, s)) for s in range(3)]
            runs.append((losses, snapshot(m)))
        assert runs[0][0] == runs[1][0]
        assert_same_snapshot(runs[0][1], runs[1][1])
    finally:
        hdl.set_system('cudnn_deterministic', 'false')


def test_switching_runtime_moves_the_anchors_with_the_weights():
    m = make('rectangle1', 'cpu')
    hdl.train_dl_model_batch(m, samples('rectangle1', 0))
    hdl.set_dl_model_param(m, 'runtime', 'gpu')
    batch = m.task.collate(m, samples('rectangle1', 1))
    assert all(type(v).__module__.startswith('cupy') for v in batch.values())
    assert type(m.task.anchors(m)[0]).__module__.startswith('cupy')
    result = hdl.train_dl_model_batch(m, samples('rectangle1', 1))
    assert math.isfinite(result['total_loss'])
