"""Random edit sessions through the GUI's Document and its QUndoStack.

Edits of every kind (add, remove, connect, disconnect, parameter, move, paste) are pushed on a
template's Document while a GraphScene shows it. After every push, undo and redo the canvas
must show exactly the graph; undoing the whole stack returns the original graph exactly (and
a clean document), redoing it all returns the final graph.
"""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.document import Document
from app.editor.scene import EdgeItem, GraphScene, NodeItem, PortItem
from graph.clipboard import copy_nodes, paste_command
from graph.commands import (AddNode, Command, Connect, Disconnect, MoveNodes, RemoveNode,
                            SetParam)
from graph.layers import CATALOGUE
from graph.layers.base import ParamSpec
from graph.model import Edge, Graph
from graph.templates import TEMPLATES

TYPES = sorted(CATALOGUE)
KINDS = ["add", "add", "remove", "connect", "connect", "connect", "disconnect", "set_param",
         "set_param", "move", "paste", "merge", "merge"]


def valid_value(spec: ParamSpec) -> st.SearchStrategy:
    """Values a user can enter in the inspector: the right type, within the bounds."""
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "file":  # a path: none, missing, or odd text
        return st.sampled_from(["", "weights.pth", "/no/such/model.pt", "ü ß.pt"])
    lo = spec.min if spec.min is not None else -100
    hi = spec.max if spec.max is not None else 100
    if spec.kind == "float":
        return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    number = st.integers(min_value=int(lo), max_value=int(min(hi, lo + 32)))
    if spec.kind == "int":
        return number
    size = st.just(spec.length) if spec.length else st.integers(spec.min_length, 4)
    return size.flatmap(lambda n: st.lists(number, min_size=n, max_size=n).map(tuple))


def stable_edges(graph: Graph) -> list[Edge]:
    """Edges in an order that does not depend on the random uuids (replayable sessions)."""
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    return sorted(graph.edges, key=lambda e: (index[e.source], e.source_port, index[e.target],
                                              e.target_port))


def draw_command(data, graph: Graph) -> Command | None:
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    if kind == "add":
        return AddNode(graph, data.draw(st.sampled_from(TYPES), label="type"),
                       (data.draw(st.integers(-900, 900)), data.draw(st.integers(-900, 900))))
    nodes = graph.nodes
    if not nodes:
        return None
    node = data.draw(st.sampled_from(nodes), label="node")
    if kind == "merge":  # merge layers' ports come and go with their "inputs" parameter
        merges = [n for n in nodes if "inputs" in n.spec.param_index]
        if not merges:
            return AddNode(graph, data.draw(st.sampled_from(["Add", "Concat"])), (0.0, 0.0))
        merge = data.draw(st.sampled_from(merges), label="merge")
        fed = {e.target_port for e in graph.edges_into(merge.id)}
        if data.draw(st.booleans(), label="rewire"):
            # fewer ports than wires hides a wire; more brings it back (the canvas rewires)
            if any(p in fed for p in ("in3", "in4")):
                return SetParam(graph, merge.id, "inputs", 2)
            others = [v for v in (3, 4, 2) if v != merge.params["inputs"]]
            return SetParam(graph, merge.id, "inputs", data.draw(st.sampled_from(others)))
        free = [p.name for p in merge.spec.input_ports(merge.params) if p.name not in fed]
        if not free:
            return None
        wires = [e for e in (Edge(n.id, n.spec.outputs[0].name, merge.id, free[-1])
                             for n in nodes if n.spec.outputs)
                 if graph.connection_problem(e) is None]
        return Connect(graph, data.draw(st.sampled_from(wires), label="wire")) \
            if wires else None
    if kind == "remove":
        return RemoveNode(graph, node.id)
    if kind == "connect":  # a wire the editor would accept: into a free input, no loop
        fed = {(e.target, e.target_port) for e in graph.edges}
        targets = [n for n in nodes if any((n.id, p.name) not in fed
                                           for p in n.spec.input_ports(n.params))]
        sources = [n for n in nodes if n.spec.outputs]
        for _ in range(6):
            if not targets or not sources:
                return None
            dst = data.draw(st.sampled_from(targets), label="target")
            src = data.draw(st.sampled_from(sources), label="source")
            ports = [p.name for p in dst.spec.input_ports(dst.params)
                     if (dst.id, p.name) not in fed]
            edge = Edge(src.id, src.spec.outputs[0].name, dst.id,
                        data.draw(st.sampled_from(ports), label="port"))
            if graph.connection_problem(edge) is None:
                return Connect(graph, edge)
        return None
    if kind == "disconnect":
        edges = stable_edges(graph)
        return Disconnect(graph, data.draw(st.sampled_from(edges), label="edge")) \
            if edges else None
    if kind == "set_param":
        # text parameters are recorded by a tool (a Block's definition, an Opaque's op), not
        # typed by a user: the inspector shows them read-only
        editable = [p for p in node.spec.params if p.kind != "text"]
        if not editable:
            return None
        spec = data.draw(st.sampled_from(editable), label="param")
        value = data.draw(valid_value(spec), label="value")
        assert spec.problem(value) is None, (spec, value)
        return SetParam(graph, node.id, spec.name, value)
    if kind == "move":
        moved = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=4,
                                   unique_by=lambda n: n.id), label="moved")
        coords = st.integers(-3000, 3000).map(float)
        return MoveNodes(graph, {n.id: (data.draw(coords), data.draw(coords)) for n in moved})
    chosen = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=5,
                                unique_by=lambda n: n.id), label="copied")
    command, _ = paste_command(graph, copy_nodes(graph, [n.id for n in chosen]),
                               (40.0, 40.0))
    return command


def assert_scene_shows(scene: GraphScene, graph: Graph) -> None:
    """One node item per node (at its position, with its ports) and one wire per edge (except
    a wire into a port that a merge layer no longer has: validation reports that one)."""
    assert set(scene.node_items) == {n.id for n in graph.nodes}
    drawable = set()
    for node in graph.nodes:
        item = scene.node_items[node.id]
        assert item.scene() is scene
        assert (item.x(), item.y()) == node.position
        assert list(item.inputs) == [p.name for p in node.spec.input_ports(node.params)]
        drawable |= {e for e in graph.edges_into(node.id) if e.target_port in item.inputs}
    assert set(scene.edge_items) == drawable
    for edge, wire in scene.edge_items.items():
        assert wire.scene() is scene
        assert wire.source is scene.node_items[edge.source].outputs[edge.source_port]
        assert wire.target is scene.node_items[edge.target].inputs[edge.target_port]
        assert wire in scene.node_items[edge.source].edges
    # nothing stale left on the canvas: exactly these cards and wires, each port on its card
    on_canvas = scene.items()
    assert {i for i in on_canvas if isinstance(i, NodeItem)} == set(scene.node_items.values())
    assert {i for i in on_canvas if isinstance(i, EdgeItem)} == set(scene.edge_items.values())
    ports = {p for item in scene.node_items.values()
             for p in [*item.inputs.values(), *item.outputs.values()]}
    assert {i for i in on_canvas if isinstance(i, PortItem)} == ports


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(TEMPLATES)), steps=st.integers(4, 30), data=st.data())
def test_undo_stack_round_trip_keeps_canvas_and_graph_in_step(qapp, key, steps, data):
    document = Document(TEMPLATES[key].build())
    scene = GraphScene(document)
    graph, stack = document.graph, document.undo_stack
    original = graph.signature()
    by_index = {0: original}  # the graph at each undo-stack index (merged edits overwrite)
    try:
        for _ in range(steps):
            command = draw_command(data, graph)
            if command is None:
                continue
            before = graph.signature()
            if document.push(command):
                by_index[stack.index()] = graph.signature()
            else:  # refused (a paste whose names no longer fit, ...): no trace
                assert graph.signature() == before
            assert_scene_shows(scene, graph)
        final = graph.signature()
        assert stack.index() == stack.count()

        while stack.canUndo():
            stack.undo()
            assert graph.signature() == by_index[stack.index()]
            assert_scene_shows(scene, graph)
        assert graph.signature() == original
        assert not document.modified

        while stack.canRedo():
            stack.redo()
            assert graph.signature() == by_index[stack.index()]
            assert_scene_shows(scene, graph)
        assert graph.signature() == final
        document.refresh_analysis()  # the analysis and the labels survive any session
        scene.refresh_analysis()
    finally:
        document.close()
        scene.deleteLater()
        document.deleteLater()


def test_a_refused_push_leaves_no_undo_step(qapp):
    """A paste whose layer has a bad parameter fails when it runs: nothing is pushed."""
    document = Document(TEMPLATES["digits-cnn"].build())
    graph = document.graph
    messages = []
    document.message.connect(messages.append)
    command, _ = paste_command(graph, '{"format": "layerforge-nodes", "nodes": '
                               '[{"id": "a", "type": "Linear", "name": "x", '
                               '"params": {"out_features": "many"}}], "edges": []}')
    assert not document.push(command)
    assert document.undo_stack.count() == 0 and len(messages) == 1
    assert "out_features" in messages[0]
    document.close()
