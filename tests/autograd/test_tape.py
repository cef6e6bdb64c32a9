"""The tape: order of the backward walk, reuse of non-leaves, depth, no_grad, repeated backward."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from halcon_dl import HalconDLError
from halcon_dl.autograd import Function, Tensor, is_grad_enabled, no_grad, unbroadcast
from halcon_dl.ops import exp, mul


def leaf(values):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_reused_non_leaf_gets_all_of_its_gradient():
    # b = a + a, c = b + b = 4a: dc/da = 4; a wrong walk order (visiting b's producer before
    # both uses of b were summed) gives 2 instead
    a = leaf([1.0, -2.0])
    b = a + a
    c = b + b
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 4.0])


def test_diamond_with_unequal_branch_lengths():
    # d = x·y + exp(x·y) with y = x·x; d'(x) = (1 + exp(x³))·3x²
    x = leaf([0.3, -0.7])
    y = x * x
    p = x * y
    d = p + exp(p)
    d.sum().backward()
    expected = (1 + np.exp(x.data ** 3)) * 3 * x.data ** 2
    np.testing.assert_allclose(x.grad, expected, rtol=1e-14)


def test_chain_of_ten_thousand_ops_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-10)


def test_no_grad_records_nothing():
    x = leaf([2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = x * x
    assert is_grad_enabled()
    assert y.node is None and not y.requires_grad
    with pytest.raises(HalconDLError):
        y.sum().backward()


def test_no_grad_as_decorator_restores_state_after_an_exception():
    @no_grad()
    def broken():
        assert not is_grad_enabled()
        raise RuntimeError('inside')

    with pytest.raises(RuntimeError):
        broken()
    assert is_grad_enabled()


def test_second_backward_accumulates_only_into_leaves():
    x = leaf([1.5, 2.0])
    h = x * x            # non-leaf
    loss = (h * 3.0).sum()
    loss.backward()
    first = x.grad.copy()
    np.testing.assert_allclose(first, 6 * x.data)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    assert h.grad is None               # intermediate gradients are not kept


def test_leaf_gradient_is_not_aliased_between_inputs():
    # Add hands the same gradient array to both inputs; changing one leaf's grad in place
    # must not change the other's
    a, b = leaf([1.0]), leaf([2.0])
    (a + b).sum().backward()
    a.grad += 10
    np.testing.assert_array_equal(b.grad, [1.0])


def test_unbroadcast_sums_gradient_to_each_input_shape():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones(4))
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))


def test_backward_needs_a_scalar_or_an_explicit_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(HalconDLError):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_engine_rejects_a_gradient_of_the_wrong_dtype():
    class Upcasting(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g.astype(np.float64)

    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    with pytest.raises(AssertionError, match='float64 gradient for a float32 input'):
        Upcasting.apply(x).sum().backward()


def test_engine_rejects_a_gradient_of_the_wrong_shape():
    class Wrong(Function):
        def forward(self, x):
            return x.sum(keepdims=True)

        def backward(self, g):
            return np.ones(5)

    x = leaf(np.ones((2, 3)))
    with pytest.raises(AssertionError):
        Wrong.apply(x).sum().backward()


def test_engine_rejects_a_transposed_gradient_of_the_right_size():
    # a (3, 2) gradient for a (2, 3) input has the right number of elements; reshaping it
    # into place would silently scramble the gradient
    class Transposing(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return 2 * g.T

    x = leaf(np.arange(6.0).reshape(2, 3))
    with pytest.raises(AssertionError, match=r'Transposing\.backward .* \(3, 2\) .* \(2, 3\)'):
        Transposing.apply(x).sum().backward()
    assert x.grad is None


@st.composite
def broadcast_to_from(draw):
    """(input shape, gradient shape) where the gradient shape is a broadcast of the input's:
    leading axes added, axes of length 1 stretched (or kept, as keepdims leaves them)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3))
    stretched = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    return shape, lead + stretched


@settings(max_examples=60)
@given(shapes=broadcast_to_from(), data=st.data())
def test_unbroadcast_sums_exactly_the_broadcast_axes(shapes, data):
    shape, grad_shape = shapes
    g = data.draw(hnp.arrays(np.float64, grad_shape, elements=st.integers(-9, 9)))
    got = unbroadcast(g.astype(np.float32), shape)
    # reference: the adjoint of broadcasting; each gradient element goes to the input element
    # that broadcasting copied there
    size = int(np.prod(shape))
    source = np.broadcast_to(np.arange(size).reshape(shape), grad_shape)
    expected = np.bincount(source.ravel(), g.ravel(), minlength=size).reshape(shape)
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=60)
@given(shapes=broadcast_to_from(), data=st.data())
def test_unbroadcast_rejects_every_shape_that_is_not_a_broadcast(shapes, data):
    shape, grad_shape = shapes
    assume(len(grad_shape) >= 1)
    # change one axis of the gradient so that it no longer broadcasts from ``shape``: the
    # reversed shape (when that differs), an axis grown where the input is not 1, or an axis
    # shrunk to 1 where the input is longer
    kind = data.draw(st.sampled_from(['reverse', 'grow', 'shrink']))
    bad = list(grad_shape)
    extra = len(grad_shape) - len(shape)
    if kind == 'reverse':
        bad = bad[::-1]
    elif kind == 'grow':
        fixed = [extra + i for i, n in enumerate(shape) if n != 1]
        assume(fixed)
        bad[data.draw(st.sampled_from(fixed))] += 1
    else:
        longer = [extra + i for i, n in enumerate(shape) if n != 1]
        assume(longer)
        bad[data.draw(st.sampled_from(longer))] = 1
    bad = tuple(bad)
    broadcasts = len(bad) >= len(shape) and all(
        n in (1, m) for n, m in zip(shape, bad[len(bad) - len(shape):]))
    assume(not broadcasts)
    with pytest.raises(AssertionError, match='Probe.backward'):
        unbroadcast(np.zeros(bad), shape, 'Probe')


def test_unbroadcast_rejects_a_gradient_with_fewer_axes_than_the_input():
    with pytest.raises(AssertionError, match='only broadcast axes may be summed'):
        unbroadcast(np.zeros(3), (1, 3))


def test_only_float_tensors_can_require_grad():
    with pytest.raises(HalconDLError):
        Tensor(np.arange(3), requires_grad=True)


def test_constant_numpy_scalars_do_not_upcast():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = mul(x, np.float64(2.0))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_grad_mode_is_per_thread():
    import threading
    seen = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]
