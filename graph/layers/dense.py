"""Dense layers and tensor plumbing: Linear, Dropout, Identity, Flatten, Reshape, Permute."""
from __future__ import annotations

from math import prod
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_float, expect_rank
from graph.shapes import TensorType, normalize_dim


def _linear(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    x = ins[0]
    expect_rank(x, (2, 3), "(N, F)", "insert a Flatten")
    return [x.with_dims((*x.dims[:-1], p["out_features"]))]


def _linear_cost(ins, outs, p) -> tuple[int, int]:
    f_in, f_out = ins[0].dims[-1], p["out_features"]
    params = f_in * f_out + (f_out if p["bias"] else 0)
    return params, f_in * f_out * prod(ins[0].dims[:-1])


LINEAR = LayerSpec(
    type="Linear", category="Dense",
    description="Fully connected layer: every output is a weighted sum of all input features "
                "(applied to the last dimension).",
    params=(
        ParamSpec("out_features", "int", 128, "Number of output features (neurons).", min=1, max=1_000_000),
        ParamSpec("bias", "bool", True, "Learn an additive bias per output."),
    ),
    infer=_linear, module="nn.Linear",
    module_args=lambda ins, p: {"in_features": ins[0].dims[-1], "out_features": p["out_features"],
                                "bias": p["bias"]},
    cost=_linear_cost, key_params=("out_features",), default_name="fc",
    aliases=("Dense", "fully connected", "fc", "perceptron", "Gemm"),
)


def _same(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    return [ins[0]]


def _same_float(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    expect_float(ins[0])
    return [ins[0]]


DROPOUT = LayerSpec(
    type="Dropout", category="Regularization",
    description="Randomly zeroes a fraction p of the values while training (off at inference).",
    params=(ParamSpec("p", "float", 0.5, "Probability of zeroing each value.", min=0.0, max=1.0),),
    infer=_same_float, module="nn.Dropout", module_args=lambda ins, p: {"p": p["p"]},
    key_params=("p",), aliases=("regularization",),
)

IDENTITY = LayerSpec(
    type="Identity", category="Utility",
    description="Passes its input through unchanged (a named point in the graph).",
    params=(), infer=_same, module="nn.Identity", aliases=("passthrough", "no-op"),
)


def _flatten(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    x = ins[0]
    start = normalize_dim(p["start_dim"], x.rank, "start_dim")
    end = normalize_dim(p["end_dim"], x.rank, "end_dim")
    if start == 0:
        raise ShapeError("start_dim 0 would merge the batch into the features: use 1")
    if end < start:
        raise ShapeError(f"end_dim ({p['end_dim']}) comes before start_dim ({p['start_dim']})")
    full = (None, *x.dims)
    merged = prod(full[start:end + 1])
    return [x.with_dims((*full[1:start], merged, *full[end + 1:]))]


FLATTEN = LayerSpec(
    type="Flatten", category="Reshape",
    description="Merges dimensions start_dim..end_dim into one, e.g. (N, 16, 5, 5) -> (N, 400).",
    params=(
        ParamSpec("start_dim", "int", 1, "First dimension to merge (1 = first after the batch).",
                  min=-8, max=8),
        ParamSpec("end_dim", "int", -1, "Last dimension to merge (-1 = the last).", min=-8, max=8),
    ),
    infer=_flatten, module="nn.Flatten", aliases=("vectorize",),
    module_args=lambda ins, p: {"start_dim": p["start_dim"], "end_dim": p["end_dim"]},
)


def _reshape(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    x = ins[0]
    target = list(p["shape"])
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1:
        raise ShapeError("at most one dimension of the new shape may be -1")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError("dimensions of the new shape must be positive (or one -1)")
    known = prod(d for d in target if d != -1)
    if unknown:
        if x.numel % known:
            raise ShapeError(f"cannot reshape {x} ({x.numel} values per sample) into "
                             f"{tuple(target)}: {x.numel} is not divisible by {known}")
        target[unknown[0]] = x.numel // known
    elif known != x.numel:
        raise ShapeError(f"cannot reshape {x} ({x.numel} values per sample) into "
                         f"{tuple(target)} ({known} values)")
    return [x.with_dims(target)]


RESHAPE = LayerSpec(
    type="Reshape", category="Reshape",
    description="Gives each sample a new shape with the same number of values (batch kept).",
    params=(ParamSpec("shape", "ints", (-1,), "New per-sample shape; one entry may be -1.",
                      min=-1, max=1_000_000),),
    infer=_reshape, module="reshape", key_params=("shape",), aliases=("view",),
)


def _permute(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    x = ins[0]
    dims = tuple(p["dims"])
    if sorted(dims) != list(range(x.rank)):
        raise ShapeError(f"dims {dims} must be an ordering of 0..{x.rank - 1} for {x}")
    if dims[0] != 0:
        raise ShapeError("the batch dimension must stay first: dims must start with 0")
    full = (None, *x.dims)
    return [x.with_dims(tuple(full[d] for d in dims[1:]))]


PERMUTE = LayerSpec(
    type="Permute", category="Reshape",
    description="Reorders dimensions, e.g. dims 0,2,1 turns (N, C, T) into (N, T, C).",
    params=(ParamSpec("dims", "ints", (0, 2, 1), "New order of the dimensions, batch (0) first.",
                      min=0, max=8),),
    infer=_permute, module="permute", key_params=("dims",),
    aliases=("reorder axes", "dimshuffle"),
)

SPECS = (LINEAR, DROPOUT, IDENTITY, FLATTEN, RESHAPE, PERMUTE)
