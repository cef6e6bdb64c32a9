"""The segmentation network: a backbone's levels, a decoder back to the input size, 1×1 classes.

Decoder, from the coarsest level L of the backbone down to level 0 (the input size), one step
per level l = L-1, ..., 0::

    d_L = e_L                                             (the backbone's coarsest map)
    d_l = relu(bn(conv3x3(up2(d_{l+1}))))  [+ e_l]        C_{l+1} -> C_l channels
    logits = conv1x1(d_0) + bias                          C_0 -> num_classes

``up2`` is nearest-neighbour upsampling by 2, cropped at the bottom and right to the size of
level l, ``ceil(H / 2^l) × ceil(W / 2^l)``; where no crop is needed, up2 and the 3×3
convolution run as one convolution of the small map (``ops.upsample_conv2d``: 2.25× fewer
multiply-adds, the same values up to float rounding).  ``e_l`` is the backbone's map at level
l, added where the backbone has that level (the skip connection); levels finer than the
backbone's finest (level 0 of 'resnet18', whose stem has stride 2) keep the channel count of
the level above and have no skip.

**Skips by addition (FPN-like), not concatenation (U-Net-like).**  Each decoder convolution
outputs the channel count of the encoder level it meets, so the encoder map adds without a
lateral convolution: the skip costs one element-wise addition per level, and the convolutions
are exactly those of a plain decoder (for 'compact' at 128×128: the SEG reference workload's
128→64→32→16, 13.9 GFLOP per training step at batch 8).  Concatenation would widen every
decoder convolution's input by C_l channels (half again as many multiply-adds per decoder layer
and larger im2col buffers) for a task — shapes on a background — where the coarse context and
the fine position are what the decoder needs, which the sum carries.

**Sizes that are not multiples of the total stride 2^L.**  Every stride-2 layer of the backbones
pads "same", so level l is ``ceil(H / 2^l)`` high; the upsampled coarser map is 2·ceil(H / 2^{l+1})
high, one row more when ceil(H / 2^l) is odd, and that last row (column) is cropped.  Crop, not
pad: output pixel r of a stride-2 layer is centred on input pixel 2r, so the nearest upsampling
puts it back at rows 2r and 2r + 1 and only the excess row at the bottom edge lies outside the
image.  The network is fully convolutional: any image size works (``image_width`` and
``image_height`` are settable), and the logits always have the input's height and width.
"""
from __future__ import annotations

import math

import numpy as np

from ..layers import Conv2d, ConvBNReLU
from ..module import Module, Sequential


class SegmentationNet(Module):
    """logits (N, num_classes, H, W) = head(decoder(backbone(x))), see the module docstring."""

    def __init__(self, backbone, num_classes, rng, bn_momentum=0.1, dtype=np.float32):
        super().__init__()
        self.backbone = backbone
        channels = backbone.channels
        coarsest = backbone.levels[-1]
        self.decoder_levels = tuple(range(coarsest - 1, -1, -1))
        stages, ci = [], channels[coarsest]
        for level in self.decoder_levels:
            co = channels.get(level, ci)
            stages.append(ConvBNReLU(ci, co, 3, rng, bn_momentum=bn_momentum, dtype=dtype))
            ci = co
        self.decoder = Sequential(*stages)
        self.head = Conv2d(ci, num_classes, 1, rng, dtype=dtype)

    def forward(self, x):
        height, width = x.shape[2:]
        features = self.backbone(x)
        d = features[self.backbone.levels[-1]]
        for level, stage in zip(self.decoder_levels, self.decoder):
            size = (math.ceil(height / 2 ** level), math.ceil(width / 2 ** level))
            d = stage(d, upsample=2, size=size)        # ops.upsample_conv2d
            if level in features:
                d = d + features[level]
        return self.head(d)
