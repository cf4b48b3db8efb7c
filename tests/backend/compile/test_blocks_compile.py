"""A block instance compiles to a nested submodule that computes exactly what its layers did
before they were grouped; the Code view prints one class per block type; exports carry it."""
from __future__ import annotations

import io

import torch

from backend.compile.codegen import generate_code
from backend.compile.compiler import compile_graph
from graph.blocks import AddBlock, GroupIntoBlock
from graph.model import Edge, Graph
from graph.templates import build_template
from graph.validate import analyze

BLOCK1 = ["block1_conv1", "block1_bn1", "block1_relu", "block1_conv2", "block1_bn2",
          "block1_add", "block1_out"]


def grouped_residual():
    graph = build_template("residual-cnn").graph
    flat = compile_graph(graph).eval()
    GroupIntoBlock(graph, [graph.find(n).id for n in BLOCK1], "Residual").do()
    return graph, flat


def test_a_block_computes_what_its_layers_did_with_nested_state_dict_keys():
    graph, flat = grouped_residual()
    model = compile_graph(graph).eval()
    keys = list(model.state_dict())
    assert "residual1.block1_conv1.weight" in keys and "block1_conv1.weight" not in keys
    renamed = {k.replace("residual1.", ""): v for k, v in model.state_dict().items()}
    assert set(renamed) == set(flat.state_dict())
    flat.load_state_dict(renamed)
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), flat(x))
    assert type(model.residual1).__name__ == "Residual"


def test_each_instance_has_its_own_weights():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": (4,)})
    fc = g.add_node("Linear", name="fc", params={"out_features": 4})
    act = g.add_node("Tanh", name="act")
    out = g.add_node("Output", name="y")
    for s, t in ((x, fc), (fc, act), (act, out)):
        g.connect(Edge(s.id, "out", t.id, "in"))
    group = GroupIntoBlock(g, [fc.id, act.id], "Dense")
    group.do()
    second = AddBlock(g, g.blocks["Dense"], (0, 300))
    second.do()
    first = g.node(group.block_node_id)
    g.disconnect(Edge(first.id, "out", out.id, "in"))
    g.connect(Edge(first.id, "out", second.node_id, "x"))
    g.connect(Edge(second.node_id, "out", out.id, "in"))
    model = compile_graph(g)
    a, b = model.dense1.fc.weight, model.dense2.fc.weight
    assert a.data_ptr() != b.data_ptr() and not torch.equal(a, b)


def test_generated_code_has_one_class_per_block_and_runs_alone():
    graph, _ = grouped_residual()
    model = compile_graph(graph).eval()
    source = generate_code(graph, analyze(graph), "grouped")
    assert source.count("class Residual(nn.Module):") == 1
    assert "self.residual1 = Residual()" in source
    namespace: dict = {}
    exec(compile(source, "<grouped>", "exec"), namespace)  # noqa: S102
    rebuilt = namespace["Network"]().eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


def test_a_block_used_on_different_sizes_gets_a_class_per_variant():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "image", "shape": (3, 8, 8)})
    conv = g.add_node("Conv2d", name="conv", params={"out_channels": 6, "padding": (1, 1)})
    out = g.add_node("Output", name="y")
    g.connect(Edge(x.id, "out", conv.id, "in"))
    g.connect(Edge(conv.id, "out", out.id, "in"))
    group = GroupIntoBlock(g, [conv.id], "Conv")
    group.do()
    second = AddBlock(g, g.blocks["Conv"], (0, 300))  # fed 6 channels, not 3
    second.do()
    g.disconnect(Edge(group.block_node_id, "out", out.id, "in"))
    g.connect(Edge(group.block_node_id, "out", second.node_id, "x"))
    g.connect(Edge(second.node_id, "out", out.id, "in"))
    source = generate_code(g, analyze(g))
    assert "class Conv(nn.Module):" in source and "class Conv_2(nn.Module):" in source
    namespace: dict = {}
    exec(compile(source, "<variants>", "exec"), namespace)  # noqa: S102
    model = compile_graph(g).eval()
    rebuilt = namespace["Network"]().eval()
    rebuilt.load_state_dict(model.state_dict())
    xs = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(xs), model(xs))


def test_torchscript_and_onnx_carry_a_block(tmp_path):
    import onnxruntime as ort

    graph, _ = grouped_residual()
    model = compile_graph(graph).eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        want = model(x)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.trace(model, (x,)), buffer)
        buffer.seek(0)
        torch.testing.assert_close(torch.jit.load(buffer)(x), want)
        path = tmp_path / "block.onnx"
        torch.onnx.export(model, (x,), str(path), input_names=["image"], dynamo=False,
                          opset_version=18)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=1e-4)


def test_every_built_in_block_compiles_and_its_code_runs():
    from graph.block_library import built_in_blocks

    for definition in built_in_blocks():
        g = Graph()
        (inner_input,) = definition.input_nodes()
        x = g.add_node("Input", name="x", params=dict(inner_input.params))
        add = AddBlock(g, definition, (0, 200))
        add.do()
        out = g.add_node("Output", name="y")
        g.connect(Edge(x.id, "out", add.node_id, "x"))
        g.connect(Edge(add.node_id, "out", out.id, "in"))
        analysis = analyze(g)
        assert analysis.is_valid, (definition.name, analysis.summary())
        model = compile_graph(g, analysis).eval()
        namespace: dict = {}
        exec(compile(generate_code(g, analysis), definition.name, "exec"), namespace)  # noqa: S102
        rebuilt = namespace["Network"]().eval()
        rebuilt.load_state_dict(model.state_dict())
        xs = torch.randn(2, *inner_input.params["shape"])
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(xs), model(xs), msg=definition.name)
