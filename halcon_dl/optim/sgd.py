"""Stochastic gradient descent with momentum, in HALCON's form (the manual of train_dl_model_batch).

    v ← μ·v − λ·g
    w ← w + v                  (v starts at 0)

The velocity carries the learning rate λ: when λ changes, the stored velocity still holds the
steps taken with the old λ, so the change acts softly, as in HALCON.  g is the full gradient
(mean data gradient + α·w for regularised weights), formed by the caller.
"""
from __future__ import annotations

from ..backend import array_module


class SGD:
    """State: one velocity per parameter name.  ``step`` updates the weights in place."""

    name = 'sgd'

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

    def state(self) -> dict:
        """Arrays of the optimiser state, by key ('velocity.<parameter name>')."""
        return {f'velocity.{k}': v for k, v in self.velocity.items()}

    def map_arrays(self, fn) -> None:
        """Replace every state array by ``fn(array)`` (device moves, dtype casts)."""
        self.velocity = {k: fn(x) for k, x in self.velocity.items()}

    def forget(self, names) -> None:
        """Drop the state of parameters that were replaced (e.g. a rebuilt output layer)."""
        for name in names:
            self.velocity.pop(name, None)
