"""train_dl_model: seeded batches, change strategies at the named epochs, evaluation and the best
model, history as JSON, progress, errors."""
import copy
import io
import json

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl import training
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(**params):
    kw = dict(class_ids=[0, 1, 2], image_width=6, image_height=6, image_num_channels=3,
              batch_size=2, seed=1, learning_rate=0.01)
    kw.update(params)
    return hdl.create_dl_model('classification', **kw)


def spy_steps(monkeypatch, model):
    """Record, per training step, the learning rate in force and the image_ids of the batch."""
    calls = []
    real = model.train_batch

    def train_batch(samples):
        calls.append((model.get_param('learning_rate'), [s['image_id'] for s in samples]))
        return real(samples)
    monkeypatch.setattr(model, 'train_batch', train_batch)
    return calls


def test_each_epoch_is_a_seeded_permutation_with_the_remainder_dropped(monkeypatch):
    model = make()
    samples = random_samples(model, 9)                 # 4 steps of 2, one sample left over
    calls = spy_steps(monkeypatch, model)
    history = hdl.train_dl_model(model, samples, epochs=3, seed=5, progress=False)
    assert history['steps_per_epoch'] == 4 and len(calls) == 12
    epochs = [sum((ids for _, ids in calls[e * 4:(e + 1) * 4]), []) for e in range(3)]
    for ids in epochs:
        assert len(set(ids)) == 8 and set(ids) <= {100 + i for i in range(9)}
    assert len({tuple(ids) for ids in epochs}) == 3          # a new permutation every epoch
    rerun = make()
    again = spy_steps(monkeypatch, rerun)
    hdl.train_dl_model(rerun, samples, epochs=3, seed=5, progress=False)
    assert [ids for _, ids in again] == [ids for _, ids in calls]
    assert_same_snapshot(snapshot(model), snapshot(rerun))
    other = make()
    third = spy_steps(monkeypatch, other)
    hdl.train_dl_model(other, samples, epochs=1, seed=6, progress=False)
    assert [ids for _, ids in third] != [ids for _, ids in calls[:4]]


@pytest.mark.parametrize('epochs_at, first_changed_step', [([2], 8), ([1.5], 6), ([0], 0),
                                                          ([0.25, 2.5], 1)])
def test_change_strategy_acts_at_the_step_where_the_epochs_are_done(monkeypatch, epochs_at,
                                                                    first_changed_step):
    model = make()
    samples = random_samples(model, 8)                 # 4 steps per epoch
    calls = spy_steps(monkeypatch, model)
    values = [0.001 * (k + 1) for k in range(len(epochs_at))]
    hdl.train_dl_model(model, samples, epochs=3, progress=False, change=[
        {'model_param': 'learning_rate', 'initial_value': 0.05, 'epochs': epochs_at,
         'values': values}])
    rates = [lr for lr, _ in calls]
    expected = []
    for s in range(12):
        value = 0.05
        for e, v in zip(epochs_at, values):
            if e <= s / 4:
                value = v
        expected.append(value)
    assert rates == expected
    assert rates.index(values[0]) == first_changed_step


def test_procedure_equals_the_hand_written_loop_with_sgd_velocity_keeping_the_old_rate():
    samples = random_samples(make(), 8)
    model = make(momentum=0.9, batch_size_multiplier=2)
    hdl.train_dl_model(model, samples, epochs=3, seed=2, progress=False, change=[
        {'model_param': 'learning_rate', 'epochs': [1, 2], 'values': [0.005, 0.001]},
        {'model_param': 'momentum', 'initial_value': 0.5, 'epochs': [2], 'values': [0.8]}])
    manual = make(momentum=0.9, batch_size_multiplier=2)
    rng = np.random.default_rng(2)
    for epoch in range(3):
        manual.set_param('learning_rate', [0.01, 0.005, 0.001][epoch])
        manual.set_param('momentum', 0.5 if epoch < 2 else 0.8)
        order = rng.permutation(8)
        for k in range(2):
            hdl.train_dl_model_batch(manual, [samples[i] for i in order[4 * k:4 * k + 4]])
    assert_same_snapshot(snapshot(model), snapshot(manual))


def test_best_model_by_the_main_measure_is_kept_and_restored(monkeypatch):
    model = make()
    samples = random_samples(model, 4)
    errors = iter([0.5, 0.2, 0.3, 0.2])              # the best is epoch 2 (a tie later loses)
    monkeypatch.setattr('halcon_dl.evaluation.evaluate_dl_model',
                        lambda m, s, measures=None: {'top1_error': next(errors)})
    states = {}
    history = hdl.train_dl_model(model, samples, samples, epochs=4, progress=False,
                                 on_epoch=lambda r: states.__setitem__(r['epoch'], snapshot(model)),
                                 restore_best=True)
    assert history['best'] == {'epoch': 2, 'measure': 'top1_error', 'value': 0.2}
    assert [r['validation']['top1_error'] for r in history['epochs']] == [0.5, 0.2, 0.3, 0.2]
    assert_same_snapshot(states[2], snapshot(model))


def test_evaluation_every_k_epochs_and_after_the_last():
    model = make()
    samples = random_samples(model, 4)
    history = hdl.train_dl_model(model, samples, samples, epochs=5, evaluate_every=2,
                                 progress=False)
    evaluated = [r['epoch'] for r in history['epochs'] if r['validation'] is not None]
    assert evaluated == [2, 4, 5]
    assert 0.0 <= history['epochs'][1]['validation']['top1_error'] <= 1.0


def test_history_round_trips_through_json():
    model = make()
    samples = random_samples(model, 4)
    history = hdl.train_dl_model(model, samples, samples, epochs=2, progress=False,
                                 measures='all')
    assert json.loads(json.dumps(history, allow_nan=False)) == history
    record = history['epochs'][0]
    assert set(record) == {'epoch', 'losses', 'validation', 'params', 'learning_rate', 'seconds',
                           'train_seconds', 'evaluation_seconds'}
    assert set(record['losses']) == {'total_loss', 'cross_entropy_loss', 'regularization_loss'}
    assert isinstance(record['validation']['absolute_confusion_matrix'], list)


def test_on_epoch_returning_false_stops():
    model = make()
    history = hdl.train_dl_model(model, random_samples(model, 4), epochs=5, progress=False,
                                 on_epoch=lambda r: r['epoch'] < 2)
    assert len(history['epochs']) == 2 and history['stopped_early']


def test_progress_is_one_line_per_epoch_in_a_log():
    model = make()
    log = io.StringIO()
    samples = random_samples(model, 4)
    hdl.train_dl_model(model, samples, samples, epochs=3, stream=log)
    lines = log.getvalue().splitlines()
    assert '\r' not in log.getvalue() and len(lines) == 3
    assert all(line.startswith(f'epoch {e}/3 2/2 running loss ') and 'validation top1_error' in line
               for e, line in enumerate(lines, 1))


def test_interrupt_says_where(monkeypatch):
    model = make()
    real, count = model.train_batch, []

    def step(samples):
        count.append(1)
        if len(count) == 3:
            raise KeyboardInterrupt
        return real(samples)
    monkeypatch.setattr(model, 'train_batch', step)
    with pytest.raises(KeyboardInterrupt) as info:
        hdl.train_dl_model(model, random_samples(model, 4), epochs=2, progress=False)
    assert info.value.__notes__ == ['interrupted in epoch 2/2 after step 0/2']


@pytest.mark.parametrize('kwargs, message', [
    (dict(epochs=0), 'epochs must be an integer >= 1'),
    (dict(epochs=2.0), 'epochs must be an integer'),
    (dict(epochs=1, evaluate_every=0), 'evaluate_every'),
    (dict(epochs=1, seed=-1), 'seed'),
    (dict(epochs=1, change={'model_param': 'learning_rate', 'epochs': [2, 1], 'values': [1, 2]}),
     'increasing'),
    (dict(epochs=1, change={'model_param': 'learning_rate', 'epochs': [1], 'values': [1, 2]}),
     'one per entry'),
    (dict(epochs=1, change={'model_param': 'learning_rate', 'epochs': [1], 'values': [-1.0]}),
     'learning_rate'),
    (dict(epochs=1, change={'model_param': 'base_width', 'epochs': [1], 'values': [8]}),
     'cannot be changed during training'),
    (dict(epochs=1, change={'model_param': 'lr', 'epochs': [1], 'values': [1]}), 'unknown parameter'),
    (dict(epochs=1, change={'param': 'learning_rate', 'epochs': [1], 'values': [1]}), 'keys'),
    (dict(epochs=1, change=['learning_rate']), 'expected a dict'),
])
def test_bad_arguments_raise_and_change_nothing(kwargs, message):
    model = make()
    before = snapshot(model)
    with pytest.raises(hdl.HalconDLError, match=message):
        hdl.train_dl_model(model, random_samples(model, 4), progress=False, **kwargs)
    assert_same_snapshot(before, snapshot(model))


def test_too_few_samples_for_a_step():
    model = make(batch_size=3, batch_size_multiplier=2)
    with pytest.raises(hdl.HalconDLError, match='3 x 2|needs .* 6 samples'):
        hdl.train_dl_model(model, random_samples(model, 5), epochs=1, progress=False)


def test_checkpoint_holds_the_best_model(tmp_path, monkeypatch):
    model = make()
    samples = random_samples(model, 4)
    errors = iter([0.4, 0.1, 0.3])
    monkeypatch.setattr('halcon_dl.evaluation.evaluate_dl_model',
                        lambda m, s, measures=None: {'top1_error': next(errors)})
    states = {}
    path = tmp_path / 'best.npz'
    hdl.train_dl_model(model, samples, samples, epochs=3, progress=False, checkpoint=str(path),
                       on_epoch=lambda r: states.__setitem__(r['epoch'], snapshot(model)))
    assert_same_snapshot(states[2], snapshot(hdl.read_dl_model(str(path))))
