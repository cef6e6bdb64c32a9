"""The one table of model parameters (SPEC §4): name, default, validation, documentation.

``get_dl_model_param`` and ``set_dl_model_param`` go through this table: an unknown name or a
value out of range raises :class:`HalconDLError` listing the valid names or the allowed range.
Each entry says which model types it applies to and whether it can be set after creation; the
side effects of setting (rebuilding the output layer, moving to the GPU, resetting the optimiser)
are the model's (``DLModel._apply_param``).

Defaults marked [C] are this project's conventions where HALCON is silent; names are HALCON's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import HalconDLError

MODEL_TYPES = ('classification', 'segmentation', 'detection')
IMAGE_TYPES = frozenset({'classification', 'segmentation'})
ALL_TYPES = frozenset(MODEL_TYPES)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: object                     # a value, or None when given at creation / derived
    check: object                       # check(value, model) -> normalised value, or raises
    doc: str
    settable: bool = True
    types: frozenset = field(default=ALL_TYPES)


# -- validators ----------------------------------------------------------------------------------

def _fail(name, value, expected):
    raise HalconDLError(f"parameter '{name}': expected {expected}, got {value!r}")


def _as_number(name, value, expected):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(name, value, expected)
    return float(value)


def integer(lo):
    def check(name, value, model):
        expected = f'an integer >= {lo}'
        number = _as_number(name, value, expected)
        if not number.is_integer() or number < lo:
            _fail(name, value, expected)
        return int(number)
    return check


def real(lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False):
    def check(name, value, model):
        lb, rb = '(' if lo_open else '[', ')' if hi_open else ']'
        expected = f'a number in {lb}{lo}, {hi}{rb}'
        x = _as_number(name, value, expected)
        if (not math.isfinite(x) or x < lo or x > hi or (lo_open and x == lo)
                or (hi_open and x == hi)):
            _fail(name, value, expected)
        return x
    return check


def choice(*options):
    def check(name, value, model):
        if value not in options:
            _fail(name, value, f'one of {list(options)}')
        return value
    return check


def class_id_list(name, value, model):
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    ids = [integer(0)(name, v, model) for v in values]
    if not ids or len(set(ids)) != len(ids):
        _fail(name, value, 'a non-empty list of distinct integer class IDs >= 0')
    return ids


def class_name_list(name, value, model):
    names = list(value) if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(n, str) for n in names) or len(names) != len(model.class_ids):
        _fail(name, value, f'{len(model.class_ids)} strings (one per class ID)')
    return names


def class_weight_list(name, value, model):
    n = len(model.class_ids)
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    weights = [real(0.0)(name, v, model) for v in values]
    if len(weights) == 1:
        weights = weights * n
    if len(weights) != n or not any(w > 0 for w in weights):
        _fail(name, value, f'one number >= 0 or {n} of them (one per class), not all 0')
    return weights


def ignore_id_list(name, value, model):
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    ids = [integer(0)(name, v, model) for v in values]
    clash = sorted(set(ids) & set(model.class_ids))
    if clash:
        _fail(name, value, f'IDs that are not class IDs (clash: {clash})')
    return sorted(set(ids))


def _read_only(name, value, model):
    raise HalconDLError(f"parameter '{name}' can only be read")


PARAMS = {p.name: p for p in [
    ParamSpec('type', None, _read_only, 'model type', settable=False),
    ParamSpec('backbone', None, _read_only, "backbone name ('compact', 'resnet18')", settable=False),
    ParamSpec('base_width', 16, _read_only, '[C] resnet18 width of the first stage (fixed at creation)',
              settable=False),
    ParamSpec('num_classes', None, _read_only, 'number of classes (from class_ids)', settable=False),
    ParamSpec('class_ids', None, class_id_list,
              'class IDs; setting them rebuilds the output layer (classification)'),
    ParamSpec('class_names', None, class_name_list, 'one name per class ID'),
    ParamSpec('image_width', None, integer(1), 'input width (settable: the networks are '
              'fully convolutional up to global pooling)'),
    ParamSpec('image_height', None, integer(1), 'input height'),
    ParamSpec('image_num_channels', None, integer(1),
              'input channels; setting it re-initialises the first convolution'),
    ParamSpec('image_range_min', -127.0, real(), 'smallest image value [H]'),
    ParamSpec('image_range_max', 128.0, real(), 'largest image value [H]'),
    ParamSpec('batch_size', 8, integer(1), '[C] samples per sub-batch'),
    ParamSpec('batch_size_multiplier', 1, integer(1), '[H] sub-batches per training step'),
    ParamSpec('learning_rate', 0.001, real(0.0, lo_open=True), '[C] λ > 0'),
    ParamSpec('momentum', 0.9, real(0.0, 1.0, hi_open=True), '[C] SGD momentum 0 <= μ < 1'),
    ParamSpec('weight_prior', 0.0, real(0.0), '[C] L2 weight α >= 0'),
    ParamSpec('solver_type', 'sgd', choice('sgd', 'adam'),
              "[H] 'sgd' or 'adam'; changing it resets the optimiser state"),
    ParamSpec('adam_beta1', 0.9, real(0.0, 1.0, hi_open=True), '[C] Adam β1'),
    ParamSpec('adam_beta2', 0.999, real(0.0, 1.0, hi_open=True), '[C] Adam β2'),
    ParamSpec('adam_epsilon', 1e-8, real(0.0, lo_open=True), '[C] Adam ε'),
    ParamSpec('class_weights', None, class_weight_list,
              '[C] one weight per class (1.0 each by default); one number sets all'),
    ParamSpec('ignore_class_ids', (), ignore_id_list, 'segmentation: label IDs that get weight 0',
              types=frozenset({'segmentation'})),
    ParamSpec('batchnorm_momentum', 0.1, real(0.0, 1.0),
              '[C] running = (1-m)·running + m·batch (unbiased variance kept)'),
    ParamSpec('runtime', 'cpu', choice('cpu', 'gpu'),
              "'cpu' (NumPy) or 'gpu' (CuPy); switching moves weights and optimiser state"),
    ParamSpec('precision', 'float32', choice('float32', 'float64'),
              '[C] working dtype of the whole model (float64 for checks)'),
]}


def spec(name: str, model_type: str) -> ParamSpec:
    """The table entry of ``name`` for a model of ``model_type``, or an error listing the names."""
    entry = PARAMS.get(name) if isinstance(name, str) else None
    if entry is None or model_type not in entry.types:
        valid = sorted(n for n, p in PARAMS.items() if model_type in p.types)
        raise HalconDLError(f'unknown parameter {name!r} for a {model_type} model; valid: {valid}')
    return entry


def validate(name: str, value, model):
    """The normalised value of a parameter set by the user (settable ones only)."""
    entry = spec(name, model.type)
    if not entry.settable:
        raise HalconDLError(f"parameter '{name}' can only be read")
    return entry.check(name, value, model)
