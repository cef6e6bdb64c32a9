"""SGD and Adam against their recurrences unrolled by hand, in float64 (SPEC §7)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from halcon_dl.optim import SGD, Adam
from halcon_dl.testing.strategies import arrays

floats = st.floats(-3, 3, allow_nan=False)


@settings(max_examples=30)
@given(w0=arrays((4,), contiguous=True), grads=st.lists(arrays((4,), contiguous=True), min_size=5, max_size=5),
       mu=st.floats(0, 0.99), lr1=st.floats(1e-4, 1), lr2=st.floats(1e-4, 1))
def test_sgd_five_steps_with_a_learning_rate_change(w0, grads, mu, lr1, lr2):
    """v ← μv − λg, w ← w + v; λ changes after step 3 and the velocity keeps the old λ."""
    lrs = [lr1, lr1, lr1, lr2, lr2]
    w = {'w': w0.copy()}
    sgd = SGD()
    for g, lr in zip(grads, lrs):
        sgd.step(w, {'w': g}, lr, mu)
    g1, g2, g3, g4, g5 = grads
    v1 = -lr1 * g1
    v2 = mu * v1 - lr1 * g2
    v3 = mu * v2 - lr1 * g3
    v4 = mu * v3 - lr2 * g4            # v3 still carries lr1
    v5 = mu * v4 - lr2 * g5
    np.testing.assert_allclose(w['w'], w0 + v1 + v2 + v3 + v4 + v5, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(sgd.velocity['w'], v5, rtol=1e-13, atol=1e-13)


@settings(max_examples=30)
@given(w0=arrays((3,), contiguous=True), grads=st.lists(arrays((3,), contiguous=True), min_size=5, max_size=5),
       lr=st.floats(1e-4, 0.5), b1=st.floats(0, 0.99), b2=st.floats(0, 0.9999),
       eps=st.floats(1e-8, 1e-3))
def test_adam_five_steps(w0, grads, lr, b1, b2, eps):
    """m ← β1m + (1−β1)g, v ← β2v + (1−β2)g², w ← w − λ m̂/(√v̂ + ε), m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)."""
    w = {'w': w0.copy()}
    adam = Adam()
    for g in grads:
        adam.step(w, {'w': g}, lr, b1, b2, eps)
    expected, m, v = w0.copy(), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        expected = expected - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(w['w'], expected, rtol=1e-12, atol=1e-12)
    assert adam.t == 5


def test_first_adam_step_moves_each_weight_by_about_the_learning_rate():
    # t = 1: m̂ = g, v̂ = g², so the step is λ·g/(|g| + ε) ≈ λ·sign(g), whatever |g|
    w = {'w': np.zeros(3)}
    Adam().step(w, {'w': np.array([1e-3, -5.0, 2.0])}, 0.1, 0.9, 0.999, 1e-12)
    np.testing.assert_allclose(w['w'], [-0.1, 0.1, -0.1], rtol=1e-8)


def test_optimisers_update_in_place_and_keep_float32():
    w = np.ones(3, dtype=np.float32)
    alias = w
    for opt, args in ((SGD(), (0.1, 0.9)), (Adam(), (0.1, 0.9, 0.999, 1e-8))):
        opt.step({'w': w}, {'w': np.full(3, 0.5, dtype=np.float32)}, *args)
        assert w is alias and w.dtype == np.float32
        assert all(a.dtype == np.float32 for a in opt.state().values())


def test_forget_and_map_arrays():
    sgd = SGD()
    sgd.step({'a': np.ones(2), 'b': np.ones(2)}, {'a': np.ones(2), 'b': np.ones(2)}, 0.1, 0.5)
    sgd.forget(['a'])
    assert list(sgd.state()) == ['velocity.b']
    sgd.map_arrays(lambda x: x.astype(np.float32))
    assert sgd.velocity['b'].dtype == np.float32
