"""The training procedure around the training operator: HALCON's ``train_dl_model``.

``train_dl_model(model, train, validation, epochs=...)`` runs epochs of training steps
(``train_dl_model_batch``) over shuffled batches, applies change strategies to model parameters
at the epochs they name, evaluates on the validation samples, keeps the best model and returns a
history that converts to JSON as it is.

Conventions [C] where HALCON's procedure leaves a choice:

* **Batches.** A step takes ``batch_size × batch_size_multiplier`` samples.  Each epoch draws a
  new permutation of the training samples from a generator seeded with ``seed`` (the epochs of
  two runs with the same seed see the same batches); the ``n mod step`` samples left over at the
  end of an epoch's permutation are **dropped** for that epoch (a partial step would change the
  meaning of BatchNorm and of the gradient mean), and the next permutation drops others.
* **Change strategies** (HALCON's ``create_dl_train_param`` form)::

      {'model_param': 'learning_rate', 'initial_value': 0.01, 'epochs': [10, 15],
       'values': [0.001, 0.0001]}

  ``epochs`` count *completed* epochs: the parameter is ``initial_value`` until 10 epochs are
  done, so epoch 11 is the first with 0.001.  Fractional entries act at the first step at which
  that many epochs are done: with S steps per epoch, step s (0-based, over the whole run) uses
  ``values[k]`` for the largest k with ``epochs[k] ≤ s / S``.  Any settable parameter can be
  changed, several strategies at once (applied in the order given).  Without ``initial_value``
  the model's current value is the initial one.  SGD's velocity keeps the steps taken with the
  old learning rate (HALCON's form of the update), so a drop acts softly.
* **Data parallelism** (a model set up with ``halcon_dl.distributed.data_parallel``, P
  processes): every rank draws the same permutation and takes its own slice of each global
  batch of P × ``batch_size × batch_size_multiplier`` samples (rank r the r-th slice), so the
  run makes the steps of one process with multiplier P·M on the same batches.  Every rank
  evaluates the whole validation set (the models are bit-identical, so are the measures); only
  rank 0 shows progress and writes the checkpoint.
* **Evaluation and the best model.** After every ``evaluate_every``-th epoch and after the last,
  the validation samples are evaluated with ``evaluate_dl_model``; the type's main measure
  decides the best model: classification ``top1_error`` (lower is better), segmentation
  ``mean_iou``, detection ``mean_ap`` (higher is better).  The best model's state is kept in
  memory and, with ``checkpoint=PATH``, written there with ``write_dl_model`` whenever it
  improves.  ``restore_best=True`` loads it into ``model`` at the end (default: ``model`` keeps
  the weights of the last step).

The history: ``{'epochs': [record, ...], 'best': {'epoch', 'measure', 'value'} or None,
'steps_per_epoch', 'samples_per_step', 'stopped_early'}``, each record ``{'epoch',
'losses': {name: mean over the epoch's steps}, 'validation': {measure: value} or None,
'params': {changed parameter: value at the epoch's end}, 'learning_rate', 'seconds',
'train_seconds', 'evaluation_seconds'}``; measures that are arrays (confusion matrices,
per-class lists) are stored as nested lists.
"""
from __future__ import annotations

import copy
import math
import numbers
import sys
import time

import numpy as np

from .backend import make_rng
from .errors import HalconDLError
from .params import SETTABLE, spec

MAIN_MEASURE = {'classification': ('top1_error', 'lower'),     # the measure deciding the best
                'segmentation': ('mean_iou', 'higher'),       # model, and which way is better
                'detection': ('mean_ap', 'higher')}


class ChangeStrategy:
    """A parameter schedule: ``initial`` until ``epochs[0]`` epochs are done, then ``values[0]``
    until ``epochs[1]``, and so on (see the module docstring)."""

    def __init__(self, model, strategy, index: int):
        where = f'change strategy {index}'
        if not isinstance(strategy, dict):
            raise HalconDLError(f'{where}: expected a dict, got {type(strategy).__name__}')
        unknown = set(strategy) - {'model_param', 'initial_value', 'epochs', 'values'}
        if unknown or not {'model_param', 'epochs', 'values'} <= set(strategy):
            raise HalconDLError(f"{where}: expected the keys 'model_param', 'epochs', 'values' "
                                f"and optionally 'initial_value', got {sorted(map(str, strategy))}")
        self.name = strategy['model_param']
        entry = spec(self.name, model.type)
        if entry.access_for(model.type) != SETTABLE:
            raise HalconDLError(f"{where}: parameter '{self.name}' cannot be changed during training")
        epochs, values = strategy['epochs'], strategy['values']
        epochs = list(epochs) if isinstance(epochs, (list, tuple, np.ndarray)) else [epochs]
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not epochs or len(epochs) != len(values) or not all(
                isinstance(e, numbers.Real) and not isinstance(e, bool) and math.isfinite(e)
                and e >= 0 for e in epochs) or any(b <= a for a, b in zip(epochs, epochs[1:])):
            raise HalconDLError(f"{where}: 'epochs' must be increasing numbers >= 0, one per "
                                f"entry of 'values', got {strategy['epochs']!r} and "
                                f"{strategy['values']!r}")
        for value in values + ([strategy['initial_value']] if 'initial_value' in strategy else []):
            entry.check(self.name, value, model)         # every value validated up front
        self.epochs = [float(e) for e in epochs]
        self.values = values
        self.initial = strategy.get('initial_value', model.get_param(self.name))

    def value_at(self, progress: float):
        """The value for a step taken when ``progress`` epochs are done."""
        value = self.initial
        for e, v in zip(self.epochs, self.values):
            if e <= progress:
                value = v
        return value


def _step_size(model) -> int:
    return model.get_param('batch_size') * model.get_param('batch_size_multiplier')


def _jsonable(value):
    """Measures as JSON values: arrays to (nested) lists, NumPy scalars to Python ones, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def train_dl_model(model, train_samples, validation_samples=None, *, epochs, change=(),
                   evaluate_every: int = 1, seed=0, shuffle: bool = True, on_epoch=None,
                   checkpoint=None, restore_best: bool = False, measures=None,
                   progress=True, stream=None) -> dict:
    """Train ``model`` for ``epochs`` epochs; returns the history (module docstring).

    ``train_samples``, ``validation_samples``: sequences of sample dicts (any object with
    ``len`` and indexing works, e.g. one that loads images from disk per sample).
    ``on_epoch(record)`` is called after every epoch; returning ``False`` stops training.
    ``progress``: show a progress display on ``stream`` (default: standard error).
    """
    from .evaluation import evaluate_dl_model
    from .model import DLModel
    from .params import check_seed
    if not isinstance(model, DLModel):
        raise HalconDLError(f'expected a model made by create_dl_model, got {type(model).__name__}')
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise HalconDLError(f'epochs must be an integer >= 1, got {epochs!r}')
    if (isinstance(evaluate_every, bool) or not isinstance(evaluate_every, numbers.Integral)
            or evaluate_every < 1):
        raise HalconDLError(f'evaluate_every must be an integer >= 1, got {evaluate_every!r}')
    seed = check_seed(seed, 'train_dl_model(seed=...)')
    strategies = [ChangeStrategy(model, s, i) for i, s in
                  enumerate([change] if isinstance(change, dict) else list(change))]
    from . import distributed
    ranks, rank = distributed.size(model), distributed.rank(model)
    n, step = len(train_samples), _step_size(model)
    if n < ranks * step:
        raise HalconDLError(f'train_dl_model: a step needs batch_size x batch_size_multiplier = '
                            f'{step} samples' + (f' on each of {ranks} processes' if ranks > 1
                                                 else '') + f', the training set has {n}')
    steps = n // (ranks * step)
    root = rank == 0
    if not root:
        progress, checkpoint = False, None
    measure, direction = MAIN_MEASURE[model.type]
    rng = make_rng(seed)
    display = _progress_display(stream, progress)
    history = {'epochs': [], 'best': None, 'steps_per_epoch': steps,
               'samples_per_step': ranks * step, 'stopped_early': False}
    best_state = None
    current = {s.name: None for s in strategies}     # the value each strategy last set
    epoch = k = 0
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            order = rng.permutation(n) if shuffle else np.arange(n)
            sums = {}
            if display:
                display.epoch_start()
            for k in range(steps):
                for s in strategies:
                    value = s.value_at((epoch - 1) + k / steps)
                    if current[s.name] is None or value != current[s.name]:
                        model.set_param(s.name, value)
                        current[s.name] = value
                first = (k * ranks + rank) * step           # this rank's slice of the batch
                losses = model.train_batch([train_samples[int(i)]
                                            for i in order[first:first + step]])
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + value
                if display:
                    display.step(epoch, epochs, k + 1, steps, losses['total_loss'], step)
            k = steps
            record = {'epoch': epoch, 'losses': {name: v / steps for name, v in sums.items()},
                      'validation': None,
                      'params': {name: _jsonable(model.get_param(name)) for name in current},
                      'learning_rate': model.get_param('learning_rate'),
                      'train_seconds': time.perf_counter() - t0, 'evaluation_seconds': 0.0}
            if validation_samples is not None and (epoch % evaluate_every == 0 or epoch == epochs):
                t1 = time.perf_counter()
                result = evaluate_dl_model(model, validation_samples, measures)
                record['validation'] = _jsonable(result)
                record['evaluation_seconds'] = time.perf_counter() - t1
                value = result.get(measure)
                best = history['best']['value'] if history['best'] else None
                if value is not None and math.isfinite(value) and (
                        best is None or (value < best if direction == 'lower' else value > best)):
                    history['best'] = {'epoch': epoch, 'measure': measure, 'value': float(value)}
                    best_state = copy.deepcopy(model)
                    if checkpoint is not None:
                        from .io import write_dl_model
                        write_dl_model(model, checkpoint)
            record['seconds'] = time.perf_counter() - t0
            history['epochs'].append(record)
            if display:
                display.epoch_done(record, measure)
            if on_epoch is not None and on_epoch(record) is False:
                history['stopped_early'] = epoch < epochs
                break
    except KeyboardInterrupt as exc:
        if display:
            display.close()
        exc.add_note(f'interrupted in epoch {epoch}/{epochs} after step {k}/{steps}')
        raise
    if restore_best and best_state is not None:
        _load_state(model, best_state)
    return history


def _load_state(model, source):
    """Make ``model`` hold ``source``'s weights, statistics, optimiser state and parameters."""
    model.params = copy.deepcopy(source.params)
    model.network, model.solver = source.network, source.solver
    model.rng = source.rng


class _Display:
    """Per step: epoch, bar, running loss, samples/s; per epoch the line closes with the main
    validation measure (see ``progress.Progress``: redrawn in place only on a terminal)."""

    def __init__(self, stream):
        from .progress import Progress
        self.progress = Progress(stream)
        self.started = self.loss = None
        self.status = ''

    def epoch_start(self):
        self.started, self.loss = time.perf_counter(), None

    def step(self, epoch, epochs, done, total, loss, samples_per_step):
        self.loss = loss if self.loss is None else 0.9 * self.loss + 0.1 * loss
        rate = done * samples_per_step / max(time.perf_counter() - self.started, 1e-9)
        self.status = f'running loss {self.loss:.4f} {rate:.0f} samples/s'
        self.label, self.done, self.total = f'epoch {epoch}/{epochs}', done, total
        self.progress.update(self.label, done, total, self.status)

    def epoch_done(self, record, measure):
        value = (record['validation'] or {}).get(measure)
        if value is not None:
            self.progress.update(self.label, self.done, self.total,
                                 f'{self.status}, validation {measure} {value:.4f}')
        self.progress.end_line()

    def close(self):
        self.progress.end_line()


def _progress_display(stream, enabled):
    return _Display(stream if stream is not None else sys.stderr) if enabled else None
