"""2-D convolution (cross-correlation, as in every deep-learning framework) on NCHW input."""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ..kernels.blas import matmul_into
from ..kernels.conv import (Window, batch_chunks, col2im, col2im_columns, im2col,
                            keep_columns_budget)
from ..kernels.layout import channel_major, from_channel_major
from ..kernels.parallel import num_threads, parallel_for


# Column counts C·kh·kw whose products run faster with zero rows appended (measured, 2-core
# AMD machine, OpenBLAS, 2 batch chunks on 2 threads of 32 x 64 x 64 outputs, 16 filters):
# 27 (RGB 3x3) -> 32: weight gradient 5.88 -> 3.12 ms (with 27 rows two threads were no
# faster than one; forward, 3.13 -> 3.46 ms padded, keeps 27); CLS step -2 to -4 %
# (bench_vs_torch.py --ab pad-rows), SEG and DET within the noise.  Measured without gain:
# 9 -> 16 or 32, 54 -> 64.
PADDED_ROWS = {27: 32}


class Conv2d(Function):
    """y[n,o,r,c] = b[o] + Σ_{k,i,j} w[o,k,i,j] · xpad[n, k, s_h·r + d_h·i, s_w·c + d_w·j]

    As matrices, per chunk of the batch, with ``cols = im2col(x)`` (Ci·kh·kw, n·Ho·Wo) and W as
    (Co, Ci·kh·kw):

        forward   Y  = W @ cols (+ b)            (Co, N·Ho·Wo): channel-major output, no transpose
        backward  dW = Σ_chunks (cols @ dYᵀ)ᵀ,   db = dY @ 1,   dX = col2im(Wᵀ @ col2im_columns(dY))

    The batch is cut into chunks: at least one per CPU thread (each thread runs its chunks'
    im2col, products and col2im while its columns are in that core's cache) and small enough
    that the threads' columns together fit the im2col budget.  The columns are kept for
    backward when all of them fit the keep-columns budget (``kernels.conv``), else rebuilt there
    from x.  dW adds the chunks' parts in chunk order: deterministic for a given thread count.

    Column counts listed in ``PADDED_ROWS`` get zero rows appended to cols, for the weight
    gradient's product (forward multiplies the unpadded rows, a view): the same dW, from a
    product in a shape the BLAS runs faster.

    Stride 1 with Co <= Ci and padding p <= d(k-1): dX is the transposed convolution
    dX = conv(dY, W') with W'[c,o,i,j] = W[o,c,k-1-i,k-1-j], padding d(k-1) - p — its im2col has
    Co·k² rows instead of the Ci·k² that col2im accumulates, and no read-modify-write.
    """
    def forward(self, x, w, b=None, stride=1, padding=0, dilation=1):
        n, ci, h, wd = x.shape
        co, wci, kh, kw = w.shape
        if wci != ci or x.dtype != w.dtype or (b is not None and (b.shape != (co,) or b.dtype != w.dtype)):
            raise HalconDLError(
                f'conv2d: input {x.shape} {x.dtype}, weight {w.shape} {w.dtype} and bias '
                f'{None if b is None else (b.shape, b.dtype)} do not fit together')
        xp = array_module(x)
        self.win = win = Window.make((kh, kw), stride, padding, dilation)
        ho, wo = win.output_size(h, wd)
        self.x_shape, self.hw, self.w2 = x.shape, ho * wo, w.reshape(co, -1)
        self.rows = PADDED_ROWS.get(self.w2.shape[1], 0) if kh * kw > 1 else 0
        sample_bytes = max(self.rows, self.w2.shape[1]) * ho * wo * x.dtype.itemsize
        self.chunks = batch_chunks(n, sample_bytes, num_threads() if xp.__name__ == 'numpy' else 1)
        self.w_t = None
        if (win.sh == win.sw == 1 and co <= ci and win.ph <= win.dh * (kh - 1)
                and win.pw <= win.dw * (kw - 1) and self.needs_input_grad[0]):
            self.w_t = xp.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]).reshape(ci, -1)
            self.win_t = Window.make((kh, kw), 1, (win.dh * (kh - 1) - win.ph,
                                                   win.dw * (kw - 1) - win.pw), (win.dh, win.dw))
        keep = self.needs_input_grad[1] and n * sample_bytes <= keep_columns_budget()
        self.x = x if self.needs_input_grad[1] else None      # to rebuild columns when needed
        self.cols = [None] * len(self.chunks)
        y = xp.empty((co, n * self.hw), dtype=x.dtype)

        def run(first, last):
            for k in range(first, last):
                n0, n1 = self.chunks[k]
                cols = im2col(x[n0:n1], win, self.rows)
                matmul_into(self.w2, cols[:self.w2.shape[1]], y[:, n0 * self.hw:n1 * self.hw])
                if keep:
                    self.cols[k] = cols
        parallel_for(run, len(self.chunks), xp, work=n * sample_bytes, uses_blas=True)
        if b is not None:
            y += b[:, None]
        return from_channel_major(y.reshape(co, n, ho, wo))

    def backward(self, g):
        n, ci, h, wd = self.x_shape
        co = self.w2.shape[0]
        xp = array_module(g)
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        g2 = channel_major(g).reshape(co, n * self.hw)
        dw_parts = [None] * len(self.chunks)
        dx = xp.empty((ci, n, h, wd), dtype=g.dtype) if need_x else None

        def run(first, last):
            for k in range(first, last):
                n0, n1 = self.chunks[k]
                gc = g2[:, n0 * self.hw:n1 * self.hw]
                cols, self.cols[k] = self.cols[k], None
                if need_w:
                    if cols is None:
                        cols = im2col(self.x[n0:n1], self.win, self.rows)
                    dw_parts[k] = cols @ gc.T
                if need_x and self.w_t is not None:      # transposed convolution
                    g4 = from_channel_major(gc.reshape(co, n1 - n0, *g.shape[2:]))
                    matmul_into(self.w_t, im2col(g4, self.win_t),
                                 dx.reshape(ci, -1)[:, n0 * h * wd:n1 * h * wd])
                elif need_x:               # Wᵀ dY in col2im's layout (kernels.conv.col2im)
                    dcols = self.w2.T @ col2im_columns(gc, self.win, h, wd)
                    col2im(dcols, (n1 - n0, ci, h, wd), self.win, out=dx[:, n0:n1])
        parallel_for(run, len(self.chunks), xp, work=g2.size, uses_blas=True)
        dw = None
        if need_w:
            dw = dw_parts[0]
            for part in dw_parts[1:]:
                dw = dw + part
            dw = dw[:self.w2.shape[1]].T.reshape(co, ci, self.win.kh, self.win.kw)
        db = g2 @ xp.ones(g2.shape[1], dtype=g.dtype) if need_b else None
        return (from_channel_major(dx) if need_x else None, dw, db)[:len(self.needs_input_grad)]


def conv_function(x, w, stride):
    """The Function that computes this convolution: ``ShiftedConv2d`` for stride 1 where it
    applies (``ops.conv_shifted.applies``), else ``Conv2d``."""
    from .conv_shifted import ShiftedConv2d, applies
    return ShiftedConv2d if applies(x, w, stride) else Conv2d


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution of NCHW ``x`` with (Co, Ci, kh, kw) weights ``w`` and optional bias ``b``."""
    fn = conv_function(getattr(x, 'data', x), getattr(w, 'data', w), stride)
    if b is None:
        return fn.apply(x, w, stride=stride, padding=padding, dilation=dilation)
    return fn.apply(x, w, b, stride=stride, padding=padding, dilation=dilation)
