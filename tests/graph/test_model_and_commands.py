"""The graph model and its edit commands, as a user of the editor sees them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graph.commands import (AddNode, Compound, Connect, Disconnect, MoveNodes, RemoveNode,
                            Rename, SetParam)
from graph.errors import GraphEditError
from graph.model import Edge, Graph, GraphEvent, name_problem
from graph.project import Project, parse_project
from graph.validate import analyze


# ---- helpers --------------------------------------------------------------------------------

def chain(graph: Graph, *nodes) -> None:
    """Wire nodes one after another through their 'out' and first input port."""
    for a, b in zip(nodes, nodes[1:]):
        port = next(iter(p.name for p in b.spec.input_ports(b.params)))
        graph.connect(Edge(a.id, "out", b.id, port))


def mlp(graph: Graph | None = None):
    """Input(vector 8) -> fc1 (Linear 16) -> relu1 -> fc2 (Linear 4) -> output1."""
    g = graph or Graph()
    x = g.add_node("Input", params={"kind": "vector", "shape": [8]})
    fc1 = g.add_node("Linear", params={"out_features": 16})
    relu = g.add_node("ReLU")
    fc2 = g.add_node("Linear", params={"out_features": 4})
    out = g.add_node("Output")
    chain(g, x, fc1, relu, fc2, out)
    return g, x, fc1, relu, fc2, out


class Recorder:
    def __init__(self, graph: Graph) -> None:
        self.events: list[GraphEvent] = []
        self.unsubscribe = graph.subscribe(self.events.append)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def clear(self) -> None:
        self.events.clear()


# ---- the package stays pure ---------------------------------------------------------------

def test_graph_package_imports_neither_torch_nor_qt():
    code = ("import sys, graph, graph.model, graph.commands, graph.validate, graph.project, "
            "graph.templates, graph.layout, graph.settings, graph.layers\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'PySide6', 'cv2', 'pyqtgraph', 'backend', 'app'))\n"
            "print(bad)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=str(Path(__file__).resolve().parents[2]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- adding and removing nodes ------------------------------------------------------------

def test_add_node_uses_defaults_unique_names_and_uuid_ids():
    g = Graph()
    a = g.add_node("Conv2d")
    b = g.add_node("Conv2d", params={"out_channels": 32, "kernel_size": [5, 5]})
    assert (a.name, b.name) == ("conv1", "conv2")
    assert a.params["out_channels"] == 16 and a.params["kernel_size"] == (3, 3)
    assert b.params["out_channels"] == 32 and b.params["kernel_size"] == (5, 5)  # list -> tuple
    assert a.id != b.id and len(a.id) == 36 and a.id.count("-") == 4
    assert [n.id for n in g.nodes] == [a.id, b.id]
    assert len(g) == 2


def test_add_node_fills_the_lowest_free_number():
    g = Graph()
    first = g.add_node("Linear")
    g.add_node("Linear")
    g.remove_node(first.id)
    assert g.add_node("Linear").name == "fc1"
    assert g.unique_name("fc7") == "fc3"  # trailing digits are stripped from the base


def test_add_node_refuses_unknown_types_and_params_and_bad_values():
    g = Graph()
    with pytest.raises(GraphEditError, match="unknown layer type 'Bogus'"):
        g.add_node("Bogus")
    with pytest.raises(GraphEditError, match="Linear has no parameter 'units'"):
        g.add_node("Linear", params={"units": 3})
    with pytest.raises(GraphEditError, match="Linear.out_features: expected a whole number"):
        g.add_node("Linear", params={"out_features": "ten"})
    assert len(g) == 0


def test_add_node_accepts_legacy_type_names():
    g = Graph()
    assert g.add_node("Dense").type == "Linear"
    assert g.add_node("Concatenate").type == "Concat"
    assert g.add_node("Swish").type == "SiLU"


def test_add_node_command_undo_redo_keeps_id_and_name():
    g = Graph()
    before = g.signature()
    cmd = AddNode(g, "Linear", position=(10, 20), params={"out_features": 3})
    cmd.do()
    node = g.node(cmd.node_id)
    after = g.signature()
    assert (node.name, node.position, node.params["out_features"]) == ("fc1", (10.0, 20.0), 3)
    assert cmd.text == "Add Linear"
    cmd.undo()
    assert g.signature() == before and not g.has_node(cmd.node_id)
    g.add_node("Linear")  # takes "fc1" while the first is undone
    g.remove_node(g.find("fc1").id)
    cmd.do()
    assert g.signature() == after


def test_remove_node_undo_restores_node_and_edges_with_same_ids_and_names():
    g, x, fc1, relu, fc2, out = mlp()
    before = g.signature()
    edges_before = g.edges
    cmd = RemoveNode(g, relu.id)
    assert cmd.text == "Delete ReLU 'relu1'"
    cmd.do()
    assert not g.has_node(relu.id)
    assert len(g.edges) == len(edges_before) - 2
    assert all(relu.id not in (e.source, e.target) for e in g.edges)
    cmd.undo()
    assert g.signature() == before
    assert g.edges == edges_before
    restored = g.node(relu.id)
    assert restored.name == "relu1" and restored.type == "ReLU"
    cmd.do()
    cmd.undo()
    assert g.signature() == before


def test_remove_node_of_unknown_id_is_refused():
    g = Graph()
    with pytest.raises(GraphEditError, match="no node with id 'nope'"):
        RemoveNode(g, "nope")
    with pytest.raises(GraphEditError, match="no node with id 'nope'"):
        g.remove_node("nope")


def test_insert_node_refuses_duplicate_id_and_name():
    g = Graph()
    a = g.add_node("ReLU")
    with pytest.raises(GraphEditError, match="already exists"):
        g.insert_node(a.copy())
    twin = a.copy()
    twin.id = "other"
    with pytest.raises(GraphEditError, match="a node named 'relu1' already exists"):
        g.insert_node(twin)
    with pytest.raises(GraphEditError, match="a node named 'relu1' already exists"):
        g.add_node("ReLU", name="relu1")
    assert len(g) == 1


def test_redo_of_add_node_restores_the_node_as_it_was_added():
    g = Graph()
    add = AddNode(g, "Linear")
    add.do()
    just_added = g.signature()
    edits = [SetParam(g, add.node_id, "out_features", 5)]
    edits[0].do()
    edits.append(Rename(g, add.node_id, "head"))
    edits[1].do()
    edits.append(MoveNodes(g, {add.node_id: (300, 40)}))
    edits[2].do()
    edits.append(RemoveNode(g, add.node_id))
    edits[3].do()
    for cmd in reversed(edits):
        cmd.undo()
    add.undo()
    add.do()  # redo
    node = g.node(add.node_id)
    assert (node.name, node.params["out_features"], node.position) == ("fc1", 128, (0.0, 0.0))
    assert g.signature() == just_added


# ---- connecting ---------------------------------------------------------------------------

def test_connect_and_disconnect_commands():
    g = Graph()
    x = g.add_node("Input", params={"kind": "vector", "shape": [8]})
    fc = g.add_node("Linear")
    rec = Recorder(g)
    edge = Edge(x.id, "out", fc.id, "in")
    cmd = Connect(g, edge)
    assert cmd.text == "Connect input1 -> fc1"
    cmd.do()
    assert g.has_edge(edge) and g.edges_into(fc.id) == [edge] and g.edges_from(x.id) == [edge]
    assert rec.events == [GraphEvent("edge_added", fc.id, edge=edge)]
    cmd.undo()
    assert not g.has_edge(edge) and g.edges == []
    cmd.do()
    rec.clear()
    dis = Disconnect(g, edge)
    dis.do()
    assert g.edges == [] and rec.kinds == ["edge_removed"]
    dis.undo()
    assert g.edges == [edge]
    with pytest.raises(GraphEditError, match="not connected"):
        Disconnect(g, Edge(fc.id, "out", x.id, "in"))
    with pytest.raises(GraphEditError, match="already connected"):
        g.connect(edge)


def test_connection_problem_self_loop():
    g = Graph()
    relu = g.add_node("ReLU")
    edge = Edge(relu.id, "out", relu.id, "in")
    assert g.connection_problem(edge) == "ReLU 'relu1' cannot feed itself"
    with pytest.raises(GraphEditError, match="cannot feed itself"):
        Connect(g, edge)
    assert g.edges == []


def test_connection_problem_unknown_ports_and_nodes():
    g = Graph()
    fc = g.add_node("Linear")
    add = g.add_node("Add")
    out = g.add_node("Output")
    assert g.connection_problem(Edge(fc.id, "nope", add.id, "in1")) == \
        "Linear 'fc1' has no output called 'nope'"
    assert g.connection_problem(Edge(fc.id, "out", add.id, "in3")) == \
        "Add 'add1' has no input called 'in3'"
    assert g.connection_problem(Edge(out.id, "out", fc.id, "in")) == \
        "Output 'output1' has no output called 'out'"
    assert g.connection_problem(Edge("ghost", "out", fc.id, "in")) == \
        "there is no node with id 'ghost'"
    assert g.connection_problem(Edge(fc.id, "out", add.id, "in2")) is None
    g.set_param(add.id, "inputs", 3)  # a third port appears
    assert g.connection_problem(Edge(fc.id, "out", add.id, "in3")) is None


def test_connection_problem_input_already_fed_names_the_other_node():
    g = Graph()
    a = g.add_node("Linear", name="encoder")
    b = g.add_node("Linear", name="decoder")
    c = g.add_node("ReLU")
    g.connect(Edge(a.id, "out", c.id, "in"))
    problem = g.connection_problem(Edge(b.id, "out", c.id, "in"))
    assert problem == ("input 'in' of ReLU 'relu1' is already fed by Linear 'encoder': "
                       "disconnect it first")
    with pytest.raises(GraphEditError, match="already fed by Linear 'encoder'"):
        Connect(g, Edge(b.id, "out", c.id, "in"))
    assert g.connection_problem(Edge(a.id, "out", c.id, "in")) == \
        "these ports are already connected"


def test_connection_problem_loop():
    g2 = Graph()
    a = g2.add_node("Linear")
    b = g2.add_node("ReLU")
    add = g2.add_node("Add")
    g2.connect(Edge(add.id, "out", a.id, "in"))
    g2.connect(Edge(a.id, "out", b.id, "in"))
    problem = g2.connection_problem(Edge(b.id, "out", add.id, "in1"))
    assert problem == ("connecting ReLU 'relu1' to Add 'add1' would make a loop; data must "
                       "flow one way")
    with pytest.raises(GraphEditError, match="would make a loop"):
        Connect(g2, Edge(b.id, "out", add.id, "in1"))


def test_connect_stores_wires_a_validator_flags():
    """The model keeps whatever it is given (files show their problems); the editor asks
    connection_problem first."""
    g = Graph()
    a = g.add_node("Linear")
    b = g.add_node("Linear")
    c = g.add_node("ReLU")
    g.connect(Edge(a.id, "out", c.id, "in"))
    g.connect(Edge(b.id, "out", c.id, "in"))
    assert len(g.edges_into(c.id)) == 2
    with pytest.raises(GraphEditError, match="no node with id"):
        g.connect(Edge(a.id, "out", "ghost", "in"))


# ---- parameters ---------------------------------------------------------------------------

def test_set_param_command_and_type_errors():
    g = Graph()
    fc = g.add_node("Linear")
    cmd = SetParam(g, fc.id, "out_features", 10.0)
    assert cmd.text == "Set fc1.out_features"
    cmd.do()
    assert fc.params["out_features"] == 10 and isinstance(fc.params["out_features"], int)
    cmd.undo()
    assert fc.params["out_features"] == 128
    for key, value, words in [("out_features", "10", "expected a whole number"),
                              ("out_features", 2.5, "expected a whole number"),
                              ("out_features", True, "expected a whole number"),
                              ("bias", 1, "expected true or false"),
                              ("nope", 1, "has no parameter 'nope'")]:
        with pytest.raises(GraphEditError, match=words):
            SetParam(g, fc.id, key, value).do()
    assert fc.params == {"out_features": 128, "bias": True}
    conv = g.add_node("Conv2d")
    g.set_param(conv.id, "kernel_size", 5)  # one number means the same on both axes
    assert conv.params["kernel_size"] == (5, 5)
    with pytest.raises(GraphEditError, match="expected whole numbers"):
        g.set_param(conv.id, "kernel_size", [3, "x"])
    inp = g.add_node("Input")
    with pytest.raises(GraphEditError, match="expected one of image, vector, sequence, tokens"):
        g.set_param(inp.id, "kind", "video")
    drop = g.add_node("Dropout")
    with pytest.raises(GraphEditError, match="expected a number"):
        g.set_param(drop.id, "p", float("nan"))


@pytest.mark.parametrize("key,value", [("out_features", float("inf")),
                                       ("out_features", float("-inf"))])
def test_non_finite_int_is_a_graph_edit_error(key, value):
    g = Graph()
    fc = g.add_node("Linear")
    with pytest.raises(GraphEditError, match="expected a whole number"):
        g.set_param(fc.id, key, value)
    with pytest.raises(GraphEditError):
        g.add_node("Linear", params={key: value})


def test_float_parameter_given_a_huge_int_is_a_graph_edit_error():
    g = Graph()
    drop = g.add_node("Dropout")
    try:
        g.set_param(drop.id, "p", 10 ** 400)
    except GraphEditError:
        return
    assert drop.params["p"] == float("inf")  # unreachable: float(10**400) overflows


def test_out_of_range_values_are_stored_and_reported_by_validation():
    g, x, fc1, relu, fc2, out = mlp()
    assert analyze(g).is_valid
    SetParam(g, fc1.id, "out_features", 0).do()
    assert fc1.params["out_features"] == 0
    analysis = analyze(g)
    assert [(i.kind, i.node_id, i.message) for i in analysis.errors] == [
        ("param", fc1.id, "Linear 'fc1': out_features must be at least 1 (is 0)")]


# ---- names --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,words", [
    ("forward", "reserved"), ("input", "reserved"), ("class", "reserved"),
    ("state_dict", "reserved"), ("1conv", "must start with a letter"),
    ("my layer", "must start with a letter"), ("", "must start with a letter"),
    ("a" * 65, "at most 64 characters"), ("naïve", "must start with a letter"),
])
def test_rename_refuses_reserved_and_invalid_names(name, words):
    g = Graph()
    fc = g.add_node("Linear")
    with pytest.raises(GraphEditError, match=words):
        Rename(g, fc.id, name).do()
    assert fc.name == "fc1"
    assert name_problem(name) is not None


def test_rename_refuses_duplicates_and_undo_restores():
    g = Graph()
    a = g.add_node("Linear")
    b = g.add_node("Linear")
    with pytest.raises(GraphEditError, match="a node named 'fc1' already exists"):
        Rename(g, b.id, "fc1").do()
    cmd = Rename(g, b.id, "classifier_2")
    cmd.do()
    assert g.find("classifier_2") is b and b.name == "classifier_2"
    cmd.undo()
    assert b.name == "fc2"
    with pytest.raises(GraphEditError, match="no node named 'classifier_2'"):
        g.find("classifier_2")
    Rename(g, a.id, "fc1").do()  # renaming to its own name is fine
    assert a.name == "fc1"
    assert name_problem("a" * 64) is None and name_problem("_x9") is None


@pytest.mark.parametrize("name", ["class", "forward", "has space"])
def test_every_name_the_model_accepts_survives_save_and_load(name):
    g = Graph()
    try:
        g.add_node("Linear", name=name)
    except GraphEditError:
        return  # refusing the name up front is fine
    loaded = parse_project(Project(g).dumps())
    assert loaded.graph.signature() == g.signature()


# ---- moving -------------------------------------------------------------------------------

def test_move_nodes_is_one_command_and_undoes():
    g, x, fc1, *_ = mlp()
    g.move(x.id, (1, 2))
    cmd = MoveNodes(g, {x.id: (100, 50.5), fc1.id: (-20, 7)})
    assert cmd.text == "Move"
    cmd.do()
    assert x.position == (100.0, 50.5) and fc1.position == (-20.0, 7.0)
    assert all(isinstance(v, float) for v in x.position)
    cmd.undo()
    assert x.position == (1.0, 2.0) and fc1.position == (0.0, 0.0)
    assert MoveNodes(g, {x.id: (0, 0)}).text == "Move input1"
    with pytest.raises(GraphEditError):
        MoveNodes(g, {"ghost": (0, 0)})


# ---- events -------------------------------------------------------------------------------

def test_every_edit_emits_its_event():
    g = Graph()
    rec = Recorder(g)
    add = AddNode(g, "Linear")
    add.do()
    nid = add.node_id
    assert rec.events == [GraphEvent("node_added", nid)]
    relu = AddNode(g, "ReLU")
    relu.do()
    rec.clear()
    edge = Edge(nid, "out", relu.node_id, "in")
    Connect(g, edge).do()
    assert rec.events == [GraphEvent("edge_added", relu.node_id, edge=edge)]
    rec.clear()
    SetParam(g, nid, "out_features", 7).do()
    assert rec.events == [GraphEvent("param_changed", nid, name="out_features", value=7)]
    rec.clear()
    Rename(g, nid, "head").do()
    assert rec.events == [GraphEvent("node_renamed", nid, name="head")]
    rec.clear()
    MoveNodes(g, {nid: (5, 6)}).do()
    assert rec.events == [GraphEvent("node_moved", nid, value=(5.0, 6.0))]
    rec.clear()
    remove = RemoveNode(g, nid)
    remove.do()
    assert rec.kinds == ["edge_removed", "node_removed"]
    assert rec.events[0].edge == edge and rec.events[1].node_id == nid
    assert rec.events[1].value.name == "head"
    rec.clear()
    remove.undo()
    assert rec.kinds == ["node_added", "edge_added"]
    rec.clear()
    Disconnect(g, edge).do()
    assert rec.events == [GraphEvent("edge_removed", relu.node_id, edge=edge)]


def test_failed_edits_emit_nothing_and_unsubscribe_stops_events():
    g = Graph()
    fc = g.add_node("Linear")
    rec = Recorder(g)
    with pytest.raises(GraphEditError):
        g.set_param(fc.id, "out_features", "x")
    with pytest.raises(GraphEditError):
        g.rename(fc.id, "for")
    assert rec.events == []
    other: list[GraphEvent] = []
    unsubscribe_other = g.subscribe(other.append)
    rec.unsubscribe()
    g.move(fc.id, (1, 1))
    assert rec.events == [] and [e.kind for e in other] == ["node_moved"]
    rec.unsubscribe()  # a second call is harmless
    unsubscribe_other()
    g.move(fc.id, (2, 2))
    assert len(other) == 1


# ---- compound commands --------------------------------------------------------------------

def test_compound_is_all_or_nothing():
    g, x, fc1, relu, fc2, out = mlp()
    before = g.signature()
    rec = Recorder(g)
    cmd = Compound([
        AddNode(g, "Dropout"),
        SetParam(g, fc1.id, "out_features", 3),
        MoveNodes(g, {x.id: (50, 50)}),
        RemoveNode(g, relu.id),
        Rename(g, fc2.id, "fc1"),  # fails: the name is taken
    ], "Paste")
    with pytest.raises(GraphEditError, match="a node named 'fc1' already exists"):
        cmd.do()
    assert g.signature() == before
    assert g.node(relu.id).name == "relu1" and len(g.edges) == 4
    assert rec.events  # the edits happened and were undone, and views heard both
    assert rec.kinds.count("node_added") == rec.kinds.count("node_removed")


def test_compound_paste_adds_nodes_then_connects_them():
    g, x, *_ = mlp()
    before = g.signature()
    a, b = AddNode(g, "Linear", params={"out_features": 3}), AddNode(g, "ReLU")
    wire_in = Connect(g, Edge(x.id, "out", a.node_id, "in"))  # ends don't exist yet
    wire = Connect(g, Edge(a.node_id, "out", b.node_id, "in"))
    assert wire.text == "Connect"
    paste = Compound([a, b, wire_in, wire], "Paste")
    paste.do()
    pasted = g.signature()
    assert g.edges_into(b.node_id) == [Edge(a.node_id, "out", b.node_id, "in")]
    assert g.node(a.node_id).name == "fc3"
    paste.undo()
    assert g.signature() == before
    paste.do()
    assert g.signature() == pasted


def test_compound_connect_is_checked_when_it_runs():
    g = Graph()
    fc = g.add_node("Linear")
    add = AddNode(g, "ReLU")
    wire = Connect(g, Edge(add.node_id, "out", add.node_id, "in"))  # a self-loop, unseen yet
    before = g.signature()
    with pytest.raises(GraphEditError, match="cannot feed itself"):
        Compound([add, wire]).do()
    assert g.signature() == before and len(g) == 1 and g.nodes[0] is fc


def test_nested_compound_undo_order():
    g = Graph()
    inner = Compound([AddNode(g, "ReLU", name="r"), AddNode(g, "Tanh", name="t")])
    outer = Compound([inner, AddNode(g, "Sigmoid", name="s")])
    outer.do()
    assert [n.name for n in g.nodes] == ["r", "t", "s"]
    outer.undo()
    assert len(g) == 0
    outer.do()
    assert [n.name for n in g.nodes] == ["r", "t", "s"]


# ---- graphs that are not a simple chain ---------------------------------------------------

def test_two_inputs_skip_connection_concat_and_two_outputs():
    g = Graph()
    img = g.add_node("Input", name="image", params={"kind": "image", "shape": [3, 8, 8]})
    meta = g.add_node("Input", name="meta", params={"kind": "vector", "shape": [5]})
    conv = g.add_node("Conv2d", params={"out_channels": 3, "kernel_size": [3, 3],
                                        "padding": [1, 1]})
    skip = g.add_node("Add")
    flat = g.add_node("Flatten")
    cat = g.add_node("Concat")
    head = g.add_node("Linear", name="head", params={"out_features": 10})
    aux = g.add_node("Linear", name="aux", params={"out_features": 1})
    out1 = g.add_node("Output", name="classes")
    out2 = g.add_node("Output", name="score")
    for edge in [Edge(img.id, "out", conv.id, "in"),
                 Edge(conv.id, "out", skip.id, "in1"), Edge(img.id, "out", skip.id, "in2"),
                 Edge(skip.id, "out", flat.id, "in"),
                 Edge(flat.id, "out", cat.id, "in1"), Edge(meta.id, "out", cat.id, "in2"),
                 Edge(cat.id, "out", head.id, "in"), Edge(cat.id, "out", aux.id, "in"),
                 Edge(head.id, "out", out1.id, "in"), Edge(aux.id, "out", out2.id, "in")]:
        assert g.connection_problem(edge) is None, edge
        Connect(g, edge).do()
    analysis = analyze(g)
    assert analysis.issues == []
    shapes = {g.node(nid).name: [str(t) for t in i.outputs.values()]
              for nid, i in analysis.info.items()}
    assert shapes["add1"] == ["(N, 3, 8, 8)"]
    assert shapes["flatten1"] == ["(N, 192)"]
    assert shapes["concat1"] == ["(N, 197)"]
    assert shapes["head"] == ["(N, 10)"] and shapes["aux"] == ["(N, 1)"]
    assert analysis.info[out1.id].inputs == {"in": analysis.info[head.id].outputs["out"]}
    order = analysis.order
    assert order.index(conv.id) < order.index(skip.id) < order.index(cat.id)
    assert analysis.total_params == (3 * 3 * 9 + 3) + (197 * 10 + 10) + (197 + 1)
    # a second wire from the skip's source into the Add is refused: both inputs are fed
    assert "already fed" in g.connection_problem(Edge(meta.id, "out", skip.id, "in2"))


def test_graph_copy_and_to_dict():
    g, x, fc1, *_ = mlp()
    g.subscribe(lambda e: None)
    c = g.copy()
    assert c.signature() == g.signature() and c._listeners == []
    c.set_param(fc1.id, "out_features", 1)
    assert g.node(fc1.id).params["out_features"] == 16  # deep enough: params are not shared
    d = g.to_dict()
    assert [n["name"] for n in d["nodes"]] == ["input1", "fc1", "relu1", "fc2", "output1"]
    assert d["nodes"][0]["params"] == {"kind": "vector", "shape": [8]}
    assert d["nodes"][1]["type_version"] == 1
    assert len(d["edges"]) == 4 and set(d["edges"][0]) == {"source", "source_port", "target",
                                                             "target_port"}
    g.clear()
    assert len(g) == 0 and g.edges == []
