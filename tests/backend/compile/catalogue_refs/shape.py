"""Plain-torch references and deliberate refusals for one layer family (shape), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).
"""
from __future__ import annotations

from typing import Any

import torch  # noqa: F401 - the references are written in plain torch
from torch import nn
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType


def _slice(xs, p, m=None):
    """x[start:end:step] along dim, by picking the indices Python's own slicing keeps."""
    x, dim = xs[0], p["dim"]
    keep = list(range(x.shape[dim]))[p["start"]:p["end"] or None:p["step"]]
    return x.index_select(dim, torch.tensor(keep, dtype=torch.long))


_PAD_MODULES = {"zeros": "ZeroPad", "constant": "ConstantPad", "reflect": "ReflectionPad",
                "replicate": "ReplicationPad", "circular": "CircularPad"}


def _pad(xs, p, m=None):
    """torch.nn's padding modules (ReflectionPad2d, ...), F.pad where there is none."""
    pad, mode = tuple(p["padding"]), p["mode"]
    k = len(pad) // 2
    if len(pad) % 2 or not 1 <= k <= 3:
        return F.pad(xs[0], pad, mode="constant" if mode == "zeros" else mode,
                     value=p["value"] if mode == "constant" else None)
    cls = getattr(nn, f"{_PAD_MODULES[mode]}{k}d")
    layer = cls(pad, p["value"]) if mode == "constant" else cls(pad)
    return layer(xs[0])


def _centre(x: torch.Tensor, size) -> torch.Tensor:
    """Centre crop of the last len(size) axes (counted from the end)."""
    for i, s in enumerate(reversed(tuple(size))):
        axis = x.dim() - 1 - i
        x = x.narrow(axis, (x.shape[axis] - s) // 2, s)
    return x


TORCH_OPS: dict[str, Any] = {          # module name -> (xs, p, layer) -> tensor or tuple
    "squeeze": lambda xs, p, m=None: torch.squeeze(xs[0], p["dim"]),
    "unsqueeze": lambda xs, p, m=None: torch.unsqueeze(xs[0], p["dim"]),
    "transpose": lambda xs, p, m=None: torch.transpose(xs[0], p["dim0"], p["dim1"]),
    "split": lambda xs, p, m=None: torch.split(xs[0], list(p["sizes"]), p["dim"]),
    "chunk": lambda xs, p, m=None: torch.chunk(xs[0], p["chunks"], p["dim"]),
    "slice": _slice,
    "pad": _pad,
    "ops.Crop": lambda xs, p, m=None: _centre(xs[0], p["size"]),
    "ops.CropToReference": lambda xs, p, m=None: _centre(xs[0], xs[1].shape[2:]),
}
REASONS: dict[str, str] = {            # refusal key -> why we refuse what torch runs
    "shape_batch_axis": "an axis parameter of a shape layer (Squeeze, Unsqueeze, Unflatten, "
                        "Transpose, Split, Chunk, Slice) pointing at the batch (dim 0): torch "
                        "squeezes, moves or cuts the batch, mixing or dropping samples",
    "squeeze_not_one": "Squeeze of an axis whose size is not 1 (torch silently does nothing, "
                       "hiding a wrong dim)",
    "chunk_fewer": "Chunk that torch.chunk would cut into fewer pieces than asked (5 into 4 "
                   "gives 3): the missing outputs would have nothing to carry",
    "pad_batch": "Pad with more numbers than a sample has axes: torch pads the batch axis",
    "crop_layout": "Crop/CropToReference whose size does not name exactly the axes after the "
                   "channels (or a reference of another layout): it would crop the channels "
                   "or the batch",
    "pixel_extra_dims": "PixelShuffle/PixelUnshuffle given more than (N, C, H, W): torch folds "
                        "the extra leading axes into the batch; we ask for an image",
}
DELIBERATE_EXAMPLES: list[tuple] = [   # (reason, type, param overrides, [TensorType, ...])
    ("shape_batch_axis", "Unflatten", {"dim": 0, "sizes": (2, 1)}, [TensorType((3,))]),
    ("shape_batch_axis", "Squeeze", {"dim": 0}, [TensorType((3,))]),
    ("shape_batch_axis", "Unsqueeze", {"dim": 0}, [TensorType((3,))]),
    ("shape_batch_axis", "Unsqueeze", {"dim": -3}, [TensorType((3,))]),
    ("shape_batch_axis", "Transpose", {"dim0": 0, "dim1": 1}, [TensorType((3, 4))]),
    ("shape_batch_axis", "Split", {"dim": 0, "sizes": (1, 1)}, [TensorType((3,))]),
    ("shape_batch_axis", "Chunk", {"dim": 0, "chunks": 2}, [TensorType((3,))]),
    ("shape_batch_axis", "Slice", {"dim": -2, "start": 0, "end": 1}, [TensorType((3,))]),
    ("squeeze_not_one", "Squeeze", {"dim": -1}, [TensorType((3,))]),
    ("chunk_fewer", "Chunk", {"dim": 1, "chunks": 4}, [TensorType((5,))]),
    ("chunk_fewer", "Chunk", {"dim": 1, "chunks": 4}, [TensorType((3,))]),
    ("pad_batch", "Pad", {"padding": (1, 1, 1, 1)}, [TensorType((3,))]),
    ("crop_layout", "Crop", {"size": (2,)}, [TensorType((3, 4, 4))]),
    ("crop_layout", "Crop", {"size": (2,)}, [TensorType((4,))]),
    ("crop_layout", "CropToReference", {}, [TensorType((3, 4, 4)), TensorType((3, 2))]),
    ("pixel_extra_dims", "PixelShuffle", {}, [TensorType((1, 4, 2, 2))]),
    ("pixel_extra_dims", "PixelUnshuffle", {}, [TensorType((1, 1, 2, 2))]),
    ("unbatched", "PixelShuffle", {"upscale_factor": 1}, [TensorType((3, 3))]),
    ("unbatched", "PixelUnshuffle", {"downscale_factor": 1}, [TensorType((3, 3))]),
]
UNBATCHED_RANK: dict[str, int] = {     # type -> batched rank torch also runs one rank lower
    "PixelShuffle": 4, "PixelUnshuffle": 4,
}
TOKEN_LAYERS: set[str] = {             # types that pass token ids through unchanged
    "Unflatten", "Squeeze", "Unsqueeze", "Transpose", "Split", "Chunk", "Slice",
}
CAPS: dict[str, int] = {               # param name -> upper bound drawn (keeps modules tiny)
    "upscale_factor": 3, "downscale_factor": 3,
    "sizes": 3,  # Split/Unflatten: small pieces, so that they often add up to a drawn axis
}
FLOP_COUNTED: set[str] = {             # types whose MACs torch's FlopCounterMode sees in full
    # nothing to multiply: the rule's 0 MACs is checked against torch's count
    "Unflatten", "Squeeze", "Unsqueeze", "Transpose", "Split", "Chunk", "Slice", "Pad", "Crop",
    "CropToReference", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
}

# Default cases whose input cannot be PROBE-sized on every axis (Squeeze needs an axis of size
# 1).
DEFAULT_INPUTS: dict[str, list[TensorType]] = {
    "Squeeze": [TensorType((8, 1))],
}

_AXIS_PARAMS = {"Unflatten": ("dim",), "Squeeze": ("dim",), "Transpose": ("dim0", "dim1"),
                "Split": ("dim",), "Chunk": ("dim",), "Slice": ("dim",)}


def _axis(d: int, rank: int) -> int | None:
    return d % rank if -rank <= d < rank else None


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if any(_axis(p[name], x.rank) == 0 for name in _AXIS_PARAMS.get(type_, ())):
        return "shape_batch_axis"
    if type_ == "Unsqueeze" and _axis(p["dim"], x.rank + 1) == 0:
        return "shape_batch_axis"
    if type_ == "Squeeze" and _axis(p["dim"], x.rank) and x.dims[_axis(p["dim"], x.rank) - 1] != 1:
        return "squeeze_not_one"
    if type_ == "Chunk" and _axis(p["dim"], x.rank):
        n, k = x.dims[_axis(p["dim"], x.rank) - 1], p["chunks"]
        size = -(-n // k)
        if -(-n // size) != k:
            return "chunk_fewer"
    if type_ == "Pad" and len(p["padding"]) // 2 > len(x.dims):
        return "pad_batch"
    if type_ == "Crop" and (x.rank not in (3, 4, 5) or len(p["size"]) != x.rank - 2):
        return "crop_layout"
    if type_ == "CropToReference" and (x.rank not in (3, 4, 5) or ins[1].rank != x.rank):
        return "crop_layout"
    if type_ in ("PixelShuffle", "PixelUnshuffle") and x.rank > 4:
        return "pixel_extra_dims"
    return None
