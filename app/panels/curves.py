"""Live training curves: loss per batch, loss and metric per epoch, learning rate.

``TrainingCurves`` is a plain widget fed by its caller (the training panel turns the trainer's
``BatchEnd``/``EpochEnd`` events into ``add_batches``/``add_epoch`` calls); it starts no thread
and imports no trainer. Points are appended to preallocated numpy buffers that double when
full, and the curves are redrawn at most once per ``REDRAW_INTERVAL_MS`` with ``setData`` on
views of those buffers, so a burst of calls costs one redraw.

The widget puts together small objects with one job each: ``LiveCurveData`` (the buffers and
the smoothing, in ``curve_data``), ``CurvePlots`` (the plots and their styling,
``curve_plots``), ``EarlierRuns`` (the overlays of earlier runs, ``curve_overlays``),
``LiveRanges`` (how the axes move, ``curve_ranges``) and the exports (``curve_export``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QSlider, QStackedWidget, QVBoxLayout, QWidget)

from app.panels.curve_data import CurveRun, LiveCurveData, ema
from app.panels.curve_export import (CurveExportDialogs, render_plots, write_curves_csv,
                                     write_png)
from app.panels.curve_overlays import EarlierRuns, OverlayLayer, peak_downsample
from app.panels.curve_plots import (LEFT_AXIS_WIDTH, CurvePlots, format_rate, metric_scale,
                                    metric_title)
from app.panels.curve_ranges import EPOCH_EXTENT_MIN, STEP_EXTENT_MIN, LiveRanges, refit, round_up
from app.status_line import StatusLine
from graph.formatting import format_count

__all__ = ["CurveRun", "DEFAULT_SMOOTHING", "EPOCH_EXTENT_MIN", "LEFT_AXIS_WIDTH", "OverlayLayer",
           "REDRAW_INTERVAL_MS", "STEP_EXTENT_MIN", "TrainingCurves", "ema", "format_rate",
           "metric_title", "peak_downsample", "refit", "round_up"]

REDRAW_INTERVAL_MS = 200  # curves redraw between two drains (workers.DRAIN_MS): never in the same stall
DEFAULT_SMOOTHING = 0.6
EMPTY_TEXT = ("Loss and accuracy curves appear here while the network trains. "
              "Press Train to start.")
WAITING_TEXT = "Training has started: the curves appear with the first batches."


class TrainingCurves(QWidget):
    """Four live plots of a training run plus earlier runs drawn faded and dashed.

    Feed it with ``add_batches`` (a few points ~20 times a second) and ``add_epoch``; call
    ``clear`` before a new run and ``set_overlays`` with the run history. ``current_run``
    snapshots what is drawn for that history.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = LiveCurveData(DEFAULT_SMOOTHING)
        self._batches_dirty = self._epochs_dirty = False
        self.redraw_count = 0  # how many times the curves were redrawn (tests, benchmarks)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.flush)

        self._export_dialogs = CurveExportDialogs(self)
        self._build_toolbar()
        self.curve_plots = CurvePlots()
        self.overlays = EarlierRuns(self.curve_plots)
        self.ranges = LiveRanges(self.curve_plots, self.data, self.overlays)
        # the plots and curves under their own names, for the panel, tests and benchmarks
        p = self.curve_plots
        self.plots = p.widget
        self.batch_plot, self.lr_plot = p.batch_plot, p.lr_plot
        self.epoch_plot, self.metric_plot = p.epoch_plot, p.metric_plot
        self.raw_curve, self.smooth_curve, self.lr_curve = p.raw_curve, p.smooth_curve, p.lr_curve
        self.train_loss_curve, self.val_loss_curve = p.train_loss_curve, p.val_loss_curve
        self.train_metric_curve, self.val_metric_curve = p.train_metric_curve, p.val_metric_curve
        self.overlay_layers = p.overlay_layers

        # before the first point a message, not empty axes; a panel shorter than the plots'
        # readable height scrolls them (its own minimum height stays small: see field notes)
        self.empty_state = QLabel(EMPTY_TEXT, wordWrap=True)
        self.empty_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_state.setMargin(12)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.plots)
        self._pages = QStackedWidget()
        self._pages.addWidget(self.empty_state)
        self._pages.addWidget(self.scroll)  # the empty state is shown first

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self._toolbar)
        layout.addWidget(self._pages, 1)
        self._apply_theme()
        self.curve_plots.show_metric_name(self.data.metric)

    def _build_toolbar(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.setSpacing(6)
        label = QLabel("Smoothing")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(round(self.data.factor * 100))
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_slider.setToolTip(
            "Exponential moving average of the per-batch loss (0 = raw, 0.99 = very smooth)")
        label.setBuddy(self.smoothing_slider)
        self.smoothing_label = QLabel(f"{self.data.factor:.2f}")
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
        self.export_png_button.clicked.connect(self._export_dialogs.ask_png)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.setToolTip("Save the per-batch and per-epoch values as CSV")
        self.export_csv_button.clicked.connect(self._export_dialogs.ask_csv)
        for button in (self.export_png_button, self.export_csv_button):
            button.setEnabled(False)  # until there is something to export (_show_plots)
        for widget in (label, self.smoothing_slider, self.smoothing_label):
            bar.addWidget(widget)
        bar.addSpacing(12)
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(self.export_png_button)
        bar.addWidget(self.export_csv_button)
        self._toolbar = bar

    # ---- appearance ---------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        super().changeEvent(event)

    def _apply_theme(self) -> None:
        """Colours from the palette: readable on light and dark themes alike."""
        self.curve_plots.apply_theme(self.palette())
        muted = self.curve_plots.theme.muted.name()
        self.count_label.setStyleSheet(f"color: {muted}")
        self.empty_state.setStyleSheet(f"color: {muted}; font-size: 11pt")
        if self.overlays.runs:
            self._draw_overlays()

    # ---- feeding ------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget the current run's points and the overlays (a new run starts)."""
        self.data.clear()
        self.overlays.clear()
        self.ranges.reset()
        self.empty_state.setText(EMPTY_TEXT)
        self._batches_dirty = self._epochs_dirty = True
        self.flush()

    def plan_run(self, steps: int, epochs: int) -> None:
        """The run's planned length (its last global step and epoch): the step and epoch axes
        are laid out once for the whole run instead of growing while it trains. Cheap to call
        again with the same plan; a longer one (epochs raised while paused) widens them."""
        if not self.ranges.plan(steps, epochs):
            return
        self.empty_state.setText(WAITING_TEXT)
        self._batches_dirty = self._epochs_dirty = True
        self._schedule_redraw()

    def add_batches(self, steps: Sequence[int], losses: Sequence[float],
                    lrs: Sequence[float]) -> None:
        """Append per-batch points: global steps (increasing), losses, learning rates."""
        if not self.data.add_batches(steps, losses, lrs):
            return
        self._batches_dirty = True
        self._schedule_redraw()

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_metric: float,
                  val_metric: float, metric: str) -> None:
        """Append one epoch's summary, as in ``EpochEnd`` (``epoch`` 0-based, drawn as
        ``epoch + 1``; metrics raw, accuracy as a fraction; NaN = not measured, not drawn)."""
        if metric and metric != self.data.metric:
            self.set_metric_name(metric)
        self.data.add_epoch(epoch, train_loss, val_loss, train_metric, val_metric)
        self._epochs_dirty = True
        self._schedule_redraw()

    def set_metric_name(self, metric: str) -> None:
        """Name the metric plot ("accuracy" is shown in %, "mae" as MAE)."""
        if metric == self.data.metric:
            return
        self.data.metric = metric
        self.curve_plots.show_metric_name(metric)
        self._epochs_dirty = True
        if self.overlays.runs:
            self._draw_overlays()
        self._schedule_redraw()

    def set_overlays(self, runs: list[CurveRun]) -> None:
        """Draw earlier runs dashed and faded behind the current one, each labelled in the
        legends; replaces the previous overlays (an empty list removes them)."""
        self.overlays.runs = list(runs)
        self._draw_overlays()

    def set_smoothing(self, factor: float) -> None:
        """Set the EMA factor (0 = raw, up to 0.99) and re-smooth every point."""
        factor = min(max(float(factor), 0.0), 0.99)
        if factor == self.data.factor:
            return
        self.data.factor = factor
        self.smoothing_label.setText(f"{factor:.2f}")
        if self.smoothing_slider.value() != round(factor * 100):
            self.smoothing_slider.blockSignals(True)
            self.smoothing_slider.setValue(round(factor * 100))
            self.smoothing_slider.blockSignals(False)
        self.data.resmooth_pending = True  # done at the next redraw: a slider drag costs one pass
        self._batches_dirty = True
        self._schedule_redraw()

    # ---- reading ------------------------------------------------------------------------
    def smoothing(self) -> float:
        return self.data.factor

    def metric_name(self) -> str:
        return self.data.metric

    def point_count(self) -> int:
        """How many per-batch points the widget holds."""
        return self.data.batches.size

    def epoch_count(self) -> int:
        return self.data.epochs.size

    def smoothed(self) -> np.ndarray:
        """The smoothed per-batch loss, one value per point (a copy)."""
        self._apply_resmooth()
        return self.data.batches.column(2).copy()

    def current_run(self, label: str = "current run") -> CurveRun:
        """A snapshot (copies) of the current run's data, for the run history."""
        return self.data.snapshot(label)

    def overlay_labels(self, plot: pg.PlotItem | None = None) -> list[str]:
        """The overlay labels shown in ``plot``'s legend (the batch plot's by default)."""
        return self.overlays.labels(plot or self.batch_plot)

    # ---- drawing ------------------------------------------------------------------------
    def _schedule_redraw(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _apply_resmooth(self) -> None:
        if self.data.resmooth() and self.overlays.runs:
            self._draw_overlays()  # the earlier runs' batch losses are smoothed alike

    def flush(self) -> None:
        """Redraw pending points now (otherwise done within ``REDRAW_INTERVAL_MS``)."""
        self._redraw_timer.stop()
        self._apply_resmooth()
        data = self.data
        if self._batches_dirty:
            self._batches_dirty = False
            b = data.batches
            steps = b.column(0)
            self.raw_curve.setData(steps, b.column(1))
            self.smooth_curve.setData(steps, b.column(2))
            self.lr_curve.setData(steps, b.column(3))
            log_lr = data.log_rate()
            self.ranges.show_rate_log(log_lr)
            self.ranges.fit_steps(log_lr)
            self.count_label.setText(
                f"{format_count(b.size)} batches" if b.size else "")
            self.redraw_count += 1
        if self._epochs_dirty:
            self._epochs_dirty = False
            e = data.epochs
            x = e.column(0) + 1
            scale = metric_scale(data.metric)
            for curve, values in ((self.train_loss_curve, e.column(1)),
                                  (self.val_loss_curve, e.column(2)),
                                  (self.train_metric_curve, e.column(3) * scale),
                                  (self.val_metric_curve, e.column(4) * scale)):
                keep = np.isfinite(values)  # NaN = not measured (train metric of regression)
                curve.setData(x[keep], values[keep])
            self._sync_metric_legend()
            self.ranges.fit_epochs(scale)
        self._show_plots(bool(data.batches.size or data.epochs.size or self.overlays.runs))

    def _show_plots(self, shown: bool) -> None:
        """The plots once there is something to draw, the empty state until then."""
        page = self.scroll if shown else self.empty_state
        if self._pages.currentWidget() is not page:
            self._pages.setCurrentWidget(page)
            self.export_png_button.setEnabled(shown)
            self.export_csv_button.setEnabled(shown)

    def _sync_metric_legend(self) -> None:
        """No "train" entry in the metric legend when no train metric was measured."""
        legend = self.metric_plot.legend
        e = self.data.epochs
        show_train = e.size == 0 or bool(np.isfinite(e.column(3)).any())
        shown = any(sample.item is self.train_metric_curve for sample, _ in legend.items)
        if shown == show_train:
            return
        legend.clear()  # re-added in order: train, validation, overlays
        if show_train:
            legend.addItem(self.train_metric_curve, "train")
        legend.addItem(self.val_metric_curve, "validation")
        for item, label in self.overlays.legend_entries(self.metric_plot):
            legend.addItem(item, label)
        self.curve_plots.apply_theme_to_legend(legend)
        self.curve_plots.fit_legend(self.metric_plot)

    def _draw_overlays(self) -> None:
        self.overlays.draw(self.data.factor, self.data.metric, metric_scale(self.data.metric))
        self.curve_plots.fit_legends()  # their entries may need more columns
        self._epochs_dirty = True  # the epoch axes may need to reach the overlays' last epoch
        self._batches_dirty = True  # and the step and loss axes the overlays' extent
        self._schedule_redraw()

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
        write_curves_csv(path, self.data)

    def render_image(self, scale: float = 2.0) -> QImage:
        """The plot area as the user sees it, rendered at ``scale`` x its size (sharp
        text and lines on a report or a high-dpi screen)."""
        self.flush()
        return render_plots(self.plots, self.curve_plots.theme.background, scale)

    def export_png(self, path: str, scale: float = 2.0) -> None:
        """Write the whole plot area as a PNG (atomically), ``scale`` x its on-screen size."""
        write_png(path, self.render_image(scale))
