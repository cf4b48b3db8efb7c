"""The main window: palette | canvas | inspector, a bottom area of tabs, menus, toolbar,
status bar, files (open/save/recent/drag-and-drop/autosave) and the clipboard."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow,
                               QMessageBox, QTabWidget, QUndoView)

from app.document import Document
from app.editor.codeview import CodeView
from app.editor.inspector import InspectorWidget
from app.editor.mime import GRAPH_MIME
from app.editor.minimap import Minimap
from app.editor.palette import PaletteWidget
from app.editor.scene import GraphScene
from app.editor.style import action_icon
from app.editor.view import GraphView
from app.panels.data_panel import DataPanel
from app.panels.evaluation import EvaluationPanel
from app.panels.export_panel import ExportPanel
from app.panels.test_panel import TestPanel
from app.panels.training import TrainingPanel
from app.recovery import RecoveryFile
from graph.clipboard import copy_nodes, paste_command
from graph.commands import MoveNodes
from graph.errors import LayerForgeError
from graph.formatting import format_macs
from graph.layout import auto_wrap_for, layered_positions
from graph.templates import build_template

log = logging.getLogger(__name__)
PANELS_HEIGHT_WHILE_TRAINING = 480  # px: four curves with readable axes
PROJECT_FILTER = "LayerForge projects (*.json);;Checkpoints (*.pt *.pth *.ckpt);;All files (*)"
MAX_RECENT = 8
AUTOSAVE_MS = 30_000


class MainWindow(QMainWindow):
    """One window editing one document."""

    def __init__(self, document: Document | None = None) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.settings = QSettings()
        self.document: Document | None = None
        self.recovery: RecoveryFile | None = None
        self._build_widgets()
        self._build_actions()
        self.set_document(document or Document(build_template("digits-cnn")))
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first start: the canvas gets the room
            self.resizeDocks([self.palette_dock, self.inspector_dock], [210, 360],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([self.bottom_dock], [230], Qt.Orientation.Vertical)

    # ---- widgets ---------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.palette_widget = PaletteWidget()
        self.palette_widget.layerActivated.connect(self.add_layer_at_centre)
        dock = QDockWidget("Layers", self, objectName="palette")
        dock.setWidget(self.palette_widget)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.palette_dock = dock
        self.inspector_dock = QDockWidget("Inspector", self, objectName="inspector")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inspector_dock)
        self.bottom_tabs = QTabWidget()
        self.bottom_dock = QDockWidget("Panels", self, objectName="panels")
        self.bottom_dock.setWidget(self.bottom_tabs)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.bottom_dock)
        self.history_dock = QDockWidget("History", self, objectName="history")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.history_dock)
        self.history_dock.hide()
        self.status_valid = QLabel()
        self.status_size = QLabel()
        self.status_device = QLabel(self._device_text())
        for label in (self.status_valid, self.status_size, self.status_device):
            self.statusBar().addPermanentWidget(label)

    @staticmethod
    def _device_text() -> str:
        from backend.training.train import available_devices
        return f"device: {available_devices()[0]}"

    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut=None, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        Std = QKeySequence.StandardKey
        self.act_new = action("&New…", self.new_from_template, Std.New,
                              "Start a new network from a template")
        self.act_open = action("&Open…", self.open_dialog, Std.Open)
        self.act_import = action("&Import PyTorch Model…", self.import_dialog, None,
                                 "Open a PyTorch class (.py) or an ONNX file as a graph")
        self.act_save = action("&Save", self.save, Std.Save)
        self.act_save_as = action("Save &As…", self.save_as, Std.SaveAs)
        self.act_quit = action("&Quit", self.close, Std.Quit)
        self.act_cut = action("Cu&t", self.cut, Std.Cut)
        self.act_copy = action("&Copy", self.copy, Std.Copy)
        # not self.paste itself: triggered(bool) would arrive as its ``offset`` argument
        self.act_paste = action("&Paste", lambda: self.paste(), Std.Paste)
        self.act_delete = action("&Delete", self.delete_selection,
                                 [QKeySequence(Std.Delete), QKeySequence(Qt.Key.Key_Backspace)])
        self.act_duplicate = action("D&uplicate", self.duplicate, QKeySequence("Ctrl+D"))
        self.act_select_all = action("Select &All", self.select_all, Std.SelectAll)
        self.act_layout = action("Auto &Layout", self.auto_layout, QKeySequence("Ctrl+L"),
                                 "Arrange the layers left to right")
        self.act_fit = action("Zoom to &Fit", lambda: self.view.zoom_to_fit(),
                              QKeySequence("Ctrl+0"))
        self.act_zoom_in = action("Zoom &In", lambda: self.view.set_zoom(self.view.zoom * 1.25),
                                  Std.ZoomIn)
        self.act_zoom_out = action("Zoom &Out",
                                   lambda: self.view.set_zoom(self.view.zoom / 1.25), Std.ZoomOut)
        self.act_history = self.history_dock.toggleViewAction()
        self.act_history.setText("&History")

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_new, self.act_open])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.act_import)
        file_menu.addSeparator()
        file_menu.addActions([self.act_save, self.act_save_as])
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        self.edit_menu = bar.addMenu("&Edit")
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.act_fit, self.act_zoom_in, self.act_zoom_out, self.act_layout])
        view_menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.bottom_dock):
            view_menu.addAction(dock.toggleViewAction())
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(20, 20))
        self.toolbar = toolbar
        self._refresh_recent()

    def _rebuild_edit_menu(self) -> None:
        """Undo/Redo actions belong to the document's undo stack."""
        assert self.document is not None
        stack = self.document.undo_stack
        self.act_undo = stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts(QKeySequence.StandardKey.Undo)
        self.act_redo = stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts(QKeySequence.StandardKey.Redo)
        menu = self.edit_menu
        menu.clear()
        menu.addActions([self.act_undo, self.act_redo])
        menu.addSeparator()
        menu.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate,
                         self.act_delete])
        menu.addSeparator()
        menu.addActions([self.act_select_all, self.act_history])
        for act in self.toolbar.actions():
            if act.parent() is self.toolbar:  # its separators: clear() would keep them alive
                act.deleteLater()
        self.toolbar.clear()
        self.toolbar.addActions([self.act_new, self.act_open, self.act_save])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_undo, self.act_redo])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_layout, self.act_fit])
        self._apply_icons()

    def _apply_icons(self) -> None:
        """Vector icons in the theme's text colour (again when the theme changes)."""
        palette = self.palette()
        for act, name in ((self.act_new, "new"), (self.act_open, "open"),
                          (self.act_save, "save"), (self.act_undo, "undo"),
                          (self.act_redo, "redo"), (self.act_layout, "layout"),
                          (self.act_fit, "fit")):
            act.setIcon(action_icon(name, palette))

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.document is not None:
            self._apply_icons()

    # ---- the document ----------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Show ``document`` (the previous one is closed without asking: callers ask first)."""
        if self.document is not None:
            self.document.close()
            self.document.deleteLater()
        if self.recovery is not None:
            self.recovery.close()
        # the previous document's scene and panels would otherwise live as long as the window
        stale = [w for w in (getattr(self, "scene", None), getattr(self, "inspector", None),
                             getattr(self, "code_view", None), self.history_dock.widget(),
                             getattr(self, "act_undo", None), getattr(self, "act_redo", None))
                 if w is not None]
        self.document = document
        document.setParent(self)
        self.recovery = RecoveryFile()
        self.scene = GraphScene(document, self)
        self.scene.message.connect(self.show_message)
        self.scene.selectionChanged.connect(self._selection_changed)
        document.message.connect(self.show_message)
        document.analysisChanged.connect(self._refresh_status)
        document.modifiedChanged.connect(lambda _: self._refresh_title())
        document.pathChanged.connect(self._refresh_title)
        old_view = self.centralWidget()
        self.view = GraphView(self.scene)
        self.setCentralWidget(self.view)
        if old_view is not None:
            old_view.deleteLater()
        self.inspector = InspectorWidget(document)
        self.inspector_dock.setWidget(self.inspector)
        self.history_dock.setWidget(QUndoView(document.undo_stack))
        self.code_view = CodeView(document)
        self._set_panels(document)
        self.minimap = Minimap(self.view)
        for widget in stale:
            widget.deleteLater()
        self._rebuild_edit_menu()
        self._refresh_title()
        self._refresh_status()
        QTimer.singleShot(0, self.view.zoom_to_fit)

    def _set_panels(self, document: Document) -> None:
        """The bottom tabs: Training, Data, Evaluation, Code (Test and Export come later)."""
        if not hasattr(self, "training_panel"):
            self.training_panel = TrainingPanel(document)
            self.data_panel = DataPanel(document)
            self.evaluation_panel = EvaluationPanel()
            self.test_panel = TestPanel(document)
            self.export_panel = ExportPanel(document)
            self.test_panel.run_provider = lambda: self.training_panel.session.run
            self.test_panel.trainRequested.connect(
                lambda: self.bottom_tabs.setCurrentWidget(self.training_panel))
            panel = self.training_panel
            panel.liveStats.connect(lambda event: self.scene.set_live_stats(event.layers))
            panel.session.started.connect(lambda _: self.evaluation_panel.clear())
            panel.session.started.connect(lambda _: self.give_panels_room())
            panel.session.runEnded.connect(lambda: self.scene.set_live_stats(None))
            panel.failedAt.connect(lambda name: self.scene.mark_failed(
                name, f"'{name}' failed during training: see the Training tab"))
            panel.epochReport.connect(self._show_epoch_report)
            panel.runFinished.connect(self._show_evaluation)
            panel.session.checkpointSaved.connect(self.export_panel.set_checkpoint)
            panel.openCheckpoint.connect(
                lambda path: self.maybe_save() and self.open_file(path))
        else:
            self.training_panel.set_document(document)
            self.data_panel.set_document(document)
            self.evaluation_panel.clear()
            self.test_panel.set_document(document)
            self.export_panel.set_document(document)
        current = self.bottom_tabs.currentIndex()
        self.bottom_tabs.clear()
        self.bottom_tabs.addTab(self.training_panel, "Training")
        self.bottom_tabs.addTab(self.data_panel, "Data")
        self.bottom_tabs.addTab(self.evaluation_panel, "Evaluation")
        self.bottom_tabs.addTab(self.test_panel, "Test")
        self.bottom_tabs.addTab(self.code_view, "Code")
        self.bottom_tabs.addTab(self.export_panel, "Export")
        self.bottom_tabs.setCurrentIndex(max(current, 0))

    def give_panels_room(self) -> None:
        """A run started: make the bottom panels tall enough for readable curves (the user
        may have shrunk them to see more of the canvas), never more than half the window."""
        dock = self.bottom_dock
        if dock.isFloating() or not dock.isVisible():
            return
        want = min(PANELS_HEIGHT_WHILE_TRAINING, self.height() // 2)
        if dock.height() < want:
            view = self.view
            items = self.scene.itemsBoundingRect()
            fitted = view.mapToScene(view.viewport().rect()).boundingRect().contains(items)
            self.resizeDocks([dock], [want], Qt.Orientation.Vertical)
            if fitted:  # the whole network was in view: keep it so in the smaller canvas
                QTimer.singleShot(0, view, view.zoom_to_fit)

    def _show_epoch_report(self, report) -> None:
        """During training: the latest epoch's report (a forecast, text samples) on the page
        of the run's task."""
        run = self.training_panel.session.run
        if run is not None and run.bundle is not None:
            self.evaluation_panel.show_run_report(run.bundle.task, report, run, final=False)

    def _show_evaluation(self, finished) -> None:
        """When a run ends: the test-set views for its task. They were computed on the training
        thread (``finished.report``); only the temperature slider samples text here."""
        run = self.training_panel.session.run
        report = getattr(finished, "report", None)
        if run is None or run.bundle is None or report is None:
            return
        self.evaluation_panel.show_run_report(run.bundle.task, report, run, final=True)

    def _selection_changed(self) -> None:
        ids = self.scene.selected_node_ids()
        self.inspector.set_node(ids[0] if len(ids) == 1 else None)

    def _refresh_title(self) -> None:
        doc = self.document
        if doc is not None:
            self.setWindowTitle(f"{doc.title}[*] — LayerForge")
            self.setWindowModified(doc.modified)

    def _refresh_status(self) -> None:
        analysis = self.document.analysis
        errors = len(analysis.errors)
        self.status_valid.setText("✔ valid" if not errors else f"✖ {errors} error(s)")
        self.status_valid.setStyleSheet("" if not errors else "color: #e5484d;")
        self.status_size.setText(f"{analysis.total_params:,} parameters · "
                                 f"{format_macs(analysis.total_macs)} MACs")

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_error(self, title: str, text: str) -> None:
        """A user-caused failure: say what and how to fix; nothing is lost."""
        QMessageBox.warning(self, title, text)

    # ---- files -----------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        if self.document is None or not self.document.modified:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.document.title}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_from_template(self) -> None:
        from app.template_gallery import TemplateGallery

        if not self.maybe_save():
            return
        dialog = TemplateGallery(self)
        if dialog.exec() and dialog.chosen_key:
            self.set_document(Document(build_template(dialog.chosen_key)))
        dialog.deleteLater()  # a child of the window: it would stay, with its previews

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open", self._last_dir(), PROJECT_FILTER)
        if path:
            self.open_file(path)

    def import_dialog(self) -> None:
        """File > Import PyTorch Model…: the import runs on a worker thread; the result
        opens as a new document (like a checkpoint)."""
        from app.import_dialog import ImportDialog, ImportWorker

        if not self.maybe_save():
            return
        dialog = ImportDialog(self._last_dir(), self)
        accepted = dialog.exec() == ImportDialog.DialogCode.Accepted
        source, shape, checkpoint = dialog.source(), dialog.input_shape(), \
            dialog.checkpoint_path()
        dialog.deleteLater()
        if not accepted:
            return
        self.act_import.setEnabled(False)
        self.show_message(f"importing {source}…")
        self._import_worker = worker = ImportWorker(source, shape, checkpoint)
        worker.imported.connect(self._imported)
        worker.failed.connect(lambda text: self.show_error("Cannot import the model", text))
        worker.finished.connect(lambda: self.act_import.setEnabled(True))
        worker.start()

    def _imported(self, result) -> None:
        self.set_document(Document(result.project))
        opaque = f", {len(result.opaque)} opaque" if result.opaque else ""
        self.show_message(f"imported {result.project.name}: {len(result.project.graph.nodes)} "
                          f"nodes{opaque}" + "".join(f" — {n}" for n in result.notes[:1]))

    def open_file(self, path: str | Path) -> bool:
        """Open a project or checkpoint; a bad file is reported and the current one kept."""
        try:
            document = Document.open(path)
        except LayerForgeError as exc:
            self.show_error("Cannot open file", str(exc))
            return False
        self.set_document(document)
        self._add_recent(Path(path))
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        suggested = str(Path(self._last_dir()) / f"{self.document.title.split('.')[0]}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save As", suggested, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".json"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as exc:
            self.show_error("Cannot save", f"{path}: {exc.strerror or exc}. Choose another "
                            f"folder with Save As; your network is still open.")
            return False
        self.recovery.remove()
        self._add_recent(path)
        self.show_message(f"saved {path}")
        return True

    def autosave(self) -> None:
        """Write the recovery file when there are unsaved changes (and drop it when the edits
        were undone back to the saved state: after a crash there is nothing to restore)."""
        if self.document is not None and self.document.modified:
            try:
                self.recovery.write(self.document.project, self.document.path)
            except OSError as exc:
                log.warning("autosave failed: %s", exc)
        elif self.recovery is not None:
            self.recovery.remove()

    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(recent[0].parent) if recent else str(Path.home())

    def recent_files(self) -> list[Path]:
        value = self.settings.value("recent", [])
        value = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in value]

    def _add_recent(self, path: Path) -> None:
        items = [str(path.resolve())] + [str(p) for p in self.recent_files()
                                         if str(p) != str(path.resolve())]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            act = self.recent_menu.addAction(str(path))
            act.triggered.connect(lambda _=False, p=path: self.maybe_save() and self.open_file(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and self.maybe_save():
                self.open_file(url.toLocalFile())
                break

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        if hasattr(self, "training_panel"):
            self.training_panel.session.shutdown()  # never leave a training thread behind
            self.test_panel.shutdown()  # nor a camera open
            self.export_panel.shutdown()  # nor an export thread
        worker = getattr(self, "_import_worker", None)
        if worker is not None:
            worker.wait()  # an import cannot be interrupted; it ends within seconds
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        if self.recovery is not None:
            self.recovery.close()
        event.accept()

    # ---- editing ---------------------------------------------------------------------------
    def add_layer_at_centre(self, type_name: str) -> None:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        self.view.add_layer(type_name, centre)

    def delete_selection(self) -> None:
        self.scene.delete_selection()

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def copy(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        text = copy_nodes(self.document.graph, ids)
        mime = QMimeData()
        mime.setData(GRAPH_MIME, text.encode("utf-8"))
        mime.setText(text)  # plain JSON too: paste into another window or a text editor
        QApplication.clipboard().setMimeData(mime)
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self, offset: tuple[float, float] = (40.0, 40.0)) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None:
            return
        text = bytes(mime.data(GRAPH_MIME)).decode("utf-8") if mime.hasFormat(GRAPH_MIME) \
            else mime.text()
        try:
            command, new_ids = paste_command(self.document.graph, text, offset)
        except LayerForgeError as exc:
            self.show_message(str(exc))
            return
        if self.document.push(command):
            self.scene.select_nodes(new_ids)

    def duplicate(self) -> None:
        if self.copy():
            self.paste()

    def auto_layout(self) -> None:
        graph = self.document.graph
        positions = {k: v for k, v in layered_positions(graph, auto_wrap_for(graph)).items()
                     if graph.node(k).position != v}
        if positions:
            self.document.push(MoveNodes(graph, positions))
        self.view.zoom_to_fit()
