"""Normalization layers."""
from __future__ import annotations

from math import prod

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank

_EPS = ParamSpec("eps", "float", 1e-5, "Added to the variance for numerical stability.",
                 min=1e-12, max=1.0)
_MOMENTUM = ParamSpec("momentum", "float", 0.1, "How fast the running statistics follow the "
                      "batches.", min=0.0, max=1.0)


def _batchnorm(ranks, layout):
    def rule(ins, p):
        expect_rank(ins[0], ranks, layout)
        return [ins[0]]
    return rule


def _bn_args(ins, p):
    return {"num_features": ins[0].dims[0], "eps": p["eps"], "momentum": p["momentum"]}


def _bn_cost(ins, outs, p):
    return 2 * ins[0].dims[0], ins[0].numel


BATCHNORM1D = LayerSpec(
    type="BatchNorm1d", category="Normalization",
    description="Normalizes each feature (N, F) or channel (N, C, L) over the batch.",
    params=(_EPS, _MOMENTUM), infer=_batchnorm((2, 3), "(N, F) or (N, C, L)"),
    module="nn.BatchNorm1d", module_args=_bn_args, cost=_bn_cost, default_name="bn",
)
BATCHNORM2D = LayerSpec(
    type="BatchNorm2d", category="Normalization",
    description="Normalizes each channel of an image batch (N, C, H, W).",
    params=(_EPS, _MOMENTUM), infer=_batchnorm((4,), "(N, C, H, W)"),
    module="nn.BatchNorm2d", module_args=_bn_args, cost=_bn_cost, default_name="bn",
)


def _layernorm(ins, p):
    x = ins[0]
    expect_rank(x, (2, 3, 4, 5), "(N, ..., F)")
    if p["dims"] > len(x.dims):
        raise ShapeError(f"cannot normalize the last {p['dims']} dimensions of {x}")
    return [x]


def _ln_shape(ins, p):
    return tuple(ins[0].dims[-p["dims"]:])


LAYERNORM = LayerSpec(
    type="LayerNorm", category="Normalization",
    description="Normalizes each sample over its last dimension(s).",
    params=(ParamSpec("dims", "int", 1, "How many trailing dimensions to normalize over.",
                      min=1, max=4), _EPS,
            ParamSpec("elementwise_affine", "bool", True, "Learn a scale and shift.")),
    infer=_layernorm, module="nn.LayerNorm",
    module_args=lambda ins, p: {"normalized_shape": _ln_shape(ins, p), "eps": p["eps"],
                                "elementwise_affine": p["elementwise_affine"]},
    cost=lambda ins, outs, p: (2 * prod(_ln_shape(ins, p)) if p["elementwise_affine"] else 0,
                               ins[0].numel),
    default_name="ln",
)

SPECS = (BATCHNORM1D, BATCHNORM2D, LAYERNORM)
