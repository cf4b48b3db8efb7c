"""Input and Output: where tensors enter and leave the network."""
from __future__ import annotations

from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec
from graph.shapes import TensorType

# How many per-sample dims each Input kind has, and what they mean.
INPUT_KINDS: dict[str, tuple[int, str]] = {
    "image": (3, "channels, height, width"),
    "vector": (1, "features"),
    "sequence": (2, "time steps, features"),
    "tokens": (1, "time steps (integer token ids)"),
}


def _input_shape(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    rank, meaning = INPUT_KINDS[p["kind"]]
    dims = tuple(p["shape"])
    if len(dims) != rank:
        raise ShapeError(f"a '{p['kind']}' input needs {rank} numbers ({meaning}), got {len(dims)}")
    return [TensorType(dims, "long" if p["kind"] == "tokens" else "float")]


INPUT = LayerSpec(
    type="Input", category="Input/Output",
    description="Where data enters the network: an image (C×H×W), a feature vector, a "
                "sequence (T×F) or a sequence of token ids (T).",
    params=(
        ParamSpec("kind", "choice", "image", "What one sample is.", choices=tuple(INPUT_KINDS)),
        ParamSpec("shape", "ints", (1, 28, 28), "Size of one sample, without the batch "
                  "dimension: C,H,W for images; F for vectors; T,F for sequences; T for tokens.",
                  min=1, max=1_000_000),
    ),
    infer=_input_shape, module="input", inputs=(), key_params=("kind", "shape"),
    default_name="input",
)

OUTPUT = LayerSpec(
    type="Output", category="Input/Output",
    description="Marks a tensor the network returns (the model's prediction).",
    params=(), infer=lambda ins, p: [], module="output", outputs=(),
    default_name="output",
)

SPECS = (INPUT, OUTPUT)
