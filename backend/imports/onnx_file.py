"""Import an ONNX file as an editable graph: common ops become catalogue layers, initializers
become their weights. Connected ops with no layer (an exported LSTM's plumbing, Erf, ...)
become one Opaque node that runs that ONNX subgraph through onnxruntime: inference only, its
weights fixed inside it. Such a region must give one result used elsewhere; otherwise the
import is refused with a message naming the op.

Files from the wild are first brought into one form (``onnx_prepare``): older opsets
converted, initializers listed as inputs dropped from the inputs, a fixed batch made
symbolic, constant subgraphs folded. Which layer each op becomes is ``onnx_ops``.
"""
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
from backend.imports import onnx_ops
from backend.imports.building import (EXAMPLE_BATCH, GraphBuilder, ImportResult, finish,
                                      input_params)
from backend.imports.onnx_prepare import Prepared, load, prepare, tensor_value
from backend.imports.progress import stage
from graph.errors import ShapeError
from graph.layers import get_spec
from graph.layers.opaque import shapes_text
from graph.shapes import TensorType
from graph.validate import analyze

log = logging.getLogger(__name__)

SUPPORTED = onnx_ops.SUPPORTED
Source = Any  # a node id, or (node id, port) for a layer with several outputs


def _attrs(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> tuple[Any, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                 for d in value_info.type.tensor_type.shape.dim)


class OnnxImporter:
    """Walks a prepared ONNX graph in order and builds the LayerForge graph."""

    def __init__(self, prepared: Prepared, source: str) -> None:
        self.source = source
        self.model = prepared.model
        self.opset = prepared.opset
        g = self.model.graph
        self.weights: dict[str, torch.Tensor] = {}
        for init in g.initializer:
            value = tensor_value(init, source)
            if value is not None:
                self.weights[init.name] = value
        self.types: dict[str, TensorType] = {}
        inputs = [vi for vi in g.input if vi.name not in self.weights]
        batch = _dims(inputs[0])[0] if inputs and _dims(inputs[0]) else None
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            dims = _dims(vi)
            # only batched tensors become layer inputs (not shape arithmetic on sizes); ONNX
            # renames the batch after some ops (Resize by scales: unk__0): any name counts
            if dims and (dims[0] == batch or (isinstance(dims[0], str) and len(dims) > 1)) \
                    and \
                    isinstance(batch, str) and batch and \
                    all(isinstance(d, int) and d > 0 for d in dims[1:]):
                elem = vi.type.tensor_type.elem_type
                self.types[vi.name] = TensorType(tuple(dims[1:]), "long" if elem in (6, 7)
                                                 else "float")
        self.b = GraphBuilder()
        self.ids: dict[str, Source] = {}
        self.input_names: dict[str, str] = {}  # graph Input node name -> ONNX input name
        self.initializers = {i.name: i for i in g.initializer}
        self.producer = {out: node for node in g.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in g.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.used = set(self.consumers) | {o.name for o in g.output}
        self.region_of: dict[str, dict] = {}  # value -> region of ops with no layer
        self.notes: list[str] = []
        self.plan: list[tuple] = []
        self.absorbed: dict[int, Any] = {}  # id(node) -> node folded into the layer before it
        self.aliases: list[str] = []

    def fail(self, node, why: str) -> ImportModelError:
        return ImportModelError(f"{self.source}: cannot import the ONNX op {node.op_type} "
                                f"({node.name or node.output[0] if node.output else '?'}): "
                                f"{why}")

    def out_type(self, name: str) -> TensorType:
        t = self.types.get(name)
        if t is None:
            raise ImportModelError(f"{self.source}: the shape of {name!r} is unknown or not "
                                   f"batched; export the model with a fixed input shape")
        return t

    def name_for(self, node) -> str:
        for i in node.input[1:]:
            if i in self.weights and "." in i:
                return i.rsplit(".", 1)[0]
        return (node.output[0] if node.output else "") or node.name or node.op_type

    # -- planning: the converters in onnx_ops call these --
    def add(self, type_name: str, params: dict[str, Any], sources: list,
            weights: dict[str, torch.Tensor] | None = None) -> tuple[str, int]:
        """Plan a layer (checked against its shape rule now, built by ``build`` once the
        whole op is understood). A source is an ONNX value name or an earlier step."""
        node = self.node
        spec = get_spec(type_name)
        values = spec.defaults()
        for key, value in params.items():
            param = spec.param_index[key]
            try:
                values[key] = param.coerce(value)
            except (TypeError, ValueError) as exc:
                raise self.fail(node, f"{type_name}.{key}: {exc}") from None
            problem = param.problem(values[key])
            if problem:
                raise self.fail(node, f"LayerForge's {type_name} cannot take it ({problem})")
        ins = [self.plan[s[1]][4][0] if isinstance(s, tuple) else self.out_type(s)
               for s in sources]
        try:
            outs = spec.infer_checked(ins, values)
        except ShapeError as exc:
            raise self.fail(node, f"LayerForge's {type_name} refuses it ({exc})") from None
        self.plan.append((type_name, values, sources, weights, outs))
        return ("step", len(self.plan) - 1)

    def absorb(self, node) -> None:
        """``node`` (an Add after a MatMul) is part of the layer being planned."""
        self.absorbed[id(node)] = node
        self.aliases.append(node.output[0])

    def check_plan(self, node) -> None:
        """The planned layer must give the shapes ONNX inferred for the node's results."""
        if not self.plan:
            raise self.fail(node, "no LayerForge layer does this")
        type_name, _, _, _, outs = self.plan[-1]
        results = list(node.output)
        if self.aliases:
            results[0] = self.aliases[-1]
        for k, name in enumerate(results):
            if not name or name not in self.used:
                continue
            if k >= len(outs):
                raise self.fail(node, f"its result {name!r} has no LayerForge counterpart")
            want = self.out_type(name)
            if outs[k] != want:
                raise self.fail(node, f"LayerForge's {type_name} would give {outs[k]} where "
                                      f"the file has {want}")

    def build(self, node) -> None:
        built: list[str] = []
        for type_name, params, sources, weights, _ in self.plan:
            resolved = []
            for s in sources:
                if isinstance(s, tuple):
                    resolved.append(built[s[1]])
                    continue
                if s not in self.ids:
                    self.materialize(s)
                resolved.append(self.ids[s])
            n = self.b.add(type_name, self.name_for(node), params, resolved, weights)
            built.append(n.id)
        ports = [p.name for p in n.spec.output_ports(n.params)]
        for k, out in enumerate(node.output[:len(ports)]):
            if out:
                self.ids[out] = n.id if len(ports) == 1 else (n.id, ports[k])
        for alias in self.aliases:
            self.ids[alias] = n.id

    # -- regions: connected ops with no layer, run by onnxruntime as one Opaque node --
    def is_dynamic(self, name: str) -> bool:
        return name in self.ids or name in self.region_of

    def join_region(self, node) -> None:
        """Add ``node`` to the region of its inputs (merging regions it connects)."""
        regions = list({id(self.region_of[i]): self.region_of[i] for i in node.input
                        if i in self.region_of}.values())
        region = regions[0] if regions else {"nodes": [], "values": set(), "done": None}
        for other in regions[1:]:
            if other["done"] is not None or region["done"] is not None:
                raise ImportModelError(f"{self.source}: the ONNX op {node.op_type} "
                                       f"({node.name or node.output[0]}) joins ops that have "
                                       f"no LayerForge layers in a way LayerForge cannot "
                                       f"import yet")
            region["nodes"] += other["nodes"]
            region["values"] |= other["values"]
            for v in other["values"]:
                self.region_of[v] = region
        if region["done"] is not None:
            raise ImportModelError(f"{self.source}: the ONNX op {node.op_type} "
                                   f"({node.name or node.output[0]}) reads ops without "
                                   f"LayerForge layers after their result was used; "
                                   f"LayerForge cannot import this model yet")
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
        out_type = self.out_type(value)
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
        ins = [self.out_type(e) for e in external]
        all_nodes = sorted(needed_consts + nodes, key=lambda n: order[id(n)])
        vi = {v.name: v for v in list(self.model.graph.input) + list(self.model.graph.value_info)
              + list(self.model.graph.output)}
        sub = helper.make_graph(
            all_nodes, "layerforge_region", [vi[e] for e in external], [vi[value]],
            [self.initializers[i] for i in sorted(inits)])
        sub_model = helper.make_model(sub, opset_imports=list(self.model.opset_import),
                                      ir_version=self.model.ir_version)
        try:
            onnx.checker.check_model(sub_model)
        except onnx.checker.ValidationError as exc:
            ops = ", ".join(sorted({n.op_type for n in nodes}))
            raise ImportModelError(f"{self.source}: the ONNX ops {ops} around {value!r} cannot "
                                   f"run on their own ({str(exc).splitlines()[0]}); "
                                   f"LayerForge cannot import this model yet") from None
        blob = base64.b64encode(sub_model.SerializeToString()).decode("ascii")
        ops = sorted({n.op_type for n in nodes})
        recipe = {"call": "onnx", "model": blob, "ops": ops}
        params = {"operation": describe(recipe), "inputs": len(external),
                  "op": json.dumps(recipe), "shapes": shapes_text(ins, out_type, 0)}
        n = self.b.add("Opaque", value, params, [self.ids[e] for e in external])
        self.ids[value] = n.id
        self.notes.append(f"'{n.name}' runs the ONNX ops {', '.join(ops)} through onnxruntime "
                          f"(inference only: its weights are fixed and it does not train)")

    def run(self) -> GraphBuilder:
        g = self.model.graph
        for vi in g.input:
            if vi.name in self.weights or vi.name in self.initializers:
                continue
            t = self.out_type(vi.name)
            try:
                params = input_params(t)
            except ImportModelError as exc:
                raise ImportModelError(f"{self.source}: input {vi.name!r}: {exc}") from None
            n = self.b.add("Input", vi.name, params, [])
            self.ids[vi.name] = n.id
            self.input_names[n.name] = vi.name
        for node in g.node:
            if id(node) in self.absorbed or node.op_type == "Constant" or \
                    not any(self.is_dynamic(i) for i in node.input):
                continue  # constants: weights of the ops that read them
            self.node, self.plan, self.aliases = node, [], []
            try:
                onnx_ops.convert(self, node, _attrs(node), self.opset)
                self.check_plan(node)
            except ImportModelError as exc:
                log.info("no layer for %s: %s", node.op_type, exc)
                for absorbed in [n for n in self.absorbed.values()
                                 if n.output[0] in self.aliases]:
                    del self.absorbed[id(absorbed)]
                self.join_region(node)
                continue
            self.build(node)
        for vi in g.output:
            if vi.name in self.region_of and vi.name not in self.ids:
                self.materialize(vi.name)
            if vi.name not in self.ids:
                raise ImportModelError(f"{self.source}: output {vi.name!r} is not computed from "
                                       f"the inputs")
            self.b.add("Output", vi.name, {}, [self.ids[vi.name]])
        analysis = analyze(self.b.graph)
        if not analysis.is_valid:  # every layer was checked against ONNX's shapes: a bug
            raise ImportModelError(f"{self.source}: the imported graph has errors (please "
                                   f"report this):\n{analysis.summary()}")
        return self.b


def import_onnx(path: str | os.PathLike, check: bool = True) -> ImportResult:
    """Read an ONNX file into a graph + weights; checked against onnxruntime when ``check``."""
    path = Path(path)
    stage("reading")
    model = load(path)
    prepared = prepare(model, str(path))
    stage("mapping")
    importer = OnnxImporter(prepared, str(path))
    builder = importer.run()
    stage("structuring")
    result = finish(builder, path.stem, f"Imported from the ONNX file {path.name}.",
                    prepared.notes + importer.notes)
    if check:
        stage("checking outputs")
        _check_against_onnxruntime(result, path, importer, prepared.fixed_batch)
    return result


def _example_inputs(result: ImportResult, batch: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    inputs = []
    for node in result.project.graph.nodes:
        if node.type == "Input":
            shape = (batch, *node.params["shape"])
            if node.params["kind"] == "tokens":
                high = min((n.params["num_embeddings"] for n in result.project.graph.nodes
                            if n.type == "Embedding"), default=2)
                inputs.append(torch.randint(0, high, shape, generator=gen))
            else:
                inputs.append(torch.randn(shape, generator=gen))
    return inputs


_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(float16)": np.float16, "tensor(int64)": np.int64,
                "tensor(int32)": np.int32}


def _check_against_onnxruntime(result: ImportResult, path: Path, importer: OnnxImporter,
                               fixed_batch: int | None) -> None:
    """Run the original file (in chunks of its fixed batch, if it has one) and the imported
    graph on the same random batch; record the largest difference."""
    import onnxruntime as ort

    model = compile_graph(result.project.graph)
    missing, unexpected = model.load_state_dict(result.state_dict, strict=False)
    if missing or unexpected:
        raise ImportModelError(f"{path}: the imported weights do not fit the graph (missing "
                               f"{missing[:5]}, unexpected {unexpected[:5]}); please report this")
    model.eval()
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ImportModelError(f"{path}: onnxruntime cannot open the file to check the import "
                               f"({str(exc).splitlines()[0][:300]})") from None
    chunk = fixed_batch or EXAMPLE_BATCH
    batch = EXAMPLE_BATCH * (fixed_batch or 1)
    inputs = _example_inputs(result, batch)
    declared = {i.name: i.type for i in session.get_inputs()}
    names = [importer.input_names[n.name] for n in result.project.graph.nodes
             if n.type == "Input"]
    want: list[list[np.ndarray]] = []
    try:
        for start in range(0, batch, chunk):
            feeds = {name: x[start:start + chunk].numpy().astype(
                _NUMPY_TYPES.get(declared[name], x.numpy().dtype))
                for name, x in zip(names, inputs) if name in declared}
            want.append(session.run(None, feeds))
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ImportModelError(f"{path}: onnxruntime cannot run the file on a random input "
                               f"({str(exc).splitlines()[0][:300]})") from None
    try:
        with torch.no_grad():
            got = model(*inputs)
    except Exception as exc:  # noqa: BLE001 - an Opaque region's onnxruntime error
        raise ImportModelError(f"{path}: the imported network does not run on a batch of "
                               f"{batch} ({str(exc).splitlines()[0][:300]}); its Opaque "
                               f"regions may assume a fixed batch size") from None
    got = got if isinstance(got, tuple) else (got,)
    diffs = []
    for k, g in enumerate(got):
        w = np.concatenate([np.asarray(chunk_out[k]) for chunk_out in want], axis=0)
        if tuple(w.shape) != tuple(g.shape):
            raise ImportModelError(f"{path}: output {k + 1} has shape {tuple(g.shape)} in the "
                                   f"imported network but {tuple(w.shape)} in onnxruntime; "
                                   f"please report this")
        diffs.append(float(np.abs(g.numpy().astype(np.float64) - w.astype(np.float64)).max())
                     if w.size else 0.0)
    result.max_abs_diff = max(diffs, default=0.0)
