"""Preprocessing: bring raw samples to a model (HALCON's ``create_dl_preprocess_param`` and
``preprocess_dl_samples``).

A preprocessing parameter dict holds what the model expects; ``preprocess_dl_samples`` returns
new sample dicts whose ``image`` is float32 ``(image_height, image_width, image_num_channels)``
in the model's value range, with label images, weight images and boxes moved along.  The input
samples are never changed; keys it does not process are deep-copied.

Coordinates (as everywhere in halcon_dl): pixel (r, c) has its centre at (r, c) and covers
[r−0.5, r+0.5] × [c−0.5, c+0.5]; an image of n pixels along an axis spans [−0.5, n−0.5].
Resizing an axis from n to m pixels maps that span onto [−0.5, m−0.5], so a source coordinate
x goes to ``x' = (x + 0.5)·f − 0.5`` with ``f = m/n``, and target pixel j has its centre at
source coordinate ``(j + 0.5)·n/m − 0.5``.

Order of the steps per sample: channel conversion, resizing, value mapping, float32.

* **Channels.** Equal counts pass; 1 → 3 copies the grey channel; 3 → 1 takes the luminance
  ``0.299·R + 0.587·G + 0.114·B`` (the weights of HALCON's ``rgb1_to_gray``).  Any other
  combination is an error (an RGBA array needs its alpha dropped first: ``image[..., :3]``).
* **Resizing**, each axis on its own (one axis may shrink while the other grows):
  shrinking (m < n) is an *area average*: target pixel j covers the source interval
  [j·s − 0.5, (j+1)·s − 0.5], s = n/m, and its value is Σ_i a_ji·x_i / Σ_i a_ji, where a_ji is
  the length of the overlap of source pixel i's interval [i−0.5, i+0.5] with it; for an integer
  factor k this is the mean of a k-pixel block.  Enlarging (m > n) is *bilinear* with edge
  clamping: u = clip((j + 0.5)·n/m − 0.5, 0, n−1), i0 = ⌊u⌋, i1 = min(i0+1, n−1), t = u − i0,
  value (1−t)·x_i0 + t·x_i1.  m = n is the identity.  Both are separable: the image is
  multiplied by a row matrix and a column matrix (computed in float64).
* **Label and weight images** use nearest neighbour: target pixel j takes the source pixel
  containing its centre, i = ⌊(j + 0.5)·n/m⌋ (computed in integers; a centre on a pixel border
  takes the later pixel).  Label images therefore hold only IDs that were in the input, with
  their dtype kept; weight images become float32.
* **Values.** ``normalization_type`` 'none' maps by the image's dtype: uint8 as
  ``I·(max−min)/255 + min``, uint16 as ``I·(max−min)/65535 + min``; float images are taken as
  already in the model's range [min, max] and are not changed (as HALCON does for real images).
  'all_channels' stretches each channel of the resized image on its own, 'first_channel'
  applies the stretch of channel 0 to every channel: with m, M the channel's least and greatest
  value, ``y = (x − m)·(max − min)/(M − m) + min`` (so the channel spans exactly [min, max]);
  a channel without contrast (M = m) has nothing to stretch and is shifted to the middle of
  the range, ``y = x − m + (min + max)/2``.  These two ignore the dtype.
* **Boxes.** rectangle1: rows ``(r + 0.5)·f_r − 0.5``, columns ``(c + 0.5)·f_c − 0.5``
  (f_r = image_height/H, f_c = image_width/W).  rectangle2: the image is scaled about the
  origin of the image plane (its corner (−0.5, −0.5)), which keeps angles only for equal
  factors: the centre moves as above, ``length1``/``length2`` are multiplied by f, ``phi`` is
  kept; unequal factors are an error.
* **Domain.** Samples here carry no region of interest: the whole image is used
  ('full_domain'); HALCON's 'crop_domain' and 'keep_domain' are refused.
"""
from __future__ import annotations

import copy
import functools
import math
import numbers

import numpy as np

from .backend import to_numpy
from .errors import HalconDLError
from .model import DLModel
from .samples import fail, require

MODEL_TYPES = ('classification', 'segmentation', 'detection')
NORMALIZATION_TYPES = ('none', 'first_channel', 'all_channels')
DOMAIN_HANDLINGS = ('full_domain',)
INSTANCE_TYPES = ('rectangle1', 'rectangle2')
LUMINANCE = np.array([0.299, 0.587, 0.114])     # HALCON's rgb1_to_gray weights (R, G, B)
COMMON_KEYS = ('model_type', 'image_width', 'image_height', 'image_num_channels',
               'image_range_min', 'image_range_max', 'normalization_type', 'domain_handling')
TYPE_KEYS = {'classification': (), 'segmentation': ('ignore_class_ids',),
             'detection': ('instance_type',)}
FROM_MODEL_ONLY = ('model_type', 'instance_type')    # fixed by the model: no override
RECTANGLE1_KEYS = ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2')
RECTANGLE2_KEYS = ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2')
FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


# ----------------------------------------------------------------------------- parameters

def create_dl_preprocess_param(model_type, image_width, image_height, image_num_channels,
                               image_range_min=-127.0, image_range_max=128.0,
                               normalization_type='none', domain_handling='full_domain', *,
                               ignore_class_ids=None, instance_type=None) -> dict:
    """A validated preprocessing parameter dict (HALCON's ``create_dl_preprocess_param``).

    Keys: ``model_type``, ``image_width``, ``image_height``, ``image_num_channels``,
    ``image_range_min``, ``image_range_max``, ``normalization_type`` ('none' |
    'first_channel' | 'all_channels'), ``domain_handling`` ('full_domain'); segmentation adds
    ``ignore_class_ids`` (default [], carried for the weight images: preprocessing changes no
    label), detection adds ``instance_type`` ('rectangle1' default, or 'rectangle2').
    """
    param = {'model_type': model_type, 'image_width': image_width,
             'image_height': image_height, 'image_num_channels': image_num_channels,
             'image_range_min': image_range_min, 'image_range_max': image_range_max,
             'normalization_type': normalization_type, 'domain_handling': domain_handling}
    for key, value, default in (('ignore_class_ids', ignore_class_ids, []),
                                ('instance_type', instance_type, 'rectangle1')):
        if key in TYPE_KEYS.get(model_type, ()):
            param[key] = default if value is None else value
        elif value is not None:
            raise HalconDLError(f"preprocess parameter '{key}' applies to "
                                f"{_owner(key)} models only, not to {model_type!r}")
    return check_preprocess_param(param)


def create_dl_preprocess_param_from_model(model, **overrides) -> dict:
    """The preprocessing parameters of ``model`` (its type, image size, channels and value
    range; ``ignore_class_ids`` of a segmentation model, ``instance_type`` of a detection
    model), with ``overrides`` for any key except ``model_type`` and ``instance_type``."""
    if not isinstance(model, DLModel):
        raise HalconDLError(f'expected a model made by create_dl_model, got {type(model).__name__}')
    model_type = model.get_param('type')
    param = {key: model.get_param(key) for key in COMMON_KEYS[1:6]}
    param.update(model_type=model_type, normalization_type='none', domain_handling='full_domain')
    for key in TYPE_KEYS[model_type]:
        param[key] = model.get_param(key)
    for key in overrides:
        if key in FROM_MODEL_ONLY:
            raise HalconDLError(f"preprocess parameter '{key}' is fixed by the model; "
                                'use create_dl_preprocess_param for other values')
        if key not in param:
            raise HalconDLError(f"unknown preprocess parameter '{key}' for a {model_type} "
                                f'model; valid overrides: {_overridable(param)}')
    param.update(overrides)
    return check_preprocess_param(param)


def check_preprocess_param(param) -> dict:
    """A validated, normalised copy of a preprocessing parameter dict; ``HalconDLError``
    naming the key for a missing or unknown key or a bad value."""
    if not isinstance(param, dict):
        raise HalconDLError(f'expected a preprocessing parameter dict, got {type(param).__name__}')
    model_type = param.get('model_type')
    if model_type not in MODEL_TYPES:
        _bad('model_type', f'one of {list(MODEL_TYPES)}', model_type)
    keys = COMMON_KEYS + TYPE_KEYS[model_type]
    missing = [k for k in keys if k not in param]
    unknown = [k for k in param if k not in keys]
    if missing or unknown:
        raise HalconDLError(f'preprocessing parameters of a {model_type} model: '
                            + (f'missing {missing} ' if missing else '')
                            + (f'unknown {unknown} ' if unknown else '') + f'(valid: {list(keys)})')
    out = {'model_type': model_type}
    for key in ('image_width', 'image_height', 'image_num_channels'):
        out[key] = _positive_int(key, param[key])
    for key in ('image_range_min', 'image_range_max'):
        value = param[key]
        if not _is_real(value) or not math.isfinite(value):
            _bad(key, 'a finite number', value)
        out[key] = float(value)
    if not out['image_range_min'] < out['image_range_max']:
        raise HalconDLError(f"preprocess parameters 'image_range_min' < 'image_range_max' "
                            f"expected, got {out['image_range_min']} and {out['image_range_max']}")
    if param['normalization_type'] not in NORMALIZATION_TYPES:
        _bad('normalization_type', f'one of {list(NORMALIZATION_TYPES)} (HALCON\'s '
             "'constant_values' is not supported)", param['normalization_type'])
    out['normalization_type'] = param['normalization_type']
    if param['domain_handling'] not in DOMAIN_HANDLINGS:
        _bad('domain_handling', "'full_domain' (samples here carry no domain region, so "
             "'crop_domain' and 'keep_domain' have nothing to act on)", param['domain_handling'])
    out['domain_handling'] = param['domain_handling']
    if 'ignore_class_ids' in keys:
        ids = param['ignore_class_ids']
        if isinstance(ids, (str, bytes)) or not hasattr(ids, '__iter__') \
                or not all(_is_int(i) and i >= 0 for i in ids) or len(set(ids)) != len(ids):
            _bad('ignore_class_ids', 'a list of distinct integer IDs >= 0', ids)
        out['ignore_class_ids'] = [int(i) for i in ids]
    if 'instance_type' in keys:
        if param['instance_type'] not in INSTANCE_TYPES:
            _bad('instance_type', f'one of {list(INSTANCE_TYPES)}', param['instance_type'])
        out['instance_type'] = param['instance_type']
    return out


# ----------------------------------------------------------------------------- samples

def preprocess_dl_samples(samples, preprocess_param) -> list:
    """New samples brought to the model described by ``preprocess_param`` (module doc).

    ``image``: uint8, uint16 or float array (H, W) or (H, W, C) of any size → float32
    (image_height, image_width, image_num_channels) in [image_range_min, image_range_max].
    ``segmentation_image`` and ``weight_image`` (H, W) are resized by nearest neighbour, box
    keys rescaled; all other keys are deep-copied.  Every bad input raises ``HalconDLError``
    naming the sample, the key and what was expected; the input is never changed.
    """
    param = check_preprocess_param(preprocess_param)
    if isinstance(samples, dict) or not hasattr(samples, '__iter__'):
        raise HalconDLError('preprocess_dl_samples: expected a sequence of sample dicts, got '
                            f'{type(samples).__name__} (wrap a single sample in a list)')
    return [_preprocess_sample(sample, i, param) for i, sample in enumerate(samples)]


def _preprocess_sample(sample, pos, param):
    image = _raw_image(sample, pos, param)
    size = image.shape[:2]
    target = (param['image_height'], param['image_width'])
    x = _convert_channels(image.astype(np.float64), param['image_num_channels'], sample, pos)
    x = resize_image(x, *target)
    done = {'image': _map_values(x, image.dtype, param).astype(np.float32)}
    if 'segmentation_image' in sample:
        labels = _label_image(sample, pos, size)
        done['segmentation_image'] = resize_nearest(labels, *target)
    if 'weight_image' in sample:
        weights = _weight_image(sample, pos, size)
        done['weight_image'] = resize_nearest(weights, *target).astype(np.float32)
    done.update(_rescale_boxes(sample, pos, param, size, target))
    return {key: done[key] if key in done else copy.deepcopy(value)
            for key, value in sample.items()}


def _raw_image(sample, pos, param):
    """The sample's image as a NumPy (H, W, C) array of its own dtype, checked."""
    image = require(sample, pos, 'image')
    if not hasattr(image, 'shape') or not hasattr(image, 'dtype'):
        fail(sample, pos, 'image', f'expected an array (H, W) or (H, W, C), got '
             f'{type(image).__name__}')
    image = to_numpy(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or 0 in image.shape:
        fail(sample, pos, 'image', f'expected a non-empty array (H, W) or (H, W, C), got shape '
             f'{image.shape}')
    if image.dtype not in FULL_SCALE and image.dtype.kind != 'f':
        fail(sample, pos, 'image', f'expected dtype uint8, uint16 or float, got {image.dtype} '
             f'(uint8 and uint16 images are mapped from 0..255 and 0..65535 to the model range '
             f"[{param['image_range_min']:g}, {param['image_range_max']:g}]; float images are "
             "taken as already in that range, or stretched into it with normalization_type "
             "'all_channels' or 'first_channel')")
    if image.dtype.kind == 'f' and not np.isfinite(image).all():
        fail(sample, pos, 'image', 'contains NaN or infinite values')
    return image


def _convert_channels(x, channels, sample, pos):
    """(H, W, C) → (H, W, channels): equal, grey → 3 copies, RGB → luminance (module doc)."""
    have = x.shape[2]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=2)
    if have == 3 and channels == 1:
        return (x @ LUMINANCE)[:, :, None]
    hint = ' (drop the alpha channel first: image[..., :3])' if have == 4 else ''
    fail(sample, pos, 'image', f'expected {channels} channel(s), or 1 or 3 to convert from, '
         f'got {have}{hint}')


def _map_values(x, dtype, param):
    """The resized float64 image mapped into [image_range_min, image_range_max] (module doc)."""
    low, high = param['image_range_min'], param['image_range_max']
    kind = param['normalization_type']
    if kind == 'none':
        if dtype in FULL_SCALE:
            return x * ((high - low) / FULL_SCALE[dtype]) + low
        return x
    channels = x[:, :, :1] if kind == 'first_channel' else x
    least = channels.min(axis=(0, 1))
    span = channels.max(axis=(0, 1)) - least
    flat = span == 0
    gain = np.where(flat, 1.0, (high - low) / np.where(flat, 1.0, span))
    offset = np.where(flat, (low + high) / 2, low)
    return (x - least) * gain + offset


# ----------------------------------------------------------------------------- resampling

@functools.lru_cache(maxsize=64)
def axis_weights(n: int, m: int):
    """(A, d) resampling an axis of n pixels to m: target j = Σ_i A[j, i]·x_i / d[j].

    m < n: A[j, i] = overlap length of [i−0.5, i+0.5] with [j·s−0.5, (j+1)·s−0.5], s = n/m,
    d[j] = Σ_i A[j, i] (area average).  m ≥ n: bilinear weights with edge clamping, d = 1.
    The arrays are cached and read-only.
    """
    if m < n:
        edges = np.arange(m + 1) * (n / m)       # target borders, shifted by +0.5
        edges[-1] = n
        left = np.arange(n)                      # source pixel i covers [i, i+1] when shifted
        overlap = (np.minimum(left + 1, edges[1:, None]) - np.maximum(left, edges[:-1, None]))
        weights = np.maximum(overlap, 0.0)
        norm = weights.sum(axis=1)
    else:
        u = np.clip((np.arange(m) + 0.5) * (n / m) - 0.5, 0, n - 1)
        i0 = np.floor(u).astype(np.int64)
        i1 = np.minimum(i0 + 1, n - 1)
        rows = np.arange(m)
        weights = np.zeros((m, n))
        weights[rows, i1] = u - i0
        weights[rows, i0] += 1 - (u - i0)        # i0 = i1 only at the clamped edge, t = 0
        norm = np.ones(m)
    weights.flags.writeable = norm.flags.writeable = False
    return weights, norm


def resize_image(image, height: int, width: int):
    """(H, W, C) float array resized to (height, width, C): area average per shrinking axis,
    bilinear per enlarging axis, half-pixel centres (module doc).

    out = (A_r · X · A_cᵀ) / (d_r d_cᵀ) per channel; with integer factors and integer pixel
    values the sums are exact, so block means come out correctly rounded.
    """
    h0, w0, channels = image.shape
    if (h0, w0) == (height, width):
        return image
    rows, row_norm = axis_weights(h0, height)
    cols, col_norm = axis_weights(w0, width)
    out = (rows @ image.reshape(h0, w0 * channels)).reshape(height, w0, channels)
    out = cols @ out.transpose(1, 0, 2).reshape(w0, height * channels)   # one product per axis
    out = out.reshape(width, height, channels).transpose(1, 0, 2)
    return out / (row_norm[:, None, None] * col_norm[None, :, None])


def nearest_indices(n: int, m: int):
    """Source index per target pixel for nearest neighbour: ⌊(j + 0.5)·n/m⌋ = ⌊(2j+1)·n / 2m⌋."""
    return (2 * np.arange(m, dtype=np.int64) + 1) * n // (2 * m)


def resize_nearest(image, height: int, width: int):
    """(H, W) array resized by nearest neighbour to (height, width); values and dtype kept."""
    return image[np.ix_(nearest_indices(image.shape[0], height),
                        nearest_indices(image.shape[1], width))]


# ----------------------------------------------------------------------------- labels, boxes

def _plane(sample, pos, key, size):
    """``sample[key]`` as a NumPy (H, W) array of the image's size."""
    value = sample[key]
    if not hasattr(value, 'shape') or not hasattr(value, 'dtype'):
        fail(sample, pos, key, f'expected an array of shape {size}, got {type(value).__name__}')
    value = to_numpy(value)
    if value.ndim == 3 and value.shape[2] == 1:
        value = value[:, :, 0]
    if value.shape != size:
        fail(sample, pos, key, f'expected shape {size} (the image\'s height and width), got '
             f'{value.shape}')
    if value.dtype.kind not in 'uif':
        fail(sample, pos, key, f'expected a numeric array, got dtype {value.dtype}')
    if value.dtype.kind == 'f' and not np.isfinite(value).all():
        fail(sample, pos, key, 'contains NaN or infinite values')
    return value


def _label_image(sample, pos, size):
    labels = _plane(sample, pos, 'segmentation_image', size)
    if labels.dtype.kind == 'f' and not (labels == np.round(labels)).all():
        fail(sample, pos, 'segmentation_image', 'expected integral class IDs, got fractions')
    if labels.size and labels.min() < 0:
        fail(sample, pos, 'segmentation_image', f'expected class IDs >= 0, got {labels.min()}')
    return labels


def _weight_image(sample, pos, size):
    weights = _plane(sample, pos, 'weight_image', size)
    if weights.size and weights.min() < 0:
        fail(sample, pos, 'weight_image', f'expected weights >= 0, got {weights.min()}')
    return weights


def _rescale_boxes(sample, pos, param, size, target):
    """The rescaled box arrays present in ``sample`` (module doc: rectangle1, rectangle2)."""
    found = {'rectangle1': [k for k in RECTANGLE1_KEYS if k in sample],
             'rectangle2': [k for k in RECTANGLE2_KEYS if k in sample]}
    if param['model_type'] == 'detection':
        other = INSTANCE_TYPES[1 - INSTANCE_TYPES.index(param['instance_type'])]
        if found[other]:
            fail(sample, pos, found[other][0], f"a key of instance type '{other}', but the "
                 f"model's instance type is '{param['instance_type']}'")
    (rows_in, cols_in), (rows_out, cols_out) = size, target
    f_row, f_col = rows_out / rows_in, cols_out / cols_in
    out = {}
    for kind, keys in (('rectangle1', RECTANGLE1_KEYS), ('rectangle2', RECTANGLE2_KEYS)):
        if not found[kind]:
            continue
        boxes = _box_arrays(sample, pos, keys)
        if kind == 'rectangle2' and rows_out * cols_in != cols_out * rows_in:
            fail(sample, pos, 'bbox_phi', f'rectangle2 boxes can be rescaled only with equal '
                 f'factors, but the image {rows_in}x{cols_in} → {rows_out}x{cols_out} gives '
                 f'{f_row:g} (rows) and {f_col:g} (columns); resize to the same aspect ratio')
        for key, value in boxes.items():
            factor = f_row if key.startswith('bbox_row') else f_col
            if key in ('bbox_length1', 'bbox_length2'):
                out[key] = value * f_row
            elif key == 'bbox_phi' or factor == 1.0:
                out[key] = value.copy()
            else:
                out[key] = (value + 0.5) * factor - 0.5
    return out


def _box_arrays(sample, pos, keys):
    """The box keys as equal-length finite float64 1-D arrays, checked for valid boxes."""
    boxes = {}
    for key in keys:
        value = require(sample, pos, key)
        try:
            array = np.asarray(to_numpy(value) if hasattr(value, 'shape') else value,
                               dtype=np.float64)
        except (TypeError, ValueError):
            fail(sample, pos, key, f'expected a 1-D sequence of numbers, got {value!r}')
        if array.ndim != 1 or not np.isfinite(array).all():
            fail(sample, pos, key, f'expected a 1-D sequence of finite numbers, got shape '
                 f'{array.shape}' + ('' if array.ndim != 1 else ' with NaN or inf'))
        boxes[key] = array
    lengths = {key: len(a) for key, a in boxes.items()}
    if hasattr(sample.get('bbox_label_id'), '__len__'):
        lengths['bbox_label_id'] = len(sample['bbox_label_id'])
    for key, length in lengths.items():
        if length != lengths[keys[0]]:
            fail(sample, pos, key, f'expected the length of {keys[0]} ({lengths[keys[0]]}), as '
                 f'for every box key and bbox_label_id, got {length}')
    if keys == RECTANGLE1_KEYS:
        for low, high in (('bbox_row1', 'bbox_row2'), ('bbox_col1', 'bbox_col2')):
            if (boxes[low] >= boxes[high]).any():
                fail(sample, pos, high, f'expected {low} < {high} for every box')
    else:
        for key in ('bbox_length1', 'bbox_length2'):
            if (boxes[key] <= 0).any():
                fail(sample, pos, key, 'expected positive half lengths')
    return boxes


# ----------------------------------------------------------------------------- helpers

def _bad(key, expected, value):
    raise HalconDLError(f"preprocess parameter '{key}': expected {expected}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _positive_int(key, value) -> int:
    if not _is_int(value) or value < 1:
        _bad(key, 'an integer >= 1', value)
    return int(value)


def _owner(key) -> str:
    return next(t for t, keys in TYPE_KEYS.items() if key in keys)


def _overridable(param) -> list:
    return [k for k in param if k not in FROM_MODEL_ONLY]


__all__ = ['create_dl_preprocess_param', 'create_dl_preprocess_param_from_model',
           'check_preprocess_param', 'preprocess_dl_samples', 'resize_image', 'resize_nearest',
           'axis_weights', 'nearest_indices']
