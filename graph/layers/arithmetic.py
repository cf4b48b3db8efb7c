"""Merge and math layers beyond Add/Multiply/Concat: subtract, divide, max/min, average, matmul, gating, scale/shift, reductions."""
from __future__ import annotations

from math import prod

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec, expect_float
from graph.shapes import TensorType

# ---- elementwise merges: tensors of one shape (broadcasting is refused: a wiring mistake) ------

_TWO = (PortSpec("in1", "The first tensor."), PortSpec("in2", "The second tensor, of the same "
                                                         "shape as the first."))


def _inputs(what: str) -> ParamSpec:
    return ParamSpec("inputs", "int", 2, f"How many tensors to {what}.", min=2, max=8)


def _same_shape(ins: list[TensorType], p) -> list[TensorType]:
    first = ins[0]
    for i, x in enumerate(ins):
        expect_float(x, port=i)
        if x.dims != first.dims:
            raise ShapeError(
                f"all inputs must have the same shape, but in1 is {first} and in{i + 1} is {x}",
                port=i, expected=str(first),
                fix="check the wiring, or insert a Reshape so that the shapes match")
    return [first]


def _per_element(ins, outs, p) -> tuple[int, int]:
    return 0, outs[0].numel


def _per_extra_input(ins, outs, p) -> tuple[int, int]:
    return 0, outs[0].numel * (len(ins) - 1)


SUBTRACT = LayerSpec(
    type="Subtract", category="Merge",
    description="Subtracts the second tensor from the first (in1 − in2); both must have the "
                "same shape. Use it for the difference between two branches.",
    params=(), infer=_same_shape, module="sub", inputs=_TWO, default_name="sub",
)
DIVIDE = LayerSpec(
    type="Divide", category="Merge",
    description="Divides the first tensor by the second, element by element (in1 / in2); "
                "both must have the same shape. Dividing by 0 gives inf, so keep in2 away "
                "from 0.",
    params=(), infer=_same_shape, module="div", inputs=_TWO, cost=_per_element,
    default_name="div",
)
MAXIMUM = LayerSpec(
    type="Maximum", category="Merge",
    description="Keeps, at every position, the largest value among tensors of the same shape "
                "(elementwise maximum of branches). For the largest value along an axis of "
                "one tensor use Max.",
    params=(_inputs("compare"),), infer=_same_shape, module="maximum", variadic=True,
    cost=_per_extra_input, default_name="maximum",
)
MINIMUM = LayerSpec(
    type="Minimum", category="Merge",
    description="Keeps, at every position, the smallest value among tensors of the same "
                "shape (elementwise minimum of branches).",
    params=(_inputs("compare"),), infer=_same_shape, module="minimum", variadic=True,
    cost=_per_extra_input, default_name="minimum",
)
AVERAGE = LayerSpec(
    type="Average", category="Merge",
    description="Averages tensors of the same shape, element by element: (in1 + ... + inK) "
                "/ K. Use it to combine branches (an ensemble) without changing the scale.",
    params=(_inputs("average"),), infer=_same_shape, module="average", variadic=True,
    cost=lambda ins, outs, p: (0, outs[0].numel * len(ins)), default_name="avg",
)


# ---- matrix product --------------------------------------------------------------------------

def _matmul(ins, p):
    a, b = ins
    for i, x in enumerate(ins):
        expect_float(x, "(N, A, B)", port=i)
        if x.rank < 3:
            raise ShapeError(
                f"MatMul multiplies one matrix per sample, so in{i + 1} must be (N, A, B) or "
                f"(N, ..., A, B), but it is {x}", port=i, expected="(N, A, B)",
                fix="for a learned product with a vector use Linear, or Reshape it to a "
                    "matrix first")
    lead = ", ".join(str(d) for d in a.dims[:-2])
    lead = f"{lead}, " if lead else ""
    if b.rank != a.rank or b.dims[:-2] != a.dims[:-2]:
        raise ShapeError(
            f"in2 must have the same leading axes as in1: in1 is {a}, so in2 must be "
            f"(N, {lead}{a.dims[-1]}, C), but it is {b}", port=1,
            expected=f"(N, {lead}{a.dims[-1]}, C)",
            fix="MatMul does not broadcast; Reshape or Permute in2 to match")
    if b.dims[-2] != a.dims[-1]:
        raise ShapeError(
            f"in1's last axis ({a.dims[-1]}) must equal in2's second-to-last ({b.dims[-2]}): "
            f"{a} × {b} does not fit", port=1, expected=f"(N, {lead}{a.dims[-1]}, C)",
            fix="swap the inputs, or Permute the last two axes of in2")
    return [a.with_dims((*a.dims[:-1], b.dims[-1]))]


MATMUL = LayerSpec(
    type="MatMul", category="Merge",
    description="Matrix product of each sample's matrices: (N, A, B) × (N, B, C) → "
                "(N, A, C); extra leading axes (e.g. heads) must be equal in both. Use it for "
                "attention scores or mixing two branches; for a learned weight use Linear.",
    params=(), infer=_matmul, module="matmul",
    inputs=(PortSpec("in1", "The left matrices (N, ..., A, B)."),
            PortSpec("in2", "The right matrices (N, ..., B, C).")),
    cost=lambda ins, outs, p: (0, ins[0].numel * ins[1].dims[-1]), default_name="matmul",
)


# ---- gating: a tensor times a gate of size 1 on some axes --------------------------------------

def _gate(ins, p):
    x, g = ins
    expect_float(x, port=0)
    expect_float(g, "a gate", port=1)
    if g.rank != x.rank or any(gd not in (1, xd) for xd, gd in zip(x.dims, g.dims)):
        want = "(N, " + ", ".join(f"{d} or 1" for d in x.dims) + ")"
        channel_gate = ",".join([str(x.dims[0])] + ["1"] * (len(x.dims) - 1))
        raise ShapeError(
            f"the gate must have as many axes as the input, each the input's size or 1: "
            f"for {x} it must be {want}, but it is {g}", port=1, expected=want,
            fix=f"for a per-channel gate insert a Reshape to {channel_gate}"
            if g.numel == x.dims[0] and len(x.dims) > 1 else
            "Reshape the gate so that its axes line up with the input's")
    return [x]


BROADCAST_MULTIPLY = LayerSpec(
    type="BroadcastMultiply", category="Merge",
    description="Multiplies a tensor by a gate that has size 1 on the axes to repeat, e.g. "
                "(N, C, H, W) × (N, C, 1, 1): the channel gating (scale) of a "
                "squeeze-and-excitation block, or a spatial mask (N, 1, H, W).",
    params=(), infer=_gate, module="broadcast_mul",
    inputs=(PortSpec("in", "The tensor to scale, e.g. (N, C, H, W)."),
            PortSpec("gate", "The gate: same number of axes, each the input's size or 1, "
                             "e.g. (N, C, 1, 1).")),
    cost=_per_element, default_name="gate",
)


# ---- math on one tensor -----------------------------------------------------------------------

def _elementwise(ins, p):
    expect_float(ins[0])
    return [ins[0]]


SCALE = LayerSpec(
    type="Scale", category="Math",
    description="Multiplies every value by a constant and adds another: y = x · scale + "
                "shift (e.g. scale 0.0039 turns pixels 0..255 into 0..1). Nothing is learned.",
    params=(ParamSpec("scale", "float", 1.0, "Every value is multiplied by this.",
                      min=-1e6, max=1e6),
            ParamSpec("shift", "float", 0.0, "Then this is added (0 = none).",
                      min=-1e6, max=1e6)),
    infer=_elementwise, module="scale_shift", cost=_per_element, key_params=("scale", "shift"),
    default_name="scale",
)


def _axes(x: TensorType, dims: tuple[int, ...]) -> list[int]:
    """The axes (batch = 0) that ``dims`` names, or a readable ShapeError."""
    last = x.rank - 1
    if last < 1:
        raise ShapeError(f"{x} has no axis left to reduce besides the batch")
    valid = ("1" if last == 1 else f"1 to {last}") + " (or -1 for the last axis)"
    axes: list[int] = []
    for d in dims:
        if not -x.rank <= d < x.rank:
            raise ShapeError(f"dim {d} does not exist in {x}: use {valid}", port=0)
        axis = d % x.rank
        if axis == 0:
            raise ShapeError(f"dim {d} is the batch: reducing it mixes the samples; use {valid}",
                             port=0)
        if axis in axes:
            raise ShapeError(f"dim {', '.join(map(str, dims))} names axis {axis} twice on "
                             f"{x}: list each axis once", port=0)
        axes.append(axis)
    return axes


def _reduce(ins, p):
    x = ins[0]
    expect_float(x)
    axes = _axes(x, p["dim"])
    if p["keepdim"]:
        return [x.with_dims([1 if i + 1 in axes else d for i, d in enumerate(x.dims)])]
    return [x.with_dims([d for i, d in enumerate(x.dims) if i + 1 not in axes])]


def _reduce_params(what: str) -> tuple[ParamSpec, ...]:
    return (ParamSpec("dim", "ints", (-1,), f"Axes to {what} over, counting the batch as 0: "
                      "1 = channels or features, -1 = the last axis; e.g. 2,3 for the height "
                      "and width of (N, C, H, W).", min=-8, max=8),
            ParamSpec("keepdim", "bool", False, "Keep the reduced axes with size 1 (e.g. "
                      "(N, C, 1, 1)) instead of removing them."))


def _reduction(type_: str, module: str, description: str, what: str, name: str) -> LayerSpec:
    return LayerSpec(
        type=type_, category="Math", description=description, params=_reduce_params(what),
        infer=_reduce, module=module, cost=lambda ins, outs, p: (0, ins[0].numel),
        key_params=("dim",), default_name=name,
    )


MEAN = _reduction(
    "Mean", "reduce_mean",
    "Averages each sample over the chosen axes, e.g. dim 2,3 turns (N, C, H, W) into (N, C) "
    "(one average per channel), or dim 1 averages a sequence (N, T, F) over time.",
    "average", "mean")
SUM = _reduction(
    "Sum", "reduce_sum",
    "Adds up each sample's values over the chosen axes, e.g. dim 1 turns a sequence "
    "(N, T, F) into (N, F) (a total over time, as after attention weights).",
    "add up", "sum")
MAX = _reduction(
    "Max", "reduce_amax",
    "Keeps each sample's largest value over the chosen axes, e.g. dim 1 turns a sequence "
    "(N, T, F) into (N, F): the strongest response of each feature anywhere in time.",
    "take the largest value", "max")

SPECS: tuple[LayerSpec, ...] = (SUBTRACT, DIVIDE, MAXIMUM, MINIMUM, AVERAGE, MATMUL,
                                BROADCAST_MULTIPLY, SCALE, MEAN, SUM, MAX)
