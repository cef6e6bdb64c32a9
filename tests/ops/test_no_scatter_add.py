"""No backward uses a scatter-add (``ufunc.at``, ``scatter_add``, weighted ``bincount``): on CuPy
those are atomic, so their float sums change from run to run.  Checked twice: every op case,
every loss and a training step run forward and backward with NumPy's scatter-adds made to raise,
and the sources of the differentiable code are scanned for them."""
import io
import pathlib
import tokenize

import numpy as np
import pytest

import halcon_dl
from halcon_dl.autograd import Tensor
from halcon_dl.losses import cross_entropy, focal_loss, huber_loss
from halcon_dl.testing.op_cases import op_cases

SCATTER_UFUNCS = ('add', 'subtract', 'multiply', 'maximum', 'minimum')
CODE_WITH_BACKWARDS = ('autograd', 'kernels', 'losses', 'nn', 'ops')


class _UfuncWithoutAt:
    """Stands in for a NumPy ufunc: calls and methods are the ufunc's, except ``at``."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return self._ufunc(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def at(self, *args, **kwargs):
        raise AssertionError(f'numpy.{self._ufunc.__name__}.at called: a scatter-add')


@pytest.fixture
def scatter_adds_raise(monkeypatch):
    for name in SCATTER_UFUNCS:
        monkeypatch.setattr(np, name, _UfuncWithoutAt(getattr(np, name)))

    def bincount(*args, **kwargs):
        raise AssertionError('numpy.bincount called: a scatter-add')
    monkeypatch.setattr(np, 'bincount', bincount)


def test_the_patch_catches_a_scatter_add(scatter_adds_raise):
    with pytest.raises(AssertionError, match='add.at'):
        np.add.at(np.zeros(3), np.array([0, 0]), 1.0)
    with pytest.raises(AssertionError, match='bincount'):
        np.bincount(np.array([0, 0]), weights=np.ones(2))


@pytest.mark.parametrize('name, fn, inputs', op_cases(), ids=[c[0] for c in op_cases()])
def test_no_op_backward_scatter_adds(name, fn, inputs, scatter_adds_raise):
    tensors = [Tensor(a, requires_grad=True) for a in inputs]
    out = fn(*tensors)
    out.backward(np.ones(out.shape))
    assert all(t.grad is not None for t in tensors)


LOSSES = {
    'cross_entropy': (lambda z: cross_entropy(z, np.array([0, 2, 1, 2])), (4, 3)),
    'focal_loss': (lambda z: focal_loss(z, np.eye(4, 3), np.array([0.25, 0.5, 1.0])), (4, 3)),
    'huber_loss': (lambda z: huber_loss(z, np.zeros((4, 3))), (4, 3)),
}


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_no_loss_backward_scatter_adds(name, scatter_adds_raise):
    fn, shape = LOSSES[name]
    z = Tensor(np.random.default_rng(0).normal(0, 2, shape), requires_grad=True)
    fn(z).backward()
    assert z.grad is not None and np.abs(z.grad).sum() > 0


def test_no_training_step_scatter_adds(scatter_adds_raise):
    from halcon_dl.testing.models import random_samples
    model = halcon_dl.create_dl_model('classification', class_ids=[1, 2, 3], image_width=8,
                                      image_height=8, image_num_channels=3, batch_size=2, seed=0)
    before = {k: v.copy() for k, v in model.parameters().items()}
    halcon_dl.train_dl_model_batch(model, random_samples(model, 2))
    assert any((model.parameters()[k] != v).any() for k, v in before.items())


def _scatter_adds_in(path):
    """(line, text) of every call of ``.at(``, ``scatter_add`` or ``bincount`` in the code of
    ``path`` (tokens, so docstrings and comments that name them do not count)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    found = []
    for prev, tok, nxt in zip(tokens, tokens[1:], tokens[2:]):
        if tok.type != tokenize.NAME:
            continue
        if (tok.string == 'at' and prev.string == '.' and nxt.string == '(') or \
                tok.string in ('scatter_add', 'bincount'):
            found.append((tok.start[0], tok.line.strip()))
    return found


def test_the_source_scan_finds_a_scatter_add(tmp_path):
    code = tmp_path / 'op.py'
    code.write_text('"""add.at( in a docstring"""\n# scatter_add in a comment\n'
                    'xp.add.at(dx, i, g)\ncupyx.scatter_add(dx, i, g)\n')
    assert [line for line, _ in _scatter_adds_in(code)] == [3, 4]


def test_no_scatter_add_in_the_sources():
    root = pathlib.Path(halcon_dl.__file__).parent
    found = {f'{path.relative_to(root)}:{line}': text
             for package in CODE_WITH_BACKWARDS for path in sorted((root / package).rglob('*.py'))
             for line, text in _scatter_adds_in(path)}
    assert not found, found
