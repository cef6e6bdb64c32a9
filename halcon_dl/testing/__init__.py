"""Test helpers shipped with the package: gradient checking, naive oracles, hypothesis strategies
(the strategies need the ``test`` extra)."""
from .gradcheck import GradcheckReport, gradcheck

__all__ = ['gradcheck', 'GradcheckReport']
