"""DLSample validation and batching helpers.

Every violation raises :class:`HalconDLError` naming the sample (its ``image_id``, else its
position in the batch), the key and what was expected.  Validation happens before anything in
the model changes.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterable

import numpy as np

from .backend import array_module, to_numpy
from .errors import HalconDLError


_first_position = contextvars.ContextVar('first_position', default=0)


@contextlib.contextmanager
def positions_from(first: int):
    """Within the block, the sample at index i of a chunk is named as sample ``first + i``:
    inference validates its input chunk by chunk but names samples by their position in the
    caller's list."""
    token = _first_position.set(first)
    try:
        yield
    finally:
        _first_position.reset(token)


def describe(sample, position: int) -> str:
    """'sample 3 (image_id 17)' — how errors name a sample (position in the caller's list)."""
    image_id = sample.get('image_id') if isinstance(sample, dict) else None
    position += _first_position.get()
    return f'sample {position}' + (f' (image_id {image_id})' if image_id is not None else '')


def fail(sample, position, key, message):
    raise HalconDLError(f"{describe(sample, position)}: key '{key}': {message}")


def sample_list(samples, operator: str) -> list:
    """``samples`` as a list of dicts: an error for one dict, None, a number, a string, or an
    element that is not a dict."""
    if isinstance(samples, dict):
        raise HalconDLError(f'{operator}: expected a sequence of sample dicts, got one dict '
                            '(pass [sample] for a single sample)')
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Iterable):
        raise HalconDLError(f'{operator}: expected a sequence of sample dicts, got '
                            f'{type(samples).__name__}')
    samples = list(samples)
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise HalconDLError(f'{describe({}, i)}: expected a sample dict, got '
                                f'{type(sample).__name__}')
    return samples


def require(sample, position, key):
    """The value of ``key``; an error if the sample is not a dict or lacks the key."""
    if not isinstance(sample, dict):
        raise HalconDLError(f'{describe({}, position)}: expected a dict, got {type(sample).__name__}')
    if key not in sample:
        fail(sample, position, key, 'missing')
    return sample[key]


def check_image(sample, position, height, width, channels):
    """The sample's image as an (H, W, C) float array, checked for shape, dtype and finiteness.

    Accepted: float32 (the working precision) or float64, shape (H, W, C), or (H, W) when C = 1.
    """
    image = require(sample, position, 'image')
    if not hasattr(image, 'dtype') or not hasattr(image, 'shape'):
        fail(sample, position, 'image', f'expected a float32 array, got {type(image).__name__}')
    expected = (height, width, channels)
    shape_ok = image.shape == expected or (channels == 1 and image.shape == (height, width))
    if not shape_ok:
        fail(sample, position, 'image', f'expected shape {expected}'
             + (f' or {(height, width)}' if channels == 1 else '') + f', got {image.shape}')
    if image.dtype not in (np.float32, np.float64):
        fail(sample, position, 'image', f'expected dtype float32, got {image.dtype} '
             '(convert raw images with preprocess_dl_samples)')
    if not bool(array_module(image).isfinite(image).all()):
        fail(sample, position, 'image', 'contains NaN or infinite values')
    return image.reshape(expected)


def check_id(sample, position, key, value, valid_ids, allowed='class IDs'):
    """A single integer label ID that must be in ``valid_ids``."""
    if hasattr(value, 'shape'):
        if value.size != 1:
            fail(sample, position, key, f'expected one ID, got an array of shape {value.shape}')
        value = to_numpy(value).reshape(-1)[0]
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or float(value) != int(value)):
        fail(sample, position, key, f'expected an integer ID, got {value!r}')
    value = int(value)
    if value not in valid_ids:
        fail(sample, position, key, f'expected one of the {allowed} {sorted(valid_ids)}, got {value}')
    return value


def stack_images(images, dtype, runtime_xp):
    """(N, C, H, W) batch of (H, W, C) images in ``dtype`` on the array module ``runtime_xp``.

    The images are stacked as (N, H, W, C) and viewed as NCHW (no transposing copy: the first
    convolution reads any layout).
    """
    batch = np.stack([to_numpy(im) for im in images]).astype(dtype, copy=False)
    return runtime_xp.asarray(batch).transpose(0, 3, 1, 2)


def label_image_ids(sample, position, key, shape):
    """The distinct IDs of the label image ``sample[key]`` and where each pixel's ID is.

    The label image must be an array of ``shape`` (H, W) (any 2-D shape when ``shape`` is None)
    holding integer IDs: an integer dtype, or a float dtype holding finite integral values.
    Returns ``(ids, inverse, counts)``: the distinct IDs in ascending order (Python ints), the
    position in ``ids`` of every pixel's ID (an (H, W) NumPy integer array) and each ID's pixel
    count.
    """
    labels = require(sample, position, key)
    expected = '(H, W)' if shape is None else str(tuple(shape))
    if not hasattr(labels, 'dtype') or not hasattr(labels, 'shape'):
        fail(sample, position, key, f'expected an array of class IDs of shape {expected}, '
             f'got {type(labels).__name__}')
    if labels.shape != (tuple(shape) if shape is not None else labels.shape) or labels.ndim != 2:
        fail(sample, position, key, f'expected shape {expected}, got {labels.shape}')
    shape = labels.shape
    kind = np.dtype(labels.dtype).kind
    if kind not in 'iuf':
        fail(sample, position, key, f'expected class IDs of an integer dtype (or float holding '
             f'integral values), got dtype {labels.dtype}')
    values, inverse, counts = np.unique(to_numpy(labels), return_inverse=True, return_counts=True)
    if kind == 'f':
        bad = ~np.isfinite(values) | (values != np.floor(values))
        if bad.any():
            fail(sample, position, key,
                 f'expected integral class IDs, got {values[bad][0].item()!r}')
    return [int(v) for v in values], inverse.reshape(shape), counts


def check_weight_image(sample, position, shape):
    """The sample's ``weight_image``: a float32 or float64 array of ``shape`` (H, W), finite and
    >= 0 everywhere."""
    weights = require(sample, position, 'weight_image')
    if not hasattr(weights, 'dtype') or not hasattr(weights, 'shape'):
        fail(sample, position, 'weight_image', f'expected a float32 array of shape '
             f'{tuple(shape)}, got {type(weights).__name__}')
    if weights.shape != tuple(shape):
        fail(sample, position, 'weight_image',
             f'expected shape {tuple(shape)}, got {weights.shape}')
    if weights.dtype not in (np.float32, np.float64):
        fail(sample, position, 'weight_image', f'expected dtype float32, got {weights.dtype}')
    weights = to_numpy(weights)
    bad = ~(np.isfinite(weights) & (weights >= 0))
    if bad.any():
        fail(sample, position, 'weight_image', f'expected finite values >= 0, got '
             f'{weights[bad][0].item()!r} at {np.argwhere(bad)[0].tolist()}')
    return weights
