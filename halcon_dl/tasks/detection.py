"""Detection (RetinaNet-style): axis-aligned ('rectangle1') or oriented ('rectangle2') boxes.

Samples: ``image`` and, for training, the box keys of the model's ``instance_type`` plus
``bbox_label_id`` — equal-length 1-D sequences (zero boxes allowed):

* rectangle1: ``bbox_row1``, ``bbox_col1``, ``bbox_row2``, ``bbox_col2`` (row1 < row2,
  col1 < col2);
* rectangle2: ``bbox_row``, ``bbox_col``, ``bbox_phi`` (radians), ``bbox_length1``,
  ``bbox_length2`` (half lengths > 0).

Keys of the other instance type are an error.  The boxes arrive in float64 (or any real dtype)
and are converted to the model's dtype once, when the targets are built.

Network: :class:`~halcon_dl.nn.networks.detection.Detector` (feature pyramid on the backbone's
levels ``min_level..max_level``, shared class and box heads sized by ``capacity``).
Targets: :func:`~halcon_dl.detection.targets.anchor_targets` per image, dense over all anchors.

Losses of a sub-batch, with ``N_pos = max(1, positive anchors in the sub-batch)``:

* ``focal_loss`` = Σ_l ``focal_loss_level_{l}``, the sigmoid focal loss (γ = 2, α_c =
  ``class_weights[c]``) summed over the level's non-ignored anchors and all classes / N_pos;
* ``huber_loss`` = Σ_l ``huber_loss_level_{l}``, the Huber loss (β = 0.11) summed over the
  level's positive anchors' coordinates / N_pos;

and ``total_loss = class_heads_weight·focal_loss + bbox_heads_weight·huber_loss +
regularization_loss``.  Results (inference): :func:`~halcon_dl.detection.postprocess.detect`,
returned as the box keys of the instance type plus ``bbox_class_id``, ``bbox_class_name`` and
``bbox_confidence`` (Python lists, sorted by confidence, descending).
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module, to_numpy
from ..detection.anchors import generate_anchors, num_anchors_per_cell
from ..detection.boxes import BOX_WIDTH
from ..detection.postprocess import detect
from ..detection.targets import batch_anchor_targets
from ..errors import HalconDLError
from ..kernels.numerics import sigmoid
from ..losses import focal_loss, huber_loss
from ..nn.networks.detection import Detector
from ..samples import check_image, fail, require, stack_images
from .base import Task
from .classification import build_model_backbone

FOCAL_GAMMA = 2.0
BOX_KEYS = {'rectangle1': ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'),
            'rectangle2': ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2')}
OTHER_TYPE = {'rectangle1': 'rectangle2', 'rectangle2': 'rectangle1'}


class DetectionTask(Task):
    type = 'detection'

    def __init__(self):
        self._anchors = None      # (dtype, runtime) -> anchors of every level, see anchors()

    def default_params(self, model):
        """Class weights (the focal loss's α per class) 0.25, as in RetinaNet."""
        return {'class_weights': [0.25] * len(model.class_ids)}

    def check_params(self, model):
        """Levels ordered and held by the image (2^max_level ≤ image height and width: each level
        has at least one whole cell); angles, direction and orientation-free classes only for
        rectangle2."""
        p = model.params
        if p['min_level'] > p['max_level']:
            raise HalconDLError(f"parameter 'min_level' ({p['min_level']}) must not exceed "
                                f"'max_level' ({p['max_level']})")
        size = min(p['image_height'], p['image_width'])
        if 2 ** p['max_level'] > size:
            raise HalconDLError(
                f"parameter 'max_level' {p['max_level']} needs images of at least "
                f"2^{p['max_level']} = {2 ** p['max_level']} pixels in height and width, got "
                f"{p['image_height']} x {p['image_width']}")
        if p['instance_type'] == 'rectangle1':
            for name, neutral in (('anchor_angles', [0.0]), ('ignore_direction', False),
                                  ('class_ids_no_orientation', [])):
                if p[name] != neutral:
                    raise HalconDLError(f"parameter '{name}' applies to instance_type "
                                        f"'rectangle2' only; rectangle1 takes {neutral!r}, "
                                        f'got {p[name]!r}')

    def num_anchors(self, model) -> int:
        p = model.params
        return num_anchors_per_cell(p['anchor_num_subscales'], p['anchor_aspect_ratios'],
                                    p['anchor_angles'], p['instance_type'])

    def build_network(self, model, rng):
        p = model.params
        backbone = build_model_backbone(self, model, rng)
        if p['min_level'] < min(backbone.levels):
            raise HalconDLError(f"parameter 'min_level' {p['min_level']} is finer than the "
                                f"{model.backbone!r} backbone's finest level "
                                f'{min(backbone.levels)} (levels {list(backbone.levels)})')
        return Detector(backbone, p['min_level'], p['max_level'], self.num_anchors(model),
                        len(model.class_ids), BOX_WIDTH[p['instance_type']], p['capacity'],
                        rng, dtype=model.dtype)

    def anchors(self, model):
        """The anchors of every level, ``[(level, (A_l, D) array)]``, in the model's dtype and
        runtime (computed once per dtype and runtime)."""
        key = (model.dtype, model.runtime)
        if self._anchors is None or self._anchors[0] != key:
            p = model.params
            anchors, levels = generate_anchors(
                p['image_height'], p['image_width'], p['min_level'], p['max_level'],
                p['anchor_num_subscales'], p['anchor_aspect_ratios'],
                p['anchor_angles'] if p['instance_type'] == 'rectangle2' else None,
                p['instance_type'], dtype=model.dtype, runtime=model.runtime)
            levels = to_numpy(levels)                        # ascending: one slice per level
            per_level = [(lv, anchors[np.searchsorted(levels, lv):
                                      np.searchsorted(levels, lv, side='right')])
                         for lv in range(p['min_level'], p['max_level'] + 1)]
            self._anchors = (key, anchors, per_level)
        return self._anchors[1], self._anchors[2]

    # -- samples and targets ----------------------------------------------------------------------
    def collate(self, model, samples, labels=True):
        """Images (N, C, H, W) and, with ``labels``, the dense anchor targets (N, A) / (N, A, D):
        ``class_index``, ``anchor_weight``, ``box_target``, ``box_weight`` (see
        :mod:`halcon_dl.detection.targets`).  Every sample is validated before any target is
        built."""
        p = model.params
        images, boxes, label_ids = [], [], []
        for i, s in enumerate(samples):
            images.append(check_image(s, i, p['image_height'], p['image_width'],
                                      p['image_num_channels']))
            if labels:
                b, ids = read_boxes(s, i, p['instance_type'], model.class_ids)
                boxes.append(b)
                label_ids.append(ids)
        batch = {'images': stack_images(images, model.dtype, model.xp)}
        if labels:
            batch.update(self.targets(model, boxes, label_ids))
        return batch

    def targets(self, model, boxes, class_ids) -> dict:
        """Dense targets of a batch from validated float64 boxes (M_i, D) and class IDs (M_i,):
        the boxes are converted to the model's dtype here, once."""
        p = model.params
        anchors, _ = self.anchors(model)
        xp = array_module(anchors)
        index_of = {cid: k for k, cid in enumerate(model.class_ids)}
        targets = batch_anchor_targets(
            anchors, [xp.asarray(b.astype(model.dtype)) for b in boxes],
            [np.asarray([index_of[c] for c in ids], dtype=np.int64) for ids in class_ids],
            p['instance_type'], gt_class_ids=class_ids,
            class_ids_no_orientation=p['class_ids_no_orientation'],
            ignore_direction=p['ignore_direction'])
        return targets._asdict()

    # -- losses -----------------------------------------------------------------------------------
    def loss_weights(self, model):
        return {'focal_loss': model.params['class_heads_weight'],
                'huber_loss': model.params['bbox_heads_weight']}

    def losses(self, model, outputs, batch):
        """Focal and Huber losses per level and their sums (see the module docstring)."""
        class_index = batch['class_index']
        xp = array_module(class_index)
        num_classes = len(model.class_ids)
        alpha = xp.asarray(model.params['class_weights'], dtype=model.dtype)
        num_positive = max(1, int(xp.count_nonzero(class_index >= 0)))
        classes = xp.arange(num_classes)
        terms, focal, huber, start = {}, None, None, 0
        for level, (logits, deltas) in outputs.items():
            part = slice(start, start + logits.shape[1])
            start = part.stop
            target = class_index[:, part].reshape(-1)[:, None] == classes[None, :]
            fl = focal_loss(logits.reshape(-1, num_classes), target, alpha, FOCAL_GAMMA,
                            batch['anchor_weight'][:, part].reshape(-1), num_positive)
            hl = huber_loss(deltas, batch['box_target'][:, part],
                            weights=batch['box_weight'][:, part], normalizer=num_positive)
            terms[f'focal_loss_level_{level}'] = float(fl.data)
            terms[f'huber_loss_level_{level}'] = float(hl.data)
            focal = fl if focal is None else focal + fl
            huber = hl if huber is None else huber + hl
        return {'focal_loss': focal, 'huber_loss': huber, **terms}

    # -- inference --------------------------------------------------------------------------------
    def results(self, model, outputs):
        """Per image the detections (:func:`~halcon_dl.detection.postprocess.detect`) as the box
        keys of the instance type, ``bbox_class_id``, ``bbox_class_name``, ``bbox_confidence``."""
        p = model.params
        kind = p['instance_type']
        _, per_level = self.anchors(model)
        index_of = {cid: k for k, cid in enumerate(model.class_ids)}
        no_orientation = [index_of[c] for c in p['class_ids_no_orientation']]
        levels = list(outputs.values())
        results = []
        for i in range(levels[0][0].shape[0]):
            boxes, classes, scores = detect(
                [(sigmoid(logits.data[i]), deltas.data[i]) for logits, deltas in levels],
                [a for _, a in per_level], instance_type=kind,
                image_height=p['image_height'], image_width=p['image_width'],
                min_confidence=p['min_confidence'], max_overlap=p['max_overlap'],
                max_overlap_class_agnostic=p['max_overlap_class_agnostic'],
                max_num_detections=p['max_num_detections'],
                ignore_direction=p['ignore_direction'], no_orientation_classes=no_orientation)
            boxes, classes, scores = to_numpy(boxes), to_numpy(classes), to_numpy(scores)
            result = {key: [float(v) for v in boxes[:, k]] for k, key in enumerate(BOX_KEYS[kind])}
            result['bbox_class_id'] = [model.class_ids[c] for c in classes]
            result['bbox_class_name'] = [p['class_names'][c] for c in classes]
            result['bbox_confidence'] = [float(s) for s in scores]
            results.append(result)
        return results


def read_boxes(sample, position, instance_type, class_ids):
    """The sample's boxes as a validated float64 (M, D) array and its label IDs as int64 (M,).

    Checks (each failure names the sample and the key): no key of the other instance type; every
    key present, a 1-D sequence of finite real numbers, all of one length; label IDs integral and
    among ``class_ids``; rectangle1 ``row1 < row2`` and ``col1 < col2``, rectangle2 half lengths
    > 0.
    """
    for key in BOX_KEYS[OTHER_TYPE[instance_type]]:
        if key in sample:
            fail(sample, position, key, f'belongs to {OTHER_TYPE[instance_type]} boxes; this '
                 f'model has instance_type {instance_type!r} (keys {list(BOX_KEYS[instance_type])})')
    labels = _column(sample, position, 'bbox_label_id')
    columns = [_column(sample, position, key) for key in BOX_KEYS[instance_type]]
    for key, column in zip(BOX_KEYS[instance_type], columns):
        if column.shape != labels.shape:
            fail(sample, position, key, f'expected {labels.shape[0]} values (as many as '
                 f"'bbox_label_id'), got {column.shape[0]}")
    if not np.all(labels == np.round(labels)):
        fail(sample, position, 'bbox_label_id', f'expected integer IDs, got {labels.tolist()}')
    unknown = sorted(set(labels.astype(np.int64).tolist()) - set(class_ids))
    if unknown:
        fail(sample, position, 'bbox_label_id', f'expected IDs among the class IDs '
             f'{list(class_ids)}, got {unknown}')
    boxes = np.stack(columns, axis=1) if columns[0].size else np.zeros((0, len(columns)))
    if instance_type == 'rectangle1':
        checks = (('bbox_row2', 2, 0, 'row1 < row2'), ('bbox_col2', 3, 1, 'col1 < col2'))
        for key, hi, lo, rule in checks:
            bad = np.flatnonzero(~(boxes[:, hi] > boxes[:, lo]))
            if bad.size:
                fail(sample, position, key, f'expected {rule}; box {int(bad[0])} has '
                     f'{boxes[bad[0], lo]!r} and {boxes[bad[0], hi]!r}')
    else:
        for key, k in (('bbox_length1', 3), ('bbox_length2', 4)):
            bad = np.flatnonzero(~(boxes[:, k] > 0))
            if bad.size:
                fail(sample, position, key, f'expected half lengths > 0; box {int(bad[0])} has '
                     f'{boxes[bad[0], k]!r}')
    return boxes, labels.astype(np.int64)


def _column(sample, position, key):
    """One box key as a float64 1-D array of finite numbers (booleans, strings, objects and
    nested sequences refused)."""
    value = require(sample, position, key)
    if not isinstance(value, (list, tuple)) and not hasattr(value, 'shape'):
        fail(sample, position, key, f'expected a 1-D sequence of numbers, got {type(value).__name__}')
    try:
        array = np.asarray(to_numpy(value) if hasattr(value, 'shape') else value)
    except ValueError:
        fail(sample, position, key, 'expected a 1-D sequence of numbers, got a ragged sequence')
    if array.ndim != 1 or (array.size and array.dtype.kind not in 'iuf'):
        fail(sample, position, key, f'expected a 1-D sequence of numbers, got shape '
             f'{array.shape} and dtype {array.dtype}')
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        fail(sample, position, key, f'expected finite numbers, got {array.tolist()}')
    return array
