"""Torch side of the catalogue's arithmetic layers that torch has no single nn module for."""
from __future__ import annotations

import operator
from typing import Callable

import torch
import torch.fx as fx

from backend.compile.ops.base import Emitter, call_function, chain, create_op
from graph.model import Node
from graph.shapes import TensorType


def _average(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    """(in1 + ... + inK) / K."""
    total = args[0]
    for i, arg in enumerate(args[1:]):
        total = create_op(g, "call_function", operator.add, (total, arg),
                          f"{node.name}_sum{i}", node.name)
    return create_op(g, "call_function", operator.truediv, (total, len(args)), node.name,
                     node.name)


def _scale_shift(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    """x * scale + shift (x * scale - 0.5 for a negative shift: it reads better)."""
    p = node.params
    scaled = create_op(g, "call_function", operator.mul, (args[0], p["scale"]),
                       f"{node.name}_scaled", node.name)
    op, shift = (operator.sub, -p["shift"]) if p["shift"] < 0 else (operator.add, p["shift"])
    return create_op(g, "call_function", op, (scaled, shift), node.name, node.name)


def _reduction(target: Callable) -> Emitter:
    return call_function(target, dim=lambda p: tuple(p["dim"]), keepdim=lambda p: p["keepdim"])


EMITTERS: dict[str, Emitter] = {  # catalogue module name -> how it appears in forward()
    "sub": call_function(operator.sub),
    "div": call_function(operator.truediv),
    "maximum": chain(torch.maximum),
    "minimum": chain(torch.minimum),
    "average": _average,
    "matmul": call_function(torch.matmul),
    "broadcast_mul": call_function(operator.mul),
    "scale_shift": _scale_shift,
    "reduce_mean": _reduction(torch.mean),
    "reduce_sum": _reduction(torch.sum),
    "reduce_amax": _reduction(torch.amax),
}
MODULES: dict[str, type] = {}      # catalogue module name ("ops.X") -> own nn.Module class
