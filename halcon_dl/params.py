"""The one table of model parameters: name, default, validation, documentation, access per type.

``get_dl_model_param`` and ``set_dl_model_param`` go through this table: an unknown name or a
value out of range raises :class:`HalconDLError` listing the valid names or the allowed range.
Each entry says which model types have it and, per type, how it may be changed:

* ``SETTABLE`` — at creation (``create_dl_model(..., name=value)``) and later with
  ``set_dl_model_param``;
* ``CREATION`` — only at creation (it fixes the network's shape, e.g. detection's pyramid
  levels and anchors): setting it later raises an error saying so;
* ``GET_ONLY`` — derived or fixed by the creation arguments (``type``, ``backbone``, ...).

What a change does to the network (rebuilding a layer, moving to the GPU, resetting the
optimiser) is the model's and its task's (``DLModel.set_param``, ``Task.on_param_change``).
Type-specific defaults (e.g. class weights 0.25 for detection) come from the task
(``Task.default_params``).  Defaults marked [C] are this project's conventions where HALCON is
silent; names are HALCON's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import HalconDLError

MODEL_TYPES = ('classification', 'segmentation', 'detection')
ALL_TYPES = frozenset(MODEL_TYPES)
DETECTION = frozenset({'detection'})
SEGMENTATION = frozenset({'segmentation'})

SETTABLE, CREATION, GET_ONLY = 'settable', 'creation-only', 'get-only'
ACCESS_MODES = (SETTABLE, CREATION, GET_ONLY)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: object                     # a value, or None when given at creation / from the task
    check: object                       # check(name, value, model) -> normalised value, or raises
    doc: str
    access: object = SETTABLE           # one of ACCESS_MODES, or {model type: mode}
    types: frozenset = field(default=ALL_TYPES)

    def access_for(self, model_type: str) -> str:
        """How a model of ``model_type`` may change this parameter (one of ACCESS_MODES)."""
        return self.access.get(model_type, SETTABLE) if isinstance(self.access, dict) else self.access


# -- validators ----------------------------------------------------------------------------------

def _fail(name, value, expected):
    raise HalconDLError(f"parameter '{name}': expected {expected}, got {value!r}")


def _as_number(name, value, expected):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(name, value, expected)
    return float(value)


def integer(lo, hi=None):
    """An integer in [lo, hi] (a float holding an integral value is accepted)."""
    def check(name, value, model):
        expected = f'an integer >= {lo}' + (f' and <= {hi}' if hi is not None else '')
        number = _as_number(name, value, expected)
        if not number.is_integer() or number < lo or (hi is not None and number > hi):
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
        if not isinstance(value, (str, bool)) or value not in options:
            _fail(name, value, f'one of {list(options)}')
        return value
    return check


def boolean(name, value, model):
    """True/False, or HALCON's 'true'/'false'."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value in ('true', 'false'):
        return value == 'true'
    _fail(name, value, "True, False, 'true' or 'false'")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def real_list(lo=-math.inf, lo_open=False, distinct=True):
    """A non-empty list of finite numbers > lo (>= lo unless ``lo_open``), distinct if asked."""
    def check(name, value, model):
        values = [real(lo, lo_open=lo_open)(name, v, model) for v in _as_list(value)]
        if not values or (distinct and len(set(values)) != len(values)):
            _fail(name, value, 'a non-empty list of ' + ('distinct ' if distinct else '')
                  + f'numbers {">" if lo_open else ">="} {lo}')
        return values
    return check


def class_id_list(name, value, model):
    ids = [integer(0)(name, v, model) for v in _as_list(value)]
    if not ids or len(set(ids)) != len(ids):
        _fail(name, value, 'a non-empty list of distinct integer class IDs >= 0')
    return ids


def class_name_list(name, value, model):
    names = _as_list(value) if not isinstance(value, str) else [value]
    if not all(isinstance(n, str) for n in names) or len(names) != len(model.class_ids):
        _fail(name, value, f'{len(model.class_ids)} strings (one per class ID)')
    return names


def class_weight_list(name, value, model):
    """One weight >= 0 per class (one number sets all); detection's are the focal loss α in [0, 1]."""
    n = len(model.class_ids)
    hi = 1.0 if model.type == 'detection' else math.inf
    weights = [real(0.0, hi)(name, v, model) for v in _as_list(value)]
    if len(weights) == 1:
        weights = weights * n
    if len(weights) != n or not any(w > 0 for w in weights):
        _fail(name, value, f'one number in [0, {hi}] or {n} of them (one per class), not all 0')
    return weights


def ignore_id_list(name, value, model):
    ids = [integer(0)(name, v, model) for v in _as_list(value)]
    clash = sorted(set(ids) & set(model.class_ids))
    if clash:
        _fail(name, value, f'IDs that are not class IDs (clash: {clash})')
    return sorted(set(ids))


def class_id_subset(name, value, model):
    """Class IDs of the model (possibly none), e.g. ``class_ids_no_orientation``."""
    ids = [integer(0)(name, v, model) for v in _as_list(value)]
    unknown = sorted(set(ids) - set(model.class_ids))
    if unknown:
        _fail(name, value, f'IDs among the class IDs {model.class_ids} (unknown: {unknown})')
    return sorted(set(ids))


def _fixed(name, value, model):
    raise HalconDLError(f"parameter '{name}' can only be read")


_SIZE_ACCESS = {'classification': SETTABLE, 'segmentation': SETTABLE, 'detection': CREATION}

PARAMS = {p.name: p for p in [
    ParamSpec('type', None, _fixed, 'model type', access=GET_ONLY),
    ParamSpec('backbone', None, _fixed, "backbone name ('compact', 'resnet18')", access=GET_ONLY),
    ParamSpec('num_classes', None, _fixed, 'number of classes (from class_ids)', access=GET_ONLY),
    ParamSpec('base_width', 16, integer(1), "[C] width of the 'resnet18' backbone's first stage",
              access=CREATION),
    ParamSpec('class_ids', None, class_id_list,
              'class IDs; setting them rebuilds the output layer', access=_SIZE_ACCESS),
    ParamSpec('class_names', None, class_name_list, 'one name per class ID'),
    ParamSpec('image_width', None, integer(1), 'input width (settable where the network is fully '
              'convolutional or ends in global pooling)', access=_SIZE_ACCESS),
    ParamSpec('image_height', None, integer(1), 'input height', access=_SIZE_ACCESS),
    ParamSpec('image_num_channels', None, integer(1),
              'input channels; setting it re-initialises the first convolution',
              access=_SIZE_ACCESS),
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
              '[C] one weight per class (default 1.0; detection: the focal α, default 0.25); '
              'one number sets all'),
    ParamSpec('ignore_class_ids', (), ignore_id_list, 'label IDs whose pixels get weight 0',
              types=SEGMENTATION),
    ParamSpec('batchnorm_momentum', 0.1, real(0.0, 1.0),
              '[C] running = (1-m)·running + m·batch (unbiased variance kept)'),
    ParamSpec('runtime', 'cpu', choice('cpu', 'gpu'),
              "'cpu' (NumPy) or 'gpu' (CuPy); switching moves weights and optimiser state"),
    ParamSpec('precision', 'float32', choice('float32', 'float64'),
              '[C] working dtype of the whole model (float64 for checks)'),
    # detection, fixed at creation: they shape the pyramid, the anchors and the heads
    ParamSpec('instance_type', 'rectangle1', choice('rectangle1', 'rectangle2'),
              "[H] 'rectangle1' (axis-aligned) or 'rectangle2' (oriented boxes)",
              access=CREATION, types=DETECTION),
    ParamSpec('min_level', 2, integer(1), '[C] finest pyramid level (stride 2^l)',
              access=CREATION, types=DETECTION),
    ParamSpec('max_level', 4, integer(1), '[C] coarsest pyramid level', access=CREATION,
              types=DETECTION),
    ParamSpec('anchor_num_subscales', 3, integer(1), '[C] anchor sizes per octave',
              access=CREATION, types=DETECTION),
    ParamSpec('anchor_aspect_ratios', (1.0, 2.0, 0.5), real_list(0.0, lo_open=True),
              '[C] anchor aspect ratios h/w', access=CREATION, types=DETECTION),
    ParamSpec('anchor_angles', (0.0,), real_list(), '[C] anchor angles (radians, rectangle2)',
              access=CREATION, types=DETECTION),
    ParamSpec('capacity', 'medium', choice('low', 'medium', 'high'),
              '[C] depth and width of the heads', access=CREATION, types=DETECTION),
    ParamSpec('ignore_direction', False, boolean,
              '[H] rectangle2: a box and its 180° turn are the same', access=CREATION,
              types=DETECTION),
    ParamSpec('class_ids_no_orientation', (), class_id_subset,
              '[H] rectangle2: classes trained and predicted without orientation',
              access=CREATION, types=DETECTION),
    # detection, settable
    ParamSpec('class_heads_weight', 1.0, real(0.0), '[H] weight of the focal loss in total_loss',
              types=DETECTION),
    ParamSpec('bbox_heads_weight', 1.0, real(0.0), '[H] weight of the Huber loss in total_loss',
              types=DETECTION),
    ParamSpec('min_confidence', 0.5, real(0.0, 1.0), '[H] least confidence of a detection',
              types=DETECTION),
    ParamSpec('max_overlap', 0.5, real(0.0, 1.0), '[H] NMS IoU threshold within a class',
              types=DETECTION),
    ParamSpec('max_overlap_class_agnostic', 1.0, real(0.0, 1.0),
              '[H] NMS IoU threshold across classes (1.0: off)', types=DETECTION),
    ParamSpec('max_num_detections', 100, integer(0), '[H] most detections per image',
              types=DETECTION),
]}


def spec(name: str, model_type: str) -> ParamSpec:
    """The table entry of ``name`` for a model of ``model_type``, or an error listing the names."""
    entry = PARAMS.get(name) if isinstance(name, str) else None
    if entry is None or model_type not in entry.types:
        valid = sorted(n for n, p in PARAMS.items() if model_type in p.types)
        raise HalconDLError(f'unknown parameter {name!r} for a {model_type} model; valid: {valid}')
    return entry


def validate(name: str, value, model, creating: bool = False):
    """The normalised value of a parameter given by the user.

    ``creating``: the value comes with ``create_dl_model`` (creation-only parameters allowed).
    """
    entry = spec(name, model.type)
    access = entry.access_for(model.type)
    if access == GET_ONLY:
        raise HalconDLError(f"parameter '{name}' can only be read")
    if access == CREATION and not creating:
        raise HalconDLError(f"parameter '{name}' of a {model.type} model can only be set at "
                            f'creation: create_dl_model(..., {name}=...)')
    return entry.check(name, value, model)


def defaults(model_type: str) -> dict:
    """Table defaults of every parameter a model of ``model_type`` has (None: from elsewhere)."""
    return {n: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for n, p in PARAMS.items() if model_type in p.types}


def check_seed(value, what: str) -> int:
    """A seed: an integer >= 0 (NumPy integers too), never coerced from bool, float or str."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise HalconDLError(f'{what} needs an integer >= 0, got {value!r}')
    return int(value)
