"""Stochastic gradient descent with momentum, in HALCON's form (the manual of train_dl_model_batch).

    v ← μ·v − λ·g
    w ← w + v                  (v starts at 0)

The velocity carries the learning rate λ: when λ changes, the stored velocity still holds the
steps taken with the old λ, so the change acts softly, as in HALCON.  g is the full gradient
(mean data gradient + α·w for regularised weights), formed by the caller.
"""
from __future__ import annotations

from ..backend import array_module
from .base import Solver


class SGD(Solver):
    """State: one velocity per parameter name.  ``step`` updates the weights in place."""

    name = 'sgd'
    slots = ('velocity',)

    def __init__(self):
        self.velocity = {}

    def step(self, weights: dict, grads: dict, learning_rate: float, momentum: float) -> None:
        for name, w in weights.items():
            g = grads[name]
            v = self.velocity.get(name)
            if v is None:
                v = self.velocity[name] = array_module(w).zeros_like(w)
            v *= momentum
            v -= learning_rate * g
            w += v
