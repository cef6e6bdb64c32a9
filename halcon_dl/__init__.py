"""halcon_dl: HALCON's deep-learning training operator, readable and exact, on NumPy and CuPy.

The operators carry HALCON's names in snake_case::

    import halcon_dl as hdl
    model = hdl.create_dl_model('classification', class_ids=[0, 1, 2, 3], image_width=64,
                                image_height=64, image_num_channels=3)
    losses = hdl.train_dl_model_batch(model, samples)      # samples: list of DLSample dicts
    results = hdl.apply_dl_model(model, samples)
    hdl.write_dl_model(model, 'model.npz'); model = hdl.read_dl_model('model.npz')
"""
from . import ops as _ops  # noqa: F401  (installs the Tensor operators)
from .datasets.segmentation import (calculate_dl_segmentation_class_weights,
                                    gen_dl_segmentation_weight_images)
from .errors import HalconDLError
from .evaluation import evaluate_dl_model
from .model import DLModel
from .operators import (apply_dl_model, create_dl_model, create_dl_model_detection,
                        get_dl_model_param, get_system, read_dl_model, set_dl_model_param,
                        set_system, train_dl_model_batch, write_dl_model)
from .preprocess import (create_dl_preprocess_param, create_dl_preprocess_param_from_model,
                         preprocess_dl_samples)
from .datasets.folders import (read_dl_dataset_classification, read_dl_dataset_segmentation,
                               read_dl_samples, split_dl_dataset)
from .plot import draw_dl_results, plot_training_history
from .training import train_dl_model

__all__ = ['HalconDLError', 'DLModel', 'create_dl_model', 'create_dl_model_detection',
           'set_dl_model_param', 'get_dl_model_param', 'train_dl_model_batch', 'apply_dl_model',
           'write_dl_model', 'read_dl_model', 'set_system', 'get_system',
           'create_dl_preprocess_param', 'create_dl_preprocess_param_from_model',
           'preprocess_dl_samples', 'read_dl_dataset_classification',
           'read_dl_dataset_segmentation', 'split_dl_dataset', 'read_dl_samples',
           'evaluate_dl_model', 'train_dl_model', 'plot_training_history', 'draw_dl_results',
           'calculate_dl_segmentation_class_weights', 'gen_dl_segmentation_weight_images']
__version__ = '0.1.0'
