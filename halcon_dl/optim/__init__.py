"""Optimisers: SGD with momentum and Adam, exactly as SPEC §7 writes them."""
from .adam import Adam
from .base import Solver
from .sgd import SGD

SOLVERS = {'sgd': SGD, 'adam': Adam}

__all__ = ['Solver', 'SGD', 'Adam', 'SOLVERS']
