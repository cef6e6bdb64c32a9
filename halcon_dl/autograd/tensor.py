"""Tensor: an array with an optional gradient and a link to the operation that produced it.

``Tensor(array, requires_grad=False)`` wraps a NumPy or CuPy array (``.data``).  A Tensor made
by the user is a *leaf*; a Tensor made by a recorded operation points at that operation's tape
node (``.node``) and its output slot (``.index``).  ``backward()`` fills ``.grad`` of the leaves
that require a gradient; gradients of intermediate Tensors are not kept.

Arithmetic operators (``+ - * / ** @``, unary ``-``, indexing) and the methods ``sum``, ``mean``,
``max``, ``reshape``, ``transpose`` are installed by :mod:`halcon_dl.ops`, the layer above.
"""
from __future__ import annotations

from ..backend import FLOAT_DTYPES, array_module, device_of, to_numpy
from ..errors import HalconDLError


class Tensor:
    __slots__ = ('data', 'grad', 'requires_grad', 'node', 'index', '__weakref__')
    __array_ufunc__ = None  # ndarray <op> Tensor defers to the Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        if not hasattr(data, 'dtype'):
            raise HalconDLError(
                f'Tensor needs a NumPy or CuPy array, got {type(data).__name__} '
                '(create the array with an explicit dtype first)')
        if requires_grad and data.dtype not in FLOAT_DTYPES:
            raise HalconDLError(
                f'only float32/float64 Tensors can require a gradient, got {data.dtype}')
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.node = None
        self.index = 0

    @classmethod
    def _from_node(cls, data, node, index):
        t = cls(data, requires_grad=True)
        t.node = node
        t.index = index
        return t

    # -- array-like properties ---------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: device_of(self.data))
    is_leaf = property(lambda self: self.node is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        flag = ', requires_grad=True' if self.requires_grad else ''
        return f'Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}{flag})'

    def numpy(self):
        """The values as a NumPy array (copied from the GPU where needed)."""
        return to_numpy(self.data)

    def item(self) -> float:
        """The single value of a one-element Tensor as a Python number."""
        if self.data.size != 1:
            raise HalconDLError(f'item() needs a one-element Tensor, got shape {self.shape}')
        return self.data.reshape(-1)[0].item()

    def detach(self) -> 'Tensor':
        """A new leaf sharing the data, cut from the tape."""
        return Tensor(self.data)

    def backward(self, grad=None):
        """Back-propagate from this Tensor; ``grad`` defaults to 1 for a one-element Tensor."""
        from .engine import backward
        if grad is None:
            if self.data.size != 1:
                raise HalconDLError(
                    f'backward() without a gradient needs a one-element Tensor, got {self.shape}')
            xp = array_module(self.data)
            grad = xp.ones(self.shape, dtype=self.dtype)
        backward(self, grad)
