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
from ..errors import HalconDLError
from .base import Solver


class Adam(Solver):
    """State: first and second moments per parameter name and the update count t."""

    name = 'adam'
    slots = ('m', 'v')

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

    def scalars(self) -> dict:
        return {'t': self.t}

    def load_state(self, arrays: dict, scalars: dict) -> None:
        """As ``Solver.load_state``; ``t`` must be an integer >= 0 and m, v cover the same
        parameters (``step`` creates and ``forget`` drops them together)."""
        t = scalars.get('t')
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise HalconDLError(f'adam state: the step count t must be an integer >= 0, got {t!r}')
        covered = [{k.partition('.')[2] for k in arrays if k.startswith(f'{slot}.')}
                   for slot in self.slots]
        if covered[0] != covered[1]:
            raise HalconDLError(f'adam state: m and v differ in their parameters '
                                f'({sorted(covered[0] ^ covered[1])})')
        super().load_state(arrays, scalars)
        self.t = t
