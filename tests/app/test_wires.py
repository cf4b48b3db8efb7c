"""Wires on the canvas read like a diagram: along the flow, around the cards in their way
(a skip connection beside its block, never under a card), with labels off the cards."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF, QSizeF

from app.document import Document
from app.editor.scene import EdgeItem, GraphScene, NodeItem
from app.editor.wires import CardGrid, outline, straight_path, wire_path
from graph.layout import CARD_WIDTH, DIRECTIONS, layered_positions
from graph.templates import TEMPLATES, build_template


def scene_of(key: str, direction: str) -> GraphScene:
    project = build_template(key)
    for node_id, pos in layered_positions(project.graph, direction).items():
        project.graph.move(node_id, pos)
    return GraphScene(Document(project), direction=direction)


def card_body(card: NodeItem) -> QRectF:
    """The card itself (its bounding rectangle also holds its port names)."""
    return QRectF(card.scenePos(), QSizeF(CARD_WIDTH, card.height))


def wires_and_cards(scene: GraphScene):
    return ([i for i in scene.items() if isinstance(i, EdgeItem)],
            [i for i in scene.items() if isinstance(i, NodeItem)])


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_no_wire_passes_under_a_card_and_no_label_covers_one(isolated_app, key, direction):
    scene = scene_of(key, direction)
    wires, cards = wires_and_cards(scene)
    for wire in wires:
        ends = (wire.source.node_item, wire.target.node_item)
        line = outline(wire.path())
        for card in cards:
            body = card_body(card).adjusted(2, 2, -2, -2)
            if card not in ends:
                assert not line.intersects(body), (wire.edge, card.title)
            assert not wire.label_box.intersects(card_body(card).adjusted(2, 2, -2, -2)), \
                (wire.label, card.title)


def test_a_skip_connection_runs_in_a_lane_beside_its_block(isolated_app):
    scene = scene_of("residual-cnn", "TB")
    graph = scene.document.graph
    stem, add = graph.find("stem_relu").id, graph.find("block1_add").id
    (skip,) = [w for w in scene.edge_items.values()
               if (w.edge.source, w.edge.target) == (stem, add)]
    block = [scene.node_items[graph.find(n).id] for n in
             ("block1_conv1", "block1_bn1", "block1_relu", "block1_conv2", "block1_bn2")]
    right = max(c.sceneBoundingRect().right() for c in block)
    left = min(c.sceneBoundingRect().left() for c in block)
    lane = skip.path().boundingRect()
    assert lane.right() > right or lane.left() < left  # beside the block, not through it
    assert lane.width() < 2.5 * (right - left)  # and close to it


def test_wire_path_goes_straight_when_nothing_is_in_the_way_and_around_a_card_when_one_is():
    a, b = QPointF(0, 0), QPointF(0, 400)
    empty = CardGrid()
    assert wire_path(a, b, "TB", empty.cards_in).elementCount() == \
        straight_path(a, b, "TB").elementCount()
    grid = CardGrid()
    grid.place("middle", QRectF(-95, 150, 190, 60))
    detour = wire_path(a, b, "TB", grid.cards_in)
    assert not outline(detour).intersects(QRectF(-95, 150, 190, 60))
    assert detour.pointAtPercent(0.0) == a and detour.pointAtPercent(1.0) == b
    # left to right: the same, turned
    detour = wire_path(QPointF(0, 0), QPointF(400, 0), "LR",
                       lambda r: [c for c in [QRectF(150, -95, 60, 190)] if c.intersects(r)])
    assert not outline(detour).intersects(QRectF(150, -95, 60, 190))


def test_the_card_grid_finds_moved_and_forgets_removed_cards():
    grid = CardGrid()
    grid.place("a", QRectF(0, 0, 190, 40))
    grid.place("b", QRectF(1000, 1000, 190, 40))
    assert grid.cards_in(QRectF(50, 10, 5, 5)) == [QRectF(0, 0, 190, 40)]
    assert grid.cards_in(QRectF(50, 10, 5, 5), exclude=["a"]) == []
    grid.place("a", QRectF(2000, 0, 190, 40))  # moved
    assert grid.cards_in(QRectF(50, 10, 5, 5)) == []
    assert len(grid.cards_in(QRectF(-5000, -5000, 10000, 10000))) == 2
    grid.remove("b")
    assert grid.cards_in(QRectF(990, 990, 300, 300)) == []


def test_cards_have_their_ports_on_the_edges_along_the_flow(isolated_app):
    scene = scene_of("residual-cnn", "TB")
    add = scene.node_items[scene.document.graph.find("block1_add").id]
    assert {p.y() for p in (add.inputs["in1"].pos(), add.inputs["in2"].pos())} == {0.0}
    assert add.outputs["out"].pos().y() == add.height
    assert add.inputs["in1"].pos().x() < add.inputs["in2"].pos().x()
    scene.set_direction("LR")
    assert {p.x() for p in (add.inputs["in1"].pos(), add.inputs["in2"].pos())} == {0.0}
    assert add.outputs["out"].pos().x() == CARD_WIDTH


def test_port_names_stand_outside_the_card_clear_of_its_text(isolated_app):
    """Concat's in1 label was written over its 'dim: 1' line."""
    from graph.model import Edge, Graph
    from graph.project import Project

    graph = Graph()
    x = graph.add_node("Input")
    cat = graph.add_node("Concat")
    graph.connect(Edge(x.id, "out", cat.id, "in1"))
    for direction in DIRECTIONS:
        scene = GraphScene(Document(Project(graph.copy())), direction=direction)
        card = scene.node_items[cat.id]
        rows = QRectF(0, 0, CARD_WIDTH, card.height)
        labels = card.port_label_rects()
        assert set(labels) == {"in1", "in2"}
        for box in labels.values():
            assert not box.intersects(rows), (direction, box)
            assert card.boundingRect().contains(box)


def test_a_long_imported_name_shows_its_end_and_the_full_name_on_hover(isolated_app):
    from graph.model import Graph
    from graph.project import Project

    graph = Graph()
    node = graph.add_node("ReLU", name="m_layer1_1_downsample_relu_block_conv2")
    scene = GraphScene(Document(Project(graph)))
    card = scene.node_items[node.id]
    assert card.toolTip().startswith("m_layer1_1_downsample_relu_block_conv2 (ReLU)")
