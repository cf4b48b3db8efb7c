"""Generative layers (VAE sampling).

Reparameterize takes ONE input, the mean and the log-variance side by side (N, 2·Z): a single
Linear(2·Z) in front of it is the usual VAE encoder head, and its outputs mean and log_var are
then the two halves the KL term of the loss needs (with two inputs, those outputs would only
repeat the inputs).
"""
from __future__ import annotations

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, PortSpec, expect_float


def _reparameterize(ins, p):
    x = ins[0]
    expect_float(x, "(N, 2·Z)")
    width = x.dims[0]
    if width % 2:
        fix = f"make the layer before it output an even number, e.g. {width + 1}"
        raise ShapeError(f"expects the mean and the log-variance side by side, (N, 2·Z), but "
                         f"gets {x}, whose {width} features do not split into two equal halves: "
                         f"{fix}",
                         port=0, expected="(N, 2·Z)", fix=fix)
    half = x.with_dims((width // 2, *x.dims[1:]))
    return [half, half, half]


REPARAMETERIZE = LayerSpec(
    type="Reparameterize", category="Generative",
    description="The sampling step of a variational autoencoder: splits (N, 2·Z) into mean "
                "and log-variance and draws z = mean + exp(log_var / 2) · noise while "
                "training (z = mean at inference, so results are repeatable). Feed mean and "
                "log_var to the KL part of the loss.",
    params=(), infer=_reparameterize, module="ops.Reparameterize",
    # one multiply-add per latent value (the noise times the standard deviation, plus the mean)
    cost=lambda ins, outs, p: (0, outs[0].numel),
    inputs=(PortSpec("in", "Mean and log-variance side by side (N, 2·Z), e.g. from a "
                     "Linear with 2·Z outputs; (N, 2·C, H, W) splits the channels."),),
    outputs=(PortSpec("z", "The sampled code (N, Z); the mean at inference."),
             PortSpec("mean", "The first half of the input (N, Z)."),
             PortSpec("log_var", "The second half of the input (N, Z): log of the "
                      "variance.")),
    default_name="sample",
    aliases=("VAE", "sampling", "reparameterization trick", "reparametrize"),
)

SPECS: tuple[LayerSpec, ...] = (REPARAMETERIZE,)
