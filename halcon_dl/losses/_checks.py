"""Argument checks shared by the loss functions: every bad input raises :class:`HalconDLError`
with the offending name and value, before any computation."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor
from ..backend import FLOAT_DTYPES, array_module
from ..errors import HalconDLError


def float_data(x, what: str):
    """The raw array of a Tensor (or array) ``x``, which must be float32 or float64."""
    data = x.data if isinstance(x, Tensor) else x
    if not hasattr(data, 'dtype') or data.dtype not in FLOAT_DTYPES:
        raise HalconDLError(f'{what} must be a float32 or float64 array or Tensor, got '
                            f'{getattr(data, "dtype", type(data).__name__)}')
    return data


def positive_number(value, what: str) -> float:
    """``value`` as a Python float, which must be finite and > 0."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise HalconDLError(f'{what} must be a finite number > 0, got {value!r}')
    return v


def as_real_array(values, like, what: str):
    """``values`` as an array on the device of ``like`` with ``like``'s float dtype (so a float32
    loss stays float32); bool, integer and float inputs are accepted."""
    dtype = np.dtype(values.dtype if hasattr(values, 'dtype') else np.asarray(values).dtype)
    if dtype.kind not in 'biuf':
        raise HalconDLError(f'{what} must hold real numbers, got dtype {dtype}')
    return array_module(like).asarray(values, dtype=like.dtype)


def first_bad(values, bad):
    """The first element of ``values`` where the boolean mask ``bad`` holds (a Python number)."""
    return values[bad].reshape(-1)[0].item()


def nonnegative_weights(weights, like, shape, what: str = 'weights', broadcast: bool = False):
    """Per-element weights as an array like ``like``: finite and >= 0, of exactly ``shape`` (or,
    with ``broadcast``, of a shape that broadcasts to ``shape``)."""
    w = as_real_array(weights, like, what)
    fits = _broadcast_shape(w.shape, shape) if broadcast else w.shape
    if fits != tuple(shape):
        relation = 'broadcastable to' if broadcast else 'of shape'
        raise HalconDLError(f'{what} must be {relation} {tuple(shape)}, got shape {w.shape}')
    bad = ~(array_module(w).isfinite(w) & (w >= 0))
    if bool(bad.any()):
        raise HalconDLError(f'{what} must be finite and >= 0, got {first_bad(w, bad)!r}')
    return w


def _broadcast_shape(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None
