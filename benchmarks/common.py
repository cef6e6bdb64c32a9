"""Shared helpers for the benchmarks: the machine's matmul rate, timers, peak memory.

Times are reported as fractions of the matmul rate measured in the same run (the physical
limit of this machine), since shared machines drift by tens of percent over minutes.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np

from halcon_dl.backend import array_module, retain_freed_memory

retain_freed_memory()   # as the training operator does: reuse freed memory, no page faults


def synchronize(xp):
    if xp is not np:
        xp.cuda.Stream.null.synchronize()


def matmul_rate(xp=np, n=2048, repeats=5, dtype=np.float32) -> float:
    """Best FLOP/s of an n x n x n matrix product (float32) on the array module ``xp``."""
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype=dtype)
    b = xp.asarray(np.random.default_rng(1).standard_normal((n, n)), dtype=dtype)
    best = float('inf')
    for _ in range(repeats + 1):
        synchronize(xp)
        t0 = time.perf_counter()
        a @ b
        synchronize(xp)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def timed(fn, xp=np):
    """Seconds one call of ``fn`` takes (synchronised on the GPU)."""
    synchronize(xp)
    t0 = time.perf_counter()
    fn()
    synchronize(xp)
    return time.perf_counter() - t0


def peak_memory(fn) -> int:
    """Peak bytes traced (NumPy reports its buffers to tracemalloc) during one call of ``fn``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def module_of(runtime):
    if runtime == 'gpu':
        from halcon_dl.backend import cupy_module
        return cupy_module()
    return np


__all__ = ['matmul_rate', 'timed', 'peak_memory', 'module_of', 'array_module']
