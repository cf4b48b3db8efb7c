"""Sequence layers: Embedding, EmbeddingBag, RNN, LSTM, GRU and the transformer encoder layer."""
from __future__ import annotations

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank


def _embedding(ins, p):
    x = ins[0]
    if x.dtype != "long":
        raise ShapeError(f"expects token ids (integers) but gets real numbers {x}: set the "
                         f"Input kind to 'tokens'", port=0, expected="(N, T) token ids",
                         fix="set the Input kind to 'tokens'")
    return [x.with_dims((*x.dims, p["embedding_dim"]), "float")]


EMBEDDING = LayerSpec(
    type="Embedding", category="Recurrent",
    description="Looks up a learned vector for each token id: (N, T) -> (N, T, E).",
    params=(ParamSpec("num_embeddings", "int", 128, "Vocabulary size (largest token id + 1).",
                      min=1, max=10_000_000),
            ParamSpec("embedding_dim", "int", 64, "Length of each token's vector.",
                      min=1, max=65536)),
    infer=_embedding, module="nn.Embedding",
    module_args=lambda ins, p: {"num_embeddings": p["num_embeddings"],
                                "embedding_dim": p["embedding_dim"]},
    cost=lambda ins, outs, p: (p["num_embeddings"] * p["embedding_dim"], 0),
    key_params=("embedding_dim",), default_name="embed",
)



def _embedding_bag(ins, p):
    x = ins[0]
    if x.dtype != "long":
        raise ShapeError(f"expects token ids (integers) but gets real numbers {x}: set the "
                         f"Input kind to 'tokens'", port=0, expected="(N, T) token ids",
                         fix="set the Input kind to 'tokens'")
    if x.rank != 2:
        raise ShapeError(f"expects one bag of token ids per sample (N, T) but gets {x}: "
                         f"insert a Flatten", port=0, expected="(N, T) token ids",
                         fix="insert a Flatten")
    return [x.with_dims((p["embedding_dim"],), "float")]


EMBEDDING_BAG = LayerSpec(
    type="EmbeddingBag", category="Recurrent",
    description="Looks up a learned vector for each token id and combines them (mean, sum or "
                "max) into one vector per sample: (N, T) -> (N, E). A fast bag-of-words "
                "model: the order of the tokens does not matter.",
    params=(ParamSpec("num_embeddings", "int", 128, "Vocabulary size (largest token id + 1).",
                      min=1, max=10_000_000),
            ParamSpec("embedding_dim", "int", 64, "Length of each token's vector.",
                      min=1, max=65536),
            ParamSpec("mode", "choice", "mean", "How the vectors of a sample's tokens are "
                      "combined: their average, their sum, or the largest value of each "
                      "feature.", choices=("mean", "sum", "max"))),
    infer=_embedding_bag, module="nn.EmbeddingBag",
    module_args=lambda ins, p: {"num_embeddings": p["num_embeddings"],
                                "embedding_dim": p["embedding_dim"], "mode": p["mode"]},
    cost=lambda ins, outs, p: (p["num_embeddings"] * p["embedding_dim"], 0),
    key_params=("embedding_dim", "mode"), default_name="bag",
    aliases=("bag of words", "bag of embeddings"),
)

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _recurrent(ins, p):
    x = ins[0]
    expect_rank(x, (3,), "(N, T, F)", "for an image use a Conv2d; for a vector insert a "
                "Reshape to T,F")
    width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
    if p["output"] == "last":
        return [x.with_dims((width,))]
    return [x.with_dims((x.dims[0], width))]


def _recurrent_cost(type_: str):
    def cost(ins, outs, p):
        t, f = ins[0].dims
        h, dirs, gates = p["hidden_size"], 2 if p["bidirectional"] else 1, GATES[type_]
        params = macs = 0
        for layer in range(p["num_layers"]):
            f_in = f if layer == 0 else h * dirs
            weights = gates * h * (f_in + h)
            params += dirs * (weights + (2 * gates * h if p["bias"] else 0))
            macs += dirs * t * weights
        return params, macs
    return cost


def _recurrent_args(type_: str):
    def args(ins, p):
        kwargs = {"input_size": ins[0].dims[-1], "hidden_size": p["hidden_size"],
                  "num_layers": p["num_layers"], "bias": p["bias"], "batch_first": True,
                  # torch warns when dropout is set on a single layer, where it has no effect
                  "dropout": p["dropout"] if p["num_layers"] > 1 else 0.0,
                  "bidirectional": p["bidirectional"]}
        if type_ == "RNN":
            kwargs["nonlinearity"] = p["nonlinearity"]
        return kwargs
    return args


def _recurrent_spec(type_: str, description: str) -> LayerSpec:
    params = (
        ParamSpec("hidden_size", "int", 64, "Size of the hidden state.", min=1, max=65536),
        ParamSpec("num_layers", "int", 1, "Stacked layers.", min=1, max=16),
        ParamSpec("bidirectional", "bool", False, "Also read the sequence backwards "
                  "(doubles the output width)."),
        ParamSpec("dropout", "float", 0.0, "Dropout between stacked layers.", min=0.0, max=1.0),
        ParamSpec("bias", "bool", True, "Learn bias terms."),
        ParamSpec("output", "choice", "last", "'last': the final time step's output (N, H), "
                  "for forecasting or classifying a sequence; 'sequence': every step (N, T, H).",
                  choices=("last", "sequence")),
    )
    if type_ == "RNN":
        params += (ParamSpec("nonlinearity", "choice", "tanh", "Activation of the cell.",
                             choices=("tanh", "relu")),)
    return LayerSpec(
        type=type_, category="Recurrent", description=description, params=params,
        infer=_recurrent, module=f"recurrent.{type_}", module_args=_recurrent_args(type_),
        cost=_recurrent_cost(type_), key_params=("hidden_size", "output"),
        default_name=type_.lower(),
    )


RNN = _recurrent_spec("RNN", "Simple recurrent layer over (N, T, F).")
LSTM = _recurrent_spec("LSTM", "Long short-term memory over (N, T, F): remembers long ranges.")
GRU = _recurrent_spec("GRU", "Gated recurrent unit over (N, T, F): a lighter LSTM.")


def _transformer(ins, p):
    x = ins[0]
    expect_rank(x, (3,), "(N, T, E)", "put an Embedding or Linear before it")
    if x.dims[-1] % p["nhead"]:
        raise ShapeError(f"the model width {x.dims[-1]} must be divisible by nhead "
                         f"({p['nhead']})")
    return [x]


def _transformer_cost(ins, outs, p):
    t, e = ins[0].dims
    ff = p["dim_feedforward"]
    params = (3 * e * e + 3 * e) + (e * e + e) + (e * ff + ff) + (ff * e + e) + 4 * e
    macs = t * (4 * e * e + 2 * e * ff) + 2 * t * t * e
    return params, macs


TRANSFORMER = LayerSpec(
    type="TransformerEncoderLayer", category="Attention",
    description="Self-attention + feed-forward block over (N, T, E).",
    params=(ParamSpec("nhead", "int", 4, "Attention heads (must divide the width).",
                      min=1, max=256),
            ParamSpec("dim_feedforward", "int", 256, "Width of the feed-forward part.",
                      min=1, max=65536),
            ParamSpec("dropout", "float", 0.1, "Dropout inside the block.", min=0.0, max=1.0),
            ParamSpec("activation", "choice", "relu", "Feed-forward activation.",
                      choices=("relu", "gelu")),
            ParamSpec("norm_first", "bool", False, "LayerNorm before (True) or after each part.")),
    infer=_transformer, module="nn.TransformerEncoderLayer",
    module_args=lambda ins, p: {"d_model": ins[0].dims[-1], "nhead": p["nhead"],
                                "dim_feedforward": p["dim_feedforward"],
                                "dropout": p["dropout"], "activation": p["activation"],
                                "norm_first": p["norm_first"], "batch_first": True},
    cost=_transformer_cost, key_params=("nhead",), default_name="encoder",
)

SPECS = (EMBEDDING, EMBEDDING_BAG, RNN, LSTM, GRU, TRANSFORMER)
