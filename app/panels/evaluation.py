"""The evaluation panel: how the trained network does on data it never trained on.

One page per task, from the registry in ``app/task_views.py`` (confusion matrix, forecast,
generated text...); the reports come from the task declarations in ``backend/tasks``.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.editor.style import muted_color
from app.panels.report_views import ClassificationView, ForecastView, TextView
from app.task_views import TASK_VIEWS
from backend.data import DataBundle
from backend.tasks.classification import ClassificationReport
from backend.tasks.regression import ForecastReport

HINT = "Train a network to see how it does on the test data"


# ---- the panel -------------------------------------------------------------------------------

class EvaluationPanel(QWidget):
    """How the trained network does: the page of its task (classifier, forecaster, text...)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint_label = QLabel(HINT)
        self.hint_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint_label)
        # one page per view class of the registry (tasks may share a view)
        self._pages: dict[type, QWidget] = {}
        for views in TASK_VIEWS.values():
            if views.evaluation not in self._pages:
                self._pages[views.evaluation] = views.evaluation()
                self.stack.addWidget(self._pages[views.evaluation])
        self.classification_view: ClassificationView = self._pages[ClassificationView]
        self.forecast_view: ForecastView = self._pages[ForecastView]
        self.text_view: TextView = self._pages[TextView]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self._color_hint()

    def page_for(self, task: str) -> QWidget | None:
        """The page that shows ``task``'s reports (None for a task without one)."""
        views = TASK_VIEWS.get(task)
        return self._pages.get(views.evaluation) if views is not None else None

    def show_run_report(self, task: str, report: Any, run: Any, final: bool) -> None:
        """Show a run's report on its task's page: an epoch's (``final`` False, during
        training) or the test-set report at its end. ``run`` gives the bundle and model."""
        page = self.page_for(task)
        if page is None or report is None:
            return
        shown = page.show_final_report(report, run) if final else \
            page.show_epoch_report(report, run)
        if shown and self.stack.currentWidget() is not page:
            self.stack.setCurrentWidget(page)

    def show_classification(self, report: ClassificationReport,
                            bundle: DataBundle | None = None) -> None:
        """Show a classifier's report; ``bundle`` supplies the images for the gallery."""
        self.classification_view.set_report(report, bundle)
        self.stack.setCurrentWidget(self.classification_view)

    def show_forecast(self, report: ForecastReport) -> None:
        """Show a forecaster's report and fit the plot to it."""
        self.forecast_view.set_report(report, autorange=True)
        self.stack.setCurrentWidget(self.forecast_view)

    def update_forecast(self, report: ForecastReport) -> None:
        """Replace the curves' data in place (cheap; fine after every epoch)."""
        self.forecast_view.set_report(report)
        if self.stack.currentWidget() is not self.forecast_view:
            self.stack.setCurrentWidget(self.forecast_view)

    def show_text(self, sample_fn: Callable[[float], str], generate: bool = True) -> None:
        """Show the text page; ``sample_fn(temperature) -> str`` runs on slider release and on
        Generate (and now, unless ``generate`` is False)."""
        self.text_view.set_sample_fn(sample_fn)
        self.stack.setCurrentWidget(self.text_view)
        if generate:
            self.text_view.refresh()

    def refresh_text(self) -> None:
        """Sample new text at the current temperature (after more training, say)."""
        self.text_view.refresh()

    def clear(self) -> None:
        """Back to the hint; drop the reports and the sampler (and the model they hold)."""
        self.stack.setCurrentWidget(self.hint_label)
        for page in self._pages.values():
            page.clear()

    def _color_hint(self) -> None:
        self.hint_label.setStyleSheet(f"color: {muted_color(self.palette()).name()};"
                                      "font-size: 11pt; padding: 24px")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._color_hint()
