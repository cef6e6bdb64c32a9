"""Deterministic segment sum: the adjoint of a gather, without atomic scatter-adds.

``segment_sum(keys, values, size)[k] = Σ_{i : keys[i] = k} values[i]`` (rows of ``values``; zero
where no key is k).  It is the backward of every gather ``y = x[keys]``: each gathered row adds
its gradient to the row it was read from, and a row read several times gets the sum.

``add.at(out, keys, values)`` computes the same, but on CuPy it is an atomic scatter-add: the
additions into one row happen in whatever order the GPU threads arrive, so float results vary
from run to run.  Here the order of every addition is fixed, and the same on NumPy and CuPy:

1. sort the rows by key, ties by position (the sort key is k·n + i, unique, so any sort
   algorithm gives the same order): the rows of one key keep the order they were gathered in;
2. inside each run of equal keys, add as a pairwise tree: in the round of span s = 1, 2, 4, ...
   the row at rank j (its place in the run) with j ≡ 0 (mod 2s) adds the row at rank j + s,
   where that exists.  After ⌈log2 c⌉ rounds the first row of a run of c rows holds their sum;
3. write the first row of each run to ``out[key]`` (distinct keys: a plain assignment).

Each addition adds the same two operands on either backend, so the CPU and the GPU agree bit
for bit and repeated runs are identical; the pairwise tree also bounds rounding by O(log c)
instead of the O(c) of a sequential loop.  Nothing is upcast: float32 stays float32.

Cost: one argsort of n int64 keys, O(n log n); ⌈log2 c⌉ rounds (c = the most repeats of a key),
each comparing the n keys and adding at most n / 2s rows; temporaries of a few int64 arrays of
length n and a sorted copy of ``values``.  Without repeats there is no round at all.
"""
from __future__ import annotations

from ..backend import array_module
from ..errors import HalconDLError


def segment_sum(keys, values, size: int):
    """out[k] = Σ over i with keys[i] == k of values[i], for k in range(size); keys: (n,) ints
    in [0, size), values: (n, ...) floats.  Deterministic, see the module docstring."""
    xp = array_module(values)
    n = keys.shape[0]
    out = xp.zeros((size,) + values.shape[1:], dtype=values.dtype)
    if n == 0:
        return out
    if size * n >= 2 ** 63:
        raise HalconDLError(f'segment_sum: {n} rows into {size} segments overflow the int64 sort key')
    keys = keys.astype(xp.int64)
    order = xp.argsort(keys * n + xp.arange(n, dtype=xp.int64))
    keys, rows = keys[order], values[order]
    starts_run = xp.ones(n, dtype=bool)
    starts_run[1:] = keys[1:] != keys[:-1]
    firsts = xp.flatnonzero(starts_run)
    rank = xp.arange(n) - firsts[xp.cumsum(starts_run) - 1]
    span = 1
    while span <= int(rank.max()):
        i = xp.flatnonzero((rank[:-span] % (2 * span) == 0) & (keys[span:] == keys[:-span]))
        rows[i] += rows[i + span]
        span *= 2
    out[keys[firsts]] = rows[firsts]
    return out
