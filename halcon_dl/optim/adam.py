"""Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"), with HALCON's parameter names.

    t ← t + 1                                  (t counts updates, i.e. training calls)
    m ← β1·m + (1 − β1)·g
    v ← β2·v + (1 − β2)·g²
    m̂ = m / (1 − β1^t),   v̂ = v / (1 − β2^t)
    w ← w − λ·m̂ / (√v̂ + ε)

g is the full gradient (mean data gradient + α·w for regularised weights: coupled L2).
"""
from __future__ import annotations

from ..backend import array_module


class Adam:
    """State: first and second moments per parameter name and the update count t."""

    name = 'adam'

    def __init__(self):
        self.m, self.v, self.t = {}, {}, 0

    def step(self, weights: dict, grads: dict, learning_rate: float, beta1: float, beta2: float,
             epsilon: float) -> None:
        self.t += 1
        bias1, bias2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        for name, w in weights.items():
            g = grads[name]
            xp = array_module(w)
            if name not in self.m:
                self.m[name], self.v[name] = xp.zeros_like(w), xp.zeros_like(w)
            m, v = self.m[name], self.v[name]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            w -= learning_rate * (m / bias1) / (xp.sqrt(v / bias2) + epsilon)

    def state(self) -> dict:
        """Arrays of the optimiser state, by key ('m.<name>', 'v.<name>')."""
        return {**{f'm.{k}': a for k, a in self.m.items()}, **{f'v.{k}': a for k, a in self.v.items()}}

    def map_arrays(self, fn) -> None:
        """Replace every state array by ``fn(array)`` (device moves, dtype casts)."""
        self.m = {k: fn(x) for k, x in self.m.items()}
        self.v = {k: fn(x) for k, x in self.v.items()}

    def forget(self, names) -> None:
        """Drop the state of parameters that were replaced (e.g. a rebuilt output layer)."""
        for name in names:
            self.m.pop(name, None)
            self.v.pop(name, None)
