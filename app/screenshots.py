"""Render the README's screenshots from the running app (offscreen).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m app.screenshots resources/screenshots

One PNG of the main window per template (first real layer selected so the inspector shows
something), a training run in progress, the evaluation views of three templates, and a
shape error on the canvas.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out_dir: str = "resources/screenshots") -> None:
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)  # never touch the user's settings or recovery

    from app.document import Document
    from app.main import create_application
    from app.main_window import MainWindow
    from graph.commands import Compound, Connect, RemoveNode
    from graph.model import Edge
    from graph.templates import TEMPLATES, build_template

    app = create_application()
    from PySide6.QtCore import QSettings

    QSettings().clear()  # test-mode store: a layout saved by an earlier run must not leak in
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def shoot(window: MainWindow, name: str, select: str | None) -> None:
        window.resize(1600, 1000)
        window.show()
        window.bottom_tabs.setCurrentWidget(window.code_view)
        for _ in range(3):
            app.processEvents()
        window.view.zoom_to_fit()
        if select:
            window.scene.select_nodes([window.document.graph.find(select).id])
        for _ in range(3):
            app.processEvents()
        window.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    first_layer = {"hello-mlp": "fc1", "digits-cnn": "conv1", "lstm-forecast": "lstm",
                   "char-gru": "gru", "residual-cnn": "block1_add"}
    for key in TEMPLATES:
        window = MainWindow(Document(build_template(key)))
        shoot(window, f"editor-{key}", first_layer.get(key))
        window.document.undo_stack.setClean()
        window.close()

    # Training from the editor: a run in progress, then the evaluation views.
    for key, epochs in (("digits-cnn", 4), ("lstm-forecast", 6), ("char-gru", 1)):
        project = build_template(key)
        project.training["epochs"] = epochs
        window = MainWindow(Document(project))
        window.resize(1600, 1000)
        window.show()
        panel = window.training_panel
        window.bottom_tabs.setCurrentWidget(panel)
        panel.start()
        shot = key != "digits-cnn"
        while panel.session.running:
            app.processEvents()
            if not shot and panel.session.run is not None and panel.session.run.history:
                for _ in range(3):
                    app.processEvents()
                window.grab().save(str(out / "training-in-progress.png"))
                print(out / "training-in-progress.png")
                shot = True
        for _ in range(5):
            app.processEvents()
        window.bottom_tabs.setCurrentWidget(window.evaluation_panel)
        for _ in range(5):
            app.processEvents()
        window.grab().save(str(out / f"evaluation-{key}.png"))
        print(out / f"evaluation-{key}.png")
        window.document.undo_stack.setClean()
        window.close()

    # The classic mistake: a Linear straight after pooling, without a Flatten.
    window = MainWindow(Document(build_template("digits-cnn")))
    graph = window.document.graph
    flatten, pool, drop = graph.find("flatten"), graph.find("pool2"), graph.find("drop")
    window.document.push(Compound([RemoveNode(graph, flatten.id)], "Delete flatten"))
    window.document.push(Connect(graph, Edge(pool.id, "out", drop.id, "in")))
    window.document.refresh_analysis()
    shoot(window, "editor-shape-error", "fc")
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
