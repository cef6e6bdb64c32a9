"""Model files of GPU models: arrays are copied to the host for writing; a file reads back on the
CPU (the default) or straight onto the GPU, and training continues bit-identically."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(solver, runtime='gpu'):
    return hdl.create_dl_model('classification', class_ids=[0, 1, 2], image_width=16,
                               image_height=12, image_num_channels=3, batch_size=4,
                               batch_size_multiplier=2, learning_rate=0.01, weight_prior=1e-3,
                               solver_type=solver, runtime=runtime, seed=3)


def train(models, seeds):
    """Train each model on the same batches; the losses of each must be equal."""
    for s in seeds:
        samples = random_samples(models[0], 8, seed=s)
        losses = [hdl.train_dl_model_batch(m, samples) for m in models]
        assert all(x == losses[0] for x in losses[1:])


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_gpu_model_file_continues_bit_identically_on_the_gpu(tmp_path, solver):
    a = make(solver)
    train([a], [0, 1])
    path = tmp_path / 'm.npz'
    hdl.write_dl_model(a, path)
    on_cpu = hdl.read_dl_model(path)
    arrays = [*on_cpu.parameters().values(), *on_cpu.buffers().values(),
              *on_cpu.optimizer_state().values()]
    assert on_cpu.runtime == 'cpu' and all(type(x) is np.ndarray for x in arrays)
    expected = snapshot(a)
    got = snapshot(on_cpu)
    assert (expected['params']['runtime'], got['params']['runtime']) == ('gpu', 'cpu')
    got['params']['runtime'] = 'gpu'
    assert_same_snapshot(expected, got)
    hdl.set_dl_model_param(on_cpu, 'runtime', 'gpu')
    on_gpu = hdl.read_dl_model(path, runtime='gpu')
    assert type(on_gpu.parameters()['fc.weight']).__module__.startswith('cupy')
    train([a, on_cpu, on_gpu], [2, 3])
    assert_same_snapshot(snapshot(a), snapshot(on_cpu))
    assert_same_snapshot(snapshot(a), snapshot(on_gpu))


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_model_after_a_runtime_round_trip_continues_bit_identically_on_the_cpu(tmp_path, solver):
    a = make(solver, runtime='cpu')
    train([a], [0])
    hdl.set_dl_model_param(a, 'runtime', 'gpu')
    train([a], [1])
    hdl.set_dl_model_param(a, 'runtime', 'cpu')
    hdl.write_dl_model(a, tmp_path / 'm.npz')
    b = hdl.read_dl_model(tmp_path / 'm.npz')
    assert_same_snapshot(snapshot(a), snapshot(b))
    train([a, b], [2, 3])
    assert_same_snapshot(snapshot(a), snapshot(b))
