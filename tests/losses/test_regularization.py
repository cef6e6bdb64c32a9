"""The weight prior against its documented formula in arbitrary precision (mpmath), its gradient
against central differences, dtypes and argument checks.

Tolerance against mpmath (exact binary inputs): the value is accumulated in float64 with the
float32 parameters widened first, so each square is rounded at most once (u, and not at all for
float32 parameters) and the pairwise sums of nonnegative terms add log2(n)·u: the relative error
is below ~(log2 n + 4)·u ≈ 2e-15 for either dtype (RTOL = 1e-13).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

from halcon_dl.autograd import Tensor
from halcon_dl.errors import HalconDLError
from halcon_dl.losses import weight_prior_gradient, weight_prior_loss
from halcon_dl.losses.regularization import reference
from halcon_dl.testing.strategies import shapes

RTOL = 1e-13
EXAMPLES = settings(max_examples=40)


def mp_weight_prior(arrays, alpha):
    with mp.workdps(50):
        return float(mp.mpf(float(alpha)) / 2 * mp.fsum(
            mp.mpf(float(v)) ** 2 for a in arrays for v in np.asarray(a).reshape(-1)))


# magnitudes whose squares and products with α stay in float64's normal range
ALPHA = st.just(0.0) | st.floats(1e-6, 10)


@st.composite
def parameters(draw, dtype=np.float64):
    width = np.dtype(dtype).itemsize * 8
    magnitude = st.just(0.0) | st.floats(2.0 ** -100, 1024.0, width=width)
    elements = st.tuples(magnitude, st.sampled_from([-1.0, 1.0])).map(lambda ms: ms[0] * ms[1])
    count = draw(st.integers(0, 4))
    return [draw(hnp.arrays(dtype, draw(shapes(max_dims=4)), elements=elements))
            for _ in range(count)]


@EXAMPLES
@given(arrays=parameters(), alpha=ALPHA)
def test_float64_matches_mpmath(arrays, alpha):
    value = weight_prior_loss(arrays, alpha)
    assert type(value) is float
    np.testing.assert_allclose(value, mp_weight_prior(arrays, alpha), rtol=RTOL, atol=0)


@EXAMPLES
@given(arrays=parameters(np.float32), alpha=ALPHA)
def test_float32_parameters_are_accumulated_in_float64(arrays, alpha):
    value = weight_prior_loss([Tensor(a) for a in arrays], alpha)     # Tensors are accepted too
    np.testing.assert_allclose(value, mp_weight_prior(arrays, alpha), rtol=RTOL, atol=0)


@EXAMPLES
@given(arrays=parameters(), alpha=ALPHA)
def test_reference_is_the_implemented_formula(arrays, alpha):
    np.testing.assert_allclose(weight_prior_loss(arrays, alpha), reference(arrays, alpha),
                               rtol=RTOL, atol=0)


@settings(max_examples=25)
@given(w=hnp.arrays(np.float64, shapes(), elements=st.floats(-3, 3)), alpha=st.floats(0.01, 5),
       seed=st.integers(0, 2 ** 16))
def test_gradient_is_alpha_w_and_matches_central_differences(w, alpha, seed):
    grad = weight_prior_gradient(w, alpha)
    np.testing.assert_array_equal(grad, alpha * w)
    v = np.random.default_rng(seed).standard_normal(w.shape)
    eps = 1e-4     # R is quadratic: central differences are exact up to rounding
    numeric = (weight_prior_loss([w + eps * v], alpha)
               - weight_prior_loss([w - eps * v], alpha)) / (2 * eps)
    np.testing.assert_allclose(numeric, (grad * v).sum(), rtol=1e-7, atol=1e-9)


def test_gradient_keeps_float32():
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    grad = weight_prior_gradient(Tensor(w), 0.5)
    assert grad.dtype == np.float32 and type(grad) is np.ndarray
    np.testing.assert_array_equal(grad, w * np.float32(0.5))


def test_no_parameters_or_zero_alpha_give_zero():
    assert weight_prior_loss([], 3.0) == 0.0
    assert weight_prior_loss([np.ones(3)], 0.0) == 0.0


@pytest.mark.parametrize('call, match', [
    (lambda: weight_prior_loss([np.ones(2)], -1.0), 'alpha'),
    (lambda: weight_prior_loss([np.ones(2)], np.nan), 'alpha'),
    (lambda: weight_prior_loss([np.ones(2), np.ones(2, dtype=int)], 1.0), 'parameter 1'),
    (lambda: weight_prior_gradient(np.ones(2), np.inf), 'alpha'),
    (lambda: weight_prior_gradient(np.ones(2, dtype=np.float16), 1.0), 'float32 or float64'),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(HalconDLError, match=match):
        call()
