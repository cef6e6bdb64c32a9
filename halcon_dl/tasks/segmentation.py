"""Semantic segmentation: a class ID per pixel, per-pixel weighted cross-entropy, class maps.

**Samples.** ``image`` and ``segmentation_image``: (H, W) class IDs of an integer dtype, or a
float dtype holding integral values.  Each ID must be one of ``class_ids`` or of
``ignore_class_ids``; any other is an error naming the sample, the key, the offending IDs and
their pixel counts.  Optional ``weight_image``: (H, W) float32 (or float64), finite, >= 0.

**Loss** per sub-batch, over all its pixels p (HALCON's multinomial logistic loss):

    L = -(1/W) Σ_p w_p log softmax(z_p)[t_p],      W = Σ_p w_p,

with t_p the index of the pixel's class ID in ``class_ids`` and

* w_p = the ``weight_image`` pixel, for a sample that has one (it replaces the class weights);
* w_p = ``class_weights[t_p]`` otherwise;
* w_p = 0 where the pixel's ID is in ``ignore_class_ids`` (with or without a weight image).

W = 0 (every pixel ignored or weighted 0) gives L = 0 and a zero gradient: such a batch is
valid, the step then changes the weights only through the weight prior and the momentum.

**Results** (inference): ``segmentation_image``, the class ID of the largest logit per pixel
(the first class in ``class_ids`` order on ties), int64 (H, W); ``segmentation_confidence``,
that class's softmax probability max_c softmax(z_p)_c = 1 / Σ_c exp(z_pc - max_k z_pk),
float32 (H, W).

The network (``nn.networks.SegmentationNet``) is fully convolutional: ``image_width``,
``image_height`` and ``image_num_channels`` are settable; a new class count replaces the 1×1
output convolution, a new channel count the first convolution.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module, to_numpy
from ..errors import HalconDLError
from ..kernels.layout import channel_rows
from ..losses import cross_entropy
from ..nn.layers import Conv2d
from ..nn.networks import SegmentationNet
from ..samples import check_image, check_weight_image, fail, label_image_ids, stack_images
from .base import Task
from .classification import build_model_backbone, replace_first_conv, sync_class_lists


class SegmentationTask(Task):
    type = 'segmentation'

    def build_network(self, model, rng):
        backbone = build_model_backbone(self, model, rng)
        return SegmentationNet(backbone, len(model.class_ids), rng,
                               bn_momentum=model.params['batchnorm_momentum'], dtype=model.dtype)

    def on_param_change(self, model, name, old, value):
        """New class IDs: refused if they meet ``ignore_class_ids``; a new class count gets a
        new output convolution.  New channel count: a new first convolution."""
        if name == 'class_ids':
            clash = sorted(set(value) & set(model.params['ignore_class_ids']))
            if clash:
                raise HalconDLError(f"parameter 'class_ids': IDs {clash} are in ignore_class_ids "
                                    f"{model.params['ignore_class_ids']}; class IDs and ignored "
                                    'IDs must be disjoint')
            sync_class_lists(model, old, value)
            if len(value) != len(old):
                head = model.network.head
                model.network.head = Conv2d(head.weight.shape[1], len(value), 1, model.rng,
                                            dtype=model.dtype).to(model.runtime)
                return ['head.weight', 'head.bias']
        elif name == 'image_num_channels' and value != old:
            return replace_first_conv(model, model.rng)
        return []

    def collate(self, model, samples, labels=True):
        """Validated batch arrays: images (N, C, H, W) and, with ``labels``, the class index
        (N, H, W) and weight (N, H, W) of every pixel (ignored pixels: index 0, weight 0)."""
        p = model.params
        height, width = p['image_height'], p['image_width']
        images = [check_image(s, i, height, width, p['image_num_channels'])
                  for i, s in enumerate(samples)]
        xp = model.xp
        batch = {'images': stack_images(images, model.dtype, xp)}
        if labels:
            targets = np.empty((len(samples), height, width), dtype=np.intp)
            weights = np.empty((len(samples), height, width), dtype=model.dtype)
            class_weights = np.asarray(p['class_weights'], dtype=model.dtype)
            for i, s in enumerate(samples):
                targets[i], ignored = pixel_classes(model, s, i)
                if 'weight_image' in s:
                    weights[i] = check_weight_image(s, i, (height, width))
                else:
                    weights[i] = class_weights[targets[i]]
                if ignored is not None:
                    weights[i][ignored] = 0
            batch['targets'], batch['weights'] = xp.asarray(targets), xp.asarray(weights)
        return batch

    def loss_weights(self, model):
        return {'cross_entropy_loss': 1.0}

    def losses(self, model, outputs, batch):
        """{'cross_entropy_loss': L}, L = -(1/W) Σ_p w_p log softmax(z_p)[t_p] over the pixels."""
        return {'cross_entropy_loss': cross_entropy(outputs, batch['targets'], batch['weights'])}

    def results(self, model, outputs):
        """Per image: the class ID map (argmax) and the confidence map (its softmax value)."""
        z = outputs.data
        n, _, height, width = z.shape
        xp = array_module(z)
        rows = channel_rows(z)                                   # (C, N·H·W)
        best = rows.argmax(axis=0)
        confidence = 1 / xp.exp(rows - rows.max(axis=0)).sum(axis=0)
        ids = np.asarray(model.class_ids, dtype=np.int64)[to_numpy(best)].reshape(n, height, width)
        confidence = to_numpy(confidence).astype(np.float32).reshape(n, height, width)
        return [{'segmentation_image': ids[k], 'segmentation_confidence': confidence[k]}
                for k in range(n)]


def pixel_classes(model, sample, position):
    """(class index of every pixel, mask of ignored pixels or None) of a sample's
    ``segmentation_image``; an error for IDs that are neither class IDs nor ignored."""
    p = model.params
    ids, inverse, counts = label_image_ids(sample, position, 'segmentation_image',
                                           (p['image_height'], p['image_width']))
    index_of = {cid: k for k, cid in enumerate(model.class_ids)}
    ignore = set(p['ignore_class_ids'])
    unknown = [f'{v} ({c} pixel{"s" if c != 1 else ""})' for v, c in zip(ids, counts)
               if v not in index_of and v not in ignore]
    if unknown:
        fail(sample, position, 'segmentation_image',
             f'IDs {", ".join(unknown)} are neither class IDs {model.class_ids} nor '
             f'ignore_class_ids {p["ignore_class_ids"]}')
    index = np.array([index_of.get(v, 0) for v in ids], dtype=np.intp)
    is_ignored = np.array([v in ignore for v in ids])
    return index[inverse], (is_ignored[inverse] if is_ignored.any() else None)
