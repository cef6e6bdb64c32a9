"""float32 in gives float32 values and float32 gradients, for every op (no silent upcast)."""
import numpy as np
import pytest

from halcon_dl.autograd import Tensor
from halcon_dl.testing.op_cases import op_cases

CASES = op_cases()


def test_every_public_op_has_a_case():
    import halcon_dl.ops as O
    covered = {name.replace('_tensor', '').replace('_array', '') for name, _, _ in CASES}
    assert set(O.__all__) <= covered, set(O.__all__) - covered


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('name, fn, inputs', CASES, ids=[c[0] for c in CASES])
def test_dtype_is_preserved(name, fn, inputs, dtype):
    tensors = [Tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    out = fn(*tensors)
    assert out.dtype == dtype
    out.backward(np.ones(out.shape, dtype=dtype))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == dtype and t.grad.shape == t.shape
