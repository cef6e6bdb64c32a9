"""halcon_dl: HALCON's deep-learning training operator, readable and exact, on NumPy and CuPy."""
from .errors import HalconDLError

__all__ = ['HalconDLError']
__version__ = '0.1.0'
