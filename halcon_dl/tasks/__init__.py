"""What differs per model type, behind one protocol (``tasks.base.Task``)."""
from .base import Task
from .classification import ClassificationTask
from .segmentation import SegmentationTask

TASKS = {'classification': ClassificationTask, 'segmentation': SegmentationTask}

__all__ = ['TASKS', 'Task', 'ClassificationTask', 'SegmentationTask']
