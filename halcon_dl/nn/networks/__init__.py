"""Networks: backbones returning feature maps by level, and the per-type networks built on them."""
from .backbones import (BACKBONES, Backbone, BasicBlock, CompactBackbone, ResNet18Backbone,
                        batch_norms, build_backbone)
from .classification import Classifier
from .segmentation import SegmentationNet

__all__ = ['BACKBONES', 'Backbone', 'BasicBlock', 'CompactBackbone', 'ResNet18Backbone',
           'Classifier', 'SegmentationNet', 'batch_norms', 'build_backbone']
