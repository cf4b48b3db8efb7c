"""The Test tab's Prediction page: the input as the model sees it, the task's live view of the
prediction, FPS and latency."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QWidget

from app.panels.frame_views import qimage
from app.panels.live_views import TopKBars
from app.panels.live_worker import LiveResult
from app.task_views import TASK_VIEWS
from backend.tasks import get_task


MODEL_VIEW_EMPTY = "model's\nview"


class PredictionView(QWidget):
    """Paints one :class:`LiveResult` beside the picture; the model's task picks the view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pl = QGridLayout(self)
        self.model_view = QLabel()
        self.model_view.setFixedSize(96, 96)
        self.model_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_view.setStyleSheet("background: #1e1f22; color: #888;")
        self.model_view.setToolTip("The input exactly as the model sees it, after "
                                   "preprocessing")
        self.model_view.setText(MODEL_VIEW_EMPTY)
        # one live view per view class of the registry; the model's task picks the page
        self.live_stack = QStackedWidget()
        self._live_pages: dict[type, QWidget] = {}
        for views in TASK_VIEWS.values():
            if views.live is not None and views.live not in self._live_pages:
                self._live_pages[views.live] = views.live()
                self.live_stack.addWidget(self._live_pages[views.live])
        self.bars: TopKBars = self._live_pages[TopKBars]
        self.fps_label = QLabel("FPS –")
        self.latency_label = QLabel("latency –")
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        pl.addWidget(QLabel("As the model sees it"), 0, 0)
        pl.addWidget(self.model_view, 1, 0, 3, 1, Qt.AlignmentFlag.AlignTop)
        pl.addWidget(self.live_stack, 0, 1, 2, 1)
        pl.addWidget(self.fps_label, 2, 1)
        pl.addWidget(self.latency_label, 3, 1)
        pl.addWidget(self.detail_label, 4, 0, 1, 2)
        pl.setRowStretch(5, 1)
        pl.setColumnStretch(1, 1)

    def show_result(self, result: LiveResult) -> None:
        """The model's view, the task's live view, FPS and latency of ``result``."""
        pred = result.prediction
        view = result.model_view
        image = qimage(view).copy()  # .copy(): the pixmap must not share the worker's buffer
        self.model_view.setPixmap(QPixmap.fromImage(image).scaled(
            self.model_view.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation))
        live = self.live_view_for(result.task)
        if live is not None:
            live.show_prediction(pred)
            self.live_stack.setCurrentWidget(live)
        self.fps_label.setText(f"{result.fps:.1f} FPS")
        self.latency_label.setText(f"latency {result.latency_ms:.1f} ms (model "
                                   f"{pred.model_ms:.1f} ms)")
        self.detail_label.setText(f"frame {result.frame_index} · {result.dropped} stale "
                                  f"frames skipped")

    def live_view_for(self, task: str) -> QWidget | None:
        """The widget that shows ``task``'s live predictions (None: the task has none)."""
        views = TASK_VIEWS.get(get_task(task).name)
        return self._live_pages.get(views.live) if views is not None and views.live else None

    def clear(self, text: str = "") -> None:
        """Show no prediction (a new document, a blank drawing); ``text`` says why."""
        self.model_view.setPixmap(QPixmap())
        self.model_view.setText(MODEL_VIEW_EMPTY)
        for page in self._live_pages.values():
            if hasattr(page, "clear"):
                page.clear()
        self.live_stack.setCurrentWidget(self.bars)
        self.fps_label.setText("FPS –")
        self.latency_label.setText("latency –")
        self.detail_label.setText(text)
