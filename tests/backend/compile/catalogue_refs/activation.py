"""Plain-torch references and deliberate refusals for one layer family (activation), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).
"""
from __future__ import annotations

from typing import Any

import torch  # noqa: F401 - the references are written in plain torch
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType

TORCH_OPS: dict[str, Any] = {}          # module name -> (xs, p, layer) -> tensor or tuple
REASONS: dict[str, str] = {             # refusal key -> why we refuse what torch runs
    "glu_batch": "GLU along dim 0 gates one sample of the batch with another (and halves the "
                 "batch)",
}
DELIBERATE_EXAMPLES: list[tuple] = [    # (reason, type, param overrides, [TensorType, ...])
    ("glu_batch", "GLU", {"dim": 0}, [TensorType((3,))]),
    ("glu_batch", "GLU", {"dim": -3}, [TensorType((3, 4))]),
]
UNBATCHED_RANK: dict[str, int] = {}     # type -> batched rank torch also runs one rank lower
TOKEN_LAYERS: set[str] = set()          # types that pass token ids through unchanged
CAPS: dict[str, int] = {}               # param name -> upper bound drawn (keeps modules tiny)
FLOP_COUNTED: set[str] = set()          # types whose MACs torch's FlopCounterMode sees in full


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ == "GLU" and -x.rank <= p["dim"] < x.rank and p["dim"] % x.rank == 0:
        return "glu_batch"
    return None
