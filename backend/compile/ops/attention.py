"""Torch side of the catalogue's attention layers that torch has no single nn module for.

``recurrent.MultiheadAttention`` is torch's own ``nn.MultiheadAttention`` (the backend builds
every ``nn``/``recurrent`` name from torch.nn); only its call needs an emitter, for the three
inputs and the head-averaged weights. The classes below are printed in the Code view as they
are, so they use only torch, nn, F and math.
"""
from __future__ import annotations

import math

import torch
import torch.fx as fx
import torch.nn.functional as F  # noqa: F401 - the printed classes may use F
from torch import nn

from backend.compile.ops.base import Emitter, create_op
from graph.model import Node
from graph.shapes import TensorType


def _attention(g: fx.Graph, node: Node, args: list[fx.Node], out: TensorType) -> fx.Node:
    """``attn(query, key, value)``: self-attention passes its one input three times,
    cross-attention (query, key_value, key_value). nn.MultiheadAttention returns the tuple
    (out, weights); the compiler takes the two output ports from it."""
    query, key_value = args[0], args[-1]
    return create_op(g, "call_module", node.name, (query, key_value, key_value), node.name,
                     node.name, {"need_weights": True, "average_attn_weights": True})


class Parameter(nn.Module):
    """A learned tensor of shape ``size``, the same for every sample: returns it repeated
    along the batch of ``x`` (only x's batch size is used)."""

    def __init__(self, size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*size))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        return self.weight.unsqueeze(0).expand(x.shape[0], *self.weight.shape)


class ClassToken(nn.Module):
    """Puts a learned token in front of a sequence: (N, T, E) -> (N, T + 1, E), as ViT's
    class token (which starts at zeros)."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """Adds a learned vector per position to a sequence (N, T, E) (initialized as ViT's,
    normal with std 0.02)."""

    def __init__(self, length, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, length, dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        return x + self.weight


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sine/cosine position encoding of "Attention Is All You Need" to a
    sequence (N, T, E): at position t, feature 2i gets sin(t / 10000^(2i/E)) and feature
    2i + 1 gets cos(t / 10000^(2i/E)). A buffer, not learned (and not saved: it is rebuilt)."""

    def __init__(self, length, dim):
        super().__init__()
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) *
                         (-math.log(10000.0) / dim))
        pe = torch.zeros(1, length, dim)
        pe[0, :, 0::2] = torch.sin(position * rate)
        pe[0, :, 1::2] = torch.cos(position * rate[:dim // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x):
        return x + self.pe


class Reparameterize(nn.Module):
    """The VAE sampling step: splits x into mean and log-variance along dim 1 and returns
    (z, mean, log_var), z = mean + exp(log_var / 2) * noise while training, z = mean in
    eval mode (so inference and exports are deterministic)."""

    def forward(self, x):
        mean, log_var = x.chunk(2, dim=1)
        if self.training:
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        else:
            z = mean
        return z, mean, log_var


# catalogue module name -> how it appears in forward()
EMITTERS: dict[str, Emitter] = {"recurrent.MultiheadAttention": _attention}
# catalogue module name ("ops.X") -> own nn.Module class
MODULES: dict[str, type] = {f"ops.{cls.__name__}": cls for cls in (
    Parameter, ClassToken, PositionEmbedding, SinusoidalPositionalEncoding, Reparameterize)}
