"""DLModel: a model of one type with its parameters, network and optimiser state.

The model-type specifics (sample keys, network, losses, inference results) live in
``halcon_dl.tasks`` behind one protocol (``tasks.base.Task``); this class holds what all types
share: the parameter table, the training step and inference.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .autograd import Tensor, no_grad
from .backend import array_module, check_runtime, make_rng, retain_freed_memory, to_device
from .errors import HalconDLError
from .kernels.parallel import single_threaded_blas
from .losses import weight_prior_loss
from .optim import SOLVERS
from .params import MODEL_TYPES, check_seed, defaults, spec, validate
from .samples import positions_from, sample_list
from .tasks import TASKS

_system = {'seed_rand': 0, 'cudnn_deterministic': 'false'}


class DLModel:
    """A deep-learning model: create with ``create_dl_model``, train with ``train_batch``."""

    #: None: a training step runs in this process alone.  ``halcon_dl.distributed.data_parallel``
    #: sets a process group here; the step then spans all its processes (see ``gradients``).
    replicas = None

    def __init__(self, model_type, *, backbone='compact', class_ids, class_names=None,
                 image_width, image_height, image_num_channels, seed=None, **params):
        if not isinstance(model_type, str) or model_type not in TASKS:
            raise HalconDLError(f'model type {model_type!r} is not supported; supported: '
                                f'{sorted(TASKS)} (of HALCON\'s {list(MODEL_TYPES)} and others)')
        self.type = model_type
        self.task = TASKS[model_type]()
        if not isinstance(backbone, str) or backbone not in self.task.backbones:
            raise HalconDLError(f'unknown backbone {backbone!r}; valid: {list(self.task.backbones)}')
        self.backbone = backbone
        self.seed = (_system['seed_rand'] if seed is None
                     else check_seed(seed, 'create_dl_model(seed=...)'))
        self.rng = make_rng(self.seed)
        self.params = defaults(model_type)
        self.params.update(type=model_type, backbone=backbone, runtime='cpu', precision='float32')
        self.params['class_ids'] = validate('class_ids', class_ids, self, creating=True)
        self.params['class_names'] = [str(c) for c in self.class_ids]
        self.params.update(self.task.default_params(self))
        given = {'class_names': class_names, 'image_width': image_width,
                 'image_height': image_height, 'image_num_channels': image_num_channels}
        late = {k: params.pop(k) for k in ('runtime', 'precision') if k in params}
        for name, value in [*given.items(), *params.items()]:
            if value is not None or name != 'class_names':
                self.params[name] = validate(name, value, self, creating=True)
        self._check_value_range()
        self.params['precision'] = validate('precision', late.get('precision', 'float32'), self)
        self.task.check_params(self)
        self.network = self.task.build_network(self, self.rng)
        self.solver = SOLVERS[self.params['solver_type']]()
        if 'runtime' in late:
            self.set_param('runtime', late['runtime'])

    # -- properties -------------------------------------------------------------------------------
    class_ids = property(lambda self: self.params['class_ids'])
    dtype = property(lambda self: np.dtype(self.params['precision']))
    runtime = property(lambda self: self.params['runtime'])
    xp = property(lambda self: array_module(next(iter(self.parameters().values()))))

    def parameters(self) -> 'OrderedDict[str, object]':
        """Ordered mapping parameter name -> live array (writing into an array changes the model)."""
        return OrderedDict((n, p.data) for n, p in self.network.named_parameters())

    def buffers(self) -> 'OrderedDict[str, object]':
        """Ordered mapping buffer name -> live array (BatchNorm running statistics)."""
        return OrderedDict((n, b.data) for n, b in self.network.named_buffers())

    def optimizer_state(self) -> dict:
        """The optimiser's state arrays by key (live)."""
        return self.solver.state()

    # -- parameters -------------------------------------------------------------------------------
    def get_param(self, name):
        entry = spec(name, self.type)
        value = len(self.class_ids) if entry.name == 'num_classes' else self.params[entry.name]
        return list(value) if isinstance(value, (list, tuple)) else value

    def set_param(self, name, value):
        """Set a parameter (validated); the network and optimiser follow (see ``_apply_param``).
        A rejected value changes nothing."""
        value = validate(name, value, self)
        old = self.params.get(name)
        self.params[name] = value
        try:
            if name in ('image_range_min', 'image_range_max'):
                self._check_value_range()
            if name == 'runtime':
                check_runtime(value)
            self._apply_param(name, old, value)
        except BaseException:
            self.params[name] = old
            raise

    def _check_value_range(self):
        low, high = self.params['image_range_min'], self.params['image_range_max']
        if not low < high:
            raise HalconDLError(f'parameter image_range_min must be below image_range_max, got '
                                f'{low} and {high}')

    def _apply_param(self, name, old, value):
        """Side effects of a parameter change: those every type shares here, the rest by the
        task (which returns the names of replaced parameters: their optimiser state is dropped)."""
        if name == 'solver_type' and value != old:
            self.solver = SOLVERS[value]()
        elif name == 'batchnorm_momentum':
            for m in self.network.modules():
                if hasattr(m, 'momentum'):
                    m.momentum = value
        elif name == 'runtime':
            self.network.to(value)
            self.solver.map_arrays(lambda a: to_device(a, value))
        elif name == 'precision':
            self.network.astype(value)
            self.solver.map_arrays(lambda a: a.astype(value))
        self.solver.forget(self.task.on_param_change(self, name, old, value))

    # -- files ------------------------------------------------------------------------------------
    def write(self, path) -> None:
        """Write the model to the file ``path`` (``halcon_dl.io.write_dl_model``)."""
        from .io import write_dl_model          # io builds on this module
        write_dl_model(self, path)

    @classmethod
    def read(cls, path, runtime: str = 'cpu') -> 'DLModel':
        """A model read from the file ``path`` (``halcon_dl.io.read_dl_model``), on ``runtime``."""
        from .io import read_dl_model
        return read_dl_model(path, runtime)

    # -- training ---------------------------------------------------------------------------------
    def train_batch(self, samples) -> dict:
        """One training step on ``batch_size × batch_size_multiplier`` samples; returns losses."""
        losses, grads = self.gradients(samples)
        self._solver_step(dict(self.parameters()), grads)
        return losses

    def gradients(self, samples, operator='train_dl_model_batch'):
        """The losses and the full gradient of one training step, without the update.

        The step (HALCON's ``train_dl_model_batch``): the ``batch_size × batch_size_multiplier``
        samples are cut, in order, into M = ``batch_size_multiplier`` sub-batches; each runs
        forward in training mode (BatchNorm uses that sub-batch's statistics and updates its
        running statistics) and backward; the data gradient is the mean over the sub-batches.
        Each sub-batch's gradient ∇L_k is formed by its own backward pass and the M of them are
        added in sub-batch order, (…((∇L_1 + ∇L_2) + ∇L_3) + …) + ∇L_M; the loss values alike.

        Returns ``(losses, grads)``: the DLTrainResult dict (each loss the mean over the
        sub-batches, ``total_loss`` = the weighted head losses + ``regularization_loss``) and,
        per parameter name, the gradient the optimiser receives, g = (1/M) Σ_k ∇L_k + α·w
        (α·w for regularised weights only), all at the current weights.  On any failure
        (invalid sample, non-finite loss or gradient) the BatchNorm statistics are restored and
        the error re-raised: nothing in the model changes.

        With ``replicas`` set (``halcon_dl.distributed.data_parallel``) the sums run over the
        sub-batches of all processes in rank order, and M counts them all.
        """
        params = self.network.named_parameters()
        saved_stats = [b.data.copy() for _, b in self.network.named_buffers()]
        try:
            if self.replicas is None:
                sums, totals, parts = self._accumulate(samples, operator)
            else:
                sums, totals, parts = self.replicas.accumulate(self, samples, operator)
            bad = [n for n, v in sums.items() if not math.isfinite(v)]
            bad += [n for n, g in totals.items() if not bool(array_module(g).isfinite(g).all())]
            if bad:
                raise HalconDLError(f'training step produced non-finite values in {bad}; weights, '
                                    'optimiser state and BatchNorm statistics are unchanged')
        except BaseException:
            for (_, b), data in zip(self.network.named_buffers(), saved_stats):
                b.data[...] = data
            for _, p in params:
                p.grad = None
            raise
        losses = {name: value / parts for name, value in sums.items()}
        alpha = self.params['weight_prior']
        regularized = [p.data for _, p in params if p.regularize]
        losses['regularization_loss'] = weight_prior_loss(regularized, alpha) if alpha > 0 else 0.0
        losses = {'total_loss': sum(w * losses[n] for n, w in self.task.loss_weights(self).items())
                  + losses['regularization_loss'], **losses}
        grads = {}
        for name, p in params:
            g = totals[name] / parts if parts > 1 else totals[name]
            grads[name] = g + alpha * p.data if alpha > 0 and p.regularize else g
        return losses, grads

    def _accumulate(self, samples, operator, each=None):
        """Validate this process's samples and run their M sub-batches in order.

        Returns ``(sums, totals, M)``: per loss name Σ_k L_k and per parameter name Σ_k ∇L_k,
        each added in sub-batch order.  With ``each``, every sub-batch's ``(terms, grads)`` (see
        ``_sub_batch``) is handed to ``each`` instead, in order, and ``sums``, ``totals`` stay
        empty (``halcon_dl.distributed`` collects them so)."""
        samples = sample_list(samples, operator)
        size, parts = self.params['batch_size'], self.params['batch_size_multiplier']
        if len(samples) != size * parts:
            raise HalconDLError(
                f'{operator} needs batch_size x batch_size_multiplier = {size} x '
                f'{parts} = {size * parts} samples, got {len(samples)}')
        batch = self.task.collate(self, samples)
        retain_freed_memory()
        weights = self.task.loss_weights(self)
        sums, totals = {}, {}

        def add(terms, grads):
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value
            for name, g in grads.items():
                if name in totals:
                    totals[name] += g
                else:
                    totals[name] = g              # a fresh array (see _sub_batch)
        self.network.train()
        # non-finite results are reported by the caller; the BLAS stays at one thread so that the
        # CPU threads of the kernels have the cores to themselves (kernels.parallel)
        with np.errstate(all='ignore'), single_threaded_blas():
            for k in range(parts):
                part = {key: a[k * size:(k + 1) * size] for key, a in batch.items()}
                (each or add)(*self._sub_batch(part, weights))
        return sums, totals, parts

    def _sub_batch(self, part, weights):
        """Forward and backward of one sub-batch.  Returns ``(terms, grads)``: its loss values
        (floats) and, per parameter name, its gradient (a fresh array; zeros for a parameter the
        loss does not reach).  The sub-batch's graph (everything forward kept for backward) is
        referenced only from this frame, so it is freed on return, before the next sub-batch's
        forward."""
        params = self.network.named_parameters()
        for _, p in params:
            p.grad = None
        terms = self.task.losses(self, self.network(Tensor(part['images'])), part)
        total = None
        for name, w in weights.items():
            weighted = terms[name] * w if w != 1.0 else terms[name]
            total = weighted if total is None else total + weighted
        total.backward()
        grads = {}
        for name, p in params:
            grads[name] = p.grad if p.grad is not None else array_module(p.data).zeros_like(p.data)
            p.grad = None
        return {name: float(t.data if isinstance(t, Tensor) else t) for name, t in terms.items()}, grads

    def _solver_step(self, weights, grads):
        p = self.params
        if p['solver_type'] == 'sgd':
            self.solver.step(weights, grads, p['learning_rate'], p['momentum'])
        else:
            self.solver.step(weights, grads, p['learning_rate'], p['adam_beta1'], p['adam_beta2'],
                             p['adam_epsilon'])

    # -- inference --------------------------------------------------------------------------------
    def apply(self, samples) -> list:
        """Inference on any number of samples (in chunks of batch_size), BatchNorm in eval mode
        (running statistics).  One result dict per sample."""
        samples = sample_list(samples, 'apply_dl_model')
        size = self.params['batch_size']
        results = []
        self.network.eval()
        try:
            with no_grad():
                for k in range(0, len(samples), size):
                    with positions_from(k):
                        batch = self.task.collate(self, samples[k:k + size], labels=False)
                    results += self.task.results(self, self.network(Tensor(batch['images'])))
        finally:
            self.network.train()
        return results


def set_system(name, value):
    """Global settings: 'seed_rand' (default seed of new models) and 'cudnn_deterministic'.

    The CPU path is always deterministic.  On the GPU no op uses atomic scatter-adds in its
    backward, so 'cudnn_deterministic' = 'true' holds without changing any kernel; it is stored
    and reported by ``get_system``.
    """
    if name == 'seed_rand':
        _system['seed_rand'] = check_seed(value, "set_system('seed_rand', ...)")
    elif name == 'cudnn_deterministic':
        if value not in ('true', 'false'):
            raise HalconDLError(f"set_system('cudnn_deterministic', ...) needs 'true' or 'false', "
                                f'got {value!r}')
        _system['cudnn_deterministic'] = value
    else:
        raise HalconDLError(f'unknown system parameter {name!r}; valid: {sorted(_system)}')


def get_system(name):
    if name not in _system:
        raise HalconDLError(f'unknown system parameter {name!r}; valid: {sorted(_system)}')
    return _system[name]


__all__ = ['DLModel', 'set_system', 'get_system']
