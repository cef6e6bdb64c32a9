r"""Weighted softmax cross-entropy (HALCON's multinomial logistic loss): classification per image, segmentation per pixel.

For samples (images or pixels) :math:`i` with logits :math:`z_i \in \mathbb{R}^C`, target class
:math:`t_i \in \{0, \dots, C-1\}` and weight :math:`w_i \ge 0`:

.. math::

    L = -\frac{1}{W} \sum_i w_i \log \operatorname{softmax}(z_i)_{t_i},
    \qquad W = \sum_i w_i,
    \qquad \operatorname{softmax}(z)_c = \frac{e^{z_c}}{\sum_{k} e^{z_k}},

and :math:`L = 0` when :math:`W = 0` (every sample ignored).  Without weights, :math:`w_i = 1`.

Stable evaluation (log-sum-exp, never log(softmax)).  With :math:`m = \max_c z_c`,
:math:`e_c = e^{z_c - m}` and :math:`r = \sum_{c \ne t} e_c`, so that
:math:`s = \sum_c e_c = 1 + x` with :math:`x = r + \operatorname{expm1}(z_t - m)`:

.. math::

    -\log \operatorname{softmax}(z)_t = (m - z_t) + \operatorname{log1p}(x).

Both terms are >= 0 and each is computed to a few ulps, so the per-sample loss has a small
*relative* error even when it is tiny (a confident correct prediction, where
:math:`\log s` itself would round to 0).

Gradient, with :math:`g` the incoming scalar gradient and :math:`p = \operatorname{softmax}(z_i)`:

.. math::

    \frac{\partial L}{\partial z_{ic}} = g \frac{w_i}{W} \bigl(p_c - [c = t_i]\bigr),
    \qquad p_c = \frac{e_c}{s} \;(c \ne t_i), \qquad p_{t_i} - 1 = -\frac{r}{s},

the last form again without cancellation; it is exactly 0 where :math:`w_i = 0`, and everywhere
when :math:`W = 0`.

Layout: the class axis is moved to the front and the logits are viewed as a (C, L) matrix of
class rows; for NCHW logits in the channel-major layout (``kernels.layout``) this is
``channel_rows(logits)``, a view, and every reduction over classes is one vectorised pass along L.
The gradient is returned in the same layout (``from_channel_major`` for NCHW).  The target gather
and the target update index each column once (no scatter-add, deterministic).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ._checks import first_bad, float_data, nonnegative_weights


def reference(logits, target_index, weights=None, axis=1):
    """The documented formula, literally, in float64 NumPy (for tests; not for huge logits)."""
    z = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    z = z.reshape(-1, z.shape[-1])
    t = np.asarray(target_index).reshape(-1)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    big_w = w.sum()
    if big_w == 0:
        return 0.0
    return -(1 / big_w) * sum(w[i] * np.log(softmax[i, t[i]]) for i in range(len(t)))


class CrossEntropy(Function):
    """The loss above on logits ``z`` (class axis ``axis``); ``target`` holds the class index of
    every sample (intp, validated), ``weights`` their weights or None."""

    def forward(self, z, target, weights, axis):
        xp = array_module(z)
        c = z.shape[axis]
        moved = xp.moveaxis(z, axis, 0)
        length = moved.size // c
        rows = moved.reshape(c, length)             # (C, L): a view for channel-major NCHW
        flat = target.reshape(-1) * length + xp.arange(length)   # (t_i, i) in a (C, L) buffer
        e = xp.empty((c, length), dtype=z.dtype)
        xp.subtract(rows, rows.max(axis=0), out=e)   # z_c - m
        d_t = e.reshape(-1)[flat]                    # z_t - m
        xp.exp(e, out=e)
        e.reshape(-1)[flat] = 0                      # e_c for c != t only
        r = e.sum(axis=0)
        x = r + xp.expm1(d_t)                        # s - 1
        nll = xp.log1p(x) - d_t                      # (m - z_t) + log1p(x)
        w = weights.reshape(-1) if weights is not None else xp.ones(length, dtype=z.dtype)
        total = w.sum()
        big_w = xp.where(total > 0, total, xp.ones_like(total))   # W = 0: every w_i = 0
        self.shape, self.axis, self.flat = moved.shape, axis, flat
        self.e, self.r, self.s, self.w_over_big_w = e, r, 1 + x, w / big_w
        return xp.asarray((w * nll).sum() / big_w)

    def backward(self, g):
        xp = array_module(g)
        k = g * self.w_over_big_w / self.s           # g · (w_i / W) / s_i
        dz = self.e * k                              # p_c - 0 for c != t
        dz.reshape(-1)[self.flat] = -k * self.r      # p_t - 1 = -r / s
        return xp.moveaxis(dz.reshape(self.shape), 0, self.axis)


def cross_entropy(logits, target_index, weights=None, axis=1):
    """Weighted softmax cross-entropy, a scalar Tensor (see the module docstring).

    ``logits``: Tensor (N, C) or (N, C, H, W) (any shape with the class axis ``axis``).
    ``target_index``: integer array of the logits' shape without the class axis, values in
    [0, C).  ``weights``: None (all 1) or an array of the same shape, finite and >= 0.
    """
    z = float_data(logits, 'logits')
    if not -z.ndim <= axis < z.ndim:
        raise HalconDLError(f'axis {axis} is out of range for logits of shape {z.shape}')
    axis %= z.ndim
    c = z.shape[axis]
    if c < 1:
        raise HalconDLError(f'logits need at least one class along axis {axis}, got {z.shape}')
    xp = array_module(z)
    t = xp.asarray(target_index)
    shape = z.shape[:axis] + z.shape[axis + 1:]
    if t.dtype.kind not in 'iu':
        raise HalconDLError(f'target_index must hold integer class indices, got dtype {t.dtype}')
    if t.shape != shape:
        raise HalconDLError(f'target_index must have shape {shape} for logits of shape '
                            f'{z.shape} (class axis {axis}), got {t.shape}')
    bad = (t < 0) | (t >= c)
    if bool(bad.any()):
        raise HalconDLError(f'target_index must lie in [0, {c}), got {first_bad(t, bad)}')
    w = None if weights is None else nonnegative_weights(weights, z, shape)
    return CrossEntropy.apply(logits, target=t.astype(np.intp), weights=w, axis=axis)
