"""Import an ONNX file as an editable graph: common ops become catalogue layers, initializers
become their weights. Connected ops with no layer (an exported LSTM's plumbing, Erf, ...)
become one Opaque node that runs that ONNX subgraph through onnxruntime: inference only, its
weights fixed inside it. Such a region must give one result used elsewhere; otherwise the
import is refused with a message naming the op."""
from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.compile import compile_graph
from backend.compile.opaque import describe
from backend.errors import ImportModelError
from backend.imports.building import (EXAMPLE_BATCH, GraphBuilder, ImportResult, finish,
                                      input_params)
from backend.imports.progress import stage
from graph.layers.opaque import shapes_text
from graph.shapes import TensorType

log = logging.getLogger(__name__)

SUPPORTED = ("Conv", "Gemm", "MatMul(+Add)", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Softmax",
             "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool",
             "ReduceMean over H,W", "BatchNormalization", "Add", "Mul", "Concat", "Flatten",
             "Reshape", "Identity", "Dropout")


def _attrs(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> tuple[Any, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                 for d in value_info.type.tensor_type.shape.dim)


class _OnnxImporter:
    def __init__(self, model, source: str) -> None:
        import onnx
        from onnx import numpy_helper

        self.source = source
        self.model = onnx.shape_inference.infer_shapes(model)
        g = self.model.graph
        self.weights = {i.name: torch.from_numpy(np.array(numpy_helper.to_array(i)))
                        for i in g.initializer}
        for node in g.node:  # Constant nodes are initializers written another way
            if node.op_type == "Constant":
                self.weights[node.output[0]] = torch.from_numpy(
                    np.array(numpy_helper.to_array(_attrs(node)["value"])))
        self.types: dict[str, TensorType] = {}
        inputs = [vi for vi in g.input if vi.name not in self.weights]
        batch = _dims(inputs[0])[0] if inputs and _dims(inputs[0]) else None
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            dims = _dims(vi)
            # only batched tensors become layer inputs (not shape arithmetic on sizes)
            if dims and dims[0] == batch and all(isinstance(d, int) and d > 0
                                                 for d in dims[1:]):
                elem = vi.type.tensor_type.elem_type
                self.types[vi.name] = TensorType(tuple(dims[1:]), "long" if elem in (6, 7)
                                                 else "float")
        self.b = GraphBuilder()
        self.ids: dict[str, str] = {}
        self.input_names: dict[str, str] = {}  # graph Input node name -> ONNX input name
        self.initializers = {i.name: i for i in g.initializer}
        self.producer = {out: node for node in g.node for out in node.output}
        self.region_of: dict[str, dict] = {}  # value -> region of ops with no layer
        self.notes: list[str] = []
        self.plan: tuple | None = None

    def fail(self, node, why: str) -> ImportModelError:
        return ImportModelError(f"{self.source}: cannot import the ONNX op {node.op_type} "
                                f"({node.name or node.output[0]}): {why}. Supported: "
                                f"{', '.join(SUPPORTED)}")

    def out_type(self, name: str) -> TensorType:
        t = self.types.get(name)
        if t is None:
            raise ImportModelError(f"{self.source}: the shape of {name!r} is unknown; export "
                                   f"the model with a fixed input shape")
        return t

    def name_for(self, node) -> str:
        for i in node.input[1:]:
            if i in self.weights and "." in i:
                return i.rsplit(".", 1)[0]
        return node.output[0] or node.name

    def add(self, node, type_name: str, params: dict, sources: list[str],
            weights: dict[str, torch.Tensor] | None = None) -> None:
        """Plan a layer for ``node`` (built by ``run`` once the whole op is understood)."""
        self.plan = (node, type_name, params, sources, weights)

    def build(self, aliases: list[str]) -> None:
        node, type_name, params, sources, weights = self.plan
        for src in sources:
            if src not in self.ids:
                self.materialize(src)
        n = self.b.add(type_name, self.name_for(node), params,
                       [self.ids[s] for s in sources], weights)
        for out in [node.output[0], *aliases]:
            self.ids[out] = n.id

    # -- regions: connected ops with no layer, run by onnxruntime as one Opaque node --
    def is_dynamic(self, name: str) -> bool:
        return name in self.ids or name in self.region_of

    def join_region(self, node) -> None:
        """Add ``node`` to the region of its inputs (merging regions it connects)."""
        regions = list({id(self.region_of[i]): self.region_of[i] for i in node.input
                        if i in self.region_of}.values())
        region = regions[0] if regions else {"nodes": [], "values": set(), "done": None}
        for other in regions[1:]:
            if other["done"] is not None:
                raise ImportModelError(f"{self.source}: the ONNX op {node.op_type} joins ops "
                                       f"that have no LayerForge layers in a way LayerForge "
                                       f"cannot import yet")
            region["nodes"] += other["nodes"]
            region["values"] |= other["values"]
            for v in other["values"]:
                self.region_of[v] = region
        region["nodes"].append(node)
        for out in node.output:
            if out:
                region["values"].add(out)
                self.region_of[out] = region

    def materialize(self, value: str) -> None:
        """Turn the region computing ``value`` into one Opaque node whose output it is."""
        import onnx
        from onnx import helper

        region = self.region_of[value]
        if region["done"] is not None:
            raise ImportModelError(f"{self.source}: the ONNX ops around {value!r} have no "
                                   f"LayerForge layers and give more than one result used "
                                   f"elsewhere; LayerForge cannot import this model yet")
        region["done"] = value
        nodes = list(region["nodes"])
        order = {id(n): i for i, n in enumerate(self.model.graph.node)}
        needed_consts: list = []
        external: list[str] = []
        inits: set[str] = set()

        def pull(name: str) -> None:
            if not name or name in region["values"]:
                return
            if name in self.ids:
                if name not in external:
                    external.append(name)
                return
            if name in self.initializers:
                inits.add(name)
                return
            producer = self.producer.get(name)
            if producer is None:
                raise ImportModelError(f"{self.source}: {name!r} is not defined")
            if producer not in needed_consts:
                needed_consts.append(producer)
                for i in producer.input:
                    pull(i)

        for n in nodes:
            for i in n.input:
                pull(i)
        all_nodes = sorted(needed_consts + nodes, key=lambda n: order[id(n)])
        vi = {v.name: v for v in list(self.model.graph.input) + list(self.model.graph.value_info)
              + list(self.model.graph.output)}
        sub = helper.make_graph(
            all_nodes, "layerforge_region", [vi[e] for e in external], [vi[value]],
            [self.initializers[i] for i in sorted(inits)])
        sub_model = helper.make_model(sub, opset_imports=list(self.model.opset_import),
                                      ir_version=self.model.ir_version)
        onnx.checker.check_model(sub_model)
        blob = base64.b64encode(sub_model.SerializeToString()).decode("ascii")
        ops = sorted({n.op_type for n in nodes})
        recipe = {"call": "onnx", "model": blob, "ops": ops}
        ins = [self.out_type(e) for e in external]
        params = {"operation": describe(recipe), "inputs": len(external),
                  "op": json.dumps(recipe),
                  "shapes": shapes_text(ins, self.out_type(value), 0)}
        n = self.b.add("Opaque", value, params, [self.ids[e] for e in external])
        self.ids[value] = n.id
        self.notes.append(f"'{n.name}' runs the ONNX ops {', '.join(ops)} through onnxruntime "
                          f"(inference only: its weights are fixed and it does not train)")

    def run(self) -> GraphBuilder:
        g = self.model.graph
        for vi in g.input:
            if vi.name in self.weights:
                continue
            n = self.b.add("Input", vi.name, input_params(self.out_type(vi.name)), [])
            self.ids[vi.name] = n.id
            self.input_names[n.name] = vi.name
        consumers: dict[str, list] = {}
        for node in g.node:
            for i in node.input:
                consumers.setdefault(i, []).append(node)
        skip: set[int] = set()
        for node in g.node:
            if id(node) in skip or node.op_type == "Constant" or \
                    not any(self.is_dynamic(i) for i in node.input):
                continue  # constants: weights of the ops that read them
            self.plan, aliases = None, []
            try:
                aliases = self.convert(node, consumers, skip) or []
            except ImportModelError as exc:
                log.info("no layer for %s: %s", node.op_type, exc)
                self.join_region(node)
                continue
            self.build(aliases)
        for vi in g.output:
            if vi.name in self.region_of and vi.name not in self.ids:
                self.materialize(vi.name)
            if vi.name not in self.ids:
                raise ImportModelError(f"{self.source}: output {vi.name!r} is not computed from "
                                       f"the inputs")
            self.b.add("Output", vi.name, {}, [self.ids[vi.name]])
        return self.b

    def convert(self, node, consumers, skip: set[int]) -> None:
        op, a = node.op_type, _attrs(node)
        ins = [i for i in node.input if i and i not in self.weights]
        w = [self.weights.get(i) for i in node.input]
        x = ins[0] if ins else None
        if x is None or not self.is_dynamic(x):
            raise self.fail(node, "its input does not come from the model's input")
        t_in = self.out_type(x)
        if t_in.dtype != "float" and op != "Gather":
            raise self.fail(node, "it works on integers")
        simple = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Identity": "Identity"}
        if op in simple:
            return self.add(node, simple[op], {}, [x])
        if op == "Dropout":
            return self.add(node, "Dropout", {"p": float(w[1]) if len(w) > 1 and w[1] is not None
                                              else a.get("ratio", 0.5)}, [x])
        if op == "LeakyRelu":
            return self.add(node, "LeakyReLU", {"negative_slope": a.get("alpha", 0.01)}, [x])
        if op in ("Softmax", "LogSoftmax"):
            axis = a.get("axis", -1)
            if axis % t_in.rank == 0:
                raise self.fail(node, "softmax over the batch")
            return self.add(node, op, {"dim": axis}, [x])
        if op == "Conv":
            k = tuple(w[1].shape[2:])
            pads, strides = a.get("pads", [0] * 2 * len(k)), a.get("strides", [1] * len(k))
            dil = a.get("dilations", [1] * len(k))
            if len(k) != 2 or pads[:2] != pads[2:] or len(set(dil)) != 1 or \
                    a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise self.fail(node, "only 2-D convolutions with symmetric padding are mapped")
            weights = {"weight": w[1]} | ({"bias": w[2]} if len(w) > 2 and w[2] is not None
                                          else {})
            return self.add(node, "Conv2d", {
                "out_channels": w[1].shape[0], "kernel_size": k, "stride": tuple(strides),
                "padding": tuple(pads[:2]), "dilation": dil[0], "groups": a.get("group", 1),
                "bias": "bias" in weights}, [x], weights)
        if op in ("MaxPool", "AveragePool"):
            k = tuple(a["kernel_shape"])
            pads, strides = a.get("pads", [0] * 2 * len(k)), tuple(a.get("strides", [1] * len(k)))
            if len(k) != 2 or pads[:2] != pads[2:] or a.get("ceil_mode", 0) or \
                    a.get("dilations", [1, 1]) != [1, 1] or \
                    (op == "AveragePool" and pads != [0] * 4 and not a.get("count_include_pad")):
                raise self.fail(node, "this pooling variant has no LayerForge layer")
            return self.add(node, "MaxPool2d" if op == "MaxPool" else "AvgPool2d", {
                "kernel_size": k, "stride": (0, 0) if strides == k else strides,
                "padding": tuple(pads[:2])}, [x])
        if op == "GlobalAveragePool" or (op == "ReduceMean" and t_in.rank == 4 and
                                         a.get("keepdims", 1) == 1 and w[1:2] != [None] and
                                         sorted(int(v) % 4 for v in (
                                             w[1].tolist() if len(w) > 1 else a.get("axes", [])))
                                         == [2, 3]):
            return self.add(node, "AdaptiveAvgPool2d", {"output_size": (1, 1)}, [x])
        if op == "BatchNormalization":
            scale, bias, mean, var = w[1:5]
            return self.add(node, "BatchNorm2d" if t_in.rank == 4 else "BatchNorm1d",
                            {"eps": a.get("epsilon", 1e-5), "momentum": 1 - a.get("momentum", 0.9)},
                            [x], {"weight": scale, "bias": bias, "running_mean": mean,
                                  "running_var": var,
                                  "num_batches_tracked": torch.tensor(0)})
        if op == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 \
                    or w[1] is None:
                raise self.fail(node, "only x @ W^T + b (a Linear layer) is mapped")
            weight = w[1] if a.get("transB", 0) else w[1].t()
            weights = {"weight": weight.contiguous()}
            if len(w) > 2 and w[2] is not None:
                weights["bias"] = w[2].reshape(-1).expand(weight.shape[0]).clone()
            return self.add(node, "Linear", {"out_features": weight.shape[0],
                                             "bias": "bias" in weights}, [x], weights)
        if op == "MatMul" and w[1] is not None and w[1].dim() == 2:
            weights = {"weight": w[1].t().contiguous()}
            users = consumers.get(node.output[0], [])
            if len(users) == 1 and users[0].op_type == "Add":
                other = [self.weights.get(i) for i in users[0].input if i != node.output[0]]
                if other and other[0] is not None and other[0].numel() == w[1].shape[1]:
                    weights["bias"] = other[0].reshape(-1)
                    skip.add(id(users[0]))
                    self.add(node, "Linear", {"out_features": w[1].shape[1], "bias": True}, [x],
                             weights)
                    return [users[0].output[0]]  # the Add's result is the Linear's output
            return self.add(node, "Linear", {"out_features": w[1].shape[1], "bias": False},
                            [x], weights)
        if op == "Gather" and w[0] is not None and w[0].dim() == 2 and a.get("axis", 0) == 0 \
                and t_in.dtype == "long":
            return self.add(node, "Embedding", {"num_embeddings": w[0].shape[0],
                                                "embedding_dim": w[0].shape[1]}, [x],
                            {"weight": w[0]})
        if op in ("Add", "Mul") and len(ins) == 2 and all(self.is_dynamic(i) for i in ins) and \
                self.out_type(ins[0]) == self.out_type(ins[1]):
            return self.add(node, "Add" if op == "Add" else "Multiply", {"inputs": 2}, ins)
        if op == "Concat" and 2 <= len(ins) <= 8 and len(ins) == len(node.input) and \
                a.get("axis", 0) % t_in.rank != 0:
            return self.add(node, "Concat", {"inputs": len(ins), "dim": a["axis"]}, ins)
        if op in ("Flatten", "Reshape"):
            out = self.out_type(node.output[0])
            if op == "Flatten" and a.get("axis", 1) == 0:
                raise self.fail(node, "flattening the batch")
            if len(out.dims) == 1 and t_in.rank > 2:
                return self.add(node, "Flatten", {"start_dim": 1, "end_dim": -1}, [x])
            return self.add(node, "Reshape", {"shape": out.dims}, [x])
        raise self.fail(node, "no LayerForge layer does this")


def import_onnx(path: str | os.PathLike, check: bool = True) -> ImportResult:
    """Read an ONNX file into a graph + weights; checked against onnxruntime when ``check``."""
    import onnx

    path = Path(path)
    stage("reading")
    if not path.is_file():
        raise ImportModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure: not an ONNX file
        raise ImportModelError(f"{path}: not a readable ONNX file ({type(exc).__name__})") \
            from None
    stage("mapping")
    importer = _OnnxImporter(model, str(path))
    builder = importer.run()
    stage("structuring")
    result = finish(builder, path.stem, f"Imported from the ONNX file {path.name}.",
                    importer.notes)
    if check:
        stage("checking outputs")
        _check_against_onnxruntime(result, path, importer)
    return result


def _check_against_onnxruntime(result: ImportResult, path: Path, importer) -> None:
    import onnxruntime as ort


    model = compile_graph(result.project.graph)
    model.load_state_dict(result.state_dict)
    model.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    feeds, inputs = {}, []
    for node in result.project.graph.nodes:
        if node.type == "Input":
            shape = (EXAMPLE_BATCH, *node.params["shape"])
            if node.params["kind"] == "tokens":
                high = min((n.params["num_embeddings"] for n in result.project.graph.nodes
                            if n.type == "Embedding"), default=2)
                x = torch.randint(0, high, shape, generator=gen)
            else:
                x = torch.randn(shape, generator=gen)
            feeds[importer.input_names[node.name]] = x.numpy()
            inputs.append(x)
    want = session.run(None, feeds)
    with torch.no_grad():
        got = model(*inputs)
    got = got if isinstance(got, tuple) else (got,)
    result.max_abs_diff = max(float(np.abs(g.numpy() - w).max()) for g, w in zip(got, want))
