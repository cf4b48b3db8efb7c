"""The Test tab: hold a digit on paper up to the camera and watch the network read it.

A :class:`~app.panels.live_worker.LiveWorker` thread predicts the newest frame of the chosen
source (:class:`~app.panels.live_controls.LiveControls`) and leaves only its newest result in a
one-slot queue. A GUI-thread timer paints that result: the frame with the region of interest
(:class:`~app.panels.frame_views.VideoView`), the top classes with probability bars, FPS and
end-to-end latency, the input as the model sees it, and a Grad-CAM overlay when asked
(:class:`~app.panels.prediction_view.PredictionView`). Nothing heavy runs on the GUI thread, and
the picture never lags behind the camera. "Teach the camera" is
:class:`~app.panels.teach_page.TeachPage`.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QPushButton, QStackedWidget, QTabWidget,
                               QVBoxLayout, QWidget)

from app.panels.frame_views import DrawCanvas, VideoView, ink_prompt
from app.panels.live_controls import NO_CAMERA, LiveControls
from app.panels.live_worker import LiveResult, LiveWorker, StreamEvent
from app.panels.prediction_view import PredictionView
from app.panels.teach_page import TeachPage, default_capture_folder
from backend.data.recorder import SampleStore
from backend.live.capture import FrameSource, PushSource, list_cameras
from backend.live.infer import PreprocessOptions, Predictor
from graph.errors import LayerForgeError

__all__ = ["TestPanel", "LiveWorker", "LiveResult", "StreamEvent", "VideoView", "DrawCanvas",
           "NO_CAMERA", "default_capture_folder"]

log = logging.getLogger(__name__)

DRAIN_MS = 30  # paint at most ~33 times a second
DEFAULT_ROI = (0.275, 0.2, 0.45, 0.6)  # a centred square on a 4:3 camera


class TestPanel(QWidget):
    """Live test of the network on a camera, video, images or a drawing; teach the camera.

    The panel runs the stream (start/stop, the drain timer) and hands each result to its
    views; the controls, the Prediction page and the Teach page are their own widgets."""

    __test__ = False  # not a pytest class, whatever its name
    predictionShown = Signal(object)  # LiveResult, after it was painted
    streamStopped = Signal(str)       # why: "ended", "lost: ...", "error: ...", "stopped"
    trainRequested = Signal()         # "Train on this": switch to the Training tab

    def __init__(self, document=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_provider: Callable[[], Any] | None = None  # the main window's training run
        self.worker: LiveWorker | None = None
        self.last_result: LiveResult | None = None
        self.predictions: dict[int, str] = {}  # frame index -> best class (newest stream)
        self.cameras: list[int] | None = None
        self._old_run: Any = None  # the previous document's training run: not this network
        self._camera_probe: list[list[int]] = []
        self._probing = False
        self._build()
        self.set_document(document)
        self._timer = QTimer(self, interval=DRAIN_MS)
        self._timer.timeout.connect(self.drain)
        self.refresh_sources(probe=False)
        self.teach.refresh_classes()

    # -- layout --
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.controls = controls = LiveControls()
        controls.sourcePicked.connect(self.set_source)
        controls.modelPicked.connect(self.set_model_path)
        controls.optionsChanged.connect(self._options_changed)
        controls.camerasRequested.connect(lambda: self.refresh_sources(probe=True))
        controls.start_button.clicked.connect(self.toggle)
        controls.reconnect_button.clicked.connect(self.start)
        outer.addWidget(controls)
        # the controls' widgets, where the rest of the app and the tests reach them
        self.source_combo, self.model_combo = controls.source_combo, controls.model_combo
        self.start_button, self.reconnect_button = controls.start_button, controls.reconnect_button
        self.mirror_box, self.invert_box = controls.mirror_box, controls.invert_box
        self.threshold_box, self.roi_box = controls.threshold_box, controls.roi_box
        self.explain_box, self.crop_combo = controls.explain_box, controls.crop_combo
        self.message = controls.message

        self.video = VideoView()
        self.video.roiChanged.connect(lambda _: self._options_changed())
        self.canvas = DrawCanvas()
        self.canvas.changed.connect(self._ink_changed)
        clear = QPushButton("Clear drawing")
        clear.clicked.connect(self.canvas.clear)
        canvas_page = QWidget()
        cl = QVBoxLayout(canvas_page)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.canvas, 1)
        cl.addWidget(clear)
        self.view_stack = QStackedWidget()
        self.view_stack.addWidget(self.video)
        self.view_stack.addWidget(canvas_page)
        outer.addWidget(self.view_stack, 1)

        self.side_tabs = QTabWidget()
        self.side_tabs.setMaximumWidth(400)
        self.side_tabs.setMinimumWidth(260)
        outer.addWidget(self.side_tabs)
        self.prediction = prediction = PredictionView()
        self.model_view, self.live_stack = prediction.model_view, prediction.live_stack
        self.bars, self.fps_label = prediction.bars, prediction.fps_label
        self.latency_label, self.detail_label = prediction.latency_label, prediction.detail_label
        self.side_tabs.addTab(prediction, "Prediction")
        self.teach = teach = TeachPage(self.show_message, self.options, lambda: self.worker)
        teach.trainRequested.connect(self.trainRequested)
        self.class_list, self.class_name = teach.class_list, teach.class_name
        self.record_button, self.thumbs = teach.record_button, teach.thumbs
        self.train_button, self.folder_label = teach.train_button, teach.folder_label
        self.side_tabs.addTab(teach, "Teach the camera")

    # -- sources and models --
    def refresh_sources(self, probe: bool = True) -> None:
        """Fill the source list; ``probe`` looks for cameras on a background thread."""
        if probe:
            def look() -> None:
                try:
                    self._camera_probe.append(list_cameras())
                except Exception:  # noqa: BLE001 - a broken driver means: no camera
                    log.exception("camera probe failed")
                    self._camera_probe.append([])
            threading.Thread(target=look, daemon=True).start()
            self._timer.start()
        self.controls.fill_sources(self.cameras, self.running)

    def set_source(self, kind: str, value: Any = None) -> None:
        """Choose the source: ("camera", index), ("video"|"image"|"folder", path), ("draw",),
        ("synthetic",). A running stream restarts on it."""
        self.controls.select_source(kind, value)
        self.view_stack.setCurrentIndex(1 if kind == "draw" else 0)
        if kind == "draw" and not self.invert_box.isChecked():
            self.invert_box.setChecked(True)  # dark ink on white, like paper
        if self.running:
            self.start()
        elif kind == "draw" and not self.canvas.has_ink:
            self.prediction.clear(self.canvas.prompt)

    def set_model_path(self, path: str | None) -> None:
        """Test a checkpoint or exported TorchScript file (None: the network being trained)."""
        self.controls.select_model(path)
        if self.running:
            self.start()

    @property
    def model_path(self) -> str | None:
        return self.controls.model_path

    @property
    def source_path(self) -> str | None:
        return self.controls.source_path

    @property
    def push_source(self) -> PushSource | None:
        return self.controls.push_source

    def _make_source(self) -> Callable[[], FrameSource]:
        return self.controls.source_factory(self.canvas)

    def _make_predictor(self) -> tuple[Callable[[], Predictor], Callable[[], dict | None] | None]:
        return self.controls.predictor_factory(self.options(), self._current_run)

    def _current_run(self) -> Any:
        """The training run whose live weights are tested (None: none for this document)."""
        run = self.run_provider() if self.run_provider else None
        return None if run is not None and run is self._old_run else run

    @property
    def drawing(self) -> bool:
        return self.controls.current_kind() == "draw"

    # -- running --
    @property
    def running(self) -> bool:
        return self.worker is not None

    def options(self) -> PreprocessOptions:
        return self.controls.preprocess_options(self.video.roi)

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self) -> bool:
        """(Re)start the stream with the chosen source and model; False (with a message)
        when it cannot start."""
        self.stop(quiet=True)
        try:
            make_source = self._make_source()
            make_predictor, weights = self._make_predictor()
        except LayerForgeError as exc:
            self.show_message(str(exc), error=True)
            return False
        self.predictions = {}
        self.last_result = None
        # a blank drawing is not predicted: the worker waits for ink
        idle = (lambda: not self.canvas.has_ink) if self.drawing else None
        self.worker = LiveWorker(make_source, make_predictor, self.options(), weights, idle)
        self.worker.set_explain(self.explain_box.isChecked())
        self.worker.finished.connect(self._worker_finished)
        self.worker.start()
        self._timer.start()
        self.start_button.setText("Stop")
        self.reconnect_button.setEnabled(False)
        self.show_message("Starting…")
        if self.drawing and not self.canvas.has_ink:
            self.show_message(f"{self.canvas.prompt}: the network reads it as you write.")
            self.prediction.clear(self.canvas.prompt)
        return True

    def stop(self, quiet: bool = False) -> None:
        """Stop the stream and wait for its threads."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
            worker.wait(5000)
            self._drain_events(worker)
            if not quiet:
                self.show_message("Stopped.")
                self.streamStopped.emit("stopped")
        self.start_button.setText("Start")

    def shutdown(self) -> None:
        """Window closing: stop everything."""
        self.stop(quiet=True)
        self._timer.stop()

    def _worker_finished(self) -> None:
        worker = self.sender()
        if worker is self.worker:
            self.drain()

    def _options_changed(self, *_: Any) -> None:
        if self.roi_box.isChecked() and self.video.roi is None:
            self.video.roi = DEFAULT_ROI
        elif not self.roi_box.isChecked():
            self.video.roi = None
        self.video.update()
        if self.worker is not None:
            self.worker.set_options(self.options())
            self.worker.set_explain(self.explain_box.isChecked())

    # -- the GUI-thread drain --
    def drain(self) -> None:
        """Paint the newest result and handle stream events (GUI thread, on a timer)."""
        if self._camera_probe:
            self.cameras = self._camera_probe.pop()
            self.refresh_sources(probe=False)
        worker = self.worker
        if worker is None:
            if not self._camera_probe:
                self._timer.stop()
            return
        if self.drawing and worker.predictor is not None:
            prompt = ink_prompt(worker.predictor.info.class_names)
            if self.canvas.set_prompt(prompt) and not self.canvas.has_ink:
                self.show_message(f"{prompt}: the network reads it as you write.")
                self.prediction.clear(prompt)
        if worker.results:
            self._show(worker.results.pop())
        self._drain_events(worker)
        if worker.isFinished() and self.worker is worker:
            self.worker = None
            self.start_button.setText("Start")

    def _drain_events(self, worker: LiveWorker) -> None:
        while worker.events:
            event = worker.events.popleft()
            if event.kind == "recorded":
                self.teach.recorded(event)
            elif event.kind == "ended":
                self.show_message(f"{event.text}. Press Start to play it again.")
                self.streamStopped.emit("ended")
            elif event.kind == "lost":
                self.show_message(f"Stream lost: {event.text}", error=True)
                self.reconnect_button.setEnabled(True)
                self.streamStopped.emit(f"lost: {event.text}")
            elif event.kind == "error":
                self.show_message(event.text, error=True)
                self.streamStopped.emit(f"error: {event.text}")

    def _ink_changed(self) -> None:
        """The drawing changed: a cleared page shows the prompt, not the last prediction."""
        if self.drawing and not self.canvas.has_ink:
            self.last_result = None
            self.prediction.clear(self.canvas.prompt)

    def _show(self, result: LiveResult) -> None:
        if self.drawing and not self.canvas.has_ink:
            return  # predicted just before the page was cleared
        self.last_result = result
        pred = result.prediction
        self.predictions[result.frame_index] = pred.label
        caption = f"{pred.label}  {pred.confidence * 100:.0f}%"
        status = f"{result.fps:.0f} FPS · {result.latency_ms:.1f} ms"
        self.video.set_frame(result.display, result.roi, caption, status)
        self.prediction.show_result(result)
        if self.message.text() == "Starting…" or (
                self.message.text().startswith(self.canvas.prompt)):
            self.show_message("")
        self.predictionShown.emit(result)

    def live_view_for(self, task: str) -> QWidget | None:
        """The widget that shows ``task``'s live predictions (None: the task has none)."""
        return self.prediction.live_view_for(task)

    def show_message(self, text: str, error: bool = False) -> None:
        self.controls.show_message(text, error)

    # -- teach the camera (the Teach page does it) --
    @property
    def document(self):
        return self.teach.document

    @document.setter
    def document(self, document) -> None:
        self.teach.document = document

    def set_document(self, document) -> None:
        """Test ``document``'s network: nothing of the previous one stays (its model file,
        its training run's live weights, the stream and its predictions)."""
        if document is self.teach.document:
            return
        self.teach.document = document
        self.stop(quiet=True)
        self._old_run = self.run_provider() if self.run_provider else None
        self.controls.select_model(None)
        self.predictions, self.last_result = {}, None
        self.video.set_frame(None)
        self.prediction.clear()
        self.reconnect_button.setEnabled(False)
        self.show_message("")

    @property
    def store(self) -> SampleStore:
        return self.teach.store

    def set_capture_folder(self, path: str | Path) -> None:
        self.teach.set_capture_folder(path)

    def add_class(self, name: str | None = None) -> None:
        self.teach.add_class(name)

    def set_recording(self, on: bool) -> None:
        """Start/stop saving the stream's frames into the selected class (hold the button)."""
        self.teach.set_recording(on)

    def record_video(self, path: str | Path, every: int = 1) -> int:
        """Save every ``every``-th frame of a video (its region box) into the selected class."""
        return self.teach.record_video(path, every)

    def delete_selected(self) -> None:
        self.teach.delete_selected()

    def train_on_captures(self) -> bool:
        """Make the recorded folder the document's dataset (undoable) and ask for training."""
        return self.teach.train_on_captures()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.cameras is None and not self._probing:  # first look: find the cameras
            self._probing = True
            self.refresh_sources(probe=True)
        super().showEvent(event)
