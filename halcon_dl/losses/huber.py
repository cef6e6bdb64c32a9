r"""Huber loss in its smooth-L1 form: the detection box heads, β = 0.11 as in HALCON.

For predictions :math:`x`, targets :math:`y`, weights :math:`w \ge 0` (1 on positive anchors'
coordinates, 0 elsewhere) and normaliser :math:`n > 0` (the caller passes :math:`N_{pos}`):

.. math::

    d = x - y, \qquad
    h(d) = \begin{cases} \dfrac{0.5\, d^2}{\beta} & |d| < \beta \\[4pt]
                         |d| - 0.5\,\beta & \text{otherwise} \end{cases}, \qquad
    L = \frac{1}{n} \sum w \, h(d).

:math:`h` and :math:`h'` are continuous at :math:`|d| = \beta` (value :math:`\beta/2`, slope
:math:`\pm 1`).  Gradient, with :math:`g` the incoming scalar gradient:

.. math::

    \frac{\partial L}{\partial x} = \frac{g \, w}{n} \operatorname{clip}(d / \beta, -1, 1).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ._checks import as_real_array, float_data, nonnegative_weights, positive_number

BETA = 0.11


def reference(pred, target, beta=BETA, weights=None, normalizer=1.0):
    """The documented formula, literally, in float64 NumPy (for tests)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    h = np.where(np.abs(d) < beta, 0.5 * d ** 2 / beta, np.abs(d) - 0.5 * beta)
    w = 1.0 if weights is None else np.asarray(weights, dtype=np.float64)
    return float((w * h).sum() / normalizer)


class HuberLoss(Function):
    """The loss above on predictions ``x``; ``target`` and ``weights`` (broadcastable, or None)
    are arrays of x's dtype, ``beta`` and ``normalizer`` Python floats (all validated)."""

    def forward(self, x, target, weights, beta, normalizer):
        xp = array_module(x)
        d = x - target
        a = xp.abs(d)
        h = xp.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)
        if weights is not None:
            h *= weights
        self.d, self.weights, self.beta, self.normalizer = d, weights, beta, normalizer
        return xp.asarray(h.sum() / normalizer)

    def backward(self, g):
        xp = array_module(g)
        dx = xp.clip(self.d / self.beta, -1, 1) * (g / self.normalizer)
        return dx if self.weights is None else dx * self.weights


def huber_loss(pred, target, beta=BETA, weights=None, normalizer=1.0):
    """Smooth-L1 Huber loss, a scalar Tensor (see the module docstring).

    ``pred``: Tensor.  ``target``: array of the same shape.  ``beta`` > 0.  ``weights``: None
    (all 1) or an array broadcastable to ``pred``, finite and >= 0.  ``normalizer`` > 0.
    """
    x = float_data(pred, 'pred')
    t = as_real_array(target, x, 'target')
    if t.shape != x.shape:
        raise HalconDLError(f'target must have the shape of pred {x.shape}, got {t.shape}')
    w = None if weights is None else nonnegative_weights(weights, x, x.shape, broadcast=True)
    return HuberLoss.apply(pred, target=t, weights=w, beta=positive_number(beta, 'beta'),
                           normalizer=positive_number(normalizer, 'normalizer'))
