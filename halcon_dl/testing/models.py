"""Helpers for model-level checks: random samples, snapshots of all mutable model state."""
from __future__ import annotations

import copy

import numpy as np

from ..backend import to_numpy
from ..nn import Conv2d, Dense, Module
from .. import ops


def random_samples(model, count, seed=0, label_ids=None):
    """``count`` classification samples fitting ``model``, images uniform in its value range."""
    rng = np.random.default_rng(seed)
    p = model.params
    ids = model.class_ids if label_ids is None else label_ids
    lo, hi = p['image_range_min'], p['image_range_max']
    shape = (p['image_height'], p['image_width'], p['image_num_channels'])
    return [{'image': rng.uniform(lo, hi, shape).astype(np.float32),
             'image_label_id': ids[i % len(ids)], 'image_id': 100 + i} for i in range(count)]


def total_loss_derivative(model, samples, name, index, eps=1e-6) -> float:
    """∂ total_loss / ∂ w, w = ``model.parameters()[name][index]``, of one training step on
    ``samples``: the central difference ``(L(w + eps) - L(w - eps)) / (2 eps)`` of the
    ``total_loss`` returned by steps on two copies of ``model`` (the model is left as it is)."""
    from ..operators import train_dl_model_batch
    values = []
    for delta in (eps, -eps):
        twin = copy.deepcopy(model)
        twin.parameters()[name][index] += delta
        values.append(train_dl_model_batch(twin, samples)['total_loss'])
    return (values[0] - values[1]) / (2 * eps)

def random_segmentation_samples(model, count, seed=0, ignored=True, weight_images=False):
    """``count`` segmentation samples fitting ``model``: images uniform in its value range,
    ``segmentation_image`` (int32) drawn from its class IDs and, with ``ignored``, its
    ``ignore_class_ids``; with ``weight_images`` every other sample (0, 2, ...) has a
    ``weight_image`` uniform in [0, 2)."""
    rng = np.random.default_rng(seed)
    p = model.params
    h, w, c = p['image_height'], p['image_width'], p['image_num_channels']
    ids = list(p['class_ids']) + (list(p['ignore_class_ids']) if ignored else [])
    samples = []
    for i in range(count):
        s = {'image': rng.uniform(p['image_range_min'], p['image_range_max'], (h, w, c))
             .astype(np.float32),
             'segmentation_image': rng.choice(ids, (h, w)).astype(np.int32), 'image_id': 100 + i}
        if weight_images and i % 2 == 0:
            s['weight_image'] = rng.uniform(0, 2, (h, w)).astype(np.float32)
        samples.append(s)
    return samples


def snapshot(model) -> dict:
    """Copies (NumPy) of every parameter, buffer and optimiser state array, and the params."""
    arrays = {f'param.{k}': v for k, v in model.parameters().items()}
    arrays.update({f'buffer.{k}': v for k, v in model.buffers().items()})
    arrays.update({f'opt.{k}': v for k, v in model.optimizer_state().items()})
    state = {k: to_numpy(v).copy() for k, v in arrays.items()}
    state['params'] = copy.deepcopy(model.params)
    state['adam_t'] = getattr(model.solver, 't', None)
    return state


def assert_same_snapshot(a: dict, b: dict) -> None:
    """Bit-identical: same keys, same dtypes, same bytes (NaN-safe)."""
    assert a.keys() == b.keys(), set(a) ^ set(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            assert a[k].tobytes() == b[k].tobytes(), f'{k} changed'
        else:
            assert a[k] == b[k], f'{k} changed: {a[k]!r} -> {b[k]!r}'


def step_against_finite_differences(model, samples, per_parameter=1, eps=1e-6, seed=0):
    """The update of one training step next to -λ times the derivative of ``total_loss`` taken
    from outside, for ``per_parameter`` random elements of every parameter.

    Each derivative is a central difference (L(w + ε) - L(w - ε)) / 2ε of the ``total_loss``
    that ``train_dl_model_batch`` reports on a copy of the model with that one element moved;
    then the model takes the step.  With SGD and momentum 0 the two must agree: returns
    [(name, index, w_new - w, -λ·dL/dw)].  Run it on a float64 model.
    """
    from ..operators import train_dl_model_batch

    def total_loss_at(name, index, delta):
        twin = copy.deepcopy(model)
        twin.parameters()[name][index] += delta
        return train_dl_model_batch(twin, samples)['total_loss']

    rng = np.random.default_rng(seed)
    lr = model.params['learning_rate']
    before = {k: to_numpy(v).copy() for k, v in model.parameters().items()}
    checks = []
    for name, w in before.items():
        for _ in range(per_parameter):
            index = tuple(int(rng.integers(n)) for n in w.shape)
            fd = (total_loss_at(name, index, eps) - total_loss_at(name, index, -eps)) / (2 * eps)
            checks.append((name, index, -lr * fd))
    train_dl_model_batch(model, samples)
    after = model.parameters()
    return [(name, index, float(after[name][index] - before[name][index]), expected)
            for name, index, expected in checks]


class NoBatchNormNet(Module):
    """conv3x3 C->4 (bias) + ReLU, global average pool, dense: a classifier without BatchNorm."""

    def __init__(self, in_channels, num_classes, rng, dtype=np.float64):
        super().__init__()
        self.conv = Conv2d(in_channels, 4, 3, rng, padding=1, dtype=dtype)
        self.fc = Dense(4, num_classes, rng, dtype=dtype)

    def forward(self, x):
        return self.fc(ops.global_avg_pool2d(ops.relu(self.conv(x))))
