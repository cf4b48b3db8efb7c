"""The Test tab: hold a digit on paper up to the camera and watch the network read it.

A :class:`LiveWorker` thread takes the newest frame from a :class:`backend.live.capture.FrameReader`
(its own thread, latest-frame semantics), preprocesses it exactly as the model was trained
(:class:`backend.live.infer.Predictor`), optionally records it for "teach the camera", and leaves only
its newest result in a one-slot queue. A GUI-thread timer paints that result: the frame with
the region of interest, the top classes with probability bars, FPS and end-to-end latency, the
input as the model sees it, and a Grad-CAM overlay when asked. Nothing heavy runs on the GUI
thread, and the picture never lags behind the camera.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, QStandardPaths, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
    QListView, QListWidget, QListWidgetItem, QPushButton, QSizePolicy,
    QStackedWidget, QTabWidget, QVBoxLayout, QWidget,
)

from app.panels.live_views import TOP_K, TopKBars
from app.task_views import TASK_VIEWS
from backend.data.recorder import SampleStore
from backend.live.capture import (CaptureError, FrameReader, FrameSource, ImageSource,
                                  PushSource, SyntheticSource, VideoSource, list_cameras)
from backend.live.infer import Prediction, PreprocessOptions, Predictor, RateMeter, display_image
from backend.tasks import get_task
from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

DRAIN_MS = 30  # paint at most ~33 times a second
RECORD_INTERVAL_S = 1 / 15  # hold-to-record keeps at most 15 frames a second
WEIGHTS_POLL_S = 1.0  # live training: fresh weights this often
DEFAULT_ROI = (0.275, 0.2, 0.45, 0.6)  # a centred square on a 4:3 camera
THUMBNAILS = 120
ROI_COLOR = QColor("#F5C211")
NO_CAMERA = ("No camera found. Use a video file, an image or folder, the drawing canvas or the "
             "demo source instead.")


@dataclass
class LiveResult:
    """One painted frame: what the worker hands to the GUI thread."""

    display: np.ndarray  # RGB uint8, mirrored like the preview (heatmap blended in)
    model_view: np.ndarray  # uint8 gray or RGB at the model's input size
    prediction: Prediction
    fps: float
    latency_ms: float  # frame read -> result ready
    frame_index: int
    roi: tuple[int, int, int, int]  # pixels in ``display``
    dropped: int
    task: str = ""  # the model's task: which live view shows the prediction


@dataclass
class StreamEvent:
    """Something the GUI must not miss (unlike frames): a recording, an end, a loss."""

    kind: str  # "recorded" | "ended" | "lost" | "error" | "weights"
    text: str = ""
    path: Path | None = None
    class_name: str = ""


# ---- the worker ------------------------------------------------------------------------------

class LiveWorker(QThread):
    """Builds the predictor (on this thread), then predicts the newest frame until stopped."""

    def __init__(self, make_source: Callable[[], FrameSource],
                 make_predictor: Callable[[], Predictor], options: PreprocessOptions,
                 weights: Callable[[], dict | None] | None = None) -> None:
        super().__init__()
        self.make_source, self.make_predictor = make_source, make_predictor
        self.weights = weights
        self.results: collections.deque[LiveResult] = collections.deque(maxlen=1)
        self.events: collections.deque[StreamEvent] = collections.deque()
        self.reader: FrameReader | None = None
        self.predictor: Predictor | None = None
        self._lock = threading.Lock()
        self._options = options
        self._options_changed = True
        self._explain = False
        self._record: tuple[SampleStore, str] | None = None
        self._stop = threading.Event()

    # -- from the GUI thread --
    def set_options(self, options: PreprocessOptions) -> None:
        with self._lock:
            self._options, self._options_changed = options, True

    def set_explain(self, on: bool) -> None:
        self._explain = on

    def set_recording(self, store: SampleStore | None, class_name: str | None) -> None:
        with self._lock:
            self._record = (store, class_name) if store and class_name else None

    def stop(self) -> None:
        self._stop.set()

    # -- the thread --
    def run(self) -> None:  # QThread entry point
        try:
            self._loop()
        except LayerForgeError as exc:
            self.events.append(StreamEvent("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app silently
            log.exception("live test crashed")
            self.events.append(StreamEvent("error", f"live test stopped by an internal error: "
                                                    f"{exc}"))
        finally:
            if self.reader is not None:
                self.reader.stop()

    def _loop(self) -> None:
        import torch

        torch.set_num_threads(1)  # this thread's pool: a small CNN gains nothing, training keeps
        self.predictor = predictor = self.make_predictor()
        predictor.top_k = TOP_K
        self.reader = reader = FrameReader(self.make_source()).start()
        meter = RateMeter()
        last_weights = last_record = 0.0
        while not self._stop.is_set():
            frame = reader.latest(timeout=0.2)
            if frame is None:
                if reader.state == "lost":
                    self.events.append(StreamEvent("lost", reader.error or "the source was lost"))
                    return
                if reader.state == "ended":
                    self.events.append(StreamEvent("ended", f"{reader.source.name}: end of "
                                                            f"stream"))
                    return
                continue
            with self._lock:
                if self._options_changed:
                    predictor.set_options(self._options)
                    self._options_changed = False
                record = self._record
            now = time.perf_counter()
            if self.weights is not None and now - last_weights > WEIGHTS_POLL_S:
                last_weights = now
                state = self.weights()
                if state is not None:
                    predictor.set_weights(state)
            if record is not None and now - last_record >= RECORD_INTERVAL_S:
                last_record = now
                store, name = record
                path = store.add(name, np.ascontiguousarray(predictor.preprocess.crop(frame.image)))
                self.events.append(StreamEvent("recorded", path=path, class_name=name))
            predictor.explain = self._explain and predictor.explain_layer is not None
            prediction = predictor.predict(frame.image, frame.index)
            display = display_image(frame.image, predictor.options.mirror)
            roi = predictor.preprocess.roi_pixels(display.shape)
            if prediction.heatmap is not None:
                from backend.live.explain import overlay

                x, y, w, h = roi
                display[y:y + h, x:x + w] = overlay(display[y:y + h, x:x + w],
                                                    prediction.heatmap)
            view = predictor.preprocess.model_view
            done = time.perf_counter()
            self.results.append(LiveResult(
                display, view.copy() if view is not None else np.zeros((1, 1), np.uint8),
                prediction, meter.tick(done), (done - frame.time) * 1000.0, frame.index, roi,
                reader.dropped, predictor.info.task))


# ---- widgets ---------------------------------------------------------------------------------

def _qimage(array: np.ndarray) -> QImage:
    """Wrap a uint8 gray/RGB array (the caller keeps the array alive while it is painted)."""
    h, w = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_Grayscale8)
    return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGB888)


class VideoView(QWidget):
    """The frame, scaled to fit, with a movable/resizable region-of-interest box and the
    prediction written over it."""

    roiChanged = Signal(object)  # (x, y, w, h) fractions, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._array: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._image: QImage | None = None
        self.roi: tuple[float, float, float, float] | None = None
        self.roi_pixels: tuple[int, int, int, int] | None = None
        self.caption = ""
        self.status = ""
        self.placeholder = "Choose a source and a model, then press Start"
        self._drag: tuple[str, QPointF, tuple[float, float, float, float]] | None = None

    def sizeHint(self) -> QSize:
        return QSize(480, 300)

    def set_frame(self, array: np.ndarray | None, roi_pixels=None, caption: str = "",
                  status: str = "") -> None:
        self._array = array
        self._image = _qimage(array) if array is not None else None
        self.roi_pixels, self.caption, self.status = roi_pixels, caption, status
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn (aspect kept, centred)."""
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _roi_rect(self) -> QRectF | None:
        target = self.image_rect()
        if self.roi_pixels is not None and self._image is not None:
            x, y, w, h = self.roi_pixels
            sx, sy = target.width() / self._image.width(), target.height() / self._image.height()
            return QRectF(target.x() + x * sx, target.y() + y * sy, w * sx, h * sy)
        if self.roi is not None:
            x, y, w, h = self.roi
            return QRectF(target.x() + x * target.width(), target.y() + y * target.height(),
                          w * target.width(), h * target.height())
        return None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1f22"))
        if self._image is None:
            painter.setPen(QColor("#b0b3b8"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self._image)
        rect = self._roi_rect()
        if rect is not None:
            painter.setPen(QPen(ROI_COLOR, 2, Qt.PenStyle.DashLine if self.roi is None
                                else Qt.PenStyle.SolidLine))
            painter.drawRect(rect)
            if self.roi is not None:  # the resize handle
                painter.fillRect(QRectF(rect.right() - 8, rect.bottom() - 8, 10, 10), ROI_COLOR)
        if self.caption:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.8)
            font.setBold(True)
            painter.setFont(font)
            box = painter.fontMetrics().boundingRect(self.caption).adjusted(-8, -4, 8, 4)
            origin = (rect.topLeft() if rect is not None else self.image_rect().topLeft())
            box.moveTopLeft(origin.toPoint() + QPointF(4, 4).toPoint())
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.caption)
        if self.status:
            painter.setFont(self.font())
            box = painter.fontMetrics().boundingRect(self.status).adjusted(-6, -3, 6, 3)
            target = self.image_rect()
            box.moveBottomLeft(QPointF(target.left() + 4, target.bottom() - 4).toPoint())
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("#e6e6e6"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.status)
        painter.end()

    # -- the ROI box with the mouse --
    def _fractions(self, pos: QPointF) -> tuple[float, float]:
        target = self.image_rect()
        return ((pos.x() - target.x()) / max(target.width(), 1.0),
                (pos.y() - target.y()) / max(target.height(), 1.0))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.roi is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        x, y, w, h = self.roi
        fx, fy = self._fractions(event.position())
        rect = self._roi_rect()
        near_corner = rect is not None and (QPointF(rect.bottomRight()) - event.position()
                                            ).manhattanLength() < 16
        mode = "resize" if near_corner else "move" if x <= fx <= x + w and y <= fy <= y + h \
            else "new"
        if mode == "new":
            self.roi = (fx, fy, 0.02, 0.02)
            mode = "resize"
        self._drag = (mode, event.position(), self.roi)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return super().mouseMoveEvent(event)
        mode, start, (x, y, w, h) = self._drag
        sx, sy = self._fractions(start)
        fx, fy = self._fractions(event.position())
        if mode == "move":
            x = min(max(x + fx - sx, 0.0), 1.0 - w)
            y = min(max(y + fy - sy, 0.0), 1.0 - h)
        else:
            w = min(max(w + fx - sx, 0.03), 1.0 - x)
            h = min(max(h + fy - sy, 0.03), 1.0 - y)
        self.roi = (x, y, w, h)
        self.roi_pixels = None  # show the box where the mouse put it until the next frame
        self.update()
        self.roiChanged.emit(self.roi)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.roiChanged.emit(self.roi)
        super().mouseReleaseEvent(event)


class DrawCanvas(QWidget):
    """Write with the mouse: dark ink on white paper, handed to a PushSource as frames."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.image = QImage(280, 280, QImage.Format.Format_RGB888)
        self.pen_width = 22
        self.source: PushSource | None = None
        self._last: QPointF | None = None
        self.clear()

    def clear(self) -> None:
        self.image.fill(QColor("white"))
        self._publish()

    def _to_image(self, pos: QPointF) -> QPointF:
        side = min(self.width(), self.height())
        ox, oy = (self.width() - side) / 2, (self.height() - side) / 2
        return QPointF((pos.x() - ox) * 280 / side, (pos.y() - oy) * 280 / side)

    def stroke(self, a: QPointF, b: QPointF) -> None:
        """Draw a line in canvas coordinates (0..280) — the mouse and tests use this."""
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("black"), self.pen_width, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawLine(a, b)
        painter.end()
        self._publish()
        self.update()

    def array(self) -> np.ndarray:
        """The drawing as a BGR uint8 frame (a copy)."""
        ptr = self.image.constBits()
        rgb = np.frombuffer(ptr, np.uint8).reshape(280, self.image.bytesPerLine())[:, :840]
        return np.ascontiguousarray(rgb.reshape(280, 280, 3)[:, :, ::-1])

    def _publish(self) -> None:
        if self.source is not None:
            self.source.push(self.array())
        self.changed.emit()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1f22"))
        side = min(self.width(), self.height())
        painter.drawImage(QRectF((self.width() - side) / 2, (self.height() - side) / 2, side,
                                 side), self.image)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._last = self._to_image(event.position())
        self.stroke(self._last, self._last)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._last is not None:
            point = self._to_image(event.position())
            self.stroke(self._last, point)
            self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._last = None


# ---- the panel -------------------------------------------------------------------------------

class TestPanel(QWidget):
    """Live test of the network on a camera, video, images or a drawing; teach the camera."""

    __test__ = False  # not a pytest class, whatever its name
    predictionShown = Signal(object)  # LiveResult, after it was painted
    streamStopped = Signal(str)       # why: "ended", "lost: ...", "error: ...", "stopped"
    trainRequested = Signal()         # "Train on this": switch to the Training tab

    def __init__(self, document=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.run_provider: Callable[[], Any] | None = None  # the main window's training run
        self.model_path: str | None = None
        self.source_path: str | None = None
        self.worker: LiveWorker | None = None
        self.last_result: LiveResult | None = None
        self.predictions: dict[int, str] = {}  # frame index -> best class (newest stream)
        self.cameras: list[int] | None = None
        self._camera_probe: list[list[int]] = []
        self._probing = False
        self._source_label: tuple[str, str] | None = None  # ("video", "Video: clip.avi")
        self.push_source: PushSource | None = None
        self.store = SampleStore(default_capture_folder())
        self._build()
        self._timer = QTimer(self, interval=DRAIN_MS)
        self._timer.timeout.connect(self.drain)
        self.refresh_sources(probe=False)
        self.refresh_classes()

    # -- layout --
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        controls = QWidget()
        controls.setMaximumWidth(270)
        form = QFormLayout(controls)
        form.setContentsMargins(0, 0, 0, 0)
        self.source_combo = QComboBox()
        self.source_combo.activated.connect(self._source_picked)
        refresh = QPushButton("↻")
        refresh.setToolTip("Look for cameras again")
        refresh.setMaximumWidth(28)
        refresh.clicked.connect(lambda: self.refresh_sources(probe=True))
        row = QHBoxLayout()
        row.addWidget(self.source_combo, 1)
        row.addWidget(refresh)
        form.addRow("Source", row)
        self.model_combo = QComboBox()
        self.model_combo.addItem("Network being trained (live weights)", "training")
        self.model_combo.addItem("Checkpoint or TorchScript file…", "file")
        self.model_combo.activated.connect(self._model_picked)
        form.addRow("Model", self.model_combo)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        self.reconnect_button = QPushButton("Reconnect")
        self.reconnect_button.setEnabled(False)
        self.reconnect_button.clicked.connect(self.start)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.reconnect_button)
        form.addRow(buttons)
        self.mirror_box = QCheckBox("Mirror")
        self.invert_box = QCheckBox("Invert (dark ink)")
        self.threshold_box = QCheckBox("Threshold")
        self.roi_box = QCheckBox("Region box")
        self.explain_box = QCheckBox("Grad-CAM")
        self.explain_box.setToolTip("Colour where the network looked to choose its class "
                                    "(CNN classifiers)")
        self.crop_combo = QComboBox()
        self.crop_combo.addItem("Centre crop", "center")
        self.crop_combo.addItem("Resize whole", "resize")
        toggles = QGridLayout()
        for i, box in enumerate((self.mirror_box, self.invert_box, self.threshold_box,
                                 self.roi_box, self.explain_box)):
            toggles.addWidget(box, i // 2, i % 2)
            box.toggled.connect(self._options_changed)
        toggles.addWidget(self.crop_combo, 2, 1)
        self.crop_combo.currentIndexChanged.connect(self._options_changed)
        form.addRow(toggles)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.message)
        outer.addWidget(controls)

        self.video = VideoView()
        self.video.roiChanged.connect(lambda _: self._options_changed())
        self.canvas = DrawCanvas()
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
        # prediction page
        page = QWidget()
        pl = QGridLayout(page)
        self.model_view = QLabel()
        self.model_view.setFixedSize(96, 96)
        self.model_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_view.setStyleSheet("background: #1e1f22; color: #888;")
        self.model_view.setToolTip("The input exactly as the model sees it, after "
                                   "preprocessing")
        self.model_view.setText("model's\nview")
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
        self.side_tabs.addTab(page, "Prediction")
        self.side_tabs.addTab(self._build_teach(), "Teach the camera")

    def _build_teach(self) -> QWidget:
        page = QWidget()
        layout = QGridLayout(page)
        self.class_list = QListWidget()
        self.class_list.setMaximumWidth(160)
        self.class_list.setMinimumWidth(120)
        self.class_list.currentItemChanged.connect(lambda *_: self.refresh_thumbnails())
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText("new class")
        self.class_name.returnPressed.connect(self.add_class)
        add = QPushButton("Add")
        add.clicked.connect(self.add_class)
        self.record_button = QPushButton("Hold to record")
        self.record_button.setToolTip("Hold down to save camera frames (the region box) into "
                                      "the selected class")
        self.record_button.pressed.connect(lambda: self.set_recording(True))
        self.record_button.released.connect(lambda: self.set_recording(False))
        from_video = QPushButton("From video…")
        from_video.clicked.connect(self.record_video_dialog)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(40, 40))
        self.thumbs.setGridSize(QSize(46, 46))
        self.thumbs.setUniformItemSizes(True)
        self.thumbs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        delete = QPushButton("Delete selected")
        delete.clicked.connect(self.delete_selected)
        self.train_button = QPushButton("Train on this")
        self.train_button.setToolTip("Use the recorded folder as the network's dataset and go "
                                     "to the Training tab")
        self.train_button.clicked.connect(self.train_on_captures)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._choose_folder)
        name_row = QHBoxLayout()
        name_row.addWidget(self.class_name)
        name_row.addWidget(add)
        layout.addLayout(name_row, 0, 0, 1, 2)
        layout.addWidget(self.class_list, 1, 0, 3, 1)
        rec_row = QHBoxLayout()
        rec_row.addWidget(self.record_button)
        rec_row.addWidget(from_video)
        layout.addLayout(rec_row, 1, 1)
        layout.addWidget(self.thumbs, 2, 1)
        act_row = QHBoxLayout()
        act_row.addWidget(delete)
        act_row.addWidget(self.train_button)
        layout.addLayout(act_row, 3, 1)
        f_row = QHBoxLayout()
        f_row.addWidget(self.folder_label, 1)
        f_row.addWidget(folder)
        layout.addLayout(f_row, 4, 0, 1, 2)
        layout.setRowStretch(2, 1)
        return page

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
        combo = self.source_combo
        current = combo.currentData()
        combo.clear()
        if self.cameras:
            for index in self.cameras:
                combo.addItem(f"Camera {index}", f"camera:{index}")
        elif self.cameras is not None:
            combo.addItem("No camera found", "none")
        else:
            combo.addItem("Camera 0", "camera:0")
        combo.addItem("Video file…", "video")
        combo.addItem("Image file…", "image")
        combo.addItem("Image folder…", "folder")
        combo.addItem("Draw with the mouse", "draw")
        combo.addItem("Demo: synthetic digits", "synthetic")
        index = combo.findData(current)
        combo.setCurrentIndex(max(index, 0))
        if index >= 0 and self._source_label and current == self._source_label[0]:
            combo.setItemText(index, self._source_label[1])
        if self.cameras == [] and not self.running and str(current).startswith(("camera",
                                                                                 "none")):
            self.show_message(NO_CAMERA)

    def _source_picked(self, index: int) -> None:
        kind, _, camera = str(self.source_combo.itemData(index)).partition(":")
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Video file", "",
                                                  "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;"
                                                  "All files (*)")
            if path:
                self.set_source("video", path)
        elif kind == "image":
            path, _ = QFileDialog.getOpenFileName(self, "Image", "", "Images (*.png *.jpg "
                                                  "*.jpeg *.bmp *.webp);;All files (*)")
            if path:
                self.set_source("image", path)
        elif kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Folder of images")
            if path:
                self.set_source("folder", path)
        elif kind == "none":
            self.show_message(NO_CAMERA)
        else:
            self.set_source(kind, int(camera) if kind == "camera" else None)

    def set_source(self, kind: str, value: Any = None) -> None:
        """Choose the source: ("camera", index), ("video"|"image"|"folder", path), ("draw",),
        ("synthetic",). A running stream restarts on it."""
        self.source_kind, self.source_value = kind, value
        index = self.source_combo.findData(f"camera:{value}" if kind == "camera" else kind)
        if index >= 0:
            self.source_combo.setCurrentIndex(index)
        if kind in ("video", "image", "folder"):
            self.source_path = str(value)
            self._source_label = (kind, f"{kind.title()}: {Path(value).name}")
            self.source_combo.setItemText(self.source_combo.currentIndex(),
                                          self._source_label[1])
        self.view_stack.setCurrentIndex(1 if kind == "draw" else 0)
        if kind == "draw" and not self.invert_box.isChecked():
            self.invert_box.setChecked(True)  # dark ink on white, like paper
        if self.running:
            self.start()

    def _model_picked(self, index: int) -> None:
        if self.model_combo.itemData(index) == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, "Model", "", "Models (*.pt *.pth *.ckpt *.pt2 *.ts *.torchscript);;"
                "All files (*)")
            if path:
                self.set_model_path(path)
            else:
                self.model_combo.setCurrentIndex(0)

    def set_model_path(self, path: str | None) -> None:
        """Test a checkpoint or exported TorchScript file (None: the network being trained)."""
        self.model_path = str(path) if path else None
        if path:
            i = self.model_combo.findData("path")
            if i < 0:
                self.model_combo.insertItem(1, "", "path")
                i = 1
            self.model_combo.setItemText(i, Path(path).name)
            self.model_combo.setCurrentIndex(i)
        else:
            self.model_combo.setCurrentIndex(0)
        if self.running:
            self.start()

    def _make_source(self) -> Callable[[], FrameSource]:
        kind = getattr(self, "source_kind", None)
        value = getattr(self, "source_value", None)
        if kind is None:
            kind, _, camera = str(self.source_combo.currentData() or "synthetic").partition(":")
            value = int(camera) if kind == "camera" else None
        if kind == "camera":
            from backend.live.capture import CameraSource
            return lambda: CameraSource(int(value))
        if kind == "video":
            return lambda: VideoSource(value, realtime=True)
        if kind in ("image", "folder"):
            return lambda: ImageSource(value, repeat=True, interval=0.5 if kind == "folder"
                                       else 0.05)
        if kind == "draw":
            self.push_source = PushSource()
            self.canvas.source = self.push_source
            self.push_source.push(self.canvas.array())
            return lambda: self.push_source
        if kind == "synthetic":
            return lambda: SyntheticSource(640, 480, fps=30)
        raise CaptureError(NO_CAMERA if kind == "none" else f"choose a source ({kind})")

    def _make_predictor(self) -> tuple[Callable[[], Predictor], Callable[[], dict | None] | None]:
        from backend.live.infer import load_predictor, predictor_from_project

        options = self.options()
        if self.model_path:
            path = self.model_path
            return (lambda: load_predictor(path, options)), None
        run = self.run_provider() if self.run_provider else None
        if run is None or run.model is None or run.bundle is None:
            raise LayerForgeError("no network is training: train it in the Training tab (its "
                                  "current weights are tested live), or choose a checkpoint "
                                  "or TorchScript file as the model")
        project, bundle = run.project, run.bundle

        def build() -> Predictor:
            state = run.snapshot()
            return predictor_from_project(project, state, bundle.normalization,
                                          bundle.class_names, bundle.task,
                                          "the network being trained", options)
        return build, run.snapshot

    # -- running --
    @property
    def running(self) -> bool:
        return self.worker is not None

    def options(self) -> PreprocessOptions:
        return PreprocessOptions(
            roi=self.video.roi if self.roi_box.isChecked() else None,
            mirror=self.mirror_box.isChecked(), invert=self.invert_box.isChecked(),
            threshold=self.threshold_box.isChecked(), crop=self.crop_combo.currentData())

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
        self.worker = LiveWorker(make_source, make_predictor, self.options(), weights)
        self.worker.set_explain(self.explain_box.isChecked())
        self.worker.finished.connect(self._worker_finished)
        self.worker.start()
        self._timer.start()
        self.start_button.setText("Stop")
        self.reconnect_button.setEnabled(False)
        self.show_message("Starting…")
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
                self._recorded(event)
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

    def _show(self, result: LiveResult) -> None:
        self.last_result = result
        pred = result.prediction
        self.predictions[result.frame_index] = pred.label
        caption = f"{pred.label}  {pred.confidence * 100:.0f}%"
        status = f"{result.fps:.0f} FPS · {result.latency_ms:.1f} ms"
        self.video.set_frame(result.display, result.roi, caption, status)
        view = result.model_view
        image = _qimage(view).copy()  # .copy(): the pixmap must not share the worker's buffer
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
        if self.message.text() == "Starting…":
            self.show_message("")
        self.predictionShown.emit(result)

    def live_view_for(self, task: str) -> QWidget | None:
        """The widget that shows ``task``'s live predictions (None: the task has none)."""
        views = TASK_VIEWS.get(get_task(task).name)
        return self._live_pages.get(views.live) if views is not None and views.live else None

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e5484d;" if error else "")

    # -- teach the camera --
    def set_capture_folder(self, path: str | Path) -> None:
        self.store = SampleStore(path)
        self.refresh_classes()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for recorded classes",
                                                str(self.store.root))
        if path:
            self.set_capture_folder(path)

    def add_class(self, name: str | None = None) -> None:
        name = (name if isinstance(name, str) else self.class_name.text()).strip()
        if not name:
            return
        try:
            self.store.add_class(name)
        except LayerForgeError as exc:
            self.show_message(str(exc), error=True)
            return
        self.class_name.clear()
        self.refresh_classes(select=name)

    def current_class(self) -> str | None:
        item = self.class_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def refresh_classes(self, select: str | None = None) -> None:
        select = select or self.current_class()
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for name, count in self.store.counts().items():
            item = QListWidgetItem(f"{name} ({count})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.class_list.addItem(item)
            if name == select:
                self.class_list.setCurrentItem(item)
        if self.class_list.currentItem() is None and self.class_list.count():
            self.class_list.setCurrentRow(0)
        self.class_list.blockSignals(False)
        self.folder_label.setText(f"Saved in {self.store.root}")
        self.refresh_thumbnails()

    def refresh_thumbnails(self) -> None:
        self.thumbs.clear()
        name = self.current_class()
        if name is None:
            return
        for path in self.store.samples(name)[-THUMBNAILS:]:
            self._add_thumbnail(path)

    def _add_thumbnail(self, path: Path) -> None:
        item = QListWidgetItem(QIcon(QPixmap(str(path))), "")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(path.name)
        self.thumbs.addItem(item)

    def set_recording(self, on: bool) -> None:
        """Start/stop saving the stream's frames into the selected class (hold the button)."""
        name = self.current_class()
        if on and name is None:
            self.show_message("Add a class first (type its name and press Add).", error=True)
            return
        if on and self.worker is None:
            self.show_message("Start the camera first, then hold the button.", error=True)
            return
        if self.worker is not None:
            self.worker.set_recording(self.store if on else None, name if on else None)

    def _recorded(self, event: StreamEvent) -> None:
        for i in range(self.class_list.count()):
            item = self.class_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == event.class_name:
                count = len(self.store.samples(event.class_name))
                item.setText(f"{event.class_name} ({count})")
        if event.class_name == self.current_class() and event.path is not None:
            self._add_thumbnail(event.path)
            self.thumbs.scrollToBottom()

    def record_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video to record from", "",
                                              "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;"
                                              "All files (*)")
        if path:
            self.record_video(path)

    def record_video(self, path: str | Path, every: int = 1) -> int:
        """Save every ``every``-th frame of a video (its region box) into the selected class."""
        from backend.live.infer import Preprocessor

        name = self.current_class()
        if name is None:
            self.show_message("Add a class first (type its name and press Add).", error=True)
            return 0
        count = 0
        try:
            options = self.options()
            with VideoSource(path) as source:
                # the crop needs only the ROI settings, not a model
                from backend.live.infer import ModelInfo
                crop = Preprocessor(ModelInfo("image", (3, 16, 16), {"kind": "image"}, []),
                                    replace(options, crop="resize")).crop
                while (frame := source.read()) is not None:
                    if frame.index % every == 0:
                        self.store.add(name, np.ascontiguousarray(crop(frame.image)))
                        count += 1
        except LayerForgeError as exc:
            self.show_message(str(exc), error=True)
        self.refresh_classes(select=name)
        self.show_message(f"Recorded {count} frames from {Path(path).name} into '{name}'.")
        return count

    def delete_selected(self) -> None:
        for item in self.thumbs.selectedItems():
            self.store.delete(item.data(Qt.ItemDataRole.UserRole))
        self.refresh_classes()

    def train_on_captures(self) -> bool:
        """Make the recorded folder the document's dataset (undoable) and ask for training."""
        from graph.commands import SetDataset

        counts = self.store.counts()
        if len([c for c in counts.values() if c]) < 2:
            self.show_message("Record at least two classes first.", error=True)
            return False
        if self.document is None:
            return False
        if not self.document.push(SetDataset(self.document.project, self.store.dataset_spec())):
            return False
        self.show_message(f"The network now trains on {self.store.root} "
                          f"({sum(counts.values())} images, {len(counts)} classes).")
        self.trainRequested.emit()
        return True

    def set_document(self, document) -> None:
        self.document = document

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.cameras is None and not self._probing:  # first look: find the cameras
            self._probing = True
            self.refresh_sources(probe=True)
        super().showEvent(event)


def default_capture_folder() -> Path:
    """Where recorded classes go unless the user picks a folder."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerforge") / "captured"
