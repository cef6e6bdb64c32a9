"""HALCON's operators in snake_case: the stable public contract of halcon_dl.

Each is a thin function over :class:`~halcon_dl.model.DLModel`, which offers the same through
methods (``model.train_batch(samples)``, ...).
"""
from __future__ import annotations

import numbers

import numpy as np

from .errors import HalconDLError
from .io import read_dl_model, write_dl_model
from .model import DLModel, get_system, set_system


def _model(model) -> DLModel:
    if not isinstance(model, DLModel):
        raise HalconDLError(f'expected a model made by create_dl_model, got {type(model).__name__}')
    return model


def create_dl_model(type, *, backbone='compact', class_ids, class_names=None, image_width,
                    image_height, image_num_channels, seed=None, **params) -> DLModel:
    """A new model of ``type`` ('classification', 'segmentation' or 'detection'); ``params``
    are any settable or creation-only parameters of the type.

    Weights are drawn from a generator seeded with ``seed`` (default: the system seed set by
    ``set_system('seed_rand', n)``, 0 unless changed).
    """
    return DLModel(type, backbone=backbone, class_ids=class_ids, class_names=class_names,
                   image_width=image_width, image_height=image_height,
                   image_num_channels=image_num_channels, seed=seed, **params)


def create_dl_model_detection(backbone, num_classes, params) -> DLModel:
    """HALCON's ``create_dl_model_detection``: a detection model on ``backbone`` with
    ``num_classes`` classes.

    ``params`` (a dict) holds the model parameters: ``image_width`` and ``image_height``
    (required), ``image_num_channels`` (default 3 [C]), ``class_ids`` (default 0..num_classes-1;
    if given, exactly ``num_classes`` of them), ``class_names``, ``instance_type``, the levels,
    anchors, ``capacity`` and any other detection parameter; ``seed`` as in
    :func:`create_dl_model`.
    """
    if not isinstance(params, dict):
        raise HalconDLError(f'create_dl_model_detection: params must be a dict, got '
                            f'{type(params).__name__}')
    if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1):
        raise HalconDLError(f'create_dl_model_detection: num_classes must be an integer >= 1, '
                            f'got {num_classes!r}')
    params = dict(params)
    missing = [k for k in ('image_width', 'image_height') if k not in params]
    if missing:
        raise HalconDLError(f'create_dl_model_detection: params must give {missing}')
    class_ids = params.pop('class_ids', list(range(num_classes)))
    ids = np.ravel(np.asarray(class_ids, dtype=object)).tolist()
    if len(ids) != num_classes:
        raise HalconDLError(f'create_dl_model_detection: num_classes is {num_classes} but '
                            f'params gives {len(ids)} class_ids {ids}')
    params.setdefault('image_num_channels', 3)
    return create_dl_model('detection', backbone=backbone, class_ids=ids, **params)


def set_dl_model_param(model, name, value) -> None:
    """Set a model parameter (validated against the parameter table)."""
    _model(model).set_param(name, value)


def get_dl_model_param(model, name):
    """Read a model parameter."""
    return _model(model).get_param(name)


def train_dl_model_batch(model, samples) -> dict:
    """One weight update from ``batch_size × batch_size_multiplier`` samples; returns the losses
    ('total_loss', the head losses and 'regularization_loss') as Python floats."""
    return _model(model).train_batch(samples)


def apply_dl_model(model, samples) -> list:
    """Inference: one result dict per sample."""
    return _model(model).apply(samples)


__all__ = ['create_dl_model', 'create_dl_model_detection', 'set_dl_model_param',
           'get_dl_model_param', 'train_dl_model_batch', 'apply_dl_model', 'write_dl_model',
           'read_dl_model', 'set_system', 'get_system']
