"""halcon_dl: HALCON's deep-learning training operator, readable and exact, on NumPy and CuPy.

The operators carry HALCON's names in snake_case::

    import halcon_dl as hdl
    model = hdl.create_dl_model('classification', class_ids=[0, 1, 2, 3], image_width=64,
                                image_height=64, image_num_channels=3)
    losses = hdl.train_dl_model_batch(model, samples)      # samples: list of DLSample dicts
    results = hdl.apply_dl_model(model, samples)
"""
from . import ops as _ops  # noqa: F401  (installs the Tensor operators)
from .datasets.segmentation import (calculate_dl_segmentation_class_weights,
                                    gen_dl_segmentation_weight_images)
from .errors import HalconDLError
from .model import DLModel
from .operators import (apply_dl_model, create_dl_model, get_dl_model_param, get_system,
                        set_dl_model_param, set_system, train_dl_model_batch)

__all__ = ['HalconDLError', 'DLModel', 'create_dl_model', 'set_dl_model_param',
           'get_dl_model_param', 'train_dl_model_batch', 'apply_dl_model', 'set_system',
           'get_system', 'calculate_dl_segmentation_class_weights',
           'gen_dl_segmentation_weight_images']
__version__ = '0.1.0'
