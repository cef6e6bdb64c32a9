"""huber_loss against its documented formula in arbitrary precision (mpmath), gradients by finite
differences (away from the kink at |d| = β), continuity at the kink, dtypes and argument checks.

Tolerances against mpmath (exact binary inputs; β is the float64 number 0.11).  d = x - y is
rounded once (u), 0.5·d²/β adds 3 roundings, and |d| - 0.5β >= |d|/2 has no cancellation; the
nonnegative weighted sum and the division add log2(n) + 2: the relative error is below ~15·u
≈ 3e-15 in float64 (RTOL64 = 1e-13) and ~1e-6 in float32 (RTOL32 = 1e-5, which also covers
β being rounded to float32 there: a relative change of 4e-9 in a continuous function).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

from halcon_dl.autograd import Tensor
from halcon_dl.errors import HalconDLError
from halcon_dl.losses import huber_loss
from halcon_dl.losses.huber import BETA, reference
from halcon_dl.testing import gradcheck
from halcon_dl.testing.strategies import broadcastable_pair, noncontiguous

RTOL64, RTOL32 = 1e-13, 1e-5
EXAMPLES = settings(max_examples=40)


def mp_huber(x, y, beta, w, normalizer):
    """L of the module docstring in mpmath, 50 digits (no cancellation in this formula)."""
    with mp.workdps(50):
        w = np.ones(x.shape) if w is None else np.broadcast_to(w, x.shape)
        beta = mp.mpf(float(beta))
        total = mp.mpf(0)
        for xv, yv, wv in zip(x.reshape(-1), y.reshape(-1), w.reshape(-1)):
            d = mp.mpf(float(xv)) - mp.mpf(float(yv))
            h = mp.mpf('0.5') * d ** 2 / beta if abs(d) < beta else abs(d) - mp.mpf('0.5') * beta
            total += mp.mpf(float(wv)) * h
        return float(total / mp.mpf(float(normalizer)))


@st.composite
def huber_case(draw, dtype=np.float64, away_from_kink=0.0):
    """(pred, target, beta, weights or None, normalizer); with ``away_from_kink`` > 0 every
    |pred - target| keeps that distance from β."""
    shape, wshape = draw(broadcastable_pair(max_dims=3))
    shape = np.broadcast_shapes(shape, wshape)
    wshape = wshape if draw(st.booleans()) else None
    beta = draw(st.sampled_from([BETA, 0.5, 1.0]) | st.floats(0.01, 2.0))
    y = draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    d = draw(hnp.arrays(np.float64, shape, elements=st.one_of(
        st.floats(-1.5 * beta, 1.5 * beta), st.floats(-50, 50))))
    near = np.abs(np.abs(d) - beta) < away_from_kink
    d = np.where(near, np.sign(d) * (beta + np.where(np.abs(d) < beta, -2, 2) * away_from_kink), d)
    x = (y + d).astype(dtype)
    w = None if wshape is None else draw(hnp.arrays(np.float64, wshape, elements=st.one_of(
        st.just(0.0), st.floats(0.1, 5.0)))).astype(dtype)
    return x, y.astype(dtype), beta, w, draw(st.floats(0.5, 50, width=32))


@EXAMPLES
@given(case=huber_case())
def test_float64_matches_mpmath(case):
    x, y, beta, w, n = case
    loss = huber_loss(Tensor(x), y, beta, w, n)
    np.testing.assert_allclose(loss.item(), mp_huber(x, y, beta, w, n), rtol=RTOL64, atol=0)


@EXAMPLES
@given(case=huber_case(dtype=np.float32))
def test_float32_matches_mpmath(case):
    x, y, beta, w, n = case
    loss = huber_loss(Tensor(x), y, beta, w, n)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), mp_huber(x, y, beta, w, n), rtol=RTOL32, atol=0)


@settings(max_examples=30)
@given(case=huber_case(away_from_kink=1e-3))
def test_gradient_by_finite_differences_away_from_the_kink(case):
    x, y, beta, w, n = case
    gradcheck(lambda t: huber_loss(t, y, beta, w, n), [x])


@EXAMPLES
@given(case=huber_case(away_from_kink=1e-9))
def test_gradient_is_the_clipped_slope(case):
    x, y, beta, w, n = case
    t = Tensor(x, requires_grad=True)
    huber_loss(t, y, beta, w, n).backward()
    d = x - y
    expected = np.where(np.abs(d) < beta, d / beta, np.sign(d)) * (1.0 if w is None else w) / n
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize('beta', [BETA, 1.0, 0.3])
@pytest.mark.parametrize('sign', [1.0, -1.0])
def test_value_and_slope_are_continuous_at_beta(beta, sign):
    below, at = sign * np.nextafter(beta, 0), sign * beta       # quadratic and linear branch
    values, slopes = [], []
    for d in (below, at):
        t = Tensor(np.array([d]), requires_grad=True)
        loss = huber_loss(t, np.zeros(1), beta)
        loss.backward()
        values.append(loss.item())
        slopes.append(t.grad[0])
    assert abs(values[0] - values[1]) <= 4 * np.spacing(0.5 * beta)
    assert abs(slopes[0] - slopes[1]) <= 4 * np.spacing(1.0)
    assert values[1] == 0.5 * beta and slopes[1] == sign


def test_float32_in_float32_value_and_gradient_and_strided_inputs():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 0.2, (5, 4)).astype(np.float32), rng.normal(0, 0.2, (5, 4))
    w = rng.uniform(0, 1, (5, 1))
    t = Tensor(noncontiguous(x), requires_grad=True)
    loss = huber_loss(t, noncontiguous(y), weights=noncontiguous(w), normalizer=3.0)
    loss.backward()
    assert loss.dtype == np.float32 and t.grad.dtype == np.float32
    t64 = Tensor(x.astype(np.float64), requires_grad=True)
    loss64 = huber_loss(t64, y.astype(np.float32), weights=w.astype(np.float32), normalizer=3.0)
    loss64.backward()
    np.testing.assert_allclose(loss.item(), loss64.item(), rtol=RTOL32)
    np.testing.assert_allclose(t.grad, t64.grad, rtol=RTOL32, atol=1e-7)


@settings(max_examples=20)
@given(case=huber_case())
def test_reference_is_the_implemented_formula(case):
    np.testing.assert_allclose(huber_loss(Tensor(case[0]), *case[1:]).item(), reference(*case),
                               rtol=1e-13, atol=0)


X = np.zeros((2, 3))


@pytest.mark.parametrize('args, kwargs, match', [
    ((X, np.zeros((3, 2))), {}, 'shape'),
    ((X, np.zeros(3)), {}, 'shape'),
    ((X, X.astype(complex)), {}, 'real'),
    ((X, X), {'beta': 0.0}, 'beta'),
    ((X, X), {'beta': -0.1}, 'beta'),
    ((X, X), {'weights': np.ones((3, 1))}, r'broadcastable to \(2, 3\)'),
    ((X, X), {'weights': np.ones((2, 2, 3))}, r'broadcastable to \(2, 3\)'),
    ((X, X), {'weights': np.array([1.0, -2.0, 0.0])}, r'>= 0, got -2\.0'),
    ((X, X), {'normalizer': -1.0}, 'normalizer'),
    ((X.astype(np.int16), X), {}, 'float32 or float64'),
])
def test_bad_arguments_raise(args, kwargs, match):
    with pytest.raises(HalconDLError, match=match):
        huber_loss(Tensor(args[0]), *args[1:], **kwargs)
