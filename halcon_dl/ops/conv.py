"""2-D convolution (cross-correlation, as in every deep-learning framework) on NCHW input."""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ..errors import HalconDLError
from ..kernels.conv import Window, batch_chunks, col2im, im2col
from ..kernels.layout import channel_major, from_channel_major


class Conv2d(Function):
    """y[n,o,r,c] = b[o] + Σ_{k,i,j} w[o,k,i,j] · xpad[n, k, s_h·r + d_h·i, s_w·c + d_w·j]

    As matrices, with ``cols = im2col(x)`` of shape (Ci·kh·kw, N·Ho·Wo) and W as (Co, Ci·kh·kw):

        forward   Y  = W @ cols (+ b)            (Co, N·Ho·Wo): channel-major output, no transpose
        backward  dW = (cols @ dYᵀ)ᵀ,   db = dY @ 1,   dX = col2im(Wᵀ @ dY)

    ``cols`` is kept for backward when it fits the im2col budget; otherwise the batch is
    processed in chunks and each chunk's ``cols`` is rebuilt in backward (memory stays bounded).
    """
    def forward(self, x, w, b=None, stride=1, padding=0, dilation=1):
        n, ci, h, wd = x.shape
        co, wci, kh, kw = w.shape
        if wci != ci or x.dtype != w.dtype or (b is not None and (b.shape != (co,) or b.dtype != w.dtype)):
            raise HalconDLError(
                f'conv2d: input {x.shape} {x.dtype}, weight {w.shape} {w.dtype} and bias '
                f'{None if b is None else (b.shape, b.dtype)} do not fit together')
        self.win = win = Window.make((kh, kw), stride, padding, dilation)
        self.ho, self.wo = ho, wo = win.output_size(h, wd)
        self.x_shape, self.w2 = x.shape, w.reshape(co, -1)
        self.chunks = batch_chunks(n, self.w2.shape[1] * ho * wo * x.dtype.itemsize)
        self.x = x if self.needs_input_grad[1] else None     # to rebuild cols when needed
        xp = array_module(x)
        if len(self.chunks) == 1:
            cols = im2col(x, win)
            y = (self.w2 @ cols).reshape(co, n, ho * wo)
            self.cols = cols if self.needs_input_grad[1] else None
            # backward may reuse cols' memory for dcols unless cols is a view of x (1x1 conv)
            self.owns_cols = not xp.may_share_memory(cols, x)
        else:
            y = xp.empty((co, n, ho * wo), dtype=x.dtype)
            for n0, n1 in self.chunks:
                y[:, n0:n1] = (self.w2 @ im2col(x[n0:n1], win)).reshape(co, n1 - n0, ho * wo)
            self.cols = None
        if b is not None:
            y += b[:, None, None]
        return from_channel_major(y.reshape(co, n, ho, wo))

    def backward(self, g):
        n, ci, h, wd = self.x_shape
        co = self.w2.shape[0]
        xp = array_module(g)
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        g3 = channel_major(g).reshape(co, n, self.ho * self.wo)
        db = g3.reshape(co, -1) @ xp.ones(n * self.ho * self.wo, dtype=g.dtype) if need_b else None
        dw, dx_parts = None, []
        for n0, n1 in self.chunks:
            gc = g3[:, n0:n1].reshape(co, -1)
            if need_w:
                cols = self.cols if self.cols is not None else im2col(self.x[n0:n1], self.win)
                dw_chunk = (cols @ gc.T).T
                dw = dw_chunk if dw is None else dw + dw_chunk
            if need_x:
                if self.cols is not None and self.owns_cols:    # dW has read cols: reuse it
                    dcols, self.cols = xp.matmul(self.w2.T, gc, out=self.cols), None
                else:
                    dcols = self.w2.T @ gc
                dx_parts.append(col2im(dcols, (n1 - n0, ci, h, wd), self.win))
        dx = None
        if need_x:
            dx = dx_parts[0] if len(dx_parts) == 1 else from_channel_major(
                xp.concatenate([channel_major(p) for p in dx_parts], axis=1))
        if need_w:
            dw = dw.reshape(co, ci, self.win.kh, self.win.kw)
        return (dx, dw, db)[:len(self.needs_input_grad)]


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution of NCHW ``x`` with (Co, Ci, kh, kw) weights ``w`` and optional bias ``b``."""
    if b is None:
        return Conv2d.apply(x, w, stride=stride, padding=padding, dilation=dilation)
    return Conv2d.apply(x, w, b, stride=stride, padding=padding, dilation=dilation)
