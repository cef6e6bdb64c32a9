"""Numerically stable elementwise and reduction kernels (raw arrays in, raw arrays out).

* ``logsumexp(z) = m + log Σ exp(z - m)``, m = max z: no overflow for large logits, and the
  largest term is exactly exp(0) = 1, so no underflow to log(0) either.
* ``softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^{-|z|})``: exact in both tails.
* ``log_sigmoid(z) = -softplus(-z)``.
* ``sigmoid(z) = (1 + tanh(z/2)) / 2``: one transcendental, no overflow for any z.

No hidden epsilons: these are identities, exact up to rounding.
"""
from __future__ import annotations

from ..backend import array_module


def logsumexp(z, axis, keepdims: bool = False):
    """log Σ_axis exp(z), computed around the maximum."""
    xp = array_module(z)
    m = z.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))   # all -inf (or inf) rows: no nan from m
    out = xp.log(xp.exp(z - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)


def softplus(z):
    """log(1 + exp(z)), stable for all z."""
    xp = array_module(z)
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


def log_sigmoid(z):
    """log σ(z) = -softplus(-z)."""
    return -softplus(-z)


def sigmoid(z):
    """σ(z) = 1 / (1 + exp(-z)) in the tanh form (1 + tanh(z/2)) / 2."""
    xp = array_module(z)
    return 0.5 * (1 + xp.tanh(0.5 * z))

