"""The main window's actions, its File/Edit/View menus, its toolbar and the recent-files menu
(the Help menu and View > Theme: :mod:`app.help_menu`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from app.editor.style import action_icon
from app.help_menu import HelpMenu

if TYPE_CHECKING:
    from app.main_window import MainWindow


IMPORT_TIP = "Open a PyTorch class (.py) or an ONNX file as a graph"


def redo_keys() -> list[QKeySequence]:
    """The platform's Redo keys plus both usual ones: Ctrl+Y (Windows, most Linux apps) and
    Ctrl+Shift+Z (macOS, GNOME/KDE) — X11's standard binding is only Ctrl+Shift+Z."""
    keys: list[QKeySequence] = []
    for key in (*QKeySequence.keyBindings(QKeySequence.StandardKey.Redo),
                QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")):
        if key not in keys:
            keys.append(key)
    return keys


class WindowMenus:
    """Builds the window's actions (they trigger the window's slots) and where they show.

    The Edit menu and the toolbar are rebuilt for each document: Undo/Redo belong to its
    undo stack."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.act_undo: QAction | None = None
        self.act_redo: QAction | None = None
        self._build_actions()
        self.torch_state_changed()

    def torch_state_changed(self) -> None:
        """File > Import needs PyTorch: disabled, saying why, until it has loaded."""
        from app.torch_loader import BUSY_TIP, torch_loader

        loader = torch_loader()
        self.act_import.setEnabled(loader.ready)
        tip = "" if loader.ready else BUSY_TIP if not loader.failed else \
            f"PyTorch could not be loaded: {loader.error}"
        self.act_import.setToolTip(tip or self.act_import.text().replace("&", ""))
        self.act_import.setStatusTip(tip or IMPORT_TIP)

    def _build_actions(self) -> None:
        window = self.window

        def action(text: str, slot, shortcut=None, tip: str = "") -> QAction:
            act = QAction(text, window)
            if shortcut is not None:
                act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            window.addAction(act)
            return act

        Std = QKeySequence.StandardKey
        self.act_new = action("&New…", window.new_from_template, Std.New,
                              "Start a new network from a template")
        self.act_open = action("&Open…", window.open_dialog, Std.Open)
        self.act_import = action("&Import PyTorch Model…", window.import_dialog, None,
                                 IMPORT_TIP)
        self.act_save = action("&Save", window.save, Std.Save)
        self.act_save_as = action("Save &As…", window.save_as, Std.SaveAs)
        self.act_quit = action("&Quit", window.close, Std.Quit)
        self.act_cut = action("Cu&t", window.cut, Std.Cut)
        self.act_copy = action("&Copy", window.copy, Std.Copy)
        # not window.paste itself: triggered(bool) would arrive as its ``offset`` argument
        self.act_paste = action("&Paste", lambda: window.paste(), Std.Paste)
        self.act_delete = action("&Delete", window.delete_selection,
                                 [QKeySequence(Std.Delete), QKeySequence(Qt.Key.Key_Backspace)])
        self.act_duplicate = action("D&uplicate", window.duplicate, QKeySequence("Ctrl+D"))
        self.act_select_all = action("Select &All", window.select_all, Std.SelectAll)
        self.act_layout = action("Auto &Layout", window.auto_layout, QKeySequence("Ctrl+L"),
                                 "Arrange the network in layers along the canvas's direction")
        self.act_fit = action("Zoom to &Fit", lambda: window.view.zoom_to_fit(),
                              QKeySequence("Ctrl+0"))
        self.act_zoom_in = action("Zoom &In",
                                  lambda: window.view.set_zoom(window.view.zoom * 1.25),
                                  Std.ZoomIn)
        self.act_zoom_out = action("Zoom &Out",
                                   lambda: window.view.set_zoom(window.view.zoom / 1.25),
                                   Std.ZoomOut)
        self.act_history = window.history_dock.toggleViewAction()
        self.act_history.setText("&History")

        bar = window.menuBar()
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
        self.direction_menu = view_menu.addMenu("Layout &Direction")
        self.direction_group = QActionGroup(window)
        self.direction_actions: dict[str, QAction] = {}
        for direction, text, tip in (
                ("TB", "&Top to Bottom", "Layers in rows, wires running down (ports on top "
                                        "and bottom of the cards)"),
                ("LR", "&Left to Right", "Layers in columns, wires running right (ports on "
                                        "the cards' sides)")):
            act = self.direction_menu.addAction(text)
            act.setCheckable(True)
            act.setStatusTip(tip + "; kept for the next networks")
            act.triggered.connect(lambda _=False, d=direction: window.set_direction(d))
            self.direction_group.addAction(act)
            self.direction_actions[direction] = act
        view_menu.addSeparator()
        for dock in (window.palette_dock, window.inspector_dock, window.bottom_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self.help = HelpMenu(window, view_menu)  # View > Theme and the Help menu
        toolbar = window.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(20, 20))
        self.toolbar = toolbar
        self.refresh_recent()

    def show_direction(self, direction: str) -> None:
        """Check the Layout Direction entry of the canvas's direction."""
        self.direction_actions[direction].setChecked(True)

    def rebuild_edit_menu(self) -> None:
        """Undo/Redo actions belong to the document's undo stack."""
        window = self.window
        assert window.document is not None
        stack = window.document.undo_stack
        self.act_undo = stack.createUndoAction(window, "&Undo")
        self.act_undo.setShortcuts(QKeySequence.StandardKey.Undo)
        self.act_redo = stack.createRedoAction(window, "&Redo")
        self.act_redo.setShortcuts(redo_keys())
        menu = self.edit_menu
        menu.clear()
        menu.addActions([self.act_undo, self.act_redo])
        menu.addSeparator()
        menu.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate,
                         self.act_delete])
        menu.addSeparator()
        menu.addActions([self.act_select_all, self.act_history])
        menu.addSeparator()
        menu.addActions(window.blocks.actions())
        for act in self.toolbar.actions():
            if act.parent() is self.toolbar:  # its separators: clear() would keep them alive
                act.deleteLater()
        self.toolbar.clear()
        self.toolbar.addActions([self.act_new, self.act_open, self.act_save])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_undo, self.act_redo])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_layout, self.act_fit])
        self.apply_icons()

    def apply_icons(self) -> None:
        """Vector icons in the theme's text colour (again when the theme changes)."""
        palette = self.window.palette()
        for act, name in ((self.act_new, "new"), (self.act_open, "open"),
                          (self.act_save, "save"), (self.act_undo, "undo"),
                          (self.act_redo, "redo"), (self.act_layout, "layout"),
                          (self.act_fit, "fit")):
            act.setIcon(action_icon(name, palette))

    def refresh_recent(self) -> None:
        """File > Open Recent: the recent files, newest first."""
        window = self.window
        self.recent_menu.clear()
        for path in window.recent_files():
            act = self.recent_menu.addAction(str(path))
            act.triggered.connect(lambda _=False, p=path: window.maybe_save()
                                  and window.open_file(p))
        self.recent_menu.setEnabled(bool(window.recent_files()))
