"""The tasks room: one declaration per kind of work a network does (``backend/tasks/*.py``).

``get_task(name)`` gives the declaration a dataset, checkpoint or export names; everything
that behaves differently per task asks it instead of comparing names. Adding a task is one
module here (a :class:`~backend.tasks.base.Task` subclass, added to ``TASKS``) plus its views
in ``app/`` (``app/task_views.py``).
"""
from __future__ import annotations

from backend.errors import UnknownTaskError
from backend.tasks.base import Baseline, FitContext, Metric, Task, evaluate, loss_inputs, predict
from backend.tasks.classification import Classification
from backend.tasks.detection import Detection
from backend.tasks.language_model import LanguageModel
from backend.tasks.regression import Regression

TASKS: dict[str, Task] = {task.name: task for task in (Classification(), Regression(),
                                                       LanguageModel(), Detection())}
# A checkpoint or export without a task (an imported model never trained) is read as a
# classifier, as LayerForge always did.
DEFAULT_TASK = "classification"


def get_task(name: str | None) -> Task:
    """The declaration of task ``name`` ("" or None: the default); an unknown name is an
    error that says which names exist (a file from a newer LayerForge, say)."""
    task = TASKS.get(name or DEFAULT_TASK)
    if task is None:
        raise UnknownTaskError(f"unknown task {name!r}: this LayerForge knows "
                            f"{', '.join(TASKS)}; update LayerForge to use this file")
    return task


def metric_named(name: str) -> Metric | None:
    """The metric declaration behind a metrics-record key ("accuracy", "mae"), if any."""
    return next((m for t in TASKS.values() for m in (t.metric, *t.figures)
                 if m.name == name), None)


def format_metric(name: str, value: float) -> str:
    """A metric value as people read it (accuracy in %, the rest as numbers)."""
    metric = metric_named(name)
    return metric.format(value) if metric is not None else f"{value:.4f}"


__all__ = ["Baseline", "DEFAULT_TASK", "FitContext", "Metric", "TASKS", "Task", "evaluate",
           "format_metric", "get_task", "loss_inputs", "metric_named", "predict"]
