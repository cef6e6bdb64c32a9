"""tests/detection: make the shared reference module ``det_reference`` importable.

The suite runs with ``--import-mode=importlib`` (test modules cannot import their neighbours), so
this folder is put on ``sys.path`` once for the helper module next to the tests.
"""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
