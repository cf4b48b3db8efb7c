"""Every task is one declaration in backend/tasks, and the rest of LayerForge asks it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from backend.errors import UnknownTaskError
from backend.export import predict_script
from backend.tasks import DEFAULT_TASK, TASKS, format_metric, get_task, metric_named
from graph.settings import LOSSES, TRAINING_INDEX

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_task_declares_its_losses_metric_and_prediction(name):
    task = TASKS[name]
    assert task.name == name and task.title
    assert task.default_loss in task.losses
    assert set(task.losses) <= set(LOSSES)  # losses the training settings offer
    assert task.metric.name and task.metric.title
    # runs rank by validation loss unless a task ranks them by its metric (detection: mAP)
    assert task.rank_by in ("val_loss", task.metric.name)
    # the standalone predict.py keeps its own table for exports older than the field
    assert predict_script.PREDICTION_OF_TASK[name] == task.prediction
    assert task.export_metadata()["prediction"] == task.prediction


def test_every_loss_the_settings_offer_belongs_to_some_task():
    assert set(TRAINING_INDEX["loss"].choices) == {loss for t in TASKS.values()
                                                   for loss in t.losses}


def test_a_file_without_a_task_is_read_as_a_classifier_and_an_unknown_task_is_named():
    assert get_task("") is get_task(None) is TASKS[DEFAULT_TASK]
    with pytest.raises(UnknownTaskError, match="'segmentation'.*classification, regression"):
        get_task("segmentation")


def test_metrics_are_formatted_by_their_declaration():
    assert format_metric("accuracy", 0.5) == "50.00%"
    assert format_metric("mae", 0.5) == "0.5000"
    assert format_metric("loss", 0.123456) == "0.1235"  # not a metric: a plain number
    assert metric_named("accuracy").higher_is_better
    assert not metric_named("mae").higher_is_better


def test_class_metrics_count_every_label_and_regression_every_value():
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = torch.tensor([1, 1, 1])
    assert TASKS["classification"].metric_sums(out, labels) == (2, 3)
    assert TASKS["classification"].batch_metric(out, labels) == (2.0, 3)
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert TASKS["regression"].metric_sums(values + 0.5, values) == (2.0, 4)
    assert TASKS["regression"].batch_metric(values, values) is None  # no training-batch MAE


TASK_COMPARISON = re.compile(r"task ?(==|!=|in) ")


def test_no_code_outside_backend_tasks_compares_task_names():
    found = []
    for folder in ("backend", "app"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(ROOT / "backend" / "tasks"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if TASK_COMPARISON.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "ask the task declaration instead:\n" + "\n".join(found)
