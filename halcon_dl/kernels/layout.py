"""Channel-major memory layout for NCHW tensors.

Every 4-D activation is *logically* (N, C, H, W), as in the public API, but the kernels produce
it *physically* channel-major: a C-contiguous (C, N, H, W) buffer viewed through
``transpose(1, 0, 2, 3)``.  A convolution computed as ``W (Co, K) @ cols (K, N·Ho·Wo)`` then
lands in its output layout with no transpose, and per-channel work (BatchNorm, biases) sees each
channel as one contiguous row.  Element-wise NumPy/CuPy operations keep the layout of their
inputs, so it survives ReLU, additions and the like.
"""
from __future__ import annotations


def channel_major(x):
    """The (C, N, H, W) view of a logical NCHW array; copied only if not channel-major already."""
    xc = x.transpose(1, 0, 2, 3)
    return xc if xc.flags.c_contiguous else xc.copy()


def channel_rows(x):
    """A logical NCHW array as a (C, N·H·W) matrix of channel rows (a view when channel-major)."""
    c = x.shape[1]
    return channel_major(x).reshape(c, -1)


def from_channel_major(xc):
    """The logical NCHW view of a (C, N, H, W) buffer."""
    return xc.transpose(1, 0, 2, 3)
