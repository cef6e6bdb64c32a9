"""Segmentation on CuPy: training and inference agree with the CPU; deterministic runs."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.backend import to_numpy
from halcon_dl.testing.models import assert_same_snapshot, random_segmentation_samples, snapshot


def make(runtime, precision='float64', solver='sgd'):
    return hdl.create_dl_model('segmentation', class_ids=[1, 3, 6], ignore_class_ids=[9],
                               image_width=13, image_height=10, image_num_channels=3,
                               batch_size=2, batch_size_multiplier=2, learning_rate=0.01,
                               weight_prior=1e-3, class_weights=[0.5, 1.0, 2.0],
                               solver_type=solver, precision=precision, runtime=runtime, seed=3)


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_gpu_segmentation_training_agrees_with_cpu(solver):
    cpu, gpu = make('cpu', solver=solver), make('gpu', solver=solver)
    for s in range(3):
        samples = random_segmentation_samples(cpu, 4, seed=s, weight_images=True)
        rc, rg = hdl.train_dl_model_batch(cpu, samples), hdl.train_dl_model_batch(gpu, samples)
        for k in rc:
            assert rg[k] == pytest.approx(rc[k], rel=1e-9, abs=1e-12)
    for k, w in cpu.parameters().items():
        g = gpu.parameters()[k]
        assert type(g).__module__.startswith('cupy')
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-9, atol=1e-12)
    samples = random_segmentation_samples(cpu, 5, seed=9)
    for a, b in zip(hdl.apply_dl_model(cpu, samples), hdl.apply_dl_model(gpu, samples)):
        assert isinstance(b['segmentation_image'], np.ndarray)
        np.testing.assert_array_equal(a['segmentation_image'], b['segmentation_image'])
        np.testing.assert_allclose(a['segmentation_confidence'], b['segmentation_confidence'],
                                   rtol=1e-6)


def test_gpu_segmentation_runs_are_bit_identical_when_deterministic():
    hdl.set_system('cudnn_deterministic', 'true')
    try:
        runs = []
        for _ in range(2):
            m = make('gpu', precision='float32')
            losses = [hdl.train_dl_model_batch(
                m, random_segmentation_samples(m, 4, seed=s, weight_images=True))
                for s in range(3)]
            runs.append((losses, snapshot(m)))
        assert runs[0][0] == runs[1][0]
        assert_same_snapshot(runs[0][1], runs[1][1])
        assert all(v.dtype == np.float32 for v in m.parameters().values())
    finally:
        hdl.set_system('cudnn_deterministic', 'false')


def test_gpu_all_ignored_batch_gives_zero_loss():
    m = make('gpu')
    samples = random_segmentation_samples(m, 4)
    for s in samples:
        s['segmentation_image'][...] = 9
    assert hdl.train_dl_model_batch(m, samples)['cross_entropy_loss'] == 0.0
