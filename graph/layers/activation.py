"""Activation functions (elementwise, or along one dimension for Softmax/LogSoftmax)."""
from __future__ import annotations

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_float
from graph.shapes import normalize_dim


def _elementwise(ins, p):
    expect_float(ins[0])
    return [ins[0]]


def _along_dim(ins, p):
    x = ins[0]
    expect_float(x)
    if normalize_dim(p["dim"], x.rank, "dim") == 0:
        raise ShapeError("dim 0 is the batch: a softmax across samples mixes them; use -1")
    return [x]


def _simple(type_: str, description: str, params=(), args=None, name=None) -> LayerSpec:
    return LayerSpec(
        type=type_, category="Activation", description=description, params=params,
        infer=_elementwise, module=f"nn.{type_}",
        module_args=args or (lambda ins, p: {}),
        cost=lambda ins, outs, p: (0, 0), default_name=name or type_.lower(),
    )


RELU = _simple("ReLU", "max(0, x): the default non-linearity.")
LEAKYRELU = _simple(
    "LeakyReLU", "Like ReLU but lets a small slope through for negative inputs.",
    params=(ParamSpec("negative_slope", "float", 0.01, "Slope for negative inputs.",
                      min=0.0, max=1.0),),
    args=lambda ins, p: {"negative_slope": p["negative_slope"]}, name="lrelu")
GELU = _simple(
    "GELU", "Smooth ReLU used in transformers.",
    params=(ParamSpec("approximate", "choice", "none", "Exact or tanh approximation.",
                      choices=("none", "tanh")),),
    args=lambda ins, p: {"approximate": p["approximate"]})
SILU = _simple("SiLU", "x·sigmoid(x) (also called Swish).")
SIGMOID = _simple("Sigmoid", "Squashes to (0, 1).")
TANH = _simple("Tanh", "Squashes to (-1, 1).")


def _dim_spec(type_: str, description: str) -> LayerSpec:
    return LayerSpec(
        type=type_, category="Activation", description=description,
        params=(ParamSpec("dim", "int", -1, "Dimension that sums to one (-1 = last).",
                          min=-8, max=8),),
        infer=_along_dim, module=f"nn.{type_}", module_args=lambda ins, p: {"dim": p["dim"]},
        default_name=type_.lower(),
    )


SOFTMAX = _dim_spec("Softmax", "Turns scores into probabilities along one dimension. For "
                    "training with cross-entropy leave it out: the loss applies it.")
LOGSOFTMAX = _dim_spec("LogSoftmax", "Log of softmax; pair it with the NLL loss.")

SPECS = (RELU, LEAKYRELU, GELU, SILU, SIGMOID, TANH, SOFTMAX, LOGSOFTMAX)
