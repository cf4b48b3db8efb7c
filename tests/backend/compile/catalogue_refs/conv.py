"""Plain-torch references and deliberate refusals for one layer family (conv), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).
"""
from __future__ import annotations

from typing import Any

import torch  # noqa: F401 - the references are written in plain torch
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType


def _separable(xs, p, m):
    """Depthwise then pointwise, written with F.conv2d on the module's own weights."""
    x = xs[0]
    s, pd = p["stride"], p["padding"]
    mid = F.conv2d(x, m.depthwise.weight, None, s, pd, p["dilation"], x.shape[1])
    return F.conv2d(mid, m.pointwise.weight, m.pointwise.bias)


def _spatial_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


TORCH_OPS: dict[str, Any] = {           # module name -> (xs, p, layer) -> tensor or tuple
    # A reduction over the spatial axes named one by one (the layer flattens them first).
    "global_avg_pool": lambda xs, p, m=None: xs[0].mean(dim=_spatial_dims(xs[0])),
    "global_max_pool": lambda xs, p, m=None: xs[0].amax(dim=_spatial_dims(xs[0])),
    "ops.SeparableConv2d": _separable,
    "ops.MaxUnpool2d": lambda xs, p, m: F.max_unpool2d(
        xs[0], xs[1], p["kernel_size"], tuple(s or k for s, k in zip(p["stride"],
                                                                   p["kernel_size"])),
        p["padding"], output_size=m.output_size),
}
REASONS: dict[str, str] = {             # refusal key -> why we refuse what torch runs
    "global_pool_no_spatial": "GlobalAvgPool/GlobalMaxPool of (N, F), which has no axis to "
                              "pool over: torch's mean/amax over an empty list of dims reduces "
                              "everything, the batch included, to one number",
}
DELIBERATE_EXAMPLES: list[tuple] = [    # (reason, type, param overrides, [TensorType, ...])
    ("global_pool_no_spatial", "GlobalAvgPool", {}, [TensorType((5,))]),
    ("global_pool_no_spatial", "GlobalMaxPool", {}, [TensorType((5,))]),
    ("unbatched", "Conv3d", {"out_channels": 2, "kernel_size": (1, 1, 1)},
     [TensorType((2, 3, 3))]),
    ("unbatched", "AvgPool1d", {}, [TensorType((4,))]),
    ("unbatched", "SeparableConv2d", {"kernel_size": (1, 1)}, [TensorType((2, 5))]),
]
UNBATCHED_RANK: dict[str, int] = {      # type -> batched rank torch also runs one rank lower
    "Conv3d": 5, "ConvTranspose1d": 3, "ConvTranspose3d": 5, "DepthwiseConv2d": 4,
    "SeparableConv2d": 4, "MaxPool3d": 5, "AvgPool1d": 3, "AvgPool3d": 5,
    "AdaptiveAvgPool1d": 3, "AdaptiveAvgPool3d": 5, "AdaptiveMaxPool1d": 3,
    "AdaptiveMaxPool2d": 4, "MaxUnpool2d": 4,
}
# MaxUnpool2d's 'indices' input is integers by design; its 'in' must be real numbers, which
# the rule checks itself (torch refuses integer values too).
TOKEN_LAYERS: set[str] = {"MaxUnpool2d"}
CAPS: dict[str, int] = {"multiplier": 3}  # param name -> upper bound drawn (keeps modules tiny)
FLOP_COUNTED: set[str] = {              # types whose MACs torch's FlopCounterMode sees in full
    "Conv3d", "ConvTranspose1d", "ConvTranspose3d", "DepthwiseConv2d", "SeparableConv2d"}


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    if type_ in ("GlobalAvgPool", "GlobalMaxPool") and ins[0].rank < 3:
        return "global_pool_no_spatial"
    return None
