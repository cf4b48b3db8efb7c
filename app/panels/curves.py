"""Live training curves: loss per batch, loss and metric per epoch, learning rate.

``TrainingCurves`` is a plain widget fed by its caller (the training panel turns the trainer's
``BatchEnd``/``EpochEnd`` events into ``add_batches``/``add_epoch`` calls); it starts no thread
and imports no trainer. Points are appended to preallocated numpy buffers that double when
full, and the curves are redrawn at most once per ``REDRAW_INTERVAL_MS`` with ``setData`` on
views of those buffers, so a burst of calls costs one redraw.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (QFileDialog, QGraphicsItem, QHBoxLayout, QLabel,
                               QMessageBox, QPushButton, QSizePolicy, QSlider, QVBoxLayout,
                               QWidget)

from app.editor.style import is_dark, muted_color
from app.status_line import StatusLine
from graph.fileio import atomic_write_bytes
from graph.formatting import format_count

pg.setConfigOptions(antialias=False)  # live curves: aliased lines are much cheaper to draw

LEFT_AXIS_WIDTH = 56  # px: room for labels like 0.0003 or 1e-05 and the axis title
STEP_EXTENT_MIN = 10  # the step axes start at 0..10 and grow to the next round number
EPOCH_EXTENT_MIN = 2  # the epoch axes start at 1..2
REDRAW_INTERVAL_MS = 200  # curves redraw between two drains (workers.DRAIN_MS): never in the same stall
DEFAULT_SMOOTHING = 0.6


# ---- plain data --------------------------------------------------------------------------
def _floats(values) -> np.ndarray:
    return np.array(values if values is not None else [], dtype=np.float64).reshape(-1)


@dataclass(eq=False)
class CurveRun:
    """The curves of one training run, as kept in the run history and drawn as an overlay.

    ``steps``/``losses`` are per batch (global optimizer step, 1-based as in ``BatchEnd``);
    ``epochs`` and the four per-epoch arrays are per epoch, ``epochs`` 0-based as in
    ``EpochEnd`` (drawn as ``epoch + 1``). Metrics are raw values (accuracy as a fraction);
    NaN means "not measured". ``metric`` names the metric ("accuracy", "mae"); empty when
    unknown.
    """

    label: str
    steps: np.ndarray = field(default_factory=lambda: np.empty(0))
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    epochs: np.ndarray = field(default_factory=lambda: np.empty(0))
    train_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    val_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    train_metric: np.ndarray = field(default_factory=lambda: np.empty(0))
    val_metric: np.ndarray = field(default_factory=lambda: np.empty(0))
    metric: str = ""

    def __post_init__(self) -> None:
        for name in ("steps", "losses", "epochs", "train_loss", "val_loss", "train_metric",
                     "val_metric"):
            setattr(self, name, _floats(getattr(self, name)))


class _Columns:
    """Float64 columns in one preallocated array that doubles its capacity when full."""

    def __init__(self, columns: int, capacity: int = 1024) -> None:
        self._data = np.empty((columns, capacity))
        self.size = 0

    def append(self, *columns: np.ndarray) -> None:
        k = len(columns[0])
        need = self.size + k
        if need > self._data.shape[1]:
            grown = np.empty((self._data.shape[0], max(need, 2 * self._data.shape[1])))
            grown[:, :self.size] = self._data[:, :self.size]
            self._data = grown
        for row, values in enumerate(columns):
            self._data[row, self.size:need] = values
        self.size = need

    def column(self, row: int) -> np.ndarray:
        """A view of the filled part of one column (valid until the next append)."""
        return self._data[row, :self.size]

    def clear(self) -> None:
        self.size = 0
        if self._data.shape[1] > 1 << 16:  # give a long run's memory back
            self._data = np.empty((self._data.shape[0], 1024))


def round_up(x: float, minimum: float = STEP_EXTENT_MIN) -> float:
    """The first of 10, 15, 20, 30, 40, 50, 75, 100, 150... (``minimum`` times 1, 1.5, 2, 3,
    4, 5, 7.5 and their multiples of ten) at or above ``x``: at most 1.5x."""
    decade = float(minimum)
    while True:
        for factor in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5):
            if decade * factor >= x:
                return decade * factor
        decade *= 10


def refit(old: tuple[float, float] | None, lo: float, hi: float, pad: float = 0.1,
          grow: float = 0.5, ceiling: float | None = None) -> tuple[float, float] | None:
    """A live axis range that moves in coarse steps, for data spanning ``lo..hi``.

    None (keep ``old``) while ``old`` holds the data and is at most twice as tall as they
    need: a changed range re-renders the axis (ticks, labels, grid), most of a live redraw's
    cost, so it should change rarely, not with every point. A first fit, or one after the data
    have shrunk to under half the range: ``lo..hi`` with ``pad`` of their span on each side.
    Data past an edge: that edge moves past them by ``grow`` of the span (or of the old
    range, if taller), so a curve that keeps falling (a loss) or rising (an accuracy) crosses
    an edge a few times in a run, not at every update.
    Never below zero for data that are all >= 0, never above ``ceiling`` (100%) for data
    under it.
    """
    span = max(hi - lo, abs(hi) * 1e-3, 1e-9)
    if old is None or (hi - lo) * 2 < old[1] - old[0]:
        new_lo, new_hi = lo - span * pad, hi + span * pad
    elif lo < old[0] or hi > old[1]:
        reach = max(span, old[1] - old[0])  # the range at least grows by half each time
        new_lo = lo - reach * grow if lo < old[0] else old[0]
        new_hi = hi + reach * grow if hi > old[1] else old[1]
    else:
        return None
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    if ceiling is not None and hi <= ceiling:
        new_hi = min(new_hi, ceiling)
    return new_lo, new_hi


def _bounds(*arrays: np.ndarray) -> tuple[float, float] | None:
    """(min, max) of the finite values of ``arrays``; None if there are none."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if len(a)]
    if not finite:
        return None
    return min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)


def _as_arrays(bounds: tuple[float, float] | None) -> tuple[np.ndarray, ...]:
    """Earlier (min, max) as an array to merge into ``_bounds``; nothing if there were none."""
    return (np.array(bounds),) if bounds else ()


def ema(values: np.ndarray, factor: float, last: float = 0.0,
        count: int = 0) -> tuple[np.ndarray, float, int]:
    """Exponential moving average with bias correction, as TensorBoard smooths scalars.

    ``last`` is the running (biased) average and ``count`` the number of finite values seen
    before ``values``; returns ``(smoothed, last, count)`` so a caller can continue where it
    stopped. Non-finite values leave the state alone and come out as NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    x = values[finite]
    if len(x) == 0:
        return out, last, count
    w = float(factor)
    # a plain loop: 150k points in ~15 ms, and no scipy import (half a second) at startup
    biased = np.empty(len(x))
    acc, keep = last, 1.0 - w
    for i, v in enumerate(x.tolist()):
        acc = acc * w + keep * v
        biased[i] = acc
    counts = np.arange(count + 1, count + 1 + len(x), dtype=np.float64)
    out[finite] = biased / (1.0 - np.power(w, counts))
    return out, float(biased[-1]), count + len(x)


# ---- appearance --------------------------------------------------------------------------
@dataclass
class _Theme:
    background: QColor
    foreground: QColor
    muted: QColor
    train: QColor
    val: QColor
    lr: QColor
    overlays: tuple[QColor, ...]


def _theme(palette: QPalette) -> _Theme:
    dark = is_dark(palette)
    if dark:
        train, val, lr = "#5AA9F0", "#FFA64D", "#7BD88F"
        overlays = ("#B8B8B8", "#C89BE6", "#6ED3CF", "#E6A3B8", "#D4C27A")
    else:
        train, val, lr = "#1F63B5", "#D9660B", "#2E8B3E"
        overlays = ("#6E6E6E", "#8B5FBF", "#238B85", "#B8507A", "#8C7A20")
    return _Theme(palette.color(QPalette.ColorRole.Base),
                  palette.color(QPalette.ColorRole.WindowText), muted_color(palette),
                  QColor(train), QColor(val), QColor(lr), tuple(QColor(c) for c in overlays))


def _pen(color: QColor, width: float = 1.0, alpha: int = 255,
         style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    c = QColor(color)
    c.setAlpha(alpha)
    pen = pg.mkPen(c, width=width, style=style)
    pen.setCosmetic(True)
    return pen


class _EpochAxis(pg.AxisItem):
    """An axis with ticks on whole numbers only (epoch 1, 2, 3 — never 2.5)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph's name
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if not levels:
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels


def format_rate(value: float) -> str:
    """A learning rate as a short tick label: 0.01, 0.001, 5e-4, 2.5e-5."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


class _RateAxis(pg.AxisItem):
    """Learning-rate ticks in one short notation on linear and log axes alike."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        if self.logMode:  # label the decades only: minor ticks' labels overlap in a short plot
            return [format_rate(10.0 ** v) if abs(v - round(v)) < 1e-6 else "" for v in values]
        return [format_rate(v * scale) for v in values]


def metric_title(metric: str) -> str:
    """How a metric is named on screen: "Accuracy (%)", "MAE", "Metric"."""
    if not metric:
        return "Metric"
    if metric.lower() == "accuracy":
        return "Accuracy (%)"
    return metric.upper() if len(metric) <= 4 else metric.replace("_", " ").capitalize()


def _metric_scale(metric: str) -> float:
    return 100.0 if metric.lower() == "accuracy" else 1.0


class OverlayLayer(pg.GraphicsObject):
    """Earlier runs' curves of one plot, drawn by one item and cached as one picture.

    As separate plot items every earlier run cost each live redraw a Python paint call and a
    dashed stroke of all its points (~0.1% of a core per run while training); here they cost
    one cached blit, whatever their number, and are drawn again only when the axes change.
    Curves longer than ``MAX_POINTS`` are reduced to each bucket's minimum and maximum
    (peaks kept), as the live curves are downsampled.
    """

    MAX_POINTS = 4000

    def __init__(self) -> None:
        super().__init__()
        self.curves: list[tuple[np.ndarray, np.ndarray, QPen]] = []
        self._paths: list[tuple[QPainterPath, QPen]] | None = None
        self._bounds = QRectF()
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def add(self, x: np.ndarray, y: np.ndarray, pen: QPen) -> None:
        x, y = peak_downsample(np.asarray(x, float), np.asarray(y, float), self.MAX_POINTS)
        self.prepareGeometryChange()
        self.curves.append((x, y, pen))
        rect = QRectF(float(x.min()), float(y.min()), float(np.ptp(x)), float(np.ptp(y)))
        self._bounds = rect if self._bounds.isNull() else self._bounds.united(rect)
        self._paths = None
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.curves, self._paths, self._bounds = [], None, QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        if self._bounds.isNull():
            return QRectF()
        # cosmetic pens are drawn a pixel or two wide around the data: two pixels of margin
        px, py = self.pixelWidth() or 0.0, self.pixelHeight() or 0.0
        return self._bounds.adjusted(-2 * px, -2 * py, 2 * px, 2 * py)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph's name
        self.prepareGeometryChange()  # the margin above is in pixels: new data units

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._paths is None:
            self._paths = [(pg.arrayToQPath(x, y, connect="finite"), pen)
                           for x, y, pen in self.curves]
        for path, pen in self._paths:
            painter.setPen(pen)
            painter.drawPath(path)


def peak_downsample(x: np.ndarray, y: np.ndarray,
                    max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: consecutive buckets each reduced to their minimum and
    maximum, in order (the look of the whole curve, spikes included), then the last point."""
    n = len(x)
    if n <= max_points:
        return x, y
    size = -(-n // ((max_points - 1) // 2))  # two points a bucket, and the last point
    buckets = -(-n // size)
    pad = buckets * size - n  # < size: no bucket is all padding
    yb = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    xb = np.concatenate([x, np.full(pad, x[-1])]).reshape(buckets, size)
    lo, hi = np.nanargmin(yb, axis=1), np.nanargmax(yb, axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    rows = np.arange(buckets)
    xs = np.stack([xb[rows, first], xb[rows, second]], axis=1).reshape(-1)
    ys = np.stack([yb[rows, first], yb[rows, second]], axis=1).reshape(-1)
    return np.append(xs, x[-1]), np.append(ys, y[-1])  # the line ends where the run ended


# ---- the widget --------------------------------------------------------------------------
class TrainingCurves(QWidget):
    """Four live plots of a training run plus earlier runs drawn faded and dashed.

    Feed it with ``add_batches`` (a few points ~20 times a second) and ``add_epoch``; call
    ``clear`` before a new run and ``set_overlays`` with the run history. ``current_run``
    snapshots what is drawn for that history.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._metric = ""
        self._factor = DEFAULT_SMOOTHING
        # step, raw loss, smoothed loss, learning rate
        self._batches = _Columns(4)
        self._ema_last, self._ema_count = 0.0, 0
        self._lr_min, self._lr_max = math.inf, 0.0  # over positive rates, for the log axis
        # (min, max) of the finite losses and rates so far: the live y ranges, without a
        # scan of every point at each redraw
        self._loss_bounds: tuple[float, float] | None = None
        self._lr_bounds: tuple[float, float] | None = None
        # epoch (0-based), train loss, val loss, train metric, val metric
        self._epochs = _Columns(5, capacity=64)
        self._overlay_runs: list[CurveRun] = []
        # legend entries of the overlays: (plot, sample item, label); the curves themselves
        # are drawn by one OverlayLayer per plot
        self._overlay_items: list[tuple[pg.PlotItem, pg.PlotDataItem, str]] = []
        self._batches_dirty = self._epochs_dirty = self._resmooth = False
        self.redraw_count = 0  # how many times the curves were redrawn (tests, benchmarks)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.flush)

        self._build_toolbar()
        self._build_plots()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self._toolbar)
        layout.addWidget(self.plots, 1)
        self._apply_theme()
        self._update_metric_titles()

    # ---- construction -------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.setSpacing(6)
        label = QLabel("Smoothing")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(round(self._factor * 100))
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_slider.setToolTip(
            "Exponential moving average of the per-batch loss (0 = raw, 0.99 = very smooth)")
        label.setBuddy(self.smoothing_slider)
        self.smoothing_label = QLabel(f"{self._factor:.2f}")
        self.smoothing_label.setMinimumWidth(self.smoothing_label.fontMetrics()
                                             .horizontalAdvance("0.00") + 4)
        self.smoothing_slider.valueChanged.connect(
            lambda value: self.set_smoothing(value / 100.0))
        # changes with every redraw: a QLabel would re-lay out the window each time
        self.count_label = StatusLine(
            "", minimum_width=self.fontMetrics().horizontalAdvance("1,000,000 batches") + 8)
        self.count_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.export_png_button = QPushButton("Export PNG…")
        self.export_png_button.setToolTip("Save the four plots as a PNG image")
        self.export_png_button.clicked.connect(self._ask_export_png)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.setToolTip("Save the per-batch and per-epoch values as CSV")
        self.export_csv_button.clicked.connect(self._ask_export_csv)
        for widget in (label, self.smoothing_slider, self.smoothing_label):
            bar.addWidget(widget)
        bar.addSpacing(12)
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(self.export_png_button)
        bar.addWidget(self.export_csv_button)
        self._toolbar = bar

    def _build_plots(self) -> None:
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumSize(360, 190)
        self.plots.ci.setContentsMargins(4, 4, 4, 4)
        self.plots.ci.setSpacing(6)

        def make_plot(row: int, col: int, x_label: str, y_label: str, per_batch: bool,
                      legend_offset: tuple[int, int] | None) -> pg.PlotItem:
            axis = {"bottom": pg.AxisItem("bottom") if per_batch else _EpochAxis("bottom")}
            if y_label == "learning rate":
                axis["left"] = _RateAxis("left")
            plot = self.plots.addPlot(row=row, col=col, axisItems=axis)
            plot.setMenuEnabled(False)  # the context menu offers log/FFT modes that would
            plot.hideButtons()          # fight the live updates
            plot.showGrid(x=True, y=True, alpha=0.15)
            for name in ("left", "bottom"):
                # with a grid the axis covers the plot: cache it, or every new point would
                # replay its tick labels
                plot.getAxis(name).setCacheMode(
                    QGraphicsItem.CacheMode.DeviceCoordinateCache)
            plot.setLabel("bottom", x_label)
            plot.setLabel("left", y_label)
            for name in ("left", "bottom"):
                plot.getAxis(name).enableAutoSIPrefix(False)  # no "(x0.001)" in the labels
            # A fixed width: tick labels changing width ("0.5" -> "0.25") would re-flow the
            # whole layout and repaint every plot on each live update.
            plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
            if per_batch:
                plot.setDownsampling(auto=True, mode="peak")
                plot.setClipToView(True)
            if legend_offset is not None:
                # compact and translucent; a user can drag it off the curves
                plot.addLegend(offset=legend_offset, verSpacing=-5, labelTextSize="8pt")
            return plot

        # Per-batch plots share the top row, per-epoch plots the bottom one: a live update
        # dirties one strip of the view, not two opposite corners (the whole view).
        self.batch_plot = make_plot(0, 0, "step", "loss", True, (-6, 6))
        self.lr_plot = make_plot(0, 1, "step", "learning rate", True, None)
        self.epoch_plot = make_plot(1, 0, "epoch", "loss", False, (-6, 6))
        self.metric_plot = make_plot(1, 1, "epoch", "", False, (-6, 6))
        # Live ranges move in coarse steps, not with every point: a changed range re-renders
        # the axis (ticks, labels, grid), the bulk of a live redraw. The x axes span the whole
        # planned run (``plan_run``) or grow to round numbers; the y axes are refitted only
        # when a point falls outside or the range has become more than twice too tall.
        self._planned_steps, self._planned_epochs = 0, 0
        self._step_extent = self._epoch_extent = 0.0
        self._y_ranges: dict[pg.PlotItem, tuple[float, float] | None] = {}
        # (min, max) of each overlay curve, per plot: the y ranges take them in
        self._overlay_bounds: dict[pg.PlotItem, list[tuple[float, float]]] = {}
        for plot in (self.batch_plot, self.lr_plot, self.epoch_plot, self.metric_plot):
            plot.enableAutoRange(enable=False)
        self._set_step_extent(STEP_EXTENT_MIN)
        self._set_epoch_extent(EPOCH_EXTENT_MIN)
        self._titles = {self.batch_plot: "Training loss per batch",
                        self.epoch_plot: "Loss per epoch", self.metric_plot: metric_title(""),
                        self.lr_plot: "Learning rate"}

        # one item per curve for the life of the widget; setData on each update
        self.raw_curve = self.batch_plot.plot(name="raw")
        self.smooth_curve = self.batch_plot.plot(name="smoothed")
        self.train_loss_curve = self.epoch_plot.plot(name="train", symbol="o", symbolSize=5)
        self.val_loss_curve = self.epoch_plot.plot(name="validation", symbol="o", symbolSize=5)
        self.train_metric_curve = self.metric_plot.plot(name="train", symbol="o", symbolSize=5)
        self.val_metric_curve = self.metric_plot.plot(name="validation", symbol="o",
                                                      symbolSize=5)
        self.lr_curve = self.lr_plot.plot()
        self.overlay_layers = {}
        for plot in (self.batch_plot, self.epoch_plot, self.metric_plot):
            layer = OverlayLayer()
            layer.setZValue(-1)  # behind the current run
            plot.addItem(layer, ignoreBounds=True)  # the ranges are fitted here, not by pyqtgraph
            self.overlay_layers[plot] = layer
        self.raw_curve.setZValue(1)
        self.smooth_curve.setZValue(2)

    # ---- appearance ---------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        super().changeEvent(event)

    def _apply_theme(self) -> None:
        """Colours from the palette: readable on light and dark themes alike."""
        t = self._theme = _theme(self.palette())
        self.plots.setBackground(t.background)
        for plot in (self.batch_plot, self.epoch_plot, self.metric_plot, self.lr_plot):
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(_pen(t.muted))
                axis.setTextPen(_pen(t.foreground))
                plot.setLabel(name, axis.labelText, color=t.muted.name())
            plot.setTitle(self._titles.get(plot), color=t.foreground.name(), size="10pt",
                          bold=True)
            if plot.legend is not None:
                self._apply_theme_to_legend(plot.legend)
        self.raw_curve.setPen(_pen(t.train, 1, alpha=70))
        self.smooth_curve.setPen(_pen(t.train, 2))
        for curve, color in ((self.train_loss_curve, t.train), (self.val_loss_curve, t.val),
                             (self.train_metric_curve, t.train),
                             (self.val_metric_curve, t.val)):
            curve.setPen(_pen(color, 2))
            curve.setSymbolPen(_pen(color))
            curve.setSymbolBrush(color)
        self.lr_curve.setPen(_pen(t.lr, 2))
        self.count_label.setStyleSheet(f"color: {t.muted.name()}")
        if self._overlay_runs:
            self._draw_overlays()

    def _apply_theme_to_legend(self, legend: pg.LegendItem) -> None:
        t = self._theme
        brush = QColor(t.background)
        brush.setAlpha(180)  # translucent: a curve behind it stays visible
        legend.setBrush(brush)
        legend.setPen(_pen(t.muted, alpha=90))
        legend.setLabelTextColor(t.foreground)
        for _, label in legend.items:  # setLabelTextColor only sets the option
            label.setText(label.text)

    def _update_metric_titles(self) -> None:
        self._titles[self.metric_plot] = metric_title(self._metric)
        self.metric_plot.setTitle(self._titles[self.metric_plot],
                                  color=self._theme.foreground.name(), size="10pt", bold=True)
        y_label = ("accuracy (%)" if self._metric.lower() == "accuracy"
                   else metric_title(self._metric) if self._metric else "")
        self.metric_plot.setLabel("left", y_label, color=self._theme.muted.name())
        # accuracy climbs into the top right corner, an error falls away from it
        self.metric_plot.legend.setOffset((-6, -6) if self._metric.lower() == "accuracy"
                                          else (-6, 6))

    # ---- feeding ------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget the current run's points and the overlays (a new run starts)."""
        self._batches.clear()
        self._epochs.clear()
        self._ema_last, self._ema_count = 0.0, 0
        self._lr_min, self._lr_max = math.inf, 0.0
        self._loss_bounds = self._lr_bounds = None
        self._remove_overlay_items()
        self._overlay_runs = []
        self._overlay_bounds = {}
        self._y_ranges = {}
        self._planned_steps, self._planned_epochs = 0, 0
        self._batches_dirty = self._epochs_dirty = True
        self.flush()

    def plan_run(self, steps: int, epochs: int) -> None:
        """The run's planned length (its last global step and epoch): the step and epoch axes
        are laid out once for the whole run instead of growing while it trains. Cheap to call
        again with the same plan; a longer one (epochs raised while paused) widens them."""
        if (steps, epochs) == (self._planned_steps, self._planned_epochs):
            return
        self._planned_steps, self._planned_epochs = max(int(steps), 0), max(int(epochs), 0)
        self._batches_dirty = self._epochs_dirty = True
        self._schedule_redraw()

    def add_batches(self, steps: Sequence[int], losses: Sequence[float],
                    lrs: Sequence[float]) -> None:
        """Append per-batch points: global steps (increasing), losses, learning rates."""
        steps, losses, lrs = _floats(steps), _floats(losses), _floats(lrs)
        if not (len(steps) == len(losses) == len(lrs)):
            raise ValueError(f"add_batches: {len(steps)} steps, {len(losses)} losses and "
                             f"{len(lrs)} learning rates; give one of each per batch")
        if len(steps) == 0:
            return
        smoothed, self._ema_last, self._ema_count = ema(losses, self._factor, self._ema_last,
                                                        self._ema_count)
        self._batches.append(steps, losses, smoothed, lrs)
        self._loss_bounds = _bounds(losses, *_as_arrays(self._loss_bounds))
        self._lr_bounds = _bounds(lrs, *_as_arrays(self._lr_bounds))
        positive = lrs[np.isfinite(lrs) & (lrs > 0)]
        if len(positive):
            self._lr_min = min(self._lr_min, float(positive.min()))
            self._lr_max = max(self._lr_max, float(positive.max()))
        self._batches_dirty = True
        self._schedule_redraw()

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_metric: float,
                  val_metric: float, metric: str) -> None:
        """Append one epoch's summary, as in ``EpochEnd`` (``epoch`` 0-based, drawn as
        ``epoch + 1``; metrics raw, accuracy as a fraction; NaN = not measured, not drawn)."""
        if metric and metric != self._metric:
            self.set_metric_name(metric)
        self._epochs.append(*(np.array([float(v)]) for v in
                              (epoch, train_loss, val_loss, train_metric, val_metric)))
        self._epochs_dirty = True
        self._schedule_redraw()

    def set_metric_name(self, metric: str) -> None:
        """Name the metric plot ("accuracy" is shown in %, "mae" as MAE)."""
        if metric == self._metric:
            return
        self._metric = metric
        self._update_metric_titles()
        self._epochs_dirty = True
        if self._overlay_runs:
            self._draw_overlays()
        self._schedule_redraw()

    def set_overlays(self, runs: list[CurveRun]) -> None:
        """Draw earlier runs dashed and faded behind the current one, each labelled in the
        legends; replaces the previous overlays (an empty list removes them)."""
        self._overlay_runs = list(runs)
        self._draw_overlays()

    def set_smoothing(self, factor: float) -> None:
        """Set the EMA factor (0 = raw, up to 0.99) and re-smooth every point."""
        factor = min(max(float(factor), 0.0), 0.99)
        if factor == self._factor:
            return
        self._factor = factor
        self.smoothing_label.setText(f"{factor:.2f}")
        if self.smoothing_slider.value() != round(factor * 100):
            self.smoothing_slider.blockSignals(True)
            self.smoothing_slider.setValue(round(factor * 100))
            self.smoothing_slider.blockSignals(False)
        self._resmooth = True  # done at the next redraw: a slider drag costs one pass
        self._batches_dirty = True
        self._schedule_redraw()

    # ---- reading ------------------------------------------------------------------------
    def smoothing(self) -> float:
        return self._factor

    def metric_name(self) -> str:
        return self._metric

    def point_count(self) -> int:
        """How many per-batch points the widget holds."""
        return self._batches.size

    def epoch_count(self) -> int:
        return self._epochs.size

    def smoothed(self) -> np.ndarray:
        """The smoothed per-batch loss, one value per point (a copy)."""
        self._apply_resmooth()
        return self._batches.column(2).copy()

    def current_run(self, label: str = "current run") -> CurveRun:
        """A snapshot (copies) of the current run's data, for the run history."""
        b, e = self._batches, self._epochs
        return CurveRun(label, b.column(0).copy(), b.column(1).copy(), e.column(0).copy(),
                        e.column(1).copy(), e.column(2).copy(), e.column(3).copy(),
                        e.column(4).copy(), self._metric)

    # ---- drawing ------------------------------------------------------------------------
    def _schedule_redraw(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _apply_resmooth(self) -> None:
        if self._resmooth:
            self._resmooth = False
            smoothed, self._ema_last, self._ema_count = ema(self._batches.column(1),
                                                            self._factor)
            self._batches.column(2)[:] = smoothed
            if self._overlay_runs:
                self._draw_overlays()

    def flush(self) -> None:
        """Redraw pending points now (otherwise done within ``REDRAW_INTERVAL_MS``)."""
        self._redraw_timer.stop()
        self._apply_resmooth()
        if self._batches_dirty:
            self._batches_dirty = False
            b = self._batches
            steps = b.column(0)
            self.raw_curve.setData(steps, b.column(1))
            self.smooth_curve.setData(steps, b.column(2))
            self.lr_curve.setData(steps, b.column(3))
            # log axis once the rate spans a decade (warm-up, step decay, one-cycle)
            log_lr = self._lr_max > 0 and self._lr_max / self._lr_min >= 10
            if self.lr_plot.getAxis("left").logMode != log_lr:
                self.lr_plot.setLogMode(False, log_lr)
                # pyqtgraph turns auto-range back on for both axes here: keep them coarse
                self.lr_plot.enableAutoRange(enable=False)
                self.lr_plot.setXRange(0, self._step_extent, padding=0)
                self._y_ranges.pop(self.lr_plot, None)  # decades now: refit
            self._fit_live_ranges(log_lr)
            self.count_label.setText(
                f"{format_count(b.size)} batches" if b.size else "")
            self.redraw_count += 1
        if self._epochs_dirty:
            self._epochs_dirty = False
            e = self._epochs
            x = e.column(0) + 1
            scale = _metric_scale(self._metric)
            for curve, values in ((self.train_loss_curve, e.column(1)),
                                  (self.val_loss_curve, e.column(2)),
                                  (self.train_metric_curve, e.column(3) * scale),
                                  (self.val_metric_curve, e.column(4) * scale)):
                keep = np.isfinite(values)  # NaN = not measured (train metric of regression)
                curve.setData(x[keep], values[keep])
            self._sync_metric_legend()
            last = max([float(x[-1]) if len(x) else 1.0,
                        *(float(r.epochs.max()) + 1 for r in self._overlay_runs
                          if len(r.epochs))])
            planned = max(self._planned_epochs, EPOCH_EXTENT_MIN) if self._planned_epochs \
                else 0
            self._set_epoch_extent(planned if last <= planned
                                   else round_up(last, EPOCH_EXTENT_MIN))
            self._fit_y(self.epoch_plot, _bounds(e.column(1), e.column(2)))
            self._fit_y(self.metric_plot, _bounds(e.column(3) * scale, e.column(4) * scale),
                        ceiling=100.0 if scale == 100.0 else None)  # accuracy in %

    def _fit_live_ranges(self, log_lr: bool) -> None:
        """Step axes: the planned run, or a round number past the last step (this run's or an
        overlay's). Loss and rate axes: refitted in coarse steps (``refit``)."""
        steps = self._batches.column(0)
        last = max([float(steps[-1]) if len(steps) else 0.0,
                    *(float(r.steps.max()) for r in self._overlay_runs if len(r.steps))])
        planned = self._planned_steps
        self._set_step_extent(planned if planned and last <= planned else round_up(last))
        self._fit_y(self.batch_plot, self._loss_bounds)
        if 0 < self._lr_max <= self._lr_min * (1 + 1e-9):
            # a constant rate: shown against zero, not at the centre of a meaningless range
            self._set_y(self.lr_plot, (0.0, 2 * self._lr_max))
        elif log_lr:  # the view of a log axis is in decades; zero rates are not drawn
            self._fit_y(self.lr_plot, (math.log10(self._lr_min), math.log10(self._lr_max)))
        else:
            self._fit_y(self.lr_plot, self._lr_bounds)

    def _set_step_extent(self, extent: float) -> None:
        if extent != self._step_extent:
            self._step_extent = extent
            for plot in (self.batch_plot, self.lr_plot):
                plot.setXRange(0, extent, padding=0)

    def _set_epoch_extent(self, extent: float) -> None:
        if extent != self._epoch_extent:
            self._epoch_extent = extent
            for plot in (self.epoch_plot, self.metric_plot):
                plot.setXRange(1, extent, padding=0.05)

    def _fit_y(self, plot: pg.PlotItem, bounds: tuple[float, float] | None,
               ceiling: float | None = None) -> None:
        """Refit ``plot``'s y range to data spanning ``bounds`` and its overlays' curves,
        coarsely."""
        found = ([bounds] if bounds else []) + self._overlay_bounds.get(plot, [])
        if not found:
            return
        fitted = refit(self._y_ranges.get(plot), min(b[0] for b in found),
                       max(b[1] for b in found), ceiling=ceiling)
        if fitted is not None:
            self._set_y(plot, fitted)

    def _set_y(self, plot: pg.PlotItem, y_range: tuple[float, float]) -> None:
        if self._y_ranges.get(plot) != y_range:
            self._y_ranges[plot] = y_range
            plot.setYRange(*y_range, padding=0)

    def _sync_metric_legend(self) -> None:
        """No "train" entry in the metric legend when no train metric was measured."""
        legend = self.metric_plot.legend
        show_train = self._epochs.size == 0 or bool(np.isfinite(self._epochs.column(3)).any())
        shown = any(sample.item is self.train_metric_curve for sample, _ in legend.items)
        if shown == show_train:
            return
        legend.clear()  # re-added in order: train, validation, overlays
        if show_train:
            legend.addItem(self.train_metric_curve, "train")
        legend.addItem(self.val_metric_curve, "validation")
        for plot, item, label in self._overlay_items:
            if plot is self.metric_plot and label:
                legend.addItem(item, label)
        self._apply_theme_to_legend(legend)

    def _remove_overlay_items(self) -> None:
        for layer in self.overlay_layers.values():
            layer.clear()
        for plot, item, _ in self._overlay_items:
            plot.legend.removeItem(item)
        self._overlay_items = []

    def _draw_overlays(self) -> None:
        self._remove_overlay_items()
        self._overlay_bounds = {}
        t = self._theme
        scale = _metric_scale(self._metric)
        for i, run in enumerate(self._overlay_runs):
            color = t.overlays[i % len(t.overlays)]
            dashed = _pen(color, 1.5, alpha=170, style=Qt.PenStyle.DashLine)
            dotted = _pen(color, 1.5, alpha=150, style=Qt.PenStyle.DotLine)
            if len(run.steps):
                smoothed = ema(run.losses, self._factor)[0]
                self._add_overlay(self.batch_plot, run.steps, smoothed, dashed, run.label)
            epochs = run.epochs + 1
            # train dotted, validation dashed; the legend names the run once per plot
            self._add_overlay(self.epoch_plot, epochs, run.train_loss, dotted, None)
            self._add_overlay(self.epoch_plot, epochs, run.val_loss, dashed, run.label)
            if not run.metric or run.metric == self._metric:  # never mix accuracy and MAE
                self._add_overlay(self.metric_plot, epochs, run.train_metric * scale, dotted,
                                  None)
                self._add_overlay(self.metric_plot, epochs, run.val_metric * scale, dashed,
                                  run.label)
        self._epochs_dirty = True  # the epoch axes may need to reach the overlays' last epoch
        self._batches_dirty = True  # and the step and loss axes the overlays' extent
        self._schedule_redraw()

    def _add_overlay(self, plot: pg.PlotItem, x: np.ndarray, y: np.ndarray, pen: QPen,
                     label: str | None) -> None:
        n = min(len(x), len(y))
        x, y = np.asarray(x[:n], float), np.asarray(y[:n], float)
        keep = np.isfinite(y)
        if not keep.any():
            return
        self.overlay_layers[plot].add(x[keep], y[keep], pen)
        self._overlay_bounds.setdefault(plot, []).append(_bounds(y[keep]))
        if label:  # the legend's sample: an empty item with the overlay's pen
            sample = pg.PlotDataItem(pen=pen, name=label)
            plot.legend.addItem(sample, label)
            self._overlay_items.append((plot, sample, label))

    def overlay_labels(self, plot: pg.PlotItem | None = None) -> list[str]:
        """The overlay labels shown in ``plot``'s legend (the batch plot's by default)."""
        plot = plot or self.batch_plot
        return [label for p, _, label in self._overlay_items if p is plot and label]

    # ---- export -------------------------------------------------------------------------
    def export_csv(self, path: str) -> None:
        """Write the current run as one CSV file (atomically) in two tables separated by
        one blank line::

            step,loss,smoothed_loss,lr
            1,2.31,2.31,0.001
            ...

            epoch,train_loss,val_loss,train_metric,val_metric
            1,0.52,0.48,0.85,0.87
            ...

        ``epoch`` is 1-based (epochs completed), as on the plot; metrics are raw (accuracy
        as a fraction, not %); a value that was not measured (NaN) is an empty cell.
        """
        self._apply_resmooth()

        def cell(v: float) -> str:
            return "" if math.isnan(v) else repr(float(v))

        out = io.StringIO()
        out.write("step,loss,smoothed_loss,lr\n")
        b = self._batches
        for step, loss, smooth, lr in zip(*(b.column(i).tolist() for i in range(4))):
            out.write(f"{int(step)},{cell(loss)},{cell(smooth)},{cell(lr)}\n")
        out.write("\nepoch,train_loss,val_loss,train_metric,val_metric\n")
        e = self._epochs
        for epoch, *values in zip(*(e.column(i).tolist() for i in range(5))):
            out.write(f"{int(epoch) + 1}," + ",".join(cell(v) for v in values) + "\n")
        atomic_write_bytes(path, out.getvalue().encode("utf-8"))

    def render_image(self, scale: float = 2.0) -> QImage:
        """The plot area as the user sees it, rendered at ``scale`` x its size (sharp
        text and lines on a report or a high-dpi screen)."""
        self.flush()
        view = self.plots
        if not view.isVisible() and (view.width() < 960 or view.height() < 600):
            # never laid out (exported from a hidden panel): give it a size a reader can use;
            # a hidden widget gets its resize event only when shown, and pyqtgraph lays the
            # plots out in that handler (which ignores its argument)
            view.resize(max(view.width(), 960), max(view.height(), 600))
            view.resizeEvent(None)
        source = view.sceneRect()
        image = QImage(round(source.width() * scale), round(source.height() * scale),
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(scale)  # logical coordinates; pens and text scale with it
        image.fill(self._theme.background)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        view.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
        painter.end()
        return image

    def export_png(self, path: str, scale: float = 2.0) -> None:
        """Write the whole plot area as a PNG (atomically), ``scale`` x its on-screen size."""
        image = self.render_image(scale)
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not image.save(buffer, "PNG"):
            raise OSError(f"could not encode the curves as PNG for {path}")
        buffer.close()
        atomic_write_bytes(path, bytes(data.data()))

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export training curves",
                                              "training-curves.png", "PNG image (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self._export(self.export_png, path)

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export training values",
                                              "training-curves.csv", "CSV file (*.csv)")
        if path:
            if not path.lower().endswith(".csv"):
                path += ".csv"
            self._export(self.export_csv, path)

    def _export(self, export, path: str) -> None:
        try:
            export(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed",
                                f"Could not write {path}:\n{exc}\n\nChoose another folder "
                                "or file name.")
