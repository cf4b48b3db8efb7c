"""The Training tab's run history: the runs of this session in a table (only the settings that
differ between them), their curves overlaid on the live ones, a double-click opens a run's
checkpoint."""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from app.panels.curves import CurveRun, TrainingCurves


@dataclasses.dataclass
class RunRecord:
    """One finished (or stopped/failed) run, kept for comparison."""

    label: str
    settings: dict[str, Any]
    curves: CurveRun
    checkpoint: str | None
    result: str


class RunHistory(QWidget):
    """The "Runs" tab: ``records`` in a table, and their curves as overlays on ``curves``."""

    openCheckpoint = Signal(str)

    def __init__(self, curves: TrainingCurves, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._curves = curves
        self.records: list[RunRecord] = []
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(self._open_run)
        self.overlay_box = QCheckBox("Overlay earlier runs on the curves")
        self.overlay_box.setChecked(True)
        self.overlay_box.toggled.connect(self.refresh_overlays)
        hl = QVBoxLayout(self)
        hl.addWidget(self.overlay_box)
        hl.addWidget(QLabel("Double-click a run to open its checkpoint in the editor. Only "
                            "settings that differ between runs are shown."))
        hl.addWidget(self.table)

    def record(self, settings: dict[str, Any], result: str, checkpoint: str | None) -> None:
        """Keep the run that just ended (its curves are the live ones) and show it."""
        label = f"run {len(self.records) + 1}"
        curves = self._curves.current_run()
        curves.label = label
        self.records.append(RunRecord(label, settings, curves, checkpoint, result))
        self._refresh_table()

    def clear(self) -> None:
        """Another document: the runs of the previous one are not comparable with its own."""
        self.records.clear()
        self._refresh_table()
        self.refresh_overlays()

    def _refresh_table(self) -> None:
        history = self.records
        keys = sorted({k for r in history for k in r.settings})
        differing = [k for k in keys if len({repr(r.settings.get(k)) for r in history}) > 1]
        columns = ["run", *differing, "result", "checkpoint"]
        table = self.table
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(history))
        for row, record in enumerate(history):
            values = [record.label, *[str(record.settings.get(k)) for k in differing],
                      record.result, record.checkpoint or "–"]
            for col, value in enumerate(values):
                table.setItem(row, col, QTableWidgetItem(value))

    def refresh_overlays(self, *_: Any) -> None:
        """The kept runs' curves under the live ones (none when the box is unticked)."""
        self._curves.set_overlays([r.curves for r in self.records]
                                  if self.overlay_box.isChecked() else [])

    def _open_run(self, row: int, column: int) -> None:
        if 0 <= row < len(self.records) and self.records[row].checkpoint:
            self.openCheckpoint.emit(self.records[row].checkpoint)
