"""Pooling and resampling layers: windowed max/average pooling, adaptive and global pooling,
max unpooling and upsampling."""
from __future__ import annotations

from math import prod
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec, expect_float, expect_rank

_LAYOUTS = {3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    """Output length of a pooling window along one axis, exactly as PyTorch computes it: the
    floor formula, or with ceil_mode the ceiling, minus the last window if it would start
    beyond the input and its left padding."""
    span = size + 2 * padding - kernel
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _windows(n: int, p: dict[str, Any]) -> tuple[tuple[int, ...], ...]:
    """kernel, stride (0 = the kernel) and padding of an n-axis pooling as tuples."""
    k = p["kernel_size"] if n > 1 else (p["kernel_size"],)
    s = p["stride"] if n > 1 else (p["stride"],)
    s = tuple(si if si > 0 else ki for si, ki in zip(s, k))  # stride 0 = same as kernel
    pd = p["padding"] if n > 1 else (p["padding"],)
    return k, s, pd


def _pool(rank: int, layout: str, unpadded_fit: bool = False):
    """The shape rule of a windowed pooling; ``unpadded_fit``: the window must also fit in the
    input without its padding (torch's avg_pool3d checks that)."""
    def rule(ins, p):
        x = ins[0]
        expect_rank(x, (rank,), layout)
        k, s, pd = _windows(rank - 2, p)
        for ki, pi in zip(k, pd):
            if pi * 2 > ki:
                raise ShapeError(f"padding ({pi}) must be at most half the kernel size ({ki})")
        if unpadded_fit:
            for axis, (n, ki) in enumerate(zip(x.dims[1:], k)):
                if n < ki:
                    raise ShapeError(f"the input {x} is smaller than the window ({ki}) on axis "
                                     f"{axis + 2} (padding does not count here): make the "
                                     f"window smaller or remove a pooling layer before it")
        ceil = p.get("ceil_mode", False)
        sizes = []
        for axis, (n, ki, si, pi) in enumerate(zip(x.dims[1:], k, s, pd)):
            o = pool_out(n, ki, si, pi, ceil)
            if o < 1:
                raise ShapeError(f"the input {x} is too small for a window of {ki} (padding "
                                 f"{pi}) on axis {axis + 2}: make the window smaller, add "
                                 f"padding, or remove a pooling layer before it")
            sizes.append(o)
        out = x.with_dims((x.dims[0], *sizes))
        if p.get("return_indices", False):
            return [out, out.with_dims(out.dims, dtype="long")]
        return [out]
    return rule


def _pool_args(ins, p) -> dict[str, Any]:
    k, s = p["kernel_size"], p["stride"]
    if isinstance(k, tuple):
        s = tuple(si if si > 0 else ki for si, ki in zip(s, k))
    elif s == 0:
        s = k
    args = {"kernel_size": k, "stride": s, "padding": p["padding"]}
    for extra in ("ceil_mode", "return_indices"):
        if extra in p:
            args[extra] = p[extra]
    return args


def _pool_cost(ins, outs, p) -> tuple[int, int]:
    k = p["kernel_size"] if isinstance(p["kernel_size"], tuple) else (p["kernel_size"],)
    return 0, outs[0].numel * prod(k)


_CEIL_MODE = ParamSpec("ceil_mode", "bool", False, "Round the output size up instead of down: "
                       "a last, partial window at the end is kept (it must start inside the "
                       "input or its left padding).")


def _pool_params(n: int) -> tuple[ParamSpec, ...]:
    if n == 1:
        return (ParamSpec("kernel_size", "int", 2, "Window length.", min=1, max=1024),
                ParamSpec("stride", "int", 0, "Step between windows (0 = the window length).",
                          min=0, max=1024),
                ParamSpec("padding", "int", 0, "Padding at both ends.", min=0, max=512),
                _CEIL_MODE)
    if n == 2:
        return (ParamSpec("kernel_size", "ints", (2, 2), "Window height and width.",
                          min=1, max=1024, length=2),
                ParamSpec("stride", "ints", (0, 0), "Step between windows (0 = the window "
                          "size).", min=0, max=1024, length=2),
                ParamSpec("padding", "ints", (0, 0), "Padding on each side.", min=0, max=512,
                          length=2),
                _CEIL_MODE)
    return (ParamSpec("kernel_size", "ints", (2, 2, 2), "Window depth, height and width.",
                      min=1, max=1024, length=3),
            ParamSpec("stride", "ints", (0, 0, 0), "Step between windows (0 = the window "
                      "size).", min=0, max=1024, length=3),
            ParamSpec("padding", "ints", (0, 0, 0), "Padding on each side.", min=0, max=512,
                      length=3),
            _CEIL_MODE)


def _maxpool2d_outputs(p: dict[str, Any]) -> tuple[PortSpec, ...]:
    if p.get("return_indices") is True:
        return (PortSpec("out"), PortSpec("indices", "Where each maximum was, for a "
                                                     "MaxUnpool2d (integers)."))
    return (PortSpec("out"),)


MAXPOOL1D = LayerSpec(
    type="MaxPool1d", category="Pooling",
    description="Keeps the largest value in each window along the length of (N, C, L).",
    params=_pool_params(1), infer=_pool(3, "(N, C, L)"), module="nn.MaxPool1d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)
MAXPOOL2D = LayerSpec(
    type="MaxPool2d", category="Pooling",
    description="Keeps the largest value in each window: halves H and W with a 2×2 window.",
    params=_pool_params(2) + (
        ParamSpec("return_indices", "bool", False, "Also output where each maximum was (an "
                  "'indices' port), for a MaxUnpool2d in a decoder."),),
    infer=_pool(4, "(N, C, H, W)"), module="nn.MaxPool2d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
    output_rule=_maxpool2d_outputs,
    aliases=('MaxPooling2D', 'max pooling', 'subsampling'),
)
MAXPOOL3D = LayerSpec(
    type="MaxPool3d", category="Pooling",
    description="Keeps the largest value in each window of a volume (N, C, D, H, W): halves "
                "depth, height and width with a 2×2×2 window.",
    params=_pool_params(3), infer=_pool(5, "(N, C, D, H, W)"), module="nn.MaxPool3d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)
AVGPOOL1D = LayerSpec(
    type="AvgPool1d", category="Pooling",
    description="Averages each window along the length of (N, C, L), smoothing and shortening "
                "the sequence.",
    params=_pool_params(1), infer=_pool(3, "(N, C, L)"), module="nn.AvgPool1d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)
AVGPOOL2D = LayerSpec(
    type="AvgPool2d", category="Pooling",
    description="Averages each window of the image.",
    params=_pool_params(2), infer=_pool(4, "(N, C, H, W)"), module="nn.AvgPool2d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
    aliases=('AveragePooling2D', 'average pooling', 'mean pooling'),
)
AVGPOOL3D = LayerSpec(
    type="AvgPool3d", category="Pooling",
    description="Averages each window of a volume (N, C, D, H, W).",
    params=_pool_params(3), infer=_pool(5, "(N, C, D, H, W)", unpadded_fit=True),
    module="nn.AvgPool3d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)


def _adaptive_rule(rank: int):
    layout = _LAYOUTS[rank]

    def rule(ins, p):
        x = ins[0]
        expect_rank(x, (rank,), layout)
        size = p["output_size"] if rank > 3 else (p["output_size"],)
        return [x.with_dims((x.dims[0], *size))]
    return rule


_adaptive = _adaptive_rule(4)


def _adaptive_params(n: int) -> tuple[ParamSpec, ...]:
    if n == 1:
        return (ParamSpec("output_size", "int", 1, "Output length.", min=1, max=4096),)
    names = "height and width" if n == 2 else "depth, height and width"
    return (ParamSpec("output_size", "ints", (1,) * n, f"Output {names}.", min=1, max=4096,
                      length=n),)


def _adaptive_spec(type_: str, rank: int, description: str, name: str = "pool") -> LayerSpec:
    return LayerSpec(
        type=type_, category="Pooling", description=description,
        params=_adaptive_params(rank - 2), infer=_adaptive_rule(rank), module=f"nn.{type_}",
        module_args=lambda ins, p: {"output_size": p["output_size"]},
        cost=lambda ins, outs, p: (0, ins[0].numel), key_params=("output_size",),
        default_name=name,
    )


ADAPTIVEAVGPOOL2D = LayerSpec(
    type="AdaptiveAvgPool2d", category="Pooling",
    description="Averages the image down to a fixed size whatever its input size "
                "(1×1 = global average pooling).",
    params=(ParamSpec("output_size", "ints", (1, 1), "Output height and width.", min=1,
                      max=4096, length=2),),
    infer=_adaptive, module="nn.AdaptiveAvgPool2d",
    module_args=lambda ins, p: {"output_size": p["output_size"]},
    cost=lambda ins, outs, p: (0, ins[0].numel), key_params=("output_size",), default_name="gap",
    aliases=('global average pooling', 'GAP'),
)
ADAPTIVEAVGPOOL1D = _adaptive_spec(
    "AdaptiveAvgPool1d", 3, "Averages a sequence (N, C, L) down to a fixed length whatever its "
    "input length (1 = the mean of each channel).", "gap")
ADAPTIVEMAXPOOL1D = _adaptive_spec(
    "AdaptiveMaxPool1d", 3, "Keeps the largest values of a sequence (N, C, L) in a fixed number "
    "of windows whatever its input length (1 = the maximum of each channel).")
ADAPTIVEMAXPOOL2D = _adaptive_spec(
    "AdaptiveMaxPool2d", 4, "Keeps the largest value of each region, bringing the image to a "
    "fixed size whatever its input size (1×1 = global max pooling).")
ADAPTIVEAVGPOOL3D = _adaptive_spec(
    "AdaptiveAvgPool3d", 5, "Averages a volume (N, C, D, H, W) down to a fixed size whatever "
    "its input size (1×1×1 = global average pooling).", "gap")


def _global(ins, p):
    x = ins[0]
    if x.rank < 3:
        fix = "it is already one value per feature: remove this layer"
        raise ShapeError(f"expects (N, C, ...) with at least one axis to pool over, e.g. "
                         f"(N, C, H, W), but gets {x}: {fix}", expected="(N, C, ...)", fix=fix)
    expect_float(x, "(N, C, ...)")
    return [x.with_dims((x.dims[0],))]


GLOBALAVGPOOL = LayerSpec(
    type="GlobalAvgPool", category="Pooling",
    description="Averages each channel over all its positions: (N, C, H, W) or any (N, C, ...) "
                "becomes (N, C), ready for a Linear classifier (no Flatten needed).",
    params=(), infer=_global, module="global_avg_pool",
    cost=lambda ins, outs, p: (0, ins[0].numel), default_name="gap",
    aliases=('GlobalAveragePooling2D', 'global average pooling'),
)
GLOBALMAXPOOL = LayerSpec(
    type="GlobalMaxPool", category="Pooling",
    description="Keeps the largest value of each channel over all its positions: (N, C, H, W) "
                "or any (N, C, ...) becomes (N, C), e.g. 'is this feature anywhere?'.",
    params=(), infer=_global, module="global_max_pool",
    cost=lambda ins, outs, p: (0, ins[0].numel), default_name="gmp",
    aliases=('GlobalMaxPooling2D', 'global max pooling'),
)


def _unpool_size(x, p: dict[str, Any]) -> tuple[int, ...]:
    """The (height, width) MaxUnpool2d restores (unchecked: the rule checks it)."""
    k, s, pd = _windows(2, p)
    return tuple(want or (n - 1) * si - 2 * pi + ki
                 for n, ki, si, pi, want in zip(x.dims[-2:], k, s, pd, p["output_size"]))


def _maxunpool2d(ins, p):
    x, idx = ins
    expect_rank(x, (4,), "(N, C, H, W)")
    fix = "connect the 'indices' output of the MaxPool2d (return_indices on) whose output " \
          "feeds 'in'"
    if idx.dtype != "long" or idx.dims != x.dims:
        what = "real numbers" if idx.dtype != "long" else "a different shape"
        raise ShapeError(f"expects on 'indices' the positions of the maxima, integers of the "
                         f"same shape as 'in' {x}, but gets {what} {idx}: {fix}", port=1,
                         expected=f"{x} integers", fix=fix)
    k, s, pd = _windows(2, p)
    sizes = []
    for axis, (n, ki, si, pi, want) in enumerate(zip(x.dims[1:], k, s, pd, p["output_size"])):
        o = (n - 1) * si - 2 * pi + ki
        if want:  # torch accepts any size a MaxPool2d with these settings could have pooled
            if not o - si < want < o + si:
                raise ShapeError(f"output_size {want} on axis {axis + 2} cannot have been "
                                 f"pooled to {n} with window {ki}, stride {si} and padding "
                                 f"{pi}: it must be between {o - si + 1} and {o + si - 1}; "
                                 f"use the size of the MaxPool2d's input")
            o = want
        if o < 1:
            raise ShapeError(f"padding {pi} is too large for {x}: the output would be empty; "
                             f"use the same settings as the MaxPool2d")
        sizes.append(o)
    return [x.with_dims((x.dims[0], *sizes))]


MAXUNPOOL2D = LayerSpec(
    type="MaxUnpool2d", category="Pooling",
    description="Undoes a MaxPool2d in a decoder (SegNet): puts each value back where its "
                "maximum was and zeros elsewhere. Give it the pool's settings and its indices.",
    params=(ParamSpec("kernel_size", "ints", (2, 2), "Window height and width of the "
                      "MaxPool2d being undone.", min=1, max=1024, length=2),
            ParamSpec("stride", "ints", (0, 0), "Its step between windows (0 = the window "
                      "size).", min=0, max=1024, length=2),
            ParamSpec("padding", "ints", (0, 0), "Its padding on each side.", min=0, max=512,
                      length=2),
            ParamSpec("output_size", "ints", (0, 0), "Height and width to restore, 0 = "
                      "(in - 1) × stride - 2 × padding + kernel. Set it to the MaxPool2d's "
                      "input size when the pool dropped a last row or column (e.g. 7 -> 3).",
                      min=0, max=65536, length=2)),
    infer=_maxunpool2d, module="ops.MaxUnpool2d",
    module_args=lambda ins, p: {"output_size": _unpool_size(ins[0], p)},
    inputs=(PortSpec("in", "The pooled values (MaxPool2d's 'out')."),
            PortSpec("indices", "Where the maxima were (MaxPool2d's 'indices').")),
    key_params=("kernel_size",), default_name="unpool",
)


def _upsample(ins, p):
    x = ins[0]
    expect_rank(x, (3, 4), "(N, C, L) or (N, C, H, W)")
    if p["mode"] == "bilinear" and x.rank != 4:
        raise ShapeError("bilinear upsampling needs an image (N, C, H, W); use mode 'nearest' "
                         "or 'linear' for (N, C, L)")
    if p["mode"] == "linear" and x.rank != 3:
        raise ShapeError("linear upsampling needs (N, C, L); use 'bilinear' for images")
    s = p["scale_factor"]
    return [x.with_dims((x.dims[0], *(d * s for d in x.dims[1:])))]


UPSAMPLE = LayerSpec(
    type="Upsample", category="Pooling",
    description="Enlarges the image (or sequence) by an integer factor.",
    params=(ParamSpec("scale_factor", "int", 2, "How many times larger.", min=1, max=64),
            ParamSpec("mode", "choice", "nearest", "How new values are filled in.",
                      choices=("nearest", "bilinear", "linear"))),
    infer=_upsample, module="nn.Upsample",
    module_args=lambda ins, p: {"scale_factor": float(p["scale_factor"]), "mode": p["mode"]},
    cost=lambda ins, outs, p: (0, outs[0].numel if p["mode"] != "nearest" else 0),
    key_params=("scale_factor", "mode"),
    aliases=('UpSampling2D', 'interpolate', 'nearest neighbour upsampling'),
)

SPECS = (MAXPOOL1D, MAXPOOL2D, MAXPOOL3D, AVGPOOL1D, AVGPOOL2D, AVGPOOL3D, ADAPTIVEAVGPOOL1D,
         ADAPTIVEAVGPOOL2D, ADAPTIVEAVGPOOL3D, ADAPTIVEMAXPOOL1D, ADAPTIVEMAXPOOL2D,
         GLOBALAVGPOOL, GLOBALMAXPOOL, MAXUNPOOL2D, UPSAMPLE)
