"""Render the README's screenshots from the running app (offscreen).

    make screenshots      (or: .venv/bin/python -m app.screenshots resources/screenshots)

One PNG of the main window per template at 1600x1000 (first real layer selected so the
inspector shows something), the residual CNN and an imported ResNeXt-50 (177 layers) also
at 1280x720, a training run in progress at both sizes, the evaluation views of three
templates, a shape error on the canvas, and the Test tab (live test of a recorded video
with Grad-CAM, and teach-the-camera while recording). ``make screenshots`` runs it in a real
X window (Xvfb) where there is one, as offscreen grabs hide layout bugs.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402 - after choosing the platform


def main(out_dir: str = "resources/screenshots", only: str = "") -> None:
    """Every screenshot, or with ``only`` = "blocks" just the block views, "import" just the
    import's progress and report dialogs (quick to redo)."""
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)  # never touch the user's settings or recovery

    from app.document import Document
    from app.main import create_application
    from app.main_window import MainWindow
    from graph.commands import Compound, Connect, RemoveNode
    from graph.model import Edge
    from graph.templates import TEMPLATES, build_template

    app = create_application()
    from app.torch_loader import torch_loader

    torch_loader().load_now()  # the shots drive the torch panels: built with each window
    from PySide6.QtCore import QSettings

    QSettings().clear()  # test-mode store: a layout saved by an earlier run must not leak in
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if only == "import":
        import_screenshots(out)
        return

    def shoot(window: MainWindow, name: str, select: str | None,
              size: tuple[int, int] = (1600, 1000), fit: bool = False) -> None:
        """The window as a user gets it: first-start dock sizes, the network shown from its
        input at a readable zoom (``fit``: Zoom to Fit instead), ``select`` in the
        inspector."""
        window.resize(*size)
        window.show()
        window.bottom_tabs.setCurrentWidget(window.code_view)
        idle(0.3)  # the deferred first-start sizes and start view
        if fit:
            window.view.zoom_to_fit()
        if select:
            window.scene.select_nodes([window.document.graph.find(select).id])
        idle(0.2)
        window.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    # Blocks: the residual CNN grouped into blocks as a user does it (select, Ctrl+G,
    # rename), and one block opened to edit inside.
    window = MainWindow(Document(build_template("residual-cnn")))
    graph = window.document.graph
    for name, layers in (("Stem", ["stem", "stem_bn", "stem_relu"]),
                         ("BasicBlock", [f"block1_{n}" for n in ("conv1", "bn1", "relu",
                                                                  "conv2", "bn2", "add",
                                                                  "out")]),
                         ("WideBlock", ["widen", "widen_bn", "widen_relu"] +
                          [f"block2_{n}" for n in ("conv1", "bn1", "relu", "conv2", "bn2",
                                                   "add", "out")])):
        window.scene.select_nodes([graph.find(n).id for n in layers])
        window.blocks.group()
        window.blocks.rename(name)
    window.auto_layout()
    block = next(n for n in graph.nodes if n.block is not None and n.block.name == "BasicBlock")
    shoot(window, "editor-blocks", block.name)
    window.document.open_block(block.block)
    idle(0.3)
    window.scene.select_nodes([window.document.shown_graph.find("block1_add").id])
    idle(0.2)
    window.grab().save(str(out / "editor-block-opened.png"))
    print(out / "editor-block-opened.png")
    window.document.close_block()  # and the wide block expanded in place (Ctrl+Shift+E)
    idle(0.3)
    wide = next(n for n in graph.nodes if n.block is not None and n.block.name == "WideBlock")
    window.scene.select_nodes([wide.id])
    window.blocks.toggle_expanded()
    window.view.centerOn(window.scene.node_items[wide.id])
    idle(0.2)
    window.grab().save(str(out / "editor-block-expanded.png"))
    print(out / "editor-block-expanded.png")
    window.document.undo_stack.setClean()
    window.close()
    if only == "blocks":
        return

    first_layer = {"hello-mlp": "fc1", "digits-cnn": "conv1", "lstm-forecast": "lstm",
                   "char-gru": "gru", "residual-cnn": "block1_add"}
    for key in TEMPLATES:
        window = MainWindow(Document(build_template(key)))
        shoot(window, f"editor-{key}", first_layer.get(key))
        window.document.undo_stack.setClean()
        window.close()
    window = MainWindow(Document(build_template("residual-cnn")))
    shoot(window, "editor-residual-cnn-1280x720", "block1_add", (1280, 720))
    window.document.undo_stack.setClean()
    window.close()

    # A network LayerForge did not write: torchvision's ResNeXt-50 through torch.fx.
    imported = _imported_resnext()
    for name, size, fit in (("editor-imported-resnext50", (1600, 1000), False),
                            ("editor-imported-resnext50-fit", (1600, 1000), True),
                            ("editor-imported-resnext50-1280x720", (1280, 720), False)):
        window = MainWindow(Document(imported.copy()))
        shoot(window, name, None, size, fit)
        window.document.undo_stack.setClean()
        window.close()

    # Training from the editor: a run in progress (at both window sizes), then the
    # evaluation views.
    for key, epochs, size in (("digits-cnn", 4, (1600, 1000)), ("digits-cnn", 3, (1280, 720)),
                              ("lstm-forecast", 6, (1600, 1000)), ("char-gru", 1, (1600, 1000))):
        project = build_template(key)
        project.training["epochs"] = epochs
        window = MainWindow(Document(project))
        window.resize(*size)
        window.show()
        idle(0.3)
        panel = window.training_panel
        window.bottom_tabs.setCurrentWidget(panel)
        epochs_shown: list = []
        panel.session.epochEnded.connect(epochs_shown.append)
        panel.start()
        name = "training-in-progress" + ("" if size == (1600, 1000) else "-%dx%d" % size)
        shot = key != "digits-cnn"
        while panel.session.running:
            idle(0.05)  # the event loop waits as in the app (a busy loop would starve training)
            if not shot and epochs_shown:  # an epoch's points arrived
                idle(0.5)  # the curves redraw a moment after new points
                window.grab().save(str(out / f"{name}.png"))
                print(out / f"{name}.png")
                shot = True
        if size != (1600, 1000):
            window.document.undo_stack.setClean()
            window.close()
            continue
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

    test_tab_screenshots(app, out)
    import_screenshots(out)


# A model file as users have them: torchvision's MobileNetV3 (random weights) behind a function.
IMPORT_DEMO = """import torchvision


def MobileNetV3():
    return torchvision.models.mobilenet_v3_small(weights=None)
"""


def import_screenshots(out: Path) -> None:
    """File > Import on a MobileNetV3 file: the progress dialog while it maps the operations,
    then the report over the imported network."""
    import tempfile

    from app.document import Document
    from app.main_window import MainWindow
    from graph.templates import build_template

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mobilenet.py"
        path.write_text(IMPORT_DEMO)
        window = MainWindow(Document(build_template("digits-cnn")))
        window.resize(1600, 1000)
        window.show()
        idle(0.3)
        window.files.start_import(f"{path}:MobileNetV3", "3,224,224")
        progress = window.files.import_progress
        while progress.stages.current < progress.stages.stages.index("mapping") \
                and window.files.import_progress is not None:
            idle(0.02)
        if window.files.import_progress is not None:
            progress.grab().save(str(out / "import-progress.png"))
            print(out / "import-progress.png")
        while window.files.import_report is None:
            idle(0.1)
        report = window.files.import_report
        idle(0.3)
        report.grab().save(str(out / "import-report.png"))
        print(out / "import-report.png")
        report.close()
        window.document.undo_stack.setClean()
        window.close()


def _imported_resnext():
    """torchvision's ResNeXt-50 (random weights: nothing downloads) imported via torch.fx."""
    import torchvision

    from backend.imports.torch_fx import import_module

    model = torchvision.models.resnext50_32x4d(weights=None)
    return import_module(model, [(3, 224, 224)], name="resnext50_32x4d", check=False).project


def idle(seconds: float) -> None:
    """Run the event loop for ``seconds``, sleeping when there is nothing to do."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def _demo_model_and_video(folder: Path) -> tuple[Path, Path]:
    """A digits CNN trained briefly (headless) and a recorded video of digits on paper."""
    import cv2

    from backend.training import train as tr
    from backend.live.capture import synthetic_frame
    from backend.checkpoint import Checkpoint, save_checkpoint
    from graph.templates import build_template

    run = tr.TrainingRun(build_template("digits-cnn"), epochs=6)
    for event in run.events():
        if isinstance(event, tr.Failed):
            raise SystemExit(event.message)
    ckpt = folder / "digits.pt"
    save_checkpoint(ckpt, Checkpoint(run.project, run.model.state_dict(),
                                     run.bundle.normalization, run.bundle.task,
                                     run.bundle.class_names, 5))
    video = folder / "digits-on-paper.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(300):
        writer.write(synthetic_frame(i // 30))
    writer.release()
    return ckpt, video


def _test_window(app, ckpt: Path, video: Path):
    """A main window on the Test tab, playing ``video`` through ``ckpt``, given room."""
    import time

    from app.document import Document
    from app.main_window import MainWindow
    from graph.templates import build_template

    window = MainWindow(Document(build_template("digits-cnn")))
    window.resize(1600, 1000)
    window.show()
    window.resizeDocks([window.bottom_dock], [430], Qt.Orientation.Vertical)
    panel = window.test_panel
    window.bottom_tabs.setCurrentWidget(panel)
    panel.set_model_path(str(ckpt))
    panel.set_source("video", str(video))
    for box in (panel.invert_box, panel.threshold_box, panel.roi_box):
        box.setChecked(True)
    panel.start()
    end = time.perf_counter() + 30
    while (len(panel.predictions) < 60 and panel.running) and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
    return window


def test_tab_screenshots(app, out: Path) -> None:
    """The Test tab reading a recorded video (with Grad-CAM), and the teach-the-camera view
    while recording a class."""
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, video = _demo_model_and_video(Path(tmp))
        window = _test_window(app, ckpt, video)
        panel = window.test_panel
        panel.explain_box.setChecked(True)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        window.grab().save(str(out / "test-live.png"))
        print(out / "test-live.png")
        panel.set_capture_folder(Path(tmp) / "captured")
        panel.explain_box.setChecked(False)
        for name in ("blank page", "digit", "letter"):
            panel.add_class(name)
        panel.class_list.setCurrentRow(1)
        panel.side_tabs.setCurrentIndex(1)
        panel.set_recording(True)
        end = time.perf_counter() + 1.2
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.01)
        panel.set_recording(False)
        panel.record_video(video, every=25)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.01)
        window.grab().save(str(out / "test-teach-the-camera.png"))
        print(out / "test-teach-the-camera.png")
        panel.shutdown()
        window.document.undo_stack.setClean()
        window.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
