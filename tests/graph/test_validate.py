"""Validation and shape inference: every issue in the words a user reads, and exact shapes,
parameter counts and MACs for hand-computed layers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.errors import ShapeError
from graph.layers import CATALOGUE, by_category, get_spec
from graph.model import Edge, Graph
from graph.shapes import TensorType, format_shape, normalize_dim
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze


# ---- helpers --------------------------------------------------------------------------------

def build_chain(*layers, output: bool = True):
    """A chain of (type, name, params) layers, wired 'out' -> first input, then an Output."""
    g = Graph()
    nodes = {}
    prev = None
    for type_name, name, *rest in layers:
        node = g.add_node(type_name, name=name, params=rest[0] if rest else None)
        if prev is not None:
            port = node.spec.input_ports(node.params)[0].name
            g.connect(Edge(prev.id, "out", node.id, port))
        nodes[name] = prev = node
    if output:
        out = g.add_node("Output", name="out")
        g.connect(Edge(prev.id, "out", out.id, "in"))
        nodes["out"] = out
    return g, nodes


def out_shape(analysis, node) -> tuple:
    (t,) = analysis.info[node.id].outputs.values()
    return t.shape


def cost(analysis, node) -> tuple[int, int]:
    info = analysis.info[node.id]
    return info.params, info.macs


def single(layer_type: str, params: dict, input_params: dict):
    """Analyze Input -> layer -> Output and return (output shape, params, macs)."""
    g, n = build_chain(("Input", "x", input_params), (layer_type, "layer", params))
    a = analyze(g)
    assert a.is_valid, a.summary()
    return out_shape(a, n["layer"]), *cost(a, n["layer"])


LENET = (("Input", "image", {"kind": "image", "shape": [1, 32, 32]}),
         ("Conv2d", "conv1", {"out_channels": 6, "kernel_size": [5, 5]}),
         ("MaxPool2d", "pool1"),
         ("Conv2d", "conv2", {"out_channels": 16, "kernel_size": [5, 5]}),
         ("MaxPool2d", "pool2"),
         ("Linear", "fc1", {"out_features": 120}))


# ---- issues, in words -----------------------------------------------------------------------

def test_lenet_without_flatten_names_both_ends_and_the_fix():
    g, n = build_chain(*LENET)
    a = analyze(g)
    assert [i.message for i in a.errors] == [
        "Linear 'fc1' expects (N, F) but 'pool2' gives (N, 16, 5, 5): insert a Flatten"]
    (issue,) = a.errors
    assert (issue.kind, issue.node_id, issue.port, issue.other_node_id) == \
        ("shape", n["fc1"].id, "in", n["pool2"].id)
    assert out_shape(a, n["conv1"]) == ("N", 6, 28, 28)
    assert out_shape(a, n["pool1"]) == ("N", 6, 14, 14)
    assert out_shape(a, n["conv2"]) == ("N", 16, 10, 10)
    assert out_shape(a, n["pool2"]) == ("N", 16, 5, 5)
    assert a.info[n["fc1"].id].outputs == {}
    assert not a.is_valid and a.summary() == issue.message


def test_lenet_with_flatten_is_valid_with_known_totals():
    layers = LENET[:-1] + (("Flatten", "flat"), LENET[-1], ("ReLU", "relu"),
                           ("Linear", "fc2", {"out_features": 84}), ("ReLU", "relu2"),
                           ("Linear", "fc3", {"out_features": 10}))
    g, n = build_chain(*layers)
    a = analyze(g)
    assert a.issues == []
    assert out_shape(a, n["flat"]) == ("N", 400)
    # the classic LeNet-5 count: 156 + 2416 + 48120 + 10164 + 850
    assert a.total_params == 61706
    assert cost(a, n["conv1"]) == (156, 6 * 28 * 28 * 25)
    assert cost(a, n["conv2"]) == (2416, 16 * 10 * 10 * 150)
    assert cost(a, n["fc1"]) == (48120, 48000)
    assert a.order.index(n["image"].id) == 0


def test_unconnected_required_input_names_node_and_port():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
    fc = g.add_node("Linear", name="fc")
    add = g.add_node("Add", name="join")
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", add.id, "in1"))
    g.connect(Edge(add.id, "out", fc.id, "in"))
    a = analyze(g)
    messages = {(i.node_id, i.port): i.message for i in a.errors}
    assert messages == {
        (add.id, "in2"): "Add 'join' has nothing connected to its input 'in2': connect a "
                         "layer's output to it",
        (out.id, "in"): "Output 'out' has nothing connected to its input 'in': connect the "
                        "last layer to it",
    }
    assert {i.kind for i in a.errors} == {"unconnected"}
    # the Linear after the incomplete Add is not blamed (no cascade), but it is unused
    assert [(i.kind, i.severity) for i in a.issues_for(fc.id)] == [("unused", "warning")]


def test_cycle_names_every_member():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
    add = g.add_node("Add", name="mix")
    fc = g.add_node("Linear", name="fc", params={"out_features": 4})
    relu = g.add_node("ReLU", name="act")
    out = g.add_node("Output", name="out")
    for e in [Edge(x.id, "out", add.id, "in1"), Edge(add.id, "out", fc.id, "in"),
              Edge(fc.id, "out", relu.id, "in"), Edge(relu.id, "out", add.id, "in2"),
              Edge(relu.id, "out", out.id, "in")]:
        g.connect(e)  # the model stores a loop (e.g. from a file); validation reports it
    a = analyze(g)
    cycle = [i for i in a.errors if i.kind == "cycle"]
    assert sorted(i.node_id for i in cycle) == sorted([add.id, fc.id, relu.id])
    assert cycle[0].message.endswith("is part of a loop (Add 'mix', Linear 'fc', ReLU 'act'); "
                                     "data must flow one way: remove one of these connections")
    assert set(a.order) == {x.id, out.id}
    assert a.errors == cycle  # no shape or unconnected noise from the loop's members


def test_self_loop_is_reported_as_a_cycle():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
    relu = g.add_node("ReLU", name="act")
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", out.id, "in"))
    g.connect(Edge(relu.id, "out", relu.id, "in"))  # connect() stores it, as a file may hold it
    a = analyze(g)
    assert [(i.kind, i.node_id) for i in a.errors] == [("cycle", relu.id)]


def test_two_edges_into_one_input_names_both_sources():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
    a1 = g.add_node("Linear", name="left", params={"out_features": 3})
    a2 = g.add_node("Linear", name="right", params={"out_features": 3})
    relu = g.add_node("ReLU", name="act")
    out = g.add_node("Output", name="out")
    for e in [Edge(x.id, "out", a1.id, "in"), Edge(x.id, "out", a2.id, "in"),
              Edge(a1.id, "out", relu.id, "in"), Edge(a2.id, "out", relu.id, "in"),
              Edge(relu.id, "out", out.id, "in")]:
        g.connect(e)
    a = analyze(g)
    (issue,) = a.errors
    assert issue.kind == "duplicate_input" and issue.node_id == relu.id and issue.port == "in"
    assert "input 'in' of ReLU 'act' is connected to" in issue.message
    assert "Linear 'left'" in issue.message and "Linear 'right'" in issue.message
    assert issue.message.endswith("an input takes one connection: remove all but one (or join "
                                  "them with an Add or Concat)")
    assert issue.other_node_id in (a1.id, a2.id)


def test_wire_into_a_port_that_no_longer_exists():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
    add = g.add_node("Add", name="sum", params={"inputs": 3})
    out = g.add_node("Output", name="out")
    for port in ("in1", "in2", "in3"):
        g.connect(Edge(x.id, "out", add.id, port))
    g.connect(Edge(add.id, "out", out.id, "in"))
    assert analyze(g).is_valid
    g.set_param(add.id, "inputs", 2)
    (issue,) = analyze(g).errors
    assert issue.kind == "missing_port" and issue.port == "in3"
    assert issue.message == ("Add 'sum' has no input 'in3' (it has 2 inputs now); remove the "
                             "connection from Input 'x'")


def test_parameter_out_of_range():
    g, n = build_chain(("Input", "x", {"kind": "vector", "shape": [4]}),
                       ("Dropout", "drop", {"p": 1.5}), ("Linear", "fc", {"out_features": 2}))
    a = analyze(g)
    assert [(i.kind, i.node_id, i.message) for i in a.errors] == [
        ("param", n["drop"].id, "Dropout 'drop': p must be at most 1 (is 1.5)")]
    g.set_param(n["drop"].id, "p", 0.25)
    g.set_param(n["x"].id, "shape", [4, 4])
    (issue,) = analyze(g).errors
    assert issue.message == ("Input 'x': a 'vector' input needs 1 numbers (features), got 2")


def test_conv_kernel_of_wrong_length_is_a_parameter_problem():
    g, n = build_chain(("Input", "x", {"kind": "image", "shape": [1, 8, 8]}),
                       ("Conv2d", "conv", {"kernel_size": [3, 3, 3]}))
    (issue,) = analyze(g).errors
    assert issue.message == "Conv2d 'conv': kernel_size: expected 2 numbers, got 3"


def test_no_input_and_no_output():
    g = Graph()
    g.add_node("Linear")
    a = analyze(g)
    by_kind = {i.kind: i for i in a.errors}
    assert by_kind["no_input"].message == ("the network has no Input node: add one from the "
                                          "palette (Input/Output)")
    assert by_kind["no_output"].message == ("the network has no Output node: add one and "
                                           "connect the last layer to it")
    assert by_kind["no_input"].node_id is None and by_kind["no_output"].node_id is None
    assert analyze(Graph()).errors and {i.kind for i in analyze(Graph()).errors} == \
        {"no_input", "no_output"}


def test_unused_node_is_a_warning_and_graph_stays_valid():
    g, n = build_chain(("Input", "x", {"kind": "vector", "shape": [4]}),
                       ("Linear", "fc", {"out_features": 2}))
    side = g.add_node("Linear", name="probe", params={"out_features": 7})
    g.connect(Edge(n["x"].id, "out", side.id, "in"))
    a = analyze(g)
    (issue,) = a.issues
    assert (issue.kind, issue.severity, issue.node_id) == ("unused", "warning", side.id)
    assert issue.message == ("Linear 'probe' does not lead to any Output, so it has no effect: "
                             "connect it or delete it")
    assert a.is_valid and a.errors == [] and a.summary() == ""
    assert a.info[side.id].params == 4 * 7 + 7  # still analysed (its label shows a shape)


def test_errors_do_not_cascade_downstream():
    g, n = build_chain(("Input", "x", {"kind": "image", "shape": [3, 8, 8]}),
                       ("Linear", "fc1", {"out_features": 10}),
                       ("ReLU", "relu"), ("Linear", "fc2", {"out_features": 4}),
                       ("Softmax", "probs"))
    a = analyze(g)
    assert [(i.node_id, i.kind) for i in a.issues] == [(n["fc1"].id, "shape")]
    for name in ("relu", "fc2", "probs"):
        assert a.info[n[name].id].outputs == {}
    # same for a parameter problem upstream
    g2, n2 = build_chain(("Input", "x", {"kind": "vector", "shape": [4]}),
                         ("Linear", "fc1", {"out_features": -3}),
                         ("Linear", "fc2", {"out_features": 2}))
    assert [(i.node_id, i.kind) for i in analyze(g2).issues] == [(n2["fc1"].id, "param")]


def test_embedding_fed_floats():
    g, n = build_chain(("Input", "x", {"kind": "sequence", "shape": [10, 3]}),
                       ("Embedding", "embed"))
    (issue,) = analyze(g).errors
    assert issue.message == ("Embedding 'embed' expects (N, T) token ids but 'x' gives "
                             "(N, 10, 3): set the Input kind to 'tokens'")
    assert issue.other_node_id == n["x"].id


def test_token_input_into_linear():
    g, n = build_chain(("Input", "text", {"kind": "tokens", "shape": [64]}),
                       ("Linear", "fc", {"out_features": 8}))
    (issue,) = analyze(g).errors
    assert issue.message == ("Linear 'fc' expects (N, F) of real numbers but 'text' gives "
                             "(N, 64): put an Embedding first")


def test_token_input_into_an_activation_reads_well():
    g, n = build_chain(("Input", "text", {"kind": "tokens", "shape": [64]}), ("ReLU", "act"))
    (issue,) = analyze(g).errors
    assert "real numbers of real numbers" not in issue.message
    assert issue.message.startswith("ReLU 'act' expects real numbers but 'text' gives (N, 64)")


def _add_graph(shape_a, shape_b):
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "image", "shape": [3, 8, 8]})
    a = g.add_node("Conv2d", name="main", params={"out_channels": shape_a, "kernel_size": [1, 1]})
    b = g.add_node("Conv2d", name="shortcut",
                   params={"out_channels": shape_b, "kernel_size": [1, 1]})
    add = g.add_node("Add", name="merge")
    out = g.add_node("Output", name="out")
    for e in [Edge(x.id, "out", a.id, "in"), Edge(x.id, "out", b.id, "in"),
              Edge(a.id, "out", add.id, "in1"), Edge(b.id, "out", add.id, "in2"),
              Edge(add.id, "out", out.id, "in")]:
        g.connect(e)
    return g, add, b


def test_add_with_mismatched_shapes_is_one_issue_on_the_add():
    g, add, b = _add_graph(16, 8)
    (issue,) = analyze(g).errors
    assert (issue.kind, issue.node_id, issue.port, issue.other_node_id) == \
        ("shape", add.id, "in2", b.id)
    assert "(N, 16, 8, 8)" in issue.message and "(N, 8, 8, 8)" in issue.message
    assert "'shortcut'" in issue.message
    g_ok, add_ok, _ = _add_graph(8, 8)
    assert analyze(g_ok).issues == []


def test_add_with_mismatched_shapes_names_both_sources():
    g, add, b = _add_graph(16, 8)
    (issue,) = analyze(g).errors
    assert "'main'" in issue.message and "'shortcut'" in issue.message


def test_concat_mismatch_and_batch_dim():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "image", "shape": [3, 8, 8]})
    y = g.add_node("Input", name="y", params={"kind": "image", "shape": [3, 4, 4]})
    cat = g.add_node("Concat", name="cat")
    out = g.add_node("Output", name="out")
    for e in [Edge(x.id, "out", cat.id, "in1"), Edge(y.id, "out", cat.id, "in2"),
              Edge(cat.id, "out", out.id, "in")]:
        g.connect(e)
    (issue,) = analyze(g).errors
    assert issue.message == ("Concat 'cat': inputs must match in every dimension except 1, but "
                             "in1 is (N, 3, 8, 8) and in2 is (N, 3, 4, 4)")
    assert issue.port == "in2"
    g.set_param(cat.id, "dim", 0)
    (issue,) = analyze(g).errors
    assert issue.message == ("Concat 'cat': dim 0 is the batch: concatenate along 1 "
                             "(channels/features)")


def test_name_problem_is_reported():
    g, n = build_chain(("Input", "x", {"kind": "vector", "shape": [4]}),
                       ("Linear", "fc", {"out_features": 2}))
    n["fc"].name = "class"  # as if it came in some other way than rename()
    (issue,) = analyze(g).errors
    assert issue.kind == "name" and issue.message == \
        "Linear 'class': name 'class' is reserved; choose another"


ABSURD_INPUTS = """
import json
from graph.model import Edge, Graph
from graph.validate import analyze
g = Graph()
x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]})
add = g.add_node("Add", name="sum")
out = g.add_node("Output", name="out")
g.connect(Edge(x.id, "out", add.id, "in1"))
g.connect(Edge(add.id, "out", out.id, "in"))
g.set_param(add.id, "inputs", 10**9)  # a typo in the inspector, or a hostile file
print(json.dumps([i.message for i in analyze(g).errors]))
"""


def _limit_memory() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))


def test_absurd_merge_input_count_is_reported_not_enumerated():
    # In a child process with a memory cap and a time limit: the bug eats all memory.
    try:
        result = subprocess.run([sys.executable, "-c", ABSURD_INPUTS], capture_output=True,
                                text=True, timeout=20,
                                preexec_fn=_limit_memory if os.name == "posix" else None,
                                cwd=str(Path(__file__).resolve().parents[2]))
    except subprocess.TimeoutExpired:
        pytest.fail("analyze() did not finish within 20 s")
    assert result.returncode == 0, result.stderr[-500:]
    messages = json.loads(result.stdout)
    assert messages[0] == "Add 'sum': inputs must be at most 8 (is 1000000000)"
    assert len(messages) <= 8  # at most a few unconnected ports besides, not a billion


# ---- exact shapes, parameters and MACs --------------------------------------------------

VEC = {"kind": "vector", "shape": [784]}


def test_linear():
    assert single("Linear", {"out_features": 128}, VEC) == (("N", 128), 100480, 100352)
    assert single("Linear", {"out_features": 10, "bias": False}, VEC) == \
        (("N", 10), 7840, 7840)
    # on a sequence it acts on the last dimension, once per time step
    assert single("Linear", {"out_features": 5}, {"kind": "sequence", "shape": [10, 20]}) \
        == (("N", 10, 5), 105, 1000)


@pytest.mark.parametrize("params,in_shape,expected", [
    # groups=2, stride 2, padding 1: H = (32 + 2 - 2 - 1) // 2 + 1 = 16; weights 8 * (4/2) * 9
    ({"out_channels": 8, "kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1],
      "groups": 2}, [4, 32, 32], (("N", 8, 16, 16), 8 * 2 * 9 + 8, 8 * 16 * 16 * 18)),
    # depthwise: groups = channels
    ({"out_channels": 6, "kernel_size": [3, 3], "groups": 6, "bias": False}, [6, 10, 10],
     (("N", 6, 8, 8), 6 * 9, 6 * 8 * 8 * 9)),
    # rectangular kernel and stride, dilation 2: H = (20 - 2*2 - 1) + 1 = 16, W = (20-2*4-1)//2+1
    ({"out_channels": 2, "kernel_size": [3, 5], "stride": [1, 2], "dilation": 2},
     [1, 20, 20], (("N", 2, 16, 6), 2 * 15 + 2, 2 * 16 * 6 * 15)),
])
def test_conv2d(params, in_shape, expected):
    assert single("Conv2d", params, {"kind": "image", "shape": in_shape}) == expected


def test_conv2d_refusals():
    with pytest.raises(ShapeError, match="groups=4 must divide both input channels \\(6\\)"):
        get_spec("Conv2d").infer(
            [TensorType((6, 8, 8))], {**get_spec("Conv2d").defaults(), "groups": 4})
    with pytest.raises(ShapeError, match="too small for kernel 9"):
        get_spec("Conv2d").infer(
            [TensorType((1, 4, 4))], {**get_spec("Conv2d").defaults(), "kernel_size": (9, 9)})
    with pytest.raises(ShapeError, match="expects \\(N, C, H, W\\) but gets \\(N, 10\\)"):
        get_spec("Conv2d").infer([TensorType((10,))], get_spec("Conv2d").defaults())


def test_conv1d():
    # L = (100 + 2 - 4 - 1) // 2 + 1 = 49
    assert single("Conv1d", {"out_channels": 4, "kernel_size": 5, "stride": 2,
                                   "padding": 1}, {"kind": "sequence", "shape": [3, 100]}) == \
        (("N", 4, 49), 4 * 3 * 5 + 4, 4 * 49 * 15)


def test_conv_transpose2d():
    img = {"kind": "image", "shape": [16, 7, 7]}
    # (7 - 1) * 2 + (2 - 1) + 1 = 14; weight (16, 8, 2, 2)
    assert single("ConvTranspose2d", {"out_channels": 8}, img) == \
        (("N", 8, 14, 14), 16 * 8 * 4 + 8, 16 * 49 * 8 * 4)
    # (7 - 1) * 2 - 2 + (3 - 1) + 1 + 1 = 14 (PyTorch's formula with output_padding)
    assert single("ConvTranspose2d", {"out_channels": 4, "kernel_size": [3, 3],
                                            "padding": [1, 1], "output_padding": [1, 1],
                                            "bias": False}, img) == \
        (("N", 4, 14, 14), 16 * 4 * 9, 16 * 49 * 4 * 9)
    with pytest.raises(ShapeError, match="output_padding \\(2\\) must be smaller than stride"):
        spec = get_spec("ConvTranspose2d")
        spec.infer([TensorType((16, 7, 7))], {**spec.defaults(), "output_padding": (2, 2)})


def test_pools():
    img = {"kind": "image", "shape": [6, 28, 28]}
    assert single("MaxPool2d", {}, img) == (("N", 6, 14, 14), 0, 6 * 14 * 14 * 4)
    # (7 + 2 - 3) // 2 + 1 = 4
    assert single("AvgPool2d", {"kernel_size": [3, 3], "stride": [2, 2],
                                      "padding": [1, 1]}, {"kind": "image", "shape": [1, 7, 7]}) \
        == (("N", 1, 4, 4), 0, 16 * 9)
    # stride 0 means "the window": (10 - 3) // 3 + 1 = 3
    assert single("MaxPool1d", {"kernel_size": 3}, {"kind": "sequence",
                                                           "shape": [4, 10]}) == \
        (("N", 4, 3), 0, 4 * 3 * 3)
    assert single("AdaptiveAvgPool2d", {}, {"kind": "image", "shape": [64, 4, 4]}) == \
        (("N", 64, 1, 1), 0, 64 * 16)
    assert single("Upsample", {"scale_factor": 3}, {"kind": "image", "shape": [2, 5, 4]}) \
        == (("N", 2, 15, 12), 0, 0)
    spec = get_spec("MaxPool2d")
    with pytest.raises(ShapeError, match="padding \\(2\\) must be at most half the kernel"):
        spec.infer([TensorType((1, 8, 8))], {**spec.defaults(), "padding": (2, 2)})


def lstm_params_pytorch(f: int, h: int, layers: int, bidirectional: bool) -> int:
    """PyTorch's LSTM: per layer and direction 4*(H*(F_in+H) + 2H), F_in = D*H above layer 0."""
    dirs = 2 if bidirectional else 1
    return sum(dirs * 4 * (h * ((f if layer == 0 else dirs * h) + h) + 2 * h)
               for layer in range(layers))


def test_mlp_784_128_10_count_matches_the_literature():
    """The 784-128-10 MLP has 101,770 parameters (the figure every tutorial prints)."""
    g, n = build_chain(("Input", "x", VEC), ("Linear", "fc1", {"out_features": 128}),
                       ("ReLU", "relu"), ("Linear", "fc2", {"out_features": 10}))
    assert analyze(g).total_params == 101770


def test_lstm_bidirectional_two_layers():
    seq = {"kind": "sequence", "shape": [20, 10]}
    shape, params, macs = single("LSTM", {"hidden_size": 32, "num_layers": 2,
                                                "bidirectional": True, "output": "sequence"}, seq)
    assert shape == ("N", 20, 64)
    assert params == lstm_params_pytorch(10, 32, 2, True) == 2 * (5632 + 12544) == 36352
    assert macs == 2 * 20 * 4 * 32 * (10 + 32) + 2 * 20 * 4 * 32 * (64 + 32)
    shape, params_last, _ = single("LSTM", {"hidden_size": 32, "num_layers": 2,
                                                  "bidirectional": True}, seq)
    assert shape == ("N", 64) and params_last == params
    assert single("LSTM", {"hidden_size": 7}, seq)[1] == lstm_params_pytorch(10, 7, 1,
                                                                                   False)
    # without biases: 4*H*(F+H) per layer and direction
    assert single("LSTM", {"hidden_size": 8, "bias": False}, seq)[1] == 4 * 8 * 18


def test_gru_and_rnn_params():
    seq = {"kind": "sequence", "shape": [5, 8]}
    assert single("GRU", {"hidden_size": 16}, seq)[:2] == (("N", 16), 3 * (16 * 24 + 32))
    assert single("RNN", {"hidden_size": 16, "bidirectional": True}, seq)[:2] == \
        (("N", 32), 2 * (16 * 24 + 32))
    with pytest.raises(ShapeError, match="expects \\(N, T, F\\)"):
        get_spec("GRU").infer([TensorType((5,))], get_spec("GRU").defaults())


def test_embedding():
    out = single("Embedding", {"num_embeddings": 96, "embedding_dim": 64},
                 {"kind": "tokens", "shape": [64]})
    assert out == (("N", 64, 64), 96 * 64, 0)
    t = get_spec("Embedding").infer([TensorType((64,), "long")],
                                    get_spec("Embedding").defaults())
    assert t == [TensorType((64, 64), "float")]


def test_transformer_encoder_layer():
    seq = {"kind": "sequence", "shape": [10, 32]}
    shape, params, macs = single("TransformerEncoderLayer",
                                 {"nhead": 4, "dim_feedforward": 64}, seq)
    assert shape == ("N", 10, 32)
    # in_proj 3*32*32+96, out_proj 32*32+32, linear1 32*64+64, linear2 64*32+32, 2 LayerNorms
    assert params == 3168 + 1056 + 2112 + 2080 + 128 == 8544
    assert macs == 10 * (4 * 32 * 32 + 2 * 32 * 64) + 2 * 10 * 10 * 32
    g, n = build_chain(("Input", "x", seq), ("TransformerEncoderLayer", "enc", {"nhead": 5}))
    (issue,) = analyze(g).errors
    assert issue.message == ("TransformerEncoderLayer 'enc': the model width 32 must be "
                             "divisible by nhead (5)")


def test_concat_shapes():
    spec = get_spec("Concat")
    a, b = TensorType((8, 4, 4)), TensorType((16, 4, 4))
    assert spec.infer([a, b], spec.defaults()) == [TensorType((24, 4, 4))]
    c, d = TensorType((3, 5)), TensorType((3, 7))
    assert spec.infer([c, d], {**spec.defaults(), "dim": -1}) == [TensorType((3, 12))]
    assert spec.infer([a, b, a], {**spec.defaults(), "inputs": 3}) == [TensorType((32, 4, 4))]
    with pytest.raises(ShapeError):
        spec.infer([c, d], spec.defaults())  # along dim 1 the last dims (5, 7) must agree


def test_flatten_reshape_permute():
    x = {"kind": "image", "shape": [16, 5, 5]}
    assert single("Flatten", {}, x)[0] == ("N", 400)
    assert single("Flatten", {"start_dim": 2}, x)[0] == ("N", 16, 25)
    assert single("Flatten", {"start_dim": 1, "end_dim": 2}, x)[0] == ("N", 80, 5)
    assert single("Reshape", {"shape": [-1, 4]}, x)[0] == ("N", 100, 4)
    assert single("Reshape", {"shape": [4, -1, 5]}, x)[0] == ("N", 4, 20, 5)
    assert single("Reshape", {"shape": [400]}, x)[0] == ("N", 400)
    assert single("Permute", {"dims": [0, 2, 1]}, {"kind": "sequence",
                                                         "shape": [10, 3]})[0] == ("N", 3, 10)
    assert single("Permute", {"dims": [0, 3, 1, 2]}, x)[0] == ("N", 5, 16, 5)

    def problem(type_name, params):
        g, n = build_chain(("Input", "x", x), (type_name, "layer", params))
        (issue,) = analyze(g).errors
        return issue.message

    assert problem("Reshape", {"shape": [-1, 3]}) == (
        "Reshape 'layer': cannot reshape (N, 16, 5, 5) (400 values per sample) into (-1, 3): "
        "400 is not divisible by 3")
    assert problem("Reshape", {"shape": [10, 10]}) == (
        "Reshape 'layer': cannot reshape (N, 16, 5, 5) (400 values per sample) into (10, 10) "
        "(100 values)")
    assert problem("Reshape", {"shape": [-1, -1]}) == \
        "Reshape 'layer': at most one dimension of the new shape may be -1"
    assert problem("Flatten", {"start_dim": 0}) == \
        "Flatten 'layer': start_dim 0 would merge the batch into the features: use 1"
    assert problem("Flatten", {"start_dim": 5}) == \
        "Flatten 'layer': start_dim 5 is out of range for a tensor of rank 4"
    assert problem("Permute", {"dims": [1, 0, 2, 3]}) == \
        "Permute 'layer': the batch dimension must stay first: dims must start with 0"
    assert problem("Permute", {"dims": [0, 1, 2]}) == \
        "Permute 'layer': dims (0, 1, 2) must be an ordering of 0..3 for (N, 16, 5, 5)"


def test_norm_and_softmax():
    img = {"kind": "image", "shape": [8, 4, 4]}
    assert single("BatchNorm2d", {}, img) == (("N", 8, 4, 4), 16, 128)
    assert single("LayerNorm", {"dims": 2}, img) == (("N", 8, 4, 4), 32, 128)
    assert single("BatchNorm1d", {}, {"kind": "vector", "shape": [12]})[:2] == \
        (("N", 12), 24)
    assert single("Softmax", {}, {"kind": "vector", "shape": [12]})[:2] == (("N", 12), 0)
    g, n = build_chain(("Input", "x", img), ("Softmax", "sm", {"dim": 0}))
    (issue,) = analyze(g).errors
    assert "dim 0 is the batch" in issue.message


def test_every_catalogue_type_is_reachable_and_shapes_helpers():
    groups = by_category()
    assert groups[0][0] == "Input/Output"
    assert sum(len(specs) for _, specs in groups) == len(CATALOGUE)
    assert format_shape(("N",)) == "(N,)" and format_shape(("N", 3)) == "(N, 3)"
    assert normalize_dim(-1, 4, "dim") == 3
    assert str(TensorType((16, 5, 5))) == "(N, 16, 5, 5)" and TensorType((2, 3)).numel == 6


# ---- templates --------------------------------------------------------------------------

def rnn_params_pytorch(gates: int, f: int, h: int, layers: int, bidirectional: bool,
                       bias: bool) -> int:
    """PyTorch's RNN/GRU/LSTM parameter count (gates 1/3/4)."""
    dirs = 2 if bidirectional else 1
    return sum(dirs * gates * (h * ((f if layer == 0 else dirs * h) + h) + (2 * h if bias else 0))
               for layer in range(layers))


def independent_params(node, ins: list[TensorType]) -> int | None:
    """Parameter counts written out again from PyTorch's definitions (None: not covered)."""
    p = node.params
    if node.type == "Linear":
        return ins[0].dims[-1] * p["out_features"] + (p["out_features"] if p["bias"] else 0)
    if node.type in ("Conv1d", "Conv2d"):
        k = p["kernel_size"] if isinstance(p["kernel_size"], tuple) else (p["kernel_size"],)
        weights = p["out_channels"] * ins[0].dims[0] // p["groups"]
        for size in k:
            weights *= size
        return weights + (p["out_channels"] if p["bias"] else 0)
    if node.type in ("BatchNorm1d", "BatchNorm2d"):
        return 2 * ins[0].dims[0]
    if node.type == "Embedding":
        return p["num_embeddings"] * p["embedding_dim"]
    if node.type in ("RNN", "GRU", "LSTM"):
        return rnn_params_pytorch({"RNN": 1, "GRU": 3, "LSTM": 4}[node.type], ins[0].dims[-1],
                                  p["hidden_size"], p["num_layers"], p["bidirectional"],
                                  p["bias"])
    if node.spec.category in ("Input/Output", "Activation", "Pooling", "Merge", "Reshape",
                              "Regularization", "Utility"):
        return 0
    return None


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_templates_are_valid_and_have_parameters(key):
    project = build_template(key)
    a = analyze(project.graph)
    assert a.issues == [], a.summary()
    assert a.total_params > 0 and a.total_macs > 0
    assert len(a.order) == len(project.graph)
    checked = 0
    for node in project.graph.nodes:
        info = a.info[node.id]
        expected = independent_params(node, list(info.inputs.values()))
        if expected is not None:
            assert info.params == expected, node.label()
            checked += expected
    assert checked > 0
    outputs = [n for n in project.graph.nodes if n.type == "Output"]
    assert outputs and all(a.info[o.id].inputs for o in outputs)


def test_unknown_template_lists_choices():
    with pytest.raises(KeyError, match="choose one of hello-mlp"):
        build_template("nope")


def test_huge_int_parameter_is_reported_not_a_crash():
    g, n = build_chain(("Input", "x", {"kind": "vector", "shape": [4]}),
                       ("Linear", "fc", {"out_features": 2}))
    g.set_param(n["fc"].id, "out_features", 10 ** 400)  # a file may hold it (JSON ints)
    (issue,) = analyze(g).errors
    assert issue.kind == "param" and "out_features must be at most 1000000" in issue.message
