"""Array backend: which array module an array belongs to, device moves, dtype policy, RNG.

halcon_dl runs one code path on NumPy (``runtime='cpu'``) and on CuPy (``runtime='gpu'``).
Library code never calls ``np.zeros``/``np.arange``/... on data directly: it asks
``xp = array_module(x)`` and uses ``xp.zeros(..., dtype=x.dtype)``, so a NumPy array can never
leak into a CuPy computation.  CuPy is imported lazily, on first need: without it everything on
the CPU works and every GPU request raises :class:`HalconDLError` with the reason.

Dtype policy: float32 is the working precision, float64 is allowed everywhere (for checks).
Nothing is upcast silently: float32 in gives float32 out.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from .errors import HalconDLError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)
RUNTIMES = ('cpu', 'gpu')

_cupy = None          # the cupy module once imported
_cupy_error = None    # why it could not be imported / used, once known


def _load_cupy():
    """Import CuPy once; return the module or None (the reason is kept in ``_cupy_error``)."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError('CuPy found no CUDA device')
            _cupy = cupy
        except Exception as exc:  # ImportError, CUDA driver errors, ...
            _cupy_error = f'{type(exc).__name__}: {exc}'
    return _cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _load_cupy() is not None


def cupy_module():
    """The cupy module, or :class:`HalconDLError` explaining why the GPU runtime is unavailable."""
    cp = _load_cupy()
    if cp is None:
        raise HalconDLError(
            "runtime 'gpu' needs CuPy and a CUDA device (install the 'gpu' extra: "
            f"pip install 'halcon-dl[gpu]'); unavailable here: {_cupy_error}")
    return cp


def is_gpu_array(x) -> bool:
    """True for a CuPy ndarray (checked without importing CuPy)."""
    return type(x).__module__.split('.')[0] == 'cupy'


def array_module(*arrays):
    """The array module (numpy or cupy) of the given arrays.

    CuPy wins when any argument is a CuPy array; ``None`` and Python scalars are ignored.
    """
    for a in arrays:
        if is_gpu_array(a):
            return _cupy if _cupy is not None else cupy_module()
    return np


def device_of(x) -> str:
    """'gpu' for a CuPy array, 'cpu' otherwise."""
    return 'gpu' if is_gpu_array(x) else 'cpu'


def check_runtime(runtime: str) -> str:
    """Validate a runtime name; 'gpu' also checks that CuPy and a device are there."""
    if runtime not in RUNTIMES:
        raise HalconDLError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == 'gpu':
        cupy_module()
    return runtime


def to_device(x, runtime: str):
    """Move an array to 'cpu' (NumPy) or 'gpu' (CuPy); an array already there is returned as is."""
    check_runtime(runtime)
    if runtime == 'gpu':
        cp = cupy_module()
        return x if is_gpu_array(x) else cp.asarray(x)
    return x.get() if is_gpu_array(x) else np.asarray(x)


def to_numpy(x):
    """A NumPy array with the values of ``x`` (copied from the GPU where needed)."""
    return x.get() if is_gpu_array(x) else np.asarray(x)


def check_float_dtype(dtype) -> np.dtype:
    """Normalise a float dtype; only float32 and float64 are working precisions."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise HalconDLError(f"precision must be 'float32' or 'float64', got {dtype!r}")
    return dt


def make_rng(seed) -> np.random.Generator:
    """A seeded NumPy generator (PCG64).

    Random draws (weight initialisation, data generation) are always made on the CPU with such a
    generator and then moved, so CPU and GPU models created with the same seed start identical.
    """
    return np.random.default_rng(seed)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3     # glibc mallopt parameter numbers
_memory_retained = False


def retain_freed_memory(enable: bool = True) -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    By default glibc unmaps large freed blocks and trims the heap, so every training step
    page-faults its buffers in again.  On a virtual machine a fault costs microseconds: on the
    CLS reference layer conv2 (16->32, stride 2) this was ~4,000 faults and about half of the
    layer's time.  With the setting the process keeps its peak memory mapped, which is what
    a training loop reuses anyway (GPU frameworks' caching allocators do the same).

    The training operator calls this (only the first call does anything); set
    ``HALCON_DL_RETAIN_MEMORY=0`` to opt out.
    Returns True when the setting is in effect (glibc on Linux), False elsewhere.
    """
    global _memory_retained
    if enable and _memory_retained:
        return True
    if os.environ.get('HALCON_DL_RETAIN_MEMORY', '1') == '0':
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if enable:
        ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) and mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
    else:  # glibc's defaults
        ok = mallopt(_M_MMAP_THRESHOLD, 128 << 10) and mallopt(_M_TRIM_THRESHOLD, 128 << 10)
    _memory_retained = bool(ok) and enable
    return bool(ok)
