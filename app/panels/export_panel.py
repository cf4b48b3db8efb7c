"""The Export tab: pick a trained checkpoint, a format and a file; the export and its
verification run on a worker thread and each result lands as a row of the results table."""
from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSizePolicy, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from backend.export.formats import FORMATS, default_path
from backend.tasks import format_metric
from graph.errors import LayerForgeError
from graph.formatting import format_bytes

log = logging.getLogger(__name__)

COLUMNS = ("Format", "File", "Size", "Parameters", "Max |diff|", "Latency / sample",
           "Accuracy fp32 → int8")
DRAIN_MS = 100


class _ExportThread(QThread):
    """Runs one export_model call; its report or error goes into ``queue``."""

    def __init__(self, request: dict[str, Any], queue: collections.deque) -> None:
        super().__init__()
        self.request = request
        self.queue = queue

    def run(self) -> None:  # QThread entry point
        from backend.export.exporter import export_model

        r = self.request
        try:
            report = export_model(r["source"], r["format"], r["path"], opset=r["opset"],
                                  dynamic_batch=r["dynamic_batch"])
            self.queue.append(("done", report))
        except LayerForgeError as exc:
            self.queue.append(("failed", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app silently
            log.exception("export crashed")
            self.queue.append(("failed", f"the export stopped by an internal error: "
                                         f"{type(exc).__name__}: {exc}"))


class ExportPanel(QWidget):
    """Export the newest checkpoint of the document's training (or one chosen from disk)."""

    exported = Signal(object)   # backend.export.exporter.ExportReport
    failed = Signal(str)        # the error message shown
    busyChanged = Signal(bool)

    def __init__(self, document=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.checkpoint: str | None = None
        self._from_training = False
        self._output_auto = True
        self._thread: _ExportThread | None = None
        self._queue: collections.deque = collections.deque()
        self._timer = QTimer(self, interval=DRAIN_MS)
        self._timer.timeout.connect(self.drain)
        self._build()
        self._format_changed()
        self._refresh()

    # -- layout --
    def _build(self) -> None:
        source_box = QGroupBox("Trained model")
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.source_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                        QSizePolicy.Policy.Preferred)
        self.choose_button = QPushButton("Choose checkpoint…")
        self.choose_button.clicked.connect(self._choose_checkpoint)
        row = QHBoxLayout(source_box)
        row.addWidget(self.source_label, 1)
        row.addWidget(self.choose_button)

        options = QGroupBox("Export")
        form = QFormLayout(options)
        self.format_box = QComboBox()
        for fmt in FORMATS.values():
            self.format_box.addItem(fmt.title, fmt.name)
            self.format_box.setItemData(self.format_box.count() - 1, fmt.description,
                                        Qt.ItemDataRole.ToolTipRole)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        # room for two lines, so switching formats does not make the form jump
        self.description.setMinimumHeight(2 * self.description.fontMetrics().lineSpacing())
        form.addRow("Format:", self.format_box)
        form.addRow("", self.description)
        self.opset = QSpinBox(minimum=7, maximum=23, value=18)
        self.opset.setToolTip("ONNX operator set version; 18 is widely supported by "
                              "onnxruntime, TensorRT and OpenVINO")
        self.dynamic_batch = QCheckBox("dynamic batch size")
        self.dynamic_batch.setChecked(True)
        self.dynamic_batch.setToolTip("the exported model accepts any batch size (ONNX, pt2)")
        opts = QHBoxLayout()
        opts.addWidget(QLabel("ONNX opset"))
        opts.addWidget(self.opset)
        opts.addSpacing(16)
        opts.addWidget(self.dynamic_batch)
        opts.addStretch(1)
        form.addRow("Options:", opts)
        self.output = QLineEdit()
        self.output.setPlaceholderText("file to write")
        self.output.textEdited.connect(self._output_edited)
        self.browse_button = QPushButton("Save as…")
        self.browse_button.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(self.browse_button)
        form.addRow("Output:", out_row)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator: export + verification take seconds
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        action = QHBoxLayout()
        action.addWidget(self.export_button)
        action.addWidget(self.progress)
        action.addWidget(self.status, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

        top = QHBoxLayout()
        top.addWidget(options, 3)
        left = QVBoxLayout()
        left.addWidget(source_box)
        left.addLayout(action)
        left.addStretch(1)
        top.addLayout(left, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    # -- public API --
    def set_document(self, document) -> None:
        """A new current document: its training has no checkpoint yet."""
        self.document = document
        if self._from_training:
            self.checkpoint = None
            self._from_training = False
        self._refresh()

    def set_checkpoint(self, source: Any, from_training: bool = True) -> None:
        """Export this checkpoint: a path, or a training event with a ``path``
        (``CheckpointSaved``) — the main window connects the training session to this."""
        path = getattr(source, "path", source)
        if not path:
            return
        if not from_training or self._from_training or self.checkpoint is None:
            self.checkpoint = str(path)
            self._from_training = from_training
        if self._output_auto:
            self._set_default_output()
        self._refresh()

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def selected_format(self) -> str:
        return self.format_box.currentData()

    def set_format(self, name: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(name))

    def set_output(self, path: str) -> None:
        self.output.setText(path)
        self._output_auto = False

    def start_export(self) -> bool:
        """Export with the current choices on a worker thread; False if it cannot start."""
        if self.busy:
            return False
        if not self.checkpoint:
            self._show_error("No trained model yet: train the network (a checkpoint is saved "
                             "each time validation improves) or choose a checkpoint file.")
            return False
        path = self.output.text().strip()
        if not path:
            self._show_error("Choose where to write the export (Save as…).")
            return False
        if self.selected_format() == "script" and not Path(path).suffix \
                and not Path(path).is_dir():
            # a typed name, not a folder: the exporter would put predict.py in a folder of
            # that name; the user meant <name>.py
            path = str(Path(path).with_suffix(".py"))
            self.output.setText(path)
        request = {"source": self.checkpoint, "format": self.selected_format(), "path": path,
                   "opset": self.opset.value(), "dynamic_batch": self.dynamic_batch.isChecked()}
        self._queue.clear()
        self._thread = _ExportThread(request, self._queue)
        self._thread.finished.connect(self._thread_done)
        self._thread.start()
        self._timer.start()
        self.status.setStyleSheet("")
        self.status.setText(f"Exporting {FORMATS[request['format']].title} and verifying the "
                            f"written file…")
        self._refresh()
        self.busyChanged.emit(True)
        return True

    def wait(self, ms: int = 60_000) -> bool:
        """Block until a running export has ended (tests, closing the window)."""
        if self._thread is None:
            return True
        done = self._thread.wait(ms)
        self._thread_done()
        return done

    shutdown = wait

    # -- results --
    def drain(self) -> None:
        while self._queue:
            kind, payload = self._queue.popleft()
            if kind == "done":
                self._add_row(payload)
                self.status.setStyleSheet("")
                verified = "verified" if payload.format != "int8" else "checked"
                self.status.setText(f"Wrote {', '.join(Path(f).name for f in payload.files)} "
                                    f"({verified}: max |diff| {payload.max_abs_diff:.2g}).")
                self.exported.emit(payload)
            else:
                self._show_error(payload)

    def _thread_done(self) -> None:
        self.drain()
        self._timer.stop()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
            self.busyChanged.emit(False)
        self._refresh()

    def _add_row(self, report) -> None:
        accuracy = ""
        if report.metric_fp32 is not None and report.metric_int8 is not None:
            accuracy = (f"{format_metric(report.metric, report.metric_fp32)} → "
                        f"{format_metric(report.metric, report.metric_int8)}")
        size = format_bytes(report.size_bytes)
        if report.size_ratio is not None:
            size += f" ({report.size_ratio * 100:.0f}% of fp32)"
        cells = (FORMATS[report.format].title, "  ".join(report.files), size,
                 f"{report.parameters:,}", f"{report.max_abs_diff:.2g}",
                 f"{report.latency_ms:.3f} ms", accuracy)
        row = self.table.rowCount()
        self.table.insertRow(row)
        tip = "\n".join(report.lines())
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.table.setItem(row, col, item)
        self.table.scrollToBottom()

    def _show_error(self, message: str) -> None:
        self.status.setStyleSheet("color: #c0392b;")
        self.status.setText(message)
        self.failed.emit(message)

    # -- helpers --
    def _refresh(self) -> None:
        if self.checkpoint:
            where = "newest checkpoint of this training" if self._from_training else \
                "chosen checkpoint"
            self.source_label.setText(f"<b>{Path(self.checkpoint).name}</b> ({where})<br>"
                                      f"<small>{self.checkpoint}</small>")
            self.source_label.setToolTip(self.checkpoint)
        else:
            self.source_label.setText("No trained model yet: train the network in the "
                                      "Training tab, or choose a checkpoint (.pt) file.")
        busy = self.busy
        self.progress.setVisible(busy)
        for widget in (self.export_button, self.choose_button, self.format_box,
                       self.browse_button, self.output):
            widget.setEnabled(not busy)
        self._format_options()

    def _format_changed(self) -> None:
        fmt = FORMATS[self.selected_format()]
        self.description.setText(fmt.description)
        if self._output_auto:
            self._set_default_output()
        elif self.output.text():
            # keep the user's folder and name, switch the suffix (the inference script too:
            # its model file is written beside it as <name>.model.pt)
            path = Path(self.output.text())
            self.output.setText(str(path.with_suffix(fmt.suffix)))
        self._format_options()

    def _format_options(self) -> None:
        name = self.selected_format()
        busy = self.busy
        self.opset.setEnabled(name == "onnx" and not busy)
        self.dynamic_batch.setEnabled(name in ("onnx", "pt2") and not busy)

    def _set_default_output(self) -> None:
        if not self.checkpoint:
            self.output.setText("")
            return
        folder = Path(self.checkpoint).parent / "export"
        self.output.setText(str(default_path(self.selected_format(), folder, self._stem())))

    def _stem(self) -> str:
        doc_path = getattr(self.document, "path", None)
        if doc_path:
            return Path(doc_path).stem
        return "model"

    def _output_edited(self, _text: str) -> None:
        self._output_auto = False

    def _browse(self) -> None:
        fmt = FORMATS[self.selected_format()]
        start = self.output.text() or str(Path.home() / f"{self._stem()}{fmt.suffix}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export as {fmt.title}", start,
                                              f"{fmt.title} (*{fmt.suffix});;All files (*)")
        if path:
            self.set_output(path)

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a trained checkpoint",
                                              self.checkpoint or str(Path.home()),
                                              "LayerForge checkpoints (*.pt *.pth *.ckpt);;"
                                              "All files (*)")
        if path:
            self.set_checkpoint(path, from_training=False)
