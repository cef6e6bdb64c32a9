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

**Same-padded windows** (``is_same_padded``: every read beyond the output-sized phases is
padding, e.g. 3×3 with padding 1 at stride 1 or 2) take a shorter way.  Offset i reads input
row s·y + d·i - p = s·(y + δ_i) + a_i (phase a_i = (d·i - p) mod s, shift δ_i = ⌊(d·i - p)/s⌋),
so with the *unpadded* phases cut to the output size, ``phase[a, b][q, u] = x[a + s·q, b + s·u]``
(0 beyond the input), the row of offset (i, j) is the phase flattened over (N, Ho, Wo) and
shifted by δ_i·Wo + δ_j: one contiguous copy per channel, after which the few entries whose
window lies in the padding (rows y + δ_i or columns x + δ_j outside the output grid, where the
shift wrapped into a neighbouring row or sample) are set to 0.  At stride 1 the single phase is
x itself: no padded copy at all.  ``col2im`` is the same in reverse (zero those entries of the
columns, then shifted additions), on columns as im2col lays them out: no phase grid, so neither
``on_grid``'s copy nor a product over its extra columns.  ``col2im_columns`` gives the layout
col2im takes for a window.  Measured against the padded-phase copies (``bench_vs_torch.py --ab
same-shift``, 2-core machine, A/A 0.99-1.06): CLS step B/A 0.946-0.958, SEG 0.996, DET 0.991
(their large stride-1 layers take ``ops.conv_shifted`` instead).

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

    def shifts(self):
        """For each kernel offset (i, j): (i, j, unpadded phase (a, b), row shift δ_i, column
        shift δ_j), with s·δ + a = d·i - p (see the module docstring on same-padded windows)."""
        for i in range(self.kh):
            di, a = divmod(self.dh * i - self.ph, self.sh)
            for j in range(self.kw):
                dj, b = divmod(self.dw * j - self.pw, self.sw)
                yield i, j, (a, b), di, dj

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


def is_same_padded(win: Window, h: int, w: int) -> bool:
    """Whether every window read beyond the output-sized unpadded phases is padding:
    s·Ho >= H and s·Wo >= W (a read at phase row y + δ >= Ho is input row >= s·Ho).  Then
    ``im2col`` and ``col2im`` work with flat shifts (module docstring)."""
    ho, wo = win.output_size(h, w)
    return win.sh * ho >= h and win.sw * wo >= w


def output_phases(x, win: Window, ho: int, wo: int) -> dict:
    """The unpadded phases that a same-padded window reads, cut (or zero-extended) to the
    output size: {(a, b): (C, N·Ho·Wo) array}, ``phase[a, b][c, (n, q, u)] = x[n, c, a + s_h·q,
    b + s_w·u]`` (0 beyond the input).  At stride 1 with an output the size of the input this
    is x itself (a view when x is channel-major)."""
    n, c, h, w = x.shape
    xp = array_module(x)
    xc = x.transpose(1, 0, 2, 3)
    if win.sh == win.sw == 1 and (ho, wo) == (h, w):
        return {(0, 0): xc.reshape(c, n * h * w)}          # a view unless x is another layout
    phases = {}
    for (a, b) in sorted({ab for _, _, ab, _, _ in win.shifts()}):
        src = xc[:, :, a::win.sh, b::win.sw][:, :, :ho, :wo]
        rows, cols = src.shape[2:]
        buf = xp.empty((c, n, ho, wo), dtype=x.dtype)

        def copy(lo, hi, buf=buf, src=src, rows=rows, cols=cols):
            part = buf[lo:hi]
            part[:, :, :rows, :cols] = src[lo:hi]
            part[:, :, rows:] = 0                        # beyond the input: padding
            part[:, :, :rows, cols:] = 0
        parallel_for(copy, c, xp, work=buf.size)
        phases[(a, b)] = buf.reshape(c, n * ho * wo)
    return phases


def _shifted(dst, src, shift: int, add: bool = False):
    """dst[:, m] = src[:, m + shift] (``add``: +=) for the m where m + shift is a column of src;
    the other columns of dst are set to 0 (left alone with ``add``)."""
    length = dst.shape[1]
    k = max(0, length - abs(shift))                      # columns that have a source
    if shift >= 0:
        into, source, rest = slice(0, k), slice(shift, shift + k), slice(k, length)
    else:
        into, source, rest = slice(length - k, length), slice(0, k), slice(0, length - k)
    if add:
        dst[:, into] += src[:, source]
    else:
        dst[:, into] = src[:, source]
        dst[:, rest] = 0


def _zero_padding_reads(rows, n: int, ho: int, wo: int, di: int, dj: int):
    """Set to 0 the entries (n, y, x) of column rows ``rows`` (R, N·Ho·Wo) whose read
    (y + δ_i, x + δ_j) lies outside the Ho x Wo grid: what a flat shift wrapped in there came
    from a neighbouring row or sample, and those windows read padding."""
    grid = rows.reshape(rows.shape[0], n, ho, wo)
    if di < 0:
        grid[:, :, :min(-di, ho)] = 0
    elif di > 0:
        grid[:, :, max(ho - di, 0):] = 0
    if dj < 0:
        grid[:, :, :, :min(-dj, wo)] = 0
    elif dj > 0:
        grid[:, :, :, max(wo - dj, 0):] = 0


def im2col(x, win: Window, rows: int = 0):
    """The (C·kh·kw, N·Ho·Wo) window matrix of a logical NCHW input (see module docstring).
    ``rows`` > C·kh·kw (windows larger than 1x1 only): that many rows, the extra ones 0."""
    n, c, h, w = x.shape
    ho, wo = win.output_size(h, w)
    xp = array_module(x)
    same = is_same_padded(win, h, w)
    phases = output_phases(x, win, ho, wo) if same else split_phases(x, win, ho, wo)
    if win.kh == win.kw == 1:                                  # a 1x1 window: no copy at all
        if same and next(win.shifts())[3:] == (0, 0):
            return next(iter(phases.values()))
        if not same and phases[(0, 0)].shape[2:] == (ho, wo):
            return phases[(0, 0)].reshape(c, n * ho * wo)
    k = c * win.kh * win.kw
    matrix = xp.empty((max(rows, k), n * ho * wo), dtype=x.dtype)
    matrix[k:] = 0
    cols = matrix[:k].reshape(c, win.kh, win.kw, n * ho * wo)

    def fill(lo, hi):
        if same:                   # flat shifts of the phases, then the padding reads set to 0
            for i, j, ab, di, dj in win.shifts():
                _shifted(cols[lo:hi, i, j], phases[ab][lo:hi], di * wo + dj)
                _zero_padding_reads(cols[lo:hi, i, j], n, ho, wo, di, dj)
            return
        grid = cols[lo:hi].reshape(hi - lo, win.kh, win.kw, n, ho, wo)
        for i, j, ab, qi, qj in win.offsets():
            grid[:, i, j] = phases[ab][lo:hi, :, qi:qi + ho, qj:qj + wo]
    parallel_for(fill, c, xp, work=cols.size)
    return matrix


def col2im_columns(a, win: Window, h: int, w: int):
    """The (R, N·Ho·Wo) matrix ``a`` in the column layout ``col2im`` takes for an H x W input:
    ``a`` itself for a same-padded window, else ``on_grid(a)``."""
    if is_same_padded(win, h, w):
        return a
    return on_grid(a, win, *win.output_size(h, w))


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


def _first_per_phase(offsets) -> dict:
    """{phase: the first of ``offsets`` (tuples (i, j, phase, ...) in scan order) reading it}:
    col2im writes that offset's values into the phase instead of adding them."""
    first = {}
    for offset in offsets:
        first.setdefault(offset[2], offset)
    return first


def col2im(cols, x_shape: tuple, win: Window, out=None):
    """Adjoint of ``im2col``: a logical NCHW array (channel-major) with every entry of ``cols``
    added onto the input pixel it was read from, ⟨im2col x, c⟩ = ⟨x, col2im(col2im_columns c)⟩.
    ``cols`` is in the layout ``col2im_columns`` gives: as im2col lays its columns out for a
    same-padded window (``_col2im_same``; cols is overwritten there), else on the phase grid
    (C·kh·kw, N·Hq·Wq) (``on_grid``).  ``out``, if given, is the (C, N, H, W) buffer to write
    into.

    On the phase grid (windows that are not same-padded), kernel offset (i, j) reads phase
    (a, b) at rows qi.., columns qj..: in the phase flattened over (N, Hq, Wq) that is a shift by
    qi·Wq + qj, so each offset is one addition of C rows of N·Hq·Wq values.  The entries
    outside the Ho x Wo block of a sample are zero (``on_grid``), so what a shift carries past
    the end of a grid row or sample adds nothing.  This replaced C·N·Ho additions of Wo values per offset: on the CLS layers
    (Wo = 32, 16, 8) 3.3 / 2.4 / 2.0 ms -> 1.0 / 0.35 / 0.34 ms per half batch, at the price of
    (Hq·Wq)/(Ho·Wo) = 1.06 / 1.13 / 1.27 as many columns in the product that makes ``cols``;
    the same-padded path (module docstring) has neither the grid's columns nor its copy.
    """
    n, c, h, w = x_shape
    if is_same_padded(win, h, w):
        return _col2im_same(cols, x_shape, win, out)
    ho, wo = win.output_size(h, w)
    hq, wq = win.phase_shape(ho, wo)
    size = n * hq * wq
    xp = array_module(cols)
    cols = cols.reshape(c, win.kh, win.kw, size)
    first = _first_per_phase(win.offsets())
    phases = {ab: (xp.empty if qi == qj == 0 else xp.zeros)((c, size), dtype=cols.dtype)
              for ab, (_, _, _, qi, qj) in first.items()}

    def add(lo, hi):
        for i, j, ab, qi, qj in win.offsets():
            shift = qi * wq + qj
            if shift == 0 and first[ab][:2] == (i, j):   # a copy, not zeros plus an addition
                phases[ab][lo:hi] = cols[lo:hi, i, j]
            else:
                phases[ab][lo:hi, shift:] += cols[lo:hi, i, j, :size - shift]
    parallel_for(add, c, xp, work=cols.size)
    phases = {ab: p.reshape(c, n, hq, wq) for ab, p in phases.items()}
    if out is None and (hq, wq) == (h, w) and win.sh == win.sw == 1 and win.ph == win.pw == 0:
        return from_channel_major(phases[(0, 0)])       # the single phase is the gradient
    return from_channel_major(merge_phases(phases, win, n, c, h, w, out))


def _col2im_same(cols, x_shape: tuple, win: Window, out=None):
    """col2im for a same-padded window, on columns (C·kh·kw, N·Ho·Wo) as im2col lays them out:
    per offset, the entries that read padding are set to 0 (in ``cols``), the rest is added
    onto its phase with the reverse flat shift; then each phase's real pixels are written
    into the input gradient (at stride 1 the single phase is that gradient: no copy).  Pixels
    of phases no offset reads (stride larger than the window's reach) get 0."""
    n, c, h, w = x_shape
    ho, wo = win.output_size(h, w)
    length = n * ho * wo
    xp = array_module(cols)
    cols = cols.reshape(c, win.kh, win.kw, length)
    first = _first_per_phase(win.shifts())
    single = win.sh == win.sw == 1 and (ho, wo) == (h, w)
    if out is None:
        out = xp.empty((c, n, h, w), dtype=cols.dtype)
    flat_out = single and out.strides[1:] == (h * w * out.itemsize, w * out.itemsize,
                                              out.itemsize)
    phases = ({(0, 0): out.reshape(c, length)} if flat_out else
              {ab: xp.empty((c, length), dtype=cols.dtype) for ab in first})

    def add(lo, hi):
        for i, j, ab, di, dj in win.shifts():
            rows = cols[lo:hi, i, j]
            _zero_padding_reads(rows, n, ho, wo, di, dj)
            _shifted(phases[ab][lo:hi], rows, -(di * wo + dj), add=first[ab][:2] != (i, j))
    parallel_for(add, c, xp, work=cols.size)
    if not flat_out:
        def merge(lo, hi):
            for a in range(win.sh):
                for b in range(win.sw):
                    dst = out[lo:hi, :, a::win.sh, b::win.sw]
                    if (a, b) in phases:
                        grid = phases[(a, b)][lo:hi].reshape(hi - lo, n, ho, wo)
                        dst[...] = grid[:, :, :dst.shape[2], :dst.shape[3]]
                    else:
                        dst[...] = 0
        parallel_for(merge, c, xp, work=out.size)
    return from_channel_major(out)


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
