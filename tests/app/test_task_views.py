"""app/task_views.py gives every task declared in backend/tasks its Evaluation page and, for
tasks that can be tested live, its Test tab view; the panels route reports through it."""
from __future__ import annotations

import numpy as np

from app.panels.evaluation import EvaluationPanel
from app.panels.report_views import ForecastView, TextView
from app.task_views import TASK_VIEWS
from backend.tasks import TASKS
from backend.tasks.regression import ForecastReport


def test_every_task_has_its_views_and_only_live_tasks_a_live_view():
    assert set(TASK_VIEWS) == set(TASKS)
    for name, views in TASK_VIEWS.items():
        assert (views.live is not None) == TASKS[name].live_test, name
        for method in ("show_epoch_report", "show_final_report", "clear"):
            assert callable(getattr(views.evaluation, method)), (name, method)
        if views.live is not None:
            assert callable(views.live.show_prediction)


def _forecast() -> ForecastReport:
    steps = np.arange(20)
    actual = np.sin(steps / 3.0)
    return ForecastReport("co2", "val", 1, steps, actual, actual + 0.1, np.roll(actual, 1),
                          0.01, 0.2)


class _Run:
    model = None
    bundle = None


def test_a_report_goes_to_the_page_of_its_task(qtbot):
    panel = EvaluationPanel()
    qtbot.addWidget(panel)
    assert panel.page_for("regression") is panel.forecast_view
    assert isinstance(panel.page_for("language_model"), TextView)
    panel.show_run_report("regression", _forecast(), _Run(), final=False)
    assert panel.stack.currentWidget() is panel.forecast_view
    assert isinstance(panel.forecast_view, ForecastView)
    assert panel.forecast_view.report is not None
    # a text model's final report needs its model: without one the page is not shown
    panel.clear()
    panel.show_run_report("language_model", ["abc"], _Run(), final=True)
    assert panel.stack.currentWidget() is panel.hint_label
    assert panel.forecast_view.report is None  # clear() emptied every page
