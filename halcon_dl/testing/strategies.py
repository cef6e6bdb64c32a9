"""Hypothesis strategies for the test suite: shapes, arrays (also non-contiguous), broadcastable
pairs and valid convolution / pooling geometry.  Requires the ``test`` extra (hypothesis)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


@st.composite
def arrays(draw, shape, dtype=np.float64, low=-2.0, high=2.0, away_from=None, gap=1e-3,
           contiguous=None):
    """A float array of ``shape`` with values in [low, high].

    ``away_from``: values keep at least ``gap`` from this point (kinks of relu/abs at 0).
    ``contiguous``: False forces a non-contiguous view with the same values, None draws it.
    """
    shape = tuple(shape)
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(
        low, high, allow_nan=False, allow_infinity=False, width=64)))
    if away_from is not None:
        near = np.abs(values - away_from) < gap
        values = np.where(near, away_from + np.where(values >= away_from, gap, -gap) * 2, values)
    values = values.astype(dtype)
    if contiguous is None:
        contiguous = draw(st.booleans())
    return values if contiguous or values.ndim == 0 else noncontiguous(values)


def noncontiguous(values):
    """The same values as a strided view into a larger buffer (every other element)."""
    buf = np.zeros(tuple(2 * n for n in values.shape), dtype=values.dtype)
    view = buf[tuple(slice(None, None, 2) for _ in values.shape)]
    view[...] = values
    return view


@st.composite
def distinct_arrays(draw, shape, dtype=np.float64, gap=1e-2):
    """Values pairwise at least ``gap`` apart (so max/argmax has no near-ties), shuffled."""
    n = int(np.prod(shape))
    base = np.arange(n, dtype=np.float64) * gap - n * gap / 2
    jitter = draw(st.floats(0, gap / 4))
    order = draw(st.permutations(range(n)))
    return (base[list(order)] + jitter).reshape(shape).astype(dtype)


def broadcastable_pair(max_dims=4, max_side=4):
    """Two shapes that broadcast together."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: r.input_shapes)


@st.composite
def conv_geometry(draw, max_batch=4, max_channels=4, max_kernel=5, max_stride=3, max_padding=2,
                  max_dilation=2, max_side=9):
    """A valid conv2d geometry: dict(n, ci, co, h, w, kh, kw, stride, padding, dilation)."""
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    dh, dw = draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))
    ph, pw = draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = draw(st.integers(max(1, span_h - 2 * ph), max(max_side, span_h)))
    w = draw(st.integers(max(1, span_w - 2 * pw), max(max_side, span_w)))
    return dict(n=draw(st.integers(1, max_batch)), ci=draw(st.integers(1, max_channels)),
                co=draw(st.integers(1, max_channels)), h=h, w=w, kh=kh, kw=kw,
                stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))


@st.composite
def same_padded_geometry(draw, max_batch=3, max_channels=3, max_stride=3, max_side=9):
    """A conv2d geometry with 'same' padding: odd kernel k in {1, 3, 5}, dilation d in {1, 2},
    padding d(k-1)/2 per axis, any stride — the layers of the library's networks."""
    kh, kw = draw(st.sampled_from((1, 3, 5))), draw(st.sampled_from((1, 3, 5)))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return dict(n=draw(st.integers(1, max_batch)), ci=draw(st.integers(1, max_channels)),
                co=draw(st.integers(1, max_channels)), h=draw(st.integers(1, max_side)),
                w=draw(st.integers(1, max_side)), kh=kh, kw=kw,
                stride=(draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))),
                padding=(dh * (kh - 1) // 2, dw * (kw - 1) // 2), dilation=(dh, dw))


@st.composite
def pool_geometry(draw, max_batch=3, max_channels=3, max_kernel=4, max_stride=3, max_side=9):
    """A valid pooling geometry: padding at most half the kernel, window fits the input."""
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = draw(st.none() | st.tuples(st.integers(1, max_stride), st.integers(1, max_stride)))
    h = draw(st.integers(max(1, kh - 2 * ph), max(max_side, kh)))
    w = draw(st.integers(max(1, kw - 2 * pw), max(max_side, kw)))
    return dict(n=draw(st.integers(1, max_batch)), c=draw(st.integers(1, max_channels)), h=h, w=w,
                kernel=(kh, kw), stride=stride, padding=(ph, pw))
