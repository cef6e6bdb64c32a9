"""Elementwise arithmetic with NumPy broadcasting.

Each op returns the gradient in the broadcast (output) shape; the engine sums it back to each
input's shape.  Python scalars are constants (no gradient) and never change the dtype.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module


class Add(Function):
    """z = x + y;   dx = g,  dy = g"""
    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = x - y;   dx = g,  dy = -g"""
    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """z = x · y;   dx = g · y,  dy = g · x"""
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        dx = g * self.y if self.needs_input_grad[0] else None
        dy = g * self.x if self.needs_input_grad[1] else None
        return dx, dy


class Div(Function):
    """z = x / y;   dx = g / y,  dy = -g · x / y² = -g · z / y"""
    def forward(self, x, y):
        self.y = y
        self.z = x / y
        return self.z

    def backward(self, g):
        dx = g / self.y if self.needs_input_grad[0] else None
        dy = -g * self.z / self.y if self.needs_input_grad[1] else None
        return dx, dy


class Neg(Function):
    """z = -x;   dx = -g"""
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Pow(Function):
    """z = x ** p;   dx = g · p · x^(p-1),   dp = g · z · log x  (defined for x > 0)"""
    def forward(self, x, p):
        self.x, self.p = x, p
        self.z = x ** p
        return self.z

    def backward(self, g):
        dx = g * self.p * self.x ** (self.p - 1) if self.needs_input_grad[0] else None
        dp = None
        if self.needs_input_grad[1]:
            xp = array_module(self.x)
            dp = g * self.z * xp.log(self.x)
        return dx, dp


class Exp(Function):
    """z = exp x;   dx = g · z"""
    def forward(self, x):
        self.z = array_module(x).exp(x)
        return self.z

    def backward(self, g):
        return g * self.z


class Log(Function):
    """z = log x;   dx = g / x"""
    def forward(self, x):
        self.x = x
        return array_module(x).log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    """z = √x;   dx = g / (2 z)"""
    def forward(self, x):
        self.z = array_module(x).sqrt(x)
        return self.z

    def backward(self, g):
        return g / (2 * self.z)


class Abs(Function):
    """z = |x|;   dx = g · sign(x)   (0 at x = 0)"""
    def forward(self, x):
        self.x = x
        return array_module(x).abs(x)

    def backward(self, g):
        return g * array_module(g).sign(self.x)


class Maximum(Function):
    """z = max(x, y);   dx = g·[x > y] + g/2·[x = y],  dy = g·[y > x] + g/2·[x = y]

    At ties the gradient is split evenly (a symmetric subgradient)."""
    def forward(self, x, y):
        self.x, self.y = x, y
        return array_module(x, y).maximum(x, y)

    def backward(self, g):
        tie = (self.x == self.y) * 0.5 if self.needs_input_grad[0] or self.needs_input_grad[1] else 0
        dx = g * ((self.x > self.y) + tie).astype(g.dtype) if self.needs_input_grad[0] else None
        dy = g * ((self.y > self.x) + tie).astype(g.dtype) if self.needs_input_grad[1] else None
        return dx, dy

def add(x, y):
    return Add.apply(x, y)


def sub(x, y):
    return Sub.apply(x, y)


def mul(x, y):
    return Mul.apply(x, y)


def div(x, y):
    return Div.apply(x, y)


def neg(x):
    return Neg.apply(x)


def pow(x, p):  # noqa: A001 - the op's name
    return Pow.apply(x, p)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):  # noqa: A001 - the op's name
    return Abs.apply(x)


def maximum(x, y):
    return Maximum.apply(x, y)
