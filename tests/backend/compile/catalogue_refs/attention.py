"""Plain-torch references and deliberate refusals for one layer family (attention), merged into
tests/backend/compile/test_catalogue_vs_torch.py (see its docstring for what each table means).

Also holds the generative (Reparameterize) and EmbeddingBag entries, which have no table of
their own.
"""
from __future__ import annotations

import math
from typing import Any

import torch  # noqa: F401 - the references are written in plain torch
from torch.nn import functional as F  # noqa: F401

from graph.shapes import TensorType


def _attention(xs, p, m):
    """Multi-head attention written out from the compiled module's weights: project, split
    into heads, softmax(Q·Kᵀ/√d)·V, join the heads, project; the weights averaged over heads."""
    query, key_value = xs[0], xs[-1]
    m(query, key_value, key_value)  # what torch itself accepts (raises where it refuses)
    e, h = query.shape[-1], p["num_heads"]
    if m.in_proj_weight is not None:
        wq, wk, wv = m.in_proj_weight.split(e)
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    bq, bk, bv = m.in_proj_bias.split(e) if m.in_proj_bias is not None else (None,) * 3
    n, t, s, d = query.shape[0], query.shape[1], key_value.shape[1], e // h

    def heads(x, w, b, length):
        return F.linear(x, w, b).reshape(n, length, h, d).transpose(1, 2)  # (N, h, L, d)

    q, k, v = heads(query, wq, bq, t), heads(key_value, wk, bk, s), heads(key_value, wv, bv, s)
    weights = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(d), dim=-1)  # (N, h, T, S)
    out = (weights @ v).transpose(1, 2).reshape(n, t, e)
    return F.linear(out, m.out_proj.weight, m.out_proj.bias), weights.mean(dim=1)


def _class_token(xs, p, m):
    x = xs[0]
    out = x.new_empty(x.shape[0], x.shape[1] + 1, x.shape[2])
    out[:, 0] = m.weight.reshape(-1)
    out[:, 1:] = x
    return out


def _sinusoid(xs, p, m):
    x = xs[0]
    length, dim = x.shape[-2:]
    table = [[(math.sin if i % 2 == 0 else math.cos)(t / 10000 ** ((i - i % 2) / dim))
              for i in range(dim)] for t in range(length)]
    return x + torch.tensor(table, dtype=x.dtype)


def _reparameterize(xs, p, m):
    """Eval mode: z is the mean."""
    x = xs[0]
    half = x.shape[1] // 2
    mean, log_var = x[:, :half], x[:, half:]
    return mean, mean, log_var


TORCH_OPS: dict[str, Any] = {          # module name -> (xs, p, layer) -> tensor or tuple
    "recurrent.MultiheadAttention": _attention,
    "ops.Parameter": lambda xs, p, m: torch.stack([m.weight] * xs[0].shape[0]),
    "ops.ClassToken": _class_token,
    "ops.PositionEmbedding": lambda xs, p, m: xs[0] + m.weight[0],
    "ops.SinusoidalPositionalEncoding": _sinusoid,
    "ops.Reparameterize": _reparameterize,
}
REASONS: dict[str, str] = {            # refusal key -> why we refuse what torch runs
    "position_rank": "a position table (T, E) added to more than a sequence (N, A, T, E): "
                     "torch broadcasts it over the extra axis; we ask for a sequence",
    "odd_split": "Reparameterize of an odd width: torch's chunk gives mean and log-variance "
                 "different sizes (and z = mean still runs in eval mode)",
}
DELIBERATE_EXAMPLES: list[tuple] = [   # (reason, type, param overrides, [TensorType, ...])
    ("position_rank", "PositionEmbedding", {}, [TensorType((2, 3, 4))]),
    ("position_rank", "SinusoidalPositionalEncoding", {}, [TensorType((2, 3, 4))]),
    ("odd_split", "Reparameterize", {}, [TensorType((5,))]),
    ("unbatched", "TransformerDecoderLayer", {"nhead": 2}, [TensorType((4,))] * 2),
]
UNBATCHED_RANK: dict[str, int] = {     # type -> batched rank torch also runs one rank lower
    "MultiheadAttention": 3, "CrossAttention": 3, "TransformerDecoderLayer": 3,
}
TOKEN_LAYERS: set[str] = {             # types that pass token ids through unchanged
    "EmbeddingBag",  # looks them up, as Embedding does
    "Parameter",  # reads only the batch size of its input
}
CAPS: dict[str, int] = {"num_heads": 4}  # param name -> upper bound drawn (keeps modules tiny)
FLOP_COUNTED: set[str] = {             # types whose MACs torch's FlopCounterMode sees in full
    # need_weights=True keeps torch on the explicit bmm path while training (no fused kernel)
    "MultiheadAttention", "CrossAttention",
}


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ in ("PositionEmbedding", "SinusoidalPositionalEncoding") and x.rank > 3:
        return "position_rank"
    if type_ == "Reparameterize" and x.dims[0] % 2:
        return "odd_split"
    return None
