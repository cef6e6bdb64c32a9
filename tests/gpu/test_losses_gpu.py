"""The losses on CuPy: values and gradients agree with NumPy (float64, tight), float32 stays
float32, targets/weights given as NumPy arrays are moved to the device, bad arguments raise, and
gradients pass gradcheck on the GPU."""
import numpy as np
import pytest

from halcon_dl.autograd import Tensor
from halcon_dl.backend import to_numpy
from halcon_dl.errors import HalconDLError
from halcon_dl.kernels.layout import from_channel_major
from halcon_dl.losses import (
    cross_entropy, focal_loss, huber_loss, weight_prior_gradient, weight_prior_loss)
from halcon_dl.testing import gradcheck

cp = pytest.importorskip('cupy')

RNG = np.random.default_rng(7)
Z4 = from_channel_major(RNG.normal(0, 30, (3, 2, 5, 4)))        # channel-major (N, C, H, W)
T4, W4 = RNG.integers(0, 3, (2, 5, 4)), RNG.uniform(0, 2, (2, 5, 4))
Z2, T2 = RNG.normal(0, 30, (6, 4)), RNG.integers(0, 4, 6)
ZF, YF, AF = RNG.normal(0, 30, (5, 3)), RNG.integers(0, 2, (5, 3)), np.array([0.25, 0.5, 1.0])
WF = np.array([1.0, 0.0, 2.0, 1.0, 0.5])
XH, YH, WH = RNG.normal(0, 0.3, (4, 4)), RNG.normal(0, 0.3, (4, 4)), RNG.uniform(0, 1, (4, 1))

CASES = {   # name: (loss of one Tensor and the device's array module, its input)
    'ce_2d': (lambda x, xp: cross_entropy(x, xp.asarray(T2)), Z2),
    'ce_4d_weighted': (lambda x, xp: cross_entropy(x, xp.asarray(T4), xp.asarray(W4)), Z4),
    'ce_numpy_targets': (lambda x, xp: cross_entropy(x, T4, W4), Z4),
    'ce_zero_weights': (lambda x, xp: cross_entropy(x, T2, np.zeros(6)), Z2),
    'focal_gamma_2': (lambda x, xp: focal_loss(x, xp.asarray(YF), xp.asarray(AF), 2.0,
                                               xp.asarray(WF), 3.0), ZF),
    'focal_gamma_0': (lambda x, xp: focal_loss(x, YF, AF, 0.0, WF, 3.0), ZF),
    'focal_gamma_half': (lambda x, xp: focal_loss(x, YF, AF, 0.5), ZF),
    'huber': (lambda x, xp: huber_loss(x, xp.asarray(YH), weights=xp.asarray(WH),
                                       normalizer=2.0), XH),
}


def run(name, xp, dtype):
    fn, x = CASES[name]
    t = Tensor(xp.asarray(x.astype(dtype)), requires_grad=True)
    loss = fn(t, xp)
    loss.backward()
    return loss, t.grad


@pytest.mark.parametrize('name', sorted(CASES))
def test_gpu_matches_cpu_value_and_gradient(name):
    loss_cpu, grad_cpu = run(name, np, np.float64)
    loss_gpu, grad_gpu = run(name, cp, np.float64)
    assert isinstance(loss_gpu.data, cp.ndarray) and isinstance(grad_gpu, cp.ndarray)
    np.testing.assert_allclose(loss_gpu.item(), loss_cpu.item(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(to_numpy(grad_gpu), grad_cpu, rtol=1e-12, atol=0)


@pytest.mark.parametrize('name', sorted(CASES))
def test_gpu_float32_stays_float32(name):
    loss, grad = run(name, cp, np.float32)
    assert loss.dtype == np.float32 and grad.dtype == np.float32


@pytest.mark.parametrize('name', ['ce_2d', 'ce_4d_weighted', 'focal_gamma_2', 'huber'])
def test_gpu_gradcheck(name):
    fn, x = CASES[name]
    gradcheck(lambda t: fn(t, cp), [cp.asarray(np.clip(x, -8, 8))])


def test_gpu_weight_prior():
    arrays = [RNG.standard_normal((3, 4)), RNG.standard_normal(5).astype(np.float32)]
    on_gpu = [cp.asarray(a) for a in arrays]
    np.testing.assert_allclose(weight_prior_loss(on_gpu, 0.3), weight_prior_loss(arrays, 0.3),
                               rtol=1e-13)
    grad = weight_prior_gradient(on_gpu[1], 0.3)
    assert isinstance(grad, cp.ndarray) and grad.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(grad), weight_prior_gradient(arrays[1], 0.3))


def test_gpu_bad_arguments_raise():
    with pytest.raises(HalconDLError, match='got 3'):
        cross_entropy(Tensor(cp.zeros((2, 3))), cp.asarray([0, 3]))
    with pytest.raises(HalconDLError, match='>= 0'):
        cross_entropy(Tensor(cp.zeros((2, 3))), cp.asarray([0, 1]), cp.asarray([1.0, -1.0]))
    with pytest.raises(HalconDLError, match='0 or 1'):
        focal_loss(Tensor(cp.zeros((2, 3))), cp.full((2, 3), 2), cp.full(3, 0.25))
