"""Stride-1 convolution as k² products with shifted windows of the padded input: no im2col.

Zero-pad x and flatten each channel over (N, Hp, Wp) (Hp = H + 2p_h, Wp = W + 2p_w): Xp is a
(Ci, M) matrix, M = N·Hp·Wp.  Output pixel (n, y, x) sits at grid position m = n·Hp·Wp + y·Wp + x
and its window's offset (i, j) at m + s_ij, s_ij = d_h·i·Wp + d_w·j — one column shift for the
whole batch.  Over the grid positions m < M' = M - max s_ij (every output pixel among them; the
others are computed and discarded):

    forward    Yg[:, m] = Σ_ij W_ij @ Xp[:, m + s_ij]             W_ij = w[:, :, i, j]  (Co × Ci)
               y = Yg at the output pixels (+ b)
    backward   dYg = dY at the output pixels, 0 elsewhere on the grid
               dW_ij = dYg[:, :M'] @ Xp[:, s_ij:s_ij + M']ᵀ,     db = Σ dY
               dXp[:, m + s_ij] += W_ijᵀ @ dYg[:, m],            dx = dXp inside the padding

Every term is one BLAS product on a column block of Xp, Yg or dXp, the sums accumulated in
place (``kernels.blas.matmul_add``).  Conv2d instead writes and reads im2col columns of
Ci·k²·N·Ho·Wo values (~9× x for 3×3) in forward, again for the weight gradient unless kept, and
the columns of dY for the input gradient.  Measured per sample (DET 64→64 3×3 at 64×64, one
thread): forward 6.9 -> 5.8 ms, backward 14.6 -> 12.0 ms; at 16×16, batch 8: 5.4 -> 3.3 ms and
7.8 -> 7.2 ms.  Applies (``applies``) for stride 1, a kernel larger than 1×1, at least
``MIN_CHANNELS`` input channels (thinner per-offset products run below the BLAS's speed), im2col
columns of at least ``MIN_COLUMN_BYTES`` (Ci·k²·N·H·W values) and a BLAS that accumulates in
place.  Below that size the columns stay in the cache and one product beats k² short ones on a
grid that is mostly padding (a 2×2 map pads to 4×4): measured forward + backward, 2 threads,
3×3, batch 8 (ms, shifted vs im2col): 128 ch at 2×2 4.3 vs 3.3, 32 ch at 8×8 3.7 vs 2.7,
32 ch at 16×16 (2.3 MiB of columns) 6.4 vs 4.6; 16 ch at 32×32 (4.5 MiB) 7.0 vs 12.9, 64 ch at
16×16 (4.5 MiB) 11.4 vs 18.2.  Keeps the padded input Xp (≈ x) for backward.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ..kernels import blas
from ..kernels.conv import Window, batch_chunks, on_grid, split_phases
from ..kernels.layout import channel_major, from_channel_major
from ..kernels.parallel import num_threads, parallel_for

MIN_CHANNELS = 16
MIN_COLUMN_BYTES = 4 << 20   # smaller im2col columns: Conv2d is faster (module docstring)
CHUNK_BYTES = 4 << 20        # Xp and Yg of one chunk: a few MiB, to stay in the cache


def applies(x, w, stride) -> bool:
    """Whether ``ShiftedConv2d`` computes conv2d(x, w, stride=stride) (see module docstring)."""
    n, ci, h, wd = x.shape
    columns = ci * w.shape[2] * w.shape[3] * n * h * wd * x.dtype.itemsize
    return (stride in (1, (1, 1)) and w.shape[2] * w.shape[3] > 1 and ci >= MIN_CHANNELS
            and columns >= MIN_COLUMN_BYTES and array_module(x).__name__ == 'numpy'
            and blas.available(x.dtype))


class ShiftedConv2d(Function):
    """conv2d (stride 1) by products with shifted windows, see the module docstring."""

    def forward(self, x, w, b=None, stride=1, padding=0, dilation=1):
        n, ci, h, wd = x.shape
        co, _, kh, kw = w.shape
        if (w.shape[1] != ci or x.dtype != w.dtype or stride not in (1, (1, 1))
                or (b is not None and (b.shape != (co,) or b.dtype != w.dtype))):
            raise HalconDLError(
                f'conv2d (stride 1): input {x.shape} {x.dtype}, weight {w.shape} {w.dtype}, bias '
                f'{None if b is None else (b.shape, b.dtype)}, stride {stride} do not fit together')
        xp = array_module(x)
        self.win = win = Window.make((kh, kw), 1, padding, dilation)
        ho, wo = win.output_size(h, wd)
        self.grid = hp, wp = h + 2 * win.ph, wd + 2 * win.pw
        self.shifts = [win.dh * i * wp + win.dw * j for i in range(kh) for j in range(kw)]
        self.taps = xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(kh * kw, co, ci)
        self.x_shape, self.out_hw = x.shape, (ho, wo)
        self.chunks = batch_chunks(n, (ci + co) * hp * wp * x.dtype.itemsize, num_threads(),
                                   budget=num_threads() * CHUNK_BYTES)
        self.xpad = [None] * len(self.chunks)
        y = xp.empty((co, n, ho, wo), dtype=x.dtype)

        def run(first, last):
            for k in range(first, last):
                n0, n1 = self.chunks[k]
                xpad = split_phases(x[n0:n1], win, ho, wo)[(0, 0)].reshape(ci, -1)
                size = xpad.shape[1] - self.shifts[-1]
                grid = xp.empty((co, xpad.shape[1]), dtype=x.dtype)
                blas.matmul_into(self.taps[0], xpad[:, :size], grid[:, :size])
                for tap, shift in zip(self.taps[1:], self.shifts[1:]):
                    blas.matmul_add(tap, xpad[:, shift:shift + size], grid[:, :size])
                y[:, n0:n1] = grid.reshape(co, n1 - n0, hp, wp)[:, :, :ho, :wo]
                if self.needs_input_grad[1]:
                    self.xpad[k] = xpad
        parallel_for(run, len(self.chunks), xp, work=y.size * ci, uses_blas=True)
        if b is not None:
            y += b[:, None, None, None]
        return from_channel_major(y)

    def backward(self, g):
        n, ci, h, wd = self.x_shape
        (hp, wp), (ho, wo), win = self.grid, self.out_hw, self.win
        kt, co, _ = self.taps.shape
        xp = array_module(g)
        need_x, need_w = self.needs_input_grad[:2]
        g2 = channel_major(g).reshape(co, -1)                  # (Co, N·Ho·Wo)
        parts = [None] * len(self.chunks)
        dx = xp.empty((ci, n, h, wd), dtype=g.dtype) if need_x else None

        def run(first, last):
            for k in range(first, last):
                n0, n1 = self.chunks[k]
                # dY on the padded grid: for stride 1 the phase grid is (Hp, Wp)
                dyg = on_grid(g2[:, n0 * ho * wo:n1 * ho * wo], win, ho, wo)
                size = dyg.shape[1] - self.shifts[-1]
                if need_w:
                    xpad = self.xpad[k]
                    parts[k] = xp.empty((kt, co, ci), dtype=g.dtype)
                    for t, shift in enumerate(self.shifts):
                        blas.matmul_into(dyg[:, :size], xpad[:, shift:shift + size].T, parts[k][t])
                if need_x:
                    dxp = xp.zeros((ci, dyg.shape[1]), dtype=g.dtype)
                    for tap, shift in zip(self.taps, self.shifts):
                        blas.matmul_add(tap.T, dyg[:, :size], dxp[:, shift:shift + size])
                    dx[:, n0:n1] = dxp.reshape(ci, n1 - n0, hp, wp)[
                        :, :, win.ph:win.ph + h, win.pw:win.pw + wd]
        parallel_for(run, len(self.chunks), xp, work=g.size * ci, uses_blas=True)
        dw = None
        if need_w:
            dw = parts[0]
            for part in parts[1:]:
                dw = dw + part
            dw = dw.reshape(win.kh, win.kw, co, ci).transpose(2, 3, 0, 1)
        grads = (from_channel_major(dx) if need_x else None, dw)
        if len(self.needs_input_grad) > 2:
            grads += (g2 @ xp.ones(g2.shape[1], dtype=g.dtype)
                      if self.needs_input_grad[2] else None,)
        return grads
