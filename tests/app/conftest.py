"""Qt tests run without a screen: the offscreen platform must be chosen before Qt loads."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# With torch imported, windows build their torch panels at once (app.torch_loader), as the
# tests expect; tests/app/test_startup.py checks the lazy start in a fresh process.
import torch  # noqa: E402,F401

from pathlib import Path

import pytest


@pytest.fixture
def isolated_app(qapp, tmp_path, monkeypatch):
    """The LayerForge application names with settings, recent files and the recovery folder
    all under ``tmp_path``: a test never reads or writes the real user's files."""
    from PySide6.QtCore import QSettings, QStandardPaths

    from app.main import create_application

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))  # test-mode standard paths live under $HOME
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    app = create_application()
    from app.recovery import recovery_dir
    assert Path(recovery_dir()).is_relative_to(tmp_path)  # never the user's recovery folder
    assert Path(QSettings().fileName()).is_relative_to(tmp_path)
    yield app
    QStandardPaths.setTestModeEnabled(False)


class Gui:
    """Drives the editor as a user does: windows, mouse on the canvas, keys, dialogs.

    Every dialog that would block is replaced: ``questions`` records QMessageBox.question
    calls (answered with ``answer``), ``errors`` records MainWindow.show_error calls and
    ``warnings`` any QMessageBox.warning."""

    def __init__(self, qtbot, monkeypatch) -> None:
        from PySide6.QtWidgets import QFileDialog, QMessageBox

        from app.main_window import MainWindow

        self.qtbot = qtbot
        self.questions: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.answer = QMessageBox.StandardButton.Discard
        self.open_name = ""
        self.save_name = ""

        def question(parent, title, text, *args, **kwargs):
            self.questions.append(text)
            return self.answer

        def warning(parent, title, text, *args, **kwargs):
            self.warnings.append(text)
            return QMessageBox.StandardButton.Ok

        monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
        monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
        monkeypatch.setattr(QFileDialog, "getOpenFileName",
                            staticmethod(lambda *a, **k: (self.open_name, "")))
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            staticmethod(lambda *a, **k: (self.save_name, "")))
        original_show_error = MainWindow.show_error

        def show_error(window, title, text):
            self.errors.append((title, text))
            original_show_error(window, title, text)  # -> the patched, non-blocking warning

        monkeypatch.setattr(MainWindow, "show_error", show_error)

    # ---- windows ----------------------------------------------------------------------
    def window(self, document=None, template: str | None = None):
        """A shown MainWindow on ``document`` (or a template, or the default example)."""
        from app.document import Document
        from app.main_window import MainWindow
        from graph.templates import build_template

        if document is None and template is not None:
            document = Document(build_template(template))
        window = MainWindow(document)
        self.qtbot.addWidget(window)
        window.show()
        self.qtbot.waitExposed(window)
        self.qtbot.wait(1)  # let the deferred zoom-to-fit of set_document run
        return window

    def settle(self, window) -> None:
        """Let the document's coalesced re-analysis run through the event loop."""
        document = window.document
        self.qtbot.waitUntil(lambda: not document._reanalyze.isActive(), timeout=2000)

    # ---- the canvas -------------------------------------------------------------------
    @staticmethod
    def show_items(window, *items) -> None:
        """Zoom to 100% (less if they don't fit) and centre on ``items``, so that a user
        could point at them."""
        from PySide6.QtCore import QRectF

        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        viewport = window.view.viewport().rect()
        window.view.set_zoom(min(1.0, (viewport.width() - 40) / rect.width(),
                                 (viewport.height() - 40) / rect.height()))
        window.view.centerOn(rect.center())

    @staticmethod
    def view_point(window, scene_point):
        """Where ``scene_point`` is on the canvas viewport (asserting it is visible)."""
        point = window.view.mapFromScene(scene_point)
        assert window.view.viewport().rect().contains(point), "point is off screen"
        return point

    def press(self, window, scene_point, modifiers=None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.mousePress(window.view.viewport(), Qt.MouseButton.LeftButton,
                         modifiers or Qt.KeyboardModifier.NoModifier,
                         self.view_point(window, scene_point))

    def move(self, window, scene_point) -> None:
        from PySide6.QtTest import QTest

        QTest.mouseMove(window.view.viewport(), self.view_point(window, scene_point))

    def release(self, window, scene_point, modifiers=None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.mouseRelease(window.view.viewport(), Qt.MouseButton.LeftButton,
                           modifiers or Qt.KeyboardModifier.NoModifier,
                           self.view_point(window, scene_point))

    def click(self, window, scene_point, modifiers=None) -> None:
        self.press(window, scene_point, modifiers)
        self.release(window, scene_point, modifiers)

    def drag(self, window, start, end, steps: int = 4) -> None:
        """Press at ``start``, move in a few steps, release at ``end`` (scene points)."""
        self.press(window, start)
        for i in range(1, steps + 1):
            self.move(window, start + (end - start) * (i / steps))
        self.release(window, end)

    @staticmethod
    def header_point(node_item):
        """A point on a node card's title bar (not on a port)."""
        from PySide6.QtCore import QPointF

        return node_item.scenePos() + QPointF(70, 12)

    def click_node(self, window, node_id: str, modifiers=None) -> None:
        item = window.scene.node_items[node_id]
        self.click(window, self.header_point(item), modifiers)

    def wire(self, window, out_port, in_port) -> None:
        """Drag a wire from one port to another with the mouse."""
        self.show_items(window, out_port.node_item, in_port.node_item)
        self.drag(window, out_port.scenePos(), in_port.scenePos())


@pytest.fixture
def gui(isolated_app, qtbot, monkeypatch):
    return Gui(qtbot, monkeypatch)


@pytest.fixture(scope="session", autouse=True)
def _clipboard_emptied_before_exit():
    """Offscreen Qt keeps the clipboard's QMimeData in a C++ global that is deleted only after
    Python has shut down; once Python has wrapped it (the copy/paste tests do), that late
    delete calls into the finalized interpreter and the test process segfaults at exit
    (exit code 139 after every test passed). Emptying the clipboard while Python still runs
    deletes the QMimeData in time."""
    yield
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.clipboard().clear()
