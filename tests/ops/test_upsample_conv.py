"""The fused nearest-upsampling + convolution (``ops.upsample_conv2d``) against the naive loops
of an upsampling followed by a convolution, its float64 gradients against finite differences,
and which geometries take the fused path."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.kernels.conv import set_im2col_budget
from halcon_dl.ops.upsample_conv import UpsampleConv2d, phase_taps
from halcon_dl.testing import gradcheck, naive
from halcon_dl.testing.strategies import arrays


@st.composite
def geometry(draw, max_side=5):
    return dict(n=draw(st.integers(1, 3)), ci=draw(st.integers(1, 3)),
                co=draw(st.integers(1, 3)), h=draw(st.integers(1, max_side)),
                w=draw(st.integers(1, max_side)), scale=draw(st.integers(2, 3)),
                k=draw(st.sampled_from([3, 5])), bias=draw(st.booleans()))


def inputs(g, data):
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['k'], g['k'])))
    return [x, w] + ([data.draw(arrays((g['co'],)))] if g['bias'] else [])


def fused(g):
    return lambda *t: O.upsample_conv2d(*t, scale=g['scale'], padding=(g['k'] - 1) // 2)


@settings(max_examples=40)
@given(g=geometry(), data=st.data())
def test_fused_upsample_conv_matches_naive_loops(g, data):
    args = inputs(g, data)
    y = fused(g)(*[Tensor(a, requires_grad=True) for a in args])
    assert isinstance(y.node, UpsampleConv2d)
    expected = naive.conv2d(naive.upsample_nearest2d(args[0], g['scale']), *args[1:],
                            padding=(g['k'] - 1) // 2)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(g=geometry(max_side=4), data=st.data())
def test_fused_upsample_conv_gradients(g, data):
    gradcheck(fused(g), inputs(g, data))


@settings(max_examples=10)
@given(g=geometry(max_side=4), data=st.data())
def test_fused_upsample_conv_in_batch_chunks_equals_one_chunk(g, data):
    """A tiny im2col budget makes the inner convolution rebuild its columns per sample."""
    args = inputs(g, data)
    gy = np.random.default_rng(0).standard_normal(
        (g['n'], g['co'], g['scale'] * g['h'], g['scale'] * g['w']))

    def grads():
        ts = [Tensor(a, requires_grad=True) for a in args]
        y = fused(g)(*ts)
        y.backward(gy)
        return [y.data] + [t.grad for t in ts]
    whole = grads()
    previous = set_im2col_budget(1)
    try:
        chunked = grads()
    finally:
        set_im2col_budget(previous)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_phase_taps_of_a_3x3_kernel_after_doubling():
    """Phase 0 reads input rows r-1 (tap 0) and r (taps 1, 2); phase 1 rows r (taps 0, 1) and
    r+1 (tap 2); with padding 1 their windows start at padded rows r and r+1."""
    rows, offsets, taps, pad = phase_taps(3, 2, 1)
    assert rows == [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]
    assert (offsets, taps, pad) == ([0, 1], 2, 1)


@pytest.mark.parametrize('kw, size, fuses', [
    (dict(padding=1), None, True),
    (dict(padding=1), (8, 10), True),            # the full size, given explicitly
    (dict(padding=1), (7, 10), False),           # a cropped row: upsample, then convolve
    (dict(padding=0), None, False),              # not a "same" convolution
    (dict(padding=1, stride=2), None, False),
    (dict(padding=2, dilation=2), None, False),
])
def test_geometries_outside_the_fused_form_fall_back_to_upsample_then_conv(kw, size, fuses):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 3, 3)), \
        rng.standard_normal(2)
    y = O.upsample_conv2d(Tensor(x, requires_grad=True), Tensor(w), Tensor(b), 2, size, **kw)
    assert isinstance(y.node, UpsampleConv2d) == fuses
    expected = naive.conv2d(naive.upsample_nearest2d(x, 2, size), w, b, **kw)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out_and_gradients():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 4, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    y = O.upsample_conv2d(x, w, b, 2, padding=1)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    expected = naive.conv2d(naive.upsample_nearest2d(x.data.astype(np.float64), 2),
                            w.data.astype(np.float64), padding=1)
    np.testing.assert_allclose(y.data, expected, rtol=1e-4, atol=1e-4)
