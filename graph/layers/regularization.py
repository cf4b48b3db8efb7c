"""Regularisation layers (dropout variants, stochastic depth). The plain Dropout is in dense."""
from __future__ import annotations

from graph.layers.base import LayerSpec, ParamSpec, expect_float, expect_rank

_P = ParamSpec("p", "float", 0.5, "Probability of zeroing each channel.", min=0.0, max=1.0)


def _channel_dropout(rank: int, layout: str, what: str):
    def rule(ins, p):
        expect_rank(ins[0], (rank,), layout, f"it drops whole {what}; for other shapes use "
                                             f"Dropout")
        return [ins[0]]
    return rule


def _dropout_nd(n: int, layout: str, what: str, description: str, aliases=()) -> LayerSpec:
    return LayerSpec(
        type=f"Dropout{n}d", category="Regularization", description=description,
        params=(_P,), infer=_channel_dropout(n + 2, layout, what), module=f"nn.Dropout{n}d",
        module_args=lambda ins, p: {"p": p["p"]}, key_params=("p",), default_name="drop",
        aliases=aliases,
    )


DROPOUT1D = _dropout_nd(
    1, "(N, C, L)", "channels of a sequence",
    "While training, zeroes whole channels of (N, C, L) at random (each with probability p) "
    "instead of single values; neighbouring steps are alike, so this regularises better after "
    "a Conv1d.", aliases=("SpatialDropout1D",))
DROPOUT2D = _dropout_nd(
    2, "(N, C, H, W)", "feature maps",
    "While training, zeroes whole feature maps of (N, C, H, W) at random (each with "
    "probability p); better than plain Dropout after a Conv2d, whose neighbouring pixels are "
    "alike.", aliases=("SpatialDropout2D", "spatial dropout"))
DROPOUT3D = _dropout_nd(
    3, "(N, C, D, H, W)", "channels of a volume",
    "While training, zeroes whole channels of a volume (N, C, D, H, W) at random (each with "
    "probability p).", aliases=("SpatialDropout3D",))


def _same_float(ins, p):
    expect_float(ins[0])
    return [ins[0]]


ALPHADROPOUT = LayerSpec(
    type="AlphaDropout", category="Regularization",
    description="Dropout for SELU networks: while training, sets a fraction p of the values "
                "to SELU's negative limit and rescales, keeping mean and variance unchanged.",
    params=(ParamSpec("p", "float", 0.5, "Probability of dropping each value.", min=0.0,
                      max=1.0),),
    infer=_same_float, module="nn.AlphaDropout", module_args=lambda ins, p: {"p": p["p"]},
    key_params=("p",), default_name="drop",
)

STOCHASTICDEPTH = LayerSpec(
    type="StochasticDepth", category="Regularization",
    description="While training, drops its whole input for a random fraction p of the samples "
                "('row') or for the whole batch ('batch'), scaling the rest by 1/(1-p). Put it "
                "at the end of a skip-connection branch, before the Add (ConvNeXt, "
                "EfficientNet); at inference it passes everything through.",
    params=(ParamSpec("p", "float", 0.1, "Probability of dropping a sample's branch.",
                      min=0.0, max=1.0),
            ParamSpec("mode", "choice", "row", "'row': each sample is dropped on its own; "
                      "'batch': the whole batch is dropped or kept together.",
                      choices=("row", "batch"))),
    infer=_same_float, module="ops.StochasticDepth",
    module_args=lambda ins, p: {"p": p["p"], "mode": p["mode"]},
    key_params=("p", "mode"), default_name="droppath", aliases=("DropPath", "drop path"),
)

SPECS: tuple[LayerSpec, ...] = (DROPOUT1D, DROPOUT2D, DROPOUT3D, ALPHADROPOUT, STOCHASTICDEPTH)
