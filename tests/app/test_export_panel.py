"""The Export tab: an export from the panel writes the file on a worker thread and shows its
result row; a failure shows the message and the panel stays usable; the main window wires the
training's checkpoints into it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from backend.checkpoint import Checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph
from backend.training.train import CheckpointSaved
from graph.templates import build_template


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained hello-mlp checkpoint whose dataset is an empty folder (so exports verify
    on random inputs and need no data)."""
    project = build_template("hello-mlp")
    folder = tmp_path_factory.mktemp("ckpt")
    project.dataset = {"name": "image_folder", "options": {"path": str(folder / "none")}}
    torch.manual_seed(0)
    path = folder / "best.pt"
    save_checkpoint(path, Checkpoint(project, compile_graph(project.graph).state_dict(),
                                     {}, "classification", [str(i) for i in range(10)], 0))
    return path


@pytest.fixture
def panel(qtbot):
    from app.panels.export_panel import ExportPanel

    widget = ExportPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 400)
    yield widget
    widget.wait()
    assert not widget.busy  # no export thread left running


def test_export_writes_the_file_and_shows_the_result_row(qtbot, panel, checkpoint, tmp_path):
    panel.set_checkpoint(CheckpointSaved(str(checkpoint), 0, 1.0))  # as the session emits it
    assert "best.pt" in panel.source_label.text()
    assert panel.output.text().endswith("model.pt")  # a default output beside the checkpoint
    panel.set_format("torchscript")
    panel.set_output(str(tmp_path / "net.pt"))
    with qtbot.waitSignal(panel.exported, timeout=60_000) as blocker:
        assert panel.start_export()
        assert panel.busy and not panel.export_button.isEnabled()
    report = blocker.args[0]
    qtbot.waitUntil(lambda: not panel.busy)
    assert (tmp_path / "net.pt").is_file()
    assert panel.table.rowCount() == 1
    row = [panel.table.item(0, c).text() for c in range(panel.table.columnCount())]
    assert row[0] == "TorchScript" and row[1] == str(tmp_path / "net.pt")
    assert row[3] == f"{report.parameters:,}" == "101,770"
    assert row[5].endswith(" ms") and "kB" in row[2]
    assert panel.export_button.isEnabled() and "Wrote net.pt" in panel.status.text()


def test_a_failure_shows_the_message_and_the_panel_stays_usable(qtbot, panel, checkpoint,
                                                                 tmp_path):
    (tmp_path / "file").write_text("in the way")
    panel.set_checkpoint(str(checkpoint), from_training=False)
    panel.set_format("python")
    panel.set_output(str(tmp_path / "file" / "net.py"))
    with qtbot.waitSignal(panel.failed, timeout=60_000) as blocker:
        panel.start_export()
    assert "is a file, not a folder" in blocker.args[0]
    qtbot.waitUntil(lambda: not panel.busy)
    assert "not a folder" in panel.status.text() and panel.table.rowCount() == 0
    assert panel.export_button.isEnabled()
    # usable: the next export works
    panel.set_format("state_dict")
    panel.set_output(str(tmp_path / "weights.pt"))
    assert panel.output.text().endswith("weights.pt")
    with qtbot.waitSignal(panel.exported, timeout=60_000):
        panel.start_export()
    qtbot.waitUntil(lambda: not panel.busy)
    assert (tmp_path / "weights.pt").is_file() and panel.table.rowCount() == 1


def test_nothing_to_export_says_what_to_do(qtbot, panel):
    with qtbot.waitSignal(panel.failed) as blocker:
        assert not panel.start_export()
    assert "train the network" in blocker.args[0]
    assert not panel.busy


def test_options_follow_the_format(panel):
    panel.set_format("onnx")
    assert panel.opset.isEnabled() and panel.dynamic_batch.isEnabled()
    assert "onnxruntime" in panel.description.text()
    panel.set_format("python")
    assert not panel.opset.isEnabled() and not panel.dynamic_batch.isEnabled()
    assert panel.format_box.count() == 8


def test_main_window_has_the_export_tab_fed_by_training(qtbot, isolated_app, checkpoint):
    from app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    tabs = [window.bottom_tabs.tabText(i) for i in range(window.bottom_tabs.count())]
    assert tabs.index("Export") == tabs.index("Code") + 1
    window.training_panel.session.checkpointSaved.emit(CheckpointSaved(str(checkpoint), 2, .5))
    assert window.export_panel.checkpoint == str(checkpoint)


def type_output(qtbot, panel, text: str) -> None:
    """Replace the Output field's text by typing, as a user does."""
    panel.output.setFocus()
    panel.output.selectAll()
    qtbot.keyClicks(panel.output, text)


def test_the_inference_script_keeps_the_typed_name(qtbot, panel, checkpoint, tmp_path):
    panel.set_checkpoint(str(checkpoint), from_training=False)
    panel.set_format("onnx")
    type_output(qtbot, panel, str(tmp_path / "classify.onnx"))
    panel.set_format("script")  # the user switches the format after typing the name
    assert panel.output.text() == str(tmp_path / "classify.py")
    with qtbot.waitSignal(panel.exported, timeout=60_000) as blocker:
        assert panel.start_export()
    qtbot.waitUntil(lambda: not panel.busy)
    files = [Path(f) for f in blocker.args[0].files]
    assert files[0] == tmp_path / "classify.py" and files[0].is_file()
    assert files[1].is_file() and files[1].parent == tmp_path
    assert not (tmp_path / "predict.py").exists()
    assert "Wrote classify.py" in panel.status.text()
    # a name typed without a suffix is a file name too, not a folder for predict.py
    type_output(qtbot, panel, str(tmp_path / "reader"))
    with qtbot.waitSignal(panel.exported, timeout=60_000) as blocker:
        assert panel.start_export()
    qtbot.waitUntil(lambda: not panel.busy)
    assert Path(blocker.args[0].files[0]) == tmp_path / "reader.py"
    assert panel.output.text() == str(tmp_path / "reader.py")
    assert not (tmp_path / "reader").is_dir()
