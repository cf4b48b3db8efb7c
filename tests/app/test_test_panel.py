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
