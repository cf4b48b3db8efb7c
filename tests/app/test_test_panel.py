"""The Test tab without a camera: a video written by OpenCV, synthetic frames, a fake camera
that dies mid-stream, the drawing canvas, live training weights, and teach-the-camera."""
from __future__ import annotations

import contextlib
import io
import re

import cv2
import pytest
import torch

from backend.training import train as tr
from backend.live.capture import CameraSource, synthetic_frame
from backend.checkpoint import Checkpoint, save_checkpoint
from backend.cli import main as cli_main
from backend.data import load_dataset
from graph.templates import build_template


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process-wide: restored below for the tests after this module
    run = tr.TrainingRun(build_template("digits-cnn"), epochs=2)
    events = list(run.events())
    assert isinstance(events[-1], tr.Finished)
    folder = tmp_path_factory.mktemp("testpanel")
    ckpt = folder / "digits.pt"
    save_checkpoint(ckpt, Checkpoint(run.project, run.model.state_dict(),
                                     run.bundle.normalization, "classification",
                                     run.bundle.class_names, 1))
    video = folder / "digits.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for i in range(24):
        writer.write(synthetic_frame(i // 3, 320, 240))
    writer.release()
    yield {"run": run, "ckpt": ckpt, "video": video}
    torch.set_num_threads(threads)


@pytest.fixture
def panel(isolated_app, qtbot, tmp_path):
    from app.panels.test_panel import TestPanel

    widget = TestPanel()
    widget.set_capture_folder(tmp_path / "captured")
    qtbot.addWidget(widget)
    widget.resize(1100, 320)
    widget.show()
    yield widget
    widget.shutdown()
    assert widget.worker is None


def cli_lines(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(list(argv)) == 0
    return out.getvalue()


def test_video_predictions_reach_the_panel_and_match_the_cli(panel, qtbot, trained):
    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("video", str(trained["video"]))
    panel.invert_box.setChecked(True)
    panel.threshold_box.setChecked(True)
    with qtbot.waitSignal(panel.streamStopped, timeout=10_000) as stopped:
        assert panel.start()
    assert stopped.args == ["ended"] and "end of stream" in panel.message.text()
    assert len(panel.predictions) >= 3
    result = panel.last_result
    assert result is not None and result.fps > 0 and result.latency_ms > 0
    assert re.fullmatch(r"[\d.]+ FPS", panel.fps_label.text())
    assert re.match(r"latency [\d.]+ ms \(model [\d.]+ ms\)", panel.latency_label.text())
    assert panel.bars.names[0].text() == result.prediction.label
    assert panel.model_view.pixmap() is not None and not panel.model_view.pixmap().isNull()
    assert result.model_view.shape == (16, 16)
    assert not panel.running and panel.start_button.text() == "Start"
    # the headless twin prints the same class for every frame the panel showed
    out = cli_lines("infer", str(trained["ckpt"]), "--source", str(trained["video"]),
                    "--invert", "--threshold")
    printed = {int(m.group(1)): m.group(2) for m in
               re.finditer(r"^frame (\d+): (\S+) ", out, re.MULTILINE)}
    assert len(printed) == 24
    for index, label in panel.predictions.items():
        assert printed[index] == label, index


class DyingCamera:
    """Delivers a few frames, then every read fails (the cable was pulled)."""

    def __init__(self, good: int) -> None:
        self.good, self.reads = good, 0

    def isOpened(self):
        return True

    def set(self, *args):
        return True

    def read(self):
        self.reads += 1
        return (True, synthetic_frame(self.reads)) if self.reads <= self.good else (False, None)

    def release(self):
        pass


def test_a_camera_lost_mid_stream_stops_with_a_message_and_reconnects(panel, qtbot, trained,
                                                                        monkeypatch):
    opened = []

    def make_source():
        def build():
            opened.append(1)
            return CameraSource(0, opener=lambda i: DyingCamera(good=6), retries=2)
        return build

    monkeypatch.setattr(panel, "_make_source", make_source)
    panel.set_model_path(str(trained["ckpt"]))
    with qtbot.waitSignal(panel.streamStopped, timeout=10_000) as stopped:
        panel.start()
    assert stopped.args[0].startswith("lost: camera 0 stopped")
    assert "Stream lost" in panel.message.text() and panel.reconnect_button.isEnabled()
    assert not panel.running and panel.predictions
    with qtbot.waitSignal(panel.streamStopped, timeout=10_000):
        panel.reconnect_button.click()
    assert len(opened) == 2


def test_no_camera_says_so_and_other_sources_still_work(panel, qtbot, trained, monkeypatch):
    import app.panels.test_panel as tp

    monkeypatch.setattr(tp, "list_cameras", lambda *a, **k: [])
    panel.refresh_sources(probe=True)
    qtbot.waitUntil(lambda: panel.cameras == [], timeout=5000)
    assert panel.source_combo.itemText(0) == "No camera found"
    assert "No camera found" in panel.message.text()
    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("camera", 5)  # a camera that is not there: a message, not a crash
    with qtbot.waitSignal(panel.streamStopped, timeout=10_000) as stopped:
        panel.start()
    assert "camera 5 does not open" in stopped.args[0]
    panel.set_source("synthetic")
    panel.start()
    qtbot.waitUntil(lambda: len(panel.predictions) >= 3, timeout=10_000)
    panel.stop()


def test_live_weights_of_a_training_run_and_no_run(panel, qtbot, trained):
    panel.set_source("synthetic")
    panel.run_provider = lambda: None
    assert not panel.start()
    assert "no network is training" in panel.message.text()
    run = trained["run"]
    calls = []

    class Watched:  # the real (finished) run, counting snapshot() calls
        project, bundle, model = run.project, run.bundle, run.model

        def snapshot(self):
            calls.append(1)
            return run.snapshot()

    panel.run_provider = Watched
    panel.explain_box.setChecked(True)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None
                    and panel.last_result.prediction.heatmap is not None, timeout=10_000)
    assert calls  # the weights come from the run, not from a file
    panel.stop()


def test_draw_canvas_feeds_the_model(panel, qtbot, trained):
    from PySide6.QtCore import QPointF

    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("draw")
    assert panel.invert_box.isChecked()  # dark ink on white paper
    panel.canvas.stroke(QPointF(140, 40), QPointF(140, 240))  # a "1"
    assert panel.canvas.array()[140, 140].max() < 50
    panel.start()
    qtbot.waitUntil(lambda: len(panel.predictions) >= 2, timeout=10_000)
    view = panel.last_result.model_view
    assert view[:, 7:9].mean() > view[:, :3].mean()  # the stroke, bright in the middle
    panel.stop()


def test_teach_the_camera_records_a_loadable_dataset_and_trains_on_it(panel, qtbot, trained,
                                                                       tmp_path):
    from app.document import Document

    document = Document(build_template("digits-cnn"))
    panel.set_document(document)
    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("synthetic")
    panel.roi_box.setChecked(True)
    panel.add_class("paper")
    panel.add_class("nothing")
    assert [panel.class_list.item(i).text() for i in range(2)] == ["nothing (0)", "paper (0)"]
    panel.class_list.setCurrentRow(1)
    panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=10_000)
    panel.record_button.pressed.emit()  # hold the button...
    qtbot.waitUntil(lambda: panel.thumbs.count() >= 4, timeout=10_000)
    panel.record_button.released.emit()  # ...and let go
    qtbot.wait(100)
    panel.drain()
    recorded = panel.store.counts()["paper"]
    assert recorded >= 4 and panel.class_list.item(1).text() == f"paper ({recorded})"
    panel.stop()
    # bad samples can be deleted
    panel.thumbs.item(0).setSelected(True)
    panel.delete_selected()
    assert panel.store.counts()["paper"] == recorded - 1
    # the other class from a video file
    panel.class_list.setCurrentRow(0)
    assert panel.record_video(trained["video"], every=4) == 6
    bundle = load_dataset(panel.store.dataset_spec(), "image", (1, 16, 16))
    assert bundle.class_names == ["nothing", "paper"]
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == recorded - 1 + 6
    with qtbot.waitSignal(panel.trainRequested):
        assert panel.train_on_captures()
    assert document.project.dataset == {"name": "image_folder",
                                        "options": {"path": str(panel.store.root)}}
    document.undo_stack.undo()
    assert document.project.dataset["name"] == "digits"


def test_the_main_window_has_a_test_tab_after_evaluation(gui):
    window = gui.window()
    tabs = [window.bottom_tabs.tabText(i) for i in range(window.bottom_tabs.count())]
    assert tabs.index("Test") == tabs.index("Evaluation") + 1
    assert window.test_panel.run_provider() is window.training_panel.session.run
    window.test_panel.train_button.click()  # nothing recorded: a message, nothing changes
    assert "two classes" in window.test_panel.message.text()
    window.document.undo_stack.setClean()
    window.close()


def test_region_box_moves_with_the_mouse(panel, qtbot):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    panel.roi_box.setChecked(True)
    view = panel.video
    view.set_frame(synthetic_frame(1, 320, 240)[:, :, ::-1].copy())
    before = view.roi
    rect = view.image_rect()
    centre = QPoint(int(rect.x() + (before[0] + before[2] / 2) * rect.width()),
                    int(rect.y() + (before[1] + before[3] / 2) * rect.height()))
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseMove(view, centre + QPoint(30, 10))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       centre + QPoint(30, 10))
    after = view.roi
    assert after[0] > before[0] and after[1] > before[1] and after[2:] == before[2:]
    assert panel.options().roi == after


def test_a_new_document_clears_the_test_tab(gui, qtbot, trained):
    """File > New / Open: the Test tab forgets the previous network's model file, its training
    run's live weights, the stream and every prediction."""
    from app.document import Document

    window = gui.window(template="digits-cnn")
    panel = window.test_panel
    window.training_panel.session.run = trained["run"]  # the old document was trained
    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("synthetic")
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.predictions) >= 2 and panel.fps_label.text() != "FPS –",
                    timeout=10_000)
    assert panel.bars.names[0].text() != "–" and not panel.model_view.pixmap().isNull()

    window.set_document(Document(build_template("hello-mlp")))
    assert not panel.running and panel.start_button.text() == "Start"
    assert panel.model_path is None and panel.model_combo.currentData() == "training"
    assert panel.model_combo.findData("path") < 0 or \
        panel.model_combo.currentText() != trained["ckpt"].name
    assert panel.last_result is None and panel.predictions == {}
    assert [n.text() for n in panel.bars.names] == ["–"] * len(panel.bars.names)
    assert panel.model_view.pixmap().isNull() and panel.fps_label.text() == "FPS –"
    assert panel.latency_label.text() == "latency –" and panel.detail_label.text() == ""
    assert panel.video._image is None  # the old frame and its caption are gone
    assert panel.message.text() == ""
    # the previous document's run is not this network: Start says so instead of testing it
    assert not panel.start()
    assert "no network is training" in panel.message.text()
    window.document.undo_stack.setClean()
    window.close()


def test_a_blank_canvas_asks_for_a_digit_and_predicts_only_with_ink(panel, qtbot, trained):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    panel.set_model_path(str(trained["ckpt"]))
    panel.set_source("draw")
    panel.side_tabs.setCurrentIndex(0)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.worker is not None and panel.worker.predictor is not None,
                    timeout=10_000)
    qtbot.wait(400)  # a dozen frames of blank paper went by
    assert panel.last_result is None and panel.predictions == {}
    assert panel.worker.results.maxlen == 1 and not panel.worker.results
    assert panel.bars.names[0].text() == "–" and panel.fps_label.text() == "FPS –"
    assert panel.canvas.prompt == "Draw a digit" and not panel.canvas.has_ink
    assert "Draw a digit" in panel.detail_label.text()
    assert "Draw a digit" in panel.message.text()
    # a stroke with the mouse: now the network reads it
    canvas = panel.canvas
    side = min(canvas.width(), canvas.height())
    x0, y0 = (canvas.width() - side) // 2, (canvas.height() - side) // 2
    top, bottom = QPoint(x0 + side // 2, y0 + side // 6), QPoint(x0 + side // 2, y0 + side * 5 // 6)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, top)
    for i in range(1, 6):
        QTest.mouseMove(canvas, top + (bottom - top) * i / 5)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, bottom)
    assert canvas.has_ink
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=10_000)
    assert panel.bars.names[0].text() == panel.last_result.prediction.label
    assert not panel.message.text().startswith("Draw a digit")
    # Clear drawing: back to the prompt, the last prediction is not left standing
    clear = next(b for b in panel.findChildren(type(panel.start_button))
                 if b.text() == "Clear drawing")
    qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
    assert not canvas.has_ink and panel.last_result is None
    assert panel.bars.names[0].text() == "–" and "Draw a digit" in panel.detail_label.text()
    count = len(panel.predictions)
    qtbot.wait(400)
    panel.drain()
    assert panel.last_result is None and len(panel.predictions) <= count + 1
    panel.stop()


def test_the_region_box_does_not_crop_the_drawing(panel, qtbot, trained):
    """The region box is drawn on camera/video frames; the drawing canvas shows no frame, so
    the box would crop the paper unseen: in draw mode it is off (and says why)."""
    from PySide6.QtCore import QPointF

    panel.set_model_path(str(trained["ckpt"]))
    panel.roi_box.setChecked(True)
    assert panel.options().roi is not None  # frames: the box crops
    panel.set_source("draw")
    assert not panel.roi_box.isEnabled() and "whole input" in panel.roi_box.toolTip()
    assert panel.options().roi is None
    # a stroke near the left edge, outside the default box: the model must see it
    panel.canvas.stroke(QPointF(30, 40), QPointF(30, 240))
    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=10_000)
    view = panel.last_result.model_view  # 16x16: the stroke is in the left few columns
    assert view[:, :4].mean() > view[:, 6:].mean() + 40
    panel.stop()
    panel.set_source("video", str(trained["video"]))
    assert panel.roi_box.isEnabled() and panel.options().roi is not None


def test_choosing_a_video_replaces_no_camera_found(panel, qtbot, trained, monkeypatch, tmp_path):
    import numpy as np
    from PySide6.QtWidgets import QFileDialog

    import app.panels.test_panel as tp

    video = tmp_path / "clip.avi"  # a few synthetic frames, written here
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(12):
        frame = np.full((120, 160, 3), 255, np.uint8)
        cv2.putText(frame, str(i % 10), (60, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (0, 0, 0), 6)
        writer.write(frame)
    writer.release()
    monkeypatch.setattr(tp, "list_cameras", lambda *a, **k: [])
    panel.refresh_sources(probe=True)
    qtbot.waitUntil(lambda: panel.cameras == [], timeout=5000)
    assert "No camera found" in panel.message.text()
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(video), "")))
    combo = panel.source_combo
    index = combo.findData("video")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)  # the user picks "Video file…" and chooses clip.avi
    assert panel.source_path == str(video)
    assert "No camera found" not in panel.message.text()
    assert "clip.avi" in panel.message.text() and combo.currentText() == "Video: clip.avi"
    panel.set_model_path(str(trained["ckpt"]))
    with qtbot.waitSignal(panel.streamStopped, timeout=10_000) as stopped:
        assert panel.start()
    assert stopped.args == ["ended"] and panel.predictions
    assert "No camera found" not in panel.message.text()
