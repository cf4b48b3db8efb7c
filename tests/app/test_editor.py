"""The node editor driven as a user drives it: palette drops, wires drawn with the mouse,
parameter edits, shape errors, drags, undo/redo, the clipboard, deleting, quick add and the
canvas's zoom and pan. Every gesture goes through the real widgets of a MainWindow."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QUndoView

from app.document import Document
from app.editor.mime import GRAPH_MIME, LAYER_MIME
from app.editor.scene import EdgeItem, NodeItem
from graph.commands import MoveNodes, Rename, SetParam
from graph.model import Edge, Graph
from graph.project import Project


def scene_matches_graph(window) -> None:
    """The canvas shows exactly the graph: one item per node and per edge, at its place."""
    graph, scene = window.document.graph, window.scene
    assert set(scene.node_items) == {n.id for n in graph.nodes}
    assert set(scene.edge_items) == set(graph.edges)
    for node in graph.nodes:
        item = scene.node_items[node.id]
        assert item.scene() is scene
        assert (item.x(), item.y()) == node.position
        assert item.title == node.name
    for edge, item in scene.edge_items.items():
        assert item.scene() is scene
        assert item.source.node_id == edge.source and item.target.node_id == edge.target
        assert item.path().pointAtPercent(0) == item.source.scenePos()
        assert item.path().pointAtPercent(1) == item.target.scenePos()
    on_canvas = [i for i in scene.items() if isinstance(i, (NodeItem, EdgeItem))]
    assert len(on_canvas) == len(graph.nodes) + len(graph.edges)  # no stale items


def by_name(window, name: str):
    return window.document.graph.find(name)


def item_of(window, name: str) -> NodeItem:
    return window.scene.node_items[by_name(window, name).id]


def edge_between(window, source: str, target: str) -> Edge:
    graph = window.document.graph
    src, dst = graph.find(source).id, graph.find(target).id
    (edge,) = [e for e in graph.edges if e.source == src and e.target == dst]
    return edge


def small_document() -> Document:
    """image -> conv, plus an unconnected relu and an Add fed by conv (for loops)."""
    graph = Graph()
    image = graph.add_node("Input", name="image", params={"kind": "image",
                                                           "shape": (1, 16, 16)})
    conv = graph.add_node("Conv2d", name="conv", params={"out_channels": 4,
                                                          "padding": (1, 1)},
                          position=(300, 0))
    add = graph.add_node("Add", name="add", position=(600, 0))
    relu = graph.add_node("ReLU", name="relu", position=(900, 0))
    graph.add_node("Flatten", name="flat", position=(300, 250))
    graph.connect(Edge(image.id, "out", conv.id, "in"))
    graph.connect(Edge(conv.id, "out", add.id, "in1"))
    graph.connect(Edge(add.id, "out", relu.id, "in"))
    return Document(Project(graph, name="small"))


# ---- the palette ------------------------------------------------------------------------
def send_drag_and_drop(view, mime: QMimeData, pos: QPoint) -> tuple[bool, bool]:
    """What Qt sends the canvas while a drag from the palette passes over it and drops."""
    viewport = view.viewport()
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    move = QDragMoveEvent(pos, actions, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, move)
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_dropping_a_palette_layer_adds_it_where_it_was_dropped(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    before = {n.id for n in graph.nodes}
    mime = window.palette_widget.mime_data("LSTM")  # exactly what the palette drags
    assert mime.hasFormat(LAYER_MIME)
    drop_at = QPoint(250, 180)
    scene_pos = window.view.mapToScene(drop_at)

    entered, dropped = send_drag_and_drop(window.view, mime, drop_at)

    assert entered and dropped
    (new_id,) = {n.id for n in graph.nodes} - before
    node = graph.node(new_id)
    assert node.type == "LSTM" and node.name == "lstm1"
    item = window.scene.node_items[new_id]
    # the card is centred on the drop point: the point lies on it, near its header
    assert item.sceneBoundingRect().contains(scene_pos)
    assert node.position == (round(scene_pos.x() - 95), round(scene_pos.y() - 25))
    assert window.scene.selected_node_ids() == [new_id]
    assert stack.count() == 1 and window.isWindowModified()
    window.act_undo.trigger()
    assert not graph.has_node(new_id) and new_id not in window.scene.node_items
    assert not window.isWindowModified()


def test_dropping_something_else_on_the_canvas_adds_nothing(gui):
    window = gui.window()
    signature = window.document.graph.signature()
    mime = QMimeData()
    mime.setText("LSTM")
    entered, dropped = send_drag_and_drop(window.view, mime, QPoint(200, 200))
    assert not entered and not dropped
    assert window.document.graph.signature() == signature
    assert window.document.undo_stack.count() == 0


# ---- wires ------------------------------------------------------------------------------
def test_drawing_a_wire_from_an_output_to_an_input_connects_them(gui):
    window = gui.window(small_document())
    graph, stack = window.document.graph, window.document.undo_stack
    conv, flat = item_of(window, "conv"), item_of(window, "flat")

    gui.wire(window, conv.outputs["out"], flat.inputs["in"])

    edge = Edge(conv.node_id, "out", flat.node_id, "in")
    assert graph.has_edge(edge)
    assert stack.count() == 1 and stack.undoText() == "Connect conv -> flat"
    gui.settle(window)
    wire = window.scene.edge_items[edge]
    assert wire.label == "(N, 4, 16, 16)" and wire.ok
    assert wire.source is conv.outputs["out"] and wire.target is flat.inputs["in"]
    scene_matches_graph(window)
    # the rubber band is gone
    assert not [i for i in window.scene.items() if i.zValue() == 3]


def test_a_wire_can_be_drawn_backwards_from_an_input(gui):
    window = gui.window(small_document())
    conv, flat = item_of(window, "conv"), item_of(window, "flat")
    gui.wire(window, flat.inputs["in"], conv.outputs["out"])
    assert window.document.graph.has_edge(Edge(conv.node_id, "out", flat.node_id, "in"))


@pytest.mark.parametrize("case, expected", [
    ("input already fed", "input 'in' of Conv2d 'conv' is already fed by Input 'image'"),
    ("loop", "would make a loop"),
    # small_document is drawn left to right, so it opens left to right: ports on the sides
    ("output to output", "connect an output (right side) to an input (left side)"),
    ("input to input", "connect an output (right side) to an input (left side)"),
    ("onto itself", "Flatten 'flat' cannot feed itself"),
])
def test_a_refused_wire_changes_nothing_and_says_why(gui, case, expected):
    window = gui.window(small_document())
    graph = window.document.graph
    conv, add, relu, flat = (item_of(window, n) for n in ("conv", "add", "relu", "flat"))
    signature = graph.signature()
    messages = []
    window.scene.message.connect(messages.append)
    window.document.message.connect(messages.append)
    start, end = {
        "input already fed": (flat.outputs["out"], conv.inputs["in"]),
        "loop": (relu.outputs["out"], add.inputs["in2"]),  # add -> relu -> add
        "output to output": (conv.outputs["out"], flat.outputs["out"]),
        "input to input": (flat.inputs["in"], relu.inputs["in"]),
        "onto itself": (flat.outputs["out"], flat.inputs["in"]),
    }[case]

    gui.wire(window, start, end)

    assert graph.signature() == signature
    assert window.document.undo_stack.count() == 0
    assert len(messages) == 1 and expected in messages[0]
    assert expected in window.statusBar().currentMessage()
    scene_matches_graph(window)


def test_a_wire_released_on_empty_canvas_is_dropped_quietly(gui):
    window = gui.window(small_document())
    signature = window.document.graph.signature()
    flat = item_of(window, "flat")
    gui.show_items(window, flat)
    start = flat.outputs["out"].scenePos()
    gui.drag(window, start, start + QPointF(80, 60))
    assert window.document.graph.signature() == signature
    assert window.document.undo_stack.count() == 0
    assert not [i for i in window.scene.items() if i.zValue() == 3]  # no rubber band left


# ---- parameters and shapes ---------------------------------------------------------------
def test_editing_a_parameter_in_the_inspector_relabels_the_wires(gui, qtbot):
    window = gui.window()
    conv1 = item_of(window, "conv1")
    wire = window.scene.edge_items[edge_between(window, "conv1", "bn1")]
    assert wire.label == "(N, 32, 16, 16)"
    gui.show_items(window, conv1)
    gui.click_node(window, conv1.node_id)  # selecting the card shows it in the inspector
    assert window.scene.selected_node_ids() == [conv1.node_id]
    assert window.inspector.node_id == conv1.node_id
    spin = window.inspector.editor("out_channels").widget
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "8")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    gui.settle(window)

    assert by_name(window, "conv1").params["out_channels"] == 8
    assert wire.label == "(N, 8, 16, 16)"
    assert window.scene.edge_items[edge_between(window, "bn1", "relu1")].label == \
        "(N, 8, 16, 16)"
    assert "out_channels: 8" in conv1.lines
    assert window.document.undo_stack.count() == 1
    window.act_undo.trigger()
    gui.settle(window)
    assert wire.label == "(N, 32, 16, 16)"


def test_a_shape_error_turns_the_node_red_and_undo_clears_it(gui, qtbot):
    window = gui.window()
    graph = window.document.graph
    assert window.status_valid.text() == "✔ valid"
    fc = item_of(window, "fc")
    assert fc.errors == []
    flatten = item_of(window, "flatten")
    gui.show_items(window, flatten)
    gui.click_node(window, flatten.node_id)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Delete)  # the Delete shortcut
    assert not graph.has_node(flatten.node_id)
    pool2, drop = item_of(window, "pool2"), item_of(window, "drop")
    gui.wire(window, pool2.outputs["out"], drop.inputs["in"])  # pool2 straight to the head
    gui.settle(window)

    assert fc.errors and any("Flatten" in e for e in fc.errors)
    assert "Flatten" in fc.toolTip()
    wire = window.scene.edge_items[edge_between(window, "drop", "fc")]
    assert wire.label == "(N, 64, 4, 4)" and not wire.ok
    assert window.status_valid.text().startswith("✖")
    assert "error" in window.status_valid.text()
    assert window.document.undo_stack.count() == 2

    window.act_undo.trigger()  # the wire
    window.act_undo.trigger()  # the deletion
    gui.settle(window)
    assert fc.errors == [] and fc.toolTip() == "fc (Linear)"  # its name, no error
    assert window.status_valid.text() == "✔ valid"
    assert window.scene.edge_items[edge_between(window, "drop", "fc")].ok
    scene_matches_graph(window)


def test_fewer_merge_inputs_hide_a_wire_and_undo_brings_it_back(gui, qtbot):
    window = gui.window(small_document())
    graph = window.document.graph
    add, flat = item_of(window, "add"), item_of(window, "flat")
    gui.show_items(window, add)
    gui.click_node(window, add.node_id)
    spin = window.inspector.editor("inputs").widget
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "3")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert list(add.inputs) == ["in1", "in2", "in3"]  # the card grew a port
    gui.wire(window, flat.outputs["out"], add.inputs["in3"])
    third = Edge(flat.node_id, "out", add.node_id, "in3")
    assert graph.has_edge(third) and third in window.scene.edge_items

    window.document.push(SetParam(graph, add.node_id, "inputs", 2))
    assert list(add.inputs) == ["in1", "in2"]
    assert graph.has_edge(third) and third not in window.scene.edge_items  # nowhere to draw
    gui.settle(window)
    assert add.errors  # the dangling wire is reported on the node
    window.act_undo.trigger()
    assert list(add.inputs) == ["in1", "in2", "in3"]
    wire = window.scene.edge_items[third]
    assert wire.target is add.inputs["in3"] and wire.scene() is window.scene
    scene_matches_graph(window)


# ---- moving ------------------------------------------------------------------------------
def test_dragging_two_selected_nodes_is_one_undo_step(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    conv1, bn1 = item_of(window, "conv1"), item_of(window, "bn1")
    before = {n.id: n.position for n in graph.nodes}
    gui.show_items(window, conv1, bn1)
    gui.click_node(window, conv1.node_id)
    gui.click_node(window, bn1.node_id, Qt.KeyboardModifier.ControlModifier)
    assert sorted(window.scene.selected_node_ids()) == sorted([conv1.node_id, bn1.node_id])

    start = gui.header_point(conv1)
    gui.drag(window, start, start + QPointF(30, 90) / window.view.zoom, steps=6)

    (x1, y1), (x2, y2) = before[conv1.node_id], before[bn1.node_id]
    dx, dy = conv1.x() - x1, conv1.y() - y1
    assert (dx, dy) != (0, 0)
    assert graph.node(conv1.node_id).position == (x1 + dx, y1 + dy)
    assert graph.node(bn1.node_id).position == (x2 + dx, y2 + dy)
    assert stack.count() == 1
    command = stack.command(0).command
    assert isinstance(command, MoveNodes) and set(command.positions) == {conv1.node_id,
                                                                         bn1.node_id}
    for node in graph.nodes:  # nothing else moved
        if node.id not in (conv1.node_id, bn1.node_id):
            assert node.position == before[node.id]
    scene_matches_graph(window)  # the wires followed the cards

    window.act_undo.trigger()
    assert {n.id: n.position for n in graph.nodes} == before
    scene_matches_graph(window)
    window.act_redo.trigger()
    assert graph.node(bn1.node_id).position == (x2 + dx, y2 + dy)
    scene_matches_graph(window)


def test_a_click_without_a_drag_is_no_edit(gui):
    window = gui.window()
    conv1 = item_of(window, "conv1")
    gui.show_items(window, conv1)
    gui.click_node(window, conv1.node_id)
    assert window.document.undo_stack.count() == 0 and not window.isWindowModified()


# ---- undo / redo -------------------------------------------------------------------------
def test_undo_and_redo_actions_and_the_history_dock(gui):
    window = gui.window()
    graph = window.document.graph
    original = graph.signature()
    assert not window.act_undo.isEnabled() and not window.act_redo.isEnabled()
    assert window.act_undo in window.edit_menu.actions()
    assert window.act_redo in window.edit_menu.actions()
    window.palette_widget.layerActivated.emit("GRU")  # a palette double-click
    edited = graph.signature()
    assert edited != original
    assert window.act_undo.isEnabled() and "Add GRU" in window.act_undo.text()

    window.act_undo.trigger()
    assert graph.signature() == original and window.act_redo.isEnabled()
    assert not window.isWindowModified()
    window.act_redo.trigger()
    assert graph.signature() == edited and window.isWindowModified()
    scene_matches_graph(window)

    # Edit > History shows the document's stack
    assert window.act_history in window.edit_menu.actions()
    assert not window.history_dock.isVisible()
    window.act_history.trigger()
    assert window.history_dock.isVisible()
    history = window.history_dock.widget()
    assert isinstance(history, QUndoView) and history.stack() is window.document.undo_stack
    assert history.model().rowCount() == 2  # <empty> + "Add GRU"
    history.setCurrentIndex(history.model().index(0, 0))  # click the clean state
    assert graph.signature() == original


def test_undo_and_redo_keyboard_shortcuts(gui):
    window = gui.window()
    graph = window.document.graph
    original = graph.signature()
    window.palette_widget.layerActivated.emit("Linear")
    window.activateWindow()
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert graph.signature() == original
    QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert graph.signature() != original


# ---- clipboard ---------------------------------------------------------------------------
def test_copy_paste_gives_fresh_ids_free_names_and_internal_wires(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    conv1, bn1 = by_name(window, "conv1"), by_name(window, "bn1")
    window.scene.select_nodes([conv1.id, bn1.id])
    original = graph.signature()
    window.act_copy.trigger()
    mime = QApplication.clipboard().mimeData()
    assert mime.hasFormat(GRAPH_MIME)
    assert json.loads(mime.text())["format"] == "layerforge-nodes"

    window.act_paste.trigger()

    new_ids = window.scene.selected_node_ids()
    assert len(new_ids) == 2 and not {conv1.id, bn1.id} & set(new_ids)
    pasted = {graph.node(i).name: graph.node(i) for i in new_ids}
    assert set(pasted) == {"conv4", "bn4"}
    assert pasted["conv4"].params == conv1.params
    assert pasted["conv4"].position == (conv1.position[0] + 40, conv1.position[1] + 40)
    # the wire between the copied nodes came along; the ones to the rest did not
    assert graph.edges_into(pasted["bn4"].id) == [
        Edge(pasted["conv4"].id, "out", pasted["bn4"].id, "in")]
    assert graph.edges_into(pasted["conv4"].id) == []
    assert graph.edges_from(pasted["bn4"].id) == []
    assert stack.count() == 1
    scene_matches_graph(window)
    window.act_undo.trigger()
    assert graph.signature() == original
    scene_matches_graph(window)


def test_duplicate_twice_gives_two_copies(gui):
    window = gui.window()
    graph = window.document.graph
    relu1 = by_name(window, "relu1")
    gui.show_items(window, window.scene.node_items[relu1.id])
    gui.click_node(window, relu1.id)
    window.act_duplicate.trigger()
    first = window.scene.selected_node_ids()
    window.act_duplicate.trigger()  # duplicates the copy that is now selected
    second = window.scene.selected_node_ids()
    assert [graph.node(i).name for i in first + second] == ["relu4", "relu5"]
    assert graph.node(second[0]).position == (relu1.position[0] + 80, relu1.position[1] + 80)
    assert window.document.undo_stack.count() == 2
    scene_matches_graph(window)


def test_paste_into_another_window(gui):
    source = gui.window(template="digits-cnn")
    target = gui.window(template="hello-mlp")
    ids = [by_name(source, n).id for n in ("conv2", "bn2", "relu2")]
    source.scene.select_nodes(ids)
    source.act_copy.trigger()

    target.act_paste.trigger()

    graph = target.document.graph
    pasted = [graph.node(i) for i in target.scene.selected_node_ids()]
    assert sorted(n.name for n in pasted) == ["bn2", "conv2", "relu2"]  # free: kept
    assert {n.id for n in pasted}.isdisjoint(ids)
    assert len([e for e in graph.edges if e.source in {n.id for n in pasted}]) == 2
    assert target.document.undo_stack.count() == 1
    assert source.document.undo_stack.count() == 0
    scene_matches_graph(target)


@pytest.mark.parametrize("text", ["hello world", '{"format": "something else"}',
                                  '{"format": "layerforge-nodes", "nodes": [{"id": 1}]}'])
def test_pasting_text_that_is_not_layers_says_so_and_changes_nothing(gui, text):
    window = gui.window()
    signature = window.document.graph.signature()
    QApplication.clipboard().setText(text)
    window.act_paste.trigger()
    assert window.document.graph.signature() == signature
    assert window.document.undo_stack.count() == 0
    assert "clipboard" in window.statusBar().currentMessage()
    scene_matches_graph(window)


def test_copy_and_paste_with_the_keyboard(gui):
    window = gui.window()
    graph = window.document.graph
    fc = by_name(window, "fc")
    gui.show_items(window, window.scene.node_items[fc.id])
    gui.click_node(window, fc.id)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    (pasted,) = window.scene.selected_node_ids()
    assert graph.node(pasted).name == "fc1" and graph.node(pasted).type == "Linear"
    assert window.document.undo_stack.count() == 1


def test_pasting_a_node_whose_long_name_is_taken_keeps_the_name_valid(gui):
    window = gui.window()
    graph = window.document.graph
    relu1 = by_name(window, "relu1")
    window.document.push(Rename(graph, relu1.id, "a" * 64))  # the longest name allowed
    window.scene.select_nodes([relu1.id])
    window.act_duplicate.trigger()
    window.act_duplicate.trigger()
    names = [graph.node(i).name for i in window.scene.selected_node_ids()]
    assert names == ["a" * 63 + "2"]
    assert graph.find("a" * 63 + "1")
    assert window.document.undo_stack.count() == 3


def test_pasting_layers_with_a_repeated_id_is_refused(gui):
    window = gui.window()
    signature = window.document.graph.signature()
    QApplication.clipboard().setText(json.dumps({
        "format": "layerforge-nodes", "edges": [],
        "nodes": [{"id": "a", "type": "ReLU", "name": "r", "params": {}},
                  {"id": "a", "type": "Tanh", "name": "t", "params": {}}]}))
    window.act_paste.trigger()
    assert window.document.graph.signature() == signature
    assert "damaged" in window.statusBar().currentMessage()


def test_cut_removes_the_nodes_and_paste_brings_them_back(gui):
    window = gui.window()
    graph = window.document.graph
    drop = by_name(window, "drop")
    window.scene.select_nodes([drop.id])
    window.act_cut.trigger()
    assert not graph.has_node(drop.id)
    assert window.document.undo_stack.count() == 1
    window.act_paste.trigger()
    (pasted,) = window.scene.selected_node_ids()
    assert graph.node(pasted).name == "drop" and pasted != drop.id  # the name is free again


# ---- deleting ----------------------------------------------------------------------------
def test_deleting_nodes_and_wires_is_one_step_and_undo_restores_every_wire(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    original = graph.signature()
    conv2 = by_name(window, "conv2")
    wire = edge_between(window, "pool1", "conv3")
    gui.show_items(window, window.scene.node_items[conv2.id])
    gui.click_node(window, conv2.id)
    window.scene.edge_items[wire].setSelected(True)  # a wire picked with Ctrl+click
    assert window.scene.selected_edges() == [wire]

    window.act_delete.trigger()

    assert not graph.has_node(conv2.id) and not graph.has_edge(wire)
    assert not [e for e in graph.edges if conv2.id in (e.source, e.target)]
    assert stack.count() == 1
    scene_matches_graph(window)
    window.act_undo.trigger()
    assert graph.signature() == original
    gui.settle(window)
    scene_matches_graph(window)
    assert all(item.label and item.ok for item in window.scene.edge_items.values())
    window.act_redo.trigger()
    assert not graph.has_node(conv2.id)
    scene_matches_graph(window)


def test_rubber_band_selection_then_delete_and_undo(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    original = graph.signature()
    conv1, bn1 = item_of(window, "conv1"), item_of(window, "bn1")
    gui.show_items(window, conv1, bn1)
    # drag a band on the empty canvas around the two cards
    gui.drag(window, conv1.scenePos() + QPointF(-20, -20),
             bn1.scenePos() + QPointF(210, bn1.height + 20), steps=6)
    assert sorted(window.scene.selected_node_ids()) == sorted([conv1.node_id, bn1.node_id])
    assert stack.count() == 0  # selecting is no edit

    QTest.keyClick(window.view, Qt.Key.Key_Delete)

    assert not graph.has_node(conv1.node_id) and not graph.has_node(bn1.node_id)
    assert stack.count() == 1
    assert graph.edges_from(by_name(window, "image").id) == []
    scene_matches_graph(window)
    window.act_undo.trigger()
    assert graph.signature() == original
    scene_matches_graph(window)


def test_clicking_a_wire_selects_it_and_delete_removes_it(gui):
    window = gui.window()
    wire = edge_between(window, "relu3", "pool2")
    item = window.scene.edge_items[wire]
    gui.show_items(window, item)
    gui.click(window, item.path().pointAtPercent(0.3))
    assert window.scene.selected_edges() == [wire]
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Backspace)
    assert not window.document.graph.has_edge(wire)
    assert window.document.undo_stack.count() == 1


# ---- quick add ---------------------------------------------------------------------------
def test_quick_add_search_adds_the_chosen_layer(gui, qtbot):
    window = gui.window()
    graph = window.document.graph
    before = {n.id for n in graph.nodes}
    popup = window.view.open_quick_add(QPoint(300, 200))
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "lstm")  # the name first, then help texts that mention it
    assert [popup.list.item(i).text() for i in range(popup.list.count())][:2] == ["LSTM", "GRU"]
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)

    (new_id,) = {n.id for n in graph.nodes} - before
    assert graph.node(new_id).type == "LSTM"
    assert window.scene.node_items[new_id].sceneBoundingRect().contains(
        window.view.mapToScene(QPoint(300, 200)))
    assert not popup.isVisible()
    assert window.document.undo_stack.count() == 1


def test_tab_and_double_click_on_empty_canvas_open_quick_add(gui, qtbot):
    window = gui.window()
    view = window.view
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    assert view.quick_add.isVisible()
    qtbot.keyClicks(view.quick_add.search, "gru")
    qtbot.keyClick(view.quick_add.search, Qt.Key.Key_Return)
    (added,) = window.scene.selected_node_ids()
    assert window.document.graph.node(added).type == "GRU"

    empty = window.scene.itemsBoundingRect().bottomRight() + QPointF(150, 150)
    view.centerOn(empty)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, gui.view_point(window, empty))
    popup = view.quick_add
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "dropout")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    (added,) = window.scene.selected_node_ids()
    node = window.document.graph.node(added)
    assert node.type == "Dropout"
    assert window.scene.node_items[added].sceneBoundingRect().contains(empty)
    assert window.document.undo_stack.count() == 2


def test_quick_add_escape_adds_nothing(gui, qtbot):
    window = gui.window()
    popup = window.view.open_quick_add(QPoint(100, 100))
    qtbot.keyClicks(popup.search, "lstm")
    QTest.keyClick(popup.search, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    assert window.document.undo_stack.count() == 0


def test_quick_add_arrow_keys_choose_another_match(gui, qtbot):
    window = gui.window()
    popup = window.view.open_quick_add(QPoint(100, 100))
    qtbot.keyClicks(popup.search, "pool")
    matches = [popup.list.item(i).text() for i in range(popup.list.count())]
    assert len(matches) > 1
    QTest.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    added = window.document.graph.node(window.scene.selected_node_ids()[0])
    assert added.type == matches[1]


# ---- zoom and pan ------------------------------------------------------------------------
def visible_scene_rect(view):
    return view.mapToScene(view.viewport().rect()).boundingRect()


@pytest.mark.parametrize("template", ["digits-cnn", "residual-cnn", "hello-mlp"])
def test_zoom_to_fit_shows_every_node(gui, template):
    window = gui.window(template=template)
    window.view.set_zoom(3.0)
    window.view.pan(5000, -3000)
    window.act_fit.trigger()
    visible = visible_scene_rect(window.view)
    for item in window.scene.node_items.values():
        assert visible.contains(item.sceneBoundingRect()), item.title
    assert window.view.zoom <= 1.0


def test_wheel_zooms_and_middle_drag_pans(gui):
    window = gui.window()
    view = window.view
    view.set_zoom(1.0)
    zooms = []
    view.zoomChanged.connect(zooms.append)
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(centre, QPointF(view.viewport().mapToGlobal(centre.toPoint())),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom == pytest.approx(1.15 ** 2) and zooms
    for _ in range(20):  # clamped at the maximum
        QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom == pytest.approx(3.0)

    view.set_zoom(1.0)
    before = visible_scene_rect(view)
    vp = view.viewport()
    start = QPoint(400, 300)
    QTest.mousePress(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(vp, start + QPoint(-50, -30))
    QTest.mouseMove(vp, start + QPoint(-100, -60))
    QTest.mouseRelease(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier,
                       start + QPoint(-100, -60))
    after = visible_scene_rect(view)
    # the picture followed the hand: the view now shows what was 100 px right, 60 px down
    assert after.left() - before.left() == pytest.approx(100, abs=1)
    assert after.top() - before.top() == pytest.approx(60, abs=1)
    assert window.document.undo_stack.count() == 0  # panning is no edit

    view.pan(40, 0)
    assert visible_scene_rect(view).left() == pytest.approx(after.left() - 40, abs=1)


def test_space_drag_pans_instead_of_selecting(gui):
    window = gui.window()
    view = window.view
    view.set_zoom(1.0)
    view.setFocus()
    conv1 = item_of(window, "conv1")
    gui.show_items(window, conv1)
    before = visible_scene_rect(view)
    position = conv1.pos()
    QTest.keyPress(view, Qt.Key.Key_Space)
    # even on a card: space-drag moves the view (the hand), not the card
    start = gui.view_point(window, gui.header_point(conv1))
    vp, left = view.viewport(), Qt.MouseButton.LeftButton
    QTest.mousePress(vp, left, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(vp, start + QPoint(-40, -20))
    QTest.mouseMove(vp, start + QPoint(-80, -40))
    QTest.mouseRelease(vp, left, Qt.KeyboardModifier.NoModifier, start + QPoint(-80, -40))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    after = visible_scene_rect(view)
    assert after.left() - before.left() == pytest.approx(80, abs=1)
    assert after.top() - before.top() == pytest.approx(40, abs=1)
    assert conv1.pos() == position and window.document.undo_stack.count() == 0


# ---- what the cards show follows every edit at once ----------------------------------------
def red_pixels(window, item: NodeItem) -> int:
    """How many pixels of the card, as the canvas shows it on screen now, are the error red."""
    from PySide6.QtGui import QColor

    view = window.view
    view.viewport().repaint()
    rect = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    image = view.viewport().grab(rect).toImage()
    red = QColor("#e5484d")
    return sum(1 for x in range(image.width()) for y in range(image.height())
               if abs(image.pixelColor(x, y).red() - red.red()) < 30
               and abs(image.pixelColor(x, y).green() - red.green()) < 30
               and abs(image.pixelColor(x, y).blue() - red.blue()) < 30)


def test_wiring_a_network_valid_clears_every_red_mark(gui, qtbot):
    window = gui.window(Document(Project(name="blank")))
    view = window.view
    ids = [view.add_layer(t, QPointF(0, 160 * i)) for i, t in
           enumerate(["Input", "Flatten", "Linear", "Output"])]
    gui.settle(window)
    items = [window.scene.node_items[i] for i in ids]
    assert all(item.errors for item in items[1:])  # unconnected inputs
    for zoom in (1.0, 0.25):  # cards with text, and the zoomed-out drawing with its dot
        gui.show_items(window, *items)
        window.view.set_zoom(min(zoom, window.view.zoom))
        assert red_pixels(window, items[2]) > (20 if zoom == 1.0 else 0)
    for a, b in zip(items, items[1:]):
        gui.wire(window, a.outputs["out"], b.inputs["in"])
    gui.settle(window)
    assert window.status_valid.text() == "✔ valid"
    for zoom in (1.0, 0.25):
        gui.show_items(window, *items)
        window.view.set_zoom(min(zoom, window.view.zoom))
        for item in items:
            assert item.errors == [], item.title
            assert red_pixels(window, item) == 0, (item.title, zoom)


def test_typing_a_value_shows_on_the_card_before_enter_as_one_undo_step(gui, qtbot):
    window = gui.window()
    conv = item_of(window, "conv1")
    node = window.document.graph.node(conv.node_id)
    assert node.params["out_channels"] == 32
    gui.show_items(window, conv)
    gui.click_node(window, conv.node_id)
    spin = window.inspector.editor("out_channels").widget
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "48")  # no Enter, the focus stays in the inspector
    assert node.params["out_channels"] == 48
    assert "out_channels: 48" in conv.lines
    assert spin.hasFocus()
    assert window.document.undo_stack.count() == 1  # "4" then "48": one edit
    window.act_undo.trigger()
    assert node.params["out_channels"] == 32 and "out_channels: 32" in conv.lines
