"""Segmentation data: the embedded default data set, class weights from pixel frequencies, and
weight images (HALCON's ``calculate_dl_segmentation_class_weights`` and
``gen_dl_segmentation_weight_images``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import HalconDLError
from ..samples import label_image_ids, sample_list
from .scenes import make_shapes_scenes, random_split
from .shapes import DEFAULT_NOISE, DEFAULT_VALUE_RANGE, SHAPE_CLASS_NAMES

#: background 0, then the six shape classes 1..6
SEGMENTATION_CLASS_IDS = tuple(range(len(SHAPE_CLASS_NAMES) + 1))
SEGMENTATION_CLASS_NAMES = ('background',) + SHAPE_CLASS_NAMES
SEGMENTATION_NUM_SAMPLES = 2400
SEGMENTATION_IMAGE_SIZE = 64
SEGMENTATION_SHAPES_PER_IMAGE = (1, 3)
SEGMENTATION_BORDER_OVERHANG = 0.25
SEGMENTATION_VALIDATION_FRACTION = 0.2
FREQUENCY_OFFSET = 0.0001          # HALCON's rule: weight 1 / (f + 0.0001)


def default_segmentation_dataset(seed=0):
    """The (train, validation) samples of the embedded segmentation data set.

    :func:`~halcon_dl.datasets.make_shapes_scenes` with ``with_segmentation=True``:
    ``SEGMENTATION_NUM_SAMPLES`` (2400) scenes of ``SEGMENTATION_IMAGE_SIZE``² × 3 (64 × 64 × 3)
    pixels, each with 1 to 3 shapes of the six classes (uniformly many; overlapping allowed,
    later shapes painted over earlier ones), sizes (12/64 .. 40/64)·size, any angle, the
    circumscribed disk sticking out of the image by at most a quarter of its radius; Gaussian
    noise σ = 10 grey levels, value range (−127, 128).  Class IDs ``SEGMENTATION_CLASS_IDS``
    (background 0, shapes 1..6), names ``SEGMENTATION_CLASS_NAMES``.  Then a seeded random
    split, 20 % to validation: 1920 / 480.  ``seed`` drives generation and split.

    Sized for the training recipe: 'resnet18' (base width 16), batch 8, Adam with learning
    rate 0.003, divided by 10 after epochs 7 and 9, 10 epochs, weight prior 1e-4, which reached
    a validation mean IoU (from the pixel confusion matrix over the validation set) of 0.78
    after epoch 7 and 0.82 after epochs 8 to 10, in 264 s on 2 shared cores.
    Smaller sets learned less (same network and solver, longer schedules): 1200 scenes of 1 to 3
    shapes levelled off at 0.80 after 18 to 24 epochs; 1200 scenes of 0 to 4 shapes sticking out
    by up to half their radius reached 0.67 after 15.
    """
    lo, hi = SEGMENTATION_SHAPES_PER_IMAGE
    samples = make_shapes_scenes(SEGMENTATION_NUM_SAMPLES, SEGMENTATION_IMAGE_SIZE, 3, seed=seed,
                                 min_shapes=lo, max_shapes=hi,
                                 border_overhang=SEGMENTATION_BORDER_OVERHANG,
                                 noise=DEFAULT_NOISE, value_range=DEFAULT_VALUE_RANGE,
                                 with_segmentation=True, background_class_id=0)
    return random_split(samples, SEGMENTATION_VALIDATION_FRACTION, seed=seed)


def calculate_dl_segmentation_class_weights(samples, max_weight, ignore_class_ids=(), *,
                                            class_ids=None) -> list:
    """Class weights from the pixel frequencies of ``samples`` (HALCON's rule).

    For each class c the frequency f_c = (pixels of c) / (pixels of every class that is not
    ignored), counted over the ``segmentation_image`` of all samples (the training samples);
    then

        w_c = min( (1 / (f_c + 0.0001)) / (1 / (f_max + 0.0001)),  max_weight )

    with f_max the frequency of the most frequent class, which so gets weight 1.0 (or
    ``max_weight`` if that is smaller); a class that never occurs gets
    min((f_max + 0.0001) / 0.0001, max_weight).  Classes in ``ignore_class_ids`` get 0 and their
    pixels count nowhere.

    ``class_ids``: the classes to weigh, in the order of the result (e.g. the model's
    ``class_ids``); every ID in the samples must be one of them or ignored.  Default [C]: the
    IDs that occur in the samples together with ``ignore_class_ids``, ascending.  Returns one
    float per class ID.
    """
    samples = sample_list(samples, 'calculate_dl_segmentation_class_weights')
    cap = float(max_weight) if _is_real(max_weight) else math.nan
    if not (math.isfinite(cap) and cap > 0):
        raise HalconDLError(f'max_weight must be a finite number > 0, got {max_weight!r}')
    ignore = set(_id_list(ignore_class_ids, 'ignore_class_ids'))
    counts = {}
    for i, sample in enumerate(samples):
        ids, _, n = label_image_ids(sample, i, 'segmentation_image', None)
        for v, c in zip(ids, n):
            counts[v] = counts.get(v, 0) + int(c)
    if class_ids is None:
        class_ids = sorted(set(counts) | ignore)
    else:
        class_ids = _id_list(class_ids, 'class_ids')
        unknown = sorted(set(counts) - set(class_ids) - ignore)
        if unknown:
            raise HalconDLError(f'the segmentation images hold IDs {unknown} that are neither in '
                                f'class_ids {class_ids} nor in ignore_class_ids {sorted(ignore)}')
    total = sum(c for v, c in counts.items() if v not in ignore)
    if total == 0:
        raise HalconDLError('calculate_dl_segmentation_class_weights: no pixel of a class that '
                            'is not ignored')
    freq = {v: counts.get(v, 0) / total for v in class_ids if v not in ignore}
    top = max(freq.values()) + FREQUENCY_OFFSET
    return [0.0 if v in ignore else min(top / (freq[v] + FREQUENCY_OFFSET), cap)
            for v in class_ids]


def gen_dl_segmentation_weight_images(samples, class_ids, class_weights) -> list:
    """The samples, each with a ``weight_image``: per pixel the weight of its class ID.

    ``weight_image[r, c] = class_weights[k]`` where ``segmentation_image[r, c] == class_ids[k]``,
    and 0 for IDs not in ``class_ids`` (ignored classes), float32 of the segmentation image's
    shape.  Returns new sample dicts (the other keys shared with the inputs, which are not
    changed).
    """
    samples = sample_list(samples, 'gen_dl_segmentation_weight_images')
    class_ids = _id_list(class_ids, 'class_ids')
    weights = [float(w) if _is_real(w) else math.nan for w in _as_list(class_weights)]
    if len(weights) != len(class_ids) or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise HalconDLError(f'class_weights must be {len(class_ids)} finite numbers >= 0 (one '
                            f'per class ID), got {class_weights!r}')
    weight_of = dict(zip(class_ids, weights))
    out = []
    for i, sample in enumerate(samples):
        ids, inverse, _ = label_image_ids(sample, i, 'segmentation_image', None)
        per_id = np.array([weight_of.get(v, 0.0) for v in ids], dtype=np.float32)
        out.append({**sample, 'weight_image': per_id[inverse]})
    return out


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def _id_list(values, what) -> list:
    """Distinct integer IDs >= 0 (a float holding an integral value is accepted)."""
    ids = _as_list(values)
    if not all(_is_real(v) and math.isfinite(v) and v == int(v) and v >= 0 for v in ids) \
            or len({int(v) for v in ids}) != len(ids):
        raise HalconDLError(f'{what} must be distinct integer IDs >= 0, got {values!r}')
    return [int(v) for v in ids]
