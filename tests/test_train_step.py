"""train_dl_model_batch against SPEC §5: the update, sub-batches, losses, failure safety."""
import copy

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl import ops
from halcon_dl.autograd import Tensor
from halcon_dl.nn import Dense
from halcon_dl.testing.models import (NoBatchNormNet, assert_same_snapshot, random_samples,
                                      snapshot, step_against_finite_differences)


def model64(**params):
    kw = dict(class_ids=[2, 4, 9], image_width=9, image_height=7, image_num_channels=3,
              precision='float64', batch_size=4, seed=1)
    kw.update(params)
    return hdl.create_dl_model('classification', **kw)


@pytest.mark.parametrize('multiplier', [1, 2])
def test_step_equals_minus_learning_rate_times_finite_difference_gradient(multiplier):
    """With momentum 0: w_new - w = -λ ∂total_loss/∂w, the derivative taken from outside."""
    model = model64(momentum=0.0, learning_rate=0.05, weight_prior=0.01,
                    batch_size_multiplier=multiplier)
    samples = random_samples(model, 4 * multiplier, seed=3)
    for name, index, step, expected in step_against_finite_differences(model, samples, 2):
        assert step == pytest.approx(expected, rel=1e-5, abs=1e-9), (name, index)


def test_regularisation_term_is_alpha_half_sum_of_squares_of_non_biases():
    alpha = 0.3
    model = model64(weight_prior=alpha)
    params = model.parameters()
    expected = alpha / 2 * sum(float((w ** 2).sum()) for k, w in params.items()
                               if not (k.endswith('.bias') or k.endswith('.beta')))
    result = hdl.train_dl_model_batch(model, random_samples(model, 4))
    assert result['regularization_loss'] == pytest.approx(expected, rel=1e-12)
    assert result['total_loss'] == pytest.approx(result['cross_entropy_loss'] + expected, rel=1e-12)
    assert set(result) == {'total_loss', 'cross_entropy_loss', 'regularization_loss'}
    assert all(type(v) is float for v in result.values())


def no_bn_model(multiplier, batch):
    model = model64(batch_size=batch, batch_size_multiplier=multiplier, momentum=0.9,
                    learning_rate=0.1, weight_prior=0.01)
    model.network = NoBatchNormNet(3, 3, np.random.default_rng(5))
    return model


def test_multiplier_without_batchnorm_matches_one_big_batch():
    """SPEC §5.5: no BatchNorm and a per-sample normaliser: M = 1 and M = 2 agree to rounding."""
    samples = random_samples(model64(), 8, seed=4)
    one, two = no_bn_model(1, 8), no_bn_model(2, 4)
    for _ in range(2):
        r1, r2 = hdl.train_dl_model_batch(one, samples), hdl.train_dl_model_batch(two, samples)
        for k in r1:
            assert r1[k] == pytest.approx(r2[k], rel=1e-12)
    for k, w in one.parameters().items():
        np.testing.assert_allclose(w, two.parameters()[k], rtol=1e-12, atol=1e-14)


def test_multiplier_with_batchnorm_differs():
    samples = random_samples(model64(), 8, seed=4)
    one = model64(batch_size=8, batch_size_multiplier=1)
    two = model64(batch_size=4, batch_size_multiplier=2)
    r1, r2 = hdl.train_dl_model_batch(one, samples), hdl.train_dl_model_batch(two, samples)
    assert abs(r1['cross_entropy_loss'] - r2['cross_entropy_loss']) > 1e-6
    diffs = [np.abs(one.parameters()[k] - two.parameters()[k]).max() for k in one.parameters()]
    assert max(diffs) > 1e-6


def test_running_statistics_update_once_per_sub_batch():
    """With M = 2 the first BatchNorm's running mean is updated with each sub-batch's mean."""
    model = model64(batch_size=3, batch_size_multiplier=2, batchnorm_momentum=0.25)
    samples = random_samples(model, 6, seed=8)
    w = model.parameters()['backbone.stages.0.conv.weight']
    images = np.stack([s['image'] for s in samples]).astype(np.float64).transpose(0, 3, 1, 2)
    conv = ops.conv2d(Tensor(images), Tensor(w.copy()), padding=1).data
    mean1, mean2 = conv[:3].mean(axis=(0, 2, 3)), conv[3:].mean(axis=(0, 2, 3))
    rm0 = model.buffers()['backbone.stages.0.bn.running_mean'].copy()
    hdl.train_dl_model_batch(model, samples)
    m = 0.25
    expected = (1 - m) * ((1 - m) * rm0 + m * mean1) + m * mean2
    np.testing.assert_allclose(model.buffers()['backbone.stages.0.bn.running_mean'], expected, rtol=1e-12)


def test_non_finite_loss_raises_and_changes_nothing():
    model = model64()
    hdl.train_dl_model_batch(model, random_samples(model, 4))          # optimiser state exists
    before = snapshot(model)
    poisoned = random_samples(model, 4, seed=2)
    poisoned[1]['image'] = np.full(poisoned[1]['image'].shape, 1e308)   # finite, overflows in conv
    with pytest.raises(hdl.HalconDLError, match='non-finite'):
        hdl.train_dl_model_batch(model, poisoned)
    assert_same_snapshot(before, snapshot(model))


def test_learning_rate_change_acts_through_the_velocity():
    """SGD at model level: v1 = -λ1 g1; after λ changes, w2 - w1 = μ v1 - λ2 g2."""
    mu, lr1, lr2 = 0.8, 0.1, 0.01
    model = model64(momentum=mu, learning_rate=lr1)
    samples = [random_samples(model, 4, seed=s) for s in (1, 2)]
    _, g1 = copy.deepcopy(model).gradients(samples[0])
    hdl.train_dl_model_batch(model, samples[0])
    hdl.set_dl_model_param(model, 'learning_rate', lr2)
    w1 = {k: v.copy() for k, v in model.parameters().items()}
    _, g2 = copy.deepcopy(model).gradients(samples[1])
    hdl.train_dl_model_batch(model, samples[1])
    for k, w in model.parameters().items():
        np.testing.assert_allclose(w - w1[k], mu * (-lr1 * g1[k]) - lr2 * g2[k], rtol=1e-10, atol=1e-14)


def test_switching_solver_resets_the_optimiser_state():
    model = model64(momentum=0.9, learning_rate=0.1)
    for s in (1, 2):
        hdl.train_dl_model_batch(model, random_samples(model, 4, seed=s))
    assert model.optimizer_state()
    hdl.set_dl_model_param(model, 'solver_type', 'adam')
    assert model.optimizer_state() == {}
    samples = random_samples(model, 4, seed=3)
    _, g = copy.deepcopy(model).gradients(samples)
    w0 = {k: v.copy() for k, v in model.parameters().items()}
    hdl.train_dl_model_batch(model, samples)
    eps = model.get_param('adam_epsilon')
    for k, w in model.parameters().items():            # a fresh Adam's first step, t = 1
        np.testing.assert_allclose(w - w0[k], -0.1 * g[k] / (np.abs(g[k]) + eps), rtol=1e-9, atol=1e-15)


def test_wrong_sample_count_is_rejected():
    model = model64(batch_size=4, batch_size_multiplier=2)
    with pytest.raises(hdl.HalconDLError, match='4 x 2 = 8'):
        hdl.train_dl_model_batch(model, random_samples(model, 4))


class SharedDenseNet(NoBatchNormNet):
    """NoBatchNormNet whose hidden Dense layer is applied twice: its weight gets two
    contributions in each backward pass."""

    def __init__(self, in_channels, num_classes, rng):
        super().__init__(in_channels, num_classes, rng)
        self.hidden = Dense(4, 4, rng, dtype=np.float64)

    def forward(self, x):
        h = ops.global_avg_pool2d(ops.relu(self.conv(x)))
        return self.fc(self.hidden(ops.relu(self.hidden(h))))


def test_sub_batch_gradients_are_formed_whole_then_added_in_order():
    """g = (∇L_1 + ∇L_2) / 2 bit for bit, each ∇L_k from a step on sub-batch k alone, also for
    a weight used twice per pass (accumulating its contributions across sub-batches one by one
    would round differently)."""
    two = model64(batch_size=4, batch_size_multiplier=2, weight_prior=0.0)
    two.network = SharedDenseNet(3, 3, np.random.default_rng(5))
    one = copy.deepcopy(two)
    hdl.set_dl_model_param(one, 'batch_size_multiplier', 1)
    samples = random_samples(two, 8, seed=6)
    _, g = two.gradients(samples)
    _, g1 = one.gradients(samples[:4])
    _, g2 = one.gradients(samples[4:])
    for name in g:
        assert g[name].tobytes() == ((g1[name] + g2[name]) / 2).tobytes(), name
