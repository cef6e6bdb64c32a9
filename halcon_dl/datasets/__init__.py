"""Data sets: the embedded default data sets (geometric shapes and scenes of them, generated
from a seed) and data sets read from folders of image files."""
from .detection import (DETECTION_CLASS_IDS, DETECTION_CLASS_NAMES,
                        default_detection_dataset)
from .folders import (DLSampleSequence, read_dl_dataset_classification,
                      read_dl_dataset_segmentation, read_dl_samples, read_image_file,
                      split_dl_dataset)
from .scenes import make_shapes_scenes, random_split
from .segmentation import (SEGMENTATION_CLASS_IDS, SEGMENTATION_CLASS_NAMES,
                           calculate_dl_segmentation_class_weights, default_segmentation_dataset,
                           gen_dl_segmentation_weight_images)
from .shapes import (CIRCUMRADIUS_FACTOR, ROTATIONAL_SYMMETRY, SHAPE_CLASS_NAMES, ShapeSpec,
                     canonical_angle, default_dataset,
                     make_shape_specs, make_shapes_dataset, rectangle1_of_mask,
                     rectangle2_of_mask, render_image, render_sample, shape_mask,
                     train_validation_split)

__all__ = [
    'SHAPE_CLASS_NAMES', 'CIRCUMRADIUS_FACTOR', 'ShapeSpec', 'shape_mask', 'render_image',
    'render_sample', 'rectangle1_of_mask', 'rectangle2_of_mask', 'make_shape_specs',
    'make_shapes_dataset', 'train_validation_split', 'default_dataset', 'make_shapes_scenes',
    'random_split', 'read_dl_dataset_classification', 'read_dl_dataset_segmentation',
    'split_dl_dataset', 'read_dl_samples', 'read_image_file', 'DLSampleSequence',
    'ROTATIONAL_SYMMETRY', 'canonical_angle', 'default_detection_dataset',
    'DETECTION_CLASS_IDS', 'DETECTION_CLASS_NAMES',
    'SEGMENTATION_CLASS_IDS', 'SEGMENTATION_CLASS_NAMES',
    'default_segmentation_dataset', 'calculate_dl_segmentation_class_weights',
    'gen_dl_segmentation_weight_images',
]
