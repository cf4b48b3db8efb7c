"""Which widgets show each task: its Evaluation tab page and its Test tab live view.

The GUI's half of a task declaration (``backend/tasks``): adding a task is a module there
plus its entry here. A task without a live view cannot be tested on camera frames (its
declaration says ``live_test = False``); tests check that both sides list the same tasks.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from app.panels.detection_view import DetectionView
from app.panels.live_views import TopKBars
from app.panels.report_views import ClassificationView, ForecastView, TextView


@dataclass(frozen=True)
class TaskViews:
    evaluation: type[QWidget]          # show_epoch_report / show_final_report / clear
    live: type[QWidget] | None = None  # show_prediction(Prediction)


TASK_VIEWS: dict[str, TaskViews] = {
    "classification": TaskViews(ClassificationView, TopKBars),
    "regression": TaskViews(ForecastView),
    "language_model": TaskViews(TextView),
    "detection": TaskViews(DetectionView),
}
