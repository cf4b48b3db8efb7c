"""How each catalogue ``module`` name becomes torch: a module to build and the fx node(s) to
emit for it. Layers torch has a module for (``nn.*``) need no code here; the few that are
plain tensor ops (Add, Concat, Reshape, ...) or need their output picked apart (RNN/LSTM/GRU)
are the entries of ``EMITTERS``; the newer families keep theirs, and LayerForge's own modules
(``ops.*`` names), in ``backend/compile/ops/``.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import torch
import torch.fx as fx
from torch import nn

from backend.compile import ops
from backend.compile.ops.base import Emitter, chain, create_op
from graph.layers import LayerSpec
from graph.model import Node
from graph.shapes import TensorType



Builder = Callable[[LayerSpec, Node, list[TensorType]], nn.Module]

# Modules that are not plain ``nn.*`` classes, by catalogue module name. The modules that
# define them register here (backbones, model files, opaque ops): a model file compiles its own
# graph, so this module must not import them (that was an import circle).
BUILDERS: dict[str, Builder] = {}


def register_builder(module: str, builder: Builder) -> None:
    """Declare how the catalogue module name ``module`` becomes a torch module."""
    BUILDERS[module] = builder


def build_module(spec: LayerSpec, node: Node, inputs: list[TensorType]) -> nn.Module | None:
    """The torch module for a node (None for layers that are plain tensor ops)."""
    kind, _, cls_name = spec.module.partition(".")
    if kind in ("nn", "recurrent"):
        return getattr(nn, cls_name)(**spec.module_args(inputs, node.params))
    if kind == "ops" and spec.module in ops.MODULES:
        args = spec.module_args(inputs, node.params)
        module = ops.MODULES[spec.module](**args)
        module.layerforge_args = args  # the Code view prints the constructor from these
        return module
    if spec.module in BUILDERS:
        return BUILDERS[spec.module](spec, node, inputs)
    if spec.module in EMITTERS:
        return None
    raise KeyError(f"no torch implementation for module {spec.module!r} of {spec.type}")


_create = create_op


def _call_layer(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    return _create(g, "call_module", node.name, tuple(args), node.name, node.name)


def _cat(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    return _create(g, "call_function", torch.cat, (tuple(args), node.params["dim"]), node.name,
                   node.name)


def _reshape(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    # Per-sample dims are known exactly; -1 stands for the batch.
    return _create(g, "call_method", "reshape", (args[0], (-1, *out.dims)), node.name, node.name)


def _permute(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    return _create(g, "call_method", "permute", (args[0], tuple(node.params["dims"])),
                   node.name, node.name)


def _recurrent(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    """nn.RNN/LSTM/GRU return (sequence, state): keep the sequence, or its final step.

    For a bidirectional layer the final step of the backward direction is at t = 0, so "last"
    joins the forward half of the last step with the backward half of the first (as Keras'
    Bidirectional(return_sequences=False) does).
    """
    p = node.params
    call = _create(g, "call_module", node.name, tuple(args), f"{node.name}_raw", node.name)
    seq = _create(g, "call_function", operator.getitem, (call, 0), f"{node.name}_seq", node.name)
    if p["output"] == "sequence":
        return seq
    everything = slice(None)
    if not p["bidirectional"]:
        return _create(g, "call_function", operator.getitem, (seq, (everything, -1)), node.name,
                       node.name)
    h = p["hidden_size"]
    fwd = _create(g, "call_function", operator.getitem, (seq, (everything, -1, slice(None, h))),
                  f"{node.name}_fwd", node.name)
    bwd = _create(g, "call_function", operator.getitem, (seq, (everything, 0, slice(h, None))),
                  f"{node.name}_bwd", node.name)
    return _create(g, "call_function", torch.cat, ((fwd, bwd), -1), node.name, node.name)


EMITTERS: dict[str, Emitter] = {
    "add": chain(operator.add),
    "mul": chain(operator.mul),
    "cat": _cat,
    "reshape": _reshape,
    "permute": _permute,
    "recurrent.RNN": _recurrent,
    "recurrent.LSTM": _recurrent,
    "recurrent.GRU": _recurrent,
    **ops.EMITTERS,
}


def emitter_for(spec: LayerSpec) -> Emitter:
    """How a layer appears in the generated forward()."""
    return EMITTERS.get(spec.module, _call_layer)
