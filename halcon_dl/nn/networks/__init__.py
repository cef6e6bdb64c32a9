"""Network architectures built from ``halcon_dl.nn`` layers."""
from .classification import BACKBONES, Compact, ResNet18, batch_norms

__all__ = ['BACKBONES', 'Compact', 'ResNet18', 'batch_norms']
