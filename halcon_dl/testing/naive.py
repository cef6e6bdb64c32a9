"""Naive loop oracles: the textbook definitions, one output element at a time, in NumPy.

Slow on purpose and written without im2col, phases or layouts, so they share no code (and no
bug) with the kernels they check.
"""
from __future__ import annotations

import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """y[n,o,r,c] = b[o] + Σ_{k,i,j} w[o,k,i,j] · x[n, k, s·r + d·i - p, s·c + d·j - p] (0 outside)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, ci, h, wd = x.shape
    co, _, kh, kw = w.shape
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, co, ho, wo), dtype=np.result_type(x, w))
    for r in range(ho):
        for c in range(wo):
            for i in range(kh):
                for j in range(kw):
                    rr, cc = sh * r + dh * i - ph, sw * c + dw * j - pw
                    if 0 <= rr < h and 0 <= cc < wd:
                        y[:, :, r, c] += x[:, :, rr, cc] @ w[:, :, i, j].T
    if b is not None:
        y += b[None, :, None, None]
    return y


def _pool(x, kernel, stride, padding, reduce, pad_value):
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(kernel if stride is None else stride)
    n, c, h, w = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for r in range(ho):
        for q in range(wo):
            window = np.full((n, c, kh, kw), pad_value, dtype=x.dtype)
            for i in range(kh):
                for j in range(kw):
                    rr, cc = sh * r + i - ph, sw * q + j - pw
                    if 0 <= rr < h and 0 <= cc < w:
                        window[:, :, i, j] = x[:, :, rr, cc]
            y[:, :, r, q] = reduce(window.reshape(n, c, -1))
    return y


def max_pool2d(x, kernel, stride=None, padding=0):
    return _pool(x, kernel, stride, padding, lambda v: v.max(axis=2), -np.inf)


def avg_pool2d(x, kernel, stride=None, padding=0):
    """Mean over the kh·kw window, padding counted as zeros."""
    return _pool(x, kernel, stride, padding, lambda v: v.mean(axis=2), 0.0)


def upsample_nearest2d(x, scale, size=None):
    n, c, h, w = x.shape
    ho, wo = (h * scale, w * scale) if size is None else size
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for r in range(ho):
        for q in range(wo):
            y[:, :, r, q] = x[:, :, r // scale, q // scale]
    return y


def batch_norm2d_train(x, gamma, beta, eps):
    """(x - mean) / sqrt(biased var + eps) · gamma + beta over axes (0, 2, 3), in float64."""
    x = x.astype(np.float64)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]
