"""The tape: order of the backward walk, reuse of non-leaves, depth, no_grad, repeated backward."""
import numpy as np
import pytest

from halcon_dl import HalconDLError
from halcon_dl.autograd import Function, Tensor, is_grad_enabled, no_grad
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
