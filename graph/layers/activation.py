"""Activation functions (elementwise, or along one dimension for Softmax/LogSoftmax and GLU)."""
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


def _simple(type_: str, description: str, params=(), args=None, name=None, key=(),
            aliases=()) -> LayerSpec:
    return LayerSpec(
        type=type_, category="Activation", description=description, params=params,
        infer=_elementwise, module=f"nn.{type_}",
        module_args=args or (lambda ins, p: {}),
        cost=lambda ins, outs, p: (0, 0), default_name=name or type_.lower(), key_params=key,
        aliases=aliases,
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


# ---- more activations (issue 14) ------------------------------------------------------------

RELU6 = _simple(
    "ReLU6", "ReLU capped at 6: min(max(0, x), 6). Used in mobile networks (MobileNetV2) "
             "because the bounded output suits low-precision arithmetic.")
HARDSWISH = _simple(
    "Hardswish", "A cheap piecewise approximation of SiLU/Swish, x·ReLU6(x + 3)/6, used in "
                 "MobileNetV3.", name="hswish", aliases=("h-swish", "hard swish"))
HARDSIGMOID = _simple(
    "Hardsigmoid", "A cheap piecewise-linear sigmoid, ReLU6(x + 3)/6: 0 below -3, 1 above 3 "
                   "(used in MobileNetV3).", name="hsigmoid",
    aliases=("hard sigmoid",))


def _hardtanh(ins, p):
    expect_float(ins[0])
    if p["max_val"] <= p["min_val"]:
        raise ShapeError(f"max_val ({p['max_val']:g}) must be larger than min_val "
                         f"({p['min_val']:g}): swap them or widen the range")
    return [ins[0]]


HARDTANH = LayerSpec(
    type="Hardtanh", category="Activation",
    description="Clips every value to the range [min_val, max_val] (a piecewise-linear tanh "
                "for the default -1..1).",
    params=(ParamSpec("min_val", "float", -1.0, "Values below this are set to it.",
                      min=-1000.0, max=1000.0),
            ParamSpec("max_val", "float", 1.0, "Values above this are set to it; must be "
                      "larger than min_val.", min=-1000.0, max=1000.0)),
    infer=_hardtanh, module="nn.Hardtanh",
    module_args=lambda ins, p: {"min_val": p["min_val"], "max_val": p["max_val"]},
    key_params=("min_val", "max_val"), default_name="htanh",
)


def _prelu_count(ins, p) -> int:
    return ins[0].dims[0] if p["num_parameters"] == "per channel" else 1


PRELU = LayerSpec(
    type="PReLU", category="Activation",
    description="Leaky ReLU whose negative slope is learned: one slope for the whole layer, or "
                "one per channel (dimension 1, the features of (N, F)).",
    params=(ParamSpec("num_parameters", "choice", "shared", "One slope for every value "
                      "('shared') or one per channel of dimension 1 ('per channel').",
                      choices=("shared", "per channel")),
            ParamSpec("init", "float", 0.25, "Starting value of the learned slope(s).",
                      min=0.0, max=1.0)),
    infer=_elementwise, module="nn.PReLU",
    module_args=lambda ins, p: {"num_parameters": _prelu_count(ins, p), "init": p["init"]},
    cost=lambda ins, outs, p: (_prelu_count(ins, p), 0),
    key_params=("num_parameters",), default_name="prelu",
    aliases=("parametric relu", "learned leaky relu"),
)

_ALPHA = "Size of the negative saturation: outputs approach -alpha for very negative inputs."
ELU = _simple(
    "ELU", "Exponential linear unit: x for x > 0, alpha·(exp(x) - 1) below, a smooth ReLU "
           "whose negative outputs push the mean activation towards zero.",
    params=(ParamSpec("alpha", "float", 1.0, _ALPHA, min=0.0, max=10.0),),
    args=lambda ins, p: {"alpha": p["alpha"]}, key=("alpha",))
SELU = _simple(
    "SELU", "Scaled ELU with fixed constants: in a plain stack of Linear layers it keeps the "
            "activations normalised by itself (self-normalising networks; pair it with "
            "AlphaDropout).", aliases=("self-normalizing",))
CELU = _simple(
    "CELU", "Continuously differentiable ELU: max(0, x) + min(0, alpha·(exp(x/alpha) - 1)).",
    params=(ParamSpec("alpha", "float", 1.0, _ALPHA + " Must not be 0.", min=0.01,
                      max=10.0),),
    args=lambda ins, p: {"alpha": p["alpha"]}, key=("alpha",))
SOFTPLUS = _simple(
    "Softplus", "A smooth ReLU, log(1 + exp(beta·x))/beta, whose output is always positive "
                "(useful for predicting a scale or a rate).",
    params=(ParamSpec("beta", "float", 1.0, "Sharpness: larger values bend closer to ReLU.",
                      min=0.01, max=100.0),
            ParamSpec("threshold", "float", 20.0, "Above beta·x > threshold the output is just "
                      "x (avoids overflow).", min=0.0, max=100.0)),
    args=lambda ins, p: {"beta": p["beta"], "threshold": p["threshold"]}, key=("beta",))
MISH = _simple(
    "Mish", "x·tanh(softplus(x)): a smooth, non-monotonic activation similar to SiLU (used in "
            "YOLOv4).")
SOFTSIGN = _simple(
    "Softsign", "x / (1 + |x|): squashes to (-1, 1) like Tanh but approaches the limits more "
                "slowly.")


def _glu(ins, p):
    x = ins[0]
    expect_float(x)
    dim = normalize_dim(p["dim"], x.rank, "dim")
    if dim == 0:
        raise ShapeError("dim 0 is the batch: GLU would gate one sample with another; use -1 "
                         "(the last dimension)")
    size = x.dims[dim - 1]
    if size % 2:
        raise ShapeError(f"GLU cuts dim {p['dim']} into two halves (values and gates), but it "
                         f"has odd size {size} in {x}: make it even, e.g. give the layer before "
                         f"{size + 1} outputs")
    dims = list(x.dims)
    dims[dim - 1] = size // 2
    return [x.with_dims(dims)]


GLU = LayerSpec(
    type="GLU", category="Activation",
    description="Gated linear unit: splits dimension dim into halves a and b and returns "
                "a·sigmoid(b), so that dim comes out half as large.",
    params=(ParamSpec("dim", "int", -1, "Dimension cut in half (-1 = last).", min=-8, max=8),),
    infer=_glu, module="nn.GLU", module_args=lambda ins, p: {"dim": p["dim"]},
    cost=lambda ins, outs, p: (0, outs[0].numel), key_params=("dim",), default_name="glu",
    aliases=("gated linear unit",),
)

SPECS += (RELU6, HARDSWISH, HARDSIGMOID, HARDTANH, PRELU, ELU, SELU, CELU, SOFTPLUS, MISH, GLU,
          SOFTSIGN)
