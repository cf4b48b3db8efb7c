"""References and deliberate refusals for one layer family (window: Swin's
ShiftedWindowAttention and PatchMerging), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).
The references are torchvision's own modules given the compiled layer's weights, which have
torchvision's names.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.models.swin_transformer import PatchMerging, ShiftedWindowAttention

from graph.shapes import TensorType


def _window_attention(xs, p, m):
    x = xs[0]
    ref = ShiftedWindowAttention(x.shape[-1], list(p["window_size"]), list(p["shift_size"]),
                                 p["num_heads"], qkv_bias=p["qkv_bias"],
                                 proj_bias=p["proj_bias"],
                                 attention_dropout=p["attention_dropout"], dropout=p["dropout"])
    ref.load_state_dict(m.state_dict())  # strict: the same names and shapes
    with torch.no_grad():
        return ref.eval()(x)


def _patch_merging(xs, p, m):
    x = xs[0]
    ref = PatchMerging(x.shape[-1], norm_layer=partial(nn.LayerNorm, eps=p["eps"]))
    ref.load_state_dict(m.state_dict())
    with torch.no_grad():
        return ref.eval()(x)


TORCH_OPS: dict[str, Any] = {          # module name -> (xs, p, layer) -> tensor or tuple
    "ops.ShiftedWindowAttention": _window_attention,
    "ops.PatchMerging": _patch_merging,
}
REASONS: dict[str, str] = {            # refusal key -> why we refuse what torch runs
    "shift_window": "a shift of a whole window or more: torchvision's mask slices then "
                    "overlap and group pixels arbitrarily; Swin shifts by half a window",
}
DELIBERATE_EXAMPLES: list[tuple] = [   # (reason, type, param overrides, [TensorType, ...])
    ("shift_window", "ShiftedWindowAttention", {"window_size": (2, 2), "shift_size": (2, 1)},
     [TensorType((4, 4, 4))]),
    ("unbatched", "PatchMerging", {}, [TensorType((4, 4))]),
]
UNBATCHED_RANK: dict[str, int] = {     # type -> batched rank torch also runs one rank lower
    "PatchMerging": 4,  # torchvision's reads (..., H, W, C): the batch becomes H
}
TOKEN_LAYERS: set[str] = set()         # types that pass token ids through unchanged
CAPS: dict[str, int] = {"window_size": 4, "shift_size": 3}  # keeps the windows small
FLOP_COUNTED: set[str] = set()         # types whose MACs torch's FlopCounterMode sees in full


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ == "ShiftedWindowAttention" and x.rank == 4 and x.dims[-1] % p["num_heads"] == 0 \
            and any(s >= w for s, w in zip(p["shift_size"], p["window_size"])):
        return "shift_window"
    return None
