"""Convolution layers: 1-D, 2-D and 3-D, transposed, depthwise and separable (the pooling
and resampling layers are in ``graph/layers/pool.py``)."""
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


def _axes(value, n: int) -> tuple[int, ...]:
    """A per-axis parameter as a tuple of n numbers (1-D layers store a single int)."""
    return tuple(value) if isinstance(value, tuple) else (value,) * n


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


def _conv3d(ins, p):
    x = ins[0]
    expect_rank(x, (5,), "(N, C, D, H, W)", "for a flat vector insert a Reshape to C,D,H,W; "
                "for an image (N, C, H, W) use Conv2d")
    _check_groups(x.dims[0], p["out_channels"], p["groups"])
    dhw = _spatial(x, p["kernel_size"], p["stride"], p["padding"], (p["dilation"],) * 3,
                   "the volume")
    return [x.with_dims((p["out_channels"], *dhw))]


def _conv_cost(ins, outs, p) -> tuple[int, int]:
    c_in, c_out, groups = ins[0].dims[0], p["out_channels"], p["groups"]
    k = p["kernel_size"] if isinstance(p["kernel_size"], tuple) else (p["kernel_size"],)
    per_out = (c_in // groups) * prod(k)
    params = c_out * per_out + (c_out if p["bias"] else 0)
    return params, outs[0].numel * per_out


_CONV_COMMON = (
    ParamSpec("out_channels", "int", 16, "Number of filters (output channels).", min=1, max=65536),
)


def _window_params(dims: int, kernel: int = 3) -> tuple[ParamSpec, ParamSpec, ParamSpec]:
    """kernel_size, stride and padding of a convolution over 1, 2 or 3 axes."""
    if dims == 1:
        return (ParamSpec("kernel_size", "int", kernel, "Width of each filter.", min=1, max=1024),
                ParamSpec("stride", "int", 1, "Step between filter positions.", min=1, max=1024),
                ParamSpec("padding", "int", 0, "Zeros added at both ends.", min=0, max=1024))
    if dims == 2:
        return (ParamSpec("kernel_size", "ints", (kernel,) * 2, "Height and width of each "
                          "filter.", min=1, max=1024, length=2),
                ParamSpec("stride", "ints", (1, 1), "Step between filter positions (rows, "
                          "columns).", min=1, max=1024, length=2),
                ParamSpec("padding", "ints", (0, 0), "Zeros added on each side (rows, columns); "
                          "kernel 3 with padding 1 keeps the size.", min=0, max=1024, length=2))
    return (ParamSpec("kernel_size", "ints", (kernel,) * 3, "Depth, height and width of each "
                      "filter.", min=1, max=1024, length=3),
            ParamSpec("stride", "ints", (1, 1, 1), "Step between filter positions (depth, "
                      "rows, columns).", min=1, max=1024, length=3),
            ParamSpec("padding", "ints", (0, 0, 0), "Zeros added on each side (depth, rows, "
                      "columns); kernel 3 with padding 1 keeps the size.", min=0, max=1024,
                      length=3))


_DILATION = ParamSpec("dilation", "int", 1, "Spacing between filter taps.", min=1, max=64)
_BIAS = ParamSpec("bias", "bool", True, "Learn an additive bias per filter.")


def _conv_tail(dims: int) -> tuple[ParamSpec, ...]:
    return (
        *_window_params(dims), _DILATION,
        ParamSpec("groups", "int", 1, "Split channels into independent groups "
                  "(groups = channels is a depthwise convolution).", min=1, max=65536),
        _BIAS,
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
    aliases=('Conv1D', 'temporal convolution'),
)

CONV2D = LayerSpec(
    type="Conv2d", category="Convolution",
    description="2-D convolution over images (N, C, H, W): learned filters slide over the image.",
    params=_CONV_COMMON + _conv_tail(2), infer=_conv2d, module="nn.Conv2d",
    module_args=_conv_args, cost=_conv_cost, key_params=("out_channels", "kernel_size"),
    default_name="conv",
    aliases=('Conv2D', 'convolution', 'filter', 'kernel'),
)

CONV3D = LayerSpec(
    type="Conv3d", category="Convolution",
    description="3-D convolution over volumes (N, C, D, H, W), e.g. video clips or medical "
                "scans: learned filters slide along depth, height and width.",
    params=_CONV_COMMON + _conv_tail(3), infer=_conv3d, module="nn.Conv3d",
    module_args=_conv_args, cost=_conv_cost, key_params=("out_channels", "kernel_size"),
    default_name="conv",
    aliases=('Conv3D', 'video convolution', 'volumetric'),
)


_TRANSPOSED_LAYOUT = {1: ("(N, C, L)", "for a sequence (N, T, F) insert a Permute 0,2,1"),
                      2: ("(N, C, H, W)", ""),
                      3: ("(N, C, D, H, W)", "for a flat vector insert a Reshape to C,D,H,W")}


def _convtranspose(dims: int):
    layout, fix = _TRANSPOSED_LAYOUT[dims]

    def rule(ins, p):
        x = ins[0]
        expect_rank(x, (dims + 2,), layout, fix)
        out = []
        for n, k, s, pd, op in zip(x.dims[1:], _axes(p["kernel_size"], dims),
                                   _axes(p["stride"], dims), _axes(p["padding"], dims),
                                   _axes(p["output_padding"], dims)):
            if op >= s and op >= p["dilation"]:
                raise ShapeError(f"output_padding ({op}) must be smaller than stride ({s}) "
                                 f"or dilation ({p['dilation']})")
            o = (n - 1) * s - 2 * pd + p["dilation"] * (k - 1) + op + 1
            if o < 1:
                raise ShapeError(f"padding {pd} is too large for {x}: the output would be empty")
            out.append(o)
        return [x.with_dims((p["out_channels"], *out))]
    return rule


_convtranspose2d = _convtranspose(2)


def _convtranspose_cost(ins, outs, p) -> tuple[int, int]:
    c_in, c_out = ins[0].dims[0], p["out_channels"]
    per_in = c_out * prod(_axes(p["kernel_size"], 1))
    params = c_in * per_in + (c_out if p["bias"] else 0)
    return params, ins[0].numel * per_in


def _convtranspose_params(dims: int) -> tuple[ParamSpec, ...]:
    if dims == 1:
        window = (
            ParamSpec("kernel_size", "int", 2, "Width of each filter.", min=1, max=1024),
            ParamSpec("stride", "int", 2, "Upsampling step (2 doubles the length).",
                      min=1, max=1024),
            ParamSpec("padding", "int", 0, "Positions trimmed from both ends.", min=0, max=1024),
            ParamSpec("output_padding", "int", 0, "Extra positions added at the end (to hit "
                      "an exact length; smaller than stride).", min=0, max=1024))
    else:
        names = "Height and width" if dims == 2 else "Depth, height and width"
        axes = "rows/columns" if dims == 2 else "slices/rows/columns"
        window = (
            ParamSpec("kernel_size", "ints", (2,) * dims, f"{names} of each filter.",
                      min=1, max=1024, length=dims),
            ParamSpec("stride", "ints", (2,) * dims, "Upsampling step per axis (2 doubles the "
                      "size).", min=1, max=1024, length=dims),
            ParamSpec("padding", "ints", (0,) * dims, f"{axes.capitalize()} trimmed from each "
                      "side.", min=0, max=1024, length=dims),
            ParamSpec("output_padding", "ints", (0,) * dims, f"Extra {axes} added on one side "
                      "(to hit an exact size; smaller than stride).", min=0, max=1024,
                      length=dims))
    return _CONV_COMMON + window + (_DILATION, _BIAS)


def _convtranspose_args(ins, p) -> dict[str, Any]:
    return {"in_channels": ins[0].dims[0], "out_channels": p["out_channels"],
            "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
            "output_padding": p["output_padding"], "dilation": p["dilation"], "bias": p["bias"]}


CONVTRANSPOSE1D = LayerSpec(
    type="ConvTranspose1d", category="Convolution",
    description="Transposed 1-D convolution over (N, C, L): learned upsampling of a sequence "
                "(stride 2 doubles its length), e.g. in an audio decoder.",
    params=_convtranspose_params(1), infer=_convtranspose(1), module="nn.ConvTranspose1d",
    module_args=_convtranspose_args, cost=_convtranspose_cost,
    key_params=("out_channels", "kernel_size", "stride"), default_name="deconv",
    aliases=('deconv1d', 'Conv1DTranspose'),
)

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
    module_args=_convtranspose_args,
    cost=_convtranspose_cost, key_params=("out_channels", "kernel_size", "stride"),
    default_name="deconv",
    aliases=('deconv', 'deconvolution', 'upconv', 'Conv2DTranspose', 'fractionally strided convolution'),
)

CONVTRANSPOSE3D = LayerSpec(
    type="ConvTranspose3d", category="Convolution",
    description="Transposed 3-D convolution over volumes (N, C, D, H, W): learned upsampling "
                "(stride 2 doubles depth, height and width), e.g. in a 3-D U-Net decoder.",
    params=_convtranspose_params(3), infer=_convtranspose(3), module="nn.ConvTranspose3d",
    module_args=_convtranspose_args, cost=_convtranspose_cost,
    key_params=("out_channels", "kernel_size", "stride"), default_name="deconv",
    aliases=('deconv3d', 'Conv3DTranspose'),
)


def _depthwise(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)", "for a flat vector insert a Reshape to C,H,W")
    hw = _spatial(x, p["kernel_size"], p["stride"], p["padding"], (p["dilation"],) * 2,
                  "the image")
    return [x.with_dims((x.dims[0] * p["multiplier"], *hw))]


def _depthwise_cost(ins, outs, p) -> tuple[int, int]:
    c_out, taps = ins[0].dims[0] * p["multiplier"], prod(p["kernel_size"])
    return c_out * taps + (c_out if p["bias"] else 0), outs[0].numel * taps


DEPTHWISECONV2D = LayerSpec(
    type="DepthwiseConv2d", category="Convolution",
    description="Filters each channel of the image on its own (no mixing between channels), "
                "with far fewer weights than Conv2d; follow it with a 1×1 Conv2d to mix "
                "channels, as MobileNet does.",
    params=(
        ParamSpec("multiplier", "int", 1, "Filters per input channel: the output has "
                  "multiplier × C channels.", min=1, max=64),
        *_window_params(2), _DILATION, _BIAS,
    ),
    infer=_depthwise, module="nn.Conv2d",
    module_args=lambda ins, p: {
        "in_channels": ins[0].dims[0], "out_channels": ins[0].dims[0] * p["multiplier"],
        "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
        "dilation": p["dilation"], "groups": ins[0].dims[0], "bias": p["bias"]},
    cost=_depthwise_cost, key_params=("kernel_size", "multiplier"), default_name="dwconv",
    aliases=('depthwise', 'DepthwiseConv2D'),
)


def _separable(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)", "for a flat vector insert a Reshape to C,H,W")
    hw = _spatial(x, p["kernel_size"], p["stride"], p["padding"], (p["dilation"],) * 2,
                  "the image")
    return [x.with_dims((p["out_channels"], *hw))]


def _separable_cost(ins, outs, p) -> tuple[int, int]:
    c_in, c_out, taps = ins[0].dims[0], p["out_channels"], prod(p["kernel_size"])
    positions = prod(outs[0].dims[1:])
    params = c_in * taps + c_in * c_out + (c_out if p["bias"] else 0)
    return params, positions * (c_in * taps + c_in * c_out)


SEPARABLECONV2D = LayerSpec(
    type="SeparableConv2d", category="Convolution",
    description="A cheaper Conv2d (as in Xception and Keras' SeparableConv2D): first filters "
                "each channel on its own (depthwise k×k), then mixes the channels with a 1×1 "
                "convolution to out_channels.",
    params=(*_CONV_COMMON, *_window_params(2), _DILATION,
            ParamSpec("bias", "bool", True, "Learn an additive bias per output channel (on "
                      "the 1×1 step).")),
    infer=_separable, module="ops.SeparableConv2d",
    module_args=lambda ins, p: {
        "in_channels": ins[0].dims[0], "out_channels": p["out_channels"],
        "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
        "dilation": p["dilation"], "bias": p["bias"]},
    cost=_separable_cost, key_params=("out_channels", "kernel_size"), default_name="sepconv",
    aliases=('depthwise separable', 'SeparableConv2D'),
)

SPECS = (CONV1D, CONV2D, CONV3D, CONVTRANSPOSE1D, CONVTRANSPOSE2D, CONVTRANSPOSE3D,
         DEPTHWISECONV2D, SEPARABLECONV2D)
