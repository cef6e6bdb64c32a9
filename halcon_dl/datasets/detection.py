"""The embedded detection data set: scenes of several shapes with their boxes, from a seed."""
from __future__ import annotations

from ..errors import HalconDLError
from .scenes import make_shapes_scenes, random_split
from .shapes import BOX_TYPES, SHAPE_CLASS_NAMES

DETECTION_NUM_SAMPLES = 3000
DETECTION_IMAGE_SIZE = 64
DETECTION_MAX_SHAPES = 4
DETECTION_SIZE_RANGE = (12.0, 32.0)
DETECTION_VALIDATION_FRACTION = 0.2
DETECTION_CLASS_IDS = tuple(range(len(SHAPE_CLASS_NAMES)))
DETECTION_CLASS_NAMES = SHAPE_CLASS_NAMES


def default_detection_dataset(instance_type: str = 'rectangle1', seed=0):
    """The (train, validation) samples for detection of ``instance_type``.

    :func:`~halcon_dl.datasets.scenes.make_shapes_scenes` with ``DETECTION_NUM_SAMPLES`` = 3000
    images of 64×64×3, each with 0..4 shapes (about one image in five has none) of the six
    classes :data:`DETECTION_CLASS_NAMES` with IDs :data:`DETECTION_CLASS_IDS` = 0..5, sizes
    12..32 px, any angle, placed without overlap, shapes near the edge cut by the border (boxes
    from the visible pixels); rectangle2 boxes at the angle reduced by each shape's rotational
    symmetry (``canonical_angles``: the box follows from the picture).  Then a seeded random
    split, 80 % train / 20 % validation.  ``seed`` drives generation and split.
    """
    if instance_type not in BOX_TYPES:
        raise HalconDLError(f'instance_type must be one of {list(BOX_TYPES)}, got {instance_type!r}')
    samples = make_shapes_scenes(
        DETECTION_NUM_SAMPLES, DETECTION_IMAGE_SIZE, 3, seed=seed, min_shapes=0,
        max_shapes=DETECTION_MAX_SHAPES, size_range=DETECTION_SIZE_RANGE, overlap=False,
        with_boxes=instance_type, canonical_angles=True)
    return random_split(samples, DETECTION_VALIDATION_FRACTION, seed=seed)
