"""Automatic layout and the training settings declaration."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.layout import (COLUMN_WIDTH, ROW_HEIGHT, auto_layout, auto_wrap_for, layer_depths,
                          layered_positions)
from graph.model import Edge, Graph
from graph.settings import (LIVE_SETTINGS, TRAINING_INDEX, TRAINING_PARAMS, coerce_training,
                            default_training)
from graph.templates import TEMPLATES, build_template


# ---- layout -------------------------------------------------------------------------------

def assert_layered(graph: Graph, positions: dict) -> None:
    assert set(positions) == {n.id for n in graph.nodes}
    assert len(set(positions.values())) == len(positions), "two nodes share a position"
    for e in graph.edges:
        assert positions[e.target][0] > positions[e.source][0], e


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_templates_are_laid_out_left_to_right(key):
    g = build_template(key).graph
    assert_layered(g, layered_positions(g))
    wrap = auto_wrap_for(g)
    wrapped = layered_positions(g, wrap=wrap)
    assert {n.id: n.position for n in g.nodes} == wrapped  # templates use auto_layout
    assert len(set(wrapped.values())) == len(wrapped)
    depth = layer_depths(g)
    for e in g.edges:  # reading order: bands top to bottom, columns left to right
        assert depth[e.target] > depth[e.source]
        assert wrapped[e.target][0] > wrapped[e.source][0] or \
            wrapped[e.target][1] > wrapped[e.source][1]
    assert max(x for x, _ in wrapped.values()) <= (wrap - 1) * COLUMN_WIDTH


def test_a_long_chain_wraps_into_bands():
    g = Graph()
    prev = g.add_node("Input")
    for _ in range(13):
        node = g.add_node("ReLU")
        g.connect(Edge(prev.id, "out", node.id, "in"))
        prev = node
    pos = layered_positions(g, wrap=5)
    xs = sorted({x for x, _ in pos.values()})
    ys = sorted({y for _, y in pos.values()})
    assert xs == [i * COLUMN_WIDTH for i in range(5)]
    assert len(ys) == 3 and ys[0] == 0.0


def test_layout_columns_and_rows_are_exact():
    g = Graph()
    x = g.add_node("Input")
    a = g.add_node("ReLU")
    b = g.add_node("Tanh")
    add = g.add_node("Add")
    far = g.add_node("Sigmoid")
    lone = g.add_node("Identity")
    for e in [Edge(x.id, "out", a.id, "in"), Edge(x.id, "out", b.id, "in"),
              Edge(a.id, "out", far.id, "in"), Edge(far.id, "out", add.id, "in1"),
              Edge(b.id, "out", add.id, "in2")]:
        g.connect(e)
    pos = layered_positions(g)
    # column = longest path from a source; rows centred on 0, in file order
    assert pos[x.id] == (0.0, -ROW_HEIGHT / 2) and pos[lone.id] == (0.0, ROW_HEIGHT / 2)
    assert pos[a.id] == (COLUMN_WIDTH, -ROW_HEIGHT / 2)
    assert pos[b.id] == (COLUMN_WIDTH, ROW_HEIGHT / 2)
    assert pos[far.id] == (2 * COLUMN_WIDTH, 0.0)
    assert pos[add.id] == (3 * COLUMN_WIDTH, 0.0)  # right of its deepest input
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
    assert set(pos) == {n.id for n in g.nodes}
    assert len(set(pos.values())) == len(pos)
    loop_x = {pos[n.id][0] for n in (a, b, c)}
    assert len(loop_x) == 1  # the loop is one column
    assert pos[x.id][0] < loop_x.pop() < pos[after.id][0]
    # a self-loop too
    g2 = Graph()
    r = g2.add_node("ReLU")
    s = g2.add_node("Tanh")
    g2.connect(Edge(r.id, "out", r.id, "in"))
    g2.connect(Edge(r.id, "out", s.id, "in"))
    pos2 = layered_positions(g2)
    assert pos2[r.id][0] < pos2[s.id][0]


def test_auto_layout_moves_nodes_with_events():
    g = Graph()
    chain = [g.add_node(t, position=(7, 7)) for t in ("Input", "Linear", "ReLU", "Linear",
                                                       "Output")]
    for a, b in zip(chain, chain[1:]):
        g.connect(Edge(a.id, "out", b.id, "in"))
    moved = []
    g.subscribe(lambda e: moved.append(e.node_id) if e.kind == "node_moved" else None)
    auto_layout(g)
    assert sorted(moved) == sorted(n.id for n in g.nodes)
    assert [n.position for n in g.nodes] == list(layered_positions(g, auto_wrap_for(g)).values())
    assert [n.position for n in g.nodes][:3] == [(i * COLUMN_WIDTH, 0.0) for i in range(3)]
    assert layered_positions(Graph()) == {}


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), wires=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)),
                                             max_size=30))
def test_layout_of_random_dags(n, wires):
    g = Graph()
    nodes = [g.add_node("Add", params={"inputs": 8}) for _ in range(n)]
    free = {node.id: [f"in{i}" for i in range(1, 9)] for node in nodes}
    for i, j in wires:
        i, j = i % n, j % n
        if i < j and free[nodes[j].id]:  # forward wires only: a DAG
            g.connect(Edge(nodes[i].id, "out", nodes[j].id, free[nodes[j].id].pop()))
    assert_layered(g, layered_positions(g))


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
