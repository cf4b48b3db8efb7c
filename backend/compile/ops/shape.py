"""Torch side of the catalogue's shape layers that torch has no single nn module for."""
from __future__ import annotations

import operator

import torch.fx as fx
from torch import nn
from torch.nn import functional as F

from backend.compile.ops.base import Emitter, create_op
from graph.layers.shape import slice_bounds
from graph.model import Node
from graph.shapes import TensorType


def _method(name: str, *params: str) -> Emitter:
    """An emitter calling the tensor method ``x.name(p[params[0]], ...)``."""
    def emit(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
        values = tuple(tuple(v) if isinstance(v, list) else v
                       for v in (node.params[k] for k in params))
        return create_op(g, "call_method", name, (args[0], *values), node.name, node.name)
    return emit


def _slice(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    p = node.params
    axis = p["dim"] % out.rank
    after = out.rank - 1 - axis
    if after < axis:  # x[..., start:end:step, :] reads better than x[:, :, :, start:end:step]
        index = (Ellipsis, slice_bounds(p), *(slice(None),) * after)
    else:             # x[:, start:end:step]
        index = (*(slice(None),) * axis, slice_bounds(p))
    return create_op(g, "call_function", operator.getitem, (args[0], index), node.name,
                     node.name)


def _pad(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    p = node.params
    kwargs = {}
    if p["mode"] == "constant":
        kwargs = {"value": p["value"]}
    elif p["mode"] != "zeros":
        kwargs = {"mode": p["mode"]}
    return create_op(g, "call_function", F.pad, (args[0], tuple(p["padding"])), node.name,
                     node.name, kwargs)


# Crop and CropToReference are own modules, not emitters: the centre offset (size - kept) // 2
# needs the input's size, and an emitter only sees the output type. Both read it from the
# tensor (x.shape), so the reference input stays an input of the traced/exported model.
class Crop(nn.Module):
    """Centre-crops the axes after the channels of x to ``size`` (L, or H, W, or D, H, W);
    an odd leftover row/column is dropped at the bottom/right."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        for axis, size in enumerate(self.size, start=2):
            x = x.narrow(axis, (x.shape[axis] - size) // 2, size)
        return x


class CropToReference(nn.Module):
    """Centre-crops every axis after the channels of x to the size that axis has in
    reference (U-Net skips); an odd leftover row/column is dropped at the bottom/right."""

    def forward(self, x, reference):
        for axis in range(2, x.dim()):
            size = reference.shape[axis]
            x = x.narrow(axis, (x.shape[axis] - size) // 2, size)
        return x


EMITTERS: dict[str, Emitter] = {  # catalogue module name -> how it appears in forward()
    "squeeze": _method("squeeze", "dim"),
    "unsqueeze": _method("unsqueeze", "dim"),
    "transpose": _method("transpose", "dim0", "dim1"),
    "split": _method("split", "sizes", "dim"),
    "chunk": _method("chunk", "chunks", "dim"),
    "slice": _slice,
    "pad": _pad,
}
MODULES: dict[str, type] = {       # catalogue module name ("ops.X") -> own nn.Module class
    "ops.Crop": Crop,
    "ops.CropToReference": CropToReference,
}
