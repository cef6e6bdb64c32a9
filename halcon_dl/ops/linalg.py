"""Matrix product with NumPy's ``matmul`` semantics (batched, broadcasting, 1-D operands)."""
from __future__ import annotations

from ..autograd import Function, unbroadcast


class MatMul(Function):
    """z = x @ y;   dx = g @ yᵀ,  dy = xᵀ @ g   (ᵀ swaps the last two axes)

    A 1-D x is treated as a row (1, K) and a 1-D y as a column (K, 1), as in ``numpy.matmul``;
    batch dimensions broadcast and their gradients are summed back.
    """
    def forward(self, x, y):
        self.x2 = x[None, :] if x.ndim == 1 else x
        self.y2 = y[:, None] if y.ndim == 1 else y
        self.x_shape, self.y_shape = x.shape, y.shape
        z = self.x2 @ self.y2
        self.z2_shape = z.shape
        if x.ndim == 1:
            z = z[..., 0, :]
        if y.ndim == 1:
            z = z[..., 0]
        return z

    def backward(self, g):
        g2 = g.reshape(self.z2_shape)
        dx = dy = None
        if self.needs_input_grad[0]:
            dx = unbroadcast(g2 @ self.y2.swapaxes(-1, -2), self.x2.shape, 'MatMul').reshape(self.x_shape)
        if self.needs_input_grad[1]:
            dy = unbroadcast(self.x2.swapaxes(-1, -2) @ g2, self.y2.shape, 'MatMul').reshape(self.y_shape)
        return dx, dy


def matmul(x, y):
    return MatMul.apply(x, y)
