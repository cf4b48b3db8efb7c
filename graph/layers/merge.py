"""Layers that join several tensors: Add, Multiply, Concat (skip connections, branches)."""
from __future__ import annotations

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_float
from graph.shapes import normalize_dim

_INPUTS = ParamSpec("inputs", "int", 2, "How many tensors to join.", min=2, max=8)


def _elementwise(ins, p):
    first = ins[0]
    for i, x in enumerate(ins):
        expect_float(x, port=i)
        if x.dims != first.dims:
            raise ShapeError(f"all inputs must have the same shape, but in1 is {first} and "
                             f"in{i + 1} is {x}", port=i, expected=str(first))
    return [first]


ADD = LayerSpec(
    type="Add", category="Merge",
    description="Adds tensors of the same shape (a residual/skip connection).",
    params=(_INPUTS,), infer=_elementwise, module="add", variadic=True, default_name="add",
    aliases=("residual", "skip connection", "sum", "plus"),
)
MULTIPLY = LayerSpec(
    type="Multiply", category="Merge",
    description="Multiplies tensors of the same shape elementwise (gating).",
    params=(_INPUTS,), infer=_elementwise, module="mul", variadic=True,
    cost=lambda ins, outs, p: (0, outs[0].numel * (len(ins) - 1)), default_name="mul",
    aliases=("product", "gating", "mul"),
)


def _concat(ins, p):
    first = ins[0]
    dim = normalize_dim(p["dim"], first.rank, "dim")
    if dim == 0:
        raise ShapeError("dim 0 is the batch: concatenate along 1 (channels/features)")
    for i, x in enumerate(ins):
        if x.rank != first.rank or x.dtype != first.dtype or any(
                a != b for k, (a, b) in enumerate(zip(x.dims, first.dims)) if k != dim - 1):
            raise ShapeError(f"inputs must match in every dimension except {p['dim']}, but in1 "
                             f"is {first} and in{i + 1} is {x}", port=i)
    total = sum(x.dims[dim - 1] for x in ins)
    dims = list(first.dims)
    dims[dim - 1] = total
    return [first.with_dims(dims)]


CONCAT = LayerSpec(
    type="Concat", category="Merge",
    description="Joins tensors along one dimension (1 = channels or features).",
    params=(_INPUTS, ParamSpec("dim", "int", 1, "Dimension to join along.", min=-8, max=8)),
    infer=_concat, module="cat", variadic=True, key_params=("dim",), default_name="concat",
    aliases=("cat", "join", "stack channels"),
)

SPECS = (ADD, MULTIPLY, CONCAT)
