"""Swin Transformer's layers: attention inside local windows and the patch merging between
stages, on channels-last feature maps (N, H, W, C).

ShiftedWindowAttention cuts the map into window_size windows (padding it with zeros to a
multiple of the window) and runs multi-head self-attention inside each, with a learned bias
per relative position; with a shift the windows are first rolled by shift_size, so that
alternating blocks (shift 0, then half a window) let information cross window borders.
PatchMerging halves H and W: the four pixels of each 2x2 patch are concatenated (4C),
normalised and projected to 2C. Both keep torchvision's weight names, so its Swin models
import with their state_dict as it is.
"""
from __future__ import annotations

from math import ceil

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank

_LAYOUT = "(N, H, W, C)"
_FIX = ("Swin layers work channels-last: for an image (N, C, H, W) insert a Permute "
        "0,2,3,1 first")


def _padded(size: int, window: int) -> int:
    return -(-size // window) * window


# ---- ShiftedWindowAttention ------------------------------------------------------------------

def _window_attention(ins, p):
    x = ins[0]
    expect_rank(x, (4,), _LAYOUT, _FIX)
    c = x.dims[-1]
    heads = p["num_heads"]
    if c % heads:
        fits = [h for h in range(1, min(c, 16) + 1) if c % h == 0]
        raise ShapeError(f"the channels C = {c} must be divisible by num_heads ({heads}), "
                         f"because each head gets C/num_heads features: try num_heads = "
                         f"{', '.join(map(str, fits))}")
    for axis, (w, s) in enumerate(zip(p["window_size"], p["shift_size"])):
        if s >= w:
            fix = f"set shift_size to less than {w} (Swin uses half the window)"
            raise ShapeError(f"shift_size {tuple(p['shift_size'])} must be smaller than "
                             f"window_size {tuple(p['window_size'])} on every axis: {fix}",
                             expected=f"shift < {w}", fix=fix)
    return [x]


def _window_args(ins, p):
    return {"dim": ins[0].dims[-1], "num_heads": p["num_heads"],
            "window_size": tuple(p["window_size"]), "shift_size": tuple(p["shift_size"]),
            "qkv_bias": p["qkv_bias"], "proj_bias": p["proj_bias"],
            "attention_dropout": p["attention_dropout"], "dropout": p["dropout"]}


def _window_cost(ins, outs, p):
    h, w, c = ins[0].dims
    wh, ww = p["window_size"]
    table = (2 * wh - 1) * (2 * ww - 1) * p["num_heads"]
    params = 4 * c * c + (3 * c if p["qkv_bias"] else 0) + (c if p["proj_bias"] else 0) + table
    tokens = _padded(h, wh) * _padded(w, ww)  # attention runs on the padded map
    # q, k, v and output projections (4·C·C per token), scores and weighted sum (2·area·C)
    macs = tokens * (4 * c * c + 2 * wh * ww * c)
    return params, macs


SHIFTED_WINDOW_ATTENTION = LayerSpec(
    type="ShiftedWindowAttention", category="Attention",
    description="Swin Transformer's attention on a channels-last map (N, H, W, C): "
                "multi-head self-attention inside local windows (the map is zero-padded to "
                "a multiple of the window), with a learned bias for each relative position. "
                "A shift rolls the windows by shift_size first (masked so that pixels "
                "brought together by the roll do not attend to each other): alternate "
                "blocks with shift 0 and half the window so information crosses windows.",
    params=(
        ParamSpec("num_heads", "int", 4, "Parallel attention heads; each gets C/num_heads "
                  "features (must divide the channels C).", min=1, max=256),
        ParamSpec("window_size", "ints", (7, 7), "Height and width of the windows that "
                  "attention runs in.", min=1, max=64, length=2),
        ParamSpec("shift_size", "ints", (3, 3), "How far the windows are rolled, rows and "
                  "columns (0,0: plain windows; Swin alternates 0 and half the window). "
                  "Ignored on an axis that fits in one window.", min=0, max=63, length=2),
        ParamSpec("qkv_bias", "bool", True, "Learn a bias in the query/key/value "
                  "projection."),
        ParamSpec("proj_bias", "bool", True, "Learn a bias in the output projection."),
        ParamSpec("attention_dropout", "float", 0.0, "Dropout on the attention weights "
                  "while training.", min=0.0, max=1.0),
        ParamSpec("dropout", "float", 0.0, "Dropout on the output while training.",
                  min=0.0, max=1.0),
    ),
    infer=_window_attention, module="ops.ShiftedWindowAttention", module_args=_window_args,
    cost=_window_cost, key_params=("num_heads", "window_size", "shift_size"),
    default_name="wattn",
    aliases=("Swin", "window attention", "W-MSA", "SW-MSA", "shifted window"),
)


# ---- PatchMerging ----------------------------------------------------------------------------

def _patch_merging(ins, p):
    x = ins[0]
    expect_rank(x, (4, 5), "(N, H, W, C)", _FIX)
    *lead, h, w, c = x.dims
    return [x.with_dims((*lead, ceil(h / 2), ceil(w / 2), 2 * c))]


def _patch_merging_cost(ins, outs, p):
    c = ins[0].dims[-1]
    cells = 1
    for d in outs[0].dims[:-1]:
        cells *= d
    return 8 * c * c + 8 * c, cells * 8 * c * c  # LayerNorm(4C) and Linear(4C -> 2C)


PATCH_MERGING = LayerSpec(
    type="PatchMerging", category="Pooling",
    description="Swin Transformer's downsampling on a channels-last map (N, H, W, C) -> "
                "(N, H/2, W/2, 2C) (rounded up: an odd side is zero-padded): the four pixels "
                "of each 2x2 patch are concatenated (4C), normalised (LayerNorm) and projected "
                "to 2C (a Linear without bias).",
    params=(ParamSpec("eps", "float", 1e-5, "Added to the variance in the LayerNorm.",
                      min=0.0, max=1.0),),
    infer=_patch_merging, module="ops.PatchMerging",
    module_args=lambda ins, p: {"dim": ins[0].dims[-1], "eps": p["eps"]},
    cost=_patch_merging_cost, default_name="merge",
    aliases=("Swin", "patch merging", "downsample"),
)

SPECS: tuple[LayerSpec, ...] = (SHIFTED_WINDOW_ATTENTION, PATCH_MERGING)
