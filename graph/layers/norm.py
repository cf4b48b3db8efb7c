"""Normalization layers."""
from __future__ import annotations

from math import prod

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank

_EPS = ParamSpec("eps", "float", 1e-5, "Added to the variance for numerical stability.",
                 min=1e-12, max=1.0)
_MOMENTUM = ParamSpec("momentum", "float", 0.1, "How fast the running statistics follow the "
                      "batches.", min=0.0, max=1.0)


def _batchnorm(ranks, layout, fix=""):
    def rule(ins, p):
        expect_rank(ins[0], ranks, layout, fix)
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
    aliases=('BN', 'batch normalization'),
)
BATCHNORM2D = LayerSpec(
    type="BatchNorm2d", category="Normalization",
    description="Normalizes each channel of an image batch (N, C, H, W).",
    params=(_EPS, _MOMENTUM), infer=_batchnorm((4,), "(N, C, H, W)"),
    module="nn.BatchNorm2d", module_args=_bn_args, cost=_bn_cost, default_name="bn",
    aliases=('BN', 'batch normalization', 'BatchNormalization'),
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
    aliases=('LN', 'layer normalization', 'LayerNormalization'),
)



# ---- more normalization layers (issue 14) ---------------------------------------------------

BATCHNORM3D = LayerSpec(
    type="BatchNorm3d", category="Normalization",
    description="Normalizes each channel of a volume batch (N, C, D, H, W), e.g. video clips or "
                "3-D scans, over the batch.",
    params=(_EPS, _MOMENTUM),
    infer=_batchnorm((5,), "(N, C, D, H, W)", "for an image (N, C, H, W) use BatchNorm2d, for "
                     "(N, C, L) or (N, F) BatchNorm1d"),
    module="nn.BatchNorm3d", module_args=_bn_args, cost=_bn_cost, default_name="bn",
)

_AFFINE = ParamSpec("affine", "bool", True, "Learn a scale and shift per channel.")


def _divisors(n: int, near: int) -> str:
    """Some numbers of groups that divide ``n`` channels, the closest to ``near``, in words."""
    found = sorted(sorted((d for d in range(1, n + 1) if n % d == 0),
                          key=lambda d: abs(d - near))[:6])
    if len(found) == 1:
        return str(found[0])
    return ", ".join(map(str, found[:-1])) + f" or {found[-1]}"


def _groupnorm(ins, p):
    x = ins[0]
    expect_rank(x, (2, 3, 4, 5), "(N, C, ...) with channels in dimension 1")
    c, g = x.dims[0], p["num_groups"]
    if c % g:
        raise ShapeError(f"num_groups ({g}) must divide the number of channels ({c}) of {x}: "
                         f"choose {_divisors(c, g)}")
    return [x]


def _channels_cost(ins, outs, p):
    return (2 * ins[0].dims[0] if p["affine"] else 0), ins[0].numel


GROUPNORM = LayerSpec(
    type="GroupNorm", category="Normalization",
    description="Normalizes each sample over groups of channels, independent of the batch "
                "size: use it instead of BatchNorm when batches are small.",
    params=(ParamSpec("num_groups", "int", 4, "How many groups the channels are split into "
                      "(must divide the channels; 1 = all channels together).", min=1,
                      max=65536), _EPS, _AFFINE),
    infer=_groupnorm, module="nn.GroupNorm",
    module_args=lambda ins, p: {"num_groups": p["num_groups"], "num_channels": ins[0].dims[0],
                                "eps": p["eps"], "affine": p["affine"]},
    cost=_channels_cost, key_params=("num_groups",), default_name="gn",
)


def _instancenorm(rank: int, layout: str, fix: str):
    def rule(ins, p):
        x = ins[0]
        expect_rank(x, (rank,), layout, fix)
        if prod(x.dims[1:]) == 1:
            raise ShapeError(f"InstanceNorm normalizes each channel over its positions, but "
                             f"{x} has only one value per channel: use it where the "
                             f"{'length' if rank == 3 else 'image'} is larger than 1, or use "
                             f"BatchNorm")
        return [x]
    return rule


_INSTANCE_PARAMS = (
    _EPS, _MOMENTUM,
    ParamSpec("affine", "bool", False, "Learn a scale and shift per channel."),
    ParamSpec("track_running_stats", "bool", False, "Keep running averages of the statistics "
              "and use them at inference (off: every sample is normalized by its own)."),
)


def _instance_args(ins, p):
    return {"num_features": ins[0].dims[0], "eps": p["eps"], "momentum": p["momentum"],
            "affine": p["affine"], "track_running_stats": p["track_running_stats"]}


INSTANCENORM1D = LayerSpec(
    type="InstanceNorm1d", category="Normalization",
    description="Normalizes each channel of each sample (N, C, L) over its length, on its own "
                "(no mixing across the batch).",
    params=_INSTANCE_PARAMS,
    infer=_instancenorm(3, "(N, C, L)", "for a sequence (N, T, F) insert a Permute 0,2,1; for "
                        "features (N, F) use LayerNorm"),
    module="nn.InstanceNorm1d", module_args=_instance_args, cost=_channels_cost,
    default_name="inorm",
)
INSTANCENORM2D = LayerSpec(
    type="InstanceNorm2d", category="Normalization",
    description="Normalizes each channel of each image (N, C, H, W) over its pixels, on its "
                "own; common in style transfer and image generation.",
    params=_INSTANCE_PARAMS,
    infer=_instancenorm(4, "(N, C, H, W)", "for a flat vector insert a Reshape to C,H,W"),
    module="nn.InstanceNorm2d", module_args=_instance_args, cost=_channels_cost,
    default_name="inorm",
)


def _lrn(ins, p):
    expect_rank(ins[0], (3, 4, 5), "(N, C, L), (N, C, H, W) or (N, C, D, H, W)",
                "for features (N, F) use LayerNorm")
    return [ins[0]]


LOCALRESPONSENORM = LayerSpec(
    type="LocalResponseNorm", category="Normalization",
    description="Divides each value by the activity of the same position in neighbouring "
                "channels (AlexNet's LRN); today BatchNorm is usually the better choice.",
    params=(ParamSpec("size", "int", 5, "How many neighbouring channels are looked at.",
                      min=1, max=1024),
            ParamSpec("alpha", "float", 1e-4, "Weight of the neighbours' squared activity.",
                      min=0.0, max=10.0),
            ParamSpec("beta", "float", 0.75, "Exponent of the divisor.", min=0.0, max=10.0),
            ParamSpec("k", "float", 1.0, "Added to the divisor before the exponent.",
                      min=0.0, max=100.0)),
    infer=_lrn, module="nn.LocalResponseNorm",
    module_args=lambda ins, p: {"size": p["size"], "alpha": p["alpha"], "beta": p["beta"],
                                "k": p["k"]},
    cost=lambda ins, outs, p: (0, ins[0].numel * p["size"]), key_params=("size",),
    default_name="lrn", aliases=("LRN",),
)


def _rmsnorm(ins, p):
    x = ins[0]
    expect_rank(x, (2, 3, 4, 5), "(N, ..., F)")
    if p["dims"] > len(x.dims):
        raise ShapeError(f"dims {p['dims']} would normalize across the batch: a sample of {x} "
                         f"has only {len(x.dims)} dimension{'s' if len(x.dims) > 1 else ''}; "
                         f"set dims to at most {len(x.dims)}")
    return [x]


RMSNORM = LayerSpec(
    type="RMSNorm", category="Normalization",
    description="Scales each sample by the root mean square of its last dimension(s): a "
                "cheaper LayerNorm without mean subtraction, used in LLaMA-style transformers.",
    params=(ParamSpec("dims", "int", 1, "How many trailing dimensions to normalize over.",
                      min=1, max=4),
            ParamSpec("eps", "float", 1e-6, "Added to the mean square for numerical stability.",
                      min=1e-12, max=1.0),
            ParamSpec("elementwise_affine", "bool", True, "Learn a scale per value.")),
    infer=_rmsnorm, module="nn.RMSNorm",
    module_args=lambda ins, p: {"normalized_shape": _ln_shape(ins, p), "eps": p["eps"],
                                "elementwise_affine": p["elementwise_affine"]},
    cost=lambda ins, outs, p: (prod(_ln_shape(ins, p)) if p["elementwise_affine"] else 0,
                               ins[0].numel),
    key_params=("dims",), default_name="rms", aliases=("root mean square norm",),
)


def _channel_layernorm(ins, p):
    expect_rank(ins[0], (3, 4, 5), "(N, C, H, W) (or (N, C, L), (N, C, D, H, W))",
                "for features (N, F) or a sequence (N, T, F) use LayerNorm")
    return [ins[0]]


CHANNELLAYERNORM = LayerSpec(
    type="ChannelLayerNorm", category="Normalization",
    description="LayerNorm over the channels of (N, C, H, W) at each pixel (ConvNeXt's "
                "LayerNorm2d): normalizes every position's channel vector, independent of the "
                "batch.",
    params=(ParamSpec("eps", "float", 1e-6, "Added to the variance for numerical stability.",
                      min=1e-12, max=1.0),
            ParamSpec("elementwise_affine", "bool", True, "Learn a scale and shift per "
                      "channel.")),
    infer=_channel_layernorm, module="ops.ChannelLayerNorm",
    module_args=lambda ins, p: {"num_channels": ins[0].dims[0], "eps": p["eps"],
                                "elementwise_affine": p["elementwise_affine"]},
    cost=lambda ins, outs, p: (2 * ins[0].dims[0] if p["elementwise_affine"] else 0,
                               ins[0].numel),
    default_name="ln", aliases=("LayerNorm2d", "channels-first layer norm"),
)

SPECS = (BATCHNORM1D, BATCHNORM2D, BATCHNORM3D, LAYERNORM, GROUPNORM, INSTANCENORM1D,
         INSTANCENORM2D, LOCALRESPONSENORM, RMSNORM, CHANNELLAYERNORM)
