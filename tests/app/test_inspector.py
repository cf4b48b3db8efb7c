"""The inspector: editors generated from ParamSpecs, undoable edits, shapes, errors, totals."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from app.document import Document
from app.editor.inspector import InspectorWidget
from app.editor.style import error_color, warning_color
from graph.commands import SetParam
from graph.model import Graph
from graph.project import Project
from graph.templates import build_template


@pytest.fixture
def doc(qtbot):
    document = Document(build_template("digits-cnn"))
    yield document
    document.close()


def make_inspector(qtbot, document) -> InspectorWidget:
    inspector = InspectorWidget(document)
    qtbot.addWidget(inspector)
    inspector.resize(340, 700)
    inspector.show()
    return inspector


def settle(document: Document) -> None:
    """Run the analysis that the document schedules after an edit."""
    document.refresh_analysis()


def type_into_spin(qtbot, spin: QSpinBox, text: str) -> None:
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def type_into_line(qtbot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_editors_match_the_node_params(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    assert inspector.name_edit.text() == "conv1"
    assert "Conv2d" in inspector.header.text()
    out = inspector.editor("out_channels").widget
    assert isinstance(out, QSpinBox) and out.value() == 32
    assert out.minimum() == 1 and out.maximum() == 65536
    assert out.toolTip() == conv1.spec.param_index["out_channels"].help
    kernel = inspector.editor("kernel_size")
    assert [s.value() for s in kernel.spins] == [3, 3]
    assert [s.value() for s in inspector.editor("padding").spins] == [1, 1]
    bias = inspector.editor("bias").widget
    assert isinstance(bias, QCheckBox) and bias.isChecked()
    assert conv1.spec.description in inspector.description.text()


def test_spin_box_edit_is_one_undoable_command(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    assert inspector.shape_texts()["out"] == "(N, 32, 16, 16)"

    type_into_spin(qtbot, inspector.editor("out_channels").widget, "8")
    assert conv1.params["out_channels"] == 8
    assert doc.undo_stack.count() == 1
    settle(doc)
    assert inspector.shape_texts()["out"] == "(N, 8, 16, 16)"
    assert inspector.params_label.text() == "80"  # 1*8*3*3 + 8

    doc.undo_stack.undo()
    assert conv1.params["out_channels"] == 32
    assert inspector.editor("out_channels").widget.value() == 32
    assert doc.undo_stack.count() == 1  # undo did not push anything new
    assert doc.undo_stack.index() == 0
    settle(doc)
    assert inspector.shape_texts()["out"] == "(N, 32, 16, 16)"
    assert inspector.params_label.text() == "320"


def test_refreshing_from_the_model_pushes_nothing(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    doc.push(SetParam(doc.graph, conv1.id, "kernel_size", (5, 5)))  # e.g. from a script
    assert [s.value() for s in inspector.editor("kernel_size").spins] == [5, 5]
    assert doc.undo_stack.count() == 1  # the editor's update did not echo back an edit
    inspector.set_node(doc.graph.find("conv2").id)
    inspector.set_node(conv1.id)
    settle(doc)
    assert doc.undo_stack.count() == 1


def test_fixed_length_ints_row(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    stride = inspector.editor("stride").spins
    assert len(stride) == 2
    type_into_spin(qtbot, stride[1], "2")
    assert conv1.params["stride"] == (1, 2)
    settle(doc)
    assert inspector.shape_texts()["out"] == "(N, 32, 16, 8)"


def test_variable_length_ints_text_field(qtbot, doc):
    image = doc.graph.find("image")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(image.id)
    shape = inspector.editor("shape").widget
    assert isinstance(shape, QLineEdit) and shape.text() == "1, 16, 16"
    kind = inspector.editor("kind").widget
    assert isinstance(kind, QComboBox) and kind.currentText() == "image"

    type_into_line(qtbot, shape, "3, 32, 32")
    assert image.params["shape"] == (3, 32, 32)
    settle(doc)
    assert inspector.shape_texts()["out"] == "(N, 3, 32, 32)"

    before = doc.undo_stack.count()
    type_into_line(qtbot, shape, "3, x, 32")
    assert image.params["shape"] == (3, 32, 32)  # not pushed
    assert doc.undo_stack.count() == before
    assert inspector.param_error.isVisible()
    assert "not a whole number" in inspector.param_error.text()

    type_into_line(qtbot, shape, "1 16 16")  # spaces work too; the error goes away
    assert image.params["shape"] == (1, 16, 16)
    assert not inspector.param_error.isVisible()


def test_choice_edit(qtbot, doc):
    image = doc.graph.find("image")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(image.id)
    inspector.editor("kind").widget.setCurrentText("vector")
    assert image.params["kind"] == "vector"
    settle(doc)
    # A vector input needs one number: validation says so, in red.
    assert any("needs 1 numbers" in t for t in inspector.issue_texts())


def test_small_float_round_trips(qtbot, doc):
    bn1 = doc.graph.find("bn1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(bn1.id)
    eps = inspector.editor("eps").widget
    assert eps.text() == "1e-05"
    type_into_line(qtbot, eps, "3e-7")
    assert bn1.params["eps"] == 3e-7
    assert eps.text() == "3e-07"
    doc.undo_stack.undo()
    assert bn1.params["eps"] == 1e-5
    assert eps.text() == "1e-05"
    assert float(eps.text()) == 1e-5
    before = doc.undo_stack.count()
    type_into_line(qtbot, eps, "1e-05")  # same value: no command
    assert doc.undo_stack.count() == before
    type_into_line(qtbot, eps, "abc")
    assert bn1.params["eps"] == 1e-5
    assert "not a number" in inspector.param_error.text()


def test_bool_edit(qtbot, doc):
    fc = doc.graph.find("fc")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(fc.id)
    box = inspector.editor("bias").widget
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert fc.params["bias"] is False
    settle(doc)
    assert inspector.params_label.text() == "10,240"  # 1024 * 10, no bias


def test_rename_and_refused_rename(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    type_into_line(qtbot, inspector.name_edit, "stem")
    assert conv1.name == "stem"
    assert not inspector.name_error.isVisible()

    type_into_line(qtbot, inspector.name_edit, "conv2")  # taken
    assert conv1.name == "stem"
    assert inspector.name_edit.text() == "stem"  # the field is reset
    assert inspector.name_error.isVisible()
    assert "already exists" in inspector.name_error.text()
    assert error_color(inspector.palette()).name() in inspector.name_error.styleSheet()

    type_into_line(qtbot, inspector.name_edit, "2bad name")
    assert conv1.name == "stem"
    assert "must start with a letter" in inspector.name_error.text()

    doc.undo_stack.undo()
    assert conv1.name == "conv1"
    assert inspector.name_edit.text() == "conv1"


def test_unconnected_input_is_shown_in_red(qtbot):
    graph = Graph()
    graph.add_node("Input", name="image")
    fc1 = graph.add_node("Linear", name="fc1")
    graph.add_node("Output", name="out")
    document = Document(Project(graph))
    inspector = make_inspector(qtbot, document)
    inspector.set_node(fc1.id)
    assert inspector.shape_texts()["in"] == "not connected"
    errors = [label for label in inspector.issue_labels if label.property("severity") == "error"]
    warnings = [label for label in inspector.issue_labels
                if label.property("severity") == "warning"]
    assert any("has nothing connected to its input 'in'" in e.text() for e in errors)
    assert all(error_color(inspector.palette()).name() in e.styleSheet() for e in errors)
    assert all(e.wordWrap() for e in errors)
    assert warnings and warning_color(inspector.palette()).name() in warnings[0].styleSheet()


def test_shape_error_appears_after_an_edit_and_goes_away(qtbot, doc):
    flatten = doc.graph.find("flatten")
    fc = doc.graph.find("fc")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(fc.id)
    assert inspector.issue_texts() == []
    doc.push(SetParam(doc.graph, flatten.id, "end_dim", 1))  # Flatten keeps (N, 64, 4, 4)
    settle(doc)
    assert any("expects (N, F)" in t and "insert a Flatten" in t for t in inspector.issue_texts())
    assert inspector.shape_texts()["in"] == "(N, 64, 4, 4)"
    doc.undo_stack.undo()
    settle(doc)
    assert inspector.issue_texts() == []


def test_merge_layer_port_rows_follow_the_input_count(qtbot):
    document = Document(build_template("residual-cnn"))
    add = document.graph.find("block1_add")
    inspector = make_inspector(qtbot, document)
    inspector.set_node(add.id)
    assert set(inspector.shape_texts()) == {"in1", "in2", "out"}
    type_into_spin(qtbot, inspector.editor("inputs").widget, "3")
    assert add.params["inputs"] == 3
    settle(document)
    assert inspector.shape_texts()["in3"] == "not connected"
    assert any("in3" in t for t in inspector.issue_texts())


def test_a_merge_layer_says_which_layer_feeds_each_input(qtbot):
    document = Document(build_template("residual-cnn"))
    add = document.graph.find("block1_add")
    inspector = make_inspector(qtbot, document)
    inspector.set_node(add.id)
    texts = inspector.shape_texts()
    assert texts["in1"] == "(N, 32, 16, 16)  ← block1_bn2"
    assert texts["in2"] == "(N, 32, 16, 16)  ← stem_relu"
    assert "←" not in texts["out"]
    relu = document.graph.find("block1_out")
    inspector.set_node(relu.id)  # one input: its shape alone, the canvas shows the wire
    assert inspector.shape_texts()["in"] == "(N, 32, 16, 16)"


def test_removed_node_clears_the_inspector(qtbot, doc):
    from graph.commands import RemoveNode

    conv2 = doc.graph.find("conv2")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv2.id)
    doc.push(RemoveNode(doc.graph, conv2.id))
    assert inspector.node_id is None
    assert inspector.empty_page.isVisible() and not inspector.node_page.isVisible()


def test_no_node_shows_hint_and_totals(qtbot, doc):
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(None)
    assert "Select a layer" in inspector.hint.text()
    assert inspector.total_labels["params"].text() == f"{doc.analysis.total_params:,}"
    assert "," in inspector.total_labels["params"].text()
    assert inspector.total_labels["macs"].text().endswith("M")
    assert inspector.total_labels["errors"].text() == "0"
    conv1 = doc.graph.find("conv1")
    doc.push(SetParam(doc.graph, conv1.id, "out_channels", 0))  # out of range: an error
    settle(doc)
    assert int(inspector.total_labels["errors"].text()) >= 1


def test_analysis_refresh_does_not_rebuild_editors(qtbot, doc):
    conv1 = doc.graph.find("conv1")
    inspector = make_inspector(qtbot, doc)
    inspector.set_node(conv1.id)
    spin = inspector.editor("out_channels").widget
    doc.push(SetParam(doc.graph, conv1.id, "out_channels", 16))
    settle(doc)
    assert inspector.editor("out_channels").widget is spin  # updated in place
    assert spin.value() == 16


def test_number_formats():
    from graph.formatting import format_count, format_macs

    assert format_count(1234567) == "1,234,567"
    assert [format_macs(n) for n in (950, 73_728, 999_960, 1_200_000, 3_400_000_000)] == \
        ["950", "73.7K", "1M", "1.2M", "3.4G"]
