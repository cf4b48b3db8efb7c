"""Entry point of the ``layerforge`` command.

With a subcommand it runs the headless CLI (``backend.cli``) without loading Qt; with no
arguments (or a file to open) it opens the editor.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from backend.cli import COMMANDS

# Opens the editor, waits until the window is shown and painted, closes it and exits 0: the
# installers' smoke test runs the bundled app with it (installers/smoke_test.sh).
SMOKE_FLAG = "--smoke-test"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


# Qt platforms that draw on a screen, and the variables that say where it is. Any other
# (offscreen, minimal, vnc...) needs none.
_SCREEN_PLATFORMS = {"xcb": ("DISPLAY",), "wayland": ("WAYLAND_DISPLAY",),
                     "wayland-egl": ("WAYLAND_DISPLAY",)}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in COMMANDS or (argv[0].startswith("-") and argv[0] != SMOKE_FLAG)):
        from backend.cli import main as cli_main
        return cli_main(argv)
    smoke_test = bool(argv) and argv[0] == SMOKE_FLAG
    path = (argv[1:] if smoke_test else argv)[:1]
    if path and not smoke_test and not Path(path[0]).exists():
        sys.stderr.write(f"layerforge: no such command or file: {path[0]} "
                         f"(commands: {', '.join(COMMANDS)}; layerforge --help)\n")
        return 2
    if not has_display():
        sys.stderr.write("LayerForge needs a display for its window; without one use the "
                         f"command line: layerforge {'|'.join(COMMANDS)} (layerforge --help)\n")
        return 1
    return open_editor(path[0] if path else None, smoke_test=smoke_test)


def has_display(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt can open a window here. Only Linux (and other X11/Wayland systems) can lack
    one: there, without DISPLAY and WAYLAND_DISPLAY, Qt aborts the process while loading its
    platform plugin. A QT_QPA_PLATFORM that needs no screen (offscreen, minimal, vnc...) is
    fine."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform in ("win32", "darwin", "cygwin"):
        return True
    chosen = [p.split(":")[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";")]
    chosen = [p for p in chosen if p] or list(_SCREEN_PLATFORMS)
    return any(p not in _SCREEN_PLATFORMS or any(env.get(v) for v in _SCREEN_PLATFORMS[p])
               for p in chosen)


def create_application():
    """The QApplication with LayerForge's names (QSettings, QStandardPaths) and style."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("LayerForge")
    app.setApplicationName("LayerForge")
    app.setStyle("Fusion")  # follows the system's light/dark colour scheme on every platform
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("layerforge")  # Wayland/taskbars match windows to layerforge.desktop
    from app.theme import apply_saved_theme

    apply_saved_theme()  # View > Theme, as chosen last time
    from app.garbage import collect_on_gui_thread

    collect_on_gui_thread(app)  # never on a worker thread: that deadlocks PySide
    return app


def app_icon():
    """LayerForge's icon from the shipped PNGs (PNG, not SVG: needs no Qt image plugin)."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    from backend.resources import resource_path

    icon = QIcon()
    for size in ICON_SIZES:
        path = resource_path("icons", f"layerforge-{size}.png")
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon


def open_editor(path: str | None = None, smoke_test: bool = False) -> int:
    """Open the editor window on ``path`` or on the built-in example (the digits CNN).

    With ``smoke_test`` see :func:`run_smoke_test`.
    """
    from app.main_window import MainWindow
    from app.recovery import pending_recoveries

    app = create_application()
    if smoke_test:
        return run_smoke_test(app, path)
    window = MainWindow()
    if path:
        window.open_file(Path(path))
    window.show()
    offer_recovery(window, pending_recoveries())
    return app.exec()


def run_smoke_test(app, path: str | None) -> int:
    """Open the editor (on ``path`` or the built-in example), wait until it is shown and
    painted, close it and return 0; 1 (with the reason on stderr) if ``path`` cannot be
    opened — no dialog, so it never waits for a user."""
    from PySide6.QtCore import QTimer

    from app.document import Document
    from app.main_window import MainWindow
    from graph.errors import LayerForgeError

    try:
        document = Document.open(path) if path else None
    except LayerForgeError as exc:
        sys.stderr.write(f"smoke test: cannot open {path}: {exc}\n")
        return 1
    window = MainWindow(document)
    window.show()
    result: list[int] = []
    QTimer.singleShot(0, lambda: result.append(_smoke_check(window)))
    app.exec()
    return result[0] if result else 1


def _smoke_check(window) -> int:
    """Runs once the event loop is up: paint the window, report, close it, quit."""
    from PySide6.QtWidgets import QApplication

    image = window.grab().toImage()  # forces a full paint of every child widget
    painted = not image.isNull() and image.width() > 0
    graph = window.document.graph
    sys.stdout.write(f"smoke test: opened '{window.document.title}' ({len(graph.nodes)} "
                     f"layers), window {image.width()}x{image.height()} painted={painted}, "
                     f"icon={not QApplication.windowIcon().isNull()}\n")
    sys.stdout.flush()
    window.close()
    QApplication.quit()
    return 0 if painted else 1


def offer_recovery(window, files) -> None:
    """After a crash: offer to restore the newest recovery file."""
    from PySide6.QtWidgets import QMessageBox

    from app.document import Document
    from app.recovery import discard_recovery, read_recovery
    from graph.errors import LayerForgeError

    if not files:
        return
    answer = QMessageBox.question(
        window, "Restore unsaved work?",
        "LayerForge did not close properly last time. Restore the unsaved network?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    if answer == QMessageBox.StandardButton.Yes:
        try:
            project, original = read_recovery(files[0])
        except LayerForgeError as exc:
            window.show_error("Cannot restore", str(exc))
        else:
            document = Document(project, original)
            window.set_document(document)
            document.undo_stack.resetClean()  # restored work is unsaved work
            document.modifiedChanged.emit(True)
    for f in files:
        discard_recovery(f)


if __name__ == "__main__":
    raise SystemExit(main())
