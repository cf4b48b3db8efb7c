"""File > Import PyTorch Model…: the dialog, the worker thread with its progress dialog
(stages, Cancel), the new document and the report."""
from __future__ import annotations

import textwrap
import threading
from types import SimpleNamespace

import pytest
import shiboken6
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from app.import_dialog import ImportDialog
from app.import_progress import ImportProgressDialog, elapsed_text, source_path
from app.import_report import ImportReportDialog, difference_text, summarize
from backend.checkpoint import load_checkpoint
from backend.imports import torch_fx
from graph.blocks import GroupIntoBlock

STAGES = ["reading", "tracing", "mapping", "structuring", "checking outputs"]

MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 5)
            self.fc2 = nn.Linear(5, 3)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)).cumsum(1))  # cumsum: no layer, Opaque
''')


def answer(monkeypatch, path: str, class_name: str = "", shape: str = "",
           checkpoint: str = ""):
    """Replace the modal dialog: fill it in as a user would and press Import."""
    shown = []

    def exec_(dialog):
        shown.append(dialog)
        dialog.path.setText(path)
        dialog.class_name.setText(class_name)
        dialog.shape.setText(shape)
        dialog.checkpoint.setText(checkpoint)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ImportDialog, "exec", exec_)
    return shown


def record_stages(monkeypatch) -> list[tuple[str, float, str, bool]]:
    """Each stage the progress dialog is told: (name, fraction, what its line then shows,
    whether the dialog was on screen)."""
    seen = []
    original = ImportProgressDialog.set_stage

    def set_stage(dialog, name, fraction):
        original(dialog, name, fraction)
        seen.append((name, fraction, dialog.stages.state(name), dialog.isVisible()))

    monkeypatch.setattr(ImportProgressDialog, "set_stage", set_stage)
    return seen


def gone(widget) -> bool:
    """Closed, or already deleted."""
    return not shiboken6.isValid(widget) or not widget.isVisible()


def stage_names(seen) -> list[str]:
    names: list[str] = []
    for name, *_ in seen:
        if not names or names[-1] != name:
            names.append(name)
    return names


def test_dialog_asks_for_a_class_only_for_python_files(qtbot):
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.path.setText("/models/net.py")
    assert not ok.isEnabled()  # a Python file needs a class
    dialog.class_name.setText("Net")
    dialog.shape.setText("3, 32, 32")
    assert ok.isEnabled() and dialog.source() == "/models/net.py:Net"
    assert dialog.input_shape() == "3, 32, 32"
    dialog.path.setText("/models/net.onnx")
    assert ok.isEnabled() and not dialog.class_name.isEnabled()
    assert dialog.source() == "/models/net.onnx" and dialog.input_shape() == ""


def test_import_opens_the_model_as_a_new_document(gui, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    window = gui.window()
    answer(monkeypatch, str(path), "Net", "6", str(tmp_path / "net-weights"))
    seen = record_stages(monkeypatch)
    window.act_import.trigger()
    assert not window.act_import.isEnabled()  # busy on the worker thread
    progress = window.files.import_progress
    assert progress.isVisible() and progress.isModal()
    assert "net.py" in progress.windowTitle()
    qtbot.waitUntil(lambda: window.act_import.isEnabled(), timeout=30_000)
    # the progress dialog showed every stage in order, each as the current one
    assert stage_names(seen) == STAGES
    assert all(state == "current" and shown for _, _, state, shown in seen)
    fractions = [f for _, f, _, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(0.8)
    assert window.files.import_progress is None and gone(progress)
    # then the report, over the new document
    report = window.files.import_report
    assert isinstance(report, ImportReportDialog) and report.isVisible()
    assert not report.isModal() and report.failure == ""
    facts = report.facts_text()
    assert facts["Nodes"] == "6" and facts["Blocks"] == "0"
    assert facts["Opaque nodes"] == "1 (17%)"
    assert facts["Max output difference"].startswith(("0 ", "1e-", "2e-", "3e-", "4e-"))
    assert facts["Weights saved to"] == str(tmp_path / "net-weights.pt")
    assert report.summary.max_abs_diff is not None and report.summary.max_abs_diff < 1e-5
    row = report.opaque_table.topLevelItem(0)
    assert report.opaque_table.topLevelItemCount() == 1
    assert [row.text(0), row.text(1)] == ["cumsum", ".cumsum()"]
    assert "no LayerForge layer" in row.text(2)
    graph = window.document.graph
    assert [n.type for n in graph.nodes] == ["Input", "Linear", "ReLU", "Opaque", "Linear",
                                             "Output"]
    assert graph.find("fc1").params["out_features"] == 5
    assert window.document.analysis.is_valid and gui.errors == []
    assert not window._import_worker.isRunning()
    saved = load_checkpoint(tmp_path / "net-weights.pt")  # graph + weights, as asked
    assert [n.name for n in saved.project.graph.nodes] == [n.name for n in graph.nodes]
    assert set(saved.state_dict) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    report.close()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert window.findChildren(ImportDialog) == []  # the dialogs did not stay behind
    assert window.findChildren(ImportProgressDialog) == []
    assert window.findChildren(ImportReportDialog) == [] and window.files.import_report is None


def test_a_failed_import_is_reported_and_keeps_the_document(gui, qtbot, monkeypatch,
                                                              tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    window = gui.window()
    document = window.document
    answer(monkeypatch, str(path), "Missing", "6")
    window.act_import.trigger()
    qtbot.waitUntil(lambda: window.act_import.isEnabled(), timeout=30_000)
    assert window.document is document
    report = window.files.import_report
    assert report.isVisible() and report.windowTitle() == "Import failed"
    assert "no 'Missing' in the file" in report.failure
    assert report.message.text() == report.failure
    assert "Cannot import net.py" in report.heading.text()
    assert str(path) in report.heading.text()
    assert not report.opaque_table.isVisible() and gui.errors == []


def test_a_broken_file_shows_the_error_text(gui, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\n\nclass Net(torch.nn.Module:\n    pass\n")
    window = gui.window()
    document = window.document
    answer(monkeypatch, str(path), "Net", "6")
    window.act_import.trigger()
    qtbot.waitUntil(lambda: window.files.import_report is not None, timeout=30_000)
    report = window.files.import_report
    assert window.document is document
    assert "syntax error" in report.failure and "broken.py" in report.failure
    assert "line 3" in report.message.text()
    qtbot.waitUntil(lambda: window.act_import.isEnabled(), timeout=10_000)
    report.close()  # a user closes it: the window goes on
    assert window.files.import_report is None


def test_cancel_stops_the_import_and_opens_nothing(gui, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    window = gui.window()
    document = window.document
    nodes = len(document.graph.nodes)
    # the import waits before mapping until the test has pressed Cancel
    go_on = threading.Event()
    real_stage = torch_fx.stage

    def stage(name, within=0.0):
        if name == "mapping":
            go_on.wait(30)
        real_stage(name, within)

    monkeypatch.setattr(torch_fx, "stage", stage)
    answer(monkeypatch, str(path), "Net", "6", str(tmp_path / "weights.pt"))
    window.act_import.trigger()
    progress = window.files.import_progress
    qtbot.waitUntil(lambda: progress.stages.state("tracing") == "current", timeout=30_000)
    assert progress.stages.state("reading") == "done"
    assert progress.stages.state("mapping") == "waiting"
    qtbot.mouseClick(progress.cancel_button, Qt.MouseButton.LeftButton)
    assert progress.cancel_button.text() == "Cancelling…" and progress.isVisible()
    go_on.set()
    qtbot.waitUntil(lambda: window.act_import.isEnabled(), timeout=30_000)
    assert window.document is document and len(document.graph.nodes) == nodes
    assert window.statusBar().currentMessage() == "Import cancelled"
    assert window.files.import_report is None and gui.errors == []
    assert not (tmp_path / "weights.pt").exists()
    assert gone(progress) and QApplication.activeModalWidget() is None
    window.add_layer_at_centre("ReLU")  # the window is usable
    assert len(document.graph.nodes) == nodes + 1


def test_closing_the_progress_dialog_is_cancel(qtbot):
    dialog = ImportProgressDialog("/models/net.onnx")
    qtbot.addWidget(dialog)
    dialog.show()
    assert "tracing" not in dialog.stages.stages  # ONNX files are read, not traced
    dialog.set_stage("mapping", 0.5)
    assert dialog.bar.value() == dialog.bar.maximum() // 2
    assert [dialog.stages.state(s) for s in dialog.stages.stages] == [
        "done", "current", "waiting", "waiting"]
    with qtbot.waitSignal(dialog.cancelRequested, timeout=1000):
        dialog.close()
    assert dialog.isVisible() and dialog.cancelling  # it stays until the import stops
    dialog.finish()
    assert not dialog.isVisible()


def test_the_report_counts_blocks_and_opaque_nodes_at_any_depth(qtbot, tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    result = torch_fx.import_python(path, "Net", (6,))
    graph = result.project.graph
    GroupIntoBlock(graph, [graph.find("relu").id, graph.find("cumsum").id], "Act").do()
    inner = next(n for n in graph.nodes if n.type == "Block")
    GroupIntoBlock(graph, [inner.id, graph.find("fc2").id], "Head").do()
    summary = summarize(result, f"{path}:Net", 1.5)
    assert (summary.nodes, summary.blocks) == (6, 2)
    (opaque,) = summary.opaque
    outer = next(n for n in graph.nodes if n.type == "Block")
    assert opaque.path == f"{outer.name}/{inner.name}/cumsum"
    assert opaque.operation == ".cumsum()"
    report = ImportReportDialog()
    qtbot.addWidget(report)
    report.show_result(summary)
    assert report.facts_text()["Blocks"] == "2" and report.facts_text()["Time"] == "1.5 s"
    assert "from " + str(path) in report.heading.text()


def test_words():
    assert source_path("/m/net.py:Net") == "/m/net.py"
    assert source_path("/m/a:b/net.onnx") == "/m/a:b/net.onnx"
    assert elapsed_text(75.9) == "1:15"
    assert difference_text(None) == "not checked"
    assert difference_text(3e-7).startswith("3e-07 (the same outputs")
    assert "differ" in difference_text(0.5)
    summary = summarize(SimpleNamespace(project=SimpleNamespace(
        name="x", graph=SimpleNamespace(nodes=[])), notes=["a note"], max_abs_diff=None), "x.onnx")
    assert (summary.nodes, summary.blocks, summary.notes) == (0, 0, ["a note"])
