"""The stride-1 convolution by shifted-window products (``ops.conv_shifted``) against the naive
loops, its float64 gradients, chunking, a second backward, and the in-place BLAS product."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import halcon_dl.ops as O
import halcon_dl.ops.conv_shifted as shifted
from halcon_dl.autograd import Tensor
from halcon_dl.kernels import blas
from halcon_dl.ops.conv import Conv2d
from halcon_dl.testing import gradcheck, naive
from halcon_dl.testing.strategies import arrays, conv_geometry


@contextlib.contextmanager
def setting(**values):
    previous = {k: getattr(shifted, k) for k in values}
    for k, v in values.items():
        setattr(shifted, k, v)
    try:
        yield
    finally:
        for k, v in previous.items():
            setattr(shifted, k, v)


def inputs(g, data, bias):
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    return [x, w] + ([data.draw(arrays((g['co'],)))] if bias else [])


def conv(g):
    return lambda *t: O.conv2d(*t, stride=1, padding=g['padding'], dilation=g['dilation'])


pytestmark = pytest.mark.skipif(not blas.available(np.float64), reason='no in-place BLAS product')


@settings(max_examples=40)
@given(g=conv_geometry(max_stride=1), bias=st.booleans(), data=st.data())
def test_shifted_conv_matches_naive_loop(g, bias, data):
    args = inputs(g, data, bias)
    with setting(MIN_CHANNELS=1, MIN_COLUMN_BYTES=0):
        y = conv(g)(*[Tensor(a, requires_grad=True) for a in args])
    assert isinstance(y.node, shifted.ShiftedConv2d) == (g['kh'] * g['kw'] > 1)
    expected = naive.conv2d(*args, padding=g['padding'], dilation=g['dilation'])
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(g=conv_geometry(max_batch=3, max_stride=1), bias=st.booleans(), data=st.data())
def test_shifted_conv_gradients(g, bias, data):
    with setting(MIN_CHANNELS=1, MIN_COLUMN_BYTES=0):
        gradcheck(conv(g), inputs(g, data, bias))


@settings(max_examples=10)
@given(g=conv_geometry(max_batch=4, max_stride=1), data=st.data())
def test_shifted_conv_per_sample_chunks_equal_one_chunk_and_a_second_backward_adds(g, data):
    args = inputs(g, data, True)
    gy = np.random.default_rng(0).standard_normal(
        naive.conv2d(*args, padding=g['padding'], dilation=g['dilation']).shape)

    def grads(twice=False):
        ts = [Tensor(a, requires_grad=True) for a in args]
        y = conv(g)(*ts)
        y.backward(gy)
        if twice:
            y.backward(gy)
        return [y.data] + [t.grad for t in ts]
    with setting(MIN_CHANNELS=1, MIN_COLUMN_BYTES=0):
        whole = grads()
        with setting(CHUNK_BYTES=1):
            chunked = grads(twice=True)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(whole[1:], chunked[1:]):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-12, atol=1e-12)


def test_float32_shifted_conv_agrees_with_im2col_conv():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 16, 9, 11)).astype(np.float32)
    w = rng.standard_normal((5, 16, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((3, 5, 9, 11)).astype(np.float32)
    results = []
    for fn in (shifted.ShiftedConv2d, Conv2d):
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = fn.apply(xt, wt, padding=1)
        y.backward(gy)
        results.append((y, xt.grad, wt.grad))
    assert isinstance(results[0][0].node, shifted.ShiftedConv2d)
    for a, b in zip(*results):
        a, b = (v.data if isinstance(v, Tensor) else v for v in (a, b))
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('direct', [True, False])
def test_matmul_add_accumulates_into_a_block(dtype, direct, monkeypatch):
    """c += a @ b for row-major and transposed operands into an inner block of a larger matrix,
    through the BLAS and through the NumPy fallback."""
    if not direct:
        monkeypatch.setitem(blas._gemm, np.dtype(dtype), None)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal((9, 7)).astype(dtype)
    bt = rng.standard_normal((7, 9)).astype(dtype)[:, :4].T           # (4, 7), column-major
    for left, right in ((a, b[:4]), (np.asfortranarray(a), bt)):
        c = rng.standard_normal((10, 12)).astype(dtype)
        expected = c.copy()
        expected[2:8, 3:10] += left.astype(np.float64) @ right.astype(np.float64)
        blas.matmul_add(left, right, c[2:8, 3:10])
        np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize('shape, dtype, expected', [
    ((8, 32, 16, 16), np.float32, Conv2d),                # 2.25 MiB of columns: im2col
    ((8, 64, 16, 16), np.float32, shifted.ShiftedConv2d),  # 4.5 MiB
    ((8, 32, 16, 16), np.float64, shifted.ShiftedConv2d),  # 4.5 MiB
    ((8, 128, 2, 2), np.float32, Conv2d),                 # a grid that is 3/4 padding
    ((16, 8, 64, 64), np.float32, Conv2d),                # too few input channels
])
def test_conv2d_takes_shifted_windows_only_for_large_columns(shape, dtype, expected):
    x = Tensor(np.zeros(shape, dtype), requires_grad=True)
    w = Tensor(np.zeros((4, shape[1], 3, 3), dtype))
    assert type(O.conv2d(x, w, padding=1).node) is expected
    assert type(O.conv2d(x, w, stride=2, padding=1).node) is Conv2d
