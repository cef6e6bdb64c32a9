"""What differs per model type: the network, sample keys, losses and inference results."""
from .classification import ClassificationTask

TASKS = {'classification': ClassificationTask}

__all__ = ['TASKS', 'ClassificationTask']
