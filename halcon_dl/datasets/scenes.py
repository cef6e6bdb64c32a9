"""Scenes of several shapes per image, for segmentation and detection, generated from a seed.

The shapes, their rasterisation and the intensity model are those of :mod:`.shapes` (one shape
per image, for classification); a scene places 0..``max_shapes`` of them on one background:

* **Count.** Drawn uniformly from ``min_shapes..max_shapes`` per image, so with
  ``min_shapes = 0`` about one image in ``max_shapes + 1`` shows no shape at all.
* **Placement.** Centres are uniform such that the circumscribed disk of radius R may stick out
  of the image by up to ``border_overhang``·R (default 0.5): shapes near the edge are cut by
  the border.  With ``overlap=False`` a shape whose disk would come closer than 1 px to an
  already placed one is redrawn (up to ``PLACEMENT_TRIES`` times, then left out), so no two
  shapes overlap; with ``overlap=True`` later shapes are painted over earlier ones.
* **Colours.** One background colour per image (levels 0..96), one foreground colour per shape
  (128..255), redrawn until its mean contrast to the background is >= ``MIN_CONTRAST``; then
  Gaussian noise, clipping to 0..255, and the mapping ``I·(max−min)/255 + min`` as in
  :mod:`.shapes`.
* **Labels.** ``segmentation_image`` (int32): the class ID of the shape painted last at each
  pixel, ``background_class_id`` elsewhere.  Boxes: one per shape from its **visible** pixels
  (the part inside the image, not covered by later shapes), in the pixel-centre convention of
  :func:`.shapes.rectangle1_of_mask` / :func:`.shapes.rectangle2_of_mask` (rectangle2 at the
  shape's angle, or with ``canonical_angles`` at the angle reduced by the shape's rotational
  symmetry, :func:`.shapes.canonical_angle`, so that the box follows from the picture alone:
  0 for circles and rings, within ±45° for squares and crosses, ±60° for triangles, ±36° for
  stars); a shape with fewer
  than ``MIN_VISIBLE_PIXELS`` visible pixels gets no box (it stays in the image and in the
  segmentation).  ``bbox_*`` values are float64 1-D arrays, ``bbox_label_id`` int64.

Every draw comes from ``make_rng(seed)`` in a fixed order: the same arguments give bit-identical
samples.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import make_rng
from ..errors import HalconDLError
from .shapes import (BACKGROUND_LEVELS, CIRCUMRADIUS_FACTOR, DEFAULT_NOISE, DEFAULT_VALUE_RANGE,
                     FOREGROUND_LEVELS, MIN_CONTRAST, ShapeSpec, _check_box_type,
                     _check_class_ids, _check_class_names, _check_number, _check_value_range,
                     _is_int, canonical_angle, finish_image, rectangle1_of_mask,
                     rectangle2_of_mask, shape_mask)

PLACEMENT_TRIES = 20
MIN_VISIBLE_PIXELS = 4
BOX_KEYS = {'rectangle1': ('row1', 'col1', 'row2', 'col2'),
            'rectangle2': ('row', 'col', 'phi', 'length1', 'length2')}


def make_shapes_scenes(num_samples: int, image_size: int = 64, num_channels: int = 3, seed=0, *,
                       min_shapes: int = 0, max_shapes: int = 4, class_names=None,
                       class_ids=None, size_range=None, rotate: bool = True,
                       overlap: bool = True, border_overhang: float = 0.5,
                       noise: float = DEFAULT_NOISE, value_range=DEFAULT_VALUE_RANGE,
                       with_segmentation: bool = False, background_class_id: int = 0,
                       with_boxes=None, canonical_angles: bool = False) -> list:
    """``num_samples`` DLSample dicts of scenes (see the module docstring).

    ``class_names`` — shape classes used (default all six); ``class_ids`` — one ID per class
    (default 1..K when ``with_segmentation``, so that the background can be 0; else 0..K−1).
    ``size_range`` — shape sizes in px (default (12/64, 40/64)·image_size).
    ``with_boxes`` — None, 'rectangle1' or 'rectangle2'; ``canonical_angles`` — rectangle2 boxes
    at the angle reduced by the shape's symmetry (module docstring).  Each sample has ``image``
    (float32 (S, S, C), or (S, S) for one channel) and ``image_id`` (its position).
    """
    names = _check_class_names(class_names)
    default_ids = range(1, len(names) + 1) if with_segmentation else None
    ids = _check_class_ids(default_ids if class_ids is None else class_ids, len(names))
    _check_box_type(with_boxes)
    noise = _check_number(noise, 'noise', minimum=0.0)
    value_range = _check_value_range(value_range)
    overhang = _check_number(border_overhang, 'border_overhang', minimum=0.0)
    for value, what, low in ((num_samples, 'num_samples', 1), (image_size, 'image_size', 8),
                             (num_channels, 'num_channels', 1), (min_shapes, 'min_shapes', 0),
                             (max_shapes, 'max_shapes', 0)):
        if not _is_int(value) or value < low:
            raise HalconDLError(f'{what} must be an integer >= {low}, got {value!r}')
    if min_shapes > max_shapes:
        raise HalconDLError(f'min_shapes must not exceed max_shapes, got {min_shapes} > {max_shapes}')
    if with_segmentation and (not _is_int(background_class_id) or background_class_id < 0
                              or background_class_id in ids):
        raise HalconDLError(f'background_class_id must be an integer >= 0 not in class_ids '
                            f'{list(ids)}, got {background_class_id!r}')
    smin, smax = (12 / 64 * image_size, 40 / 64 * image_size) if size_range is None else size_range
    smin, smax = _check_number(smin, 'size_range min'), _check_number(smax, 'size_range max')
    if not 2.0 <= smin <= smax <= image_size:
        raise HalconDLError(f'size_range must satisfy 2 <= min <= max <= image_size '
                            f'({image_size}), got {(smin, smax)}')
    rng = make_rng(seed)
    return [_scene(rng, i, image_size, num_channels, names, ids, (smin, smax), rotate, overlap,
                   overhang, min_shapes, max_shapes, noise, value_range, with_segmentation,
                   background_class_id, with_boxes, canonical_angles)
            for i in range(num_samples)]


def _scene(rng, image_id, size, channels, names, ids, size_range, rotate, overlap, overhang,
           min_shapes, max_shapes, noise, value_range, with_segmentation, background_id,
           with_boxes, canonical_angles=False) -> dict:
    """One scene: draw the shapes, paint them in order, derive the labels."""
    background = rng.integers(BACKGROUND_LEVELS[0], BACKGROUND_LEVELS[1] + 1, channels)
    specs, labels = [], []
    for _ in range(int(rng.integers(min_shapes, max_shapes + 1))):
        k = int(rng.integers(len(names)))
        spec = _place(rng, names[k], size, size_range, rotate, overlap, overhang, specs,
                      _foreground(rng, background), background)
        if spec is not None:
            specs.append(spec)
            labels.append(ids[k])
    image = np.empty((size, size, channels), dtype=np.float32)
    image[...] = background.astype(np.float32)
    owner = np.full((size, size), -1, dtype=np.int64)      # index of the shape painted last
    for j, spec in enumerate(specs):
        mask = shape_mask(spec, size, size)
        image[mask] = np.asarray(spec.foreground, dtype=np.float32)
        owner[mask] = j
    sample = {'image': finish_image(image, noise, rng, value_range), 'image_id': int(image_id)}
    if with_segmentation:
        seg = np.full((size, size), background_id, dtype=np.int32)
        for j, label in enumerate(labels):
            seg[owner == j] = label
        sample['segmentation_image'] = seg
    if with_boxes is not None:
        boxes, box_labels = [], []
        for j, (spec, label) in enumerate(zip(specs, labels)):
            visible = owner == j
            if np.count_nonzero(visible) < MIN_VISIBLE_PIXELS:
                continue
            phi = canonical_angle(spec.shape, spec.phi) if canonical_angles else spec.phi
            boxes.append(rectangle1_of_mask(visible) if with_boxes == 'rectangle1'
                         else rectangle2_of_mask(visible, phi))
            box_labels.append(label)
        columns = np.asarray(boxes, dtype=np.float64).reshape(-1, len(BOX_KEYS[with_boxes]))
        for c, key in enumerate(BOX_KEYS[with_boxes]):
            sample['bbox_' + key] = columns[:, c].copy()
        sample['bbox_label_id'] = np.asarray(box_labels, dtype=np.int64)
    return sample


def _foreground(rng, background):
    """A shape colour with mean contrast >= MIN_CONTRAST to ``background`` (redrawn until so)."""
    while True:
        fg = rng.integers(FOREGROUND_LEVELS[0], FOREGROUND_LEVELS[1] + 1, background.shape)
        if np.mean(fg - background) >= MIN_CONTRAST:
            return fg


def _place(rng, name, size, size_range, rotate, overlap, overhang, placed, fg, bg):
    """A ShapeSpec whose centre lets its disk stick out by at most ``overhang``·R; without
    ``overlap`` one that keeps 1 px from every placed disk (None after PLACEMENT_TRIES)."""
    for _ in range(PLACEMENT_TRIES):
        shape_size = float(rng.uniform(*size_range))
        phi = float(rng.uniform(-math.pi, math.pi)) if rotate else 0.0
        radius = 0.5 * shape_size * CIRCUMRADIUS_FACTOR[name]
        lo = (1.0 - overhang) * radius - 0.5
        hi = size - 0.5 - (1.0 - overhang) * radius
        row, col = (float(rng.uniform(lo, hi)) if hi > lo else 0.5 * (size - 1) for _ in range(2))
        spec = ShapeSpec(name, row, col, shape_size, phi, tuple(float(v) for v in fg),
                         tuple(float(v) for v in bg))
        if overlap or all(math.hypot(row - o.row, col - o.col) >= radius + o.circumradius + 1.0
                          for o in placed):
            return spec
    return None


def random_split(samples, validation_fraction: float = 0.2, seed=0):
    """(train, validation): a seeded random permutation, the first ``round(f·n)`` samples of it
    to validation; both lists keep the input order and hold the same dicts."""
    samples = list(samples)
    fraction = _check_number(validation_fraction, 'validation_fraction', minimum=0.0)
    if not 0.0 < fraction < 1.0 or len(samples) < 2:
        raise HalconDLError(f'random_split needs 0 < validation_fraction < 1 and >= 2 samples, '
                            f'got {validation_fraction!r} and {len(samples)}')
    n_val = min(len(samples) - 1, max(1, int(math.floor(fraction * len(samples) + 0.5))))
    is_val = np.zeros(len(samples), dtype=bool)
    is_val[make_rng(seed).permutation(len(samples))[:n_val]] = True
    return ([s for s, v in zip(samples, is_val) if not v],
            [s for s, v in zip(samples, is_val) if v])
