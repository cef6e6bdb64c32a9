"""The task protocol: what a model type provides to :class:`~halcon_dl.model.DLModel`.

``DLModel`` does what every type shares — the parameter table, the training step (sub-batches,
gradient averaging, weight prior, one optimiser update, nothing changed on failure), inference
in chunks, device and precision moves.  Everything that differs per type lives in one ``Task``
subclass per file in this package, registered in ``halcon_dl.tasks.TASKS``:

============================  ==================================================================
``type``, ``backbones``       the type name and the backbones it can be built on
``default_params(model)``     type-specific defaults (e.g. class weights 1.0 or 0.25 per class)
``check_params(model)``       checks of several parameters together, once all are set at creation
``build_network(model, rng)`` the network (a Module): backbone levels + the type's head(s)
``on_param_change(...)``      what setting a parameter does to the network; returns the names of
                              replaced parameters (their optimiser state is dropped)
``collate(model, samples)``   validated samples -> dict of arrays, every one with the sample axis
                              first (images (N, C, H, W), targets, weights)
``loss_weights(model)``       weight of each head loss in ``total_loss``
``losses(model, out, batch)`` the head losses of one sub-batch: Tensors for those in
                              ``loss_weights`` (back-propagated), floats for reported parts
``results(model, out)``       one result dict per sample (inference)
============================  ==================================================================

A new model type adds ``tasks/<type>.py`` (a ``Task`` subclass), registers it in
``tasks/__init__.py``, adds its head network under ``nn/networks/`` and its parameters (with
``types``) to ``params.py``; ``model.py`` does not change.
"""
from __future__ import annotations

from ..errors import HalconDLError
from ..nn.networks import BACKBONES


class Task:
    """Base class of the model types (see the module docstring for the protocol)."""

    type: str = ''
    backbones: tuple = tuple(BACKBONES)

    def default_params(self, model) -> dict:
        """Type-specific defaults, given the creation arguments already in ``model.params``."""
        return {'class_weights': [1.0] * len(model.class_ids)}

    def check_params(self, model) -> None:
        """Raise :class:`HalconDLError` if the parameters set at creation do not fit together."""

    def build_network(self, model, rng):
        raise NotImplementedError

    def on_param_change(self, model, name: str, old, value) -> list:
        """Adapt the network to a parameter that changed from ``old`` to ``value``.

        Returns the names of parameters that were replaced (new arrays), whose optimiser state
        the model then drops.  The default: nothing to do.
        """
        return []

    def collate(self, model, samples: list, labels: bool = True) -> dict:
        raise NotImplementedError

    def loss_weights(self, model) -> dict:
        raise NotImplementedError

    def losses(self, model, outputs, batch: dict) -> dict:
        raise NotImplementedError

    def results(self, model, outputs) -> list:
        raise NotImplementedError

    # -- helpers the tasks share ------------------------------------------------------------------
    @staticmethod
    def backbone_class(model):
        cls = BACKBONES.get(model.backbone)
        if cls is None:
            raise HalconDLError(f'unknown backbone {model.backbone!r}; valid: {list(BACKBONES)}')
        return cls
