"""Differentiable operations: Functions on raw arrays, wrapped for Tensors.

Importing this package also installs the arithmetic operators and the ``sum``/``mean``/``max``/
``reshape``/``transpose`` methods on :class:`~halcon_dl.autograd.Tensor`.
"""
from ..autograd import Tensor
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh
from .arithmetic import abs, add, div, exp, log, maximum, mul, neg, pow, sqrt, sub
from .conv import conv2d
from .linalg import matmul
from .normalization import batch_norm2d
from .pool import avg_pool2d, global_avg_pool2d, max_pool2d, upsample_nearest2d
from .reduction import max, mean, sum
from .shape import concatenate, getitem, reshape, stack, transpose
from .upsample_conv import upsample_conv2d

__all__ = [
    'add', 'sub', 'mul', 'div', 'neg', 'pow', 'exp', 'log', 'sqrt', 'abs', 'maximum',
    'sum', 'mean', 'max', 'reshape', 'transpose', 'concatenate', 'stack', 'getitem', 'matmul',
    'relu', 'leaky_relu', 'sigmoid', 'tanh', 'softplus', 'softmax', 'log_softmax',
    'conv2d', 'max_pool2d', 'avg_pool2d', 'global_avg_pool2d', 'batch_norm2d',
    'upsample_nearest2d', 'upsample_conv2d',
]


def _install_tensor_methods():
    def reflected(op):
        return lambda self, other: op(other, self)

    Tensor.__add__, Tensor.__radd__ = add, reflected(add)
    Tensor.__sub__, Tensor.__rsub__ = sub, reflected(sub)
    Tensor.__mul__, Tensor.__rmul__ = mul, reflected(mul)
    Tensor.__truediv__, Tensor.__rtruediv__ = div, reflected(div)
    Tensor.__pow__, Tensor.__rpow__ = pow, reflected(pow)
    Tensor.__matmul__, Tensor.__rmatmul__ = matmul, reflected(matmul)
    Tensor.__neg__ = neg
    Tensor.__getitem__ = getitem
    Tensor.sum, Tensor.mean, Tensor.max = sum, mean, max
    Tensor.reshape = lambda self, *shape: reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    Tensor.transpose = lambda self, *axes: transpose(
        self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))
    Tensor.T = property(lambda self: transpose(self))


_install_tensor_methods()
