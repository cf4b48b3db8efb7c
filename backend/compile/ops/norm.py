"""Torch side of the catalogue's norm (and regularization) layers that torch has no single nn
module for. The classes' source is printed in the Code view as it is: only torch, nn, F and
math may appear in them.
"""
from __future__ import annotations

import torch
from torch import nn

from backend.compile.ops.base import Emitter


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels (dimension 1) of (N, C, ...) at every position, as
    ConvNeXt's LayerNorm2d: each pixel's channel vector gets mean 0 and variance 1, then a
    learned scale and shift per channel."""

    def __init__(self, num_channels, eps=1e-6, elementwise_affine=True):
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)  # biased, as LayerNorm's
        x = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            shape = (1, self.num_channels) + (1,) * (x.dim() - 2)
            x = x * self.weight.reshape(shape) + self.bias.reshape(shape)
        return x


class StochasticDepth(nn.Module):
    """Drops the whole input of a sample ('row') or of the batch ('batch') with probability p
    while training and scales what is kept by 1 / (1 - p); the identity at inference (as
    torchvision.ops.StochasticDepth)."""

    def __init__(self, p, mode="row"):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("row", "batch"):
            raise ValueError(f"mode has to be 'row' or 'batch', but got {mode!r}")
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        if self.mode == "row":
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
        else:
            shape = [1] * x.dim()
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            noise = noise / keep
        return x * noise


EMITTERS: dict[str, Emitter] = {}  # catalogue module name -> how it appears in forward()
MODULES: dict[str, type] = {       # catalogue module name ("ops.X") -> own nn.Module class
    "ops.ChannelLayerNorm": ChannelLayerNorm,
    "ops.StochasticDepth": StochasticDepth,
}
