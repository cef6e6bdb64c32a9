"""Tape-based reverse-mode automatic differentiation on raw NumPy/CuPy arrays."""
from .engine import backward, unbroadcast
from .function import Function, is_grad_enabled, no_grad
from .tensor import Tensor

__all__ = ['Tensor', 'Function', 'no_grad', 'is_grad_enabled', 'backward', 'unbroadcast']
