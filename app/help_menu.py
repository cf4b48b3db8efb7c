"""The Help menu (User Guide, Keyboard Shortcuts, About) and View > Theme.

The guide is the Markdown user guide shipped in ``resources/docs``, opened in the system's
viewer; the shortcuts dialog is generated from the window's actions, so it lists what the keys
really do; About names the versions a bug report needs.
"""
from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView,
                               QMenu, QMessageBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

from app.theme import THEME_LABELS, THEMES, apply_theme, saved_theme
from backend.resources import resource_path

if TYPE_CHECKING:
    from app.main_window import MainWindow


def guide_path():
    """The bundled user guide (``resources/docs/user-guide.md``)."""
    return resource_path("docs", "user-guide.md")


def layerforge_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layerforge")
    except PackageNotFoundError:  # a bundle or a checkout that was never pip-installed
        return "0.1.0 (not installed)"


def about_text() -> str:
    """Versions of LayerForge, Python, torch, Qt/PySide6 and the training device."""
    import PySide6

    from app.torch_loader import torch_imported, torch_loader

    loader = torch_loader()
    if loader.state == "idle" and torch_imported():
        loader.start()  # imported already: nothing to wait for
    if loader.ready:  # never imported on the GUI thread while the loader imports it
        import torch

        from backend.training.train import available_devices

        torch_line, device = f"torch {torch.__version__}", available_devices()[0]
    else:
        torch_line = "torch: loading…" if not loader.failed else \
            f"torch: could not be loaded ({loader.error})"
        device = "known once PyTorch has loaded"
    return (f"<b>LayerForge {layerforge_version()}</b><br>"
            "Build neural networks visually, train them live, test and export them.<br><br>"
            f"{torch_line}<br>"
            f"Qt {qVersion()} · PySide6 {PySide6.__version__}<br>"
            f"Python {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}<br>"
            f"training device: {device}")


def menu_actions(menu: QMenu, path: str = ""):
    """(menu path, action) for every action in ``menu`` and its submenus."""
    for act in menu.actions():
        if act.isSeparator():
            continue
        name = f"{path}{clean_text(menu.title())} > " if menu.title() else path
        if act.menu() is not None:
            yield from menu_actions(act.menu(), name)
        else:
            yield name, act


def clean_text(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def shortcut_rows(window) -> list[tuple[str, str]]:
    """(action, keys) for each of the window's actions with a shortcut: those in the menus
    (named by menu path) and those only on the window (e.g. the canvas's own)."""
    rows: list[tuple[str, str]] = []
    seen: set[int] = set()
    for top in window.menuBar().actions():
        if top.menu() is None:
            continue
        for name, act in menu_actions(top.menu()):
            seen.add(id(act))
            if act.shortcuts():
                rows.append((f"{name}{clean_text(act.text())}", keys_text(act)))
    for act in window.actions():
        if id(act) not in seen and act.shortcuts() and act.text():
            rows.append((clean_text(act.text()), keys_text(act)))
    return rows


def keys_text(act: QAction) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: a table built from the window's actions."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (name, keys) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(520, 560)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text())
                for r in range(self.table.rowCount())]


class HelpMenu:
    """Adds View > Theme and the Help menu to ``window``'s menu bar."""

    def __init__(self, window: MainWindow, view_menu: QMenu) -> None:
        self.window = window
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.about_box: QMessageBox | None = None
        self.theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(window)
        self.theme_actions: dict[str, QAction] = {}
        current = saved_theme()
        for theme in THEMES:
            act = self.theme_menu.addAction(THEME_LABELS[theme])
            act.setCheckable(True)
            act.setChecked(theme == current)
            act.setStatusTip(f"{theme.title()} colours (kept for the next start)")
            act.triggered.connect(lambda _=False, t=theme: apply_theme(t))
            self.theme_group.addAction(act)
            self.theme_actions[theme] = act

        keys = []
        for key in (*QKeySequence.keyBindings(QKeySequence.StandardKey.HelpContents),
                    QKeySequence("F1")):
            if key not in keys:
                keys.append(key)
        self.act_guide = self._action("&User Guide", self.open_guide,
                                      "Open the user guide")
        self.act_guide.setShortcuts(keys)
        self.act_shortcuts = self._action("&Keyboard Shortcuts", self.show_shortcuts,
                                          "Every action that has a key")
        self.act_about = self._action("&About LayerForge", self.show_about,
                                      "Versions of LayerForge, torch, Qt and the device")
        self.act_about.setMenuRole(QAction.MenuRole.AboutRole)
        self.menu = window.menuBar().addMenu("&Help")
        self.menu.addActions([self.act_guide, self.act_shortcuts])
        self.menu.addSeparator()
        self.menu.addAction(self.act_about)

    def _action(self, text: str, slot, tip: str) -> QAction:
        act = QAction(text, self.window)
        act.setStatusTip(tip)
        act.triggered.connect(slot)
        self.window.addAction(act)  # its shortcut works wherever the focus is
        return act

    def open_guide(self) -> bool:
        """Open the user guide in the system's viewer for Markdown files."""
        path = guide_path()
        if not path.is_file():
            self.window.show_error("User guide missing",
                                   f"The user guide is not installed here ({path}). "
                                   "It is in the project's repository: "
                                   "resources/docs/user-guide.md.")
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.window.show_error("Cannot open the user guide",
                                   f"No application opens {path.name} here. Open it in a "
                                   f"text editor or a browser: {path}")
            return False
        return True

    def show_shortcuts(self) -> None:
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.deleteLater()
        self.shortcuts_dialog = ShortcutsDialog(self.window)  # fresh: the Edit menu changes
        self.shortcuts_dialog.open()

    def show_about(self) -> None:
        if self.about_box is None:
            box = QMessageBox(QMessageBox.Icon.NoIcon, "About LayerForge", "",
                              QMessageBox.StandardButton.Close, self.window)
            box.setIconPixmap(self.window.windowIcon().pixmap(64, 64))
            self.about_box = box
        self.about_box.setText(about_text())
        self.about_box.open()
