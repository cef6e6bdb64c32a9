"""Shape operations: reshape, transpose, concatenate, stack, indexing."""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import array_module
from ..kernels.segment import segment_sum


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


def _named_axes(ndim: int, index) -> int:
    """How many leading axes of x ``index`` names.  The axes after them are taken whole and
    stand, in order, at the end of x[index] (NumPy's rule for an index shorter than x.ndim).
    With an Ellipsis or a list among the items every axis counts as named (always correct)."""
    count = 0
    for item in index if isinstance(index, tuple) else (index,):
        if item is None:
            continue
        if isinstance(item, (int, slice)) and not isinstance(item, bool):
            count += 1
        elif getattr(item, 'dtype', None) is not None and item.dtype.kind in 'iub':
            count += item.ndim if item.dtype.kind == 'b' else 1
        else:
            return ndim
    return count


class GetItem(Function):
    """z = x[index];   dx[p] = Σ of g over the elements of z read from position p of x

    Saves the index and x's shape.  Basic indexing reads each element at most once, so dx is g
    placed at ``index``.  Advanced indexing (integer arrays, boolean masks, mixed with slices)
    may read an element several times.  Its backward finds, for every element of z, the
    position it was read from (``arange(P).reshape(x's leading shape)[index]``, so NumPy's own
    indexing rules decide) and sums g per position with the deterministic ``segment_sum``
    (sorted, pairwise, no atomic scatter-add): bit-identical on every run and on CPU and GPU.
    The axes that the index leaves whole are carried as rows, so ``x[idx]`` with x (A, K)
    sorts only the len(idx) row indices.
    """
    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        xp = array_module(g)
        if _is_basic(self.index):
            dx = xp.zeros(self.shape, dtype=g.dtype)
            dx[self.index] = g
            return dx
        lead = self.shape[:_named_axes(len(self.shape), self.index)]
        rows, row_size = math.prod(lead), math.prod(self.shape[len(lead):])
        source = xp.arange(rows).reshape(lead)[self.index]
        return segment_sum(source.reshape(-1), g.reshape(source.size, row_size),
                           rows).reshape(self.shape)


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
