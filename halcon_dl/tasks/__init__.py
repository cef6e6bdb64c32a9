"""What differs per model type, behind one protocol (``tasks.base.Task``)."""
from .base import Task
from .classification import ClassificationTask
from .detection import DetectionTask
from .segmentation import SegmentationTask

TASKS = {'classification': ClassificationTask, 'segmentation': SegmentationTask,
         'detection': DetectionTask}

__all__ = ['TASKS', 'Task', 'ClassificationTask', 'SegmentationTask', 'DetectionTask']
