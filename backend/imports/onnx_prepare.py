"""Bring an ONNX file from the wild into the one form the importer maps.

- external-data files next to the model are read (``onnx.load`` with the model's folder);
- initializers that old exporters also list as graph inputs stop being inputs;
- opsets older than ``TARGET_OPSET`` are converted with ``onnx.version_converter``;
- a fixed batch size (torch's legacy exporter writes 1) becomes the symbolic batch ``N``, and
  the Reshape/Resize constants that spelled it out follow (with a note to the user);
- constant subgraphs (weights made by Constant/ConstantOfShape/Reshape/Identity chains) are
  folded by onnxruntime's offline optimisation at its basic level, with the fusions that would
  change the network's layers (Conv+BatchNorm, ...) turned off;
- shapes are inferred again from the inputs, strictly: where the file's own value_info
  disagrees with what the ops compute, the file is refused; where inference cannot see
  (after a GRU, say), the file's shapes are kept.

Anything that makes a file unreadable raises ImportModelError naming the file and, where
ONNX says it, the op.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.errors import ImportModelError
from backend.imports.onnx_ops import TARGET_OPSET

log = logging.getLogger(__name__)

BATCH = "N"  # the symbolic batch dimension given to files with a fixed one

# onnxruntime's basic-level rewrites that would change which layers the user sees (a
# BatchNorm folded into its Conv, a Dropout removed, shared weights renamed, branches merged)
KEEP_LAYERS = ["ConvBNFusion", "ConvAddFusion", "ConvMulFusion", "FuseReluClip",
               "EliminateDropout", "ConstantSharing", "CommonSubexpressionElimination",
               "CommonSubexpressionEliminationApplyOnce"]


@dataclass
class Prepared:
    """A model ready to map, its default-domain opset, and what the user should know."""

    model: Any
    opset: int
    fixed_batch: int | None = None  # the batch size the file fixed, if it did
    notes: list[str] = field(default_factory=list)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:400]


def load(path: Path):
    """The ModelProto of ``path``, with external-data files from its folder."""
    import onnx
    from onnx import external_data_helper

    if not path.is_file():
        raise ImportModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: not ONNX
        raise ImportModelError(f"{path}: not a readable ONNX file ({type(exc).__name__}); "
                               f"check that it is an .onnx model and was copied whole") \
            from None
    if not isinstance(model, onnx.ModelProto) or not model.graph.node:
        raise ImportModelError(f"{path}: the ONNX file holds no network (no operations)")
    tensors = list(external_data_helper._get_all_tensors(model))
    if any(external_data_helper.uses_external_data(t) for t in tensors):
        try:
            external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception as exc:  # noqa: BLE001 - missing file, path outside the folder...
            raise ImportModelError(f"{path}: its weights are stored in a separate file that "
                                   f"cannot be read ({_first_line(exc)}); keep the data file "
                                   f"next to the .onnx file under the name it was saved "
                                   f"with") from None
    return model


def tensor_value(tensor, source: str) -> torch.Tensor | None:
    """A TensorProto as a torch tensor (None for types torch has no use for: strings...)."""
    from onnx import numpy_helper

    try:
        array = np.array(numpy_helper.to_array(tensor))
    except Exception as exc:  # noqa: BLE001 - raw data of the wrong length, bad type...
        raise ImportModelError(f"{source}: the stored tensor {tensor.name!r} is damaged "
                               f"({_first_line(exc)}); re-export the model") from None
    if array.dtype.kind not in "fiub" or array.dtype.itemsize > 8 or \
            array.dtype == np.uint16 or array.dtype.names:
        return None
    if array.dtype.kind == "f" and array.dtype not in (np.float16, np.float32, np.float64):
        return None  # bfloat16/float8 arrive as ml_dtypes arrays torch cannot take
    try:
        return torch.from_numpy(np.ascontiguousarray(array))
    except (TypeError, ValueError):
        return None


def default_opset(model) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _bump_ir(model) -> None:
    """An IR version new enough for the opsets (and for initializers that are not inputs)."""
    from onnx import helper

    try:
        least = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
    except Exception:  # noqa: BLE001 - an opset onnx does not know: the checker says so
        least = 4
    model.ir_version = max(model.ir_version, least, 4)


def _constants_to_initializers(graph) -> None:
    """Constant nodes holding numbers become initializers (one form for every weight)."""
    from onnx import helper, numpy_helper

    keep = []
    for node in graph.node:
        tensor = None
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and \
                len(node.attribute) == 1 and len(node.output) == 1:
            attr = node.attribute[0]
            value = helper.get_attribute_value(attr)
            if attr.name == "value":
                tensor = value
            elif attr.name in ("value_float", "value_floats"):
                tensor = numpy_helper.from_array(np.array(value, dtype=np.float32))
            elif attr.name in ("value_int", "value_ints"):
                tensor = numpy_helper.from_array(np.array(value, dtype=np.int64))
        if tensor is None:
            keep.append(node)
            continue
        init = graph.initializer.add()
        init.CopyFrom(tensor)
        init.name = node.output[0]
    del graph.node[:]
    graph.node.extend(keep)


def _foldable(graph) -> bool:
    """Is there an op computed from stored values only (a constant subgraph)?"""
    const = {i.name for i in graph.initializer}
    return any(node.input and all(not i or i in const for i in node.input) and
               node.op_type != "Constant" for node in graph.node)


def _fold(model, source: str):
    """The model with its constant subgraphs folded by onnxruntime (basic level)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 4
    with tempfile.TemporaryDirectory(prefix="layerforge-onnx-") as folder:
        options.optimized_model_filepath = str(Path(folder) / "folded.onnx")
        try:
            ort.InferenceSession(model.SerializeToString(), options,
                                 providers=["CPUExecutionProvider"],
                                 disabled_optimizers=KEEP_LAYERS)
            folded = onnx.load(options.optimized_model_filepath)
        except Exception as exc:  # noqa: BLE001 - onnxruntime refuses the file
            log.info("%s: constants not folded: %s", source, _first_line(exc))
            return model
    used = {n.domain for n in folded.graph.node} | {"", "ai.onnx"}
    opsets = [o for o in folded.opset_import if o.domain in used]
    del folded.opset_import[:]
    folded.opset_import.extend(opsets)
    return folded


def _fix_batch(model) -> int | None:
    """A fixed batch size shared by every input becomes ``N``; returns the size it was."""
    graph = model.graph
    firsts = []
    for vi in graph.input:
        dims = vi.type.tensor_type.shape.dim
        if not vi.type.HasField("tensor_type") or not len(dims) or \
                not dims[0].HasField("dim_value") or dims[0].dim_value < 1:
            return None
        firsts.append(dims[0].dim_value)
    if not firsts or len(set(firsts)) != 1:
        return None
    _symbolize(graph, firsts[0])
    return firsts[0]


def _symbolize(graph, batch: int) -> None:
    """Every recorded shape whose first axis is the old fixed batch gets ``N`` there
    (onnxruntime and shape inference refine a declared N to the size they compute)."""
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == batch:
            dims[0].dim_param = BATCH


def _follow_batch(model, batch: int) -> bool:
    """Reshape targets and Resize sizes that spelled out the old fixed batch follow ``N``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    batched = {vi.name for vi in list(graph.input) + list(graph.value_info)
               if len(vi.type.tensor_type.shape.dim) and
               vi.type.tensor_type.shape.dim[0].dim_param == BATCH}
    inits = {i.name: i for i in graph.initializer}
    changed = False
    for node in graph.node:
        if node.op_type not in ("Reshape", "Resize") or not node.input or \
                node.input[0] not in batched:
            continue
        k = 1 if node.op_type == "Reshape" else 3
        if len(node.input) <= k or node.input[k] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[k]]).astype(np.int64).reshape(-1)
        if not len(shape) or shape[0] != batch:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Reshape":
            if -1 not in shape[1:]:
                shape[0] = -1
            elif not attrs.get("allowzero", 0):
                shape[0] = 0  # 0: copy the input's size
            else:
                continue
        elif "axes" not in attrs and default_opset(model) >= 18:
            shape = shape[1:]  # Resize sizes for the axes after the batch only
            node.attribute.append(helper.make_attribute("axes", list(range(1, len(shape) + 1))))
        else:
            continue
        name = f"{node.input[k]}_any_batch"
        if name not in inits:
            inits[name] = numpy_helper.from_array(shape, name)
            graph.initializer.append(inits[name])
        node.input[k] = name
        changed = True
    return changed


def _infer(model, source: str):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True,
                                                 data_prop=True)
    except Exception as exc:  # noqa: BLE001 - InferenceError names the op and node
        raise ImportModelError(f"{source}: the shapes in the file do not work out "
                               f"({_first_line(exc)}); re-export the model, or check it "
                               f"with onnx.shape_inference") from None


def prepare(model, source: str) -> Prepared:
    """Convert, fix the batch, fold constants and infer shapes (see the module's doc)."""
    import onnx
    from onnx import version_converter

    graph = model.graph
    opset = default_opset(model)
    if opset is None:
        raise ImportModelError(f"{source}: the file does not say which ONNX opset it uses; "
                               f"re-export the model")
    stored = {i.name for i in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in stored]
    del graph.input[:]
    graph.input.extend(inputs)
    if not inputs:
        raise ImportModelError(f"{source}: the network has no inputs (every graph input is a "
                               f"stored weight)")
    _bump_ir(model)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError, or a C++ error on odd files
        raise ImportModelError(f"{source}: not a valid ONNX model ({_first_line(exc)}); "
                               f"re-export it, or check it with onnx.checker") from None
    notes: list[str] = []
    if opset < TARGET_OPSET:
        try:
            model = version_converter.convert_version(model, TARGET_OPSET)
            _bump_ir(model)
            opset = TARGET_OPSET
        except Exception as exc:  # noqa: BLE001 - no adapter for an op of this file
            log.info("%s: kept opset %s: %s", source, opset, _first_line(exc))
    _constants_to_initializers(model.graph)
    fixed = _fix_batch(model)
    if fixed is not None:
        notes.append(f"The file fixes the batch size at {fixed}; the imported network takes "
                     f"any batch size (the first axis became {BATCH}).")
    if _foldable(model.graph):
        model = _fold(model, source)
        _constants_to_initializers(model.graph)
        if fixed is not None:
            _symbolize(model.graph, fixed)
    model = _infer(model, source)
    if fixed is not None and _follow_batch(model, fixed):
        _symbolize(model.graph, fixed)
        model = _infer(model, source)
    return Prepared(model, opset, fixed, notes)
