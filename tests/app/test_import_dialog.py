"""File > Import PyTorch Model…: the dialog, the worker thread and the new document."""
from __future__ import annotations

import textwrap

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from app.import_dialog import ImportDialog
from backend.checkpoint import load_checkpoint

MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 5)
            self.fc2 = nn.Linear(5, 3)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)) * 2.0)
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
    window.act_import.trigger()
    assert not window.act_import.isEnabled()  # busy on the worker thread
    qtbot.waitUntil(lambda: window.act_import.isEnabled(), timeout=30_000)
    graph = window.document.graph
    assert [n.type for n in graph.nodes] == ["Input", "Linear", "ReLU", "Opaque", "Linear",
                                             "Output"]
    assert graph.find("fc1").params["out_features"] == 5
    assert window.document.analysis.is_valid and gui.errors == []
    assert not window._import_worker.isRunning()
    saved = load_checkpoint(tmp_path / "net-weights.pt")  # graph + weights, as asked
    assert [n.name for n in saved.project.graph.nodes] == [n.name for n in graph.nodes]
    assert set(saved.state_dict) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert window.findChildren(ImportDialog) == []  # the dialog did not stay behind


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
    (title, text), = gui.errors
    assert title == "Cannot import the model" and "no 'Missing' in the file" in text
