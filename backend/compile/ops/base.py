"""What the op families share: how an fx op is created for a graph node, and how one of
LayerForge's own modules is declared so the Code view can print its class.

An own module is a plain ``nn.Module`` subclass whose source needs only ``torch``, ``nn``,
``F`` (torch.nn.functional) and ``math``: the generated Python includes its class text as it
is (``inspect.getsource``), so exported code runs without LayerForge.
"""
from __future__ import annotations

from typing import Any, Callable

import torch.fx as fx

from graph.model import Node
from graph.shapes import TensorType

Emitter = Callable[[fx.Graph, Node, list[fx.Node], TensorType], fx.Node]


def create_op(g: fx.Graph, op: str, target: Any, args: tuple, name: str, layer: str,
              kwargs: dict[str, Any] | None = None) -> fx.Node:
    """One fx node belonging to the graph node ``layer`` (its name is kept for error reports)."""
    node = g.create_node(op, target, args, kwargs or {}, name=name)
    node.meta["layer"] = layer
    return node


def call_function(target: Callable, *extra: Any, **kwargs: Any) -> Emitter:
    """An emitter calling ``target(inputs..., *extra, **kwargs)`` (kwargs may be callables of
    the node's parameters: ``dim=lambda p: p["dim"]``)."""
    def emit(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
        p = node.params
        values = {k: (v(p) if callable(v) else v) for k, v in kwargs.items()}
        rest = tuple(v(p) if callable(v) else v for v in extra)
        return create_op(g, "call_function", target, (*args, *rest), node.name, node.name,
                         values)
    return emit


def chain(target: Callable) -> Emitter:
    """in1 op in2 op ... inK, one fx node per step; the last one carries the layer's name."""
    def emit(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
        result = args[0]
        for i, arg in enumerate(args[1:]):
            name = node.name if i == len(args) - 2 else f"{node.name}_{i}"
            result = create_op(g, "call_function", target, (result, arg), name, node.name)
        return result
    return emit
