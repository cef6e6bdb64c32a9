"""tests/gpu runs on CuPy when CuPy and a CUDA device are present; otherwise it is skipped."""
import pytest

from halcon_dl.backend import gpu_available


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason='no CuPy with a CUDA device on this machine (GPU tests)')
    for item in items:
        if '/tests/gpu/' in str(item.fspath).replace('\\', '/'):
            item.add_marker(skip)
