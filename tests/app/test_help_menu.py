"""Help > User Guide / Keyboard Shortcuts / About, F1, and View > Theme, driven as a user
does: from the menu bar's menus and the keyboard."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QApplication

from app.main import create_application
from app.theme import THEME_SETTING, apply_theme


def menu(window, title: str):
    for act in window.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == title:
            return act.menu()
    raise AssertionError(f"no {title} menu: {[a.text() for a in window.menuBar().actions()]}")


def item(parent_menu, text: str):
    for act in parent_menu.actions():
        if act.text().replace("&", "").rstrip("…") == text:
            return act
    raise AssertionError(f"no {text}: {[a.text() for a in parent_menu.actions()]}")


@pytest.fixture
def opened(monkeypatch):
    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        staticmethod(lambda url: urls.append(url) or True))
    return urls


def test_help_is_the_last_menu_with_the_guide_shortcuts_and_about(gui):
    window = gui.window()
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[-1] == "Help"
    help_menu = menu(window, "Help")
    for text in ("User Guide", "Keyboard Shortcuts", "About LayerForge"):
        assert item(help_menu, text).isEnabled()


def test_user_guide_opens_the_shipped_guide(gui, opened):
    window = gui.window()
    item(menu(window, "Help"), "User Guide").trigger()
    assert len(opened) == 1 and opened[0].isLocalFile()
    path = Path(opened[0].toLocalFile())
    assert path.is_file() and path.name == "user-guide.md"
    assert path.read_text(encoding="utf-8").startswith("# LayerForge user guide")
    assert gui.errors == []


def test_f1_opens_the_guide_from_the_canvas(gui, opened):
    window = gui.window()
    window.activateWindow()
    window.view.setFocus()
    gui.qtbot.waitUntil(window.view.hasFocus, timeout=2000)
    gui.qtbot.keyClick(window.view, Qt.Key.Key_F1)
    assert [Path(u.toLocalFile()).name for u in opened] == ["user-guide.md"]


def test_a_missing_guide_is_said_not_silent(gui, opened, monkeypatch, tmp_path):
    import app.help_menu

    monkeypatch.setattr(app.help_menu, "guide_path", lambda: tmp_path / "nowhere.md")
    window = gui.window()
    item(menu(window, "Help"), "User Guide").trigger()
    assert opened == []
    assert gui.errors and "nowhere.md" in gui.errors[0][1]


def test_keyboard_shortcuts_lists_every_action_with_its_keys(gui):
    window = gui.window()
    item(menu(window, "Help"), "Keyboard Shortcuts").trigger()
    dialog = window.menus.help.shortcuts_dialog
    gui.qtbot.waitExposed(dialog)
    rows = dict(dialog.rows())
    assert "Ctrl+Z" in rows["Edit > Undo"]
    assert "Ctrl+Y" in rows["Edit > Redo"] and "Ctrl+Shift+Z" in rows["Edit > Redo"]
    assert rows["File > Save"] == "Ctrl+S"
    assert rows["View > Auto Layout"] == "Ctrl+L"
    assert "F1" in rows["Help > User Guide"]
    # generated from the actions: every action with a key is there
    listed = {keys for keys in rows.values()}
    for act in (window.act_new, window.act_open, window.act_duplicate, window.act_fit):
        assert any(act.shortcut().toString() in keys for keys in listed), act.text()
    dialog.reject()


def test_about_names_the_versions_and_the_device(gui):
    from backend.training.train import available_devices

    window = gui.window()
    item(menu(window, "Help"), "About LayerForge").trigger()
    box = window.menus.help.about_box
    gui.qtbot.waitExposed(box)
    text = box.text()
    assert "LayerForge" in text and torch.__version__ in text
    assert qVersion() in text and pyside_version in text
    assert available_devices()[0] in text
    box.close()


def window_colour() -> int:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness()


def test_theme_switches_at_once_and_at_the_next_start(gui):
    window = gui.window()
    theme = menu(window, "View")
    themes = item(theme, "Theme").menu()
    try:
        item(themes, "Dark").trigger()
        assert window_colour() < 100
        gui.qtbot.waitUntil(
            lambda: window.palette().color(QPalette.ColorRole.Window).lightness() < 100,
            timeout=2000)  # the window itself follows
        assert QSettings().value(THEME_SETTING) == "dark"
        assert item(themes, "Dark").isChecked() and not item(themes, "System").isChecked()

        item(themes, "Light").trigger()
        assert window_colour() > 200 and QSettings().value(THEME_SETTING) == "light"

        # the next start: the application comes up in the remembered theme
        apply_theme("dark", remember=True)
        QApplication.setPalette(QPalette())  # as a fresh process would start
        create_application()  # what a start runs
        assert window_colour() < 100
        second = gui.window()
        assert item(item(menu(second, "View"), "Theme").menu(), "Dark").isChecked()

        item(themes, "System").trigger()
        assert QSettings().value(THEME_SETTING) == "system"
        assert window_colour() == QPalette().color(QPalette.ColorRole.Window).lightness()
    finally:
        apply_theme("system", remember=False)  # the test application is shared
