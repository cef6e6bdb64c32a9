"""gradcheck must catch wrong gradients (else every gradient test is void)."""
import numpy as np
import pytest

from halcon_dl.autograd import Function
from halcon_dl.testing import gradcheck


class SquareWithBugAt(Function):
    """z = x², with the gradient of one element off by ``bug`` (relative)."""
    def forward(self, x, index=0, bug=0.0):
        self.x, self.index, self.bug = x, index, bug
        return x * x

    def backward(self, g):
        dx = 2 * g * self.x
        dx.reshape(-1)[self.index] *= 1 + self.bug
        return dx


def test_correct_gradient_passes_elementwise_and_directional():
    x = np.random.default_rng(0).uniform(0.5, 2, (4, 5))
    assert gradcheck(lambda t: SquareWithBugAt.apply(t), [x]).mode == 'elementwise'
    big = np.random.default_rng(1).uniform(0.5, 2, (20, 20))
    assert gradcheck(lambda t: SquareWithBugAt.apply(t), [big]).mode == 'directional'


def test_a_small_error_in_one_element_is_caught_and_located():
    x = np.random.default_rng(0).uniform(0.5, 2, (4, 5))
    with pytest.raises(AssertionError, match=r'at \(2, 3\)'):
        gradcheck(lambda t: SquareWithBugAt.apply(t, index=13, bug=1e-4), [x])


def test_directional_mode_catches_an_error_too():
    x = np.random.default_rng(1).uniform(0.5, 2, (20, 20))
    with pytest.raises(AssertionError, match='directional'):
        gradcheck(lambda t: SquareWithBugAt.apply(t, index=0, bug=0.5), [x])


def test_float32_inputs_are_refused():
    with pytest.raises(TypeError):
        gradcheck(lambda t: t * t, [np.ones(3, dtype=np.float32)])
