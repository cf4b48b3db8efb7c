"""Damaged ONNX files never end in a traceback: random bytes flipped, files cut short, and
protobuf fields mutated (dims, attributes, op types, input names, initializer types and
data lengths, removed nodes) either import or raise ImportModelError naming the file.

Most cases import with ``check=False`` (no onnxruntime run), so a few thousand stay fast.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from backend.errors import ImportModelError
from backend.imports.onnx_file import import_onnx

def fast(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

OPS = ["Relu", "Conv", "MaxPool", "Gemm", "Flatten", "Reshape", "Add", "Mul", "Concat",
       "Split", "Slice", "Pad", "Resize", "Transpose", "Softmax", "Erf", "Constant",
       "BatchNormalization", "NoSuchOp", ""]


def _tiny_model() -> onnx.ModelProto:
    """Conv -> BatchNorm -> Relu -> MaxPool -> Reshape (constant shape) -> Gemm, and an
    Erf for an Opaque region: a little of everything, small enough to import in ms."""
    rng = np.random.default_rng(0)

    def t(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    inits = [t("w", rng.normal(size=(4, 2, 3, 3)).astype(np.float32)),
             t("b", rng.normal(size=(4,)).astype(np.float32)),
             t("s", np.ones(4, np.float32)), t("o", np.zeros(4, np.float32)),
             t("m", np.zeros(4, np.float32)), t("v", np.ones(4, np.float32)),
             t("fw", rng.normal(size=(3, 16)).astype(np.float32)),
             t("fb", rng.normal(size=(3,)).astype(np.float32))]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Constant", [], ["shape"], name="const",
                         value=t("k", np.array([-1, 16]))),
        helper.make_node("Reshape", ["p", "shape"], ["f"], name="flat"),
        helper.make_node("Erf", ["f"], ["e"], name="erf"),
        helper.make_node("Gemm", ["e", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


BASE = _tiny_model()
BASE_BYTES = BASE.SerializeToString()


def _import(path, data: bytes, check: bool = False) -> None:
    path.write_bytes(data)
    try:
        import_onnx(path, check=check)
    except ImportModelError as exc:
        assert str(path) in str(exc) or path.name in str(exc), str(exc)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "model.onnx"


def test_the_tiny_model_imports(target):
    target.write_bytes(BASE_BYTES)
    result = import_onnx(target)
    assert result.max_abs_diff <= 1e-5 and len(result.opaque) == 1


@fast(700)
@given(st.lists(st.tuples(st.integers(0, len(BASE_BYTES) - 1), st.integers(1, 255)),
                min_size=1, max_size=8))
def test_flipped_bytes(target, flips):
    data = bytearray(BASE_BYTES)
    for position, mask in flips:
        data[position] ^= mask
    _import(target, bytes(data))


@fast(300)
@given(st.integers(0, len(BASE_BYTES) - 1))
def test_truncated_files(target, length):
    _import(target, BASE_BYTES[:length])


def _mutate(model: onnx.ModelProto, data: st.DataObject) -> None:
    """One protobuf-field mutation chosen by hypothesis."""
    g = model.graph
    kind = data.draw(st.sampled_from(["dims", "attribute", "op_type", "input", "dtype",
                                      "raw_data", "remove", "init_dims", "output", "opset"]))
    value_infos = list(g.input) + list(g.output)
    if kind == "dims":
        dims = data.draw(st.sampled_from(value_infos)).type.tensor_type.shape.dim
        if len(dims):
            dim = dims[data.draw(st.integers(0, len(dims) - 1))]
            choice = data.draw(st.one_of(st.integers(-3, 40), st.sampled_from(["", "N", "T"])))
            if isinstance(choice, int):
                dim.dim_value = choice
            else:
                dim.dim_param = choice
        elif data.draw(st.booleans()):
            dims.add().dim_value = data.draw(st.integers(0, 5))
    elif kind == "attribute":
        node = data.draw(st.sampled_from(list(g.node)))
        if len(node.attribute):
            attr = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
            new = data.draw(st.one_of(
                st.integers(-5, 20), st.floats(-10, 10), st.just(float("nan")),
                st.lists(st.integers(-3, 9), min_size=1, max_size=6), st.text(max_size=4)))
            name = data.draw(st.sampled_from([attr.name, "pads", "kernel_shape", "axis",
                                              "strides", "group", "alpha", "bogus"]))
            node.attribute.remove(attr)
            node.attribute.append(helper.make_attribute(name, new))
    elif kind == "op_type":
        data.draw(st.sampled_from(list(g.node))).op_type = data.draw(st.sampled_from(OPS))
    elif kind == "input":
        node = data.draw(st.sampled_from(list(g.node)))
        names = [i.name for i in g.initializer] + [o for n in g.node for o in n.output] + \
            ["x", "", "ghost"]
        if len(node.input) and data.draw(st.booleans()):
            node.input[data.draw(st.integers(0, len(node.input) - 1))] = \
                data.draw(st.sampled_from(names))
        else:
            node.input.append(data.draw(st.sampled_from(names)))
    elif kind == "dtype":
        init = data.draw(st.sampled_from(list(g.initializer)))
        init.data_type = data.draw(st.integers(0, 26))
    elif kind == "raw_data":
        init = data.draw(st.sampled_from(list(g.initializer)))
        raw = init.raw_data  # the base model stores every initializer as raw bytes
        cut = data.draw(st.integers(-len(raw), 12))
        init.ClearField("float_data")
        init.ClearField("int64_data")
        init.raw_data = raw[:cut] if cut <= 0 else raw + bytes(cut)
    elif kind == "remove":
        del g.node[data.draw(st.integers(0, len(g.node) - 1))]
    elif kind == "init_dims":
        init = data.draw(st.sampled_from(list(g.initializer)))
        del init.dims[:]
        init.dims.extend(data.draw(st.lists(st.integers(0, 20), max_size=4)))
    elif kind == "output":
        node = data.draw(st.sampled_from(list(g.node)))
        node.output[0] = data.draw(st.sampled_from(["x", "y", "c", "w", "", "fresh"]))
    else:
        model.opset_import[0].version = data.draw(st.integers(-1, 30))


@fast(1200)
@given(st.data())
def test_mutated_protobuf_fields(target, data):
    model = onnx.ModelProto()
    model.CopyFrom(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(model, data)
    _import(target, model.SerializeToString())


@fast(60)
@given(st.data())
def test_mutated_files_checked_against_onnxruntime(target, data):
    """The check against onnxruntime, too, ends in an import or ImportModelError."""
    model = onnx.ModelProto()
    model.CopyFrom(BASE)
    _mutate(model, data)
    _import(target, model.SerializeToString(), check=True)
