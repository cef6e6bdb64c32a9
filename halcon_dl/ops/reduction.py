"""Reductions over axes: sum, mean, max (``axis`` None, an int or a tuple; ``keepdims``)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def _expand(g, axes, keepdims):
    """Re-insert the reduced axes (as size 1) into an output gradient."""
    if keepdims:
        return g
    for a in axes:
        g = array_module(g).expand_dims(g, a)
    return g


class Sum(Function):
    """z = Σ_axes x;   dx = g broadcast back over the reduced axes"""
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return array_module(g).broadcast_to(_expand(g, self.axes, self.keepdims), self.shape)


class Mean(Function):
    """z = (1/n) Σ_axes x, n = number of reduced elements;   dx = g / n broadcast back"""
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        self.count = 1
        for a in self.axes:
            self.count *= x.shape[a]
        return x.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = _expand(g, self.axes, self.keepdims) / self.count
        return array_module(g).broadcast_to(g, self.shape)


class Max(Function):
    """z = max_axes x;   dx = g · [x = z] / #{x = z}   (ties share the gradient evenly)"""
    def forward(self, x, axis=None, keepdims=False):
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        zk = x.max(axis=self.axes, keepdims=True)
        self.mask = x == zk
        return zk if keepdims else zk.squeeze(axis=self.axes)

    def backward(self, g):
        count = self.mask.sum(axis=self.axes, keepdims=True)
        g = _expand(g, self.axes, self.keepdims)
        return (g / count.astype(g.dtype)) * self.mask


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the op's name
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - the op's name
    return Max.apply(x, axis=axis, keepdims=keepdims)
