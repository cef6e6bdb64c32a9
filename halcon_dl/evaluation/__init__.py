"""Evaluation: ``evaluate_dl_model`` and the streaming accumulators of the measures per model type.

Each accumulator works on plain arrays (``add``) or on samples with the results of
``apply_dl_model`` (``update``), keeps only what its measures need, and reports them with
``measures(names)``; every measure is defined in the docstring of its module:

* :mod:`.classification` — ``top1_error`` (``top{k}_error``), ``precision``, ``recall``,
  ``f_score`` (mean and per class), ``absolute_confusion_matrix``, ``relative_confusion_matrix``;
* :mod:`.segmentation` — ``pixel_accuracy``, ``class_pixel_accuracy``, ``mean_accuracy``,
  ``mean_iou``, ``class_iou``, ``frequency_weighted_iou``, ``pixel_confusion_matrix``;
* :mod:`.detection` — ``mean_ap``, ``ap_iou_050``, ``ap_iou_075``, ``class_ap`` and, for
  rectangle2, ``soap``.
"""
from __future__ import annotations

from itertools import islice

from ..errors import HalconDLError
from .classification import ClassificationEvaluation
from .detection import IOU_THRESHOLDS, DetectionEvaluation, average_precision, greedy_match
from .segmentation import SegmentationEvaluation

EVALUATIONS = {cls.type: cls for cls in (ClassificationEvaluation, SegmentationEvaluation,
                                         DetectionEvaluation)}


def evaluation_for(model):
    """A fresh accumulator for ``model.type``, set up from the model's parameters."""
    if model.type not in EVALUATIONS:
        raise HalconDLError(f'cannot evaluate a model of type {model.type!r}; supported: '
                            f'{sorted(EVALUATIONS)}')
    return EVALUATIONS[model.type].from_model(model)


def evaluate_dl_model(model, samples, measures=None) -> dict:
    """Apply ``model`` to ``samples`` and return the evaluation measures of its type.

    ``samples`` is any iterable of DLSample dicts with ground truth (a generator is read
    once): it is consumed in chunks of the model's ``batch_size``, each chunk is passed to
    ``apply_dl_model`` and its results, with the chunk's ground truth, to the accumulator of
    the model type, then dropped, so memory does not grow with the number of images (for
    detection by one confidence, class and ten flags per detection).  ``measures``: None for
    the type's default set, a name, a list of names, or 'all'; unknown names raise
    HalconDLError before anything is computed.  Measure definitions: ``halcon_dl.evaluation``.
    """
    from ..samples import sample_list
    if isinstance(samples, (dict, str, bytes)) or samples is None:
        sample_list(samples, 'evaluate_dl_model')          # the error for what is not a sequence
    evaluation = evaluation_for(model)
    evaluation.check_measures(measures)
    size = int(model.get_param('batch_size'))
    stream, seen = iter(samples), 0
    while chunk := list(islice(stream, size)):
        evaluation.update(chunk, model.apply(chunk), start=seen)
        seen += len(chunk)
    if seen == 0:
        raise HalconDLError('evaluate_dl_model needs at least one sample')
    return evaluation.measures(measures)


__all__ = ['evaluate_dl_model', 'evaluation_for', 'EVALUATIONS', 'ClassificationEvaluation',
           'SegmentationEvaluation', 'DetectionEvaluation', 'IOU_THRESHOLDS', 'greedy_match',
           'average_precision']
