"""What every importer builds: a LayerForge graph with its weights (:class:`GraphBuilder`),
laid out and wrapped in a project (:func:`finish`), and checked against the original model
(:func:`verify`). The torch.fx importer (``torch_fx``) and the ONNX importer (``onnx_file``)
both build through it.
"""
from __future__ import annotations

import keyword
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from backend.compile import compile_graph
from backend.errors import ImportModelError
from backend.imports.structure import structure
from graph.layers.io import INPUT_KINDS
from graph.layout import auto_layout
from graph.model import RESERVED_NAMES, Edge, Graph, Node
from graph.project import Project
from graph.shapes import TensorType
from graph.validate import analyze

log = logging.getLogger(__name__)

EXAMPLE_BATCH = 2


@dataclass
class ImportResult:
    """An imported network: the project, its weights keyed by node name, and what to know."""

    project: Project
    state_dict: dict[str, torch.Tensor]
    opaque: list[str] = field(default_factory=list)  # names of the Opaque nodes
    notes: list[str] = field(default_factory=list)  # things the user should know
    max_abs_diff: float | None = None  # graph vs original on the example input

    def checkpoint(self):
        """A LayerForge checkpoint (project + weights) that the editor opens."""
        from backend.checkpoint import Checkpoint

        return Checkpoint(project=self.project, state_dict=self.state_dict, normalization={},
                          task="", class_names=None, epoch=0,
                          metrics={"import_max_abs_diff": self.max_abs_diff or 0.0})


# ---- names ---------------------------------------------------------------------------------

class _Names:
    """Valid, unique node names from fx/module names (``layer1.0.conv1`` -> layer1_0_conv1)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def make(self, raw: str) -> str:
        base = re.sub(r"\W", "_", raw).strip("_") or "node"
        if base[0].isdigit():
            base = "n" + base
        base = base[:56]
        if keyword.iskeyword(base) or base in RESERVED_NAMES:
            base += "_"
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name


# ---- the graph being built -------------------------------------------------------------------

class GraphBuilder:
    """Adds nodes and their weights (state_dict entries under the node's name)."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.names = _Names()
        self.state: dict[str, torch.Tensor] = {}
        self.opaque: list[str] = []
        # where each node came from in the original model's module hierarchy, so the nodes of
        # one submodule can become a block: node id -> dotted path of the module whose
        # forward() made the node ("layer1.0" for layer1.0's conv1 and for the add written in
        # BasicBlock.forward, "" at the top), and module path -> its class name ("BasicBlock")
        self.scopes: dict[str, str] = {}
        self.module_classes: dict[str, str] = {}
        self.scope: str | None = None  # the scope of nodes added without one
        # module path -> the values its forward() was first called with, as (argument name,
        # (node id, port)): the order and names of its block's inputs
        self.module_inputs: dict[str, list[tuple[str, tuple[str, str]]]] = {}
        # module path -> the values its forward() returned (its block's outputs, in order)
        self.module_outputs: dict[str, list[tuple[str, str]]] = {}
        # what a module's class declares (LayerForge's generated block classes): its output
        # port names, and variables fx renamed -> the layer names they stand for
        self.module_output_names: dict[str, list[str]] = {}
        self.module_renames: dict[str, dict[str, str]] = {}

    def add(self, type_name: str, raw_name: str, params: dict[str, Any],
            sources: list[str | tuple[str, str]], weights: dict[str, torch.Tensor] | None = None,
            scope: str | None = None) -> Node:
        node = self.graph.add_node(type_name, name=self.names.make(raw_name), params=params)
        scope = self.scope if scope is None else scope
        if scope is not None:
            self.scopes[node.id] = scope
        ports = [p.name for p in node.spec.input_ports(node.params)]
        for port, src in zip(ports, sources):  # a source is a node id or (node id, port)
            src_id, src_port = src if isinstance(src, tuple) else (src, "out")
            self.graph.connect(Edge(src_id, src_port, node.id, port))
        for key, value in (weights or {}).items():
            self.state[f"{node.name}.{key}"] = value.detach().clone()
        if type_name == "Opaque":
            self.opaque.append(node.name)
        return node


def tensor_type(t: torch.Tensor) -> TensorType:
    """Per-sample type of a batched tensor."""
    return TensorType(tuple(t.shape[1:]), "long" if not t.is_floating_point() else "float")


def input_params(t: TensorType) -> dict[str, Any]:
    """Input node parameters (kind, shape) for a per-sample type."""
    if t.dtype == "long":
        if len(t.dims) != 1:
            raise ImportModelError(f"integer input {t} is not supported: LayerForge's token "
                                   f"input is (N, T)")
        return {"kind": "tokens", "shape": t.dims}
    kinds = {rank: kind for kind, (rank, _) in INPUT_KINDS.items() if kind != "tokens"}
    if len(t.dims) not in kinds:
        raise ImportModelError(f"input {t} has {len(t.dims)} dimensions per sample; LayerForge "
                               f"inputs have 1 (vector), 2 (sequence) or 3 (image)")
    return {"kind": kinds[len(t.dims)], "shape": t.dims}


def finish(builder: GraphBuilder, name: str, description: str,
           notes: list[str]) -> ImportResult:
    """Structure the graph as blocks along the model's module hierarchy (where it has one;
    backend/imports/structure.py), lay it out and wrap it in a project with its weights."""
    graph, state, opaque = builder.graph, builder.state, builder.opaque
    try:
        structured = structure(graph, builder.scopes, builder.module_classes, state, opaque,
                               builder.module_inputs, builder.module_outputs,
                               builder.module_output_names, builder.module_renames)
    except Exception:  # noqa: BLE001 - structuring is a nicety: never fail an import on it
        log.exception("structuring the imported graph into blocks failed; kept flat")
        structured = None
    if structured is not None:
        graph, state, opaque = structured.graph, structured.state, structured.opaque
        log.info("structured %d nodes as %d block instances of %d definitions",
                 len(builder.graph), structured.blocks, structured.definitions)
    else:
        auto_layout(graph)
    project = Project(graph, name=name[:200], description=description)
    return ImportResult(project, state, opaque, notes)


def verify(result: ImportResult, original: Callable[..., Any],
           inputs: list[torch.Tensor]) -> ImportResult:
    """Compile the graph, load the weights and compare with ``original`` (max abs diff)."""
    analysis = analyze(result.project.graph)
    if not analysis.is_valid:
        raise ImportModelError("the imported graph has errors (please report this):\n" +
                               analysis.summary())
    model = compile_graph(result.project.graph, analysis)
    missing, unexpected = model.load_state_dict(result.state_dict, strict=False)
    if missing or unexpected:
        raise ImportModelError(f"the imported weights do not fit the graph (missing "
                               f"{missing[:5]}, unexpected {unexpected[:5]}); please report this")
    model.eval()
    with torch.no_grad():
        got, want = model(*inputs), original(*inputs)
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = [w for w in _flat_tensors(want)]
    result.max_abs_diff = max((float((g.float() - w.float()).abs().max()) for g, w in
                               zip(got, want)), default=0.0)
    return result


def _flat_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flat_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flat_tensors(v)]
    return []
