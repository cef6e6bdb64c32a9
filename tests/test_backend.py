"""The array backend on a machine without a GPU (and with one: tests/gpu)."""
import numpy as np
import pytest

from halcon_dl import HalconDLError
from halcon_dl import backend


def test_numpy_arrays_and_scalars_belong_to_numpy():
    assert backend.array_module(np.zeros(2), None, 3.0) is np
    assert backend.device_of(np.zeros(2)) == 'cpu'


def test_cpu_moves_are_identity_for_numpy():
    a = np.arange(3.0)
    assert backend.to_device(a, 'cpu') is a
    assert backend.to_numpy(a) is a


def test_unknown_runtime_and_precision_are_rejected():
    with pytest.raises(HalconDLError, match='runtime'):
        backend.check_runtime('tpu')
    with pytest.raises(HalconDLError, match='precision'):
        backend.check_float_dtype('float16')
    assert backend.check_float_dtype('float64') == np.float64


@pytest.mark.skipif(backend.gpu_available(), reason='this machine has a GPU')
def test_gpu_request_without_gpu_raises_a_clear_error():
    with pytest.raises(HalconDLError, match="runtime 'gpu' needs CuPy"):
        backend.to_device(np.zeros(2), 'gpu')


def test_seeded_generators_repeat():
    a = backend.make_rng(5).standard_normal(4)
    b = backend.make_rng(5).standard_normal(4)
    np.testing.assert_array_equal(a, b)
