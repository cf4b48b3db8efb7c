"""Attention and transformer layers, learned parameters and position encodings.

Self- and cross-attention are two types rather than one type with a "mode": a layer's input
ports cannot follow a parameter (only merge layers' in1..inK can), and a mode switch that
added or dropped the key_value port would silently cut an edge on the canvas.
"""
from __future__ import annotations

from math import prod

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec, expect_rank
from graph.shapes import TensorType

_SEQUENCE_FIX = ("for a vector insert a Reshape to T,E; for an image (N, C, H, W) insert a "
                 "Flatten from dim 2 and a Permute 0,2,1 to get (N, H·W, C)")


def _check_heads(width: int, heads: int, name: str) -> None:
    if width % heads:
        fits = [h for h in range(1, min(width, 16) + 1) if width % h == 0]
        raise ShapeError(f"the width {width} must be divisible by {name} ({heads}), because "
                         f"each head gets width/{name} features: try {name} = "
                         f"{', '.join(map(str, fits))}")


# ---- multi-head attention --------------------------------------------------------------------

_HEADS = ParamSpec("num_heads", "int", 4, "Parallel attention heads; each looks at "
                   "width/num_heads features (must divide the width E).", min=1, max=256)
_ATTN_DROPOUT = ParamSpec("dropout", "float", 0.0, "Dropout on the attention weights while "
                          "training.", min=0.0, max=1.0)
_ATTN_BIAS = ParamSpec("bias", "bool", True, "Learn bias terms in the input and output "
                       "projections.")
_ATTN_OUTPUTS = (PortSpec("out", "The attended sequence (N, T, E)."),
                 PortSpec("weights", "How much each query step attends to each key step "
                          "(N, T, S), averaged over the heads; each row sums to 1."))


def _self_attention(ins, p):
    x = ins[0]
    expect_rank(x, (3,), "(N, T, E)", _SEQUENCE_FIX)
    t, e = x.dims
    _check_heads(e, p["num_heads"], "num_heads")
    return [x, x.with_dims((t, t))]


def _cross_attention(ins, p):
    q, kv = ins
    expect_rank(q, (3,), "(N, T, E)", _SEQUENCE_FIX)
    expect_rank(kv, (3,), "(N, S, F)", _SEQUENCE_FIX, port=1)
    _check_heads(q.dims[-1], p["num_heads"], "num_heads")
    return [q, q.with_dims((q.dims[0], kv.dims[0]))]


def _attention_args(ins, p):
    e = ins[0].dims[-1]
    args = {"embed_dim": e, "num_heads": p["num_heads"], "dropout": p["dropout"],
            "bias": p["bias"], "batch_first": True}
    kv = ins[-1].dims[-1]
    if kv != e:  # the keys/values come with their own width: torch projects them from it
        args.update(kdim=kv, vdim=kv)
    return args


def _attention_cost(ins, outs, p):
    (t, e), (s, f) = ins[0].dims, ins[-1].dims
    params = 2 * e * e + 2 * e * f + (4 * e if p["bias"] else 0)
    # projections of the queries (T·E·E), keys and values (2·S·F·E) and the output (T·E·E),
    # then scores Q·Kᵀ and the weighted sum of V (T·S·E each)
    macs = 2 * t * e * e + 2 * s * f * e + 2 * t * s * e
    return params, macs


MULTIHEAD_ATTENTION = LayerSpec(
    type="MultiheadAttention", category="Attention",
    description="Self-attention: every step of a sequence (N, T, E) looks at all the steps and "
                "mixes in what is relevant to it, in several heads at once. Also outputs the "
                "attention weights (N, T, T), to see where each step looked.",
    params=(_HEADS, _ATTN_DROPOUT, _ATTN_BIAS), infer=_self_attention,
    # nn.MultiheadAttention, called with (x, x, x): the prefix is the one the backend and the
    # catalogue test read as "a torch.nn class with its own emitter" (see the report).
    module="recurrent.MultiheadAttention", module_args=_attention_args, cost=_attention_cost,
    outputs=_ATTN_OUTPUTS, key_params=("num_heads",), default_name="attn",
    aliases=("self-attention", "self attention", "MHA", "attention"),
)

CROSS_ATTENTION = LayerSpec(
    type="CrossAttention", category="Attention",
    description="Attention from one sequence to another: each step of the query (N, T, E) "
                "gathers information from the key_value sequence (N, S, F), e.g. a decoder "
                "reading an encoder's output. Also outputs the attention weights (N, T, S).",
    params=(_HEADS, _ATTN_DROPOUT, _ATTN_BIAS), infer=_cross_attention,
    module="recurrent.MultiheadAttention", module_args=_attention_args, cost=_attention_cost,
    inputs=(PortSpec("query", "The sequence that asks (N, T, E); the output has its shape."),
            PortSpec("key_value", "The sequence attended to (N, S, F), used as both keys and "
                     "values; its width F may differ from E.")),
    outputs=_ATTN_OUTPUTS, key_params=("num_heads",), default_name="xattn",
    aliases=("encoder-decoder attention", "cross attention", "cross-attention"),
)


# ---- transformer decoder layer ---------------------------------------------------------------

def _decoder(ins, p):
    tgt, memory = ins
    expect_rank(tgt, (3,), "(N, T, E)", "put an Embedding or Linear before it")
    expect_rank(memory, (3,), "(N, S, E)", "connect a sequence, e.g. an encoder's output",
                port=1)
    e = tgt.dims[-1]
    if memory.dims[-1] != e:
        fix = f"put a Linear with out_features={e} before the memory input"
        raise ShapeError(f"memory must have the width of tgt ({e}) but gets {memory}: {fix}",
                         port=1, expected=f"(N, S, {e})", fix=fix)
    _check_heads(e, p["nhead"], "nhead")
    return [tgt]


def _decoder_cost(ins, outs, p):
    (t, e), (s, _) = ins[0].dims, ins[1].dims
    ff = p["dim_feedforward"]
    attention = 4 * e * e + 4 * e
    params = 2 * attention + (e * ff + ff) + (ff * e + e) + 6 * e
    macs = (4 * t * e * e + 2 * t * t * e                       # self-attention
            + 2 * t * e * e + 2 * s * e * e + 2 * t * s * e     # attention to the memory
            + 2 * t * e * ff)                                   # feed-forward
    return params, macs


TRANSFORMER_DECODER = LayerSpec(
    type="TransformerDecoderLayer", category="Attention",
    description="Transformer decoder block: self-attention over tgt (N, T, E), attention to "
                "the memory (N, S, E) (usually an encoder's output), then a feed-forward "
                "part. There is no causal mask: every tgt step sees all of tgt.",
    params=(ParamSpec("nhead", "int", 4, "Attention heads (must divide the width E).",
                      min=1, max=256),
            ParamSpec("dim_feedforward", "int", 256, "Width of the feed-forward part.",
                      min=1, max=65536),
            ParamSpec("dropout", "float", 0.1, "Dropout inside the block.", min=0.0, max=1.0),
            ParamSpec("activation", "choice", "relu", "Feed-forward activation.",
                      choices=("relu", "gelu")),
            ParamSpec("norm_first", "bool", False, "LayerNorm before (True) or after each "
                      "part.")),
    infer=_decoder, module="nn.TransformerDecoderLayer",
    module_args=lambda ins, p: {"d_model": ins[0].dims[-1], "nhead": p["nhead"],
                                "dim_feedforward": p["dim_feedforward"],
                                "dropout": p["dropout"], "activation": p["activation"],
                                "norm_first": p["norm_first"], "batch_first": True},
    cost=_decoder_cost,
    inputs=(PortSpec("tgt", "The sequence being transformed (N, T, E)."),
            PortSpec("memory", "The sequence it attends to (N, S, E), e.g. an encoder's "
                     "output.")),
    key_params=("nhead",), default_name="decoder",
    aliases=("transformer decoder", "decoder block"),
)


# ---- learned tensors and position encodings --------------------------------------------------

def _parameter(ins, p):
    return [TensorType(tuple(p["size"]), "float")]


PARAMETER = LayerSpec(
    type="Parameter", category="Attention",
    description="A learned tensor of the given per-sample size, the same for every sample: "
                "(N, *size). Its input only tells the batch size (its values are not used), "
                "so connect anything, e.g. the Input. Use it for learned queries or a "
                "learned start state.",
    params=(ParamSpec("size", "ints", (8, 16), "Shape of the learned tensor per sample "
                      "(without the batch), e.g. 8,16 for 8 learned vectors of width 16.",
                      min=1, max=65536),),
    infer=_parameter, module="ops.Parameter",
    module_args=lambda ins, p: {"size": tuple(p["size"])},
    cost=lambda ins, outs, p: (prod(p["size"]), 0),
    inputs=(PortSpec("in", "Any tensor: only its batch size is read."),),
    key_params=("size",), default_name="param",
    aliases=("learned tensor", "learned query", "nn.Parameter", "latent array"),
)


def _sequence(ins, p):
    x = ins[0]
    expect_rank(x, (3,), "(N, T, E)", _SEQUENCE_FIX)
    return [x]


def _class_token(ins, p):
    x = _sequence(ins, p)[0]
    t, e = x.dims
    return [x.with_dims((t + 1, e))]


def _position_args(ins, p):
    return {"length": ins[0].dims[-2], "dim": ins[0].dims[-1]}


CLASS_TOKEN = LayerSpec(
    type="ClassToken", category="Attention",
    description="Puts one learned token in front of a sequence: (N, T, E) -> (N, T+1, E). "
                "After the encoder, read it out at step 0 to classify the whole sequence, as "
                "ViT and BERT do. It starts at zeros.",
    params=(), infer=_class_token, module="ops.ClassToken",
    module_args=lambda ins, p: {"dim": ins[0].dims[-1]},
    cost=lambda ins, outs, p: (ins[0].dims[-1], 0), default_name="cls",
    aliases=("cls token", "class token", "[CLS]"),
)

POSITION_EMBEDDING = LayerSpec(
    type="PositionEmbedding", category="Attention",
    description="Adds a learned vector for each position to a sequence (N, T, E), so that "
                "attention, which ignores order, can tell the steps apart (as in ViT and "
                "BERT). Its length is fixed to T.",
    params=(), infer=_sequence, module="ops.PositionEmbedding", module_args=_position_args,
    cost=lambda ins, outs, p: (ins[0].numel, 0), default_name="pos",
    aliases=("learned positional embedding", "positional embedding", "pos embed"),
)

SINUSOIDAL_ENCODING = LayerSpec(
    type="SinusoidalPositionalEncoding", category="Attention",
    description="Adds fixed sine and cosine waves of different frequencies to a sequence "
                "(N, T, E), so that attention can tell the positions apart (the original "
                "Transformer's encoding). Nothing is learned.",
    params=(), infer=_sequence, module="ops.SinusoidalPositionalEncoding",
    module_args=_position_args, default_name="pos",
    aliases=("positional encoding", "sinusoidal", "position encoding"),
)

SPECS: tuple[LayerSpec, ...] = (MULTIHEAD_ATTENTION, CROSS_ATTENTION, TRANSFORMER_DECODER,
                                PARAMETER, CLASS_TOKEN, POSITION_EMBEDDING,
                                SINUSOIDAL_ENCODING)
