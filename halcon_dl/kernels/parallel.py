"""Run a memory-bound NumPy kernel over disjoint channel ranges on a small thread pool.

NumPy releases the GIL inside copies and ufunc loops, so slice copies (im2col, col2im) and
elementwise passes on two cores run nearly twice as fast when split over threads (measured in
``benchmarks/bench_kernels.py``).  Each thread owns a disjoint range of the output, so results
are identical to a serial run: no reduction order changes, determinism is kept.

GPU (CuPy) arrays never use the pool: CuPy kernels are asynchronous and already parallel.
The thread count is the number of usable cores, or ``HALCON_DL_NUM_THREADS`` when set.
"""
from __future__ import annotations

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_pool = None
_threads = None
MIN_ELEMENTS_PER_THREAD = 1 << 16   # below this a thread costs more than it saves
CACHE_BLOCK_ELEMENTS = 1 << 17      # 512 KiB of float32: a few such rows fit a 2 MiB L2 cache


def rows_per_block(row_length: int) -> int:
    """Rows of ``row_length`` elements per cache block (at least 1)."""
    return max(1, CACHE_BLOCK_ELEMENTS // max(1, row_length))


def num_threads() -> int:
    """Threads used for memory-bound kernels on the CPU."""
    global _threads
    if _threads is None:
        env = os.environ.get('HALCON_DL_NUM_THREADS')
        if env:
            _threads = max(1, int(env))
        else:
            try:
                _threads = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                _threads = os.cpu_count() or 1
    return _threads


def set_num_threads(n: int) -> None:
    """Set the thread count for memory-bound CPU kernels (1 = serial)."""
    global _threads, _pool
    if int(n) < 1:
        raise ValueError(f'thread count must be >= 1, got {n}')
    _threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def parallel_for(fn, n: int, xp, work: int = 0, rows_per_call: int = 0) -> None:
    """Call ``fn(lo, hi)`` over contiguous ranges covering ``range(n)``.

    The ranges run on the thread pool when ``xp`` is NumPy, more than one thread is configured
    and ``work`` (elements touched in total) is large enough; otherwise ``fn(0, n)`` runs here.
    ``rows_per_call`` > 0 cuts every range further into calls of at most that many rows, so
    that the several passes a kernel makes over one call's rows stay in cache.
    """
    global _pool
    if rows_per_call > 0:
        whole = fn

        def fn(lo, hi):
            for start in range(lo, hi, rows_per_call):
                whole(start, min(hi, start + rows_per_call))
    threads = min(num_threads(), n)
    if xp is not np or threads < 2 or work < MIN_ELEMENTS_PER_THREAD * threads:
        fn(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=num_threads(), thread_name_prefix='halcon_dl')
    bounds = [n * k // threads for k in range(threads + 1)]
    # each range runs in a copy of the caller's context, so np.errstate (a context variable)
    # applies in the threads as it does here
    futures = [_pool.submit(contextvars.copy_context().run, fn, lo, hi)
               for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    for f in futures:
        f.result()
