"""Random edit sessions: every command undoes exactly and redoes to the same graph.

Starting from a template, random commands (of every kind, including Compound) are applied;
the graph's signature is recorded after each. Undoing them all, one at a time, must pass back
through every recorded signature to the original one; redoing them all must pass forward
through the same signatures; and the final graph must survive a project-file round trip.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from graph.blocks import AddBlock, GroupIntoBlock, Ungroup
from graph.commands import (AddNode, Command, Compound, Connect, Disconnect, MoveNodes,
                            RemoveNode, Rename, SetParam)
from graph.errors import GraphEditError
from graph.layers import CATALOGUE
from graph.layers.base import ParamSpec
from graph.model import Edge, Graph
from graph.project import Project, parse_project
from graph.templates import TEMPLATES
from graph.validate import analyze

TYPES = sorted(CATALOGUE)
NAMES = ["alpha", "beta", "head", "fc1", "conv1", "relu1", "Encoder_2", "_tmp", "x" * 64]
KINDS = ["add", "add", "remove", "connect", "connect", "disconnect", "set_param", "set_param",
         "rename", "move", "group", "group", "ungroup", "ungroup", "add_block", "inside_block",
         "compound"]


def param_value(spec: ParamSpec) -> st.SearchStrategy:
    """Values of the right type: mostly in range, sometimes just outside (which is stored)."""
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "file":  # a path: none, missing, or odd text
        return st.sampled_from(["", "weights.pth", "/no/such/model.pt", "ü ß.pt"])
    lo = spec.min if spec.min is not None else -1000
    hi = spec.max if spec.max is not None else 1000
    if spec.kind == "float":
        return st.floats(min_value=lo - 1, max_value=hi + 1, allow_nan=False,
                         allow_infinity=False)
    # ints: keep them small (a variadic "inputs" becomes that many ports)
    lo_i, hi_i = int(lo), int(min(hi, lo + 64))
    number = st.integers(min_value=lo_i - 2, max_value=hi_i + 2)
    if spec.kind == "int":
        return number
    size = st.just(spec.length) if spec.length else st.integers(1, 4)
    return size.flatmap(lambda n: st.lists(number, min_size=n, max_size=n).map(tuple))


def stable_edges(graph: Graph) -> list[Edge]:
    """Edges in an order that does not depend on the (random) uuids, so that hypothesis can
    replay a session."""
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    return sorted(graph.edges, key=lambda e: (index[e.source], e.source_port, index[e.target],
                                              e.target_port))


def pick_node(data, graph: Graph, recent: list[str]):
    """A node of the graph, often one added during this session (so later edits touch it)."""
    alive = [nid for nid in recent if graph.has_node(nid)]
    if alive and data.draw(st.integers(0, 3), label="recent") > 0:
        return graph.node(data.draw(st.sampled_from(alive), label="recent node"))
    return data.draw(st.sampled_from(graph.nodes), label="node")


def draw_command(data, graph: Graph, recent: list[str], depth: int = 0) -> Command | None:
    kind = data.draw(st.sampled_from(KINDS if depth == 0 else KINDS[:-1]), label="kind")
    if kind == "add":
        type_name = data.draw(st.sampled_from(TYPES), label="type")
        spec = CATALOGUE[type_name]
        params = {}
        for p in spec.params:
            if data.draw(st.booleans(), label=f"set {p.name}"):
                params[p.name] = data.draw(param_value(p), label=p.name)
        cmd = AddNode(graph, type_name, position=(
            data.draw(st.integers(-2000, 2000)), data.draw(st.integers(-2000, 2000))),
            params=params or None)
        recent.append(cmd.node_id)
        return cmd
    if not graph.nodes:
        return None
    if kind == "remove":
        return RemoveNode(graph, pick_node(data, graph, recent).id)
    if kind == "connect":
        for _ in range(6):
            src = pick_node(data, graph, recent)
            dst = pick_node(data, graph, recent)
            if not src.spec.outputs:
                continue
            ports = [p.name for p in dst.spec.input_ports(dst.params)]
            if not ports:
                continue
            edge = Edge(src.id, src.spec.outputs[0].name, dst.id,
                        data.draw(st.sampled_from(ports), label="port"))
            if graph.connection_problem(edge) is None:
                return Connect(graph, edge)
        return None
    if kind == "disconnect":
        if not graph.edges:
            return None
        return Disconnect(graph, data.draw(st.sampled_from(stable_edges(graph)), label="edge"))
    if kind == "set_param":
        node = pick_node(data, graph, recent)
        if not node.spec.params:
            return None
        spec = data.draw(st.sampled_from(node.spec.params), label="param")
        return SetParam(graph, node.id, spec.name, data.draw(param_value(spec), label="value"))
    if kind == "rename":
        node = pick_node(data, graph, recent)
        return Rename(graph, node.id, data.draw(st.sampled_from(NAMES), label="name"))
    if kind == "group":  # some layers into a block (Input/Output are refused: no command)
        chosen = data.draw(st.lists(st.sampled_from(graph.nodes), min_size=1, max_size=4,
                                    unique_by=lambda n: n.id), label="grouped")
        if any(n.type in ("Input", "Output") for n in chosen):
            return None
        cmd = GroupIntoBlock(graph, [n.id for n in chosen])
        recent.append(cmd.block_node_id)
        return cmd
    blocks = [n for n in graph.nodes if n.block is not None]
    if kind == "ungroup":
        return Ungroup(graph, data.draw(st.sampled_from(blocks)).id) if blocks else None
    if kind == "add_block":
        if not graph.blocks:
            return None
        name = data.draw(st.sampled_from(sorted(graph.blocks)), label="block")
        try:
            cmd = AddBlock(graph, graph.blocks[name], (0.0, 0.0))
        except GraphEditError:  # into its own inside: refused up front
            return None
        recent.append(cmd.node_id)
        return cmd
    if kind == "inside_block":  # an edit of a definition: every instance changes
        if not graph.blocks:
            return None
        name = data.draw(st.sampled_from(sorted(graph.blocks)), label="block")
        inner = graph.blocks[name].graph
        return draw_command(data, inner, [], depth + 1) if inner.nodes else None
    if kind == "move":
        nodes = data.draw(st.lists(st.sampled_from(graph.nodes), min_size=1, max_size=3,
                                   unique_by=lambda n: n.id), label="moved")
        coords = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
        return MoveNodes(graph, {n.id: (data.draw(coords), data.draw(coords)) for n in nodes})
    # compound: built against the current graph, so later parts may fail -> all or nothing
    parts = [c for c in (draw_command(data, graph, recent, depth + 1)
                         for _ in range(data.draw(st.integers(1, 4), label="parts")))
             if c is not None]
    return Compound(parts, "Paste") if parts else None


# Derandomized so a failure is reproducible run to run (uuids are made stable where the
# generator sees them). Shrinking a 25-step session takes minutes, so it is off: to get a
# minimal session, add Phase.shrink to ``phases`` locally.
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(key=st.sampled_from(sorted(TEMPLATES)), steps=st.integers(1, 25), data=st.data())
def test_undo_all_then_redo_all_passes_through_every_recorded_graph(key, steps, data):
    graph = TEMPLATES[key].build().graph
    signatures = [graph.signature()]
    done: list[Command] = []
    recent: list[str] = []
    for _ in range(steps):
        cmd = draw_command(data, graph, recent)
        if cmd is None:
            continue
        before = graph.signature()
        try:
            cmd.do()
        except GraphEditError:
            # a refused edit (or a Compound whose later part fails) leaves no trace
            assert graph.signature() == before
            continue
        done.append(cmd)
        signatures.append(graph.signature())
    final = signatures[-1]

    for i in reversed(range(len(done))):
        done[i].undo()
        assert graph.signature() == signatures[i], f"undo of step {i} ({done[i].text})"
    assert graph.signature() == signatures[0]

    for i, cmd in enumerate(done):
        cmd.do()
        assert graph.signature() == signatures[i + 1], f"redo of step {i} ({cmd.text})"
    assert graph.signature() == final

    # the edited graph is a valid project file, whatever its validation issues
    loaded = parse_project(Project(graph).dumps())
    assert loaded.graph.signature() == final
    assert loaded.graph.to_dict() == graph.to_dict()
    analyze(graph)  # never crashes on anything the editor can build


def test_the_generator_reaches_every_command_kind():
    """Guard against a generator that silently stops producing some command kind."""
    seen: set[str] = set()

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        graph = TEMPLATES["residual-cnn"].build().graph
        recent: list[str] = []
        for _ in range(16):
            cmd = draw_command(data, graph, recent)
            if cmd is None:
                continue
            seen.add(type(cmd).__name__)
            try:
                cmd.do()
            except GraphEditError:
                pass

    run()
    assert seen == {"AddNode", "RemoveNode", "Connect", "Disconnect", "SetParam", "Rename",
                    "MoveNodes", "Compound", "GroupIntoBlock", "Ungroup", "AddBlock"}


def test_minimal_add_edit_remove_session():
    """The shortest session the property above shrinks to on the AddNode aliasing bug."""
    graph = TEMPLATES["hello-mlp"].build().graph
    add = AddNode(graph, "Linear")
    add.do()
    sigs = [graph.signature()]
    edit = SetParam(graph, add.node_id, "out_features", 5)
    edit.do()
    remove = RemoveNode(graph, add.node_id)
    remove.do()
    remove.undo()
    edit.undo()
    add.undo()
    add.do()
    assert graph.signature() == sigs[0]
