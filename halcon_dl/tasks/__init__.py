"""What differs per model type, behind one protocol (``tasks.base.Task``)."""
from .base import Task
from .classification import ClassificationTask

TASKS = {'classification': ClassificationTask}

__all__ = ['TASKS', 'Task', 'ClassificationTask']
