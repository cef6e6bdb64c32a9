"""cross_entropy against its documented formula in arbitrary precision (mpmath), gradients by
finite differences, invariants, layouts and argument checks.

Tolerances against mpmath (the inputs are exact binary numbers, so only the implementation
rounds).  Per sample, -log softmax(z)[t] = (m - z_t) + log1p(r + expm1(z_t - m)) is a sum of two
nonnegative terms, each correct to a few ulps, except that rounding z_c - m (|z_c - m| <= 200)
perturbs e^{z_c - m} by up to 200·u relative; the nonnegative weighted sum and the division by W
add about 2·log2(L)·u.  So in float64 the relative error is below (2·max|z| + C + 2·log2 L + 10)·u
≈ 2.5e-14 for |z| <= 100: RTOL64 = 1e-13.  In float32 the same bound is 1.4e-5: RTOL32 = 5e-5,
plus an absolute floor at float32's smallest normal number, below which results (confidently
correct samples at |z| ~ 100 have losses ~ e^{-200}) have absolute accuracy only.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

from halcon_dl.autograd import Tensor
from halcon_dl.errors import HalconDLError
from halcon_dl.kernels.layout import from_channel_major
from halcon_dl.losses import cross_entropy
from halcon_dl.losses.cross_entropy import CrossEntropy, reference
from halcon_dl.testing import gradcheck
from halcon_dl.testing.strategies import noncontiguous

RTOL64, RTOL32 = 1e-13, 5e-5
ATOL32 = float(np.finfo(np.float32).tiny)
# The literal formula cancels up to 2·100/ln 10 ≈ 87 digits (log Σ e^z - z_t when the target
# wins by 200; softmax_t - 1 likewise): 50 digits are kept on top of that.
DPS = 50 + 90
EXTREME = st.one_of(st.floats(-100, 100), st.floats(-3, 3))   # |z| up to 100, and ordinary
EXAMPLES = settings(max_examples=40)


def mp_cross_entropy(z, t, w):
    """The module docstring's L and dL/dz in mpmath, on (L, C) logits, (L,) targets/weights."""
    with mp.workdps(DPS):
        z = [[mp.mpf(float(v)) for v in row] for row in z]
        w = [mp.mpf(1)] * len(t) if w is None else [mp.mpf(float(v)) for v in w]
        big_w = mp.fsum(w)
        if big_w == 0:
            return 0.0, np.zeros((len(z), len(z[0])))
        loss, grad = mp.mpf(0), []
        for zi, ti, wi in zip(z, t, w):
            total = mp.fsum(mp.exp(v) for v in zi)
            loss -= wi * mp.log(mp.exp(zi[ti]) / total)
            grad.append([wi / big_w * (mp.exp(v) / total - (c == ti)) for c, v in enumerate(zi)])
        return float(loss / big_w), np.array(grad, dtype=np.float64)


@st.composite
def ce_case(draw, elements=EXTREME, dtype=np.float64, four_d=None, weighted=None):
    """(logits, targets, weights or None) with logits (N, C) or (N, C, H, W)."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    if four_d is None:
        four_d = draw(st.booleans())
    shape = (n, c) + ((draw(st.integers(1, 3)), draw(st.integers(1, 3))) if four_d else ())
    z = draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)
    tshape = shape[:1] + shape[2:]
    t = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, c - 1)))
    if weighted is None:
        weighted = draw(st.booleans())
    w = None
    if weighted:
        w = draw(hnp.arrays(np.float64, tshape, elements=st.one_of(
            st.just(0.0), st.floats(0.1, 5.0)))).astype(dtype)
    return z, t, w


def pixels(a):
    """(N, C[, H, W]) -> (N·H·W, C) rows, the order of the flattened targets."""
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def flat(w):
    return None if w is None else w.reshape(-1)


def value_and_grad(z, t, w, **kw):
    x = Tensor(z, requires_grad=True)
    loss = cross_entropy(x, t, w, **kw)
    loss.backward()
    return loss, x.grad


@EXAMPLES
@given(case=ce_case())
def test_float64_matches_mpmath_value_and_gradient_with_extreme_logits(case):
    z, t, w = case
    loss, grad = value_and_grad(z, t, w)
    exact, exact_grad = mp_cross_entropy(pixels(z), t.reshape(-1), flat(w))
    np.testing.assert_allclose(loss.item(), exact, rtol=RTOL64, atol=0)
    np.testing.assert_allclose(pixels(grad), exact_grad, rtol=RTOL64, atol=0)


@EXAMPLES
@given(case=ce_case(elements=EXTREME.map(lambda v: float(np.float32(v))), dtype=np.float32))
def test_float32_matches_mpmath(case):
    z, t, w = case
    loss = cross_entropy(Tensor(z), t, w)
    assert loss.dtype == np.float32
    exact, _ = mp_cross_entropy(pixels(z), t.reshape(-1), flat(w))
    np.testing.assert_allclose(loss.item(), exact, rtol=RTOL32, atol=ATOL32)


@settings(max_examples=25)
@given(case=ce_case(elements=st.floats(-10, 10)))
def test_gradient_by_finite_differences(case):
    z, t, w = case
    gradcheck(lambda x: cross_entropy(x, t, w), [z])


@settings(max_examples=15)
@given(case=ce_case(elements=st.floats(-10, 10), four_d=False))
def test_class_axis_0_and_negative_axis(case):
    z, t, w = case                          # (N, C) logits, transposed to (C, N), axis 0
    zt = np.ascontiguousarray(z.T)
    gradcheck(lambda x: cross_entropy(x, t, w, axis=0), [zt])
    loss, grad = value_and_grad(z, t, w)
    loss0, grad0 = value_and_grad(zt, t, w, axis=0)
    loss_neg, grad_neg = value_and_grad(z, t, w, axis=-1)
    assert loss0.item() == loss.item() == loss_neg.item()
    np.testing.assert_array_equal(grad0.T, grad)
    np.testing.assert_array_equal(grad_neg, grad)


@EXAMPLES
@given(case=ce_case(elements=st.integers(-20 * 1024, 20 * 1024).map(lambda k: k / 1024)),
       data=st.data())
def test_adding_a_constant_per_sample_changes_nothing(case, data):
    # logits and shifts on the grid k/1024 keep z + c exact, so the result must be identical
    z, t, w = case
    shape = (z.shape[0], 1) + z.shape[2:]
    shift = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-50 * 1024, 50 * 1024)))
    loss, grad = value_and_grad(z, t, w)
    loss_s, grad_s = value_and_grad(z + shift / 1024, t, w)
    assert loss_s.item() == loss.item()
    np.testing.assert_array_equal(grad_s, grad)


@EXAMPLES
@given(case=ce_case(weighted=False), scale=st.floats(1e-3, 1e3), data=st.data())
def test_scaling_all_class_weights_changes_nothing(case, scale, data):
    z, t, _ = case
    class_weights = data.draw(hnp.arrays(np.float64, z.shape[1], elements=st.floats(0.1, 5)))
    loss, grad = value_and_grad(z, t, class_weights[t])
    loss_s, grad_s = value_and_grad(z, t, (scale * class_weights)[t])
    np.testing.assert_allclose(loss_s.item(), loss.item(), rtol=RTOL64, atol=0)
    np.testing.assert_allclose(grad_s, grad, rtol=RTOL64, atol=0)


@EXAMPLES
@given(case=ce_case(weighted=False), data=st.data())
def test_zero_total_weight_gives_exactly_zero_loss_and_gradient(case, data):
    z, t, _ = case
    loss, grad = value_and_grad(z, t, np.zeros(t.shape))
    assert loss.item() == 0.0
    assert np.all(grad == 0)


@EXAMPLES
@given(case=ce_case(weighted=True))
def test_samples_with_zero_weight_get_exactly_zero_gradient(case):
    z, t, w = case
    _, grad = value_and_grad(z, t, w)
    assert np.all(pixels(grad)[w.reshape(-1) == 0] == 0)


@EXAMPLES
@given(case=ce_case(four_d=True))
def test_4d_equals_2d_of_the_pixels(case):
    z, t, w = case
    loss4, grad4 = value_and_grad(z, t, w)
    loss2, grad2 = value_and_grad(pixels(z).copy(), t.reshape(-1), flat(w))
    np.testing.assert_allclose(loss4.item(), loss2.item(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(pixels(grad4), grad2, rtol=1e-15, atol=0)


@EXAMPLES
@given(case=ce_case(four_d=True))
def test_channel_major_and_strided_logits_give_the_same_result(case):
    z, t, w = case
    loss, grad = value_and_grad(np.ascontiguousarray(z), t, w)
    channel_major = from_channel_major(np.ascontiguousarray(z.transpose(1, 0, 2, 3)))
    for layout in (channel_major, noncontiguous(z)):
        loss_l, grad_l = value_and_grad(layout, t, w)
        assert loss_l.item() == loss.item()
        np.testing.assert_array_equal(grad_l, grad)
    w_strided = None if w is None else noncontiguous(w)
    assert cross_entropy(Tensor(z), noncontiguous(t), w_strided).item() == loss.item()


def test_channel_major_logits_get_a_channel_major_gradient():
    zc = np.random.default_rng(0).standard_normal((3, 2, 4, 5))     # (C, N, H, W) buffer
    fn = CrossEntropy()
    fn.needs_input_grad = (True,)
    fn.forward(from_channel_major(zc), target=np.zeros((2, 4, 5), dtype=np.intp), weights=None,
               axis=1)
    grad = fn.backward(np.array(1.0))
    assert grad.shape == (2, 3, 4, 5) and grad.transpose(1, 0, 2, 3).flags.c_contiguous


@pytest.mark.parametrize('shape', [(0, 3), (0, 3, 2, 2), (2, 3, 0, 4)])
def test_no_samples_give_zero_loss_and_an_empty_gradient(shape):
    loss, grad = value_and_grad(np.zeros(shape), np.zeros(shape[:1] + shape[2:], dtype=int), None)
    assert loss.item() == 0.0 and grad.shape == shape


@pytest.mark.parametrize('four_d', [False, True])
def test_float32_in_float32_value_and_gradient(four_d):
    rng = np.random.default_rng(1)
    shape = (3, 4, 2, 5) if four_d else (6, 4)
    z = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(0, 4, shape[:1] + shape[2:])
    w = rng.uniform(0, 2, t.shape).astype(np.float32).astype(np.float64)
    loss32, grad32 = value_and_grad(z, t, w)       # float64 weights: used as float32, no upcast
    loss64, grad64 = value_and_grad(z.astype(np.float64), t, w)
    assert loss32.dtype == np.float32 and grad32.dtype == np.float32
    np.testing.assert_allclose(loss32.item(), loss64.item(), rtol=RTOL32)
    np.testing.assert_allclose(grad32, grad64, rtol=RTOL32, atol=1e-7)


@settings(max_examples=20)
@given(case=ce_case(elements=st.floats(-5, 5)))
def test_reference_is_the_implemented_formula(case):
    z, t, w = case
    np.testing.assert_allclose(cross_entropy(Tensor(z), t, w).item(), reference(z, t, w),
                               rtol=1e-12, atol=1e-15)


Z = np.zeros((2, 3))


@pytest.mark.parametrize('args, kwargs, match', [
    ((Z, np.array([0, 3])), {}, r'\[0, 3\), got 3'),
    ((Z, np.array([-1, 0])), {}, 'got -1'),
    ((Z, np.array([0, 1, 2])), {}, 'shape'),
    ((Z, np.array([0.0, 1.0])), {}, 'integer'),
    ((Z, np.array([True, False])), {}, 'integer'),
    ((Z, np.array([0, 1])), {'weights': np.array([1.0, -0.5])}, r'>= 0, got -0\.5'),
    ((Z, np.array([0, 1])), {'weights': np.array([1.0, np.nan])}, 'finite'),
    ((Z, np.array([0, 1])), {'weights': np.array([1.0, np.inf])}, 'finite'),
    ((Z, np.array([0, 1])), {'weights': np.ones(3)}, 'shape'),
    ((Z, np.array([0, 1])), {'weights': np.array(['a', 'b'])}, 'real'),
    ((Z, np.array([0, 1])), {'axis': 2}, 'axis'),
    ((Z.astype(np.int64), np.array([0, 1])), {}, 'float32 or float64'),
    ((Z.astype(np.float16), np.array([0, 1])), {}, 'float32 or float64'),
    ((np.zeros((2, 0)), np.array([0, 1])), {}, 'at least one class'),
    ((np.zeros((2, 3, 4, 4)), np.zeros((2, 4), dtype=int)), {}, r'shape \(2, 4, 4\)'),
])
def test_bad_arguments_raise(args, kwargs, match):
    with pytest.raises(HalconDLError, match=match):
        cross_entropy(Tensor(args[0]), *args[1:], **kwargs)
