"""Object-detection measures: COCO-style average precision and, for rectangle2, an angle score.

**Matching** (per image, per IoU threshold t, each class on its own): the detections are visited
by descending confidence (equal confidences in the order of the result); a detection is matched
to the ground-truth box of its class with the highest IoU ≥ t among those not yet matched at t
(equal IoU: the first box of the sample).  A matched detection is a true positive (TP), any other
a false positive (FP).  IoU is axis-aligned for rectangle1 and the exact rotated IoU for
rectangle2 (:func:`halcon_dl.detection.box_iou`).  Thresholds t = 0.50, 0.55, ..., 0.95.

**Average precision** of class c at threshold t (Lin et al., *Microsoft COCO*, 2014; the COCO
evaluation's 101-point interpolation): all detections of class c over all images are ordered by
descending confidence; for each distinct confidence s, TP(s) and FP(s) count the detections with
confidence ≥ s, precision(s) = TP(s) / (TP(s) + FP(s)), recall(s) = TP(s) / G_c with G_c the
ground-truth boxes of c.  Then
``AP_c(t) = (1/101) Σ_{j=0..100} max{precision(s) : recall(s) ≥ j/100}`` (max of nothing = 0);
recall(s) ≥ j/100 is decided exactly, as 100·TP(s) ≥ j·G_c.  Our convention: detections of equal
confidence form one operating point (a confidence threshold cannot split them), so AP does not
depend on the order of images or detections; without ties this is the COCO computation.

* ``class_ap``: per class the mean of AP_c(t) over the ten thresholds;
* ``mean_ap``: the mean of AP_c(t) over the classes and the ten thresholds;
* ``ap_iou_050``, ``ap_iou_075``: the mean of AP_c(0.5), AP_c(0.75) over the classes.
Classes without ground truth (G_c = 0) have no recall: their ``class_ap`` is NaN and they are
left out of the means (their detections count nowhere).  A class with ground truth and no
detection has AP 0; perfect detections give AP 1.  With no ground truth at all the means are NaN.

* ``soap`` (rectangle2 only; our convention, HALCON's formula is not published): over the true
  positives at IoU 0.5 of all classes except ``class_ids_no_orientation``,
  ``soap = mean_i (1 − |Δφ_i| / π)`` with Δφ_i = φ_detection − φ_ground-truth wrapped to
  (−π, π]; with ``ignore_direction`` the angles are directions modulo π, Δφ is wrapped to
  (−π/2, π/2] and the score is 1 − |Δφ| / (π/2).  1 means exact angles, 0 opposite ones
  (perpendicular with ``ignore_direction``); NaN when there is no such true positive.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import to_numpy
from ..detection import box_iou, normalize_angle
from ..detection.boxes import RECT1_COLUMNS, RECT2_COLUMNS, check_instance_type
from ..errors import HalconDLError
from .common import (ClassIndex, floats, mean_of_defined, model_param, per_sample, require,
                     select_measures)

IOU_THRESHOLDS = tuple((50 + 5 * i) / 100 for i in range(10))     # 0.50, 0.55, ..., 0.95
RECALL_STEPS = 100                                                  # recall levels j / 100


def greedy_match(iou, thresholds=IOU_THRESHOLDS):
    """Greedy matching at each threshold: ``iou`` (N, M) of N detections (rows, by descending
    confidence) and M ground-truth boxes -> ``match`` (N, T) int64, the matched column or -1.

    Row i takes the column with the highest ``iou[i, j] ≥ t`` not taken by an earlier row at t
    (ties: the lowest column).  Vectorised over the T thresholds; the loop runs only over the
    rows that reach the lowest threshold somewhere (the others match nothing at any t).
    Thresholds must be > 0 (an IoU of 0, e.g. another class, then never matches).
    """
    n, m = iou.shape
    thresholds = np.asarray(thresholds, dtype=np.float64)[:, None]        # (T, 1)
    match = np.full((n, thresholds.shape[0]), -1, dtype=np.int64)
    taken = np.zeros((thresholds.shape[0], m), dtype=bool)
    rows = np.arange(thresholds.shape[0])
    for i in np.flatnonzero(iou.max(axis=1, initial=0.0) >= thresholds.min()):
        free = (iou[i] >= thresholds) & ~taken                            # (T, M)
        best = np.where(free, iou[i], -1.0).argmax(axis=1)
        found = free[rows, best]
        match[i, found] = best[found]
        taken[rows[found], best[found]] = True
    return match


def average_precision(scores, tp, num_truth: int):
    """AP at each threshold (module docstring) of one class: ``scores`` (N,) confidences,
    ``tp`` (N, T) bool true-positive flags, ``num_truth`` = G_c -> (T,) float64; NaN if G_c = 0.
    """
    if num_truth == 0:
        return np.full(tp.shape[1], np.nan)
    if scores.size == 0:
        return np.zeros(tp.shape[1])
    order = np.argsort(-scores, kind='stable')
    scores, tp = scores[order], tp[order]
    level_end = np.append(scores[1:] != scores[:-1], True)               # last of each level
    true_pos = np.cumsum(tp, axis=0)[level_end]                           # (L, T) TP(s)
    counted = (np.arange(1, scores.size + 1))[level_end][:, None]          # TP(s) + FP(s)
    precision = true_pos / counted
    best_after = np.maximum.accumulate(precision[::-1], axis=0)[::-1]     # max over recall ≥
    steps = np.arange(RECALL_STEPS + 1) * num_truth                       # j · G_c
    ap = np.zeros(tp.shape[1])
    for t in range(tp.shape[1]):
        # first level with 100·TP(s) ≥ j·G_c; TP(s) does not decrease, so later levels qualify too
        first = np.searchsorted(RECALL_STEPS * true_pos[:, t], steps, side='left')
        reached = first < true_pos.shape[0]
        ap[t] = best_after[first[reached], t].sum() / (RECALL_STEPS + 1)
    return ap


class DetectionEvaluation:
    """Streaming accumulator of the detection measures (module docstring).

    Kept: per detection only what AP needs (its confidence, class and TP flag per threshold),
    per class the number of ground-truth boxes, and the running SoAP sum and count; the images
    themselves are not kept.
    """

    type = 'detection'
    MEASURES = ('mean_ap', 'ap_iou_050', 'ap_iou_075', 'class_ap', 'soap')

    def __init__(self, class_ids, instance_type='rectangle1', ignore_direction=False,
                 class_ids_no_orientation=()):
        self.classes = ClassIndex(class_ids)
        self.instance_type = check_instance_type(instance_type)
        self.columns = RECT1_COLUMNS if instance_type == 'rectangle1' else RECT2_COLUMNS
        self.ignore_direction = bool(ignore_direction)
        self.no_orientation = [c for c in class_ids_no_orientation if c in self.classes.class_ids]
        self.num_truth = np.zeros(len(self.classes), dtype=np.int64)
        self.scores, self.labels, self.tp = [], [], []
        self.angle_score_sum, self.angle_count = 0.0, 0

    @classmethod
    def from_model(cls, model):
        return cls(model.get_param('class_ids'),
                   model_param(model, 'instance_type', 'rectangle1'),
                   model_param(model, 'ignore_direction', False),
                   model_param(model, 'class_ids_no_orientation', ()))

    def add(self, boxes, class_ids, confidences, truth_boxes, truth_class_ids):
        """Add one image: detections ``boxes`` (N, 4|5), ``class_ids`` (N,), ``confidences`` (N,)
        and ground truth ``truth_boxes`` (M, 4|5), ``truth_class_ids`` (M,); box columns
        (row1, col1, row2, col2) for rectangle1, (row, col, phi, length1, length2) for rectangle2.
        """
        width = len(self.columns)
        boxes = np.asarray(to_numpy(boxes), dtype=np.float64).reshape(-1, width)
        truth_boxes = np.asarray(to_numpy(truth_boxes), dtype=np.float64).reshape(-1, width)
        labels = self.classes.index(to_numpy(class_ids).reshape(-1), 'bbox_class_id')
        truth = self.classes.index(to_numpy(truth_class_ids).reshape(-1), 'bbox_label_id')
        scores = np.asarray(to_numpy(confidences), dtype=np.float64).reshape(-1)
        if labels.size != boxes.shape[0] or scores.size != boxes.shape[0] \
                or truth.size != truth_boxes.shape[0]:
            raise HalconDLError('the box, class and confidence lists of an image must have equal '
                                f'lengths, got {boxes.shape[0]} boxes, {labels.size} classes, '
                                f'{scores.size} confidences; {truth_boxes.shape[0]} ground-truth '
                                f'boxes and {truth.size} labels')
        if not (np.isfinite(boxes).all() and np.isfinite(truth_boxes).all()
                and np.isfinite(scores).all()):
            raise HalconDLError('boxes and confidences must be finite')
        order = np.argsort(-scores, kind='stable')
        boxes, labels, scores = boxes[order], labels[order], scores[order]
        self.num_truth += np.bincount(truth, minlength=len(self.classes))
        if boxes.shape[0] and truth_boxes.shape[0]:
            iou = box_iou(boxes, truth_boxes, self.instance_type)
            iou[labels[:, None] != truth[None, :]] = 0.0          # match within the class only
            match = greedy_match(iou)
            if self.instance_type == 'rectangle2':
                self._add_angles(boxes, labels, truth_boxes, match[:, 0])
        else:
            match = np.full((boxes.shape[0], len(IOU_THRESHOLDS)), -1, dtype=np.int64)
        self.scores.append(scores)
        self.labels.append(labels)
        self.tp.append(match >= 0)

    def _add_angles(self, boxes, labels, truth_boxes, match):
        """Add the SoAP terms 1 − |Δφ| / half-period of the true positives at IoU 0.5."""
        oriented = ~np.isin(labels, [self.classes.class_ids.index(c) for c in self.no_orientation])
        hit = (match >= 0) & oriented
        delta = normalize_angle(boxes[hit, 2] - truth_boxes[match[hit], 2], self.ignore_direction)
        half_period = math.pi / 2 if self.ignore_direction else math.pi
        self.angle_score_sum += float(np.sum(1.0 - np.abs(delta) / half_period))
        self.angle_count += int(hit.sum())

    def update(self, samples, results, start=0):
        """Add the results of ``apply_dl_model`` for ``samples``: result keys ``bbox_<column>``,
        ``bbox_class_id``, ``bbox_confidence``; sample keys ``bbox_<column>``, ``bbox_label_id``."""
        def add_one(sample, result):
            def boxes(d, what):
                columns = [np.asarray(to_numpy(require(d, f'bbox_{c}', what)),
                                      dtype=np.float64).reshape(-1) for c in self.columns]
                if len({c.size for c in columns}) > 1:
                    raise HalconDLError(f'the box keys of the {what} have different lengths: '
                                        f'{[c.size for c in columns]}')
                return np.stack(columns, axis=1)
            self.add(boxes(result, 'result'), require(result, 'bbox_class_id', 'result'),
                     require(result, 'bbox_confidence', 'result'), boxes(sample, 'sample'),
                     require(sample, 'bbox_label_id', 'sample'))
        per_sample(samples, results, start, add_one)

    def check_measures(self, measures):
        valid = self.MEASURES[:-1] if self.instance_type == 'rectangle1' else self.MEASURES
        return select_measures(measures, valid, valid, f'{self.instance_type} detection')

    def class_ap(self):
        """(K, T) AP per class and threshold (NaN rows for classes without ground truth)."""
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, dtype=np.int64)
        tp = np.concatenate(self.tp) if self.tp else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        return np.stack([average_precision(scores[labels == c], tp[labels == c], int(g))
                         for c, g in enumerate(self.num_truth)])

    def measures(self, measures=None) -> dict:
        """The asked measures (default: all for the instance type), module docstring."""
        names = self.check_measures(measures)
        ap = self.class_ap()
        values = {
            'mean_ap': mean_of_defined(ap),
            'ap_iou_050': mean_of_defined(ap[:, IOU_THRESHOLDS.index(0.5)]),
            'ap_iou_075': mean_of_defined(ap[:, IOU_THRESHOLDS.index(0.75)]),
            'class_ap': floats(ap.mean(axis=1)),
            'soap': (self.angle_score_sum / self.angle_count if self.angle_count
                     else float('nan')),
        }
        return {name: values[name] for name in names}
