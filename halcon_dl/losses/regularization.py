r"""The weight prior (L2 regularisation), HALCON's ``weight_prior`` α >= 0:

.. math::

    R = \frac{\alpha}{2} \sum_k \sum_j w_{kj}^2, \qquad
    \frac{\partial R}{\partial w_k} = \alpha \, w_k,

over the parameter arrays :math:`w_k` the caller passes: as in HALCON those are every parameter
except biases, i.e. conv/dense kernels and BatchNorm scales (γ) are included, conv/dense biases
and BatchNorm shifts (β) are excluded, and this selection is the caller's job.

The value is a Python float accumulated in float64 (float32 parameters are widened first, so the
squares are exact); the gradient keeps the parameter's dtype and device.  The training step adds
the gradient once per update, not once per sub-batch (HALCON: the weight prior is part of the total loss of the step).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import HalconDLError
from ._checks import float_data


def reference(arrays, alpha):
    """The documented formula, literally, in float64 NumPy (for tests)."""
    return alpha / 2 * sum(float((np.asarray(a, dtype=np.float64) ** 2).sum()) for a in arrays)


def _check_alpha(alpha) -> float:
    a = float(alpha)
    if not (math.isfinite(a) and a >= 0):
        raise HalconDLError(f'weight prior alpha must be a finite number >= 0, got {alpha!r}')
    return a


def weight_prior_loss(arrays, alpha) -> float:
    """(α/2) Σ_k Σ w_k² over ``arrays`` (Tensors or float arrays, non-bias parameters only)."""
    alpha = _check_alpha(alpha)
    total = 0.0
    for k, a in enumerate(arrays):
        w = float_data(a, f'parameter {k}')
        w64 = w.astype(array_module(w).float64, copy=False)
        total += float((w64 * w64).sum())
    return alpha / 2 * total


def weight_prior_gradient(array, alpha):
    """α·w for one parameter array (a raw array of the parameter's dtype)."""
    return _check_alpha(alpha) * float_data(array, 'parameter')
