"""The detection network (RetinaNet's layout, Lin et al. 2017, "Focal Loss for Dense Object
Detection", §4): backbone levels -> feature pyramid -> one class head and one box head shared by
all pyramid levels.

**Feature pyramid** (Lin et al. 2017, "Feature Pyramid Networks for Object Detection", §3), F
channels on every level l = min_level..max_level:

* backbone levels inside the range: lateral 1×1 conv C_l -> F; top-down
  ``M_l = lateral_l + up2(M_{l+1})`` (nearest ×2, cropped to level l's size when the image size
  is not a multiple of 2^(l+1)), starting at the deepest such level; then ``P_l = smooth_l(M_l)``
  (3×3 conv F -> F);
* levels deeper than the backbone: ``P_l = conv3×3/2(C_top)`` for the first one (C_top the
  backbone's deepest map), ``P_l = conv3×3/2(relu(P_{l-1}))`` after it (RetinaNet's P6, P7).

All pyramid and head convolutions have a bias and no BatchNorm (the heads are shared across
levels, whose statistics differ).

**Heads**, shared over the levels: ``depth`` × (3×3 conv + ReLU) at width F, then a 3×3 conv to
A·K class logits (class head) or A·D box offsets (box head; D = 4 for rectangle1, 5 for
rectangle2: the angle difference added), A anchors per cell, K classes.  ``capacity`` sets
(depth, F) [C]:

============  =====  =====
capacity      depth  F
============  =====  =====
'low'         1      32
'medium'      2      64
'high'        4      128
============  =====  =====

(RetinaNet uses depth 4, F = 256 on ResNet-50; these narrower heads suit the small backbones.)

**Initialisation**: hidden convolutions He-normal with zero bias (the project's layer default);
the two output convolutions N(0, 0.01²) (Lin et al. §4.1), the box output bias 0 and the class
output bias ``-log((1 - π)/π)`` with π = 0.01, so every anchor starts at confidence π and the
many background anchors do not swamp the first steps.

**Output**: an ordered dict ``{level: (class_logits, box_deltas)}`` with class_logits
(N, h_l·w_l·A, K) and box_deltas (N, h_l·w_l·A, D): anchors in the order of
:mod:`halcon_dl.detection.anchors` (cells row-major, then the A anchors of a cell).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ... import ops
from ..layers import Conv2d
from ..module import Module, Sequential

CAPACITY = {'low': (1, 32), 'medium': (2, 64), 'high': (4, 128)}   # (head depth, width F)
PRIOR_PROBABILITY = 0.01
OUTPUT_INIT_STD = 0.01


class FeaturePyramid(Module):
    """Pyramid levels ``min_level..max_level`` of width F from a backbone's maps (module doc)."""

    def __init__(self, backbone_channels, min_level, max_level, width, rng, dtype=np.float32):
        super().__init__()
        self.levels = tuple(range(min_level, max_level + 1))
        self.inner = tuple(lv for lv in backbone_channels if min_level <= lv <= max_level)
        self.top = max(backbone_channels)
        self.lateral = Sequential(*[Conv2d(backbone_channels[lv], width, 1, rng, dtype=dtype)
                                    for lv in self.inner])
        self.smooth = Sequential(*[Conv2d(width, width, 3, rng, padding=1, dtype=dtype)
                                   for _ in self.inner])
        extra = []
        for lv in range(self.top + 1, max_level + 1):
            ci = backbone_channels[self.top] if lv == self.top + 1 else width
            extra.append(Conv2d(ci, width, 3, rng, stride=2, padding=1, dtype=dtype))
        self.extra = Sequential(*extra)

    def forward(self, features):
        pyramid = OrderedDict()
        merged = None
        for k in reversed(range(len(self.inner))):
            lateral = self.lateral[k](features[self.inner[k]])
            if merged is not None:
                up = ops.upsample_nearest2d(merged, 2)
                h, w = lateral.shape[2:]
                if up.shape[2:] != (h, w):
                    up = up[:, :, :h, :w]
                lateral = lateral + up
            merged = lateral
            pyramid[self.inner[k]] = self.smooth[k](merged)
        x = features[self.top]
        for k, conv in enumerate(self.extra):
            x = conv(x if k == 0 else ops.relu(x))
            pyramid[self.top + 1 + k] = x
        return OrderedDict((lv, pyramid[lv]) for lv in self.levels)


class Head(Module):
    """``depth`` × (conv3×3 + ReLU) at width F, then conv3×3 to A·``values`` outputs; applied to
    one pyramid level, returns (N, h·w·A, values)."""

    def __init__(self, width, depth, num_anchors, values, rng, bias=0.0, dtype=np.float32):
        super().__init__()
        self.num_anchors, self.values = num_anchors, values
        self.hidden = Sequential(*[Conv2d(width, width, 3, rng, padding=1, dtype=dtype)
                                   for _ in range(depth)])
        self.out = Conv2d(width, num_anchors * values, 3, rng, padding=1, dtype=dtype)
        self.out.weight.data[...] = (OUTPUT_INIT_STD * rng.standard_normal(
            self.out.weight.shape)).astype(dtype)
        self.out.bias.data[...] = bias

    def forward(self, x):
        for conv in self.hidden:
            x = ops.relu(conv(x))
        y = self.out(x)                                           # (N, A·V, h, w)
        n, _, h, w = y.shape
        return y.transpose(0, 2, 3, 1).reshape(n, h * w * self.num_anchors, self.values)


class Detector(Module):
    """backbone -> :class:`FeaturePyramid` -> shared class and box :class:`Head` (module doc)."""

    def __init__(self, backbone, min_level, max_level, num_anchors, num_classes, box_values,
                 capacity, rng, dtype=np.float32):
        super().__init__()
        depth, width = CAPACITY[capacity]
        self.backbone = backbone
        self.fpn = FeaturePyramid(backbone.channels, min_level, max_level, width, rng, dtype)
        prior_bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
        self.class_head = Head(width, depth, num_anchors, num_classes, rng, prior_bias, dtype)
        self.box_head = Head(width, depth, num_anchors, box_values, rng, 0.0, dtype)

    def forward(self, x):
        pyramid = self.fpn(self.backbone(x))
        return OrderedDict((lv, (self.class_head(p), self.box_head(p)))
                           for lv, p in pyramid.items())
