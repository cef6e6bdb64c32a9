r"""Sigmoid focal loss of RetinaNet (Lin et al. 2017, "Focal Loss for Dense Object Detection"),
the loss of the detection class heads (HALCON: γ = 2, class weights as α).

For anchor :math:`a` and class :math:`c`, logit :math:`z`, target :math:`y \in \{0, 1\}`, class
weight :math:`\alpha_c \in [0, 1]`, focusing parameter :math:`\gamma \ge 0`, anchor weight
:math:`w_a \ge 0` (0 for ignored anchors) and normaliser :math:`n > 0` (the caller passes
:math:`N_{pos} = \max(1, \#\text{positive anchors})`):

.. math::

    p = \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad p_t = y p + (1 - y)(1 - p), \qquad
    \alpha_t = y \alpha_c + (1 - y)(1 - \alpha_c),

    \mathrm{FL}(z, y) = -\alpha_t (1 - p_t)^\gamma \log p_t, \qquad
    L = \frac{1}{n} \sum_a w_a \sum_c \mathrm{FL}(z_{ac}, y_{ac}).

Stable form.  With :math:`s = 2y - 1` and :math:`q = s z`: :math:`p_t = \sigma(q)`,
:math:`1 - p_t = \sigma(-q)` and :math:`-\log p_t = \operatorname{softplus}(-q) =: \ell`, so
:math:`\mathrm{FL} = \alpha_t \, \sigma(-q)^\gamma \, \ell`.  With :math:`e = e^{-|q|}`:

.. math::

    \ell = \max(-q, 0) + \operatorname{log1p}(e), \qquad
    \sigma(q) = \frac{1}{1 + e}, \; \sigma(-q) = \frac{e}{1 + e} \;(q \ge 0),
    \quad\text{and swapped for } q < 0,

each to a few ulps *relative*, in both tails (the tanh form of σ would lose the small
:math:`1 - p_t` of the easy examples, which is exactly what the focal term weighs).

Gradient (derivation).  :math:`\frac{d\ell}{dq} = -\sigma(-q) = -(1 - p_t)` and
:math:`\frac{d}{dq}\sigma(-q)^\gamma = \gamma \sigma(-q)^{\gamma-1} \cdot (-\sigma(-q)\sigma(q))
= -\gamma (1 - p_t)^\gamma p_t`, so by the product rule

.. math::

    \frac{\partial \mathrm{FL}}{\partial q}
      = -\alpha_t (1 - p_t)^\gamma \bigl[\gamma \, p_t \, \ell + (1 - p_t)\bigr],
    \qquad
    \frac{\partial \mathrm{FL}}{\partial z} = s \frac{\partial \mathrm{FL}}{\partial q}
      = s \, \alpha_t (1 - p_t)^\gamma \bigl[\gamma \, p_t \log p_t - (1 - p_t)\bigr],

and :math:`\partial L / \partial z_{ac} = g \, (w_a / n) \, \partial \mathrm{FL} / \partial z`.
The factor :math:`(1 - p_t)^{\gamma - 1}` of the chain rule cancels against σ' and never
appears, so nothing is guarded: :math:`(1 - p_t)^\gamma = 1` exactly for :math:`\gamma = 0`
(:math:`x^0 = 1` also for :math:`x = 0`), :math:`0^\gamma = 0` for :math:`\gamma > 0`, and the
two terms in the bracket are both >= 0 (no cancellation).  For :math:`\gamma = 0` the loss is
the α-weighted binary cross-entropy and the gradient :math:`\alpha_t (p_t - 1) s`.

The gradient is formed in the forward pass (it shares every intermediate); backward scales it.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ._checks import as_real_array, first_bad, float_data, nonnegative_weights, positive_number


def reference(logits, targets, alpha, gamma=2.0, weights=None, normalizer=1.0):
    """The documented formula, literally, in float64 NumPy (for tests; not stable in the tails)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    w = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    p = 1 / (1 + np.exp(-z))
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * alpha + (1 - y) * (1 - alpha)
    fl = -alpha_t * (1 - p_t) ** gamma * np.log(p_t)
    return float((w[:, None] * fl).sum() / normalizer)


class FocalLoss(Function):
    """The loss above on logits ``z`` (A, C); ``positive`` is the boolean target y (A, C),
    ``alpha`` (C,) and ``weights`` (A,) are arrays of z's dtype, ``gamma`` and ``normalizer``
    Python floats (all validated)."""

    def forward(self, z, positive, alpha, weights, gamma, normalizer):
        xp = array_module(z)
        q = xp.where(positive, z, -z)                # s·z
        e = xp.exp(-xp.abs(q))
        inv = 1 / (1 + e)
        e_inv = e * inv
        p_t = xp.where(q >= 0, inv, e_inv)           # σ(q)
        one_minus_p_t = xp.where(q >= 0, e_inv, inv)  # σ(-q)
        ell = xp.maximum(-q, 0) + xp.log1p(e)        # -log p_t = softplus(-q)
        alpha_t = xp.where(positive, alpha, 1 - alpha)
        focus = alpha_t * one_minus_p_t ** gamma     # α_t (1 - p_t)^γ
        w = weights[:, None]
        if self.needs_input_grad[0]:
            dfl_dq = focus * (gamma * p_t * ell + one_minus_p_t)   # = -∂FL/∂q
            self.grad = xp.where(positive, -dfl_dq, dfl_dq) * w / normalizer
        return xp.asarray((w * (focus * ell)).sum() / normalizer)

    def backward(self, g):
        return g * self.grad


def focal_loss(logits, targets, alpha, gamma=2.0, weights=None, normalizer=1.0):
    """RetinaNet's sigmoid focal loss, a scalar Tensor (see the module docstring).

    ``logits``: Tensor (A, C).  ``targets``: 0/1 array (A, C).  ``alpha``: class weights (C,) in
    [0, 1].  ``gamma`` >= 0.  ``weights``: None (all 1) or (A,) anchor weights >= 0 (0 for ignored
    anchors).  ``normalizer`` > 0 divides the sum.
    """
    z = float_data(logits, 'logits')
    if z.ndim != 2:
        raise HalconDLError(f'focal_loss needs logits of shape (anchors, classes), got {z.shape}')
    anchors, classes = z.shape
    xp = array_module(z)
    y = xp.asarray(targets)
    if y.shape != z.shape:
        raise HalconDLError(f'targets must have the logits shape {z.shape}, got {y.shape}')
    if y.dtype.kind not in 'biuf':
        raise HalconDLError(f'targets must hold 0/1 values, got dtype {y.dtype}')
    bad = (y != 0) & (y != 1)
    if bool(bad.any()):
        raise HalconDLError(f'targets must be 0 or 1, got {first_bad(y, bad)!r}')
    a = as_real_array(alpha, z, 'alpha')
    if a.shape != (classes,):
        raise HalconDLError(f'alpha must have shape ({classes},), got {a.shape}')
    bad = ~((a >= 0) & (a <= 1))
    if bool(bad.any()):
        raise HalconDLError(f'alpha (class weights) must lie in [0, 1], got {first_bad(a, bad)!r}')
    gamma = float(gamma)
    if not (math.isfinite(gamma) and gamma >= 0):
        raise HalconDLError(f'gamma must be a finite number >= 0, got {gamma!r}')
    w = (xp.ones(anchors, dtype=z.dtype) if weights is None
         else nonnegative_weights(weights, z, (anchors,)))
    return FocalLoss.apply(logits, positive=y == 1, alpha=a, weights=w, gamma=gamma,
                           normalizer=positive_number(normalizer, 'normalizer'))
