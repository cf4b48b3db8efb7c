"""Blocks as a user makes them: select layers, Group into Block, double-click to edit inside,
change a layer there, go back, Ungroup, save to the library, drop it again; every step undoes."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.editor.mime import BLOCK_MIME
from app.window_blocks import library_folder
from graph.validate import analyze
from tests.app.test_editor import send_drag_and_drop

BLOCK1 = ["block1_conv1", "block1_bn1", "block1_relu", "block1_conv2", "block1_bn2",
          "block1_add", "block1_out"]


def residual_window(gui):
    window = gui.window(template="residual-cnn")
    graph = window.document.graph
    window.scene.select_nodes([graph.find(n).id for n in BLOCK1])
    return window


def group(gui, window) -> str:
    assert window.blocks.act_group.shortcut().toString() == "Ctrl+G"
    window.blocks.act_group.trigger()
    gui.settle(window)
    (block_id,) = window.scene.selected_node_ids()
    return block_id


def test_group_shows_one_block_card_with_its_ports_and_totals_and_undoes(gui):
    window = residual_window(gui)
    graph, stack = window.document.graph, window.document.undo_stack
    params = analyze(graph).total_params
    block_id = group(gui, window)
    node = graph.node(block_id)
    assert node.block.name == "MyBlock" and stack.count() == 1
    card = window.scene.node_items[block_id]
    assert card.type_name == "MyBlock" and list(card.inputs) == ["x"] and list(card.outputs) == ["out"]
    assert card.lines[0].startswith("7 layers") and "params" in card.lines[1]
    assert all(n.name not in BLOCK1 for n in graph.nodes)
    assert analyze(graph).total_params == params and window.document.analysis.is_valid
    assert "MyBlock" in [window.palette_widget.block_items()[i].text(0).split()[0]
                       for i in range(len(window.palette_widget.block_items()))]
    window.act_undo.trigger()
    gui.settle(window)
    assert not graph.has_node(block_id) and block_id not in window.scene.node_items
    assert {graph.find(n).id for n in BLOCK1} <= set(window.scene.node_items)
    window.act_redo.trigger()
    assert graph.has_node(block_id) and block_id in window.scene.node_items


def test_double_click_opens_the_block_and_an_edit_inside_changes_the_network(gui):
    window = residual_window(gui)
    block_id = group(gui, window)
    document, graph = window.document, window.document.graph
    card = window.scene.node_items[block_id]
    gui.show_items(window, card)
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier,
                      gui.view_point(window, gui.header_point(card)))
    assert document.open_blocks == [graph.node(block_id).block]
    inner = document.shown_graph
    assert set(window.scene.node_items) == {n.id for n in inner.nodes}
    bar = window.blocks.bar
    assert bar.isVisible() and bar.path.text().startswith("Network › MyBlock")
    # the inner wires carry the instance's shapes
    conv = inner.find("block1_conv1")
    edge = inner.edges_into(conv.id)[0]
    assert window.scene.edge_items[edge].label == "(N, 32, 16, 16)"
    # change a layer inside through the inspector: the network's instance follows
    conv = inner.find("block1_conv2")
    window.scene.select_nodes([conv.id])
    assert window.inspector.node_id == conv.id
    window.inspector._param_edited("out_channels", 16)  # what the spin box sends
    gui.settle(window)
    assert inner.node(conv.id).params["out_channels"] == 16
    assert not document.analysis.is_valid  # block1_add now joins 16 and 32 channels
    assert any("inside block MyBlock" in i.message for i in document.analysis.errors)
    window.act_undo.trigger()
    gui.settle(window)
    assert inner.node(conv.id).params["out_channels"] == 32 and document.analysis.is_valid
    window.blocks.act_back.trigger()
    assert document.open_blocks == [] and not bar.isVisible()
    assert set(window.scene.node_items) == {n.id for n in graph.nodes}


def test_undoing_the_group_while_inside_goes_back_to_the_network(gui):
    window = residual_window(gui)
    block_id = group(gui, window)
    window.scene.select_nodes([block_id])
    window.blocks.act_open.trigger()
    assert window.document.open_blocks
    window.act_undo.trigger()  # the group itself
    gui.settle(window)
    assert window.document.open_blocks == []
    assert set(window.scene.node_items) == {n.id for n in window.document.graph.nodes}


def test_ungroup_puts_the_layers_back_and_undoes(gui):
    window = residual_window(gui)
    block_id = group(gui, window)
    graph = window.document.graph
    window.scene.select_nodes([block_id])
    window.blocks.act_ungroup.trigger()
    gui.settle(window)
    assert not graph.has_node(block_id)
    assert {n.name for n in graph.nodes} >= set(BLOCK1)
    assert len(window.scene.selected_node_ids()) == len(BLOCK1)
    assert window.document.analysis.is_valid
    window.act_undo.trigger()
    assert graph.has_node(block_id)


def test_a_block_saved_to_the_library_can_be_dropped_again_with_its_own_weights(gui):
    window = residual_window(gui)
    block_id = group(gui, window)
    window.scene.select_nodes([block_id])
    window.blocks.rename("BasicBlock")
    path = window.blocks.save_to_library(confirm=False)
    assert path == library_folder() / "BasicBlock.block.json" and path.exists()
    palette = window.palette_widget
    library = [i for i in palette.block_items() if i.text(0) == "BasicBlock  (library)"]
    assert len(library) == 1
    mime = palette.tree.mimeData(library)
    assert mime.hasFormat(BLOCK_MIME)
    graph, stack = window.document.graph, window.document.undo_stack
    steps = stack.count()
    entered, dropped = send_drag_and_drop(window.view, mime, QPoint(200, 150))
    assert entered and dropped and stack.count() == steps + 1
    (second,) = window.scene.selected_node_ids()
    # the library's copy equals the project's definition: the same definition is used
    assert graph.node(second).block is graph.node(block_id).block
    window.act_undo.trigger()
    assert not graph.has_node(second)


def test_a_built_in_block_from_the_palette_lands_on_the_canvas(gui):
    window = gui.window(template="residual-cnn")
    palette = window.palette_widget
    names = [i.text(0) for i in palette.block_items()]
    assert {"ConvBNAct", "ResidualBasic", "Inception", "Fire"} <= set(names)
    palette.set_filter("inception")
    assert [i.text(0) for i in palette.block_items() if not i.isHidden()] == ["Inception"]
    item = next(i for i in palette.block_items() if i.text(0) == "Inception")
    palette.tree.activated.emit(item)  # double-click / Enter
    (new_id,) = window.scene.selected_node_ids()
    node = window.document.graph.node(new_id)
    assert node.block.name == "Inception" and "Inception" in window.document.graph.blocks
    card = window.scene.node_items[new_id]
    assert card.type_name == "Inception"


def test_expand_in_place_shows_the_inside_in_the_card_and_collapses_again(gui):
    window = residual_window(gui)
    block_id = group(gui, window)
    graph, stack = window.document.graph, window.document.undo_stack
    card = window.scene.node_items[block_id]
    height, out_port_y = card.height, card.outputs["out"].y()
    assert window.blocks.act_expand.shortcut().toString() == "Ctrl+Shift+E"
    window.blocks.act_expand.trigger()
    assert card.expanded and card.preview is not None
    shown = {c.text.split(" · ")[0] for c in card.preview.cards}
    assert shown == {n.name for n in graph.node(block_id).block.graph.nodes}
    assert "conv1 · Conv2d" in {c.text for c in card.preview.cards} or \
        any(c.text.endswith("· Conv2d") for c in card.preview.cards)
    # the card grew around its inside; the output port and its wire moved to the new bottom
    assert card.height > height + card.preview.size.height() - 1
    assert card.outputs["out"].y() > out_port_y
    (wire,) = [e for e in card.edges if e.edge.source == block_id]
    assert wire.path().pointAtPercent(0).y() > card.scenePos().y() + height
    # an edit inside reaches the expanded card; expanding is a view, not an undo step
    assert stack.count() == 1
    rows_before = len(card.preview.cards)
    window.document.open_block(graph.node(block_id).block)
    gui.settle(window)
    inner = window.document.shown_graph
    window.scene.select_nodes([inner.find("block1_relu").id])
    window.scene.delete_selection()
    window.document.close_block()
    gui.settle(window)
    card = window.scene.node_items[block_id]
    assert card.expanded and len(card.preview.cards) < rows_before
    window.scene.select_nodes([block_id])
    window.blocks.act_expand.trigger()
    assert not card.expanded and card.preview is None and card.height == height
