"""Training and inference on CuPy (SPEC §11): agreement with the CPU, determinism, moves."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.backend import to_numpy
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(runtime, precision='float64', solver='sgd'):
    return hdl.create_dl_model('classification', class_ids=[0, 1, 2], image_width=16,
                               image_height=12, image_num_channels=3, batch_size=4,
                               batch_size_multiplier=2, learning_rate=0.01, weight_prior=1e-3,
                               solver_type=solver, precision=precision, runtime=runtime, seed=3)


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_gpu_training_agrees_with_cpu(solver):
    cpu, gpu = make('cpu', solver=solver), make('gpu', solver=solver)
    for s in range(3):
        samples = random_samples(cpu, 8, seed=s)
        rc, rg = hdl.train_dl_model_batch(cpu, samples), hdl.train_dl_model_batch(gpu, samples)
        for k in rc:
            assert rg[k] == pytest.approx(rc[k], rel=1e-9, abs=1e-12)
    for k, w in cpu.parameters().items():
        g = gpu.parameters()[k]
        assert type(g).__module__.startswith('cupy')
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-9, atol=1e-12)
    ra = hdl.apply_dl_model(cpu, random_samples(cpu, 5, seed=9))
    rb = hdl.apply_dl_model(gpu, random_samples(cpu, 5, seed=9))
    for a, b in zip(ra, rb):
        assert a['classification_class_ids'] == b['classification_class_ids']
        np.testing.assert_allclose(a['classification_confidences'], b['classification_confidences'],
                                   rtol=1e-9)


def test_gpu_runs_are_bit_identical_when_deterministic():
    hdl.set_system('cudnn_deterministic', 'true')
    try:
        runs = []
        for _ in range(2):
            m = make('gpu', precision='float32')
            losses = [hdl.train_dl_model_batch(m, random_samples(m, 8, seed=s)) for s in range(5)]
            runs.append((losses, snapshot(m)))
        assert runs[0][0] == runs[1][0]
        assert_same_snapshot(runs[0][1], runs[1][1])
    finally:
        hdl.set_system('cudnn_deterministic', 'false')


def test_switching_runtime_moves_weights_and_optimiser_state():
    ref, moved = make('cpu'), make('cpu')
    samples = [random_samples(ref, 8, seed=s) for s in range(3)]
    for s in samples:
        hdl.train_dl_model_batch(ref, s)
    hdl.train_dl_model_batch(moved, samples[0])
    hdl.set_dl_model_param(moved, 'runtime', 'gpu')
    assert all(type(v).__module__.startswith('cupy') for v in moved.optimizer_state().values())
    hdl.train_dl_model_batch(moved, samples[1])
    hdl.set_dl_model_param(moved, 'runtime', 'cpu')
    hdl.train_dl_model_batch(moved, samples[2])
    for k, w in ref.parameters().items():
        np.testing.assert_allclose(moved.parameters()[k], w, rtol=1e-9, atol=1e-12)


def test_gpu_float32_model_stays_float32():
    m = make('gpu', precision='float32')
    hdl.train_dl_model_batch(m, random_samples(m, 8))
    assert all(v.dtype == np.float32 for v in m.parameters().values())
    assert all(v.dtype == np.float32 for v in m.optimizer_state().values())
