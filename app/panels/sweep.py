"""The Sweep page of the Training tab: a grid or random search over training settings and
layer parameters, each trial an ordinary run of the Training tab (live curves, node overlay,
a row in the run history), with a results table and a scatter plot of the validation loss.

The axes are parsed and checked by :mod:`backend.training.sweep` (the CLI's ``layerforge sweep`` uses
the same code); this page only chains the runs through the Training panel's session.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from backend.training import sweep as sw
from backend.training import train as tr
from backend.errors import TrainingError
from graph.errors import LayerForgeError

DEFAULT_AXES = [("learning_rate", "0.0003, 0.001, 0.003"), ("batch_size", "32, 64")]


class SweepPanel(QWidget):
    """Runs the trials one after another through ``training_panel``."""

    openCheckpoint = Signal(str)

    def __init__(self, training_panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.training = training_panel
        self.points: list[dict] = []
        self.results: list[sw.Trial] = []
        self.running = False
        self._pending: sw.Trial | None = None

        self.axes_table = QTableWidget(0, 2)
        self.axes_table.setHorizontalHeaderLabels(["setting or node.parameter", "values"])
        self.axes_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.axes_table.horizontalHeader().setStretchLastSection(True)
        self.axes_table.verticalHeader().hide()
        self.axes_table.setToolTip("One axis per row: a training setting (learning_rate, "
                                   "batch_size, optimizer…) or a layer parameter as "
                                   "<node name>.<parameter> (e.g. conv1.out_channels), and "
                                   "its values separated by commas")
        for name, values in DEFAULT_AXES:
            self.add_axis(name, values)
        add = QPushButton("Add axis")
        add.clicked.connect(lambda: self.add_axis("", ""))
        remove = QPushButton("Remove axis")
        remove.clicked.connect(self._remove_axis)
        self.mode = QComboBox()
        self.mode.addItems(["Every combination (grid)", "Random combinations"])
        self.count = QSpinBox(minimum=1, maximum=1000, value=4)
        self.count.setPrefix("N = ")
        self.count.setEnabled(False)
        self.mode.currentIndexChanged.connect(lambda i: self.count.setEnabled(i == 1))
        self.epochs = QSpinBox(minimum=0, maximum=100_000, value=0)
        self.epochs.setSpecialValueText("project's epochs")
        self.epochs.setPrefix("epochs: ")
        self.run_button = QPushButton("Run sweep")
        self.run_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop sweep")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.best_button = QPushButton("Open best checkpoint")
        self.best_button.clicked.connect(self.open_best)
        self.best_button.setEnabled(False)
        self.status = QLabel("Each trial is a run of this project with the values changed; "
                             "it appears in Runs like any other.", wordWrap=True)

        controls = QHBoxLayout()
        for w in (add, remove, self.mode, self.count, self.epochs):
            controls.addWidget(w)
        controls.addStretch()
        buttons = QHBoxLayout()
        for w in (self.run_button, self.stop_button, self.best_button):
            buttons.addWidget(w)
        buttons.addStretch()

        self.results_table = QTableWidget(0, 0)
        self.results_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.results_table.verticalHeader().hide()
        self.results_table.cellDoubleClicked.connect(self._open_row)
        self.x_axis = QComboBox()
        self.x_axis.currentIndexChanged.connect(self._refresh_plot)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "best validation loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setMinimumHeight(160)
        self.scatter = pg.ScatterPlotItem(size=9, pen=None, brush=pg.mkBrush(80, 140, 230, 200))
        self.best_marker = pg.ScatterPlotItem(size=15, pen=pg.mkPen("#e5484d", width=2),
                                              brush=None, symbol="o")
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.best_marker)
        plot_box = QWidget()
        pl = QVBoxLayout(plot_box)
        pl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("x axis:"))
        row.addWidget(self.x_axis, 1)
        pl.addLayout(row)
        pl.addWidget(self.plot, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.results_table)
        split.addWidget(plot_box)
        split.setSizes([500, 400])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.axes_table)
        layout.addLayout(controls)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self.axes_table.setMaximumHeight(130)

        session = self.training.session
        session.finished.connect(self._on_finished)
        session.failed.connect(self._on_failed)
        session.runEnded.connect(self._on_run_ended)

    # ---- axes ----------------------------------------------------------------------------
    def add_axis(self, name: str, values: str) -> None:
        row = self.axes_table.rowCount()
        self.axes_table.insertRow(row)
        self.axes_table.setItem(row, 0, QTableWidgetItem(name))
        self.axes_table.setItem(row, 1, QTableWidgetItem(values))

    def _remove_axis(self) -> None:
        row = self.axes_table.currentRow()
        self.axes_table.removeRow(row if row >= 0 else self.axes_table.rowCount() - 1)

    def axes(self) -> list[sw.Axis]:
        """The axes as typed; raises a LayerForgeError naming the row that is wrong."""
        axes = []
        for row in range(self.axes_table.rowCount()):
            name = (self.axes_table.item(row, 0) or QTableWidgetItem()).text().strip()
            values = (self.axes_table.item(row, 1) or QTableWidgetItem()).text().strip()
            if not name and not values:
                continue
            axes.append(sw.parse_axis(f"{name}={values}"))
        if not axes:
            raise TrainingError("add at least one axis: a setting and its values")
        return axes

    # ---- running -------------------------------------------------------------------------
    def start(self) -> bool:
        """Check the axes and start the first trial."""
        if self.running or self.training.session.running:
            return False
        project = self.training.document.project
        try:
            axes = self.axes()
            sw.check_axes(project, axes)
        except LayerForgeError as exc:
            self.status.setText(f"✖ {exc}")
            return False
        self.points = sw.random_points(axes, self.count.value()) if self.mode.currentIndex() \
            else sw.grid(axes)
        self.results = []
        self.x_axis.blockSignals(True)
        self.x_axis.clear()
        self.x_axis.addItems([a.name for a in axes])
        self.x_axis.blockSignals(False)
        self.running = True
        self._set_buttons()
        self._next()
        return True

    def stop(self) -> None:
        """Stop the current trial and start no more."""
        self.running = False
        self.training.stop()
        self._set_buttons()

    def reset(self) -> None:
        """Another document: its trials are not this network's (the run is stopped already)."""
        self.running = False
        self.points, self.results, self._pending = [], [], None
        self.status.setText("")
        self._refresh()

    def _next(self) -> None:
        if not self.running:
            return
        index = len(self.results)
        if index >= len(self.points):
            self._done()
            return
        values = self.points[index]
        project = self.training.document.project.copy()
        try:
            for name, value in values.items():
                sw.apply_value(project, name, value)
        except LayerForgeError as exc:
            self.results.append(sw.Trial(index, values, "", error=str(exc)))
            QTimer.singleShot(0, self._next)
            return
        if self.epochs.value():
            project.training["epochs"] = self.epochs.value()
        self._pending = sw.Trial(index, dict(values), "")
        self.status.setText(f"Trial {index + 1}/{len(self.points)}: "
                            + ", ".join(f"{k}={v}" for k, v in values.items()))
        if not self.training.start(project, extra={"sweep trial": index + 1, **values}):
            self._pending.error = self.training.banner.text() or "not started"
            self.results.append(self._pending)
            self._pending = None
            self._refresh()
            QTimer.singleShot(0, self._next)

    def _on_finished(self, event: tr.Finished) -> None:
        if self._pending is not None:
            self._pending.val_loss = event.best_val_loss
            self._pending.checkpoint = event.checkpoint
            self._pending.test = dict(event.test)

    def _on_failed(self, event: tr.Failed) -> None:
        if self._pending is not None:
            self._pending.error = event.message
            self._pending.checkpoint = event.checkpoint

    def _on_run_ended(self) -> None:
        if self._pending is None:
            return
        self.results.append(self._pending)
        self._pending = None
        self._refresh()
        QTimer.singleShot(0, self._next)  # after the panel has settled back to idle

    def _done(self) -> None:
        self.running = False
        self._set_buttons()
        best = self.best()
        self.status.setText(f"Sweep done: {len(self.results)} trial(s)."
                            + (f" Best: {self._describe(best)}, validation loss "
                               f"{best.val_loss:.4f}." if best else " Every trial failed."))

    def _set_buttons(self) -> None:
        self.run_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)
        self.best_button.setEnabled(self.best() is not None and self.best().checkpoint
                                    is not None)

    # ---- results -------------------------------------------------------------------------
    def best(self) -> sw.Trial | None:
        return sw.best_of(self.results)

    def open_best(self) -> None:
        best = self.best()
        if best and best.checkpoint:
            self.openCheckpoint.emit(best.checkpoint)

    def _open_row(self, row: int, _column: int) -> None:
        item = self.results_table.item(row, 0)
        index = item.data(Qt.ItemDataRole.UserRole) if item else None
        trial = next((t for t in self.results if t.index == index), None)
        if trial is not None and trial.checkpoint:
            self.openCheckpoint.emit(trial.checkpoint)

    @staticmethod
    def _describe(result: sw.Trial) -> str:
        return ", ".join(f"{k}={v}" for k, v in result.values.items())

    def _refresh(self) -> None:
        names = list(dict.fromkeys(k for p in self.points for k in p))
        order = sw.ranked(self.results)
        columns = ["trial", *names, "val loss", "result", "checkpoint"]
        table = self.results_table
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(order))
        best = self.best()
        for row, r in enumerate(order):
            loss = f"{r.val_loss:.4f}" if r.finished else "–"
            cells = [str(r.index + 1), *[str(r.values.get(n, "")) for n in names], loss,
                     r.summary(), r.checkpoint or "–"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, r.index)
                if r is best:
                    item.setForeground(QColor("#2e9d57"))
                table.setItem(row, col, item)
        table.resizeColumnsToContents()
        self._set_buttons()
        self._refresh_plot()

    def _refresh_plot(self) -> None:
        name = self.x_axis.currentText()
        done = [r for r in self.results if r.finished]
        if not name or not done:
            self.scatter.setData([], [])
            self.best_marker.setData([], [])
            return
        xs_raw = [r.values.get(name) for r in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_raw)
        if numeric:
            raw = np.asarray(xs_raw, dtype=float)
            log_x = bool(np.all(raw > 0) and raw.max() / raw.min() >= 10)
            xs = np.log10(raw) if log_x else raw  # learning rates read best on a log scale
            unique = sorted(set(xs_raw))
            ticks = [[(float(np.log10(v)) if log_x else float(v), f"{v:g}") for v in unique]] \
                if len(unique) <= 12 else None
        else:  # categories (optimizer names...): one column each
            labels = list(dict.fromkeys(str(v) for v in xs_raw))
            xs = np.asarray([labels.index(str(v)) for v in xs_raw], dtype=float)
            ticks = [list(enumerate(labels))]
        self.plot.getAxis("bottom").setTicks(ticks)
        self.plot.setLabel("bottom", name)
        ys = np.asarray([r.val_loss for r in done])
        self.scatter.setData(xs, ys)
        best = self.best()
        j = done.index(best)
        self.best_marker.setData([xs[j]], [ys[j]])
