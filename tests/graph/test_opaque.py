"""The Opaque layer: shapes recorded at import are shown and checked without torch."""
from __future__ import annotations

import json

from graph.layers.opaque import shapes_text
from graph.model import Edge, Graph
from graph.shapes import TensorType
from graph.validate import analyze


def build(input_shape: tuple[int, ...]) -> tuple[Graph, str]:
    graph = Graph()
    x = graph.add_node("Input", name="image", params={"kind": "image", "shape": input_shape})
    op = graph.add_node("Opaque", name="interpolate", params={
        "op": json.dumps({"call": "function", "target": "torch.nn.functional:interpolate"}),
        "shapes": shapes_text([TensorType((8, 4, 4))], TensorType((8, 8, 8)), params=3)})
    out = graph.add_node("Output", name="output")
    graph.connect(Edge(x.id, "out", op.id, "in1"))
    graph.connect(Edge(op.id, "out", out.id, "in"))
    return graph, op.id


def test_opaque_shows_its_recorded_shapes_without_torch():
    graph, op = build((8, 4, 4))
    analysis = analyze(graph)
    assert analysis.is_valid, analysis.summary()
    assert str(analysis.info[op].outputs["out"]) == "(N, 8, 8, 8)"
    assert analysis.info[op].params == 3


def test_opaque_refuses_another_input_shape_and_says_to_reimport():
    graph, op = build((8, 5, 5))
    (issue,) = [i for i in analyze(graph).errors if i.node_id == op]
    assert issue.message == ("Opaque 'interpolate' expects (N, 8, 4, 4) but 'image' gives "
                             "(N, 8, 5, 5): re-import the model with the new input shape")


def test_opaque_without_recorded_shapes_is_an_error_not_a_crash():
    graph = Graph()
    node = graph.add_node("Opaque", name="op")
    x = graph.add_node("Input", name="image", params={"kind": "vector", "shape": (4,)})
    graph.connect(Edge(x.id, "out", node.id, "in1"))
    (issue,) = [i for i in analyze(graph).errors if i.node_id == node.id]
    assert "importing a model" in issue.message
