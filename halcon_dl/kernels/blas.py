"""C += A·B straight into a block of a larger matrix, through the BLAS that NumPy loaded.

NumPy's ``matmul`` has no accumulating form: ``c += a @ b`` writes the product to a temporary
and adds it, two more passes over c.  The BLAS ``gemm`` computes C ← αAB + βC; with β = 1 it
accumulates in place, reading and writing each block of C once while it is in cache.  The
convolutions on shifted windows (``ops.conv_shifted``) sum k² such products.

The ``cblas_?gemm`` of the OpenBLAS NumPy loaded is found through /proc/self/maps (as in
``kernels.parallel``) and checked once against NumPy on a small product; integer arguments are
passed as 64-bit values, which both the LP64 and the ILP64 interface read correctly on x86-64
and aarch64 (registers and 8-byte stack slots).  Without it (another BLAS, another platform,
a failed check) and for CuPy arrays, ``matmul_add`` is ``c += a @ b``; ``available()`` says which.
"""
from __future__ import annotations

import ctypes

import numpy as np

from ..backend import array_module

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = {np.dtype(np.float32): ('scipy_cblas_sgemm64_', 'cblas_sgemm64_', 'cblas_sgemm'),
            np.dtype(np.float64): ('scipy_cblas_dgemm64_', 'cblas_dgemm64_', 'cblas_dgemm')}
_gemm = {}           # dtype -> ctypes function, or None when not usable


def _load(dtype):
    if dtype in _gemm:
        return _gemm[dtype]
    _gemm[dtype] = None
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    try:
        with open('/proc/self/maps') as maps:
            paths = sorted({line.split()[-1] for line in maps if 'openblas' in line.lower()})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _SYMBOLS[dtype]:
            if hasattr(lib, symbol):
                fn = getattr(lib, symbol)
                i64, ptr = ctypes.c_int64, ctypes.c_void_p
                fn.argtypes = [i64, i64, i64, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar,
                               ptr, i64]
                fn.restype = None
                _gemm[dtype] = fn
                if _self_test(dtype):
                    return fn
                _gemm[dtype] = None
    return None


def _self_test(dtype) -> bool:
    """A product with a transposed operand into an inner block of C, against NumPy."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((4, 7)).astype(dtype)
    c = rng.standard_normal((6, 9)).astype(dtype)
    expected, got = c.copy(), c.copy()
    expected[1:6, 2:6] += a @ b[:, :3].T
    _call(a, b[:, :3].T, got[1:6, 2:6])
    return bool(np.allclose(got, expected, rtol=1e-5, atol=1e-5))


def _operand(a):
    """(transpose flag, leading dimension) of a 2-D array BLAS can read as is, or None."""
    item = a.itemsize
    for flag, unit, lead, width in ((_NO_TRANS, 1, 0, 1), (_TRANS, 0, 1, 0)):
        stride = a.strides[lead]
        if a.strides[unit] == item and stride % item == 0 and stride >= item * max(1, a.shape[width]):
            return flag, stride // item
    return None


def _call(a, b, c):
    (ta, lda), (tb, ldb) = _operand(a), _operand(b)
    m, k = a.shape
    _gemm[c.dtype](_ROW_MAJOR, ta, tb, m, c.shape[1], k, 1.0, a.ctypes.data, lda,
                   b.ctypes.data, ldb, 1.0, c.ctypes.data, c.strides[0] // c.itemsize)


def available(dtype) -> bool:
    """Whether ``matmul_add`` accumulates in place for NumPy arrays of ``dtype``."""
    dtype = np.dtype(dtype)
    return dtype in _SYMBOLS and _load(dtype) is not None


def matmul_into(a, b, out) -> None:
    """out[...] = a @ b; NumPy writes the product straight into ``out`` (a column block of a
    larger matrix, which BLAS takes as is), CuPy through a temporary."""
    if array_module(out) is np:
        np.matmul(a, b, out=out)
    else:
        out[...] = a @ b


def matmul_add(a, b, c) -> None:
    """c += a @ b for 2-D arrays (a: (m, k), b: (k, n), c: (m, n), one dtype), in place."""
    usable = (array_module(c) is np and c.dtype in _SYMBOLS and a.dtype == b.dtype == c.dtype
              and min(a.size, b.size, c.size) > 0 and c.strides[1] == c.itemsize
              and c.strides[0] >= c.itemsize * c.shape[1] and c.flags.writeable
              and _operand(a) is not None and _operand(b) is not None
              and _load(c.dtype) is not None)
    if usable:
        _call(a, b, c)
    else:
        c += a @ b
