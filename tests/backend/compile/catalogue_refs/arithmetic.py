"""Plain-torch references and deliberate refusals for one layer family (arithmetic), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable

import torch  # noqa: F401 - the references are written in plain torch
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType


def _each_axis(x: torch.Tensor, dims, keepdim: bool, one: Callable) -> torch.Tensor:
    """Reduce one axis at a time (``one(x, axis)`` keeps it with size 1), then drop them.

    Fails where torch's reductions fail: an axis out of range (IndexError) or named twice
    (torch: "dim 1 appears multiple times in the list of dims")."""
    axes = [range(x.dim())[d] for d in dims]
    if len(set(axes)) < len(axes):
        raise RuntimeError(f"an axis appears multiple times in {dims}")
    for axis in axes:
        x = one(x, axis)
    if not keepdim:
        for axis in sorted(axes, reverse=True):  # highest first: lower axes keep their numbers
            x = x.squeeze(axis)
    return x


def _fold(pick: Callable) -> Callable:
    """Elementwise pick over the inputs two at a time, broadcasting as plain torch does."""
    return lambda xs, p, m=None: functools.reduce(lambda a, b: torch.where(pick(a, b), a, b), xs)


TORCH_OPS: dict[str, Any] = {          # module name -> (xs, p, layer) -> tensor or tuple
    "sub": lambda xs, p, m=None: xs[0] - xs[1],
    "div": lambda xs, p, m=None: xs[0] / xs[1],
    "maximum": _fold(operator.ge),
    "minimum": _fold(operator.le),
    "average": lambda xs, p, m=None: sum(xs[1:], xs[0]) * (1.0 / len(xs)),
    "matmul": lambda xs, p, m=None: xs[0] @ xs[1],
    "broadcast_mul": lambda xs, p, m=None: xs[0] * xs[1],
    "scale_shift": lambda xs, p, m=None: xs[0] * p["scale"] + p["shift"],
    "reduce_mean": lambda xs, p, m=None: _each_axis(
        xs[0], p["dim"], p["keepdim"], lambda x, a: x.mean(a, keepdim=True)),
    "reduce_sum": lambda xs, p, m=None: _each_axis(
        xs[0], p["dim"], p["keepdim"], lambda x, a: x.sum(a, keepdim=True)),
    "reduce_amax": lambda xs, p, m=None: _each_axis(
        xs[0], p["dim"], p["keepdim"], lambda x, a: x.max(a, keepdim=True).values),
}
REASONS: dict[str, str] = {            # refusal key -> why we refuse what torch runs
    "merge_broadcast": "Subtract/Divide/Maximum/Minimum/Average of different shapes (torch "
                       "broadcasts, hiding a wiring mistake)",
    "matmul_batch": "MatMul of inputs that are not both (N, ..., A, B) with the same leading "
                    "axes: torch broadcasts them, or multiplies across the batch",
    "gate_layout": "BroadcastMultiply whose gate is not the input's shape with some axes 1: "
                   "torch lines the axes up from the right, or grows the input",
    "reduce_batch": "Mean/Sum/Max over dim 0 mixes the samples of a batch",
}
DELIBERATE_EXAMPLES: list[tuple] = [   # (reason, type, param overrides, [TensorType, ...])
    ("merge_broadcast", "Subtract", {}, [TensorType((3,)), TensorType((1,))]),
    ("merge_broadcast", "Divide", {}, [TensorType((2, 3)), TensorType((3,))]),
    ("merge_broadcast", "Average", {}, [TensorType((4, 3)), TensorType((1, 3))]),
    ("merge_broadcast", "Maximum", {"inputs": 3},
     [TensorType((4, 3)), TensorType((4, 3)), TensorType((4, 1))]),
    ("matmul_batch", "MatMul", {}, [TensorType((3, 4)), TensorType((1, 4, 5))]),
    ("matmul_batch", "MatMul", {}, [TensorType((2,)), TensorType((2,))]),
    ("matmul_batch", "MatMul", {}, [TensorType((1, 3, 4)), TensorType((2, 4, 5))]),
    ("gate_layout", "BroadcastMultiply", {}, [TensorType((3, 2, 2)), TensorType((2,))]),
    ("gate_layout", "BroadcastMultiply", {}, [TensorType((1, 4)), TensorType((3, 4))]),
    ("reduce_batch", "Mean", {"dim": (0,)}, [TensorType((3,))]),
    ("reduce_batch", "Max", {"dim": (0, -1)}, [TensorType((3, 4))]),
    ("reduce_batch", "Sum", {"dim": (-3,)}, [TensorType((3, 4))]),
    ("tokens", "Sum", {}, [TensorType((5,), "long")]),
    ("tokens", "Maximum", {}, [TensorType((5,), "long")] * 2),
    ("tokens", "Scale", {}, [TensorType((5,), "long")]),
]
UNBATCHED_RANK: dict[str, int] = {}     # type -> batched rank torch also runs one rank lower
TOKEN_LAYERS: set[str] = set()          # types that pass token ids through unchanged
CAPS: dict[str, int] = {}               # param name -> upper bound drawn (keeps modules tiny)
FLOP_COUNTED: set[str] = {"MatMul"}     # types whose MACs torch's FlopCounterMode sees in full

_ELEMENTWISE = ("Subtract", "Divide", "Maximum", "Minimum", "Average")
_REDUCTIONS = ("Mean", "Sum", "Max")


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ in _ELEMENTWISE and len({t.dims for t in ins}) > 1:
        return "merge_broadcast"
    if type_ == "MatMul":
        a, b = ins
        if a.rank < 3 or b.rank != a.rank or a.dims[:-2] != b.dims[:-2]:
            return "matmul_batch"
    if type_ == "BroadcastMultiply":
        g = ins[1]
        if g.rank != x.rank or any(gd not in (1, xd) for xd, gd in zip(x.dims, g.dims)):
            return "gate_layout"
    if type_ in _REDUCTIONS and any(-x.rank <= d < x.rank and d % x.rank == 0
                                    for d in p["dim"]):
        return "reduce_batch"
    return None
