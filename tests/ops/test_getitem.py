"""Indexing with integer arrays and masks: the backward sums the gradient of every element read
from one position of x, exactly (naive loops), in the documented pairwise order, identically on
every run, in float32 as float32; gradients against finite differences in float64."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import halcon_dl.ops as O
from halcon_dl.autograd import Tensor
from halcon_dl.kernels.segment import segment_sum
from halcon_dl.testing import gradcheck
from halcon_dl.testing.strategies import arrays

EXAMPLES = settings(max_examples=25)
RNG = np.random.default_rng(11)

# (x's shape, index): every kind of advanced index, each reading some element several times
INDEXES = {
    'rows_with_repeats': ((5, 3), np.array([4, 0, 4, 4, 2, 0])),
    'negative_rows': ((4, 2), np.array([-1, 3, -4, 0])),
    'rows_as_list': ((4, 2), [1, 1, 3]),
    'scalar_array_index': ((4, 2), np.int64(2)),
    'index_matrix': ((5, 2), np.array([[0, 1], [1, 1], [4, 0]])),
    'mask_first_axis': ((4, 3), np.array([True, False, True, True])),
    'mask_all_axes': ((3, 4), RNG.uniform(size=(3, 4)) > 0.4),
    'two_arrays_broadcast': ((3, 4), (np.array([[0], [2], [0]]), np.array([1, 3, 1, 1]))),
    'slice_then_array': ((3, 4, 2), (slice(None), np.array([3, 3, 0]))),
    'arrays_apart_move_to_front': ((3, 4, 2), (np.array([0, 2, 0]), slice(1, 3), np.array([1, 1, 0]))),
    'ellipsis_then_array': ((2, 3, 4), (Ellipsis, np.array([0, 3, 3]))),
    'new_axis_and_array': ((3, 2), (None, np.array([2, 2, 1]))),
    'mask_and_array': ((3, 4), (np.array([True, False, True]), np.array([3, 3]))),
}


def adjoint_by_definition(shape, index, g):
    """dx[p] = <g, e_p[index]> for every position p of x: the definition of the adjoint of
    indexing, one position at a time (uses only NumPy's forward indexing)."""
    dx = np.zeros(shape, dtype=g.dtype)
    for p in np.ndindex(*shape):
        e = np.zeros(shape, dtype=g.dtype)
        e[p] = 1
        dx[p] = (g * e[index]).sum()
    return dx


def grad_of_getitem(x, index, g):
    t = Tensor(x, requires_grad=True)
    O.getitem(t, index).backward(g)
    return t.grad


@pytest.mark.parametrize('name', sorted(INDEXES))
def test_gradient_equals_the_adjoint_by_definition(name):
    shape, index = INDEXES[name]
    x = RNG.uniform(-2, 2, shape)
    g = RNG.integers(-9, 10, np.shape(x[index])).astype(np.float64)   # integers: sums are exact
    np.testing.assert_array_equal(grad_of_getitem(x, index, g), adjoint_by_definition(shape, index, g))


@pytest.mark.parametrize('name', sorted(INDEXES))
def test_gradcheck_with_repeated_elements(name):
    shape, index = INDEXES[name]
    gradcheck(lambda t: O.getitem(t, index) ** 2, [RNG.uniform(-2, 2, shape)])


@EXAMPLES
@given(a=st.integers(1, 6), k=st.integers(1, 4), data=st.data())
def test_anchor_gather_matches_a_naive_loop(a, k, data):
    # the gather of the detection losses: x (A, K), idx (M,) with repeats
    idx = np.array(data.draw(st.lists(st.integers(0, a - 1), min_size=0, max_size=12)), dtype=np.int64)
    g = np.array(data.draw(st.lists(st.integers(-50, 50), min_size=len(idx) * k,
                                    max_size=len(idx) * k)), dtype=np.float32).reshape(len(idx), k)
    expected = np.zeros((a, k), dtype=np.float32)
    for m in range(len(idx)):
        expected[idx[m]] += g[m]
    got = grad_of_getitem(np.zeros((a, k), dtype=np.float32), idx, g)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@EXAMPLES
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 4)), data=st.data())
def test_gradcheck_of_drawn_row_gathers(shape, data):
    x = data.draw(arrays(shape))
    rows = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=8)))
    gradcheck(lambda t: O.getitem(t, rows) * O.getitem(t, rows), [x])


def pairwise_in_documented_order(values):
    """The documented tree: spans 1, 2, 4, ...; rank j ≡ 0 (mod 2s) adds rank j + s."""
    v, span = list(values), 1
    while span < len(v):
        for j in range(0, len(v) - span, 2 * span):
            v[j] = v[j] + v[j + span]
        span *= 2
    return v[0]


def test_repeats_are_summed_pairwise_in_the_order_they_were_gathered():
    # float32 values of very different magnitude: every summation order rounds differently,
    # so only the documented order reproduces the result bit for bit
    idx = np.array([1, 0, 1, 1, 1, 2, 1, 1, 0, 1, 1])
    g = (RNG.uniform(-1, 1, len(idx)) * 10.0 ** RNG.integers(-4, 5, len(idx))).astype(np.float32)
    got = grad_of_getitem(np.zeros(3, dtype=np.float32), idx, g)
    for row in range(3):
        expected = pairwise_in_documented_order([np.float32(v) for v in g[idx == row]])
        assert got[row] == expected, row
    sequential = np.float32(0)
    for v in g[idx == 1]:
        sequential = np.float32(sequential + v)
    assert got[1] != sequential     # the case does tell the orders apart


def test_float32_stays_float32_and_repeated_runs_are_bit_identical():
    x = RNG.uniform(-1, 1, (50, 4)).astype(np.float32)
    idx = RNG.integers(0, 50, 400)
    g = RNG.normal(0, 1, (400, 4)).astype(np.float32)
    first = grad_of_getitem(x, idx, g)
    assert first.dtype == np.float32
    for _ in range(3):
        assert grad_of_getitem(x, idx, g).tobytes() == first.tobytes()


def test_segment_sum_of_nothing_is_zeros_of_the_values_dtype():
    out = segment_sum(np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.float32), 4)
    assert out.dtype == np.float32 and out.shape == (4, 3) and not out.any()
