"""Gradient checking by central finite differences, in float64.

The function under test may return any shape; it is reduced to a scalar with a fixed random
weighting, ``L(x) = Σ f(x) · r``, so every output element takes part.  Then

* element-wise (inputs of at most ``max_elementwise`` elements in total): for every input
  element, ``(L(x + ε e_i) - L(x - ε e_i)) / 2ε`` against the analytic ``∂L/∂x_i``;
* directional (larger inputs): along one random unit direction v over all inputs together,
  ``(L(x + ε v) - L(x - ε v)) / 2ε`` against ``Σ ⟨∂L/∂x, v⟩`` (Chainer's check).

An element passes when ``|numeric - analytic| <= atol + noise + rtol · max(|numeric|, |analytic|)``.
Central differences err by O(ε²) (truncation) plus the rounding of the two loss evaluations,
which is at most about u·Σ|f_k·r_k| each (u = 2^-52); their difference divided by 2ε gives the
floor ``noise = 8·u·Σ|f_k·r_k| / ε`` (computed, not tuned).  In float64 with ε = 1e-6 agreement
to ~1e-6 relative is then expected for smooth functions; keep the inputs away from kinks (ReLU,
max, abs) by more than ε.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor
from ..backend import array_module, to_numpy


@dataclass
class GradcheckReport:
    mode: str                 # 'elementwise' or 'directional'
    worst_input: int          # index of the input holding the worst element
    worst_index: tuple        # its position (elementwise mode)
    numeric: float
    analytic: float
    error: float              # |numeric - analytic|
    allowed: float            # atol + noise + rtol·max(|numeric|, |analytic|) at that element

    def __str__(self):
        where = f'input {self.worst_input}' + (f' at {self.worst_index}' if self.worst_index else '')
        return (f'{self.mode} gradient check, worst {where}: numeric {self.numeric!r}, analytic '
                f'{self.analytic!r}, error {self.error:.3g} (allowed {self.allowed:.3g})')


def gradcheck(fn, inputs, *, eps=1e-6, rtol=1e-6, atol=1e-9, max_elementwise=256, seed=0,
              raise_on_failure=True) -> GradcheckReport:
    """Check ``fn(*tensors)``'s gradients w.r.t. every array in ``inputs`` (float64 arrays).

    Returns the report of the worst element; raises AssertionError with it when any element
    fails (unless ``raise_on_failure`` is False).
    """
    arrays = [a for a in inputs]
    for a in arrays:
        if a.dtype != np.float64:
            raise TypeError(f'gradcheck needs float64 inputs, got {a.dtype}')
    xp = array_module(*arrays)
    rng = np.random.default_rng(seed)
    out = fn(*[Tensor(a.copy()) for a in arrays])
    weights = xp.asarray(rng.standard_normal(out.shape))
    noise = 8 * np.finfo(np.float64).eps * float(xp.abs(out.data * weights).sum()) / eps

    def loss(values):
        return float((fn(*[Tensor(v) for v in values]).data * weights).sum())

    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    result = fn(*tensors)
    result.backward(weights.astype(result.dtype))
    analytic = [to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape) for t in tensors]

    total = sum(a.size for a in arrays)
    if total <= max_elementwise:
        report = _elementwise(loss, arrays, analytic, eps, rtol, atol + noise)
    else:
        report = _directional(loss, arrays, analytic, eps, rtol, atol + noise, rng)
    if raise_on_failure and report.error > report.allowed:
        raise AssertionError(str(report))
    return report


def _perturbed(arrays, k, delta):
    return [a + delta if i == k else a for i, a in enumerate(arrays)]


def _elementwise(loss, arrays, analytic, eps, rtol, atol):
    xp = array_module(*arrays)
    worst = None
    for k, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            e = np.zeros(a.shape)
            e[idx] = eps
            e = xp.asarray(e)
            numeric = (loss(_perturbed(arrays, k, e)) - loss(_perturbed(arrays, k, -e))) / (2 * eps)
            exact = float(analytic[k][idx])
            report = _judge('elementwise', k, idx, numeric, exact, rtol, atol)
            if worst is None or report.error - report.allowed > worst.error - worst.allowed:
                worst = report
    return worst


def _directional(loss, arrays, analytic, eps, rtol, atol, rng):
    xp = array_module(*arrays)
    directions = [rng.standard_normal(a.shape) for a in arrays]
    norm = np.sqrt(sum((d * d).sum() for d in directions))
    directions = [d / norm for d in directions]
    plus = [a + eps * xp.asarray(d) for a, d in zip(arrays, directions)]
    minus = [a - eps * xp.asarray(d) for a, d in zip(arrays, directions)]
    numeric = (loss(plus) - loss(minus)) / (2 * eps)
    exact = float(sum((g * d).sum() for g, d in zip(analytic, directions)))
    return _judge('directional', -1, (), numeric, exact, rtol, atol)


def _judge(mode, k, idx, numeric, exact, rtol, atol):
    error = abs(numeric - exact)
    allowed = atol + rtol * max(abs(numeric), abs(exact))
    return GradcheckReport(mode, k, idx, numeric, exact, error, allowed)
