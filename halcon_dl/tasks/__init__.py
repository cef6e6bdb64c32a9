"""What differs per model type, behind one protocol (``tasks.base.Task``)."""
from .base import Task
from .classification import ClassificationTask
from .detection import DetectionTask

TASKS = {'classification': ClassificationTask, 'detection': DetectionTask}

__all__ = ['TASKS', 'Task', 'ClassificationTask', 'DetectionTask']
