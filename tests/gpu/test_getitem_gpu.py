"""Advanced indexing on CuPy: the backward is deterministic (no atomic scatter-add) and adds the
same operands in the same order as on NumPy, so GPU gradients equal the CPU's bit for bit, in
float32 and float64, on every run."""
import numpy as np
import pytest

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.backend import to_numpy
from halcon_dl.testing import gradcheck

cp = pytest.importorskip('cupy')

RNG = np.random.default_rng(5)
CASES = {   # name: (x's shape, index with repeats)
    'anchor_gather': ((3000, 4), RNG.integers(0, 3000, 20000)),
    'few_rows_many_repeats': ((3, 5), RNG.integers(0, 3, 5000)),
    'mask': ((40, 30), RNG.uniform(size=(40, 30)) > 0.3),
    'arrays_and_slice': ((20, 6, 5), (RNG.integers(0, 20, (50, 1)), slice(None), RNG.integers(0, 5, 7))),
}


def grad(xp, name, dtype, index_on_device=True):
    shape, index = CASES[name]
    if index_on_device:
        index = tuple(xp.asarray(i) if isinstance(i, np.ndarray) else i for i in index) \
            if isinstance(index, tuple) else xp.asarray(index)
    x = Tensor(xp.asarray(np.random.default_rng(0).uniform(-1, 1, shape).astype(dtype)),
               requires_grad=True)
    out = O.getitem(x, index)
    g = np.random.default_rng(1).normal(0, 1, out.shape).astype(dtype)
    out.backward(xp.asarray(g))
    return x.grad


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('name', sorted(CASES))
def test_gpu_gradient_is_the_cpu_gradient_bit_for_bit(name, dtype):
    on_gpu = grad(cp, name, dtype)
    assert isinstance(on_gpu, cp.ndarray) and on_gpu.dtype == dtype
    assert to_numpy(on_gpu).tobytes() == grad(np, name, dtype).tobytes()


@pytest.mark.parametrize('name', sorted(CASES))
def test_gpu_gradient_is_bit_identical_over_runs_with_scatter_adds_forbidden(name, monkeypatch):
    import cupyx

    def forbidden(*args, **kwargs):
        raise AssertionError('a scatter-add was called')
    monkeypatch.setattr(cupyx, 'scatter_add', forbidden)
    first = to_numpy(grad(cp, name, np.float32))
    for _ in range(3):
        assert to_numpy(grad(cp, name, np.float32)).tobytes() == first.tobytes()


def test_gpu_index_given_as_numpy_arrays():
    assert to_numpy(grad(cp, 'arrays_and_slice', np.float64, index_on_device=False)).tobytes() == \
        grad(np, 'arrays_and_slice', np.float64).tobytes()


def test_gpu_gradcheck_of_a_gather_with_repeats():
    idx = cp.asarray([3, 0, 3, 3, 1, 0])
    gradcheck(lambda t: O.getitem(t, idx) ** 2, [cp.asarray(RNG.uniform(-2, 2, (4, 3)))])
