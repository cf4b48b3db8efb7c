"""Which catalogue layer a traced torch operation is, read from what the operation does.

``MODULE_RULES``: a ``torch.nn`` module (and a few library modules by their class, such as
torchvision's StochasticDepth and LayerNorm2d) -> (layer type, parameters), or None when the
module's settings have no layer (then it is imported as an Opaque node).

``FUNCTION_RULES``: a functional op, torch function or tensor method (``F.relu``,
``torch.flatten``, ``x.mean(dims)``, ``x.chunk(2, 1)``, ``x * gate``...) -> a rule that reads
the call (:class:`Call`) and returns the layer(s) it becomes. A rule returns one
:class:`Step` or a list of them (a Concat of more inputs than one Concat takes is a chain;
``x[:, 0]`` is a Slice then a Squeeze); in a list, :data:`PREV` as a source is the step
before. Nothing here knows a model's source lines: users' models come from many libraries.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from graph.shapes import TensorType

MAX_INPUTS = 8  # most inputs a merge layer (Concat, Add...) takes: more become a chain


# ---- modules ---------------------------------------------------------------------------------

def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _ntuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _conv(type_name: str, rank: int):
    def rule(m):
        if m.padding_mode != "zeros" or isinstance(m.padding, str) or len(set(m.dilation)) != 1:
            return None
        one = (lambda v: v[0]) if rank == 1 else tuple
        return type_name, {"out_channels": m.out_channels, "kernel_size": one(m.kernel_size),
                           "stride": one(m.stride), "padding": one(m.padding),
                           "dilation": m.dilation[0], "groups": m.groups,
                           "bias": m.bias is not None}
    return rule


def _convtranspose(type_name: str, rank: int):
    def rule(m):
        if m.groups != 1 or len(set(m.dilation)) != 1 or m.padding_mode != "zeros":
            return None
        one = (lambda v: v[0]) if rank == 1 else tuple
        return type_name, {"out_channels": m.out_channels, "kernel_size": one(m.kernel_size),
                           "stride": one(m.stride), "padding": one(m.padding),
                           "output_padding": one(m.output_padding), "dilation": m.dilation[0],
                           "bias": m.bias is not None}
    return rule


def pool_params(type_name: str, rank: int, kernel, stride, padding, dilation=1,
                ceil_mode=False, count_include_pad=True, divisor_override=None,
                return_indices=False):
    """(type, params) of a max/avg pool with torch's arguments, or None without a layer."""
    if _ntuple(dilation, rank) != (1,) * rank or not count_include_pad or divisor_override \
            or return_indices:
        return None
    k = _ntuple(kernel, rank)
    s = k if stride is None or stride == [] or stride == () else _ntuple(stride, rank)
    p = _ntuple(padding, rank)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        return None
    s = tuple(0 if si == ki else si for si, ki in zip(s, k))  # 0: "the window" in the catalogue
    params = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": bool(ceil_mode)}
    if rank == 1:
        params.update(kernel_size=k[0], stride=s[0], padding=p[0])
    return type_name, params


def _pool(type_name: str, rank: int):
    def rule(m):
        return pool_params(type_name, rank, m.kernel_size, m.stride, m.padding,
                           getattr(m, "dilation", 1), m.ceil_mode,
                           getattr(m, "count_include_pad", True),
                           getattr(m, "divisor_override", None),
                           getattr(m, "return_indices", False))
    return rule


def _adaptive(type_name: str, rank: int):
    def rule(m):
        if getattr(m, "return_indices", False):
            return None
        size = _ntuple(m.output_size, rank)
        if None in size:
            return None
        return type_name, {"output_size": size[0] if rank == 1 else size}
    return rule


def _batchnorm(type_name: str):
    def rule(m):
        if not (m.affine and m.track_running_stats) or m.momentum is None:
            return None
        return type_name, {"eps": m.eps, "momentum": m.momentum}
    return rule


def _instancenorm(type_name: str):
    def rule(m):
        if m.momentum is None:
            return None
        return type_name, {"eps": m.eps, "momentum": m.momentum, "affine": m.affine,
                           "track_running_stats": m.track_running_stats}
    return rule


def _layernorm(m: nn.LayerNorm):
    if getattr(m, "bias", True) is None and m.elementwise_affine:
        return None
    return "LayerNorm", {"dims": len(m.normalized_shape), "eps": m.eps,
                         "elementwise_affine": m.elementwise_affine}


def _rmsnorm(m: nn.RMSNorm):
    if m.eps is None:
        return None
    return "RMSNorm", {"dims": len(m.normalized_shape), "eps": m.eps,
                       "elementwise_affine": m.elementwise_affine}


def _upsample(m: nn.Upsample):
    return upsample_params(m.size, m.scale_factor, m.mode, m.align_corners)


def upsample_params(size, scale, mode, align_corners):
    """Upsample (a whole scale factor) or Resize (a fixed size), or None."""
    if size is not None and scale is None:
        size = _ntuple(size, 2) if not isinstance(size, (tuple, list)) else tuple(size)
        if mode not in ("nearest", "bilinear", "bicubic", "area") or \
                (align_corners and mode not in ("bilinear", "bicubic")):
            return None
        return "Resize", {"size": size, "mode": mode, "align_corners": bool(align_corners)}
    if size is not None or scale is None:
        return None
    if isinstance(scale, (tuple, list)):
        if len(set(scale)) != 1:
            return None
        scale = scale[0]
    if float(scale) != int(scale) or mode not in ("nearest", "bilinear", "linear") or \
            align_corners:
        return None
    return "Upsample", {"scale_factor": int(scale), "mode": mode}


def _recurrent(type_name: str):
    def rule(m):
        if not m.batch_first or getattr(m, "proj_size", 0):
            return None
        params = {"hidden_size": m.hidden_size, "num_layers": m.num_layers,
                  "bidirectional": m.bidirectional, "dropout": m.dropout, "bias": m.bias}
        if type_name == "RNN":
            params["nonlinearity"] = m.nonlinearity
        return type_name, params
    return rule


def _transformer(m: nn.TransformerEncoderLayer):
    act = m.activation
    name = "gelu" if act is F.gelu or isinstance(act, nn.GELU) else \
        "relu" if act is F.relu or isinstance(act, nn.ReLU) else None
    if name is None or not m.self_attn.batch_first:
        return None
    return "TransformerEncoderLayer", {"nhead": m.self_attn.num_heads,
                                       "dim_feedforward": m.linear1.out_features,
                                       "dropout": m.dropout.p, "activation": name,
                                       "norm_first": m.norm_first}


def _prelu(m: nn.PReLU):
    return "PReLU", {"num_parameters": "shared" if m.num_parameters == 1 else "per channel",
                     "init": min(max(float(m.init), 0.0), 1.0)}


def attention_params(m: nn.MultiheadAttention) -> dict[str, Any] | None:
    """MultiheadAttention/CrossAttention parameters, or None when the module has settings
    the layers do not (extra key/value biases, zero attention, batch second)."""
    if not m.batch_first or m.bias_k is not None or m.add_zero_attn:
        return None
    return {"num_heads": m.num_heads, "dropout": m.dropout,
            "bias": m.in_proj_bias is not None}


def _stochastic_depth(m):
    p = getattr(m, "p", getattr(m, "drop_prob", None))
    mode = getattr(m, "mode", "row")
    if not isinstance(p, (int, float)) or mode not in ("row", "batch"):
        return None
    return "StochasticDepth", {"p": float(p), "mode": mode}


def _channel_layernorm(m):
    if len(m.normalized_shape) != 1 or (m.elementwise_affine and m.bias is None):
        return None
    return "ChannelLayerNorm", {"eps": m.eps, "elementwise_affine": m.elementwise_affine}


def _window_attention(m):
    """torchvision's ShiftedWindowAttention (V1: V2's cosine attention and position MLP
    are another class, not matched)."""
    if len(m.window_size) != 2 or len(m.shift_size) != 2 or \
            any(s >= w for s, w in zip(m.shift_size, m.window_size)):
        return None  # the layer refuses a shift of a whole window (its mask is arbitrary)
    return "ShiftedWindowAttention", {
        "num_heads": m.num_heads, "window_size": tuple(m.window_size),
        "shift_size": tuple(m.shift_size), "qkv_bias": m.qkv.bias is not None,
        "proj_bias": m.proj.bias is not None,
        "attention_dropout": float(m.attention_dropout), "dropout": float(m.dropout)}


def _patch_merging(m):
    norm = m.norm
    if type(norm) is not nn.LayerNorm or not norm.elementwise_affine or norm.bias is None \
            or m.reduction.bias is not None:
        return None
    return "PatchMerging", {"eps": norm.eps}


def _simple(type_name: str, *attrs: str):
    return lambda m: (type_name, {a: getattr(m, a) for a in attrs})


MODULE_RULES: dict[type, Callable[[nn.Module], tuple[str, dict[str, Any]] | None]] = {
    nn.Linear: lambda m: ("Linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.Conv1d: _conv("Conv1d", 1), nn.Conv2d: _conv("Conv2d", 2), nn.Conv3d: _conv("Conv3d", 3),
    nn.ConvTranspose1d: _convtranspose("ConvTranspose1d", 1),
    nn.ConvTranspose2d: _convtranspose("ConvTranspose2d", 2),
    nn.ConvTranspose3d: _convtranspose("ConvTranspose3d", 3),
    nn.MaxPool1d: _pool("MaxPool1d", 1), nn.MaxPool2d: _pool("MaxPool2d", 2),
    nn.MaxPool3d: _pool("MaxPool3d", 3), nn.AvgPool1d: _pool("AvgPool1d", 1),
    nn.AvgPool2d: _pool("AvgPool2d", 2), nn.AvgPool3d: _pool("AvgPool3d", 3),
    nn.AdaptiveAvgPool1d: _adaptive("AdaptiveAvgPool1d", 1),
    nn.AdaptiveAvgPool2d: _adaptive("AdaptiveAvgPool2d", 2),
    nn.AdaptiveAvgPool3d: _adaptive("AdaptiveAvgPool3d", 3),
    nn.AdaptiveMaxPool1d: _adaptive("AdaptiveMaxPool1d", 1),
    nn.AdaptiveMaxPool2d: _adaptive("AdaptiveMaxPool2d", 2),
    nn.Upsample: _upsample,
    nn.BatchNorm1d: _batchnorm("BatchNorm1d"), nn.BatchNorm2d: _batchnorm("BatchNorm2d"),
    nn.BatchNorm3d: _batchnorm("BatchNorm3d"),
    nn.InstanceNorm1d: _instancenorm("InstanceNorm1d"),
    nn.InstanceNorm2d: _instancenorm("InstanceNorm2d"),
    nn.LayerNorm: _layernorm, nn.RMSNorm: _rmsnorm,
    nn.GroupNorm: lambda m: ("GroupNorm", {"num_groups": m.num_groups, "eps": m.eps,
                                           "affine": m.affine}),
    nn.LocalResponseNorm: lambda m: ("LocalResponseNorm", {"size": m.size, "alpha": m.alpha,
                                                           "beta": m.beta, "k": m.k}),
    nn.ReLU: _simple("ReLU"), nn.SiLU: _simple("SiLU"), nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"), nn.ReLU6: _simple("ReLU6"), nn.Hardswish: _simple("Hardswish"),
    nn.Hardsigmoid: _simple("Hardsigmoid"), nn.SELU: _simple("SELU"), nn.Mish: _simple("Mish"),
    nn.Softsign: _simple("Softsign"), nn.GELU: _simple("GELU", "approximate"),
    nn.LeakyReLU: _simple("LeakyReLU", "negative_slope"),
    nn.Hardtanh: _simple("Hardtanh", "min_val", "max_val"),
    nn.ELU: _simple("ELU", "alpha"), nn.CELU: _simple("CELU", "alpha"),
    nn.Softplus: _simple("Softplus", "beta", "threshold"), nn.GLU: _simple("GLU", "dim"),
    nn.PReLU: _prelu,
    nn.Softmax: lambda m: None if m.dim is None else ("Softmax", {"dim": m.dim}),
    nn.LogSoftmax: lambda m: None if m.dim is None else ("LogSoftmax", {"dim": m.dim}),
    nn.Dropout: _simple("Dropout", "p"), nn.Dropout1d: _simple("Dropout1d", "p"),
    nn.Dropout2d: _simple("Dropout2d", "p"), nn.Dropout3d: _simple("Dropout3d", "p"),
    nn.AlphaDropout: _simple("AlphaDropout", "p"),
    nn.Identity: _simple("Identity"),
    nn.Flatten: _simple("Flatten", "start_dim", "end_dim"),
    nn.Unflatten: lambda m: ("Unflatten", {"dim": m.dim, "sizes": tuple(m.unflattened_size)}),
    nn.PixelShuffle: _simple("PixelShuffle", "upscale_factor"),
    nn.PixelUnshuffle: _simple("PixelUnshuffle", "downscale_factor"),
    nn.ChannelShuffle: _simple("ChannelShuffle", "groups"),
    nn.Embedding: lambda m: None if m.padding_idx is not None or m.max_norm is not None else
    ("Embedding", {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}),
    nn.RNN: _recurrent("RNN"), nn.LSTM: _recurrent("LSTM"), nn.GRU: _recurrent("GRU"),
    nn.TransformerEncoderLayer: _transformer,
}

# Modules outside torch.nn that are one catalogue layer, by class (module path and name):
# they are kept whole when tracing, as torch.nn's own layers are. A subclass with its own
# forward() is not matched (only these exact classes).
LIBRARY_RULES: dict[str, Callable[[nn.Module], tuple[str, dict[str, Any]] | None]] = {
    "torchvision.ops.stochastic_depth.StochasticDepth": _stochastic_depth,
    "timm.layers.drop.DropPath": _stochastic_depth,
    "torchvision.models.convnext.LayerNorm2d": _channel_layernorm,
    "torchvision.models.swin_transformer.ShiftedWindowAttention": _window_attention,
    "torchvision.models.swin_transformer.PatchMerging": _patch_merging,
}


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def module_rule(module: nn.Module):
    """The rule for a module's class (torch.nn or a known library layer), or None."""
    cls = type(module)
    return MODULE_RULES.get(cls) or LIBRARY_RULES.get(class_path(cls))


# ---- calls: functions, tensor methods, operators ---------------------------------------------

class _Prev:
    def __repr__(self) -> str:
        return "PREV"


PREV = _Prev()  # in a list of steps: the node the step before made


@dataclass(frozen=True)
class Back:
    """In a list of steps: the node made ``steps`` steps back (PREV is Back(1))."""

    steps: int


@dataclass
class Step:
    """One layer a call becomes: type, a short name for the node, params, sources (fx nodes
    or PREV, each optionally (source, port)) and weights (state_dict entries)."""

    type: str
    op: str
    params: dict[str, Any]
    sources: list[Any]
    weights: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Call:
    """What a rule reads: the fx node, its target, arguments, and the recorded values."""

    n: fx.Node
    args: list[Any]
    kwargs: dict[str, Any]
    values: dict[fx.Node, Any]
    is_tensor: Callable[[Any], bool]  # an fx node whose value comes from the inputs
    parameter: Callable[[Any], torch.Tensor | None]  # a get_attr's nn.Parameter (or None)
    training: bool = False

    @property
    def x(self) -> fx.Node | None:
        a = self.args[0] if self.args else None
        return a if self.is_tensor(a) else None

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        """Positional argument ``i`` (0 = the tensor) or keyword ``name``, as a plain value:
        an fx node computed from sizes is replaced by its recorded value."""
        value = self.args[i] if len(self.args) > i else self.kwargs.get(name, default)
        return self.plain(value)

    def plain(self, value: Any) -> Any:
        if isinstance(value, fx.Node):
            return self.values.get(value, value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.plain(v) for v in value)
        return value

    def type_of(self, node: fx.Node) -> TensorType:
        t = self.values[node]
        return TensorType(tuple(t.shape[1:]), "float" if t.is_floating_point() else "long")

    @property
    def out(self) -> Any:
        return self.values[self.n]

    def only(self, *names: str) -> bool:
        """No keyword arguments besides ``names``."""
        return set(self.kwargs) <= set(names)


Rule = Callable[[Call], "Step | list[Step] | None"]


def _ints(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _unary(type_name: str, op: str, **defaults: Any) -> Rule:
    """An elementwise op whose extra arguments (positional, in order, or by keyword) are the
    layer's params ``defaults``; ``inplace`` is ignored."""
    names = list(defaults)

    def rule(c: Call):
        if c.x is None or not c.only(*names, "inplace") or len(c.args) > 1 + len(names) + 1:
            return None
        params = {k: c.arg(i + 1, k, d) for i, (k, d) in enumerate(defaults.items())}
        if any(isinstance(v, fx.Node) for v in params.values()):
            return None
        return Step(type_name, op, params, [c.x])
    return rule


def _softmax(type_name: str) -> Rule:
    def rule(c: Call):
        dim = c.arg(1, "dim")
        if c.x is None or not _ints(dim) or not c.only("dim", "_stacklevel", "dtype") or \
                c.kwargs.get("dtype") is not None or len(c.args) > 3:
            return None
        return Step(type_name, type_name.lower(), {"dim": dim}, [c.x])
    return rule


def _clamp(c: Call):
    lo, hi = c.arg(1, "min"), c.arg(2, "max")
    if c.x is None or not c.only("min", "max") or isinstance(lo, (fx.Node, torch.Tensor)) or \
            isinstance(hi, (fx.Node, torch.Tensor)):
        return None
    if lo is not None and hi is not None and lo < hi:
        if (lo, hi) == (0, 6):
            return Step("ReLU6", "relu6", {}, [c.x])
        return Step("Hardtanh", "clamp", {"min_val": float(lo), "max_val": float(hi)}, [c.x])
    if lo == 0 and hi is None:
        return Step("ReLU", "relu", {}, [c.x])
    return None


def _pool_call(type_name: str, rank: int, maximum: bool) -> Rule:
    def rule(c: Call):
        if c.x is None:
            return None
        if maximum:
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode",
                     "return_indices")
            defaults = (None, None, 0, 1, False, False)
        else:
            names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override")
            defaults = (None, None, 0, False, True, None)
        if not c.only(*names):
            return None
        a = {k: c.arg(i + 1, k, d) for i, (k, d) in enumerate(zip(names, defaults))}
        if maximum:
            mapped = pool_params(type_name, rank, a["kernel_size"], a["stride"], a["padding"],
                                 a["dilation"], a["ceil_mode"],
                                 return_indices=a["return_indices"])
        else:
            mapped = pool_params(type_name, rank, a["kernel_size"], a["stride"], a["padding"],
                                 ceil_mode=a["ceil_mode"],
                                 count_include_pad=a["count_include_pad"],
                                 divisor_override=a["divisor_override"])
        return Step(mapped[0], "pool", mapped[1], [c.x]) if mapped else None
    return rule


def _adaptive_call(type_name: str, rank: int) -> Rule:
    def rule(c: Call):
        size = c.arg(1, "output_size")
        if c.x is None or not c.only("output_size", "return_indices") or \
                c.arg(2, "return_indices", False):
            return None
        size = _ntuple(size, rank)
        if not all(_ints(s) for s in size):
            return None
        return Step(type_name, "pool", {"output_size": size[0] if rank == 1 else size}, [c.x])
    return rule


def _flatten(c: Call):
    start, end = c.arg(1, "start_dim", 0), c.arg(2, "end_dim", -1)
    rank = c.out.dim() if isinstance(c.out, torch.Tensor) else 0
    if c.x is None or not c.only("start_dim", "end_dim") or not (_ints(start) and _ints(end)):
        return None
    if start % c.values[c.x].dim() == 0 or rank < 1:
        return None
    return Step("Flatten", "flatten", {"start_dim": start, "end_dim": end}, [c.x])


def _same_batch(c: Call) -> bool:
    return isinstance(c.out, torch.Tensor) and c.out.dim() >= 1 and \
        c.out.shape[0] == c.values[c.x].shape[0]


def _reshape(c: Call):
    if c.x is None or c.kwargs or not _same_batch(c) or c.out.dim() < 2:
        return None
    return Step("Reshape", "reshape", {"shape": tuple(c.out.shape[1:])}, [c.x])


def _permute(c: Call):
    rest = c.args[1:]
    dims = c.plain(rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else
                   c.kwargs.get("dims", rest))
    if c.x is None or not c.only("dims") or not dims or not all(_ints(d) for d in dims):
        return None
    rank = c.values[c.x].dim()
    dims = tuple(d % rank for d in dims)
    if dims[0] != 0:
        return None
    if dims == tuple(range(rank)):
        return []  # changes nothing
    return Step("Permute", "permute", {"dims": dims}, [c.x])


def _transpose(c: Call):
    a, b = c.arg(1, "dim0"), c.arg(2, "dim1")
    if c.x is None or not c.only("dim0", "dim1") or not (_ints(a) and _ints(b)):
        return None
    rank = c.values[c.x].dim()
    if a % rank == 0 or b % rank == 0:
        return None
    if a % rank == b % rank:
        return []
    return Step("Transpose", "transpose", {"dim0": a, "dim1": b}, [c.x])


def _squeeze(c: Call):
    dim = c.arg(1, "dim")
    if c.x is None or not c.only("dim") or not _ints(dim) or dim % c.values[c.x].dim() == 0:
        return None
    if c.values[c.x].shape[dim] != 1:
        return []  # torch leaves an axis that is not 1
    return Step("Squeeze", "squeeze", {"dim": dim}, [c.x])


def _unsqueeze(c: Call):
    dim = c.arg(1, "dim")
    if c.x is None or not c.only("dim") or not _ints(dim) or dim % c.out.dim() == 0:
        return None
    return Step("Unsqueeze", "unsqueeze", {"dim": dim}, [c.x])


def _unflatten(c: Call):
    dim, sizes = c.arg(1, "dim"), c.arg(2, "sizes")
    if c.x is None or not c.only("dim", "sizes") or not _ints(dim) or \
            dim % c.values[c.x].dim() == 0 or not all(_ints(s) for s in sizes or ()):
        return None
    return Step("Unflatten", "unflatten", {"dim": dim, "sizes": tuple(sizes)}, [c.x])


def _alias(c: Call):
    """Calls that change nothing a graph can see (contiguous, clone, float on a float...)."""
    if c.x is None or c.kwargs or len(c.args) > 1 or c.out.dtype != c.values[c.x].dtype:
        return None
    return []


def _dropout(type_name: str) -> Rule:
    """F.dropout(x, p, training=self.training): the layer (which drops only while training);
    a call that drops whatever the mode (training=True) has none."""
    def rule(c: Call):
        p, training = c.arg(1, "p", 0.5), c.arg(2, "training", True)
        if c.x is None or not c.only("p", "training", "inplace") or training is not False or \
                not isinstance(p, (int, float)):
            return None
        return Step(type_name, "dropout", {"p": float(p)}, [c.x])
    return rule


def _stochastic_depth_call(c: Call):
    p, mode, training = c.arg(1, "p"), c.arg(2, "mode"), c.arg(3, "training", True)
    if c.x is None or training or not isinstance(p, (int, float)) or mode not in ("row",
                                                                                   "batch"):
        return None
    return Step("StochasticDepth", "stochastic_depth", {"p": float(p), "mode": mode}, [c.x])


def _reduction(type_name: str) -> Rule:
    def rule(c: Call):
        dim, keepdim = c.arg(1, "dim"), c.arg(2, "keepdim", False)
        if c.x is None or not c.only("dim", "keepdim") or dim is None or len(c.args) > 3 or \
                not isinstance(keepdim, bool) or not c.values[c.x].is_floating_point():
            return None
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        rank = c.values[c.x].dim()
        if not dims or not all(_ints(d) for d in dims) or any(d % rank == 0 for d in dims):
            return None
        return Step(type_name, type_name.lower(), {"dim": dims, "keepdim": keepdim}, [c.x])
    return rule


def _pieces(type_name: str) -> Rule:
    """chunk/split: one layer with an output port per piece (the getitems take the ports)."""
    def rule(c: Call):
        second = "chunks" if type_name == "Chunk" else "split_size_or_sections"
        count, dim = c.arg(1, second, c.kwargs.get("split_size")), c.arg(2, "dim", 0)
        if c.x is None or not isinstance(c.out, (tuple, list)) or not _ints(dim) or \
                dim % c.values[c.x].dim() == 0 or not 2 <= len(c.out) <= 16:
            return None
        if type_name == "Chunk" and _ints(count) and len(c.out) == count:
            return Step("Chunk", "chunk", {"dim": dim, "chunks": count}, [c.x])
        sizes = tuple(t.shape[dim] for t in c.out)
        return Step("Split", "split", {"dim": dim, "sizes": sizes}, [c.x])
    return rule


def _cat(c: Call):
    items = c.args[0] if c.args else c.kwargs.get("tensors")
    dim = c.arg(1, "dim", 0)
    if not isinstance(items, (list, tuple)) or not c.only("tensors", "dim") or not _ints(dim):
        return None
    rank = c.out.dim()
    if dim % rank == 0:
        return None
    token = _class_token(c, items, dim % rank)
    if token is not None:
        return token
    if not items or not all(c.is_tensor(a) for a in items):
        return None
    if len(items) == 1:
        return []  # a cat of one tensor is that tensor
    steps, rest = [], list(items)
    while rest:  # more than MAX_INPUTS tensors: a chain of Concats (the same values)
        take = MAX_INPUTS - (1 if steps else 0)
        head, rest = rest[:take], rest[take:]
        if steps and not head:
            break
        sources = ([PREV] if steps else []) + head
        if len(sources) == 1:
            break
        steps.append(Step("Concat", "cat", {"inputs": len(sources), "dim": dim}, sources))
    return steps


def _class_token(c: Call, items, dim: int):
    """torch.cat([token.expand(n, -1, -1), x], dim=1): a learned token put in front of a
    sequence (N, T, E) -> the ClassToken layer, with the token as its weight."""
    if len(items) != 2 or dim != 1 or c.out.dim() != 3 or not c.is_tensor(items[1]):
        return None
    token = items[0]
    if not isinstance(token, fx.Node) or c.is_tensor(token) or token.target not in (
            "expand", torch.Tensor.expand, "repeat", "expand_as") or \
            not isinstance(token.args[0], fx.Node):
        return None
    weight = c.parameter(token.args[0])
    e = c.values[items[1]].shape[-1]
    if weight is None or tuple(weight.shape) != (1, 1, e):
        return None
    return Step("ClassToken", "class_token", {}, [items[1]], {"weight": weight})


def _broadcasts(gate: torch.Tensor, x: torch.Tensor) -> bool:
    """``gate`` has x's rank and, on each axis, x's size or 1 (not all of x's sizes)."""
    return gate.dim() == x.dim() and gate.shape[0] == x.shape[0] and \
        all(g in (1, s) for g, s in zip(gate.shape, x.shape)) and gate.shape != x.shape


def _binary(kind: str) -> Rule:
    """x + y, x - y, x * y, x / y: merge layers for two tensors (BroadcastMultiply for a
    gate), Scale for a number, PositionEmbedding for a learned (1, T, E) added to (N, T, E)."""
    merge = {"add": "Add", "sub": "Subtract", "mul": "Multiply", "div": "Divide"}[kind]

    def rule(c: Call):
        if len(c.args) != 2 or (c.kwargs and kind != "div") or \
                c.kwargs.get("rounding_mode") is not None:
            return None
        a, b = c.args
        ta, tb = c.is_tensor(a), c.is_tensor(b)
        out = c.out
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return None
        if ta and tb:
            va, vb = c.values[a], c.values[b]
            if va.shape == vb.shape == out.shape and va.dtype == vb.dtype:
                if kind in ("add", "mul"):
                    return Step(merge, kind, {"inputs": 2}, [a, b])
                return Step(merge, kind, {}, [a, b])
            if kind == "mul" and _broadcasts(vb, va) and va.shape == out.shape:
                return Step("BroadcastMultiply", "mul", {}, [a, b])
            if kind == "mul" and _broadcasts(va, vb) and vb.shape == out.shape:
                return Step("BroadcastMultiply", "mul", {}, [b, a])
            return None
        x, other = (a, b) if ta else (b, a)
        if not (ta or tb) or c.values[x].shape != out.shape:
            return None
        number = c.plain(other)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or \
                not math.isfinite(number):
            weight = c.parameter(other) if isinstance(other, fx.Node) else None
            return None if weight is None else _learned(kind, x, weight, out)
        number = float(number)
        if kind == "add":
            return Step("Scale", "add", {"scale": 1.0, "shift": number}, [x])
        if kind == "sub":
            return Step("Scale", "sub", {"scale": 1.0 if ta else -1.0,
                                         "shift": -number if ta else number}, [x])
        if kind == "mul":
            return Step("Scale", "mul", {"scale": number, "shift": 0.0}, [x])
        if ta and number != 0:
            return Step("Scale", "div", {"scale": 1.0 / number, "shift": 0.0}, [x])
        return None
    return rule


def _learned(kind: str, x: fx.Node, weight: torch.Tensor, out: torch.Tensor):
    """x + p, x * p with an nn.Parameter p: a PositionEmbedding for (1, T, E) added to a
    sequence; otherwise a Parameter layer (p per sample) and Add/Multiply, or for a p with
    size 1 on some axes (a learned per-channel scale) BroadcastMultiply."""
    per_sample = tuple(out.shape[1:])
    shape = tuple(weight.shape)
    if len(shape) == len(per_sample) + 1 and shape[0] == 1:
        shape = shape[1:]
    if kind not in ("add", "mul") or len(shape) != len(per_sample) or \
            any(w not in (1, s) for w, s in zip(shape, per_sample)):
        return None
    if kind == "add" and out.dim() == 3 and tuple(weight.shape) == (1, *per_sample):
        return Step("PositionEmbedding", "pos_embedding", {}, [x], {"weight": weight})
    param = Step("Parameter", "param", {"size": shape}, [x], {"weight": weight.reshape(shape)})
    if shape == per_sample:
        merge = "Add" if kind == "add" else "Multiply"
        return [param, Step(merge, kind, {"inputs": 2}, [x, PREV])]
    if kind == "mul":
        return [param, Step("BroadcastMultiply", "mul", {}, [x, PREV])]
    return None


def linear_steps(x: fx.Node, rank: int, out: torch.Tensor, params: dict[str, Any],
                 weights: dict[str, torch.Tensor], op: str = "linear") -> list[Step]:
    """A Linear on (N, ..., F) with more axes than the layer takes (it takes (N, F) and
    (N, T, F), so that a missing Flatten is caught): the axes before F are merged by a
    Reshape, and a second Reshape restores them."""
    linear = Step("Linear", op, params, [x], weights)
    if rank <= 3:
        return [linear]
    per_sample = tuple(out.shape[1:])
    merged = math.prod(per_sample[:-1])
    first = Step("Reshape", f"{op}_rows", {"shape": (merged, -1)}, [x])
    linear.sources = [PREV]
    return [first, linear, Step("Reshape", f"{op}_shape", {"shape": per_sample}, [PREV])]


def _neg(c: Call):
    if c.x is None or c.kwargs or len(c.args) != 1:
        return None
    return Step("Scale", "neg", {"scale": -1.0, "shift": 0.0}, [c.x])


def _matmul(c: Call):
    if len(c.args) != 2 or c.kwargs or not all(c.is_tensor(a) for a in c.args):
        return None
    a, b = (c.values[v] for v in c.args)
    if a.dim() < 3 or a.dim() != b.dim() or a.shape[:-2] != b.shape[:-2]:
        return None
    return Step("MatMul", "matmul", {}, list(c.args))


def _einsum(c: Call):
    """A two-operand einsum that is a batched matrix product ("bhid,bhjd->bhij" is
    q @ kᵀ): MatMul, with Transposes where an operand or the result has its last two axes
    the other way round."""
    if not c.args or not isinstance(c.args[0], str) or c.kwargs:
        return None
    operands = c.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    equation = c.args[0].replace(" ", "")
    if len(operands) != 2 or not all(c.is_tensor(o) for o in operands) or \
            "->" not in equation or "." in equation:
        return None
    inputs, out = equation.split("->")
    if inputs.count(",") != 1:
        return None
    a, b = inputs.split(",")
    if len(set(a)) != len(a) or len(set(b)) != len(b) or len(set(out)) != len(out):
        return None
    batch = [ch for ch in a if ch in b and ch in out]
    k = [ch for ch in a if ch in b and ch not in out]
    i = [ch for ch in a if ch not in b]
    j = [ch for ch in b if ch not in a]
    nb = len(batch)
    if len(k) != 1 or len(i) != 1 or len(j) != 1 or nb < 1 or list(a[:nb]) != batch or \
            list(b[:nb]) != batch or list(out[:nb]) != batch or len(a) != nb + 2 or \
            len(b) != nb + 2 or set(out[nb:]) != {i[0], j[0]}:
        return None
    steps: list[Step] = []
    left, right = operands
    if a[nb:] != i[0] + k[0]:
        steps.append(Step("Transpose", "transpose", {"dim0": -2, "dim1": -1}, [left]))
        left = PREV
    matmul_sources = [left, right]
    if b[nb:] != k[0] + j[0]:
        steps.append(Step("Transpose", "transpose", {"dim0": -2, "dim1": -1}, [right]))
        matmul_sources = [left if left is not PREV else Back(2), PREV]
    steps.append(Step("MatMul", "matmul", {}, matmul_sources))
    if out[nb:] != i[0] + j[0]:
        steps.append(Step("Transpose", "transpose", {"dim0": -2, "dim1": -1}, [PREV]))
    return steps


def _layer_norm(c: Call):
    shape, weight, bias, eps = (c.arg(1, "normalized_shape"), c.args[2] if len(c.args) > 2
                                else c.kwargs.get("weight"), c.args[3] if len(c.args) > 3
                                else c.kwargs.get("bias"), c.arg(4, "eps", 1e-5))
    if c.x is None or not isinstance(shape, (tuple, list, torch.Size)) or \
            not isinstance(eps, float):
        return None
    if weight is None and bias is None:
        return Step("LayerNorm", "layer_norm", {"dims": len(shape), "eps": eps,
                                                "elementwise_affine": False}, [c.x])
    w = c.parameter(weight) if isinstance(weight, fx.Node) else None
    b = c.parameter(bias) if isinstance(bias, fx.Node) else None
    if w is None or b is None:
        return None
    return Step("LayerNorm", "layer_norm", {"dims": len(shape), "eps": eps,
                                            "elementwise_affine": True}, [c.x],
                {"weight": w, "bias": b})


def _linear(c: Call):
    weight = c.args[1] if len(c.args) > 1 else c.kwargs.get("weight")
    bias = c.args[2] if len(c.args) > 2 else c.kwargs.get("bias")
    w = c.parameter(weight) if isinstance(weight, fx.Node) else None
    b = c.parameter(bias) if isinstance(bias, fx.Node) else None
    if c.x is None or w is None or w.dim() != 2 or (bias is not None and b is None):
        return None
    weights = {"weight": w} if b is None else {"weight": w, "bias": b}
    return linear_steps(c.x, c.values[c.x].dim(), c.out,
                        {"out_features": w.shape[0], "bias": b is not None}, weights)


def _pad(c: Call):
    pad, mode, value = c.arg(1, "pad"), c.arg(2, "mode", "constant"), c.arg(3, "value", None)
    if c.x is None or not isinstance(pad, (tuple, list)) or not all(_ints(p) for p in pad) \
            or min(pad, default=0) < 0 or len(pad) % 2:
        return None
    value = 0.0 if value is None else float(value)
    if mode == "constant":
        mode = "zeros" if value == 0.0 else "constant"
    if mode not in ("zeros", "constant", "reflect", "replicate", "circular"):
        return None
    return Step("Pad", "pad", {"mode": mode, "padding": tuple(pad), "value": value}, [c.x])


def _interpolate(c: Call):
    size, scale = c.arg(1, "size"), c.arg(2, "scale_factor")
    mode, align = c.arg(3, "mode", "nearest"), c.arg(4, "align_corners")
    if c.x is None or not c.only("size", "scale_factor", "mode", "align_corners",
                                 "recompute_scale_factor", "antialias") or \
            c.kwargs.get("recompute_scale_factor") or c.kwargs.get("antialias") or \
            c.values[c.x].dim() != 4:
        return None
    mapped = upsample_params(size, scale, mode, align)
    return Step(mapped[0], "resize", mapped[1], [c.x]) if mapped else None


def _getitem(c: Call):
    """x[:, a:b], x[..., i], x[:, 0]: one axis sliced or picked (picked: Slice then Squeeze)."""
    x, index = c.args[0], c.plain(c.args[1])
    if c.x is None or c.kwargs:
        return None
    rank = c.values[x].dim()
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index:
        at = index.index(Ellipsis)
        if Ellipsis in index[at + 1:]:
            return None
        index = index[:at] + (slice(None),) * (rank - len(index) + 1) + index[at + 1:]
    if len(index) > rank:
        return None
    steps: list[Step] = []
    source: Any = x
    picked: list[int] = []
    for axis, item in enumerate(index):
        if item == slice(None):
            continue
        if axis == 0:
            return None
        if _ints(item):
            if not -c.values[x].shape[axis] <= item < c.values[x].shape[axis]:
                return None
            end = item + 1 if item != -1 else 0
            steps.append(Step("Slice", "select", {"dim": axis, "start": item, "end": end,
                                                  "step": 1}, [source]))
            picked.append(axis)
        elif isinstance(item, slice) and all(v is None or _ints(v) for v in
                                             (item.start, item.stop, item.step)):
            if (item.step or 1) < 1 or item.stop == 0:
                return None
            steps.append(Step("Slice", "slice", {"dim": axis, "start": item.start or 0,
                                                 "end": item.stop or 0, "step": item.step or 1},
                              [source]))
        else:
            return None
        source = PREV
    for axis in reversed(picked):  # squeeze the picked axes, the last first
        steps.append(Step("Squeeze", "select", {"dim": axis}, [PREV]))
    return steps or []


_ADD = (operator.add, operator.iadd, torch.add, "add", "add_", "__add__", "__radd__")
_SUB = (operator.sub, operator.isub, torch.sub, "sub", "sub_", "__sub__", "__rsub__")
_MUL = (operator.mul, operator.imul, torch.mul, "mul", "mul_", "__mul__", "__rmul__")
_DIV = (operator.truediv, operator.itruediv, torch.div, "div", "div_", "__truediv__")


def _table() -> dict[Any, Rule]:
    table: dict[Any, Rule] = {}

    def put(targets, rule: Rule) -> None:
        for t in targets if isinstance(targets, tuple) else (targets,):
            table[t] = rule

    unary = {
        "ReLU": (F.relu, torch.relu, "relu", "relu_", F.relu_, torch.relu_),
        "ReLU6": (F.relu6,), "Hardswish": (F.hardswish,), "Hardsigmoid": (F.hardsigmoid,),
        "SiLU": (F.silu,), "Sigmoid": (torch.sigmoid, F.sigmoid, "sigmoid", "sigmoid_"),
        "Tanh": (torch.tanh, F.tanh, "tanh", "tanh_"), "Mish": (F.mish,), "SELU": (F.selu,),
        "Softsign": (F.softsign,),
    }
    for type_name, targets in unary.items():
        put(targets, _unary(type_name, type_name.lower()))
    put(F.gelu, _unary("GELU", "gelu", approximate="none"))
    put(F.leaky_relu, _unary("LeakyReLU", "lrelu", negative_slope=0.01))
    put(F.elu, _unary("ELU", "elu", alpha=1.0))
    put(F.celu, _unary("CELU", "celu", alpha=1.0))
    put(F.softplus, _unary("Softplus", "softplus", beta=1.0, threshold=20.0))
    put(F.glu, _unary("GLU", "glu", dim=-1))
    put(F.hardtanh, _unary("Hardtanh", "hardtanh", min_val=-1.0, max_val=1.0))
    put((torch.clamp, torch.clip, "clamp", "clip"), _clamp)
    put((F.softmax, torch.softmax, "softmax"), _softmax("Softmax"))
    put((F.log_softmax, torch.log_softmax, "log_softmax"), _softmax("LogSoftmax"))
    for rank in (1, 2, 3):
        put(getattr(F, f"max_pool{rank}d"), _pool_call(f"MaxPool{rank}d", rank, True))
        put(getattr(torch, f"max_pool{rank}d"), _pool_call(f"MaxPool{rank}d", rank, True))
        put(getattr(F, f"avg_pool{rank}d"), _pool_call(f"AvgPool{rank}d", rank, False))
        put(getattr(F, f"adaptive_avg_pool{rank}d"),
            _adaptive_call(f"AdaptiveAvgPool{rank}d", rank))
    put(torch.avg_pool1d, _pool_call("AvgPool1d", 1, False))
    put(F.adaptive_max_pool1d, _adaptive_call("AdaptiveMaxPool1d", 1))
    put(F.adaptive_max_pool2d, _adaptive_call("AdaptiveMaxPool2d", 2))
    put((torch.flatten, "flatten"), _flatten)
    put(("view", "reshape", torch.reshape), _reshape)
    put(("permute", torch.permute), _permute)
    put(("transpose", torch.transpose, "swapaxes", torch.swapaxes, "swapdims"), _transpose)
    put(("squeeze", torch.squeeze), _squeeze)
    put(("unsqueeze", torch.unsqueeze), _unsqueeze)
    put(("unflatten", torch.unflatten), _unflatten)
    put(("contiguous", "clone", torch.clone, "float"), _alias)
    for fn, type_name in ((F.dropout, "Dropout"), (F.dropout1d, "Dropout1d"),
                          (F.dropout2d, "Dropout2d"), (F.dropout3d, "Dropout3d"),
                          (F.alpha_dropout, "AlphaDropout")):
        put(fn, _dropout(type_name))
    put(("mean", torch.mean), _reduction("Mean"))
    put(("sum", torch.sum), _reduction("Sum"))
    put(("amax", torch.amax), _reduction("Max"))
    put(("chunk", torch.chunk), _pieces("Chunk"))
    put(("split", torch.split), _pieces("Split"))
    put((torch.cat, torch.concat, torch.concatenate), _cat)
    put(_ADD, _binary("add"))
    put(_SUB, _binary("sub"))
    put(_MUL, _binary("mul"))
    put(_DIV, _binary("div"))
    put((operator.neg, torch.neg, "neg", "__neg__"), _neg)
    put((torch.matmul, operator.matmul, torch.bmm, "matmul", "bmm", "__matmul__"), _matmul)
    put(F.layer_norm, _layer_norm)
    put(torch.einsum, _einsum)
    put(F.linear, _linear)
    put(F.pad, _pad)
    put((F.interpolate, F.upsample), _interpolate)
    put(operator.getitem, _getitem)
    return table


FUNCTION_RULES: dict[Any, Rule] = _table()

# Functions outside torch that are one catalogue layer, by module path and name.
LIBRARY_FUNCTIONS: dict[str, Rule] = {
    "torchvision.ops.stochastic_depth.stochastic_depth": _stochastic_depth_call,
}


def function_rule(target: Any) -> Rule | None:
    """The rule for a call's target (a function, or a method name), or None."""
    try:
        rule = FUNCTION_RULES.get(target)
    except TypeError:  # an unhashable target
        return None
    if rule is None and callable(target):
        name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
        rule = LIBRARY_FUNCTIONS.get(name)
    return rule
