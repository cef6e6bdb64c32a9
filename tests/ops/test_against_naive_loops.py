"""conv2d, pools and upsampling against the naive loop oracles of ``halcon_dl.testing.naive``,
over drawn geometry: kernel 1-5, stride 1-3, padding 0-2, dilation 1-2, non-square inputs,
batch 1-4, contiguous and strided inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.kernels.conv import set_im2col_budget
from halcon_dl.kernels.layout import channel_major
from halcon_dl.testing import naive
from halcon_dl.testing.strategies import arrays, conv_geometry, pool_geometry


def run(op, *arrays_, **kw):
    return op(*[Tensor(a) for a in arrays_], **kw).data


@settings(max_examples=60)
@given(g=conv_geometry(), bias=st.booleans(), data=st.data())
def test_conv2d_matches_naive_loop(g, bias, data):
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    b = data.draw(arrays((g['co'],))) if bias else None
    kw = dict(stride=g['stride'], padding=g['padding'], dilation=g['dilation'])
    expected = naive.conv2d(x, w, b, **kw)
    got = run(O.conv2d, x, w, *([b] if bias else []), **kw)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=20)
@given(g=conv_geometry(max_batch=4), data=st.data())
def test_conv2d_in_batch_chunks_equals_one_chunk(g, data):
    """A tiny im2col budget forces one sample per chunk (cols rebuilt in backward)."""
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    gy_seed = data.draw(st.integers(0, 100))
    kw = dict(stride=g['stride'], padding=g['padding'], dilation=g['dilation'])

    def forward_backward():
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = O.conv2d(xt, wt, **kw)
        y.backward(np.random.default_rng(gy_seed).standard_normal(y.shape))
        return y.data, xt.grad, wt.grad

    whole = forward_backward()
    previous = set_im2col_budget(1)
    try:
        chunked = forward_backward()
    finally:
        set_im2col_budget(previous)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(g=conv_geometry(max_batch=3), extra=st.integers(1, 9), keep=st.booleans(),
       data=st.data())
def test_conv2d_with_zero_padded_column_rows_matches_naive_loop(g, extra, keep, data):
    """Column rows padded with zeros (ops.conv.PADDED_ROWS, here forced for the drawn
    C·kh·kw) change neither the output nor the gradients; with and without kept columns."""
    import halcon_dl.ops.conv as conv_module
    from halcon_dl.kernels.conv import set_keep_columns_budget
    from halcon_dl.testing import gradcheck
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    kw = dict(stride=g['stride'], padding=g['padding'], dilation=g['dilation'])
    k = g['ci'] * g['kh'] * g['kw']
    previous = conv_module.PADDED_ROWS, set_keep_columns_budget((1 << 30) if keep else 0)
    conv_module.PADDED_ROWS = {k: k + extra}
    try:
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = O.conv2d(xt, wt, **kw)
        assert y.node.rows == (k + extra if g['kh'] * g['kw'] > 1 else 0)
        np.testing.assert_allclose(y.data, naive.conv2d(x, w, **kw), rtol=1e-12, atol=1e-12)
        gradcheck(lambda a, b: O.conv2d(a, b, **kw), [x, w])
    finally:
        conv_module.PADDED_ROWS = previous[0]
        set_keep_columns_budget(previous[1])


def test_conv2d_rejects_mismatched_channels_and_dtypes():
    from halcon_dl import HalconDLError
    x = np.zeros((1, 3, 5, 5), dtype=np.float32)
    with pytest.raises(HalconDLError):
        run(O.conv2d, x, np.zeros((2, 4, 3, 3), dtype=np.float32))
    with pytest.raises(HalconDLError):
        run(O.conv2d, x, np.zeros((2, 3, 3, 3), dtype=np.float64))
    with pytest.raises(HalconDLError):     # window larger than the padded input
        run(O.conv2d, x, np.zeros((2, 3, 7, 7), dtype=np.float32))


@settings(max_examples=40)
@given(g=pool_geometry(), data=st.data())
def test_pools_match_naive_loops(g, data):
    x = data.draw(arrays((g['n'], g['c'], g['h'], g['w'])))
    kw = dict(kernel_size=g['kernel'], stride=g['stride'], padding=g['padding'])
    args = tuple(kw.values())
    np.testing.assert_array_equal(run(O.max_pool2d, x, **kw), naive.max_pool2d(x, *args))
    np.testing.assert_allclose(run(O.avg_pool2d, x, **kw), naive.avg_pool2d(x, *args),
                               rtol=1e-14, atol=1e-14)


def test_max_pool2d_gives_a_tied_window_gradient_to_its_first_maximum():
    x = Tensor(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), requires_grad=True)
    O.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1, 0], [0, 0]]]])


@settings(max_examples=20)
@given(shape=st.tuples(*[st.integers(1, 4)] * 4), scale=st.integers(1, 3), data=st.data())
def test_upsample_and_global_pool_match_naive(shape, scale, data):
    x = data.draw(arrays(shape))
    np.testing.assert_array_equal(run(O.upsample_nearest2d, x, scale=scale),
                                  naive.upsample_nearest2d(x, scale))
    crop = data.draw(st.tuples(st.integers(0, scale - 1), st.integers(0, scale - 1)))
    size = (shape[2] * scale - crop[0], shape[3] * scale - crop[1])
    np.testing.assert_array_equal(run(O.upsample_nearest2d, x, scale=scale, size=size),
                                  naive.upsample_nearest2d(x, scale, size))
    # a mean rounds at the scale of its inputs (subnormal draws have no relative accuracy)
    np.testing.assert_allclose(run(O.global_avg_pool2d, x), x.mean(axis=(2, 3)), rtol=1e-14,
                               atol=1e-14 * np.abs(x).max())


@settings(max_examples=20)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
       data=st.data())
def test_batch_norm2d_training_matches_formula_and_updates_running_stats(shape, data):
    n, c, h, w = shape
    x = data.draw(arrays(shape))
    if n * h * w < 2:
        return
    gamma, beta = data.draw(arrays((c,))), data.draw(arrays((c,)))
    rm, rv = data.draw(arrays((c,))), data.draw(arrays((c,), low=0.5, high=2))
    rm0, rv0 = rm.copy(), rv.copy()
    y = run(O.batch_norm2d, x, gamma, beta, running_mean=rm, running_var=rv, training=True,
            momentum=0.3, eps=1e-3)
    np.testing.assert_allclose(y, naive.batch_norm2d_train(x, gamma, beta, 1e-3), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rm, 0.7 * rm0 + 0.3 * x.mean(axis=(0, 2, 3)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rv, 0.7 * rv0 + 0.3 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


def test_batch_norm2d_eval_uses_running_stats_and_leaves_them():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm0, rv0 = rm.copy(), rv.copy()
    y = run(O.batch_norm2d, x, gamma, beta, running_mean=rm, running_var=rv, training=False,
            relu=True)
    expected = np.maximum(0, (x - rm0[:, None, None]) / np.sqrt(rv0[:, None, None] + 1e-5)
                          * gamma[:, None, None] + beta[:, None, None])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)


def test_outputs_of_4d_ops_are_channel_major_and_consumers_accept_any_layout():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    y = run(O.conv2d, x, w, padding=1)
    assert y.transpose(1, 0, 2, 3).flags.c_contiguous
    # the same values whatever the input layout (NCHW, channel-major, strided)
    for layout in (x, channel_major(x).copy().transpose(1, 0, 2, 3), np.asfortranarray(x)):
        np.testing.assert_allclose(run(O.conv2d, layout, w, padding=1), y, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize('kernel, stride, padding', [(3, 2, 1), (1, 1, 0), (1, 2, 0)])
def test_conv2d_second_backward_gives_the_same_gradients(kernel, stride, padding):
    """Backward may reuse the saved columns' memory; a second backward must still be right."""
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 3, 7, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, kernel, kernel)), requires_grad=True)
    y = O.conv2d(x, w, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    first = x.grad.copy(), w.grad.copy()
    y.backward(g)
    np.testing.assert_allclose(x.grad, 2 * first[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(w.grad, 2 * first[1], rtol=1e-14, atol=1e-14)


@settings(max_examples=30)
@given(g=conv_geometry(max_stride=1), data=st.data())
def test_stride_one_input_gradient_by_transposed_convolution_equals_col2im(g, data):
    """For stride 1 and Co <= Ci dX is computed as a transposed convolution; it must equal
    col2im(Wᵀ dY), the adjoint of the forward im2col."""
    from halcon_dl.kernels.conv import Window, col2im, col2im_columns
    co = data.draw(st.integers(1, g['ci']))
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((co, g['ci'], g['kh'], g['kw'])))
    kw = dict(stride=1, padding=g['padding'], dilation=g['dilation'])
    xt = Tensor(x, requires_grad=True)
    y = O.conv2d(xt, Tensor(w), **kw)
    used_transposed = y.node.w_t is not None
    dy = data.draw(arrays(y.shape))
    y.backward(dy)
    win = Window.make((g['kh'], g['kw']), 1, g['padding'], g['dilation'])
    g2 = dy.transpose(1, 0, 2, 3).reshape(co, -1)
    expected = col2im(col2im_columns(w.reshape(co, -1).T @ g2, win, *x.shape[2:]), x.shape, win)
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-12, atol=1e-12)
    ph, pw = g['padding']
    dh, dwl = g['dilation']
    assert used_transposed == (ph <= dh * (g['kh'] - 1) and pw <= dwl * (g['kw'] - 1))
