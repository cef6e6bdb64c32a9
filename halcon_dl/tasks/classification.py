"""Classification: one class ID per image, weighted cross-entropy, softmax confidences.

Samples: ``image`` and ``image_label_id`` (a class ID, an element of ``class_ids``).  Loss per
sub-batch ``L = -(1/W) Σ_i w_i log softmax(z_i)[t_i]``, ``w_i = class_weights[t_i]``,
``W = Σ_i w_i``.  Results: ``classification_class_ids``, ``classification_class_names`` and
``classification_confidences`` (softmax), sorted by confidence, descending.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import to_numpy
from ..losses import cross_entropy
from ..nn.layers import Conv2d, Dense
from ..nn.networks import Classifier, build_backbone
from ..samples import check_id, check_image, require, stack_images
from .base import Task


def build_model_backbone(task, model, rng):
    """The model's backbone, with its creation parameters (shared by the tasks)."""
    task.backbone_class(model)
    p = model.params
    return build_backbone(model.backbone, p['image_num_channels'], rng, base_width=p['base_width'],
                          bn_momentum=p['batchnorm_momentum'], dtype=model.dtype)


def replace_first_conv(model, rng):
    """A new first convolution for the current ``image_num_channels``; returns replaced names."""
    name, conv = next((n, m) for n, m in model.network.named_modules() if isinstance(m, Conv2d))
    co, _, k, _ = conv.weight.shape
    new = Conv2d(model.params['image_num_channels'], co, k, rng, conv.stride, conv.padding,
                 conv.dilation, bias=conv.bias is not None, dtype=model.dtype).to(model.runtime)
    conv.weight, conv.bias = new.weight, new.bias
    return [f'{name}.weight'] + ([f'{name}.bias'] if conv.bias is not None else [])


def sync_class_lists(model, old_ids, new_ids):
    """After ``class_ids`` changed: names and weights per class follow when the count changed."""
    n = len(new_ids)
    if len(model.params['class_names']) != n:
        model.params['class_names'] = [str(c) for c in new_ids]
    if len(model.params['class_weights']) != n:
        model.params['class_weights'] = model.task.default_params(model)['class_weights']


class ClassificationTask(Task):
    type = 'classification'

    def build_network(self, model, rng):
        backbone = build_model_backbone(self, model, rng)
        return Classifier(backbone, len(model.class_ids), rng, dtype=model.dtype)

    def on_param_change(self, model, name, old, value):
        """New class count: a new output layer.  New channel count: a new first convolution."""
        if name == 'class_ids':
            sync_class_lists(model, old, value)
            if len(value) != len(old):
                fc = model.network.fc
                model.network.fc = Dense(fc.weight.shape[1], len(value), model.rng,
                                         dtype=model.dtype).to(model.runtime)
                return ['fc.weight', 'fc.bias']
        elif name == 'image_num_channels' and value != old:
            return replace_first_conv(model, model.rng)
        return []

    def collate(self, model, samples, labels=True):
        """Validated batch arrays: images (N, C, H, W) and, with ``labels``, class indices and
        per-sample class weights."""
        p = model.params
        index_of = {cid: i for i, cid in enumerate(model.class_ids)}
        images, targets = [], []
        for i, s in enumerate(samples):
            images.append(check_image(s, i, p['image_height'], p['image_width'], p['image_num_channels']))
            if labels:
                label = require(s, i, 'image_label_id')
                targets.append(index_of[check_id(s, i, 'image_label_id', label, index_of)])
        xp = model.xp
        batch = {'images': stack_images(images, model.dtype, xp)}
        if labels:
            targets = np.asarray(targets, dtype=np.int64)
            batch['targets'] = xp.asarray(targets)
            batch['weights'] = xp.asarray(np.asarray(p['class_weights'], dtype=model.dtype)[targets])
        return batch

    def loss_weights(self, model):
        return {'cross_entropy_loss': 1.0}

    def losses(self, model, outputs, batch):
        """{'cross_entropy_loss': L}, L = -(1/W) Σ_i w_i log softmax(z_i)[t_i], w_i = class weight."""
        return {'cross_entropy_loss': cross_entropy(outputs, batch['targets'], batch['weights'])}

    def results(self, model, outputs):
        """Per image: class IDs, names and softmax confidences, sorted by confidence (descending)."""
        probs = to_numpy(ops.softmax(outputs, axis=1).data)
        order = np.argsort(-probs, axis=1, kind='stable')
        probs = np.take_along_axis(probs, order, axis=1)
        ids, names = model.class_ids, model.params['class_names']
        return [{'classification_class_ids': [ids[j] for j in row],
                 'classification_class_names': [names[j] for j in row],
                 'classification_confidences': [float(c) for c in conf]}
                for row, conf in zip(order, probs)]
