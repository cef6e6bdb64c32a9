"""focal_loss against its documented formula in arbitrary precision (mpmath), its derived gradient
against mpmath's derivative (also at |z| = 100) and finite differences, the γ = 0 case, dtypes
and argument checks.

Tolerances against mpmath (exact binary inputs).  Per element, e = exp(-|q|) has an exact
argument, and ℓ = max(-q, 0) + log1p(e), σ(±q) = {1, e}/(1 + e), (1 - p_t)^γ and the products
α_t·(1 - p_t)^γ·ℓ each add a few ulps: about (3γ + 20)·u for γ <= 4; the nonnegative weighted sum
and the division add log2(A·C) + 2 more, so the relative error is below ~35·u ≈ 8e-15 in float64
(RTOL64 = 1e-13) and ~2e-6 in float32 (RTOL32 = 1e-5).  In float32, results below the smallest
normal number (easy examples at |z| ~ 100 give e^{-300}) have absolute accuracy only (ATOL32).
The gradient has the same structure (a sum of two nonnegative terms in the bracket).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

from halcon_dl.autograd import Tensor
from halcon_dl.errors import HalconDLError
from halcon_dl.losses import focal_loss
from halcon_dl.losses.focal import reference
from halcon_dl.testing import gradcheck

RTOL64, RTOL32 = 1e-13, 1e-5
ATOL32 = float(np.finfo(np.float32).tiny)
# The literal formula loses up to 100/ln 10 ≈ 44 digits in 1 - p and log p_t at |z| = 100:
# 50 digits are kept on top of that.
DPS = 50 + 50
EXTREME = st.one_of(st.floats(-100, 100), st.floats(-3, 3))
GAMMAS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5])      # exact in float32 too
EXAMPLES = settings(max_examples=40)


def mp_fl(z, y, alpha_c, gamma):
    """FL(z, y) of the module docstring, literally, in mpmath (the working precision is set by
    the caller)."""
    p = 1 / (1 + mp.exp(-z))
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * alpha_c + (1 - y) * (1 - alpha_c)
    return -alpha_t * (1 - p_t) ** gamma * mp.log(p_t)


def mp_focal(z, y, alpha, gamma, w, normalizer, grad=False):
    """L and (with ``grad``) dL/dz, by mpmath's own differentiation of FL."""
    with mp.workdps(DPS):
        a_count, c_count = z.shape
        w = np.ones(a_count) if w is None else w
        args = [[(mp.mpf(float(z[a, c])), int(y[a, c]), mp.mpf(float(alpha[c])))
                 for c in range(c_count)] for a in range(a_count)]
        g, n = mp.mpf(float(gamma)), mp.mpf(float(normalizer))
        loss = mp.fsum(mp.mpf(float(w[a])) * mp_fl(*args[a][c], g)
                       for a in range(a_count) for c in range(c_count)) / n
        if not grad:
            return float(loss)
        dz = [[float(mp.mpf(float(w[a])) / n * mp.diff(lambda v: mp_fl(v, *args[a][c][1:], g),
                                                       args[a][c][0]))
               for c in range(c_count)] for a in range(a_count)]
        return float(loss), np.array(dz)


@st.composite
def focal_case(draw, elements=EXTREME, gammas=st.one_of(GAMMAS, st.floats(0, 4)),
               dtype=np.float64):
    a, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    z = draw(hnp.arrays(np.float64, (a, c), elements=elements)).astype(dtype)
    y = draw(hnp.arrays(np.int64, (a, c), elements=st.integers(0, 1)))
    alpha = draw(hnp.arrays(np.float64, c, elements=st.one_of(
        st.sampled_from([0.0, 0.25, 1.0]), st.floats(0.01, 0.99)))).astype(dtype)
    w = draw(st.none() | hnp.arrays(np.float64, a, elements=st.one_of(
        st.just(0.0), st.floats(0.1, 5.0))))
    w = None if w is None else w.astype(dtype)
    normalizer = draw(st.floats(0.5, 50, width=32))
    return z, y, alpha, draw(gammas), w, normalizer


def value_and_grad(z, y, alpha, gamma, w, normalizer):
    x = Tensor(z, requires_grad=True)
    loss = focal_loss(x, y, alpha, gamma, w, normalizer)
    loss.backward()
    return loss, x.grad


@EXAMPLES
@given(case=focal_case())
def test_float64_matches_mpmath_with_extreme_logits(case):
    loss = focal_loss(Tensor(case[0]), *case[1:])
    np.testing.assert_allclose(loss.item(), mp_focal(*case), rtol=RTOL64, atol=0)


@settings(max_examples=15)
@given(case=focal_case())
def test_derived_gradient_matches_mpmath_derivative_with_extreme_logits(case):
    loss, grad = value_and_grad(*case)
    _, exact = mp_focal(*case, grad=True)
    np.testing.assert_allclose(grad, exact, rtol=RTOL64, atol=0)


@EXAMPLES
@given(case=focal_case(elements=EXTREME.map(lambda v: float(np.float32(v))), gammas=GAMMAS,
                       dtype=np.float32))
def test_float32_matches_mpmath(case):
    loss = focal_loss(Tensor(case[0]), *case[1:])
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), mp_focal(*case), rtol=RTOL32, atol=ATOL32)


@settings(max_examples=30)
@given(case=focal_case(elements=st.floats(-8, 8)))
def test_gradient_by_finite_differences(case):
    z, *rest = case
    gradcheck(lambda x: focal_loss(x, *rest), [z])


@EXAMPLES
@given(case=focal_case(gammas=st.just(0.0)))
def test_gamma_zero_is_alpha_weighted_binary_cross_entropy(case):
    z, y, alpha, _, w, normalizer = case
    w = np.ones(len(z)) if w is None else w
    # -[y α log σ(z) + (1 - y)(1 - α) log(1 - σ(z))], with -log σ(±z) = log(1 + e^{∓z})
    bce = y * alpha * np.logaddexp(0, -z) + (1 - y) * (1 - alpha) * np.logaddexp(0, z)
    expected = (w[:, None] * bce).sum() / normalizer
    loss, grad = value_and_grad(z, y, alpha, 0.0, w, normalizer)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-13, atol=0)
    # d/dz: α_t (σ(z) - y) per element, here σ(z) - y = -σ(-z) for y = 1 and σ(z) for y = 0
    sig = lambda v: np.exp(-np.logaddexp(0, -v))   # noqa: E731
    expected_grad = (y * alpha * -sig(-z) + (1 - y) * (1 - alpha) * sig(z)) * w[:, None]
    np.testing.assert_allclose(grad, expected_grad / normalizer, rtol=1e-12, atol=0)


@pytest.mark.parametrize('gamma', [0.0, 0.3, 1.0, 2.0])
def test_saturated_logits_give_finite_loss_and_gradient(gamma):
    # 1 - p_t underflows to 0 at q = 800 (and e^{-q} too): no 0·log 0 or 0^(γ-1) nan
    z = np.array([[800.0, -800.0, 800.0, -800.0]])
    y = np.array([[1, 0, 0, 1]])
    loss, grad = value_and_grad(z, y, np.full(4, 0.25), gamma, None, 1.0)
    assert np.isfinite(loss.item()) and np.all(np.isfinite(grad))
    assert loss.item() == 0.75 * 800 + 0.25 * 800
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.75, -0.25]])


def test_float32_in_float32_value_and_gradient():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, (7, 3)).astype(np.float32)
    y, alpha, w = rng.integers(0, 2, (7, 3)), np.array([0.25, 0.5, 0.75]), rng.uniform(0, 1, 7)
    w = w.astype(np.float32).astype(np.float64)
    loss32, grad32 = value_and_grad(z, y, alpha, 2.0, w, 3.0)      # float64 alpha, weights
    loss64, grad64 = value_and_grad(z.astype(np.float64), y, alpha, 2.0, w, 3.0)
    assert loss32.dtype == np.float32 and grad32.dtype == np.float32
    np.testing.assert_allclose(loss32.item(), loss64.item(), rtol=RTOL32)
    np.testing.assert_allclose(grad32, grad64, rtol=RTOL32, atol=1e-7)


@settings(max_examples=20)
@given(case=focal_case(elements=st.floats(-5, 5)))
def test_reference_is_the_implemented_formula(case):
    np.testing.assert_allclose(focal_loss(Tensor(case[0]), *case[1:]).item(), reference(*case),
                               rtol=1e-12, atol=1e-15)


Z, Y, A = np.zeros((2, 3)), np.zeros((2, 3), dtype=int), np.full(3, 0.25)


@pytest.mark.parametrize('args, kwargs, match', [
    ((Z[0], Y[0], A), {}, 'shape'),
    ((Z, Y[:1], A), {}, 'targets must have'),
    ((Z, Y + 2, A), {}, '0 or 1, got 2'),
    ((Z, Y.astype(str), A), {}, '0/1'),
    ((Z, Y, A[:2]), {}, r'alpha must have shape \(3,\)'),
    ((Z, Y, np.array([0.25, 1.5, 0.25])), {}, r'\[0, 1\], got 1\.5'),
    ((Z, Y, np.array([0.25, np.nan, 0.25])), {}, r'\[0, 1\], got nan'),
    ((Z, Y, A), {'gamma': -1.0}, 'gamma'),
    ((Z, Y, A), {'gamma': np.inf}, 'gamma'),
    ((Z, Y, A), {'weights': np.ones(3)}, r'shape \(2,\)'),
    ((Z, Y, A), {'weights': np.array([1.0, -1.0])}, '>= 0'),
    ((Z, Y, A), {'normalizer': 0.0}, 'normalizer'),
    ((Z, Y, A), {'normalizer': np.nan}, 'normalizer'),
    ((Z.astype(np.int32), Y, A), {}, 'float32 or float64'),
])
def test_bad_arguments_raise(args, kwargs, match):
    with pytest.raises(HalconDLError, match=match):
        focal_loss(Tensor(args[0]), *args[1:], **kwargs)
