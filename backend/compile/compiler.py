"""Graph -> torch.fx GraphModule.

Submodules are named after the graph's nodes (stable state_dict keys: ``conv1.weight``) and the
generated ``forward`` reads like hand-written code (``print(model.code)``). Input-dependent
constructor arguments (in_channels, in_features, input_size) come from inferred shapes.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from backend.errors import CompileError
from backend.compile.modules import build_module, emitter_for, register_builder
from graph.model import Graph
from graph.validate import Analysis, analyze


@dataclass(frozen=True)
class ModelSignature:
    """What goes in and comes out of a compiled model, in graph terms."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


def compile_graph(graph: Graph, analysis: Analysis | None = None,
                  class_name: str = "Network") -> fx.GraphModule:
    """Build the torch module for a valid graph; an invalid graph raises CompileError listing
    every error (it never reaches torch). A block instance becomes a nested GraphModule of
    its definition's class (state_dict keys ``stage1.conv1.weight``)."""
    analysis = analysis or analyze(graph)
    if not analysis.is_valid:
        raise CompileError("the network has errors:\n" + analysis.summary())
    nodes = {n.id: n for n in graph.nodes}
    fx_graph = fx.Graph()
    modules: dict[str, nn.Module] = {}
    values: dict[tuple[str, str], fx.Node] = {}

    inputs = [n for n in graph.nodes if n.type == "Input"]
    outputs = [n for n in graph.nodes if n.type == "Output"]
    for node in inputs:  # placeholders in file order: forward(image, ...)
        ph = fx_graph.placeholder(node.name)
        ph.meta["layer"] = node.name
        values[(node.id, "out")] = ph
    needed = _ancestors_of_outputs(graph, outputs)
    returned: dict[str, fx.Node] = {}
    for node_id in analysis.order:
        node = nodes[node_id]
        if node.type == "Input" or node_id not in needed:
            continue
        info = analysis.info[node_id]
        args = []
        for port in node.spec.input_ports(node.params):
            edge = next(e for e in graph.edges_into(node_id) if e.target_port == port.name)
            args.append(values[(edge.source, edge.source_port)])
        if node.type == "Output":
            returned[node_id] = args[0]
            continue
        in_types = [info.inputs[p.name] for p in node.spec.input_ports(node.params)]
        module = build_module(node.spec, node, in_types)
        if module is not None:
            modules[node.name] = module
        ports = node.spec.output_ports(node.params)
        result = emitter_for(node.spec)(fx_graph, node, args, info.outputs[ports[0].name])
        if len(ports) == 1:
            values[(node_id, ports[0].name)] = result
            continue
        # Several outputs (Split, MultiheadAttention...): the emitted value is a tuple, one
        # item per output port, each a named variable of the generated forward().
        for i, port in enumerate(ports):
            item = fx_graph.create_node("call_function", operator.getitem, (result, i), {},
                                        name=f"{node.name}_{port.name}")
            item.meta["layer"], item.meta["port"] = node.name, port.name
            values[(node_id, port.name)] = item
    results = [returned[o.id] for o in outputs]
    fx_graph.output(results[0] if len(results) == 1 else tuple(results))
    fx_graph.lint()
    root = nn.Module()
    for name, module in modules.items():
        root.add_module(name, module)
    model = fx.GraphModule(root, fx_graph, class_name=class_name)
    model.meta["signature"] = ModelSignature(tuple(n.name for n in inputs),
                                             tuple(n.name for n in outputs))
    return model


def _ancestors_of_outputs(graph: Graph, outputs) -> set[str]:
    import networkx as nx

    view = graph.nx_view()
    needed: set[str] = set()
    for o in outputs:
        needed |= nx.ancestors(view, o.id) | {o.id}
    return needed


class _LocatingInterpreter(fx.Interpreter):
    def run_node(self, n: fx.Node) -> Any:
        try:
            return super().run_node(n)
        except Exception as exc:
            raise _NodeFailure(n.meta.get("layer", n.name), exc) from exc


class _NodeFailure(Exception):
    def __init__(self, layer: str, exc: Exception) -> None:
        super().__init__(layer)
        self.layer, self.exc = layer, exc


def locate_failure(model: fx.GraphModule, *inputs: torch.Tensor) -> tuple[str, Exception] | None:
    """Re-run ``inputs`` op by op; returns (name of the layer that raised, its error) or None.

    Used after forward() failed, so the message can name the node on the canvas.
    """
    try:
        with torch.no_grad():
            _LocatingInterpreter(model).run(*inputs)
    except _NodeFailure as failure:
        return failure.layer, failure.exc
    except Exception:  # noqa: BLE001 - failed outside any node: nothing to locate
        return None
    return None


def _build_block(spec, node, inputs) -> fx.GraphModule:
    """A block instance: its definition's inner graph, compiled for this instance's inputs
    (each instance its own weights)."""
    definition = node.block
    module = compile_graph(definition.graph, definition.analysis_for(list(inputs)),
                           class_name=definition.name)
    module.meta["block"] = definition.name  # the Code view prints one class per block type
    return module


register_builder("block", _build_block)
