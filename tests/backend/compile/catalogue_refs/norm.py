"""Plain-torch references and deliberate refusals for one layer family (norm, and the
regularization layers), merged into tests/backend/compile/test_catalogue_vs_torch.py (see its
docstring for what each table means).
"""
from __future__ import annotations

from typing import Any

import torch  # noqa: F401 - the references are written in plain torch
import torchvision
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType


def _channel_layernorm(xs, p, m=None):
    """LayerNorm of the channel vector at each position: channels moved last, torch's
    layer_norm, moved back."""
    x = xs[0]
    weight = m.weight if m is not None else None
    bias = m.bias if m is not None else None
    out = F.layer_norm(x.movedim(1, -1), (x.shape[1],), weight, bias, p["eps"])
    return out.movedim(-1, 1)


def _stochastic_depth(xs, p, m=None):
    """torchvision's op; in training mode only where the compiled layer is training."""
    training = m is not None and m.training
    return torchvision.ops.stochastic_depth(xs[0], p["p"], p["mode"], training=training)


TORCH_OPS: dict[str, Any] = {           # module name -> (xs, p, layer) -> tensor or tuple
    "ops.ChannelLayerNorm": _channel_layernorm,
    "ops.StochasticDepth": _stochastic_depth,
}
REASONS: dict[str, str] = {             # refusal key -> why we refuse what torch runs
    "dropout_rank": "Dropout2d/Dropout3d given a rank torch only warns about (deprecated: it "
                    "would drop along whatever axis comes first); the rule asks for Dropout",
    "rmsnorm_batch": "RMSNorm over more dims than a sample has would normalize across the "
                     "batch",
    "channel_layernorm_vector": "ChannelLayerNorm on (N, F): that is a LayerNorm, which the "
                                "rule points to",
}
DELIBERATE_EXAMPLES: list[tuple] = [    # (reason, type, param overrides, [TensorType, ...])
    ("dropout_rank", "Dropout2d", {}, [TensorType((3,))]),
    ("dropout_rank", "Dropout2d", {}, [TensorType((2, 3, 3, 3))]),
    ("dropout_rank", "Dropout3d", {}, [TensorType((3, 4))]),
    ("rmsnorm_batch", "RMSNorm", {"dims": 2}, [TensorType((5,))]),
    ("channel_layernorm_vector", "ChannelLayerNorm", {}, [TensorType((5,))]),
    ("unbatched", "Dropout1d", {}, [TensorType((5,))]),
    ("unbatched", "Dropout2d", {}, [TensorType((3, 4))]),
    ("unbatched", "Dropout3d", {}, [TensorType((2, 3, 4))]),
    ("unbatched", "InstanceNorm1d", {}, [TensorType((5,))]),
    ("unbatched", "InstanceNorm2d", {}, [TensorType((3, 4))]),
]
UNBATCHED_RANK: dict[str, int] = {      # type -> batched rank torch also runs one rank lower
    "InstanceNorm1d": 3, "InstanceNorm2d": 4, "Dropout1d": 3, "Dropout2d": 4, "Dropout3d": 5,
}
TOKEN_LAYERS: set[str] = set()          # types that pass token ids through unchanged
CAPS: dict[str, int] = {}               # param name -> upper bound drawn (keeps modules tiny)
FLOP_COUNTED: set[str] = set()          # types whose MACs torch's FlopCounterMode sees in full


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ in ("Dropout2d", "Dropout3d"):
        n = int(type_[7])
        if x.rank not in (n + 1, n + 2):  # torch: a deprecation warning, not an error
            return "dropout_rank"
    if type_ == "RMSNorm" and p["dims"] > len(x.dims):
        return "rmsnorm_batch"
    if type_ == "ChannelLayerNorm" and x.rank == 2:
        return "channel_layernorm_vector"
    return None
