"""Classification measures, accumulated image by image from a confusion matrix and a histogram
of the rank of the true class.

Notation: K classes in the order of ``class_ids``; N images; for image i the ground-truth class
g_i and the ranked prediction (class IDs by descending confidence), its first entry p_i.

* ``absolute_confusion_matrix`` C (K, K), int64: **rows are predicted classes, columns are
  ground-truth classes**, C[p, g] = #{i : p_i = p, g_i = g}.
* ``relative_confusion_matrix`` R: each column divided by its sum, R[p, g] = C[p, g] / Σ_p' C[p', g]
  (the share of the images of true class g predicted as p; a column of a class without images is 0).
* ``top{k}_error`` = 1 − #{i : g_i is among the first k ranked classes} / N.
* ``precision_per_class`` P_c = C[c, c] / Σ_g C[c, g]  (correct among the images predicted as c);
  ``recall_per_class`` Q_c = C[c, c] / Σ_p C[p, c]  (found among the images of class c);
  ``f_score_per_class`` F_c = 2 P_c Q_c / (P_c + Q_c).
  Our convention (the per-class rule shared with segmentation): a class is evaluated when it
  occurs as ground truth or as top-1 prediction; for an evaluated class a ratio 0/0 is 0; a class
  that occurs in neither gets NaN in every per-class list and is left out of the means.
* ``precision``, ``recall``, ``f_score``: the means of the per-class values over the evaluated
  classes (macro averages: ``f_score`` is the mean of F_c, not F of the mean P and Q).
"""
from __future__ import annotations

import re

import numpy as np

from ..backend import to_numpy
from ..errors import HalconDLError
from .common import (ClassIndex, floats, mean_of_defined, per_sample, require, safe_ratio,
                     select_measures)

TOPK = re.compile(r'top([1-9][0-9]*)_error$')


class ClassificationEvaluation:
    """Streaming accumulator of the classification measures (module docstring).

    State, independent of the number of images: the confusion matrix ``confusion`` (K, K) and
    ``rank_count`` (K + 1,), where rank_count[r] counts the images whose true class is at
    position r (0-based) of the ranked prediction, r = K when the ranking does not contain it.
    """

    type = 'classification'
    # 'precision', 'recall' and 'f_score' report the mean and the '<name>_per_class' list
    MEASURES = ('top1_error', 'precision', 'recall', 'f_score', 'absolute_confusion_matrix',
                'relative_confusion_matrix')

    def __init__(self, class_ids):
        self.classes = ClassIndex(class_ids)
        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.rank_count = np.zeros(k + 1, dtype=np.int64)

    @classmethod
    def from_model(cls, model):
        return cls(model.get_param('class_ids'))

    def add(self, true_ids, ranked_ids):
        """Add N images: ``true_ids`` (N,) ground-truth class IDs, ``ranked_ids`` (N, R), R ≥ 1,
        predicted class IDs by descending confidence (the first is the top-1 prediction)."""
        k = len(self.classes)
        truth = self.classes.index(to_numpy(true_ids).reshape(-1), 'image_label_id')
        ranked = self.classes.index(to_numpy(ranked_ids), 'classification_class_ids')
        if ranked.ndim != 2 or ranked.shape[0] != truth.shape[0] or ranked.shape[1] == 0:
            raise HalconDLError(f"key 'classification_class_ids': expected {truth.shape[0]} "
                                f'rankings of at least one class ID, got shape {ranked.shape}')
        hit = ranked == truth[:, None]
        rank = np.where(hit.any(axis=1), hit.argmax(axis=1), k)
        self.rank_count += np.bincount(rank, minlength=k + 1)
        self.confusion += np.bincount(ranked[:, 0] * k + truth, minlength=k * k).reshape(k, k)

    def update(self, samples, results, start=0):
        """Add the results of ``apply_dl_model`` for ``samples`` (sample ``start`` + i in the
        stream, for error messages): keys ``image_label_id`` and ``classification_class_ids``."""
        def add_one(sample, result):
            label = to_numpy(require(sample, 'image_label_id', 'sample'))
            ranked = to_numpy(require(result, 'classification_class_ids', 'result'))
            if label.size != 1:
                raise HalconDLError(f"key 'image_label_id': expected one class ID, got shape "
                                    f'{label.shape}')
            if ranked.ndim != 1 or ranked.size == 0:
                raise HalconDLError("key 'classification_class_ids': expected a non-empty 1-D "
                                    f'list of class IDs, got shape {ranked.shape}')
            self.add(label.reshape(1), ranked[None, :])
        per_sample(samples, results, start, add_one)

    def check_measures(self, measures):
        return select_measures(measures, self.MEASURES, self.MEASURES, self.type,
                               extra=lambda name: bool(TOPK.match(name)))

    def measures(self, measures=None) -> dict:
        """The asked measures (default: all but extra top-k errors) as defined in the module."""
        c = self.confusion
        evaluated = (c.sum(axis=0) + c.sum(axis=1)) > 0
        diag = np.diag(c)
        precision = safe_ratio(diag, c.sum(axis=1), evaluated)
        recall = safe_ratio(diag, c.sum(axis=0), evaluated)
        f_score = safe_ratio(2 * precision * recall, precision + recall, evaluated)
        out = {}
        for name in self.check_measures(measures):
            topk = TOPK.match(name)
            if topk:
                total = self.rank_count.sum()
                misses = total - self.rank_count[:min(int(topk.group(1)), len(self.classes))].sum()
                out[name] = float(misses / total) if total else float('nan')
            elif name in ('precision', 'recall', 'f_score'):
                values = {'precision': precision, 'recall': recall, 'f_score': f_score}[name]
                out[name] = mean_of_defined(values)
                out[f'{name}_per_class'] = floats(values)
            elif name == 'absolute_confusion_matrix':
                out[name] = c.copy()
            else:
                out[name] = safe_ratio(c, c.sum(axis=0, keepdims=True), True)
        return out

