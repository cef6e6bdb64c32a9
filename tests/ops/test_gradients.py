"""Every op's gradient against central finite differences, in float64, over drawn inputs.

Inputs are drawn by hypothesis (shapes, values, contiguous or strided layouts); kinks (relu,
abs, leaky_relu at 0; ties of max/maximum) are kept further from the inputs than the finite
difference step, so the comparison is of smooth functions.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.errors import HalconDLError
from halcon_dl.testing import gradcheck
from halcon_dl.testing.strategies import (
    arrays, broadcastable_pair, conv_geometry, distinct_arrays, pool_geometry, shapes)

EXAMPLES = settings(max_examples=25)


def positive(shape):
    return arrays(shape, low=0.5, high=3.0)


@st.composite
def pair(draw, y_low=-2.0, y_high=2.0, y_away_from_zero=False):
    sx, sy = draw(broadcastable_pair())
    x = draw(arrays(sx))
    y = draw(arrays(sy, low=y_low, high=y_high, away_from=0.0 if y_away_from_zero else None,
                    gap=0.3))
    return x, y


@pytest.mark.parametrize('op', [O.add, O.sub, O.mul])
@EXAMPLES
@given(xy=pair())
def test_binary_arithmetic(op, xy):
    gradcheck(op, list(xy))


@EXAMPLES
@given(xy=pair(y_away_from_zero=True))
def test_div(xy):
    gradcheck(O.div, list(xy))


@EXAMPLES
@given(shapes_=broadcastable_pair(), data=st.data())
def test_maximum_away_from_ties(shapes_, data):
    # x on the grid 0.1·k + 0.03, y on 0.1·k + 0.08: |x - y| >= 0.05 everywhere, never a tie
    sx, sy = shapes_
    ints = st.integers(-20, 20)
    x = data.draw(hnp.arrays(np.int64, sx, elements=ints)) * 0.1 + 0.03
    y = data.draw(hnp.arrays(np.int64, sy, elements=ints)) * 0.1 + 0.08
    gradcheck(O.maximum, [x.astype(np.float64), y.astype(np.float64)])


@pytest.mark.parametrize('op, domain', [
    (O.neg, arrays), (O.exp, arrays), (O.log, positive), (O.sqrt, positive),
    (O.tanh, arrays), (O.sigmoid, arrays), (O.softplus, arrays),
    (O.abs, lambda s: arrays(s, away_from=0.0)), (O.relu, lambda s: arrays(s, away_from=0.0)),
    (lambda x: O.leaky_relu(x, 0.2), lambda s: arrays(s, away_from=0.0)),
])
@EXAMPLES
@given(shape=shapes(), data=st.data())
def test_unary(op, domain, shape, data):
    gradcheck(op, [data.draw(domain(shape))])


@EXAMPLES
@given(shape=shapes(max_dims=3), p=st.sampled_from([2, 3, 0.5, -1.5]), data=st.data())
def test_pow_constant_exponent(shape, p, data):
    gradcheck(lambda x: O.pow(x, p), [data.draw(positive(shape))])


@EXAMPLES
@given(shape=shapes(max_dims=3), data=st.data())
def test_pow_tensor_exponent(shape, data):
    gradcheck(O.pow, [data.draw(positive(shape)), data.draw(arrays(shape))])


@st.composite
def axis_choice(draw, ndim):
    kind = draw(st.sampled_from(['none', 'int', 'tuple']))
    if kind == 'none':
        return None
    if kind == 'int':
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


@pytest.mark.parametrize('op', [O.sum, O.mean])
@EXAMPLES
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_sum_mean(op, shape, keepdims, data):
    axis = data.draw(axis_choice(len(shape)))
    gradcheck(lambda x: op(x, axis=axis, keepdims=keepdims), [data.draw(arrays(shape))])


@EXAMPLES
@given(shape=shapes(), keepdims=st.booleans(), data=st.data())
def test_max_without_ties(shape, keepdims, data):
    axis = data.draw(axis_choice(len(shape)))
    gradcheck(lambda x: O.max(x, axis=axis, keepdims=keepdims), [data.draw(distinct_arrays(shape))])


def test_max_splits_gradient_evenly_between_ties():
    from halcon_dl.autograd import Tensor
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    O.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@EXAMPLES
@given(shape=shapes(), data=st.data())
def test_reshape_and_transpose(shape, data):
    x = data.draw(arrays(shape))
    perm = data.draw(st.permutations(range(len(shape))))
    gradcheck(lambda t: O.reshape(O.transpose(t, perm), (-1,)) * O.reshape(t, (-1,))[::-1], [x])


@EXAMPLES
@given(shape=shapes(max_dims=3), k=st.integers(1, 3), data=st.data())
def test_concatenate(shape, k, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    parts = []
    for _ in range(k):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3))
        parts.append(data.draw(arrays(tuple(s))))
    gradcheck(lambda *xs: O.concatenate(xs, axis=axis) ** 2, parts)


@EXAMPLES
@given(shape=shapes(max_dims=3), k=st.integers(1, 3), data=st.data())
def test_stack(shape, k, data):
    axis = data.draw(st.integers(0, len(shape)))
    parts = [data.draw(arrays(shape)) for _ in range(k)]
    gradcheck(lambda *xs: O.stack(xs, axis=axis) ** 2, parts)


@EXAMPLES
@given(shape=shapes(min_dims=2, max_dims=3, min_side=2), data=st.data())
def test_basic_indexing(shape, data):
    x = data.draw(arrays(shape))
    start = data.draw(st.integers(0, shape[0] - 1))
    step = data.draw(st.integers(1, 2))
    index = (slice(start, None, step), Ellipsis, data.draw(st.integers(0, shape[-1] - 1)))
    gradcheck(lambda t: O.getitem(t, index) ** 2, [x])


@EXAMPLES
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data())
def test_integer_array_indexing_with_repeats(shape, data):
    x = data.draw(arrays(shape))
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6)))
    gradcheck(lambda t: O.getitem(t, rows) ** 2, [x])


def test_integer_array_indexing_sums_repeated_gradients():
    from halcon_dl.autograd import Tensor
    x = Tensor(np.arange(4.0), requires_grad=True)
    O.getitem(x, np.array([1, 1, 3, 1])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0, 1])


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch_x, batch_y = draw(broadcastable_pair(max_dims=2, max_side=3))
    kind = draw(st.sampled_from(['matrix', 'vector_left', 'vector_right', 'vectors']))
    sx = (k,) if kind in ('vector_left', 'vectors') else batch_x + (n, k)
    sy = (k,) if kind in ('vector_right', 'vectors') else batch_y + (k, m)
    return sx, sy


@EXAMPLES
@given(s=matmul_shapes(), data=st.data())
def test_matmul(s, data):
    gradcheck(O.matmul, [data.draw(arrays(s[0])), data.draw(arrays(s[1]))])


@pytest.mark.parametrize('op', [O.softmax, O.log_softmax])
@EXAMPLES
@given(shape=shapes(max_dims=3), data=st.data())
def test_softmax_family(op, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    gradcheck(lambda x: op(x, axis=axis), [data.draw(arrays(shape, low=-5, high=5))])


@settings(max_examples=40)
@given(g=conv_geometry(), bias=st.booleans(), data=st.data())
def test_conv2d(g, bias, data):
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    w = data.draw(arrays((g['co'], g['ci'], g['kh'], g['kw'])))
    inputs = [x, w] + ([data.draw(arrays((g['co'],)))] if bias else [])
    gradcheck(lambda *t: O.conv2d(*t, stride=g['stride'], padding=g['padding'],
                                  dilation=g['dilation']), inputs)


@EXAMPLES
@given(g=pool_geometry(), data=st.data())
def test_max_pool2d_without_ties(g, data):
    x = data.draw(distinct_arrays((g['n'], g['c'], g['h'], g['w'])))
    gradcheck(lambda t: O.max_pool2d(t, g['kernel'], g['stride'], g['padding']), [x])


@EXAMPLES
@given(g=pool_geometry(), data=st.data())
def test_avg_pool2d(g, data):
    x = data.draw(arrays((g['n'], g['c'], g['h'], g['w'])))
    gradcheck(lambda t: O.avg_pool2d(t, g['kernel'], g['stride'], g['padding']), [x])


@EXAMPLES
@given(shape=shapes(min_dims=4, max_dims=4, max_side=4), data=st.data())
def test_global_avg_pool2d(shape, data):
    gradcheck(O.global_avg_pool2d, [data.draw(arrays(shape))])


@EXAMPLES
@given(shape=shapes(min_dims=4, max_dims=4, max_side=3), scale=st.integers(1, 3), data=st.data())
def test_upsample_nearest2d(shape, scale, data):
    gradcheck(lambda t: O.upsample_nearest2d(t, scale), [data.draw(arrays(shape))])
    crop = data.draw(st.tuples(st.integers(0, scale - 1), st.integers(0, scale - 1)))
    size = (shape[2] * scale - crop[0], shape[3] * scale - crop[1])
    gradcheck(lambda t: O.upsample_nearest2d(t, scale, size), [data.draw(arrays(shape))])


@pytest.mark.parametrize('size', [(4, 6), (7, 6), (8, 3), (8, 7)])
def test_upsample_nearest2d_refuses_sizes_that_drop_or_invent_pixels(size):
    x = Tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(HalconDLError, match='output size'):
        O.upsample_nearest2d(x, 2, size)


@settings(max_examples=30)
@given(shape=shapes(min_dims=4, max_dims=4, max_side=4), training=st.booleans(),
       relu=st.booleans(), data=st.data())
def test_batch_norm2d(shape, training, relu, data):
    n, c, h, w = shape
    assume(not training or n * h * w > 1)
    x = data.draw(arrays(shape))
    gamma = data.draw(arrays((c,), low=0.5, high=2.0))
    beta = data.draw(arrays((c,), low=-1.0, high=1.0))
    mean, var = data.draw(arrays((c,))), data.draw(arrays((c,), low=0.5, high=2.0))

    def bn(x, gamma, beta):
        return O.batch_norm2d(x, gamma, beta, mean.copy(), var.copy(), training, relu=relu)
    if relu:   # keep the ReLU kink away from the finite-difference steps
        from halcon_dl.autograd import Tensor
        z = O.batch_norm2d(Tensor(x), Tensor(gamma), Tensor(beta), mean.copy(), var.copy(),
                           training).data
        assume(np.abs(z).min() > 1e-3)
    gradcheck(bn, [x, gamma, beta], rtol=1e-5)
