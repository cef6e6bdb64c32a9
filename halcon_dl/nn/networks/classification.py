"""The classification network: a backbone's coarsest level, global average pooling, one dense
layer to the classes.  Global pooling makes it accept any image size (the model's image width
and height are settable for classification)."""
from __future__ import annotations

import numpy as np

from ..layers import Dense, GlobalAvgPool2d
from ..module import Module


class Classifier(Module):
    """logits = fc(global_avg_pool(backbone(x)[deepest level])); fc: C_deepest -> num_classes."""

    def __init__(self, backbone, num_classes, rng, dtype=np.float32):
        super().__init__()
        self.backbone = backbone
        self.pool = GlobalAvgPool2d()
        self.fc = Dense(backbone.channels[backbone.levels[-1]], num_classes, rng, dtype=dtype)

    def forward(self, x):
        features = self.backbone(x)
        return self.fc(self.pool(features[self.backbone.levels[-1]]))
