"""Function: one differentiable operation, forward and backward on raw arrays.

A subclass implements

* ``forward(self, *inputs, **params)``: raw arrays (or Python scalars) in, one raw array or a
  tuple of raw arrays out.  It may keep on ``self`` whatever backward needs.
* ``backward(self, *grad_outputs)``: one gradient array per output in, one gradient per
  positional input out (a tuple, or a single array for one input); ``None`` where an input needs
  no gradient (``self.needs_input_grad[i]`` is False).  The gradient may have the broadcast
  shape of the output: the engine reduces it to the input's shape once, then asserts shape and
  dtype.  Backward must not modify ``grad_outputs`` in place (they may be shared).

``Function.apply(*inputs, **params)`` runs forward and, when recording and any input requires a
gradient, appends a node to the tape: the node is the Function instance itself, carrying its
inputs and its position on the tape (``seq``).  Positional arguments are the differentiable
inputs (Tensors, raw arrays or Python scalars); keyword arguments are fixed parameters.
"""
from __future__ import annotations

import functools
import itertools
import threading

import numpy as np

from .tensor import Tensor

_tape_position = itertools.count()


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True while operations are recorded on the tape (the default)."""
    return _grad_mode.enabled


class no_grad:
    """Context manager (and decorator) under which nothing is recorded on the tape."""

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = False
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)
        return wrapper


def _constant(value):
    """A non-Tensor input.  NumPy scalars and 0-d NumPy arrays become Python scalars, which
    NumPy treats as weakly typed: ``float32_array * np.float64(2)`` would otherwise upcast."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    needs_input_grad: tuple = ()
    inputs: tuple = ()          # the Tensor (or None for a constant) of each positional input
    seq: int = -1               # position on the tape
    output_meta: tuple = ()     # (shape, dtype, array module) of each output

    def forward(self, *inputs, **params):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **params):
        fn = cls()
        raw = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                needs.append(a.requires_grad)
            else:
                raw.append(_constant(a))
                needs.append(False)
        record = _grad_mode.enabled and any(needs)
        fn.needs_input_grad = tuple(needs) if record else (False,) * len(args)
        out = fn.forward(*raw, **params)
        outs = out if isinstance(out, tuple) else (out,)
        if record:
            fn.inputs = tuple(a if isinstance(a, Tensor) and a.requires_grad else None
                              for a in args)
            fn.seq = next(_tape_position)
            fn.output_meta = tuple((o.shape, o.dtype) for o in outs)
            results = tuple(Tensor._from_node(o, fn, i) for i, o in enumerate(outs))
        else:
            results = tuple(Tensor(o) for o in outs)
        return results if isinstance(out, tuple) else results[0]
