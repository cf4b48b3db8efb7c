"""Convolution, pooling and resampling layers."""
from __future__ import annotations

from math import prod
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank
from graph.shapes import TensorType


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution/pooling along one axis (PyTorch's floor formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _spatial(x: TensorType, kernel, stride, padding, dilation, what: str) -> tuple[int, ...]:
    out = []
    for axis, (n, k, s, pd, d) in enumerate(zip(x.dims[1:], kernel, stride, padding, dilation)):
        o = conv_out(n, k, s, pd, d)
        if o < 1:
            raise ShapeError(f"{what} of {x} is too small for kernel {k} (dilation {d}, padding "
                             f"{pd}) on axis {axis + 2}: make the kernel smaller, add padding, "
                             f"or remove a pooling layer before it")
        out.append(o)
    return tuple(out)


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups or c_out % groups:
        raise ShapeError(f"groups={groups} must divide both input channels ({c_in}) and "
                         f"out_channels ({c_out})")


def _conv1d(ins, p):
    x = ins[0]
    expect_rank(x, (3,), "(N, C, L)", "for a sequence (N, T, F) insert a Permute 0,2,1")
    _check_groups(x.dims[0], p["out_channels"], p["groups"])
    (length,) = _spatial(x, (p["kernel_size"],), (p["stride"],), (p["padding"],),
                         (p["dilation"],), "the input length")
    return [x.with_dims((p["out_channels"], length))]


def _conv2d(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)", "for a flat vector insert a Reshape to C,H,W")
    _check_groups(x.dims[0], p["out_channels"], p["groups"])
    hw = _spatial(x, p["kernel_size"], p["stride"], p["padding"], (p["dilation"],) * 2,
                  "the image")
    return [x.with_dims((p["out_channels"], *hw))]


def _conv_cost(ins, outs, p) -> tuple[int, int]:
    c_in, c_out, groups = ins[0].dims[0], p["out_channels"], p["groups"]
    k = p["kernel_size"] if isinstance(p["kernel_size"], tuple) else (p["kernel_size"],)
    per_out = (c_in // groups) * prod(k)
    params = c_out * per_out + (c_out if p["bias"] else 0)
    return params, outs[0].numel * per_out


_CONV_COMMON = (
    ParamSpec("out_channels", "int", 16, "Number of filters (output channels).", min=1, max=65536),
)


def _conv_tail(dims: int) -> tuple[ParamSpec, ...]:
    if dims == 1:
        k = ParamSpec("kernel_size", "int", 3, "Width of each filter.", min=1, max=1024)
        s = ParamSpec("stride", "int", 1, "Step between filter positions.", min=1, max=1024)
        pd = ParamSpec("padding", "int", 0, "Zeros added at both ends.", min=0, max=1024)
    else:
        k = ParamSpec("kernel_size", "ints", (3, 3), "Height and width of each filter.",
                      min=1, max=1024, length=2)
        s = ParamSpec("stride", "ints", (1, 1), "Step between filter positions (rows, columns).",
                      min=1, max=1024, length=2)
        pd = ParamSpec("padding", "ints", (0, 0), "Zeros added on each side (rows, columns); "
                       "kernel 3 with padding 1 keeps the size.", min=0, max=1024, length=2)
    return (
        k, s, pd,
        ParamSpec("dilation", "int", 1, "Spacing between filter taps.", min=1, max=64),
        ParamSpec("groups", "int", 1, "Split channels into independent groups "
                  "(groups = channels is a depthwise convolution).", min=1, max=65536),
        ParamSpec("bias", "bool", True, "Learn an additive bias per filter."),
    )


def _conv_args(ins, p) -> dict[str, Any]:
    return {"in_channels": ins[0].dims[0], "out_channels": p["out_channels"],
            "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
            "dilation": p["dilation"], "groups": p["groups"], "bias": p["bias"]}


CONV1D = LayerSpec(
    type="Conv1d", category="Convolution",
    description="1-D convolution over (N, C, L): filters slide along the length.",
    params=_CONV_COMMON + _conv_tail(1), infer=_conv1d, module="nn.Conv1d",
    module_args=_conv_args, cost=_conv_cost, key_params=("out_channels", "kernel_size"),
    default_name="conv",
)

CONV2D = LayerSpec(
    type="Conv2d", category="Convolution",
    description="2-D convolution over images (N, C, H, W): learned filters slide over the image.",
    params=_CONV_COMMON + _conv_tail(2), infer=_conv2d, module="nn.Conv2d",
    module_args=_conv_args, cost=_conv_cost, key_params=("out_channels", "kernel_size"),
    default_name="conv",
)


def _convtranspose2d(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)")
    out = []
    for n, k, s, pd, op in zip(x.dims[1:], p["kernel_size"], p["stride"], p["padding"],
                               p["output_padding"]):
        if op >= s and op >= p["dilation"]:
            raise ShapeError(f"output_padding ({op}) must be smaller than stride ({s}) "
                             f"or dilation ({p['dilation']})")
        o = (n - 1) * s - 2 * pd + p["dilation"] * (k - 1) + op + 1
        if o < 1:
            raise ShapeError(f"padding {pd} is too large for {x}: the output would be empty")
        out.append(o)
    return [x.with_dims((p["out_channels"], *out))]


def _convtranspose_cost(ins, outs, p) -> tuple[int, int]:
    c_in, c_out = ins[0].dims[0], p["out_channels"]
    per_in = c_out * prod(p["kernel_size"])
    params = c_in * per_in + (c_out if p["bias"] else 0)
    return params, ins[0].numel * per_in


CONVTRANSPOSE2D = LayerSpec(
    type="ConvTranspose2d", category="Convolution",
    description="Transposed 2-D convolution: learned upsampling (stride 2 doubles H and W).",
    params=_CONV_COMMON + (
        ParamSpec("kernel_size", "ints", (2, 2), "Height and width of each filter.",
                  min=1, max=1024, length=2),
        ParamSpec("stride", "ints", (2, 2), "Upsampling step (rows, columns).",
                  min=1, max=1024, length=2),
        ParamSpec("padding", "ints", (0, 0), "Rows/columns trimmed from each side.",
                  min=0, max=1024, length=2),
        ParamSpec("output_padding", "ints", (0, 0), "Extra rows/columns added on one side.",
                  min=0, max=1024, length=2),
        ParamSpec("dilation", "int", 1, "Spacing between filter taps.", min=1, max=64),
        ParamSpec("bias", "bool", True, "Learn an additive bias per filter."),
    ),
    infer=_convtranspose2d, module="nn.ConvTranspose2d",
    module_args=lambda ins, p: {
        "in_channels": ins[0].dims[0], "out_channels": p["out_channels"],
        "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
        "output_padding": p["output_padding"], "dilation": p["dilation"], "bias": p["bias"]},
    cost=_convtranspose_cost, key_params=("out_channels", "kernel_size", "stride"),
    default_name="deconv",
)


def _pool(rank: int, layout: str):
    def rule(ins, p):
        x = ins[0]
        expect_rank(x, (rank,), layout)
        n = rank - 2
        k = p["kernel_size"] if n > 1 else (p["kernel_size"],)
        s = p["stride"] if n > 1 else (p["stride"],)
        s = tuple(si if si > 0 else ki for si, ki in zip(s, k))  # stride 0 = same as kernel
        pd = p["padding"] if n > 1 else (p["padding"],)
        for ki, pi in zip(k, pd):
            if pi * 2 > ki:
                raise ShapeError(f"padding ({pi}) must be at most half the kernel size ({ki})")
        sizes = _spatial(x, k, s, pd, (1,) * n, "the input")
        return [x.with_dims((x.dims[0], *sizes))]
    return rule


def _pool_args(ins, p) -> dict[str, Any]:
    k, s = p["kernel_size"], p["stride"]
    if isinstance(k, tuple):
        s = tuple(si if si > 0 else ki for si, ki in zip(s, k))
    elif s == 0:
        s = k
    return {"kernel_size": k, "stride": s, "padding": p["padding"]}


def _pool_cost(ins, outs, p) -> tuple[int, int]:
    k = p["kernel_size"] if isinstance(p["kernel_size"], tuple) else (p["kernel_size"],)
    return 0, outs[0].numel * prod(k)


def _pool_params(n: int) -> tuple[ParamSpec, ...]:
    if n == 1:
        return (ParamSpec("kernel_size", "int", 2, "Window length.", min=1, max=1024),
                ParamSpec("stride", "int", 0, "Step between windows (0 = the window length).",
                          min=0, max=1024),
                ParamSpec("padding", "int", 0, "Padding at both ends.", min=0, max=512))
    return (ParamSpec("kernel_size", "ints", (2, 2), "Window height and width.",
                      min=1, max=1024, length=2),
            ParamSpec("stride", "ints", (0, 0), "Step between windows (0 = the window size).",
                      min=0, max=1024, length=2),
            ParamSpec("padding", "ints", (0, 0), "Padding on each side.", min=0, max=512,
                      length=2))


MAXPOOL1D = LayerSpec(
    type="MaxPool1d", category="Pooling",
    description="Keeps the largest value in each window along the length of (N, C, L).",
    params=_pool_params(1), infer=_pool(3, "(N, C, L)"), module="nn.MaxPool1d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)
MAXPOOL2D = LayerSpec(
    type="MaxPool2d", category="Pooling",
    description="Keeps the largest value in each window: halves H and W with a 2×2 window.",
    params=_pool_params(2), infer=_pool(4, "(N, C, H, W)"), module="nn.MaxPool2d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)
AVGPOOL2D = LayerSpec(
    type="AvgPool2d", category="Pooling",
    description="Averages each window of the image.",
    params=_pool_params(2), infer=_pool(4, "(N, C, H, W)"), module="nn.AvgPool2d",
    module_args=_pool_args, cost=_pool_cost, key_params=("kernel_size",), default_name="pool",
)


def _adaptive(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)")
    return [x.with_dims((x.dims[0], *p["output_size"]))]


ADAPTIVEAVGPOOL2D = LayerSpec(
    type="AdaptiveAvgPool2d", category="Pooling",
    description="Averages the image down to a fixed size whatever its input size "
                "(1×1 = global average pooling).",
    params=(ParamSpec("output_size", "ints", (1, 1), "Output height and width.", min=1,
                      max=4096, length=2),),
    infer=_adaptive, module="nn.AdaptiveAvgPool2d",
    module_args=lambda ins, p: {"output_size": p["output_size"]},
    cost=lambda ins, outs, p: (0, ins[0].numel), key_params=("output_size",), default_name="gap",
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
)

SPECS = (CONV1D, CONV2D, CONVTRANSPOSE2D, MAXPOOL1D, MAXPOOL2D, AVGPOOL2D, ADAPTIVEAVGPOOL2D,
         UPSAMPLE)
