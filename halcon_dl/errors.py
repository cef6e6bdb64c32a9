"""The one exception type of halcon_dl.

Every error a user can cause (bad samples, bad parameters, a GPU asked for where there is none,
a foreign model file) raises :class:`HalconDLError`.  It subclasses :class:`ValueError` so that
code written against plain Python conventions (``except ValueError``) catches it too.
"""


class HalconDLError(ValueError):
    """Raised for every invalid input, parameter, runtime request or model file."""
