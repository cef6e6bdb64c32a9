"""Sliding-window geometry, im2col and col2im for NCHW convolutions and pools.

A window slides over the zero-padded input: output pixel (y, x) of kernel offset (i, j) reads
padded pixel (s_h·y + d_h·i, s_w·x + d_w·j).  With stride s > 1 that is a strided read, which
NumPy copies slowly.  So the padded input is first split into its s_h·s_w *phases*
(``phase[a, b][q, u] = xpad[a + s_h·q, b + s_w·u]``): offset i then reads phase
``a = (d_h·i) mod s_h`` at the unit-stride rows ``q = (d_h·i) div s_h + y``.  Building the phases
is one strided pass over the input; every window copy after it is contiguous.

``im2col`` lays the windows out as the matrix the convolution GEMM needs:
``cols[(c, i, j), (n, y, x)] = xpad[n, c, s_h·y + d_h·i, s_w·x + d_w·j]`` (rows channel-major,
then kernel row, kernel column; columns batch-major).  ``col2im`` is its adjoint: it adds every
column entry back onto the input pixel it was read from, ⟨im2col x, c⟩ = ⟨x, col2im(on_grid c)⟩
— as a kh·kw loop of shifted additions (deterministic: no atomic scatter-add) on columns laid
out on the phase grid (``on_grid``).

Inputs may be in any memory layout; outputs are channel-major (see ``layout``).  Copies are
split over channel ranges on the CPU thread pool (``parallel``).
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_module
from ..errors import HalconDLError
from .layout import from_channel_major
from .parallel import parallel_for


def pair(value, name: str) -> tuple:
    """An int or a pair of ints as a pair of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise HalconDLError(f'{name} must be an int or a pair of ints, got {value!r}')
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class Window(NamedTuple):
    """Kernel size, stride, padding and dilation of a sliding window, per axis (rows, columns)."""
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    dh: int = 1
    dw: int = 1

    @classmethod
    def make(cls, kernel_size, stride=1, padding=0, dilation=1) -> 'Window':
        (kh, kw), (sh, sw) = pair(kernel_size, 'kernel_size'), pair(stride, 'stride')
        (ph, pw), (dh, dw) = pair(padding, 'padding'), pair(dilation, 'dilation')
        if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
            raise HalconDLError(
                f'window needs kernel, stride, dilation >= 1 and padding >= 0, got kernel '
                f'{(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}, dilation {(dh, dw)}')
        return cls(kh, kw, sh, sw, ph, pw, dh, dw)

    def output_size(self, h: int, w: int) -> tuple:
        """(Ho, Wo) = ((H + 2p - d(k-1) - 1) // s + 1) per axis; an error if not positive."""
        ho = (h + 2 * self.ph - self.dh * (self.kh - 1) - 1) // self.sh + 1
        wo = (w + 2 * self.pw - self.dw * (self.kw - 1) - 1) // self.sw + 1
        if ho < 1 or wo < 1:
            raise HalconDLError(f'input {h}x{w} is smaller than the window {self}')
        return ho, wo

    def offsets(self):
        """For each kernel offset (i, j): (i, j, phase (a, b), first phase row, first column)."""
        for i in range(self.kh):
            a, qi = (self.dh * i) % self.sh, (self.dh * i) // self.sh
            for j in range(self.kw):
                b, qj = (self.dw * j) % self.sw, (self.dw * j) // self.sw
                yield i, j, (a, b), qi, qj

    def phase_shape(self, ho: int, wo: int) -> tuple:
        """Rows and columns kept per phase: enough for every offset's window of Ho x Wo."""
        return (self.dh * (self.kh - 1)) // self.sh + ho, (self.dw * (self.kw - 1)) // self.sw + wo


def _phase_span(phase: int, stride: int, pad: int, size: int, kept: int):
    """Phase rows q in [q0, q1) that hold real (not padding) input rows, and the first such row.

    Phase row q is padded row ``phase + stride·q``, i.e. input row ``phase + stride·q - pad``.
    """
    q0 = max(0, _ceil_div(pad - phase, stride))
    q1 = min(kept, _ceil_div(size + pad - phase, stride))
    return q0, q1, phase + stride * q0 - pad


def split_phases(x, win: Window, ho: int, wo: int, fill: float = 0.0) -> dict:
    """The phases of the padded input that the window reads: {(a, b): (C, N, Hq, Wq) array}.

    Padding positions hold ``fill`` (0 for convolutions and average pools, -inf for max pools).
    With stride 1 and no padding the single phase is the input itself (no copy when it is
    already channel-major).
    """
    n, c, h, w = x.shape
    xp = array_module(x)
    xc = x.transpose(1, 0, 2, 3)
    if win.sh == win.sw == 1 and win.ph == win.pw == 0 and xc.flags.c_contiguous:
        return {(0, 0): xc}
    hq, wq = win.phase_shape(ho, wo)
    phases = {}
    for (a, b) in sorted({ab for _, _, ab, _, _ in win.offsets()}):
        buf = xp.empty((c, n, hq, wq), dtype=x.dtype)
        q0, q1, r0 = _phase_span(a, win.sh, win.ph, h, hq)
        u0, u1, c0 = _phase_span(b, win.sw, win.pw, w, wq)
        q1, u1 = max(q0, q1), max(u0, u1)
        src = xc[:, :, r0:r0 + win.sh * (q1 - q0):win.sh, c0:c0 + win.sw * (u1 - u0):win.sw]

        def copy(lo, hi, buf=buf, src=src, q0=q0, q1=q1, u0=u0, u1=u1):
            part = buf[lo:hi]
            part[:, :, :q0] = fill                  # padding rows and columns around the
            part[:, :, q1:] = fill                  # real pixels; the rest is overwritten
            part[:, :, q0:q1, :u0] = fill
            part[:, :, q0:q1, u1:] = fill
            part[:, :, q0:q1, u0:u1] = src[lo:hi]
        parallel_for(copy, c, xp, work=buf.size)
        phases[(a, b)] = buf
    return phases


def merge_phases(phases: dict, win: Window, n: int, c: int, h: int, w: int, out=None):
    """Adjoint of ``split_phases`` (fill 0): gather the real pixels back into a (C, N, H, W)
    array (``out`` if given); pixels that no phase holds (stride larger than the window) get 0."""
    first = next(iter(phases.values()))
    xp = array_module(first)
    hq, wq = first.shape[2:]
    # phases keep padded rows up to s·Hq - 1: every input pixel is in one iff all phases are
    # there and they reach the last row and column; otherwise the rest must be zeros
    covered = (len(phases) == win.sh * win.sw and win.sh * hq >= win.ph + h
               and win.sw * wq >= win.pw + w)
    if out is None:
        out = (xp.empty if covered else xp.zeros)((c, n, h, w), dtype=first.dtype)
    elif not covered:
        out[...] = 0
    for (a, b), buf in phases.items():
        q0, q1, r0 = _phase_span(a, win.sh, win.ph, h, hq)
        u0, u1, c0 = _phase_span(b, win.sw, win.pw, w, wq)
        if q1 > q0 and u1 > u0:
            dst = out[:, :, r0:r0 + win.sh * (q1 - q0):win.sh, c0:c0 + win.sw * (u1 - u0):win.sw]

            def copy(lo, hi, buf=buf, dst=dst, q0=q0, q1=q1, u0=u0, u1=u1):
                dst[lo:hi] = buf[lo:hi, :, q0:q1, u0:u1]
            parallel_for(copy, c, xp, work=dst.size)
    return out


def im2col(x, win: Window):
    """The (C·kh·kw, N·Ho·Wo) window matrix of a logical NCHW input (see module docstring)."""
    n, c, h, w = x.shape
    ho, wo = win.output_size(h, w)
    phases = split_phases(x, win, ho, wo)
    if win.kh == win.kw == 1 and phases[(0, 0)].shape[2:] == (ho, wo):
        return phases[(0, 0)].reshape(c, n * ho * wo)          # a 1x1 window: no copy at all
    xp = array_module(x)
    cols = xp.empty((c, win.kh, win.kw, n, ho, wo), dtype=x.dtype)

    def fill(lo, hi):
        for i, j, ab, qi, qj in win.offsets():
            cols[lo:hi, i, j] = phases[ab][lo:hi, :, qi:qi + ho, qj:qj + wo]
    parallel_for(fill, c, xp, work=cols.size)
    return cols.reshape(c * win.kh * win.kw, n * ho * wo)


def on_grid(a, win: Window, ho: int, wo: int):
    """The (R, N·Ho·Wo) matrix ``a`` laid out on the phase grid: an (R, N·Hq·Wq) matrix,
    (Hq, Wq) = ``win.phase_shape(Ho, Wo)``, holding a's column (n, y, x) at grid column
    (n, y, x) and zeros in the rows y >= Ho and columns x >= Wo of every sample."""
    xp = array_module(a)
    r, n = a.shape[0], a.shape[1] // (ho * wo)
    hq, wq = win.phase_shape(ho, wo)
    grid = xp.empty((r, n, hq, wq), dtype=a.dtype)
    grid[:, :, ho:] = 0
    grid[:, :, :ho, wo:] = 0
    grid[:, :, :ho, :wo] = a.reshape(r, n, ho, wo)
    return grid.reshape(r, n * hq * wq)


def col2im(cols, x_shape: tuple, win: Window, out=None):
    """Adjoint of ``im2col``, for window matrices on the phase grid (``on_grid``): a logical
    NCHW array (channel-major) with every entry of ``cols`` (C·kh·kw, N·Hq·Wq) added onto the
    input pixel it was read from, ⟨im2col x, c⟩ = ⟨x, col2im(on_grid c)⟩.  ``out``, if given,
    is the (C, N, H, W) buffer to write into.

    On the grid, kernel offset (i, j) reads phase (a, b) at rows qi.., columns qj..: in the
    phase flattened over (N, Hq, Wq) that is a shift by qi·Wq + qj, so each offset is one
    addition of C rows of N·Hq·Wq values.  The entries outside the Ho x Wo block of a sample
    are zero (``on_grid``), so what a shift carries past the end of a grid row or sample adds
    nothing.  This replaces C·N·Ho additions of Wo values per offset: on the CLS layers
    (Wo = 32, 16, 8) 3.3 / 2.4 / 2.0 ms -> 1.0 / 0.35 / 0.34 ms per half batch, at the price of
    (Hq·Wq)/(Ho·Wo) = 1.06 / 1.13 / 1.27 as many columns in the product that makes ``cols``.
    """
    n, c, h, w = x_shape
    ho, wo = win.output_size(h, w)
    hq, wq = win.phase_shape(ho, wo)
    size = n * hq * wq
    xp = array_module(cols)
    cols = cols.reshape(c, win.kh, win.kw, size)
    first = {}                                  # the first offset writing each phase
    for i, j, ab, qi, qj in win.offsets():
        first.setdefault(ab, (i, j, qi * wq + qj))
    phases = {ab: (xp.empty if shift == 0 else xp.zeros)((c, size), dtype=cols.dtype)
              for ab, (_, _, shift) in first.items()}

    def add(lo, hi):
        for i, j, ab, qi, qj in win.offsets():
            shift = qi * wq + qj
            if first[ab] == (i, j, 0):           # a copy instead of zeros plus an addition
                phases[ab][lo:hi] = cols[lo:hi, i, j]
            else:
                phases[ab][lo:hi, shift:] += cols[lo:hi, i, j, :size - shift]
    parallel_for(add, c, xp, work=cols.size)
    phases = {ab: p.reshape(c, n, hq, wq) for ab, p in phases.items()}
    if out is None and (hq, wq) == (h, w) and win.sh == win.sw == 1 and win.ph == win.pw == 0:
        return from_channel_major(phases[(0, 0)])       # the single phase is the gradient
    return from_channel_major(merge_phases(phases, win, n, c, h, w, out))


# -- memory bound for im2col ----------------------------------------------------------------------
_im2col_budget_bytes = 16 << 20


def im2col_budget() -> int:
    """Most bytes the im2col buffers of the threads may take together; larger batches are
    processed in chunks.  16 MiB (8 MiB of columns per thread on two cores) against the
    earlier 128 MiB: the same step times (A/B: CLS +0.9 %, SEG -2.7 %, DET +1.3 %, within the
    A/A noise) with less memory (peak traced: CLS 118 -> 108 MiB, DET 676 -> 565 MiB)."""
    return _im2col_budget_bytes


def set_im2col_budget(nbytes: int) -> int:
    """Set the im2col budget (bytes); returns the previous value.  At least one sample per chunk."""
    global _im2col_budget_bytes
    if int(nbytes) < 1:
        raise HalconDLError(f'im2col budget must be positive, got {nbytes}')
    previous, _im2col_budget_bytes = _im2col_budget_bytes, int(nbytes)
    return previous


# -- memory kept from forward to backward ---------------------------------------------------------
_keep_columns_bytes = 32 << 20


def keep_columns_budget() -> int:
    """Most bytes of im2col columns a convolution keeps from forward for its weight gradient.

    Keeping them saves rebuilding them in backward (one im2col of the input) and holds them
    until backward: C_in·k²·H_out·W_out·N values per convolution, ~9× its input for a 3×3
    kernel.  A convolution whose columns take more keeps its (9× smaller) input instead and
    rebuilds them chunk by chunk, each chunk's columns used while they are in cache.  32 MiB
    against the earlier rule (keep whatever fits the 128 MiB im2col budget), A/B on the 2-core
    machine: the same step times (DET 1.01, SEG 0.98, CLS 1.01 within the A/A noise), DET peak
    traced memory 1332 -> 742 MiB (its 64-channel 64×64 convolutions no longer keep 75 MB each).
    """
    return _keep_columns_bytes


def set_keep_columns_budget(nbytes: int) -> int:
    """Set the keep-columns budget (bytes, 0 = never keep); returns the previous value."""
    global _keep_columns_bytes
    if int(nbytes) < 0:
        raise HalconDLError(f'keep-columns budget must be >= 0, got {nbytes}')
    previous, _keep_columns_bytes = _keep_columns_bytes, int(nbytes)
    return previous


def batch_chunks(n: int, bytes_per_sample: int, parallel: int = 1, budget: int = 0) -> list:
    """Split range(n) into (start, stop) chunks: a multiple of ``parallel`` of them (as far as
    there are samples), so the threads get equal shares, each small enough that ``parallel``
    chunks' buffers together fit ``budget`` bytes (default: the im2col budget; at least one
    sample per chunk)."""
    budget = budget or _im2col_budget_bytes
    per_chunk = max(1, budget // max(1, parallel * bytes_per_sample))
    count = min(n, parallel * _ceil_div(_ceil_div(n, per_chunk), parallel))
    bounds = [n * k // count for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
