"""Torch side of the catalogue's conv and pooling layers that torch has no single nn module
for: global pooling (a reduction over every spatial axis), the separable convolution and
max unpooling."""
from __future__ import annotations

import torch
from torch import nn

from backend.compile.ops.base import Emitter, create_op


def _global_pool(reduce) -> Emitter:
    """(N, C, ...) -> (N, C): the spatial axes flattened into one, then reduced."""
    def emit(g, node, args, out):
        flat = create_op(g, "call_function", torch.flatten, (args[0], 2), f"{node.name}_flat",
                         node.name)
        return create_op(g, "call_function", reduce, (flat, -1), node.name, node.name)
    return emit


class SeparableConv2d(nn.Module):
    """A depthwise k x k convolution (each channel filtered on its own), then a pointwise 1 x 1
    convolution that mixes the channels (Keras' SeparableConv2D: the bias is on the pointwise
    step)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                   padding=padding, dilation=dilation, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MaxUnpool2d(nn.Module):
    """Undoes a MaxPool2d: each value goes back to the position its index names in a zero
    plane of ``output_size`` (height, width), as nn.MaxUnpool2d does; written as a scatter,
    which TorchScript tracing and ONNX export carry."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = tuple(output_size)

    def forward(self, x, indices):
        n, c = x.shape[0], x.shape[1]
        height, width = self.output_size
        flat = x.new_zeros(n, c, height * width)
        flat = flat.scatter(2, indices.flatten(2), x.flatten(2))
        return flat.reshape(n, c, height, width)


EMITTERS: dict[str, Emitter] = {  # catalogue module name -> how it appears in forward()
    "global_avg_pool": _global_pool(torch.mean),
    "global_max_pool": _global_pool(torch.amax),
}
MODULES: dict[str, type] = {      # catalogue module name ("ops.X") -> own nn.Module class
    "ops.SeparableConv2d": SeparableConv2d,
    "ops.MaxUnpool2d": MaxUnpool2d,
}
