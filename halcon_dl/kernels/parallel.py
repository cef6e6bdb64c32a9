"""CPU parallelism of halcon_dl: a small thread pool that owns both cores.

NumPy releases the GIL inside copies, ufunc loops and matrix products, so Python threads run
them in parallel.  halcon_dl splits its heavy kernels into independent tasks (a convolution by
batch chunks, BatchNorm by channel blocks, im2col by channel ranges) and runs them on a pool of
``num_threads()`` threads.  Each task writes its own part of the output, and partial sums are
added in a fixed order, so a run is bit-identical to any other run with the same thread count.

The BLAS library is kept at one thread while the pool runs: two threads each calling a
multi-threaded BLAS would oversubscribe the cores, and idle OpenBLAS workers busy-wait after
every call, taking a core from the copy threads (measured: ~20 % of a training step).  The
setting is made through the OpenBLAS library NumPy has loaded (found in /proc/self/maps); where
it cannot be controlled, tasks that call BLAS run one after the other instead.

GPU (CuPy) arrays never use the pool: CuPy kernels are asynchronous and already parallel.
The thread count is the number of usable cores, or ``HALCON_DL_NUM_THREADS`` when set.
"""
from __future__ import annotations

import contextlib
import contextvars
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_pool = None
_threads = None
_local = threading.local()          # .inside: this thread is a pool worker running a task
MIN_ELEMENTS_PER_THREAD = 1 << 16   # below this a thread costs more than it saves
CACHE_BLOCK_ELEMENTS = 1 << 17      # 512 KiB of float32: a few such rows fit a 2 MiB L2 cache


def rows_per_block(row_length: int) -> int:
    """Rows of ``row_length`` elements per cache block (at least 1)."""
    return max(1, CACHE_BLOCK_ELEMENTS // max(1, row_length))


def num_threads() -> int:
    """Threads used for CPU kernels."""
    global _threads
    if _threads is None:
        env = os.environ.get('HALCON_DL_NUM_THREADS')
        if env:
            if not env.strip().isdigit() or int(env) < 1:
                from ..errors import HalconDLError
                raise HalconDLError(f'HALCON_DL_NUM_THREADS must be an integer >= 1 (the CPU '
                                    f'threads of the kernels), got {env!r}')
            _threads = int(env)
        else:
            try:
                _threads = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                _threads = os.cpu_count() or 1
    return _threads


def set_num_threads(n: int) -> None:
    """Set the thread count for CPU kernels (1 = serial)."""
    global _threads, _pool
    if int(n) < 1:
        raise ValueError(f'thread count must be >= 1, got {n}')
    _threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


# -- BLAS thread control -------------------------------------------------------------------------
_BLAS_SETTERS = ('openblas_set_num_threads', 'scipy_openblas_set_num_threads64_',
                 'scipy_openblas_set_num_threads_', 'openblas_set_num_threads64_')
_blas = []   # [(get, set)] once looked up; empty list = not looked up, [None] = not controllable


def _blas_control():
    """(get_threads, set_threads) of the OpenBLAS that NumPy loaded, or None."""
    if not _blas:
        _blas.append(None)
        try:
            with open('/proc/self/maps') as maps:
                paths = {line.split()[-1] for line in maps if 'openblas' in line.lower()}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for setter in _BLAS_SETTERS:
                getter = setter.replace('_set_', '_get_')
                if hasattr(lib, setter) and hasattr(lib, getter):
                    get, put = getattr(lib, getter), getattr(lib, setter)
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    _blas[0] = (get, put)
                    break
            if _blas[0] is not None:
                break
    return _blas[0]


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with the BLAS at one thread (restored after); yields False when the BLAS
    thread count cannot be controlled."""
    control = _blas_control()
    if control is None:
        yield False
        return
    get, put = control
    previous = get()
    if previous != 1:
        put(1)
    try:
        yield True
    finally:
        if previous != 1:
            put(previous)


# -- the pool ------------------------------------------------------------------------------------
class _Section:
    """The tasks of one ``parallel_for`` call: how many are running, and whether the caller has
    given up on them (an exception or Ctrl-C while it waited)."""

    def __init__(self):
        self.changed = threading.Condition()
        self.running = 0
        self.abandoned = False

    def run(self, fn, lo, hi):
        with self.changed:
            if self.abandoned:          # queued before the caller gave up: do not start
                return
            self.running += 1
        _local.inside = True
        try:
            fn(lo, hi)
        finally:
            _local.inside = False
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def abandon(self):
        """No task of this call starts any more; returns once the running ones have ended."""
        with self.changed:
            self.abandoned = True
            self.changed.wait_for(lambda: self.running == 0)


def parallel_for(fn, n: int, xp, work: int = 0, rows_per_call: int = 0,
                 uses_blas: bool = False) -> None:
    """Call ``fn(lo, hi)`` over contiguous ranges covering ``range(n)``.

    The ranges run on the thread pool when ``xp`` is NumPy, more than one thread is configured,
    ``work`` (elements touched in total) is large enough and this is not already a pool task
    (nested calls run serially); otherwise ``fn(0, n)`` runs here.  ``rows_per_call`` > 0 cuts
    every range further into calls of at most that many rows, so that the several passes a
    kernel makes over one call's rows stay in cache.  ``uses_blas``: the tasks call BLAS; they
    run with the BLAS at one thread, or serially where that cannot be arranged.  The calling
    thread runs the first range itself.  When a task fails or Ctrl-C arrives (which may cut the
    caller's own range short), the running tasks finish before the exception is raised here,
    and the tasks not yet started are dropped.
    """
    global _pool
    if rows_per_call > 0:
        whole = fn

        def fn(lo, hi):
            for start in range(lo, hi, rows_per_call):
                whole(start, min(hi, start + rows_per_call))
    threads = min(num_threads(), n)
    if (xp is not np or threads < 2 or work < MIN_ELEMENTS_PER_THREAD * threads
            or getattr(_local, 'inside', False)):
        fn(0, n)
        return
    with single_threaded_blas() if uses_blas else contextlib.nullcontext(True) as ok:
        if not ok:
            fn(0, n)
            return
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=num_threads(), thread_name_prefix='halcon_dl')
        bounds = [n * k // threads for k in range(threads + 1)]
        ranges = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        section = _Section()
        try:
            # each range runs in a copy of the caller's context, so np.errstate (a context
            # variable) applies in the threads as it does here; the first range runs here,
            # while the pool's threads wake up (an empty section: 98 -> 78 µs, one with
            # 2 x 1.4 ms of work 0.90 -> 0.80 ms, measured on the 2-core machine)
            futures = [_pool.submit(contextvars.copy_context().run, section.run, fn, lo, hi)
                       for lo, hi in ranges[1:]]
            section.run(fn, *ranges[0])
            for f in futures:
                f.result()
        except BaseException:
            # Ctrl-C (KeyboardInterrupt reaches only this thread) or a failed task: the tasks
            # not started yet are skipped and the running ones finish before the exception goes
            # on, so no worker still writes into the caller's arrays or runs during exit.  (A
            # list of futures would miss a task queued just before the interrupt.)
            section.abandon()
            raise
