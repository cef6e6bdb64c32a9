"""Semantic-segmentation measures, accumulated image by image in a pixel confusion matrix.

Pixels whose ground-truth ID is in ``ignore_class_ids`` are left out of every measure (whatever
was predicted there).  Over the remaining pixels, with K classes in the order of ``class_ids``:

* ``pixel_confusion_matrix`` C (K, K), int64: **rows are predicted classes, columns are
  ground-truth classes**, C[p, g] = number of pixels of ground truth g predicted as p.
  Write G_c = Σ_p C[p, c] (ground-truth pixels of c), P_c = Σ_g C[c, g] (pixels predicted as c),
  T_c = C[c, c] and N = Σ_c G_c.
* ``pixel_accuracy`` = Σ_c T_c / N.
* ``class_pixel_accuracy`` A_c = T_c / G_c;  ``mean_accuracy`` = mean of A_c.
* ``class_iou`` IoU_c = T_c / (G_c + P_c − T_c);  ``mean_iou`` = mean of IoU_c.
* ``frequency_weighted_iou`` = Σ_c (G_c / N) · IoU_c.
Our convention (the per-class rule shared with classification): a class is evaluated when it
occurs in the ground truth or in the prediction (G_c + P_c > 0); for an evaluated class a ratio
0/0 is 0 (A_c of a class only predicted, never present); a class that occurs in neither gets NaN
in ``class_pixel_accuracy`` and ``class_iou`` and is left out of ``mean_accuracy`` and
``mean_iou``.  With no valid pixel at all (N = 0) the image-level measures are NaN.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..errors import HalconDLError
from .common import (ClassIndex, floats, mean_of_defined, model_param, per_sample, require,
                     safe_ratio, select_measures)


class SegmentationEvaluation:
    """Streaming accumulator of the segmentation measures (module docstring); its state is the
    (K, K) pixel confusion matrix, independent of the number and size of the images."""

    type = 'segmentation'
    MEASURES = ('pixel_accuracy', 'class_pixel_accuracy', 'mean_accuracy', 'mean_iou',
                'class_iou', 'frequency_weighted_iou', 'pixel_confusion_matrix')

    def __init__(self, class_ids, ignore_class_ids=()):
        self.truth_ids = ClassIndex(class_ids, ignore_class_ids)
        self.predicted_ids = ClassIndex(class_ids)
        k = len(self.truth_ids)
        self.confusion = np.zeros((k, k), dtype=np.int64)

    @classmethod
    def from_model(cls, model):
        return cls(model.get_param('class_ids'), model_param(model, 'ignore_class_ids', ()))

    def add(self, truth_image, predicted_image):
        """Add one image: ``truth_image`` and ``predicted_image`` (H, W) class IDs (a trailing
        axis of length 1 is accepted); truth may hold ignore IDs, the prediction may not."""
        truth, predicted = _label_image(truth_image), _label_image(predicted_image)
        if truth.shape != predicted.shape:
            raise HalconDLError(f"key 'segmentation_image': the result has shape "
                                f'{predicted.shape} but the ground truth {truth.shape}')
        g = self.truth_ids.index(truth, 'segmentation_image').reshape(-1)
        p = self.predicted_ids.index(predicted, 'segmentation_image (result)').reshape(-1)
        keep = g >= 0
        k = len(self.truth_ids)
        self.confusion += np.bincount(p[keep] * k + g[keep], minlength=k * k).reshape(k, k)

    def update(self, samples, results, start=0):
        """Add the results of ``apply_dl_model`` for ``samples`` (key ``segmentation_image`` in
        both); ``start`` is the position of the first sample in the stream."""
        per_sample(samples, results, start, lambda s, r: self.add(
            require(s, 'segmentation_image', 'sample'),
            require(r, 'segmentation_image', 'result')))

    def check_measures(self, measures):
        return select_measures(measures, self.MEASURES, self.MEASURES, self.type)

    def measures(self, measures=None) -> dict:
        """The asked measures (default: all) as defined in the module docstring."""
        c = self.confusion
        truth, predicted, correct = c.sum(axis=0), c.sum(axis=1), np.diag(c)
        total = truth.sum()
        evaluated = truth + predicted > 0
        accuracy = safe_ratio(correct, truth, evaluated)
        iou = safe_ratio(correct, truth + predicted - correct, evaluated)
        values = {
            'pixel_accuracy': float(correct.sum() / total) if total else float('nan'),
            'class_pixel_accuracy': floats(accuracy),
            'mean_accuracy': mean_of_defined(accuracy),
            'mean_iou': mean_of_defined(iou),
            'class_iou': floats(iou),
            'frequency_weighted_iou': (float(np.sum(truth[evaluated] / total * iou[evaluated]))
                                       if total else float('nan')),
            'pixel_confusion_matrix': c.copy(),
        }
        return {name: values[name] for name in self.check_measures(measures)}


def _label_image(image):
    image = to_numpy(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise HalconDLError(f"key 'segmentation_image': expected an (H, W) image of class IDs, "
                            f'got shape {image.shape}')
    return image
