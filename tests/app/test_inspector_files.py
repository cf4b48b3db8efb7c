"""The inspector's file parameters: a path editor with a file dialog, derived values read from
an imported model file on a worker thread (one undo step), and trainable-parameter counts."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel

from app.document import Document
from app.editor.inspector import DerivedEditor, FileEditor, InspectorWidget
from backend.checkpoint import Checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph
from graph.model import Edge, Graph
from graph.project import Project
from graph.templates import Builder, build_template


def make_inspector(qtbot, document) -> InspectorWidget:
    inspector = InspectorWidget(document)
    qtbot.addWidget(inspector)
    inspector.resize(360, 760)
    inspector.show()
    return inspector


@pytest.fixture
def transfer_doc(qtbot):
    document = Document(build_template("transfer"))
    yield document
    document.close()


def test_backbone_weights_file_is_picked_with_a_dialog(qtbot, transfer_doc, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = transfer_doc.graph.find("backbone")
    inspector = make_inspector(qtbot, transfer_doc)
    inspector.set_node(backbone.id)
    editor = inspector.editor("weights_file")
    assert isinstance(editor, FileEditor) and editor.edit.text() == ""
    chosen = str(tmp_path / "resnet18.pth")
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args: (asked.append(args[-1]), (chosen, ""))[1])
    editor.browse.click()
    assert asked == [backbone.spec.param_index["weights_file"].file_filter]
    assert backbone.params["weights_file"] == chosen and editor.edit.text() == chosen
    transfer_doc.undo_stack.undo()
    assert backbone.params["weights_file"] == "" and editor.edit.text() == ""


def test_frozen_backbone_shows_its_trainable_count(qtbot, transfer_doc) -> None:
    graph = transfer_doc.graph
    inspector = make_inspector(qtbot, transfer_doc)
    inspector.set_node(graph.find("backbone").id)
    assert inspector.params_label.text() == "927,008"
    assert inspector.trainable_label.text() == "0"
    inspector.editor("freeze").check.click()
    transfer_doc.refresh_analysis()
    assert inspector.trainable_label.text() == "927,008"
    inspector.set_node(None)
    assert inspector.total_labels["trainable"].text() == f"{927_008 + 576 * 2 + 2:,}"


def imported_doc(path: str = "") -> Document:
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": (12,)})
    node = g.add_node("ImportedModel", name="imported", params={"path": path})
    out = g.add_node("Output", name="y")
    g.connect(Edge(x.id, "out", node.id, "in"))
    g.connect(Edge(node.id, "out", out.id, "in"))
    return Document(Project(g))


@pytest.fixture
def checkpoint_file(tmp_path: Path) -> Path:
    b = Builder()
    x = b.add("Input", "x", kind="vector", shape=(12,))
    out = b.chain(x, ("Linear", "fc", {"out_features": 5}))
    b.add("Output", "y", out)
    project = b.project("mlp", "", {"name": "digits", "options": {}})
    path = tmp_path / "mlp.pt"
    save_checkpoint(path, Checkpoint(project, compile_graph(project.graph).state_dict(), {},
                                     "classification", None, 0))
    return path


def test_choosing_a_model_file_reads_its_shapes_as_one_undo_step(qtbot, checkpoint_file: Path,
                                                                 tmp_path: Path) -> None:
    doc = imported_doc()
    node = doc.graph.find("imported")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(node.id)
    assert isinstance(inspector.editor("output_shape"), DerivedEditor)
    assert "no model file chosen" in " ".join(inspector.issue_texts())
    editor = inspector.editor("path")
    editor.edit.setText(str(checkpoint_file))
    editor.edit.editingFinished.emit()
    inspector.wait_for_file_reads()
    assert node.params["format"] == "checkpoint" and node.params["output_shape"] == (5,)
    assert node.params["param_count"] == 65
    doc.refresh_analysis()
    assert inspector.issue_texts() == []
    assert inspector.shape_texts()["out"] == "(N, 5)"
    label = inspector.editor("output_shape").widget
    assert isinstance(label, QLabel) and label.text() == "5"
    doc.undo_stack.undo()  # path and what was read go back together
    assert node.params["path"] == "" and node.params["format"] == "unread"

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    editor.edit.setText(str(junk))
    editor.edit.editingFinished.emit()
    inspector.wait_for_file_reads()
    assert node.params["path"] == str(junk) and node.params["format"] == "unread"
    assert inspector.param_error.isVisible()
    assert "neither a TorchScript file nor a LayerForge checkpoint" in \
        inspector.param_error.text()
    doc.close()

