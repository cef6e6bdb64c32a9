"""Layers: Conv2d, Dense, BatchNorm2d (optionally fused with ReLU), ReLU and pools.

Weights are drawn with He (Kaiming) initialisation, N(0, 2/fan_in) with fan_in = inputs per
output (He et al. 2015, "Delving Deep into Rectifiers"), from the generator the caller passes,
always on the CPU in float64 and then cast, so every runtime and precision starts from the same
numbers.  Biases and BatchNorm shifts start at 0, BatchNorm scales at 1.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np

from .. import ops
from ..errors import HalconDLError
from .module import Buffer, Module, Parameter

_weight_budget = contextvars.ContextVar('weight_budget', default=None)


@contextlib.contextmanager
def weight_budget(nbytes: int, reason: str):
    """Within the block, weights drawn by ``he_normal`` may take ``nbytes`` in all; one that
    would exceed what is left raises HalconDLError (starting with ``reason``) before anything
    is allocated.  ``read_dl_model`` builds the network a file's parameters describe within
    the bytes of the file's layout, so a hostile parameter (a huge ``base_width``) cannot
    allocate more than the file holds."""
    token = _weight_budget.set([int(nbytes), reason])
    try:
        yield
    finally:
        _weight_budget.reset(token)


def he_normal(rng, shape, fan_in, dtype):
    """Samples of N(0, 2/fan_in) in ``dtype`` (a NumPy array)."""
    left = _weight_budget.get()
    if left is not None:
        need = math.prod(shape) * np.dtype(dtype).itemsize
        if need > left[0]:
            raise HalconDLError(f'{left[1]}: a weight of shape {tuple(shape)} needs {need} '
                                f'bytes, more than the {left[0]} bytes left')
        left[0] -= need
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Conv2d(Module):
    """y = conv2d(x, weight, bias); weight (Co, Ci, k, k).  With ``upsample`` = s > 1 the input
    is first upsampled (nearest, by s, cropped to ``size``): ``ops.upsample_conv2d``."""

    def __init__(self, ci, co, kernel_size, rng, stride=1, padding=0, dilation=1, bias=True,
                 dtype=np.float32):
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        k = kernel_size
        self.weight = Parameter(he_normal(rng, (co, ci, k, k), ci * k * k, dtype))
        self.bias = Parameter(np.zeros(co, dtype=dtype), regularize=False) if bias else None

    def forward(self, x, upsample=1, size=None):
        if upsample != 1:
            return ops.upsample_conv2d(x, self.weight, self.bias, upsample, size, self.stride,
                                       self.padding, self.dilation)
        return ops.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class Dense(Module):
    """y = x @ weightᵀ + bias; weight (out, in)."""

    def __init__(self, fan_in, fan_out, rng, bias=True, dtype=np.float32):
        super().__init__()
        self.weight = Parameter(he_normal(rng, (fan_out, fan_in), fan_in, dtype))
        self.bias = Parameter(np.zeros(fan_out, dtype=dtype), regularize=False) if bias else None

    def forward(self, x):
        y = ops.matmul(x, ops.transpose(self.weight))
        return y if self.bias is None else y + self.bias


class BatchNorm2d(Module):
    """Batch normalisation (see ``ops.batch_norm2d``), with ``relu=True`` fused with the ReLU.

    Running statistics: running = (1 - m)·running + m·batch, m = ``momentum``, with the
    unbiased batch variance (PyTorch's convention); ε = ``eps``.
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5, relu=False, dtype=np.float32):
        super().__init__()
        self.momentum, self.eps, self.relu = momentum, eps, relu
        self.gamma = Parameter(np.ones(channels, dtype=dtype), regularize=True)
        self.beta = Parameter(np.zeros(channels, dtype=dtype), regularize=False)
        self.running_mean = Buffer(np.zeros(channels, dtype=dtype))
        self.running_var = Buffer(np.ones(channels, dtype=dtype))

    def forward(self, x):
        return ops.batch_norm2d(x, self.gamma, self.beta, self.running_mean.data,
                                self.running_var.data, self.training, self.momentum, self.eps,
                                relu=self.relu)


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.args = (kernel_size, stride, padding)

    def forward(self, x):
        return ops.max_pool2d(x, *self.args)


class GlobalAvgPool2d(Module):
    """(N, C, H, W) -> (N, C)."""
    def forward(self, x):
        return ops.global_avg_pool2d(x)


class ConvBNReLU(Module):
    """conv (no bias: the BatchNorm shift takes its place) -> BatchNorm fused with ReLU;
    ``upsample``, ``size``: see :class:`Conv2d`."""

    def __init__(self, ci, co, kernel_size, rng, stride=1, padding=None, relu=True,
                 bn_momentum=0.1, dtype=np.float32):
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.conv = Conv2d(ci, co, kernel_size, rng, stride, padding, bias=False, dtype=dtype)
        self.bn = BatchNorm2d(co, momentum=bn_momentum, relu=relu, dtype=dtype)

    def forward(self, x, upsample=1, size=None):
        return self.bn(self.conv(x, upsample, size))
