"""ONNX files LayerForge did not write: torch's legacy exporter at old opsets with a fixed
batch, the dynamo exporter, weights computed by constant subgraphs, initializers listed as
inputs, external data, and one small file per ONNX op that has a catalogue layer."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from backend.errors import ImportModelError
from backend.imports.onnx_file import import_onnx

TOLERANCE = 1e-5


class SmallCNN(nn.Module):
    """conv, batch norm, a ceil_mode pool, a grouped conv, ReLU6, an average pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(8, 8, 3, groups=2)
        self.avg = nn.AvgPool2d(2, ceil_mode=True)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = self.pool(F.relu(self.bn(self.conv1(x))))
        x = self.avg(F.relu6(self.conv2(x)))
        return self.fc(x.view(x.size(0), -1))


class Plumbing(nn.Module):
    """Pad, Resize (not at opset 7: the legacy exporter cannot write it), Split, Slice,
    Concat, Transpose."""

    def __init__(self, resize: bool = True) -> None:
        super().__init__()
        self.resize = resize
        self.conv = nn.Conv2d(4, 6, 1)

    def forward(self, x):
        x = F.pad(x, (1, 1, 2, 2))
        if self.resize:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        a, b = torch.split(x, [1, 3], dim=1)
        y = torch.cat([b, a], 1)[:, :, 1:-1, :]
        return self.conv(y).transpose(1, 2)


def _randomize(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def _legacy_export(model, shape, path, opset) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(shape),), str(path), dynamo=False,
                          opset_version=opset)


def _types(result) -> list[str]:
    return [n.type for n in result.project.graph.nodes]


@pytest.mark.parametrize("opset", [7, 9, 11])
def test_legacy_exporter_cnn_with_a_fixed_batch_imports_and_matches(opset, tmp_path):
    path = tmp_path / f"cnn{opset}.onnx"
    _legacy_export(_randomize(SmallCNN()), (1, 3, 16, 16), path, opset)
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    result = import_onnx(path)  # compared with onnxruntime on a batch of 2
    assert result.max_abs_diff <= TOLERANCE
    types = _types(result)
    assert "Opaque" not in types
    assert {"Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "ReLU6"} <= set(types)
    assert any("fixes the batch size at 1" in note for note in result.notes)
    pool = next(n for n in result.project.graph.nodes if n.type == "MaxPool2d")
    assert pool.params["ceil_mode"] is True
    if opset == 7:  # initializers listed as inputs (IR 3): weights, not Input nodes
        assert len(onnx.load(str(path)).graph.input) > 1
        assert "BatchNorm2d" in types
    assert types.count("Input") == 1


@pytest.mark.parametrize("opset", [7, 9, 11])
def test_legacy_exporter_plumbing_ops_map_to_layers(opset, tmp_path):
    path = tmp_path / f"plumbing{opset}.onnx"
    _legacy_export(Plumbing(resize=opset > 7).eval(), (1, 4, 6, 6), path, opset)
    result = import_onnx(path)
    assert result.max_abs_diff <= TOLERANCE
    types = _types(result)
    assert "Opaque" not in types
    assert {"Pad", "Split", "Concat", "Slice", "Conv2d", "Transpose"} <= set(types)
    assert (opset > 7) == ("Upsample" in types)


def test_dynamo_exporter_files_import_and_match(tmp_path):
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(_randomize(SmallCNN()), (torch.randn(2, 3, 16, 16),), str(path),
                          dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},))
    result = import_onnx(path)
    assert result.max_abs_diff <= TOLERANCE and "Opaque" not in _types(result)
    assert not any("batch size" in note for note in result.notes)


# ---- files built with onnx.helper ------------------------------------------------------------

def _tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes, inputs, outputs=("y",), inits=(), opset=18, ir_version=None):
    """inputs: (name, per-sample shape[, elem type]); the batch axis is N. Outputs are names
    (their types inferred) or (name, per-sample shape)."""
    values = [helper.make_tensor_value_info(name, spec[0] if spec else TensorProto.FLOAT,
                                            ["N", *shape])
              for name, shape, *spec in inputs]
    declared = [helper.make_tensor_value_info(o[0], TensorProto.FLOAT, ["N", *o[1]])
                if isinstance(o, tuple) else onnx.ValueInfoProto(name=o) for o in outputs]
    graph = helper.make_graph(nodes, "g", values, declared, list(inits))
    kwargs = {"ir_version": ir_version} if ir_version else {}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)
    return onnx.shape_inference.infer_shapes(model)  # declares the outputs' types


def _save(model, tmp_path, name="model.onnx", **kwargs):
    path = tmp_path / name
    onnx.save(model, str(path), **kwargs)
    return path


def test_weights_made_by_constant_of_shape_chains_are_folded(tmp_path):
    """A MatMul whose weight is ConstantOfShape(6x4) times a stored scale, reshaped to 4x6,
    plus a bias that is an Identity of a Constant: folded before mapping, one Linear."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=_tensor("s", np.array([6, 4]))),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                         value=_tensor("v", np.array([1.0], np.float32))),
        helper.make_node("Mul", ["ones", "scale"], ["w46"]),
        helper.make_node("Constant", [], ["flat"], value=_tensor("f", np.array([4, 6]))),
        helper.make_node("Reshape", ["w46", "flat"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Constant", [], ["b0"],
                         value=_tensor("b", np.arange(6, dtype=np.float32))),
        helper.make_node("Identity", ["b0"], ["b"]),
        helper.make_node("Add", ["h", "b"], ["y"]),
    ]
    scale = _tensor("scale", np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4))
    path = _save(_model(nodes, [("x", [4])], [("y", [6])], inits=[scale]), tmp_path)
    result = import_onnx(path)
    assert _types(result) == ["Input", "Linear", "Output"]
    assert result.max_abs_diff <= TOLERANCE
    (linear,) = [n.name for n in result.project.graph.nodes if n.type == "Linear"]
    assert torch.allclose(result.state_dict[f"{linear}.bias"], torch.arange(6.0))


def test_initializers_listed_as_inputs_are_weights(tmp_path):
    rng = np.random.default_rng(0)
    w = _tensor("w", rng.normal(size=(5, 4)).astype(np.float32))
    b = _tensor("b", rng.normal(size=(5,)).astype(np.float32))
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [("x", [4])],
                   [("y", [5])], inits=[w, b], opset=8, ir_version=3)
    model.graph.input.extend([helper.make_tensor_value_info("w", TensorProto.FLOAT, [5, 4]),
                              helper.make_tensor_value_info("b", TensorProto.FLOAT, [5])])
    result = import_onnx(_save(model, tmp_path))
    assert _types(result) == ["Input", "Linear", "Output"]
    assert result.max_abs_diff <= TOLERANCE


def test_external_data_next_to_the_model_loads(tmp_path):
    rng = np.random.default_rng(1)
    inits = [_tensor("w", rng.normal(size=(3, 2, 3, 3)).astype(np.float32)),
             _tensor("b", rng.normal(size=(3,)).astype(np.float32))]
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
                   [("x", [2, 5, 5])], inits=inits)
    path = _save(model, tmp_path, "ext.onnx", save_as_external_data=True,
                 all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").is_file()
    result = import_onnx(path)
    assert _types(result) == ["Input", "Conv2d", "Output"] and result.max_abs_diff <= TOLERANCE
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(ImportModelError, match=r"ext\.onnx.*separate file.*next to the"):
        import_onnx(path)


# ---- one file per op: each op with a catalogue layer maps to it --------------------------------

R = np.random.default_rng(2)


def _w(*shape):
    return R.normal(size=shape).astype(np.float32)


def _n(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["y"], **attrs)


# (id, nodes, inputs, initializers, opset, the layer it must become)
X4 = [("x", [4, 6, 6])]
CASES = [
    ("conv1d", [_n("Conv", ["x", "w"], pads=[1, 1])], [("x", [3, 10])],
     {"w": _w(4, 3, 3)}, 18, "Conv1d"),
    ("conv-groups", [_n("Conv", ["x", "w", "b"], group=2, strides=[2, 2])], X4,
     {"w": _w(6, 2, 3, 3), "b": _w(6)}, 18, "Conv2d"),
    ("conv-same", [_n("Conv", ["x", "w"], auto_pad="SAME_UPPER")], X4,
     {"w": _w(5, 4, 3, 3)}, 18, "Conv2d"),
    ("conv3d", [helper.make_node("Reshape", ["x", "s"], ["v"]), _n("Conv", ["v", "w"])],
     [("x", [8, 5, 5])], {"s": np.array([0, 2, 4, 5, 5]), "w": _w(3, 2, 2, 3, 3)}, 18,
     "Conv3d"),
    ("convtranspose", [_n("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 1, 1, 1],
                          output_padding=[1, 1])], X4, {"w": _w(4, 3, 3, 3), "b": _w(3)}, 18,
     "ConvTranspose2d"),
    ("convtranspose1d", [_n("ConvTranspose", ["x", "w"], strides=[2])], [("x", [3, 7])],
     {"w": _w(3, 2, 2)}, 18, "ConvTranspose1d"),
    ("maxpool-ceil", [_n("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
     X4, {}, 18, "MaxPool2d"),
    ("maxpool-pads", [_n("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], X4, {}, 18,
     "MaxPool2d"),
    ("avgpool-pads", [_n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], count_include_pad=1)], X4, {}, 18, "AvgPool2d"),
    ("avgpool-ceil", [_n("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1)], [("x", [2, 5, 5])], {}, 18, "AvgPool2d"),
    ("maxpool1d", [_n("MaxPool", ["x"], kernel_shape=[2])], [("x", [3, 8])], {}, 18,
     "MaxPool1d"),
    ("globalavg", [_n("GlobalAveragePool", ["x"])], X4, {}, 18, "AdaptiveAvgPool2d"),
    ("globalmax", [_n("GlobalMaxPool", ["x"])], X4, {}, 18, "AdaptiveMaxPool2d"),
    ("batchnorm1d", [_n("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3)],
     [("x", [4])], {"s": _w(4), "b": _w(4), "m": _w(4), "v": np.abs(_w(4)) + 0.5}, 18,
     "BatchNorm1d"),
    ("instancenorm", [_n("InstanceNormalization", ["x", "s", "b"])], X4,
     {"s": _w(4), "b": _w(4)}, 18, "InstanceNorm2d"),
    ("layernorm", [_n("LayerNormalization", ["x", "s", "b"], axis=-1)], [("x", [3, 5])],
     {"s": _w(5), "b": _w(5)}, 18, "LayerNorm"),
    ("lrn", [_n("LRN", ["x"], size=3, alpha=1e-3, beta=0.7, bias=2.0)], X4, {}, 18,
     "LocalResponseNorm"),
    ("gemm", [_n("Gemm", ["x", "w", "b"], alpha=0.5, beta=2.0)], [("x", [4])],
     {"w": _w(4, 3), "b": _w(3)}, 18, "Linear"),
    ("matmul-add", [helper.make_node("MatMul", ["x", "w"], ["h"]), _n("Add", ["h", "b"])],
     [("x", [5, 4])], {"w": _w(4, 3), "b": _w(3)}, 18, "Linear"),
    ("matmul-two", [_n("MatMul", ["x", "z"])], [("x", [3, 4]), ("z", [4, 5])], {}, 18,
     "MatMul"),
    ("relu6", [_n("Clip", ["x", "lo", "hi"])], X4,
     {"lo": np.float32(0), "hi": np.float32(6)}, 18, "ReLU6"),
    ("hardtanh", [_n("Clip", ["x", "lo", "hi"])], X4,
     {"lo": np.float32(-1), "hi": np.float32(2)}, 18, "Hardtanh"),
    ("clip-attrs", [_n("Clip", ["x"], min=0.0, max=6.0)], X4, {}, 6, "ReLU6"),
    ("hardswish", [_n("HardSwish", ["x"])], X4, {}, 18, "Hardswish"),
    ("hardsigmoid", [_n("HardSigmoid", ["x"], alpha=1 / 6)], X4, {}, 18, "Hardsigmoid"),
    ("elu", [_n("Elu", ["x"], alpha=0.5)], X4, {}, 18, "ELU"),
    ("selu", [_n("Selu", ["x"])], X4, {}, 18, "SELU"),
    ("celu", [_n("Celu", ["x"], alpha=2.0)], X4, {}, 18, "CELU"),
    ("softplus", [_n("Softplus", ["x"])], X4, {}, 18, "Softplus"),
    ("mish", [_n("Mish", ["x"])], X4, {}, 18, "Mish"),
    ("softsign", [_n("Softsign", ["x"])], X4, {}, 18, "Softsign"),
    ("prelu", [_n("PRelu", ["x", "s"])], X4, {"s": _w(4, 1, 1)}, 18, "PReLU"),
    ("leakyrelu", [_n("LeakyRelu", ["x"], alpha=0.2)], X4, {}, 18, "LeakyReLU"),
    ("sigmoid", [_n("Sigmoid", ["x"])], X4, {}, 18, "Sigmoid"),
    ("tanh", [_n("Tanh", ["x"])], X4, {}, 18, "Tanh"),
    ("gelu", [_n("Gelu", ["x"], approximate="tanh")], X4, {}, 20, "GELU"),
    ("concat", [_n("Concat", ["x", "z"], axis=1)], [("x", [2, 3]), ("z", [4, 3])], {}, 18,
     "Concat"),
    ("flatten", [_n("Flatten", ["x"])], X4, {}, 18, "Flatten"),
    ("reshape", [_n("Reshape", ["x", "s"])], X4, {"s": np.array([0, 24, 6])}, 18, "Reshape"),
    ("permute", [_n("Transpose", ["x"], perm=[0, 2, 3, 1])], X4, {}, 18, "Permute"),
    ("transpose", [_n("Transpose", ["x"], perm=[0, 1, 3, 2])], X4, {}, 18, "Transpose"),
    ("softmax", [_n("Softmax", ["x"], axis=1)], X4, {}, 18, "Softmax"),
    ("logsoftmax", [_n("LogSoftmax", ["x"])], [("x", [7])], {}, 11, "LogSoftmax"),
    ("dropout", [_n("Dropout", ["x"])], X4, {}, 18, "Dropout"),
    ("pad-reflect", [_n("Pad", ["x", "p"], mode="reflect")], X4,
     {"p": np.array([0, 0, 1, 2, 0, 0, 2, 1])}, 18, "Pad"),
    ("pad-value", [_n("Pad", ["x", "p", "v"])], X4,
     {"p": np.array([0, 1, 0, 0, 0, 1, 0, 0]), "v": np.float32(0.5)}, 18, "Pad"),
    ("resize-size", [_n("Resize", ["x", "", "", "s"], mode="linear", axes=[2, 3])], X4,
     {"s": np.array([9, 8])}, 18, "Resize"),
    ("resize-scale", [_n("Resize", ["x", "", "s"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
     X4, {"s": np.array([1, 1, 3, 3], np.float32)}, 18, "Upsample"),
    ("upsample", [_n("Upsample", ["x", "s"])], X4, {"s": np.array([1, 1, 2, 2], np.float32)},
     9, "Upsample"),
    ("split", [helper.make_node("Split", ["x", "s"], ["a", "b", "c"], axis=1)], X4,
     {"s": np.array([1, 2, 1])}, 18, "Split"),
    ("slice", [_n("Slice", ["x", "st", "en", "ax", "sp"])], X4,
     {"st": np.array([1, -4]), "en": np.array([3, 2 ** 62]), "ax": np.array([1, 3]),
      "sp": np.array([1, 2])}, 18, "Slice"),
    ("reducemean", [_n("ReduceMean", ["x", "a"], keepdims=0)], X4, {"a": np.array([1])}, 18,
     "Mean"),
    ("reducemean-hw", [_n("ReduceMean", ["x"], axes=[2, 3])], X4, {}, 13,
     "AdaptiveAvgPool2d"),
    ("reducesum", [_n("ReduceSum", ["x", "a"])], X4, {"a": np.array([-1])}, 18, "Sum"),
    ("embedding", [_n("Gather", ["t", "x"])], [("x", [5], TensorProto.INT64)],
     {"t": _w(10, 4)}, 18, "Embedding"),
    ("add", [_n("Add", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Add"),
    ("sub", [_n("Sub", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Subtract"),
    ("mul", [_n("Mul", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Multiply"),
    ("div", [_n("Div", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Divide"),
    ("max", [_n("Max", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Maximum"),
    ("min", [_n("Min", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Minimum"),
    ("sum3", [_n("Sum", ["x", "z", "x"])], [("x", [3]), ("z", [3])], {}, 18, "Add"),
    ("mean", [_n("Mean", ["x", "z"])], [("x", [3]), ("z", [3])], {}, 18, "Average"),
    ("scale", [_n("Mul", ["x", "c"])], X4, {"c": np.float32(0.25)}, 18, "Scale"),
    ("shift", [_n("Sub", ["c", "x"])], X4, {"c": np.float32(3.0)}, 18, "Scale"),
    ("gate", [helper.make_node("GlobalAveragePool", ["x"], ["g"]), _n("Mul", ["x", "g"])], X4,
     {}, 18, "BroadcastMultiply"),
    ("squeeze", [_n("Squeeze", ["x", "a"])], [("x", [3, 1, 5])], {"a": np.array([2])}, 18,
     "Squeeze"),
    ("unsqueeze", [_n("Unsqueeze", ["x"], axes=[1])], [("x", [3, 5])], {}, 11, "Unsqueeze"),
    ("depth-to-space", [_n("DepthToSpace", ["x"], blocksize=2, mode="CRD")], X4, {}, 18,
     "PixelShuffle"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_op_maps_to_its_catalogue_layer(case, tmp_path):
    name, nodes, inputs, inits, opset, layer = case
    outputs = [o for o in nodes[-1].output]
    model = _model(nodes, inputs, outputs, [_tensor(k, v) for k, v in inits.items()], opset)
    result = import_onnx(_save(model, tmp_path, f"{name}.onnx"))
    types = _types(result)
    assert layer in types and "Opaque" not in types, types
    assert result.max_abs_diff <= TOLERANCE


def test_an_op_without_a_layer_is_opaque_and_a_broken_file_is_refused_by_name(tmp_path):
    model = _model([_n("Sin", ["x"])], X4)
    result = import_onnx(_save(model, tmp_path, "sin.onnx"))
    assert "Opaque" in _types(result) and result.max_abs_diff <= TOLERANCE
    model.graph.node[0].input[0] = "nowhere"
    with pytest.raises(ImportModelError, match=r"bad\.onnx: not a valid ONNX model"):
        import_onnx(_save(model, tmp_path, "bad.onnx"))
