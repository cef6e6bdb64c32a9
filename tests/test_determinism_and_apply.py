"""Bit-identical repeated runs on the CPU; inference results (SPEC §9, §11)."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def run(seed, solver, steps=10):
    m = hdl.create_dl_model('classification', class_ids=[0, 1, 2], image_width=12,
                            image_height=10, image_num_channels=3, batch_size=3,
                            batch_size_multiplier=2, solver_type=solver, learning_rate=0.01,
                            weight_prior=1e-3, seed=seed)
    losses = [hdl.train_dl_model_batch(m, random_samples(m, 6, seed=100 + s)) for s in range(steps)]
    return m, losses


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_two_runs_with_the_same_seeds_are_bit_identical(solver):
    a, la = run(7, solver)
    b, lb = run(7, solver)
    assert la == lb
    assert_same_snapshot(snapshot(a), snapshot(b))


def test_a_different_seed_gives_a_different_model():
    a, _ = run(7, 'sgd', steps=1)
    b, _ = run(8, 'sgd', steps=1)
    assert not np.array_equal(a.parameters()['fc.weight'], b.parameters()['fc.weight'])


def test_set_system_seed_rand_is_the_default_seed():
    hdl.set_system('seed_rand', 11)
    try:
        kw = dict(class_ids=[0, 1], image_width=4, image_height=4, image_num_channels=1)
        implicit = hdl.create_dl_model('classification', **kw)
        explicit = hdl.create_dl_model('classification', seed=11, **kw)
        assert_same_snapshot(snapshot(implicit), snapshot(explicit))
    finally:
        hdl.set_system('seed_rand', 0)
    with pytest.raises(hdl.HalconDLError):
        hdl.set_system('seed_rand', -1)
    with pytest.raises(hdl.HalconDLError):
        hdl.set_system('cudnn_deterministic', 'yes')
    with pytest.raises(hdl.HalconDLError, match='valid'):
        hdl.set_system('no_such_setting', 1)


def test_apply_results_any_number_of_samples_and_no_state_change():
    m, _ = run(3, 'sgd', steps=3)
    before = snapshot(m)
    samples = random_samples(m, 7, seed=9)                 # batch_size 3: chunks of 3, 3, 1
    results = hdl.apply_dl_model(m, samples)
    assert len(results) == 7 and hdl.apply_dl_model(m, []) == []
    for r in results:
        conf = r['classification_confidences']
        assert sorted(r['classification_class_ids']) == [0, 1, 2]
        assert conf == sorted(conf, reverse=True) and sum(conf) == pytest.approx(1, abs=1e-6)
        assert r['classification_class_names'] == [str(i) for i in r['classification_class_ids']]
    assert_same_snapshot(before, snapshot(m))
    # eval mode uses the running statistics: a sample's result does not depend on its batch
    alone = hdl.apply_dl_model(m, samples[4:5])[0]
    np.testing.assert_allclose(alone['classification_confidences'],
                               results[4]['classification_confidences'], rtol=1e-5)
