"""The Data tab: choose the project's dataset, edit its options, preview it and check it fits.

The panel never copies the project: it reads ``document.project.dataset`` and changes it only
by pushing one ``SetDataset`` (undoable) per edit. Loading runs on a background thread (a
download or a big image folder must not freeze the window); the result comes back as a queued
Qt signal and is dropped if the spec, the Input node or the document changed meanwhile.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontDatabase, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit,
    QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSpinBox,
    QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from app.editor.style import error_color, is_dark, muted_color, warning_color
from app.workers import call_in_background, show_download
from backend.data import (DATASET_NAMES, DataBundle, DownloadProgress, Split, load_dataset,
                          reporting)
from backend.data.images import DEFAULT_ROOT
from backend.data.timeseries import DEFAULT_CSV, DEFAULT_HORIZON
from backend.tasks import get_task
from backend.training.train import check_fit, input_of
from graph.commands import SetDataset
from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

DATASET_TITLES: dict[str, str] = {
    "digits": "Handwritten digits (scikit-learn, offline)",
    "mnist": "MNIST (download)",
    "fashion_mnist": "Fashion-MNIST (download)",
    "cifar10": "CIFAR-10 (download)",
    "image_folder": "Image folder…",
    "csv_series": "CSV time series…",
    "text": "Text file…",
}

DATASET_HINTS: dict[str, str] = {
    "digits": "1,797 real 8×8 handwritten digits shipped with scikit-learn; no download.",
    "mnist": "70,000 handwritten digits (28×28), downloaded once (about 12 MB).",
    "fashion_mnist": "70,000 clothing images (28×28) in 10 classes, downloaded once (about "
                     "30 MB).",
    "cifar10": "60,000 small colour photos (32×32) in 10 classes, downloaded once (about "
               "170 MB).",
    "image_folder": "Your own images: a folder with one subfolder per class (cats/, dogs/, …).",
    "csv_series": "Forecast a column of a CSV file from a window of past rows. Input: "
                  "sequence T,F.",
    "text": "Predict the next character of a UTF-8 text. Input: tokens T.",
}

# which option page edits which dataset
_PAGE_OF: dict[str, str] = {
    "digits": "none", "mnist": "torchvision", "fashion_mnist": "torchvision",
    "cifar10": "torchvision", "image_folder": "image_folder", "csv_series": "csv_series",
    "text": "text",
}

TEXT_TARGETS = (("next", "the next character after the window"),
                ("sequence", "the next character at every step"))

SPLIT_COLORS = {"train": "#4E79A7", "val": "#F28E2B", "test": "#59A14F"}
THUMBNAILS = 32
DEBOUNCE_MS = 250
EXCERPT_CHARS = 1500


# ---- what a load produces (computed on the loading thread) ------------------------------------

@dataclass
class DataPreview:
    """Everything the panel shows about one loaded dataset, small enough to keep around.

    ``fit_bundle`` has the bundle's metadata and a couple of samples per split: enough for
    ``check_fit`` without holding a whole (possibly huge) dataset in memory.
    """

    key: str
    name: str
    task: str
    source: str
    sizes: tuple[int, int, int]
    sample_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    class_names: list[str] | None
    fit_bundle: DataBundle
    class_counts: np.ndarray | None = None  # (classes, 3): train/val/test
    images: list[tuple[np.ndarray, str]] = field(default_factory=list)
    series: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    series_label: str = ""
    excerpt: str = ""
    seconds: float = 0.0


def build_preview(bundle: DataBundle, key: str, spec: dict[str, Any], input_kind: str,
                  input_shape: tuple[int, ...], seed: int) -> DataPreview:
    """Turn a loaded bundle into what the panel displays (plain numpy/str, no Qt)."""
    small = DataBundle(
        name=bundle.name, task=bundle.task,
        train=Split(bundle.train.x[:2].clone(), bundle.train.y[:2].clone()),
        val=Split(bundle.val.x[:2].clone(), bundle.val.y[:2].clone()),
        test=Split(bundle.test.x[:2].clone(), bundle.test.y[:2].clone()),
        sample_shape=tuple(bundle.sample_shape), target_shape=tuple(bundle.target_shape),
        num_classes=bundle.num_classes,
        class_names=list(bundle.class_names) if bundle.class_names is not None else None,
        normalization=dict(bundle.normalization), source=bundle.source)
    preview = DataPreview(
        key=key, name=bundle.name, task=bundle.task, source=bundle.source,
        sizes=(len(bundle.train), len(bundle.val), len(bundle.test)),
        sample_shape=tuple(bundle.sample_shape), target_shape=tuple(bundle.target_shape),
        num_classes=bundle.num_classes, class_names=small.class_names, fit_bundle=small)
    kind = bundle.normalization.get("kind")
    if get_task(bundle.task).counts_classes and bundle.num_classes:
        preview.class_counts = np.stack(
            [torch.bincount(s.y.reshape(-1), minlength=bundle.num_classes).numpy()
             for s in (bundle.train, bundle.val, bundle.test)], axis=1)
    if kind == "image":
        preview.images = sample_images(bundle, THUMBNAILS)
    elif kind == "series":
        plain = bundle
        if bundle.normalization.get("relative"):
            # relative windows have lost the series' level: reload the same file in absolute
            # units (a CSV loads in milliseconds) so the plot shows the real values
            options = {**(spec.get("options") or {}), "relative": False}
            plain = load_dataset({"name": spec["name"], "options": options}, input_kind,
                                 input_shape, seed)
        preview.series = series_parts(plain)
        norm = bundle.normalization
        target = norm["target_columns"][0]
        preview.series_label = target
    elif kind == "text":
        preview.excerpt = text_excerpt(bundle, EXCERPT_CHARS)
    return preview


def sample_images(bundle: DataBundle, count: int) -> list[tuple[np.ndarray, str]]:
    """Up to ``count`` training images, classes taken in turn, back in 8-bit pixels.

    Returns (H,W) grayscale or (H,W,3) RGB uint8 arrays with their class names.
    """
    split, norm = bundle.train, bundle.normalization
    if len(split) < count:  # a small folder: show val/test images too
        parts = (bundle.train, bundle.val, bundle.test)
        split = Split(torch.cat([s.x for s in parts]), torch.cat([s.y for s in parts]))
    if len(split) == 0:
        return []
    y = split.y.reshape(len(split), -1)[:, 0].numpy()
    classes = int(bundle.num_classes or (y.max() + 1))
    by_class = [np.flatnonzero(y == c) for c in range(classes)]
    picks: list[int] = []
    depth = 0
    while len(picks) < count and any(depth < len(ix) for ix in by_class):
        for ix in by_class:
            if depth < len(ix) and len(picks) < count:
                picks.append(int(ix[depth]))
        depth += 1
    x = split.x[picks].to(torch.float32)
    channels = int(norm.get("channels", x.shape[1] if x.dim() == 4 else 1))
    if norm.get("size"):
        height, width = (int(v) for v in norm["size"])
    elif x.dim() == 4:
        height, width = x.shape[-2:]
    else:  # a flat vector without a recorded size: square if it can be
        side = math.isqrt(x.shape[1] // channels)
        height = width = side
    if channels * height * width != x[0].numel():
        return []  # cannot be drawn as a picture
    x = x.reshape(len(picks), channels, height, width)
    mean = torch.tensor(norm.get("mean", [0.0] * channels), dtype=torch.float32)
    std = torch.tensor(norm.get("std", [1.0] * channels), dtype=torch.float32)
    x = x * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
    pixels = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    names = bundle.class_names or [str(c) for c in range(classes)]
    out = []
    for img, label in zip(pixels, y[picks]):
        arr = img[0].numpy() if channels == 1 else img.permute(1, 2, 0).numpy()
        out.append((np.ascontiguousarray(arr), str(names[int(label)])))
    return out


def series_parts(bundle: DataBundle) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first target column of each split in raw units, rebuilt from absolute windows.

    x[i, j] is row i+j of the split and y[i] is row i+T-1+horizon, so the windows' first row,
    their last rows and the targets together cover the whole split. Returns (split name, row
    numbers in the file, values).
    """
    norm = bundle.normalization
    t = int(norm["target_index"][0])
    window, horizon = int(norm["window"]), int(norm["horizon"])
    mean, std = float(norm["mean"][t]), float(norm["std"][t])
    parts, start = [], 0
    for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
        n_windows = len(split)
        if n_windows == 0:
            continue
        x = split.x[:, :, t].numpy().astype(np.float64)
        y = split.y[:, 0].numpy().astype(np.float64)
        z = np.full(n_windows + window + horizon - 1, np.nan)
        z[:window] = x[0]
        z[window - 1:window - 1 + n_windows] = x[:, -1]
        z[window - 1 + horizon:window - 1 + horizon + n_windows] = y
        rows = np.arange(start, start + len(z), dtype=np.float64)
        parts.append((name, rows, z * std + mean))
        start += len(z)
    return parts


def text_excerpt(bundle: DataBundle, limit: int) -> str:
    """A readable stretch of the training text, decoded from the first windows."""
    vocab = bundle.normalization["vocab"]
    x = bundle.train.x
    if len(x) == 0:
        return ""
    window = x.shape[1]

    def text(ids) -> str:
        return "".join(vocab[int(i)] for i in ids)

    y = bundle.train.y
    follows = y[:, -1] if y.dim() == 2 else y  # the character right after each window
    n = min(len(x), 40)
    # windows placed end to end (stride T): the character after one starts the next
    if n > 1 and all(int(follows[i]) == int(x[i + 1, 0]) for i in range(n - 1)):
        out = ""
        for i in range(len(x)):
            out += text(x[i])
            if len(out) >= limit:
                break
        return out[:limit]
    stride = next((s for s in range(1, window)
                   if n > 1 and torch.equal(x[1, :window - s], x[0, s:])), None)
    if stride is not None:
        out = text(x[0])
        for i in range(1, len(x)):
            out += text(x[i, window - stride:])
            if len(out) >= limit:
                break
        return out[:limit]
    # windows further apart than T: show them one by one
    pieces, total = [], 0
    for i in range(len(x)):
        pieces.append(text(x[i]))
        total += window + 3
        if total >= limit:
            break
    return "\n…\n".join(pieces)


# ---- the loading thread -------------------------------------------------------------------------

_tickets = itertools.count(1)  # which load a result answers


class _LoadState:
    """Shared by the GUI and one loading thread: how far a download is (written by the
    thread, polled by the panel) and whether the load was given up (a newer one started)."""

    def __init__(self) -> None:
        self.download: DownloadProgress | None = None
        self.cancelled = False

    def report(self, progress: DownloadProgress) -> None:
        self.download = progress


def _load_preview(key: str, spec: dict[str, Any], input_kind: str,
                  input_shape: tuple[int, ...], seed: int, state: _LoadState) -> Any:
    """Load the dataset and build its preview (a loading thread); the DataPreview, or the
    exception that stopped it."""
    started = time.perf_counter()
    try:
        with reporting(state.report, lambda: state.cancelled):  # downloads: progress, cancel
            bundle = load_dataset(spec, input_kind, input_shape, seed)
        result: Any = build_preview(bundle, key, spec, input_kind, input_shape, seed)
        del bundle
        result.seconds = time.perf_counter() - started
    except LayerForgeError as exc:
        result = exc
    except Exception as exc:  # noqa: BLE001 - a broken file or library must not kill the app
        log.exception("loading dataset %r failed", spec.get("name"))
        result = exc
    return result


def _spec_key(spec: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
              seed: int) -> str:
    return json.dumps([spec, input_kind, list(input_shape), seed], sort_keys=True, default=str)


def _normal_spec(spec: Any) -> dict[str, Any]:
    spec = spec if isinstance(spec, dict) else {}
    options = spec.get("options") or {}
    return {"name": spec.get("name"), "options": dict(options) if isinstance(options, dict)
            else {}}


# ---- small widgets ----------------------------------------------------------------------------

class ThumbnailGrid(QWidget):
    """Sample images with their class label under each, flowing to the available width."""

    PAD = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cells: list[tuple[QPixmap, str]] = []
        self._thumb = 48
        self._label_w = 0
        sp = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        sp.setHeightForWidth(True)
        self.setSizePolicy(sp)

    def set_images(self, images: list[tuple[np.ndarray, str]]) -> None:
        """(H,W) gray or (H,W,3) RGB uint8 arrays, each with its label."""
        self._cells = []
        self._label_w = 0
        if images:
            side = max(images[0][0].shape[:2])
            # whole-number upscaling keeps small images crisp; big ones are shrunk smoothly
            self._thumb = min(side * max(1, math.ceil(44 / side)), 72)
            # room for class names up to 1.6 thumbnails wide (longer ones are elided)
            longest = max(self.fontMetrics().horizontalAdvance(label) for _, label in images)
            self._label_w = min(longest + 6, int(self._thumb * 1.6))
        for arr, label in images:
            self._cells.append((self._pixmap(arr), label))
        self._relayout()
        self.update()

    def _pixmap(self, arr: np.ndarray) -> QPixmap:
        h, w = arr.shape[:2]
        if arr.ndim == 2:
            image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
        else:
            image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
        image = image.copy()  # own the pixels: the numpy buffer may go away
        mode = (Qt.TransformationMode.FastTransformation if self._thumb % max(h, w) == 0
                else Qt.TransformationMode.SmoothTransformation)
        return QPixmap.fromImage(image.scaled(self._thumb, self._thumb,
                                              Qt.AspectRatioMode.KeepAspectRatio, mode))

    def count(self) -> int:
        return len(self._cells)

    def labels(self) -> list[str]:
        return [label for _, label in self._cells]

    def _cell_size(self) -> QSize:
        label_h = self.fontMetrics().height()
        return QSize(max(self._thumb, 40, self._label_w) + self.PAD,
                     self._thumb + label_h + self.PAD + 2)

    def _columns(self, width: int) -> int:
        return max(1, (width - self.PAD) // self._cell_size().width())

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self._cells:
            return 0
        rows = math.ceil(len(self._cells) / self._columns(width))
        return rows * self._cell_size().height() + self.PAD

    def sizeHint(self) -> QSize:
        cell = self._cell_size()
        return QSize(8 * cell.width() + self.PAD, self.heightForWidth(8 * cell.width()))

    def _relayout(self) -> None:
        self.setMinimumHeight(self.heightForWidth(max(self.width(), 1)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def paintEvent(self, event) -> None:
        if not self._cells:
            return
        painter = QPainter(self)
        cell = self._cell_size()
        cols = self._columns(self.width())
        used = min(cols, len(self._cells)) * cell.width()
        left = max(self.PAD, (self.width() - used) // 2)
        frame = self.palette().color(QPalette.ColorRole.Mid)
        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        fm = self.fontMetrics()
        for i, (pixmap, label) in enumerate(self._cells):
            x = left + (i % cols) * cell.width()
            y = self.PAD + (i // cols) * cell.height()
            px = x + (cell.width() - self.PAD - pixmap.width()) // 2
            painter.drawPixmap(px, y, pixmap)
            painter.setPen(frame)
            painter.drawRect(px - 1, y - 1, pixmap.width() + 1, pixmap.height() + 1)
            painter.setPen(text_color)
            text = fm.elidedText(label, Qt.TextElideMode.ElideRight, cell.width() - 2)
            painter.drawText(QRectF(x - self.PAD / 2, y + pixmap.height() + 2, cell.width(),
                                    fm.height()), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


def _style_plot(plot: pg.PlotWidget, palette: QPalette) -> None:
    """Plot colours from the widget palette, so the plot matches a light or dark theme."""
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    text = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(muted_color(palette)))
        axis.setTextPen(pg.mkPen(text))
    plot.setMenuEnabled(False)


class _PathEdit(QWidget):
    """A line edit with a "Browse…" button; ``committed`` when the user finishes an edit."""

    committed = Signal()

    def __init__(self, placeholder: str, choose, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.editingFinished.connect(self.committed)
        self.button = QToolButton(text="…", toolTip="Browse…")
        self.button.clicked.connect(lambda: self._browse(choose))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def _browse(self, choose) -> None:
        path = choose(self.edit.text().strip())
        if path:
            self.edit.setText(path)
            self.committed.emit()

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        if self.edit.text() != text:
            self.edit.setText(text)


# ---- the panel ----------------------------------------------------------------------------------

class DataPanel(QWidget):
    """Dataset picker, per-dataset options, preview, summary and the data/network fit check."""

    loadStarted = Signal()
    loadFinished = Signal(bool)  # after the preview and banner are updated; False = failed

    def __init__(self, document=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._document = None
        self._syncing = False
        self._dirty = True  # a load is due the next time the panel is shown
        self._ticket: int | None = None  # the load whose result is wanted
        self._inflight_key: str | None = None
        self._load_state: _LoadState | None = None  # the wanted load's download and cancel
        self._download_timer = QTimer(self, interval=250)
        self._download_timer.timeout.connect(self._poll_download)
        self._loaded_key: str | None = None
        self._preview: DataPreview | None = None
        self._load_error = ""
        self._remembered: dict[str, dict[str, Any]] = {}  # options of datasets left behind
        self.banner_kind = ""  # "", "error" or "warning"
        self._fit_line = ""

        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.load_now(force=False))

        self._build()
        if document is not None:
            self.set_document(document)

    # ---- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)

        # left: dataset and options (scrolls when the dock is short)
        controls = QWidget()
        left = QVBoxLayout(controls)
        left.setContentsMargins(0, 0, 4, 0)
        left.setSpacing(6)
        self.combo = QComboBox()
        for name in DATASET_NAMES:
            self.combo.addItem(DATASET_TITLES.get(name, name), name)
        self.combo.setToolTip("The dataset this project trains on")
        self.combo.currentIndexChanged.connect(self._on_combo)
        left.addWidget(self.combo)
        self.hint = QLabel(wordWrap=True)
        self.hint.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        left.addWidget(self.hint)

        # one option page per kind of dataset; only the current one is shown (not a
        # QStackedWidget: that would reserve the tallest page's height for every dataset)
        self._pages: dict[str, QWidget] = {
            "none": QWidget(), "torchvision": self._torchvision_page(),
            "image_folder": self._image_folder_page(), "csv_series": self._csv_page(),
            "text": self._text_page()}
        for page in self._pages.values():
            page.setVisible(False)
            left.addWidget(page)
        self._page = "none"

        row = QHBoxLayout()
        self.load_button = QPushButton("Load preview")
        self.load_button.setToolTip("Load the dataset again and check it against the network")
        self.load_button.clicked.connect(lambda: self.load_now(force=True))
        row.addWidget(self.load_button)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(10)
        self.busy.setVisible(False)
        row.addWidget(self.busy, 1)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        row.addWidget(self.status, 1)
        left.addLayout(row)
        left.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(300)
        outer.addWidget(scroll)

        # right: banner over (preview | summary)
        right = QVBoxLayout()
        right.setSpacing(6)
        self.banner = QLabel(wordWrap=True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setVisible(False)
        right.addWidget(self.banner)

        body = QHBoxLayout()
        body.setSpacing(8)
        self.preview_stack = QStackedWidget()
        self.placeholder = QLabel("No preview yet: press Load preview.",
                                  alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.placeholder.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        self.preview_stack.addWidget(self.placeholder)

        self.grid = ThumbnailGrid()
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidget(self.grid)
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.preview_stack.addWidget(self.grid_scroll)

        self.series_plot = pg.PlotWidget()
        _style_plot(self.series_plot, self.palette())
        self.series_plot.showGrid(x=True, y=True, alpha=0.15)
        self.series_plot.setLabel("bottom", "row")
        self._legend = self.series_plot.addLegend(offset=(10, 5))
        self._curves: dict[str, pg.PlotDataItem] = {}
        for split, color in SPLIT_COLORS.items():
            curve = self.series_plot.plot([], [], pen=pg.mkPen(color, width=1.5), name=split,
                                          connect="finite")
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self._curves[split] = curve
        self.preview_stack.addWidget(self.series_plot)

        self.excerpt = QPlainTextEdit(readOnly=True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.excerpt.setFont(mono)
        self.excerpt.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.preview_stack.addWidget(self.excerpt)
        body.addWidget(self.preview_stack, 1)

        summary_box = QWidget()
        summary_box.setFixedWidth(290)
        side = QVBoxLayout(summary_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(4)
        self.summary = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        side.addWidget(self.summary)
        self.class_chart = pg.PlotWidget()
        _style_plot(self.class_chart, self.palette())
        self.class_chart.setMouseEnabled(x=False, y=False)
        self.class_chart.hideButtons()
        self.class_chart.setMinimumHeight(90)
        self.class_chart.getAxis("left").setWidth(34)
        self.class_chart.setVisible(False)
        self._bars: list[pg.BarGraphItem] = []
        side.addWidget(self.class_chart, 1)
        side.addStretch(0)
        body.addWidget(summary_box)
        right.addLayout(body, 1)
        outer.addLayout(right, 1)

    def _show_page(self, key: str) -> None:
        self._page = key
        for name, page in self._pages.items():
            page.setVisible(name == key)

    @property
    def option_page(self) -> str:
        """Which options are shown: "none", "torchvision", "image_folder", "csv_series", "text"."""
        return self._page

    @staticmethod
    def _form(widget: QWidget) -> QFormLayout:
        form = QFormLayout(widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(5)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return form

    def _torchvision_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.root_edit = _PathEdit(DEFAULT_ROOT, self._choose_folder)
        self.root_edit.setToolTip("Folder the dataset is downloaded to (once) and read from")
        self.root_edit.committed.connect(self._commit_options)
        form.addRow("Folder", self.root_edit)
        self.download_check = QCheckBox("Download if missing (needs internet once)")
        self.download_check.toggled.connect(self._commit_options)
        form.addRow(self.download_check)
        return page

    def _image_folder_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.folder_edit = _PathEdit("one subfolder per class", self._choose_folder)
        self.folder_edit.committed.connect(self._commit_options)
        form.addRow("Folder", self.folder_edit)
        return page

    def _csv_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.csv_edit = _PathEdit(f"shipped {DEFAULT_CSV.name}", self._choose_csv)
        self.csv_edit.setToolTip("The CSV file; empty uses the Mauna Loa weekly CO2 record "
                                 "shipped with LayerForge")
        self.csv_edit.committed.connect(self._commit_options)
        form.addRow("File", self.csv_edit)
        self.columns_edit = QLineEdit(placeholderText="all numeric columns")
        self.columns_edit.setToolTip("Feature columns, separated by commas (the Input's F)")
        self.columns_edit.editingFinished.connect(self._commit_options)
        form.addRow("Columns", self.columns_edit)
        self.target_edit = QLineEdit(placeholderText="the first column")
        self.target_edit.setToolTip("Column(s) to forecast, separated by commas")
        self.target_edit.editingFinished.connect(self._commit_options)
        form.addRow("Target", self.target_edit)
        self.horizon_spin = QSpinBox(minimum=1, maximum=100_000, suffix=" rows ahead")
        self.horizon_spin.setKeyboardTracking(False)  # one edit per Enter/arrow, not per digit
        self.horizon_spin.valueChanged.connect(self._commit_options)
        form.addRow("Horizon", self.horizon_spin)
        self.relative_check = QCheckBox("Predict the change from the last value")
        self.relative_check.setToolTip("Recommended for trending series: the network sees and "
                                       "predicts differences from the window's last value")
        self.relative_check.toggled.connect(self._commit_options)
        form.addRow(self.relative_check)
        return page

    def _text_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.text_edit = _PathEdit("built-in corpus (Python docs)", self._choose_text)
        self.text_edit.setToolTip("A UTF-8 text file; empty uses text from the Python standard "
                                  "library's documentation")
        self.text_edit.committed.connect(self._commit_options)
        form.addRow("File", self.text_edit)
        self.targets_combo = QComboBox()
        for value, title in TEXT_TARGETS:
            self.targets_combo.addItem(title, value)
        self.targets_combo.setToolTip("next: for a model that ends in the last time step; "
                                      "sequence: for a model that predicts at every step")
        self.targets_combo.currentIndexChanged.connect(self._commit_options)
        form.addRow("Predict", self.targets_combo)
        return page

    # ---- file choosers -------------------------------------------------------------------
    def _choose_folder(self, current: str) -> str:
        return QFileDialog.getExistingDirectory(self, "Choose a folder", current)

    def _choose_csv(self, current: str) -> str:
        start = current or str(DEFAULT_CSV.parent)
        path, _ = QFileDialog.getOpenFileName(self, "Choose a CSV file", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        return path

    def _choose_text(self, current: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a text file", current,
                                              "Text files (*.txt *.md);;All files (*)")
        return path

    # ---- the document ----------------------------------------------------------------------
    @property
    def document(self):
        return self._document

    def set_document(self, document) -> None:
        """Show ``document``'s dataset; a load still running for the previous one is ignored."""
        if self._document is not None:
            for signal, slot in self._connections():
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._document = document
        self._abandon_load()
        self._loaded_key = None
        self._preview = None
        self._remembered.clear()
        self._set_busy(False)
        self._clear_preview("No preview yet: press Load preview.")
        self._set_banner("", "")
        if document is None:
            return
        for signal, slot in self._connections():
            signal.connect(slot)
        self._sync_widgets()
        self._request_load()

    def _connections(self):
        doc = self._document
        return ((doc.datasetChanged, self._on_dataset_changed),
                (doc.analysisChanged, self._on_analysis_changed),
                (doc.trainingChanged, self._on_training_changed))

    def _on_dataset_changed(self) -> None:
        self._sync_widgets()
        self._request_load()

    def _on_analysis_changed(self) -> None:
        try:
            key = self._request()[0]
        except LayerForgeError as exc:  # e.g. no Input node or two: nothing to load for
            self._abandon_load()
            self._set_busy(False)
            self._set_banner("error", str(exc))
            return
        if key not in (self._loaded_key, self._inflight_key):
            self._request_load()  # the Input node's kind or shape changed
        elif key == self._loaded_key and self._inflight_key is None:
            self._check_fit()

    def _on_training_changed(self, key: str) -> None:
        if key == "seed":
            self._request_load()
        elif key == "loss" and self._inflight_key is None:
            self._check_fit()

    # ---- spec <-> widgets -----------------------------------------------------------------
    def _dataset(self) -> dict[str, Any]:
        return _normal_spec(self._document.project.dataset)

    def _sync_widgets(self) -> None:
        """Show the project's dataset spec in the widgets (after an edit, undo or new file)."""
        spec = self._dataset()
        name, options = spec["name"], spec["options"]
        self._syncing = True
        try:
            index = self.combo.findData(name)
            self.combo.setCurrentIndex(index)
            self.hint.setText(DATASET_HINTS.get(name, f"Unknown dataset {name!r}."))
            self._show_page(_PAGE_OF.get(name, "none"))
            page = _PAGE_OF.get(name)
            if page == "torchvision":
                self.root_edit.set_text(str(options.get("root") or ""))
                self.download_check.setChecked(options.get("download", True) is not False)
            elif page == "image_folder":
                self.folder_edit.set_text(str(options.get("path") or ""))
            elif page == "csv_series":
                self.csv_edit.set_text(str(options.get("path") or ""))
                self.columns_edit.setText(", ".join(_names(options.get("columns"))))
                self.target_edit.setText(", ".join(_names(options.get("target"))))
                horizon = options.get("horizon")
                self.horizon_spin.setValue(horizon if isinstance(horizon, int)
                                           and not isinstance(horizon, bool)
                                           else DEFAULT_HORIZON)
                self.relative_check.setChecked(options.get("relative", True) is not False)
            elif page == "text":
                self.text_edit.set_text(str(options.get("path") or ""))
                i = self.targets_combo.findData(options.get("targets") or "next")
                self.targets_combo.setCurrentIndex(max(i, 0))
        finally:
            self._syncing = False

    def _on_combo(self, index: int) -> None:
        if self._syncing or self._document is None or index < 0:
            return
        name = self.combo.itemData(index)
        current = self._dataset()
        if name == current["name"]:
            return
        self._remembered[current["name"]] = current["options"]
        self._push({"name": name, "options": self._remembered.get(name, {})})

    def _commit_options(self, *_args) -> None:
        """An option editor finished an edit: push the full new spec if it changed."""
        if self._syncing or self._document is None:
            return
        spec = self._dataset()
        name, options = spec["name"], dict(spec["options"])
        page = _PAGE_OF.get(name)

        def put(key: str, value: Any, default: Any, same=lambda a, b: a == b) -> None:
            old = options.get(key)
            old = default if old in (None, "") else old
            if same(old, value):
                return  # unchanged in meaning: keep how the file spells it
            if value == default:
                options.pop(key, None)
            else:
                options[key] = value

        def same_names(a: Any, b: Any) -> bool:
            return _names(a) == _names(b)

        if page == "torchvision":
            put("root", self.root_edit.text() or None, None)
            put("download", self.download_check.isChecked(), True)
        elif page == "image_folder":
            put("path", self.folder_edit.text() or None, None)
        elif page == "csv_series":
            put("path", self.csv_edit.text() or None, None)
            columns = _split_names(self.columns_edit.text())
            put("columns", columns or None, None, same_names)
            targets = _split_names(self.target_edit.text())
            put("target", (targets[0] if len(targets) == 1 else targets) or None, None,
                same_names)
            put("horizon", self.horizon_spin.value(), DEFAULT_HORIZON)
            put("relative", self.relative_check.isChecked(), True)
        elif page == "text":
            put("path", self.text_edit.text() or None, None)
            put("targets", self.targets_combo.currentData(), "next")
        self._push({"name": name, "options": options})

    def _push(self, spec: dict[str, Any]) -> None:
        if _normal_spec(spec) == self._dataset():
            return
        self._document.push(SetDataset(self._document.project, spec))

    # ---- loading --------------------------------------------------------------------------
    def _request(self) -> tuple[str, dict[str, Any], str, tuple[int, ...], int]:
        """(key, spec, input kind, input shape, seed) of the load the project asks for."""
        project = self._document.project
        kind, shape = input_of(project)
        seed = project.training.get("seed", 0)
        seed = seed if isinstance(seed, int) else 0
        spec = self._dataset()
        return _spec_key(spec, kind, shape, seed), spec, kind, tuple(shape), seed

    def _request_load(self) -> None:
        """Load soon (coalescing bursts of edits) if the panel is shown, else when it is."""
        if self._document is None:
            return
        self._dirty = True
        if self.isVisible():
            self._debounce.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty and self._document is not None:
            self._debounce.start()

    def load_now(self, force: bool = True) -> None:
        """Start loading the project's dataset on a background thread.

        Without ``force`` nothing happens when this exact spec/Input/seed is loaded or loading.
        """
        self._debounce.stop()
        if self._document is None:
            return
        self._dirty = False
        try:
            key, spec, kind, shape, seed = self._request()
        except LayerForgeError as exc:
            self._abandon_load()
            self._set_busy(False)
            self._set_banner("error", str(exc))
            return
        if not force and key == self._inflight_key:
            return
        if not force and key == self._loaded_key and self._inflight_key is None:
            self._check_fit()
            return
        ticket = next(_tickets)
        self._ticket, self._inflight_key = ticket, key
        if self._load_state is not None:
            self._load_state.cancelled = True  # a download for the older request stops
        state = self._load_state = _LoadState()
        loading = f"Loading {DATASET_TITLES.get(spec['name'], spec['name']).rstrip('…')}…"
        if self._preview is None or self._preview.name != spec["name"]:
            self._preview = None  # another dataset's preview would mislead meanwhile
            self._clear_preview(loading)
        self._set_busy(True, loading)
        # a daemon thread: quitting during a slow download must not wait for it
        call_in_background(lambda: _load_preview(key, spec, kind, shape, seed, state),
                           lambda result: self._on_loaded(ticket, result),
                           f"layerforge-data-{ticket}", owner=self)
        self._download_timer.start()
        self.loadStarted.emit()

    @property
    def loading(self) -> bool:
        """A load is running whose result the panel will show."""
        return self._ticket is not None

    @property
    def pending(self) -> bool:
        """A load is running or about to start (debounced)."""
        return self._ticket is not None or self._debounce.isActive()

    def _abandon_load(self) -> None:
        """Nobody wants the running load's result any more: a download it makes stops."""
        if self._load_state is not None:
            self._load_state.cancelled = True
        self._ticket = self._inflight_key = self._load_state = None
        self._download_timer.stop()

    def _poll_download(self) -> None:
        """While a load downloads its dataset: the bar fills, and the preview area (when it
        shows no older preview) says how far."""
        state = self._load_state
        progress = state.download if state is not None and self._ticket is not None else None
        if progress is None:
            return
        show_download(self.busy, progress)
        self.busy.setToolTip(progress.describe())
        if self.preview_stack.currentWidget() is self.placeholder:  # no older preview shown
            self.placeholder.setText(progress.describe() + "\n(once: later it is read from "
                                     "disk)")

    def _on_loaded(self, ticket: int, result: Any) -> None:
        if ticket != self._ticket:
            return  # a stale load: the spec, the Input or the document changed meanwhile
        key = self._inflight_key
        self._ticket = self._inflight_key = None
        self._load_state = None
        self._download_timer.stop()
        self._loaded_key = key
        if isinstance(result, DataPreview):
            self._preview = result
            self._load_error = ""
            self._show_preview(result)
            self._set_busy(False, f"Loaded in {result.seconds:.1f} s.")
            self._check_fit()
            self.loadFinished.emit(True)
            return
        self._preview = None
        if isinstance(result, LayerForgeError):
            message = str(result)
        else:
            message = f"Could not load the dataset: {type(result).__name__}: {result}"
        self._load_error = message
        self._clear_preview("The dataset could not be loaded (see the message above).")
        self._set_busy(False, "Loading failed.")
        self._set_banner("error", message)
        self.loadFinished.emit(False)

    def _set_busy(self, busy: bool, text: str | None = None) -> None:
        self.busy.setRange(0, 0)  # indeterminate until a download says how big it is
        self.busy.setVisible(busy)
        self.status.setVisible(not busy)
        if text is not None:
            self.status.setText(text)
            self.busy.setToolTip(text)

    # ---- the fit check --------------------------------------------------------------------
    def _check_fit(self) -> None:
        """Show whether the loaded data fits the network (or why not, with the fix)."""
        if self._document is None:
            return
        if self._preview is None:
            if self._load_error:
                self._set_banner("error", self._load_error)
            return
        analysis = self._document.analysis
        project = self._document.project
        if not analysis.is_valid:
            errors = analysis.errors
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            self._set_banner("warning", "Fix the network's errors first, then the data can be "
                             f"checked against it: {errors[0].message}{more}")
            self._set_fit_line("not checked: the network has errors", None)
            return
        try:
            check_fit(project, analysis, self._preview.fit_bundle,
                      project.training.get("loss", "cross_entropy"))
        except LayerForgeError as exc:
            self._set_banner("error", str(exc))
            self._set_fit_line("does not fit the network (see above)", False)
        except Exception as exc:  # noqa: BLE001 - a checker bug must not hide the preview
            log.exception("checking the data against the network failed")
            self._set_banner("error", f"Could not check the data against the network: {exc}")
            self._set_fit_line("not checked", None)
        else:
            self._set_banner("", "")
            self._set_fit_line("fits the network", True)

    def _set_banner(self, kind: str, text: str) -> None:
        self.banner_kind = kind if text else ""
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        if not text:
            return
        color = error_color(self.palette()) if kind == "error" else warning_color(self.palette())
        tint = QColor(color)
        tint.setAlpha(40 if is_dark(self.palette()) else 28)
        self.banner.setStyleSheet(
            f"QLabel {{ background: rgba({tint.red()},{tint.green()},{tint.blue()},"
            f"{tint.alpha()}); border: 1px solid {color.name()}; border-left: 4px solid "
            f"{color.name()}; border-radius: 3px; padding: 5px 8px; color: "
            f"{self.palette().color(QPalette.ColorRole.WindowText).name()}; }}")

    def banner_text(self) -> str:
        """The message in the banner ("" when hidden)."""
        return self.banner.text() if self.banner.isVisibleTo(self) else ""

    # ---- showing a preview ----------------------------------------------------------------
    def _clear_preview(self, message: str) -> None:
        self.placeholder.setText(message)
        self.preview_stack.setCurrentWidget(self.placeholder)
        self.grid.set_images([])
        for curve in self._curves.values():
            curve.setData([], [])
        self.excerpt.clear()
        self.summary.setText("")
        self._fit_line = ""
        self.class_chart.setVisible(False)

    def _show_preview(self, p: DataPreview) -> None:
        if p.images:
            self.grid.set_images(p.images)
            self.preview_stack.setCurrentWidget(self.grid_scroll)
        elif p.series:
            for curve in self._curves.values():
                curve.setData([], [])
            for split, rows, values in p.series:
                self._curves[split].setData(rows, values)
            self.series_plot.setLabel("left", p.series_label)
            self.series_plot.enableAutoRange()
            self.preview_stack.setCurrentWidget(self.series_plot)
        elif p.excerpt:
            self.excerpt.setPlainText(p.excerpt)
            self.preview_stack.setCurrentWidget(self.excerpt)
        else:
            self._clear_preview("This dataset has no picture to show.")
        self._fit_line = ""
        self._render_summary()
        self._show_class_chart(p)

    def _set_fit_line(self, text: str, ok: bool | None) -> None:
        if ok is None:
            color = muted_color(self.palette())
        elif ok:
            color = QColor("#66BB6A") if is_dark(self.palette()) else QColor("#2E7D32")
        else:
            color = error_color(self.palette())
        mark = "✓ " if ok else ("✗ " if ok is False else "")
        self._fit_line = f"<span style='color:{color.name()}'>{mark}{_html(text)}</span>"
        self._render_summary()

    def _render_summary(self) -> None:
        p = self._preview
        if p is None:
            self.summary.setText("")
            return
        muted = muted_color(self.palette()).name()
        train, val, test = p.sizes

        def row(label: str, value: str) -> str:
            return (f"<tr><td style='color:{muted}; padding-right:6px'>{label}</td>"
                    f"<td>{value}</td></tr>")

        def split(name: str, n: int) -> str:  # coloured like the bars and the curves
            return f"<span style='color:{SPLIT_COLORS[name]}'>{name}</span> {n:,}"

        rows = [row("Samples", f"{split('train', train)} · {split('val', val)} · "
                               f"{split('test', test)}"),
                row("Sample", _shape_text(p.sample_shape, p.fit_bundle.normalization))]
        rows += [row(label, _html(text))
                 for label, text in get_task(p.task).describe_data(p.fit_bundle)]
        if self._fit_line:
            rows.append(row("Network", self._fit_line))
        self.summary.setText(
            f"<div style='color:{muted}'>{_html(p.source)}</div>"
            f"<table style='margin-top:4px' cellspacing='0' cellpadding='1'>{''.join(rows)}"
            "</table>")

    def _show_class_chart(self, p: DataPreview) -> None:
        for bar in self._bars:
            self.class_chart.removeItem(bar)
        self._bars = []
        counts = p.class_counts
        if counts is None or len(counts) == 0 or len(counts) > 100:
            self.class_chart.setVisible(False)
            return
        xs = np.arange(len(counts))
        bottom = np.zeros(len(counts))
        for j, split in enumerate(("train", "val", "test")):
            bar = pg.BarGraphItem(x=xs, y0=bottom, height=counts[:, j], width=0.75,
                                  brush=SPLIT_COLORS[split], pen=None)
            self.class_chart.addItem(bar)
            self._bars.append(bar)
            bottom = bottom + counts[:, j]
        names = p.class_names or [str(i) for i in xs]
        step = max(1, math.ceil(len(names) / 12))
        limit = max(4, int(250 / (len(names) / step) / 7))  # ~7 px a character
        self.class_chart.getAxis("bottom").setTicks(
            [[(i, _short(names[i], limit)) for i in range(0, len(names), step)]])
        self.class_chart.setXRange(-0.6, len(counts) - 0.4, padding=0)
        self.class_chart.setYRange(0, float(bottom.max()) * 1.05 or 1, padding=0)
        self.class_chart.setToolTip("Samples per class: " + ", ".join(
            f"{names[i]} {int(bottom[i]):,}" for i in range(len(names)))
            + " (train / val / test stacked)")
        self.class_chart.setVisible(True)

    # ---- read-outs (tests, other panels) --------------------------------------------------
    @property
    def preview(self) -> DataPreview | None:
        """The last successful load's preview (None while none or after a failure)."""
        return self._preview

    def preview_kind(self) -> str:
        """Which preview is showing: "images", "series", "text" or "" (none)."""
        current = self.preview_stack.currentWidget()
        return {self.grid_scroll: "images", self.series_plot: "series",
                self.excerpt: "text"}.get(current, "")

    def split_sizes(self) -> tuple[int, int, int] | None:
        return self._preview.sizes if self._preview else None

    def class_counts(self) -> dict[str, int]:
        """Samples per class over all splits (classification only)."""
        p = self._preview
        if p is None or p.class_counts is None:
            return {}
        names = p.class_names or [str(i) for i in range(len(p.class_counts))]
        return {names[i]: int(p.class_counts[i].sum()) for i in range(len(p.class_counts))}

    def series_points(self) -> dict[str, int]:
        """Number of plotted (finite) points per split curve."""
        out = {}
        for split, curve in self._curves.items():
            _, ys = curve.getData()
            out[split] = 0 if ys is None else int(np.isfinite(ys).sum())
        return out

    def excerpt_text(self) -> str:
        return self.excerpt.toPlainText()

    def summary_text(self) -> str:
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.summary.text())
        return doc.toPlainText()


# ---- helpers ------------------------------------------------------------------------------------

def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _split_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _short(name: str, limit: int = 6) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _shape_text(shape: tuple[int, ...], norm: dict[str, Any]) -> str:
    dims = " × ".join(str(d) for d in shape)
    kind = norm.get("kind")
    if kind == "image":
        what = "RGB" if norm.get("channels") == 3 else "grayscale"
        flat = ", flattened" if norm.get("flatten") else ""
        size = norm.get("size") or []
        return f"{dims} ({what} {'×'.join(str(s) for s in size)}{flat})"
    if kind == "series":
        return f"{dims} (rows × features)"
    if kind == "text":
        return f"{dims} character ids"
    return dims
