"""Backbones: feature extractors that return their feature maps by pyramid level.

Level l has stride 2^l: its maps are ``ceil(H / 2^l) × ceil(W / 2^l)`` for an H × W input (every
stride-2 layer pads "same").  A backbone's ``forward(x)`` returns an ordered dict
``{level: Tensor (N, C_l, H_l, W_l)}`` from the finest to the coarsest level it computes, and
``channels`` maps each level to C_l.  Heads (classification, segmentation decoder, detection
pyramid) are separate modules built on these levels.

Both backbones use convolutions without bias followed by BatchNorm (its shift takes the bias's
place) and ReLU.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ... import ops
from ..layers import BatchNorm2d, ConvBNReLU, MaxPool2d
from ..module import Module, Sequential

COMPACT_WIDTHS = (16, 32, 64, 128)


class Backbone(Module):
    """Base class: ``channels`` {level: channels}; ``forward`` returns {level: feature map}."""

    channels: 'OrderedDict[int, int]'

    @property
    def levels(self) -> tuple:
        return tuple(self.channels)


class CompactBackbone(Backbone):
    """The CLS reference encoder: conv3x3 C->16 stride 1, 16->32 s2, 32->64 s2, 64->128 s2, each
    followed by BatchNorm and ReLU.  Levels 0, 1, 2, 3 (strides 1, 2, 4, 8) with 16, 32, 64, 128
    channels."""

    def __init__(self, in_channels, rng, bn_momentum=0.1, dtype=np.float32):
        super().__init__()
        stages, ci = [], in_channels
        for i, co in enumerate(COMPACT_WIDTHS):
            stages.append(ConvBNReLU(ci, co, 3, rng, stride=1 if i == 0 else 2,
                                     bn_momentum=bn_momentum, dtype=dtype))
            ci = co
        self.stages = Sequential(*stages)
        self.channels = OrderedDict(enumerate(COMPACT_WIDTHS))

    def forward(self, x):
        levels = OrderedDict()
        for level, stage in enumerate(self.stages):
            x = levels[level] = stage(x)
        return levels


class BasicBlock(Module):
    """ResNet basic block: relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)); the shortcut
    is a 1x1 strided conv + BatchNorm when the shape changes (He et al. 2016)."""

    def __init__(self, ci, co, stride, rng, bn_momentum, dtype):
        super().__init__()
        self.conv1 = ConvBNReLU(ci, co, 3, rng, stride, bn_momentum=bn_momentum, dtype=dtype)
        self.conv2 = ConvBNReLU(co, co, 3, rng, 1, relu=False, bn_momentum=bn_momentum, dtype=dtype)
        self.shortcut = (ConvBNReLU(ci, co, 1, rng, stride, relu=False, bn_momentum=bn_momentum,
                                    dtype=dtype) if stride != 1 or ci != co else None)

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return ops.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18Backbone(Backbone):
    """ResNet-18's layout (He et al. 2016): stem conv7x7/2 + BatchNorm + ReLU (level 1), max-pool
    3x3/2, then four stages of two basic blocks with widths w, 2w, 4w, 8w and strides 1, 2, 2, 2
    (levels 2, 3, 4, 5).  ``base_width`` w is 64 in the paper; the default 16 trains on a CPU.
    """

    def __init__(self, in_channels, rng, base_width=16, bn_momentum=0.1, dtype=np.float32):
        super().__init__()
        w = base_width
        self.stem = ConvBNReLU(in_channels, w, 7, rng, stride=2, padding=3,
                               bn_momentum=bn_momentum, dtype=dtype)
        self.stem_pool = MaxPool2d(3, 2, 1)
        stages, ci = [], w
        self.channels = OrderedDict([(1, w)])
        for stage, co in enumerate((w, 2 * w, 4 * w, 8 * w)):
            blocks = []
            for b in range(2):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(ci, co, stride, rng, bn_momentum, dtype))
                ci = co
            stages.append(Sequential(*blocks))
            self.channels[stage + 2] = co
        self.stages = Sequential(*stages)

    def forward(self, x):
        x = self.stem(x)
        levels = OrderedDict([(1, x)])
        x = self.stem_pool(x)
        for level, stage in zip(self.levels[1:], self.stages):
            x = levels[level] = stage(x)
        return levels


def build_backbone(name, in_channels, rng, *, base_width=16, bn_momentum=0.1, dtype=np.float32):
    """The backbone ``name`` ('compact' or 'resnet18'); ``base_width`` applies to 'resnet18'."""
    if name == 'compact':
        return CompactBackbone(in_channels, rng, bn_momentum=bn_momentum, dtype=dtype)
    if name == 'resnet18':
        return ResNet18Backbone(in_channels, rng, base_width=base_width, bn_momentum=bn_momentum,
                                dtype=dtype)
    raise KeyError(name)


BACKBONES = {'compact': CompactBackbone, 'resnet18': ResNet18Backbone}


def batch_norms(module):
    """Every BatchNorm2d inside ``module``."""
    return [m for m in module.modules() if isinstance(m, BatchNorm2d)]
