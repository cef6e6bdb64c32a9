"""The engine on CuPy: every op agrees with NumPy (values and gradients), dtype is preserved,
conv2d/pools match the naive loops, and gradients pass gradcheck on the GPU."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.backend import gpu_available, to_numpy
from halcon_dl.testing import gradcheck, naive
from halcon_dl.testing.op_cases import op_cases
from halcon_dl.testing.strategies import arrays, conv_geometry

CASES = op_cases()


def cupy():
    import cupy as cp
    return cp


def run_case(fn, inputs, xp, dtype):
    tensors = [Tensor(xp.asarray(a.astype(dtype)), requires_grad=True) for a in inputs]
    out = fn(*tensors)
    out.backward(xp.ones(out.shape, dtype=dtype))
    return out, tensors


@pytest.mark.parametrize('name, fn, inputs', CASES, ids=[c[0] for c in CASES])
def test_gpu_matches_cpu_values_and_gradients(name, fn, inputs):
    out_cpu, t_cpu = run_case(fn, inputs, np, np.float64)
    out_gpu, t_gpu = run_case(fn, inputs, cupy(), np.float64)
    assert type(out_gpu.data).__module__.startswith('cupy')
    np.testing.assert_allclose(to_numpy(out_gpu.data), out_cpu.data, rtol=1e-12, atol=1e-12)
    for a, b in zip(t_gpu, t_cpu):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name, fn, inputs', CASES, ids=[c[0] for c in CASES])
def test_gpu_float32_stays_float32(name, fn, inputs):
    out, tensors = run_case(fn, inputs, cupy(), np.float32)
    assert out.dtype == np.float32
    assert all(t.grad.dtype == np.float32 for t in tensors)


@settings(max_examples=20)
@given(g=conv_geometry(), data=st.data())
def test_gpu_conv2d_matches_naive_loop_and_gradcheck(g, data):
    if not gpu_available():
        pytest.skip('no GPU')
    cp = cupy()
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    kw = dict(stride=g['stride'], padding=g['padding'], dilation=g['dilation'])
    got = O.conv2d(Tensor(cp.asarray(x)), Tensor(cp.asarray(w)), **kw).data
    np.testing.assert_allclose(to_numpy(got), naive.conv2d(x, w, **kw), rtol=1e-12, atol=1e-12)
    gradcheck(lambda a, b: O.conv2d(a, b, **kw), [cp.asarray(x), cp.asarray(w)])


def test_gpu_batch_norm_gradcheck():
    cp = cupy()
    rng = np.random.default_rng(0)
    x, g, b = (cp.asarray(rng.standard_normal(s)) for s in [(3, 2, 4, 4), (2,), (2,)])
    gradcheck(lambda x, g, b: O.batch_norm2d(x, g, b, cp.zeros(2), cp.ones(2), True), [x, g, b])
