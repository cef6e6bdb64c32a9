"""Module and Parameter: named, ordered parameters and buffers, train/eval mode, device moves.

A :class:`Parameter` is a leaf Tensor that requires a gradient and says whether the weight prior
(L2 regularisation) applies to it: yes for conv/dense kernels and BatchNorm scales, no for biases
and BatchNorm shifts (HALCON excludes biases from the weight prior).  A :class:`Module` registers the Parameters, buffers (raw arrays
such as BatchNorm running statistics) and sub-modules assigned to its attributes, in assignment
order, so names like ``'block1.conv.weight'`` are stable.
"""
from __future__ import annotations

from collections import OrderedDict

from ..autograd import Tensor
from ..backend import to_device


class Parameter(Tensor):
    """A trainable leaf Tensor; ``regularize`` marks it for the weight prior."""
    __slots__ = ('regularize',)

    def __init__(self, data, regularize: bool = True):
        super().__init__(data, requires_grad=True)
        self.regularize = bool(regularize)


class Buffer:
    """A raw array owned by a module but not trained (e.g. BatchNorm running statistics)."""
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


class Module:
    """Base class of layers and networks: ``forward`` computes, ``__call__`` calls it."""

    def __init__(self):
        object.__setattr__(self, '_children', OrderedDict())
        object.__setattr__(self, 'training', True)

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Buffer, Module)):
            self._children[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _walk(self, kind, prefix=''):
        for name, child in self._children.items():
            if isinstance(child, Module):
                yield from child._walk(kind, f'{prefix}{name}.')
            elif isinstance(child, kind):
                yield f'{prefix}{name}', child

    def named_parameters(self):
        """(name, Parameter) pairs in registration order."""
        return list(self._walk(Parameter))

    def named_buffers(self):
        """(name, Buffer) pairs in registration order."""
        return list(self._walk(Buffer))

    def named_modules(self, prefix=''):
        """(name, module) pairs of all sub-modules, depth first."""
        for name, child in self._children.items():
            if isinstance(child, Module):
                yield f'{prefix}{name}', child
                yield from child.named_modules(f'{prefix}{name}.')

    def modules(self):
        """This module and all sub-modules, depth first."""
        yield self
        for child in self._children.values():
            if isinstance(child, Module):
                yield from child.modules()

    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, 'training', bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def to(self, runtime: str):
        """Move every parameter and buffer to 'cpu' or 'gpu' (in place; gradients dropped)."""
        for _, p in self.named_parameters():
            p.data, p.grad = to_device(p.data, runtime), None
        for _, b in self.named_buffers():
            b.data = to_device(b.data, runtime)
        return self

    def astype(self, dtype):
        """Cast every parameter and buffer to ``dtype`` (in place; gradients dropped)."""
        for _, p in self.named_parameters():
            p.data, p.grad = p.data.astype(dtype), None
        for _, b in self.named_buffers():
            b.data = b.data.astype(dtype)
        return self


class Sequential(Module):
    """Sub-modules applied in order; named '0', '1', ..."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __iter__(self):
        return iter(self._children.values())

    def __len__(self):
        return len(self._children)

    def __getitem__(self, index: int):
        return list(self._children.values())[index]

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x
