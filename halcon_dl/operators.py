"""HALCON's operators in snake_case (SPEC §2): the stable public contract of halcon_dl.

Each is a thin function over :class:`~halcon_dl.model.DLModel`, which offers the same through
methods (``model.train_batch(samples)``, ...).
"""
from __future__ import annotations

from .errors import HalconDLError
from .model import DLModel, get_system, set_system


def _model(model) -> DLModel:
    if not isinstance(model, DLModel):
        raise HalconDLError(f'expected a model made by create_dl_model, got {type(model).__name__}')
    return model


def create_dl_model(type, *, backbone='compact', class_ids, class_names=None, image_width,
                    image_height, image_num_channels, seed=None, **params) -> DLModel:
    """A new model of ``type`` ('classification' or 'segmentation'); ``params`` are any settable
    parameters.

    Weights are drawn from a generator seeded with ``seed`` (default: the system seed set by
    ``set_system('seed_rand', n)``, 0 unless changed).
    """
    return DLModel(type, backbone=backbone, class_ids=class_ids, class_names=class_names,
                   image_width=image_width, image_height=image_height,
                   image_num_channels=image_num_channels, seed=seed, **params)


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
    """Inference: one result dict per sample (SPEC §9)."""
    return _model(model).apply(samples)


__all__ = ['create_dl_model', 'set_dl_model_param', 'get_dl_model_param', 'train_dl_model_batch',
           'apply_dl_model', 'set_system', 'get_system']
