"""Automatic layout and the training settings declaration."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.layout import (CARD_WIDTH, DIRECTIONS, auto_layout, card_size, flow_direction,
                          has_positions, layered_positions, layout_moves)
from graph.model import Edge, Graph
from graph.settings import (LIVE_SETTINGS, TRAINING_INDEX, TRAINING_PARAMS, coerce_training,
                            default_training)
from graph.templates import TEMPLATES, build_template


# ---- layout -------------------------------------------------------------------------------

def boxes(graph: Graph, positions: dict, direction: str) -> dict:
    out = {}
    for node in graph.nodes:
        x, y = positions[node.id]
        w, h = card_size(node, direction)
        out[node.id] = (x, y, x + w, y + h)
    return out


def assert_layered(graph: Graph, positions: dict, direction: str = "TB") -> None:
    """Every card placed, no two cards overlapping, every wire going down (right for LR)."""
    assert set(positions) == {n.id for n in graph.nodes}
    rects = list(boxes(graph, positions, direction).items())
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1:]:
            apart = ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1]
            assert apart, f"cards {a} and {b} overlap: {ra} {rb}"
    along = 1 if direction == "TB" else 0
    for e in graph.edges:
        assert positions[e.target][along] > positions[e.source][along], e


def chain(graph: Graph, types: list[str], start=None) -> list:
    nodes = [start] if start else []
    for t in types:
        node = graph.add_node(t)
        if nodes:
            port = "in1" if t == "Add" else "in"
            graph.connect(Edge(nodes[-1].id, "out", node.id, port))
        nodes.append(node)
    return nodes


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_templates_are_laid_out_top_to_bottom(key):
    g = build_template(key).graph
    positions = {n.id: n.position for n in g.nodes}
    assert positions == layered_positions(g)  # templates use auto_layout
    assert_layered(g, positions)
    assert_layered(g, layered_positions(g, "LR"), "LR")


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_sequential_network_is_one_straight_column(direction):
    g = Graph()
    nodes = chain(g, ["Input", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Output"])
    pos = layered_positions(g, direction)
    across, along = (0, 1) if direction == "TB" else (1, 0)
    centres = {pos[n.id][across] + card_size(n, direction)[across] / 2 for n in nodes}
    assert len(centres) == 1
    steps = [pos[n.id][along] for n in nodes]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)


def test_a_skip_connection_runs_beside_a_straight_main_path():
    g = Graph()
    main = chain(g, ["Input", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "Add", "Output"])
    g.connect(Edge(main[0].id, "out", main[5].id, "in2"))  # the skip
    pos = layered_positions(g)
    assert len({pos[n.id][0] for n in main}) == 1  # not a zig-zag at the skip
    assert_layered(g, pos)


def test_parallel_branches_stand_side_by_side():
    g = Graph()
    x = g.add_node("Input")
    a = g.add_node("ReLU")
    b = g.add_node("Tanh")
    add = g.add_node("Add")
    for e in [Edge(x.id, "out", a.id, "in"), Edge(x.id, "out", b.id, "in"),
              Edge(a.id, "out", add.id, "in1"), Edge(b.id, "out", add.id, "in2")]:
        g.connect(e)
    pos = layered_positions(g)
    assert pos[a.id][1] == pos[b.id][1]  # one row
    assert abs(pos[a.id][0] - pos[b.id][0]) >= CARD_WIDTH
    centre = (pos[a.id][0] + pos[b.id][0]) / 2
    assert pos[x.id][0] == pytest.approx(centre, abs=1) == pos[add.id][0]
    assert_layered(g, pos)


def test_layout_with_a_loop_still_places_every_node_apart():
    g = Graph()
    x = g.add_node("Input")
    a = g.add_node("Add")
    b = g.add_node("ReLU")
    c = g.add_node("Tanh")
    after = g.add_node("Output")
    for e in [Edge(x.id, "out", a.id, "in1"), Edge(a.id, "out", b.id, "in"),
              Edge(b.id, "out", c.id, "in"), Edge(c.id, "out", a.id, "in2"),
              Edge(c.id, "out", after.id, "in")]:
        g.connect(e)
    pos = layered_positions(g)
    loop = [a, b, c]
    ys = [pos[n.id][1] for n in loop]
    assert ys == sorted(ys)  # the loop reads down, its back wire is the only one going up
    assert pos[x.id][1] < ys[0] and ys[-1] < pos[after.id][1]
    g2 = Graph()  # a self-loop too
    r = g2.add_node("ReLU")
    s = g2.add_node("Tanh")
    g2.connect(Edge(r.id, "out", r.id, "in"))
    g2.connect(Edge(r.id, "out", s.id, "in"))
    pos2 = layered_positions(g2)
    assert pos2[r.id][1] < pos2[s.id][1]
    with pytest.raises(ValueError, match="direction"):
        layered_positions(g2, "diagonal")


def test_auto_layout_moves_nodes_with_events_and_layout_moves_only_what_changes():
    g = Graph()
    nodes = [g.add_node(t, position=(7, 7)) for t in ("Input", "Linear", "ReLU", "Linear",
                                                       "Output")]
    for a, b in zip(nodes, nodes[1:]):
        g.connect(Edge(a.id, "out", b.id, "in"))
    assert not has_positions(g)
    moved = []
    g.subscribe(lambda e: moved.append(e.node_id) if e.kind == "node_moved" else None)
    auto_layout(g)
    assert sorted(moved) == sorted(n.id for n in g.nodes)
    assert {n.id: n.position for n in g.nodes} == layered_positions(g)
    assert has_positions(g) and layout_moves(g) == {}
    g.move(nodes[2].id, (900.0, 900.0))
    assert list(layout_moves(g)) == [nodes[2].id]
    assert set(layout_moves(g, "LR")) == {n.id for n in nodes}
    assert layered_positions(Graph()) == {}


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), wires=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)),
                                             max_size=30),
       direction=st.sampled_from(DIRECTIONS))
def test_layout_of_random_dags(n, wires, direction):
    g = Graph()
    nodes = [g.add_node("Add", params={"inputs": 8}) for _ in range(n)]
    free = {node.id: [f"in{i}" for i in range(1, 9)] for node in nodes}
    for i, j in wires:
        i, j = i % n, j % n
        if i < j and free[nodes[j].id]:  # forward wires only: a DAG
            g.connect(Edge(nodes[i].id, "out", nodes[j].id, free[nodes[j].id].pop()))
    assert_layered(g, layered_positions(g, direction), direction)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_the_flow_of_a_placed_graph_is_read_from_its_wires(direction):
    graph = build_template("digits-cnn").graph
    auto_layout(graph, direction)
    assert flow_direction(graph) == direction


def test_a_graph_without_positions_or_wires_has_no_flow():
    graph = Graph()
    chain(graph, ["Input", "Linear"])
    assert flow_direction(graph) is None  # all at one point: nothing to tell
    lone = Graph()
    lone.add_node("Input", position=(0, 0))
    lone.add_node("Linear", position=(300, 0))
    assert flow_direction(lone) is None  # placed, but no wire says which way


# ---- training settings ----------------------------------------------------------------------

def test_defaults_are_accepted_and_valid():
    defaults = default_training()
    settings_, problems = coerce_training(defaults)
    assert problems == [] and settings_ == defaults
    assert coerce_training({}) == (defaults, [])
    assert defaults["optimizer"] == "adam" and defaults["epochs"] == 10
    assert defaults["learning_rate"] == 1e-3 and defaults["batch_size"] == 64
    for spec in TRAINING_PARAMS:
        assert spec.problem(spec.default) is None, spec.name
    assert set(TRAINING_INDEX) == set(defaults)
    assert LIVE_SETTINGS <= set(defaults)
    default_training()["epochs"] = 99
    assert default_training()["epochs"] == 10  # a fresh dict each time


def test_values_are_coerced_to_their_kind():
    s, problems = coerce_training({"epochs": 5.0, "learning_rate": 1, "flip": True,
                                   "optimizer": "sgd"})
    assert problems == []
    assert s["epochs"] == 5 and isinstance(s["epochs"], int)
    assert s["learning_rate"] == 1.0 and isinstance(s["learning_rate"], float)
    assert (s["flip"], s["optimizer"]) == (True, "sgd")
    assert s["batch_size"] == 64  # untouched keys keep their defaults


@pytest.mark.parametrize("values,problem", [
    ({"speed": 3}, "unknown training setting 'speed'"),
    ({"epochs": 0}, "training setting epochs must be at least 1 (is 0)"),
    ({"learning_rate": 11}, "training setting learning_rate must be at most 10 (is 11)"),
    ({"learning_rate": 0.0}, "training setting learning_rate must be at least 1e-08 (is 0)"),
    ({"momentum": 1.5}, "training setting momentum must be at most 0.999 (is 1.5)"),
    ({"seed": -1}, "training setting seed must be at least 0 (is -1)"),
    ({"epochs": "ten"}, "training setting epochs: expected a whole number, got 'ten'"),
    ({"epochs": 2.5}, "training setting epochs: expected a whole number, got 2.5"),
    ({"epochs": True}, "training setting epochs: expected a whole number, got True"),
    ({"flip": 1}, "training setting flip: expected true or false, got 1"),
    ({"learning_rate": "fast"}, "training setting learning_rate: expected a number, got 'fast'"),
    ({"learning_rate": float("nan")},
     "training setting learning_rate: expected a number, got nan"),
    ({"optimizer": "lbfgs"},
     "training setting optimizer: expected one of adam, adamw, sgd, rmsprop, got 'lbfgs'"),
    ({"device": None}, "training setting device: expected one of auto, cpu, cuda, mps, got None"),
])
def test_bad_values_are_refused_with_words(values, problem):
    s, problems = coerce_training(values)
    assert problems == [problem]
    assert s == default_training()  # the bad value is not taken


def test_several_problems_are_all_reported():
    s, problems = coerce_training({"epochs": 0, "batch_size": 32, "loss": "hinge", "x": 1})
    assert len(problems) == 3 and s["batch_size"] == 32
    assert problems[1].startswith("training setting loss: expected one of cross_entropy")


@pytest.mark.parametrize("values", [{"epochs": float("inf")}, {"learning_rate": 10 ** 400},
                                    {"epochs": 10 ** 400}])
def test_non_finite_and_huge_numbers_are_refused_with_words(values):
    s, problems = coerce_training(values)
    assert len(problems) == 1 and problems[0].startswith("training setting ")
