"""MaxUnpool2d, fed as in a SegNet decoder by a MaxPool2d with return_indices: shapes as the
rule says, values as torch's max_unpool2d, and the Code view's Python, TorchScript and ONNX
reproduce it."""
from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from backend.compile.codegen import generate_code
from backend.compile.compiler import compile_graph
from graph.model import Edge, Graph
from graph.validate import analyze


def segnet_pair(size: int, kernel: int, stride: int, output_size=(0, 0)) -> Graph:
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "image", "shape": (3, size, size)})
    pool = g.add_node("MaxPool2d", name="pool", params={
        "kernel_size": (kernel, kernel), "stride": (stride, stride), "return_indices": True})
    unpool = g.add_node("MaxUnpool2d", name="unpool", params={
        "kernel_size": (kernel, kernel), "stride": (stride, stride),
        "output_size": output_size})
    out = g.add_node("Output", name="y")
    g.connect(Edge(x.id, "out", pool.id, "in"))
    g.connect(Edge(pool.id, "out", unpool.id, "in"))
    g.connect(Edge(pool.id, "indices", unpool.id, "indices"))
    g.connect(Edge(unpool.id, "out", out.id, "in"))
    return g


@pytest.mark.parametrize("size,kernel,stride,output_size", [
    (8, 2, 2, (0, 0)), (9, 3, 3, (0, 0)), (7, 2, 2, (7, 7)), (10, 3, 2, (10, 10))])
def test_unpool_puts_the_maxima_back(size, kernel, stride, output_size):
    g = segnet_pair(size, kernel, stride, output_size)
    analysis = analyze(g)
    assert analysis.is_valid, analysis.summary()
    pool = g.find("pool")
    assert analysis.info[pool.id].outputs["indices"].dtype == "long"
    model = compile_graph(g, analysis).eval()
    x = torch.randn(2, 3, size, size)
    values, indices = F.max_pool2d(x, kernel, stride, return_indices=True)
    want = F.max_unpool2d(values, indices, kernel, stride,
                          output_size=output_size if output_size != (0, 0) else None)
    got = model(x)
    assert tuple(got.shape) == (2, *analysis.info[g.find("unpool").id].outputs["out"].dims)
    torch.testing.assert_close(got, want)


def test_unpool_survives_code_torchscript_and_onnx(tmp_path):
    import onnxruntime as ort

    g = segnet_pair(8, 2, 2)
    model = compile_graph(g).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        want = model(x)
        namespace: dict = {}
        exec(compile(generate_code(g, analyze(g)), "<unpool>", "exec"), namespace)  # noqa: S102
        rebuilt = namespace["Network"]().eval()
        rebuilt.load_state_dict(model.state_dict())
        torch.testing.assert_close(rebuilt(x), want)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.trace(model, (x,)), buffer)
        buffer.seek(0)
        torch.testing.assert_close(torch.jit.load(buffer)(x), want)
        path = tmp_path / "unpool.onnx"
        torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False,
                          opset_version=18)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want)
