"""Classification networks: the 'compact' backbone and 'resnet18'.

Both end in global average pooling and one dense layer to the classes, so they accept any image
size (the model's image width/height are settable for classification).
"""
from __future__ import annotations

import numpy as np

from ... import ops
from ..layers import BatchNorm2d, ConvBNReLU, Dense, GlobalAvgPool2d, MaxPool2d
from ..module import Module, Sequential

COMPACT_WIDTHS = (16, 32, 64, 128)


class Compact(Module):
    """The CLS reference stack (ARCHITECTURE.md):

    conv3x3 C->16 stride 1, 16->32 s2, 32->64 s2, 64->128 s2, each followed by BatchNorm and
    ReLU (convs without bias: the BatchNorm shift replaces it), global average pool, dense
    128 -> num_classes.
    """

    def __init__(self, in_channels, num_classes, rng, bn_momentum=0.1, dtype=np.float32):
        super().__init__()
        layers, ci = [], in_channels
        for i, co in enumerate(COMPACT_WIDTHS):
            layers.append(ConvBNReLU(ci, co, 3, rng, stride=1 if i == 0 else 2,
                                     bn_momentum=bn_momentum, dtype=dtype))
            ci = co
        self.features = Sequential(*layers)
        self.pool = GlobalAvgPool2d()
        self.fc = Dense(ci, num_classes, rng, dtype=dtype)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)))


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


class ResNet18(Module):
    """ResNet-18's layout (He et al. 2016): stem conv7x7/2 + BatchNorm + ReLU + max-pool 3x3/2,
    four stages of two basic blocks with widths w, 2w, 4w, 8w (strides 1, 2, 2, 2), global
    average pool, dense.  ``base_width`` w is 64 in the paper; the default 16 trains on a CPU.
    """

    def __init__(self, in_channels, num_classes, rng, base_width=16, bn_momentum=0.1,
                 dtype=np.float32):
        super().__init__()
        w = base_width
        self.stem = ConvBNReLU(in_channels, w, 7, rng, stride=2, padding=3,
                               bn_momentum=bn_momentum, dtype=dtype)
        self.stem_pool = MaxPool2d(3, 2, 1)
        blocks, ci = [], w
        for stage, co in enumerate((w, 2 * w, 4 * w, 8 * w)):
            for b in range(2):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(ci, co, stride, rng, bn_momentum, dtype))
                ci = co
        self.blocks = Sequential(*blocks)
        self.pool = GlobalAvgPool2d()
        self.fc = Dense(ci, num_classes, rng, dtype=dtype)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem_pool(self.stem(x)))))


BACKBONES = {'compact': Compact, 'resnet18': ResNet18}


def batch_norms(module):
    """Every BatchNorm2d inside ``module``."""
    return [m for m in module.modules() if isinstance(m, BatchNorm2d)]


__all__ = ['Compact', 'ResNet18', 'BasicBlock', 'BACKBONES', 'batch_norms']
