"""The main window's files: new from a template, open, import, save, autosave to the recovery
file, and the recent-files list."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.document import Document
from graph.errors import LayerForgeError
from graph.templates import build_template

if TYPE_CHECKING:
    from app.main_window import MainWindow

log = logging.getLogger(__name__)
CHECKPOINT_PATTERNS = "*.pt *.pth *.ckpt"  # the suffixes Document.open reads as checkpoints
PROJECT_FILTER = "LayerForge projects (*.json);;All files (*)"  # what Save As writes
# Open reads projects and checkpoints: the default filter shows both
OPEN_FILTER = (f"Projects and checkpoints (*.json {CHECKPOINT_PATTERNS});;"
               f"LayerForge projects (*.json);;Checkpoints ({CHECKPOINT_PATTERNS});;"
               "All files (*)")
MAX_RECENT = 8
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


class DocumentFiles(QObject):
    """Reads and writes the window's document; a bad file is reported, never half-opened.

    A QObject child of the window, so that the import worker's result arrives on the GUI
    thread."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.import_worker = None  # the running or last ImportWorker
        self.import_progress = None  # its ImportProgressDialog while it runs
        self.import_report = None  # the last import's ImportReportDialog while it is open

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        window = self.window
        if window.document is None or not window.document.modified:
            return True
        answer = QMessageBox.question(
            window, "Unsaved changes", f"Save the changes to {window.document.title}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return window.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_from_template(self) -> None:
        from app.template_gallery import TemplateGallery

        window = self.window
        if not window.maybe_save():
            return
        dialog = TemplateGallery(window)
        if dialog.exec() and dialog.chosen_key:
            window.set_document(window.new_document(build_template(dialog.chosen_key)))
        dialog.deleteLater()  # a child of the window: it would stay, with its previews

    def open_dialog(self) -> None:
        window = self.window
        if not window.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(window, "Open", self.last_dir(), OPEN_FILTER)
        if path:
            window.open_file(path)

    def import_dialog(self) -> None:
        """File > Import PyTorch Model…: the import runs on a worker thread behind a progress
        dialog (with Cancel); the result opens as a new document (like a checkpoint) with a
        report, and a failure is reported in the same report dialog."""
        from app.import_dialog import ImportDialog

        window = self.window
        if not window.maybe_save():
            return
        dialog = ImportDialog(self.last_dir(), window)
        accepted = dialog.exec() == ImportDialog.DialogCode.Accepted
        source, shape, checkpoint = dialog.source(), dialog.input_shape(), \
            dialog.checkpoint_path()
        dialog.deleteLater()
        if accepted:
            self.start_import(source, shape, checkpoint)

    def start_import(self, source: str, shape: str = "", checkpoint: str = "") -> None:
        """Import ``source`` (model.py:Class or model.onnx) on a worker thread. Its signals
        reach this object and the progress dialog, both on the GUI thread: queued."""
        from app.import_progress import ImportProgressDialog, ImportWorker

        window = self.window
        window.act_import.setEnabled(False)
        if self.import_report is not None:
            self.import_report.close()  # the last import's report: this one replaces it
        self.import_progress = progress = ImportProgressDialog(source, window)
        self.import_worker = worker = ImportWorker(source, shape, checkpoint)
        worker.stageChanged.connect(progress.set_stage)
        progress.cancelRequested.connect(worker.cancel)
        worker.imported.connect(self._imported)
        worker.failed.connect(self._import_failed)
        worker.cancelled.connect(self._import_cancelled)
        worker.finished.connect(self._import_ended)
        progress.show()
        worker.start()

    def _close_progress(self) -> None:
        progress, self.import_progress = self.import_progress, None
        if progress is not None:
            progress.finish()
            progress.deleteLater()

    def _report(self):
        """A new report dialog (non-modal, deleted when closed)."""
        from PySide6.QtCore import Qt

        from app.import_report import ImportReportDialog

        report = ImportReportDialog(self.window)
        report.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        report.finished.connect(lambda _=0: self._forget_report(report))
        self.import_report = report
        return report

    def _forget_report(self, report) -> None:
        if self.import_report is report:
            self.import_report = None

    def _imported(self, result, seconds: float) -> None:
        from app.import_report import summarize

        window, worker = self.window, self.import_worker
        self._close_progress()
        window.set_document(Document(result.project))
        opaque = f", {len(result.opaque)} opaque" if result.opaque else ""
        window.show_message(f"imported {result.project.name}: "
                            f"{len(result.project.graph.nodes)} nodes{opaque}")
        report = self._report()
        report.show_result(summarize(result, worker.source, seconds, worker.saved_to))
        report.show()

    def _import_failed(self, message: str) -> None:
        self._close_progress()
        self.window.show_message("Import failed")
        report = self._report()
        report.show_failure(self.import_worker.source, message)
        report.show()

    def _import_cancelled(self) -> None:
        self._close_progress()
        self.window.show_message("Import cancelled")

    def _import_ended(self) -> None:
        """The worker thread has ended (after its result arrived: both are queued)."""
        self._close_progress()
        self.window.menus.torch_state_changed()
        from PySide6.QtCore import QTimer

        from app.garbage import settle_released

        QTimer.singleShot(200, settle_released)  # the traced model, the ONNX sessions

    def open_file(self, path: str | Path) -> bool:
        """Open a project or checkpoint; a bad file is reported and the current one kept.
        A checkpoint needs PyTorch: while it loads, the file opens once it is ready."""
        from app.torch_loader import torch_loader

        window = self.window
        loader = torch_loader()
        if Path(path).suffix in CHECKPOINT_SUFFIXES and not loader.ready \
                and "torch" not in sys.modules:
            if loader.failed:
                window.show_error("Cannot open file", f"{path} is a checkpoint, which needs "
                                  f"PyTorch, and PyTorch could not be loaded: {loader.error}")
                return False
            window.show_message(f"{Path(path).name} opens when PyTorch has loaded…")
            loader.when_ready(lambda: self.open_file(path))
            return True
        try:
            document = Document.open(path)
        except LayerForgeError as exc:
            window.show_error("Cannot open file", str(exc))
            return False
        window.set_document(document)
        self.add_recent(Path(path))
        return True

    def save(self) -> bool:
        document = self.window.document
        if document.path is None:
            return self.window.save_as()
        return self.window._save_to(document.path)

    def save_as(self) -> bool:
        window = self.window
        suggested = str(Path(self.last_dir()) / f"{self.suggested_name()}.json")
        path, _ = QFileDialog.getSaveFileName(window, "Save As", suggested, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".json"
        return window._save_to(Path(path))

    def suggested_name(self) -> str:
        """The document's name as a file name valid everywhere (an imported model's or a
        template's name may hold ':' or '/'), without the suffix."""
        from app.paths import safe_file_name

        document = self.window.document
        name = document.path.stem if document.path is not None else document.project.name
        return safe_file_name(name)

    def save_to(self, path: Path) -> bool:
        """Write the document to ``path``; a failure is reported and nothing is lost."""
        window = self.window
        try:
            window.document.save(path)
        except OSError as exc:
            window.show_error("Cannot save", f"{path}: {exc.strerror or exc}. Choose another "
                              f"folder with Save As; your network is still open.")
            return False
        window.recovery.remove()
        self.add_recent(path)
        window.show_message(f"saved {path}")
        return True

    def autosave(self) -> None:
        """Write the recovery file when there are unsaved changes (and drop it when the edits
        were undone back to the saved state: after a crash there is nothing to restore)."""
        window = self.window
        if window.document is not None and window.document.modified:
            try:
                window.recovery.write(window.document.project, window.document.path)
            except OSError as exc:
                log.warning("autosave failed: %s", exc)
        elif window.recovery is not None:
            window.recovery.remove()

    def last_dir(self) -> str:
        """Where file dialogs start: the folder of the newest recent file, else home."""
        recent = self.recent_files()
        return str(recent[0].parent) if recent else str(Path.home())

    def recent_files(self) -> list[Path]:
        value = self.window.settings.value("recent", [])
        value = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in value]

    def add_recent(self, path: Path) -> None:
        items = [str(path.resolve())] + [str(p) for p in self.recent_files()
                                         if str(p) != str(path.resolve())]
        self.window.settings.setValue("recent", items[:MAX_RECENT])
        self.window.menus.refresh_recent()
