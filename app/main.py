"""Entry point of the ``layerforge`` command.

With a subcommand it runs the headless CLI (``backend.cli``) without loading Qt; with no
arguments (or a file to open) it opens the editor.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from backend.cli import COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in COMMANDS or argv[0].startswith("-")):
        from backend.cli import main as cli_main
        return cli_main(argv)
    return open_editor(argv[0] if argv else None)


def create_application():
    """The QApplication with LayerForge's names (QSettings, QStandardPaths) and style."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("LayerForge")
    app.setApplicationName("LayerForge")
    app.setStyle("Fusion")  # follows the system's light/dark colour scheme on every platform
    return app


def open_editor(path: str | None = None) -> int:
    """Open the editor window on ``path`` or on the built-in example (the digits CNN)."""
    from app.main_window import MainWindow
    from app.recovery import pending_recoveries

    app = create_application()
    window = MainWindow()
    if path:
        window.open_file(Path(path))
    window.show()
    offer_recovery(window, pending_recoveries())
    return app.exec()


def offer_recovery(window, files) -> None:
    """After a crash: offer to restore the newest recovery file."""
    from PySide6.QtWidgets import QMessageBox

    from app.document import Document
    from app.recovery import read_recovery
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
        f.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
