"""Networks: backbones returning feature maps by level, and the per-type networks built on them."""
from .backbones import (BACKBONES, Backbone, BasicBlock, CompactBackbone, ResNet18Backbone,
                        batch_norms, build_backbone)
from .classification import Classifier
from .detection import CAPACITY, Detector, FeaturePyramid, Head
from .segmentation import SegmentationNet

__all__ = ['BACKBONES', 'Backbone', 'BasicBlock', 'CompactBackbone', 'ResNet18Backbone',
           'Classifier', 'Detector', 'FeaturePyramid', 'Head', 'CAPACITY', 'SegmentationNet',
           'batch_norms', 'build_backbone']
