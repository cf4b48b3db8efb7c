"""Every layer type, out of the palette (default parameters on an input it accepts), survives
what a user does with a trained network: the Code view's Python runs without LayerForge and
computes the same values with the same state_dict, and TorchScript and ONNX reproduce it.

New layer types are picked up automatically (the catalogue cross-check's layer list).
"""
from __future__ import annotations

import io

import pytest
import torch

from backend.compile.codegen import generate_code
from backend.compile.compiler import compile_graph
from graph.shapes import TensorType
from graph.validate import analyze
from tests.backend.compile.test_catalogue_vs_torch import (
    CATALOGUE, KINDS, LAYER_TYPES, PREFERRED, PROBE, build_graph, make_tensors, default_inputs)

# Layers an exporter cannot carry, each with the reason (a user sees the exporter's message).
NOT_SCRIPTABLE: dict[str, str] = {}
NOT_ONNX: dict[str, str] = {}


def default_case(type_name: str):
    spec = CATALOGUE[type_name]
    params = spec.defaults()
    ins = default_inputs(type_name)
    graph, layer = build_graph(spec, params, ins)
    analysis = analyze(graph)
    assert analysis.is_valid, analysis.summary()
    torch.manual_seed(0)
    model = compile_graph(graph, analysis).eval()
    xs = make_tensors(ins, layer.params)
    return graph, analysis, model, xs


def as_tuple(out) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_generated_code_runs_alone_and_matches(type_name):
    graph, analysis, model, xs = default_case(type_name)
    source = generate_code(graph, analysis, title=type_name)
    namespace: dict = {"__name__": "generated"}
    exec(compile(source, f"<code of {type_name}>", "exec"), namespace)  # noqa: S102
    rebuilt = namespace["Network"]()
    rebuilt.load_state_dict(model.state_dict())  # same keys, same shapes
    rebuilt.eval()
    with torch.no_grad():
        for got, want in zip(as_tuple(rebuilt(*xs)), as_tuple(model(*xs)), strict=True):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("type_name", [t for t in LAYER_TYPES if t not in NOT_SCRIPTABLE])
def test_torchscript_reproduces_the_layer(type_name):
    _, _, model, xs = default_case(type_name)
    with torch.no_grad():
        traced = torch.jit.trace(model, tuple(xs), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        for got, want in zip(as_tuple(loaded(*xs)), as_tuple(model(*xs)), strict=True):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("type_name", [t for t in LAYER_TYPES if t not in NOT_ONNX])
def test_onnx_reproduces_the_layer(type_name, tmp_path):
    import onnxruntime as ort

    _, _, model, xs = default_case(type_name)
    path = tmp_path / "layer.onnx"
    names = [f"x{i}" for i in range(len(xs))]
    with torch.no_grad():
        # The app tries the dynamo exporter first and falls back to the older one; here the
        # older one goes first because it is ~10x faster, and dynamo covers what it cannot
        # (TransformerEncoderLayer's fused inference kernel).
        try:
            torch.onnx.export(model, tuple(xs), str(path), input_names=names, dynamo=False,
                              opset_version=18)
        except Exception:  # noqa: BLE001 - the app's other exporter
            torch.onnx.export(model, tuple(xs), str(path), input_names=names, dynamo=True,
                              opset_version=18, verbose=False)
        want = as_tuple(model(*xs))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # an input only the shapes are read from (CropToReference's reference) is a constant
    # to the exporter, which drops it: feed the inputs the exported model has
    feeds = {n: x.numpy() for n, x in zip(names, xs)}
    got = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(torch.from_numpy(g), w, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_pt2_reproduces_the_layer(type_name, tmp_path):
    """torch.export with a dynamic batch (as the pt2 export does), saved and loaded."""
    _, _, model, xs = default_case(type_name)
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.export.export(model, tuple(xs),
                                      dynamic_shapes=[{0: batch} for _ in xs])
        path = tmp_path / "layer.pt2"
        torch.export.save(program, str(path))
        loaded = torch.export.load(str(path)).module()
        for got, want in zip(as_tuple(loaded(*xs)), as_tuple(model(*xs)), strict=True):
            torch.testing.assert_close(got, want)
