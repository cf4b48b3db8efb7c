"""An import on a worker thread, and the dialog that shows how far it is.

The worker runs ``backend.imports.import_model`` inside ``progress.reporting``: every stage the
importer reaches (reading, tracing, mapping, structuring, checking outputs) arrives on the GUI
thread as a queued signal, and Cancel sets a flag the importer reads at its next stage (it then
raises ImportCancelled and nothing is built or opened).
"""
from __future__ import annotations

import html
import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

# backend.imports.progress.STAGES in words (not imported here: that would load the backend
# when the window starts)
STAGE_WORDS = {
    "reading": "Reading the file",
    "tracing": "Tracing the model with torch.fx",
    "mapping": "Mapping operations to layers",
    "structuring": "Grouping layers into blocks",
    "checking outputs": "Checking outputs against the original",
}
PROGRESS_STEPS = 1000  # the bar's range: fractions to a tenth of a percent
TICK_MS = 500  # how often the elapsed time is redrawn


def source_path(source: str) -> str:
    """The file of an import source (``model.py:Net`` -> ``model.py``)."""
    if source.lower().endswith(".onnx"):
        return source
    path, sep, _ = source.rpartition(":")
    return path if sep and path.endswith(".py") else source


def elapsed_text(seconds: float) -> str:
    """3.2 -> "0:03", 75 -> "1:15"."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class ImportWorker(QThread):
    """Runs the import (tracing, mapping, the check against the original) off the GUI thread,
    and saves the checkpoint when asked. Emits ``stageChanged(name, fraction)`` as it goes and
    then exactly one of ``imported(ImportResult, seconds)``, ``failed(message)`` and
    ``cancelled()``."""

    stageChanged = Signal(str, float)
    imported = Signal(object, float)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, source: str, shape_text: str = "", checkpoint: str = "") -> None:
        super().__init__()
        self.source, self.shape_text, self.checkpoint = source, shape_text, checkpoint
        self.saved_to = ""  # the checkpoint written, once it is
        self._cancel = threading.Event()
        self._last_reported: tuple[str, int] = ("", -1)

    def cancel(self) -> None:
        """Stop at the importer's next stage (any thread)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _on_stage(self, name: str, fraction: float) -> None:
        """Called on the worker thread; only whole-percent changes become signals."""
        key = (name, int(fraction * 100))
        if key != self._last_reported:
            self._last_reported = key
            self.stageChanged.emit(name, fraction)

    def run(self) -> None:  # QThread entry point
        from backend.checkpoint import save_checkpoint
        from backend.imports import import_model, parse_shape
        from backend.imports.progress import ImportCancelled, reporting

        started = time.monotonic()
        try:
            shape = parse_shape(self.shape_text) if self.shape_text else None
            with reporting(self._on_stage, self.is_cancelled):
                result = import_model(self.source, shape)
            if self.is_cancelled():  # pressed after the last stage: still nothing opens
                raise ImportCancelled("the import was cancelled")
            if self.checkpoint:
                try:
                    save_checkpoint(self.checkpoint, result.checkpoint())
                    self.saved_to = self.checkpoint
                except OSError as exc:
                    result.notes.insert(0, f"the weights were not saved to {self.checkpoint}: "
                                           f"{exc.strerror or exc}")
            self.imported.emit(result, time.monotonic() - started)
        except ImportCancelled:
            self.cancelled.emit()
        except LayerForgeError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app silently
            log.exception("import crashed")
            self.failed.emit(f"the import stopped by an internal error: {exc}")


class StageList(QWidget):
    """The import's stages, one line each: done ones ticked, the current one bold."""

    def __init__(self, stages: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stages = stages
        self.current = -1
        self.labels: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for name in stages:
            label = QLabel()
            label.setTextFormat(Qt.TextFormat.RichText)
            self.labels[name] = label
            layout.addWidget(label)
        self._redraw()

    def set_current(self, name: str) -> None:
        if name in self.stages:
            self.current = self.stages.index(name)
            self._redraw()

    def state(self, name: str) -> str:
        """"done", "current" or "waiting" (what the line shows)."""
        index = self.stages.index(name)
        return "done" if index < self.current else "current" if index == self.current \
            else "waiting"

    def _redraw(self) -> None:
        for name, label in self.labels.items():
            words = html.escape(STAGE_WORDS.get(name, name))
            state = self.state(name)
            if state == "done":
                label.setText(f"<span style='color:#3a9a4f'>&#10003;</span>&nbsp; {words}")
            elif state == "current":
                label.setText(f"<b>&#9656;&nbsp; {words}…</b>")
            else:
                label.setText(f"<span style='color:gray'>&#8226;&nbsp; {words}</span>")


class ImportProgressDialog(QDialog):
    """While an import runs: the file, a progress bar, the stages, the time so far and Cancel.

    Window-modal (the document must not change under an import that replaces it). Closing
    it (Esc, the title bar) is the same as Cancel; the owner closes it with ``finish()``
    once the worker has ended."""

    cancelRequested = Signal()

    def __init__(self, source: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        path = Path(source_path(source))
        self.setWindowTitle(f"Importing {path.name}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        heading = QLabel(f"<b>Importing {html.escape(path.name)}</b>")
        where = QLabel(html.escape(str(path)))
        where.setStyleSheet("color: gray")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setRange(0, PROGRESS_STEPS)
        onnx = path.suffix.lower() == ".onnx"
        self.stages = StageList([s for s in STAGE_WORDS if not (onnx and s == "tracing")])
        self.elapsed = QLabel(f"Elapsed {elapsed_text(0)}")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.request_cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.elapsed, 1)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(where)
        layout.addSpacing(6)
        layout.addWidget(self.bar)
        layout.addWidget(self.stages)
        layout.addSpacing(6)
        layout.addLayout(bottom)
        self.clock = QElapsedTimer()
        self.clock.start()
        self.timer = QTimer(self, interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.resize(max(440, self.sizeHint().width()), self.sizeHint().height())

    @property
    def cancelling(self) -> bool:
        return not self.cancel_button.isEnabled()

    def set_stage(self, name: str, fraction: float) -> None:
        """The worker reached ``name``, ``fraction`` (0..1) of the whole import."""
        self.setUpdatesEnabled(False)  # bar and lines repaint once, together
        self.bar.setValue(round(min(max(fraction, 0.0), 1.0) * PROGRESS_STEPS))
        self.stages.set_current(name)
        self.setUpdatesEnabled(True)

    def request_cancel(self) -> None:
        """Cancel: the import stops at its next stage (the owner then closes this)."""
        if self.cancelling:
            return
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancelRequested.emit()

    def reject(self) -> None:  # Esc and the title bar's close button: Cancel, don't vanish
        self.request_cancel()

    def finish(self) -> None:
        """The import has ended (imported, failed or cancelled): close for good."""
        self.timer.stop()
        self.done(QDialog.DialogCode.Rejected)

    def _tick(self) -> None:
        self.elapsed.setText(f"Elapsed {elapsed_text(self.clock.elapsed() / 1000)}")
