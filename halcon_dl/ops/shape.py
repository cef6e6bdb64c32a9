"""Shape operations: reshape, transpose, concatenate, stack, indexing."""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module


class Reshape(Function):
    """z = x viewed with a new shape;   dx = g reshaped back"""
    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Transpose(Function):
    """z = x with its axes permuted (reversed when ``axes`` is None);   dx = g permuted back"""
    def forward(self, x, axes=None):
        self.axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return g.transpose(inverse)


class Concatenate(Function):
    """z = [x_1, ..., x_k] joined along ``axis``;   dx_i = the slice of g where x_i landed"""
    def forward(self, *xs, axis=0):
        self.axis = axis % xs[0].ndim
        self.bounds = [0]
        for x in xs:
            self.bounds.append(self.bounds[-1] + x.shape[self.axis])
        return array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(lo, hi),)] if need else None
                     for lo, hi, need in zip(self.bounds[:-1], self.bounds[1:],
                                             self.needs_input_grad))


class Stack(Function):
    """z = [x_1, ..., x_k] stacked along a new ``axis``;   dx_i = g[..., i, ...]"""
    def forward(self, *xs, axis=0):
        self.axis = axis % (xs[0].ndim + 1)
        return array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (i,)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


def _is_basic(index) -> bool:
    """True for basic indexing (ints, slices, None, Ellipsis): no element is selected twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    """z = x[index];   dx = zeros with g placed (basic) or added (integer arrays) at index

    Integer-array indices may repeat an element; their gradients are then summed (scatter-add).
    """
    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        xp = array_module(g)
        dx = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            dx[self.index] = g
        else:
            xp.add.at(dx, self.index, g)
        return dx


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape) if not isinstance(shape, int) else (shape,))


def transpose(x, axes=None):
    return Transpose.apply(x, axes=axes)


def concatenate(xs, axis=0):
    return Concatenate.apply(*xs, axis=axis)


def stack(xs, axis=0):
    return Stack.apply(*xs, axis=axis)


def getitem(x, index):
    return GetItem.apply(x, index=index)
