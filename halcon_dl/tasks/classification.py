"""Classification: one class ID per image, cross-entropy, softmax confidences (SPEC §3, §6, §9)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import to_numpy
from ..errors import HalconDLError
from ..losses import cross_entropy
from ..nn.layers import Conv2d, Dense
from ..nn.networks import BACKBONES
from ..samples import check_id, check_image, require, stack_images


class ClassificationTask:
    type = 'classification'
    backbones = tuple(BACKBONES)
    head_losses = ('cross_entropy_loss',)

    def build_network(self, model, rng):
        cls = BACKBONES.get(model.backbone)
        if cls is None:
            raise HalconDLError(f'unknown backbone {model.backbone!r}; valid: {list(BACKBONES)}')
        extra = {'base_width': model.params['base_width']} if model.backbone == 'resnet18' else {}
        return cls(model.params['image_num_channels'], len(model.class_ids), rng,
                   bn_momentum=model.params['batchnorm_momentum'], dtype=model.dtype, **extra)

    def rebuild_head(self, model, rng):
        """New output layer for the current class IDs; returns the names of replaced parameters."""
        fc = model.network.fc
        model.network.fc = Dense(fc.weight.shape[1], len(model.class_ids), rng, dtype=model.dtype)
        model.network.fc.to(model.runtime)
        return ['fc.weight', 'fc.bias']

    def rebuild_input(self, model, rng):
        """New first convolution for the current number of channels; returns replaced names."""
        name, conv = next((n, m) for n, m in model.network.named_modules() if isinstance(m, Conv2d))
        co, _, k, _ = conv.weight.shape
        new = Conv2d(model.params['image_num_channels'], co, k, rng, conv.stride, conv.padding,
                     conv.dilation, bias=conv.bias is not None, dtype=model.dtype).to(model.runtime)
        conv.weight, conv.bias = new.weight, new.bias
        return [f'{name}.weight'] + ([f'{name}.bias'] if conv.bias is not None else [])

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
        """Weight of each head loss in total_loss."""
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

