"""Optimisers: SGD with momentum and Adam, exactly as their docstrings write them (HALCON's SGD form, Kingma & Ba's Adam)."""
from .adam import Adam
from .base import Solver
from .sgd import SGD

SOLVERS = {'sgd': SGD, 'adam': Adam}

__all__ = ['Solver', 'SGD', 'Adam', 'SOLVERS']
