"""Losses, one file each: the formula in the module docstring, a literal ``reference``
used by the tests, and the stable implementation as one fused Function with its gradient."""
from .cross_entropy import cross_entropy
from .focal import focal_loss
from .huber import huber_loss
from .regularization import weight_prior_gradient, weight_prior_loss

__all__ = ['cross_entropy', 'focal_loss', 'huber_loss', 'weight_prior_loss',
           'weight_prior_gradient']
