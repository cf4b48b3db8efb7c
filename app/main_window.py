"""The main window: palette | canvas | inspector, a bottom area of tabs, menus, toolbar,
status bar, files (open/save/recent/drag-and-drop/autosave) and the clipboard.

The window shows one document on the canvas and edits it; its parts have their own modules:
the docks and bottom panels (:mod:`app.window_docks`), the actions and menus
(:mod:`app.window_actions`), the blocks (:mod:`app.window_blocks`) and the files
(:mod:`app.window_files`)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QSettings, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QUndoView

from app.document import Document
from app.garbage import settle_released
from app.editor.codeview import CodeView
from app.editor.inspector import InspectorWidget
from app.editor.mime import GRAPH_MIME
from app.editor.minimap import Minimap
from app.editor.scene import GraphScene
from app.editor.view import GraphView
from app.recovery import RecoveryFile
from app.torch_loader import BUSY_TIP, LOADING_TEXT, torch_loader
from app.window_actions import WindowMenus
from app.window_blocks import WindowBlocks
from app.window_docks import WindowDocks
from app.window_files import MAX_RECENT, PROJECT_FILTER, DocumentFiles
from graph.clipboard import copy_nodes, paste_command
from graph.commands import MoveNodes
from graph.errors import LayerForgeError
from graph.formatting import format_macs
from graph.layout import (DEFAULT_DIRECTION, DIRECTIONS, auto_layout, flow_direction,
                          layout_moves)
from graph.templates import build_template

DIRECTION_SETTING = "editor/direction"

__all__ = ["MainWindow", "PROJECT_FILTER", "MAX_RECENT", "AUTOSAVE_MS", "DIRECTION_SETTING"]

AUTOSAVE_MS = 30_000
RELEASE_MS = 200  # after a document is replaced: its memory is collected and released
LOAD_FALLBACK_MS = 1000  # PyTorch starts loading at the first paint, or after this at worst


def _part(part: str, name: str) -> property:
    """``window.<name>``, read from one of the window's parts (``docks``, ``menus``...)."""
    return property(lambda window: getattr(getattr(window, part), name))


class MainWindow(QMainWindow):
    """One window editing one document."""

    firstPainted = Signal()  # the window is on screen, painted (then PyTorch starts loading)

    # the parts' widgets and actions, where the rest of the app and the tests reach them
    palette_widget = _part("docks", "palette_widget")
    palette_dock = _part("docks", "palette_dock")
    inspector_dock = _part("docks", "inspector_dock")
    bottom_tabs = _part("docks", "bottom_tabs")
    bottom_dock = _part("docks", "bottom_dock")
    history_dock = _part("docks", "history_dock")
    training_panel = _part("docks", "training_panel")
    data_panel = _part("docks", "data_panel")
    evaluation_panel = _part("docks", "evaluation_panel")
    test_panel = _part("docks", "test_panel")
    export_panel = _part("docks", "export_panel")
    act_new, act_open = _part("menus", "act_new"), _part("menus", "act_open")
    act_import = _part("menus", "act_import")
    act_save, act_save_as = _part("menus", "act_save"), _part("menus", "act_save_as")
    act_quit = _part("menus", "act_quit")
    act_undo, act_redo = _part("menus", "act_undo"), _part("menus", "act_redo")
    act_cut, act_copy = _part("menus", "act_cut"), _part("menus", "act_copy")
    act_paste, act_delete = _part("menus", "act_paste"), _part("menus", "act_delete")
    act_duplicate = _part("menus", "act_duplicate")
    act_select_all = _part("menus", "act_select_all")
    act_layout, act_fit = _part("menus", "act_layout"), _part("menus", "act_fit")
    act_zoom_in, act_zoom_out = _part("menus", "act_zoom_in"), _part("menus", "act_zoom_out")
    act_history = _part("menus", "act_history")
    edit_menu, recent_menu = _part("menus", "edit_menu"), _part("menus", "recent_menu")
    toolbar = _part("menus", "toolbar")
    _import_worker = _part("files", "import_worker")

    def __init__(self, document: Document | None = None) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.settings = QSettings()
        self.document: Document | None = None
        self.recovery: RecoveryFile | None = None
        self.docks = WindowDocks(self)
        self._build_status_bar()
        self.files = DocumentFiles(self)
        self.blocks = WindowBlocks(self)
        self.menus = WindowMenus(self)
        self.set_document(document or self.new_document(build_template("digits-cnn")))
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
            self.docks.first_start_sizes()
        self._room_checked = False
        self._painted = False

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._room_checked:  # sizes are known once shown
            self._room_checked = True
            QTimer.singleShot(0, self._check_canvas_room)
            # in case no paint comes (a minimised start): load torch anyway
            QTimer.singleShot(LOAD_FALLBACK_MS, torch_loader().start)

    def event(self, event) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.UpdateRequest and not self._painted:
            # the window has been painted: now torch loads off the GUI thread (its import
            # takes the GIL in turns with the GUI: not before the user sees the window)
            self._painted = True
            self.firstPainted.emit()
            QTimer.singleShot(0, torch_loader().start)
        return handled

    def _check_canvas_room(self) -> None:
        """A saved layout that squeezes the canvas (under 40% of the window) is dropped."""
        if not self.docks.canvas_has_room():
            self.docks.first_start_sizes()

    def _build_status_bar(self) -> None:
        self.status_valid = QLabel()
        self.status_size = QLabel()
        self.status_device = QLabel(LOADING_TEXT)
        for label in (self.status_valid, self.status_size, self.status_device):
            self.statusBar().addPermanentWidget(label)
        loader = torch_loader()
        loader.finished.connect(self._torch_loaded)
        if loader.state in ("ready", "failed"):
            self._torch_loaded()

    def _torch_loaded(self) -> None:
        """PyTorch is ready (the device it trains on) or failed (why, in red)."""
        loader = torch_loader()
        if loader.ready:
            self.status_device.setText(self._device_text())
            self.status_device.setToolTip("")
            self.status_device.setStyleSheet("")
        else:
            self.status_device.setText("PyTorch failed to load")
            self.status_device.setToolTip(loader.error)
            self.status_device.setStyleSheet("color: #e5484d;")
            self.show_message(f"PyTorch could not be loaded: {loader.error}. "
                              "The editor works; training and export need PyTorch.")
        menus = getattr(self, "menus", None)
        if menus is not None:
            menus.torch_state_changed()

    @staticmethod
    def _device_text() -> str:
        from backend.training.train import available_devices  # only once torch is loaded
        return f"device: {available_devices()[0]}"

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.document is not None:
            self.menus.apply_icons()

    # ---- the document ----------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Show ``document`` (the previous one is closed without asking: callers ask first)."""
        if self.document is not None:
            self.document.close()
            self.document.deleteLater()
        if self.recovery is not None:
            self.recovery.close()
        stale_scene = getattr(self, "scene", None)
        self.document = document
        document.setParent(self)
        self.recovery = RecoveryFile()
        # the file's own flow (an older file drawn left to right), else the preference
        direction = flow_direction(document.graph) or self._direction()
        self.scene = GraphScene(document, self, direction=direction)
        self.scene.message.connect(self.show_message)
        self.scene.selectionChanged.connect(self._selection_changed)
        document.message.connect(self.show_message)
        document.analysisChanged.connect(self._refresh_status)
        document.modifiedChanged.connect(lambda _: self._refresh_title())
        document.pathChanged.connect(self._refresh_title)
        # The canvas, inspector, history and code widgets are made once and follow each
        # document: new widgets would bring their own size hints, and the docks would be
        # resized around them (the canvas was squeezed to a strip at every File > Open).
        if stale_scene is None:
            self.view = GraphView(self.scene)
            self.view.layerAdded.connect(self.palette_widget.note_used)
            self.setCentralWidget(self.view)
            self.inspector = InspectorWidget(document)
            self.inspector_dock.setWidget(self.inspector)
            self.history_dock.setWidget(QUndoView(document.undo_stack))
            self.code_view = CodeView(document)
            self.minimap = Minimap(self.view)
        else:
            self.view.set_graph_scene(self.scene)
            self.inspector.set_document(document)
            self.history_dock.widget().setStack(document.undo_stack)
            self.code_view.set_document(document)
            self.minimap.follow_scene(self.scene)
            stale_scene.deleteLater()
            # the closed document's run, model and data go once the deletions have run
            QTimer.singleShot(RELEASE_MS, settle_released)
        self.docks.set_panels(document, self.code_view)
        for action in (self.act_undo, self.act_redo):  # the previous stack's; deleted now,
            if action is not None:  # as QMenu.clear() below leaves the C++ objects alive but
                action.deleteLater()  # their Python wrappers dead
        self.blocks.follow(document)
        self.menus.rebuild_edit_menu()
        self.menus.show_direction(direction)
        self._refresh_title()
        self._refresh_status()
        QTimer.singleShot(0, self.view.show_start)

    # ---- the canvas's direction ------------------------------------------------------------
    def _direction(self) -> str:
        direction = self.settings.value(DIRECTION_SETTING, DEFAULT_DIRECTION, type=str)
        return direction if direction in DIRECTIONS else DEFAULT_DIRECTION

    def new_document(self, project) -> Document:
        """A document on a fresh project (a template, the blank network), laid out in the
        preferred direction (templates are built top to bottom)."""
        direction = self._direction()
        if flow_direction(project.graph) not in (None, direction):
            auto_layout(project.graph, direction)
        return Document(project)

    def set_direction(self, direction: str) -> None:
        """Lay the canvas out top to bottom (``TB``) or left to right (``LR``): the ports move
        to the cards' edges along the flow and the network is laid out again (one undo step).
        Remembered for the next networks."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        self.settings.setValue(DIRECTION_SETTING, direction)
        if direction != self.scene.direction:
            self.scene.set_direction(direction)
            self.auto_layout()
        self.menus.show_direction(direction)

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

    # ---- files (DocumentFiles does them) -----------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        return self.files.maybe_save()

    def new_from_template(self) -> None:
        self.files.new_from_template()

    def open_dialog(self) -> None:
        self.files.open_dialog()

    def import_dialog(self) -> None:
        """File > Import PyTorch Model… (on a worker thread; opens as a new document)."""
        self.files.import_dialog()

    def open_file(self, path: str | Path) -> bool:
        """Open a project or checkpoint; a bad file is reported and the current one kept."""
        return self.files.open_file(path)

    def save(self) -> bool:
        return self.files.save()

    def save_as(self) -> bool:
        return self.files.save_as()

    def _save_to(self, path: Path) -> bool:
        return self.files.save_to(path)

    def autosave(self) -> None:
        """Write (or drop) the recovery file: see :meth:`DocumentFiles.autosave`."""
        self.files.autosave()

    def recent_files(self) -> list[Path]:
        return self.files.recent_files()

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
        self.docks.shutdown()  # no training thread, camera or export left behind
        worker = self.files.import_worker
        if worker is not None:
            worker.cancel()  # it stops at its next stage
            worker.wait()
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
        text = copy_nodes(self.document.shown_graph, ids)
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
            command, new_ids = paste_command(self.document.shown_graph, text, offset)
        except LayerForgeError as exc:
            self.show_message(str(exc))
            return
        if self.document.push(command):
            self.scene.select_nodes(new_ids)

    def duplicate(self) -> None:
        if self.copy():
            self.paste()

    def auto_layout(self) -> None:
        """Lay the network out in layers along the canvas's direction (one undo step)."""
        graph = self.document.shown_graph
        positions = layout_moves(graph, self.scene.direction)
        if positions:
            self.document.push(MoveNodes(graph, positions))
        self.view.zoom_to_fit()
