"""Opaque: an operation of an imported model that has no catalogue layer.

The importer (backend/imports/torch_fx.py) records, as plain JSON text, how to run the operation
(``op``: a torch function, tensor method or torch.nn module with literal arguments) and the
tensor shapes it saw (``shapes``), so graph/ can show and check shapes without torch.
"""
from __future__ import annotations

import json
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec
from graph.shapes import TensorType

REIMPORT = "re-import the model with the new input shape"


def shapes_text(inputs: list[TensorType], output: TensorType, params: int = 0) -> str:
    """The ``shapes`` parameter for an op seen taking ``inputs`` and giving ``output``."""
    return json.dumps({"in": [[list(t.dims), t.dtype] for t in inputs],
                       "out": [list(output.dims), output.dtype], "params": params})


def read_shapes(p: dict[str, Any]) -> tuple[list[TensorType], TensorType, int]:
    """(recorded input types, output type, parameter count) from an Opaque node's params."""
    try:
        data = json.loads(p["shapes"])
        ins = [TensorType(tuple(int(d) for d in dims), str(dtype)) for dims, dtype in data["in"]]
        dims, dtype = data["out"]
        return ins, TensorType(tuple(int(d) for d in dims), str(dtype)), int(data.get("params", 0))
    except (ValueError, TypeError, KeyError) as exc:
        raise ShapeError("has no recorded shapes; Opaque nodes come from importing a model "
                         f"(File > Import PyTorch Model) ({type(exc).__name__})") from None


def _opaque(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    recorded, out, _ = read_shapes(p)
    if len(recorded) != len(ins):
        raise ShapeError(f"was imported with {len(recorded)} input(s) but has {len(ins)}")
    for i, (got, want) in enumerate(zip(ins, recorded)):
        if got != want:
            raise ShapeError(f"was imported for {want} but gets {got}: {REIMPORT}", port=i,
                             expected=str(want), fix=REIMPORT)
    return [out]


OPAQUE = LayerSpec(
    type="Opaque", category="Utility",
    description="An operation of an imported model with no LayerForge layer: it runs as "
                "recorded at import and keeps the shapes it was imported with.",
    params=(
        ParamSpec("operation", "text", "", "What it does, in short.", derived=True),
        ParamSpec("inputs", "int", 1, "How many tensors it takes.", min=1, max=8,
                  derived=True),
        ParamSpec("op", "text", "", "How it runs (recorded by the importer).", derived=True),
        ParamSpec("shapes", "text", "", "Input and output shapes recorded at import.",
                  derived=True),
    ),
    infer=_opaque, module="opaque", variadic=True, key_params=("operation",),
    cost=lambda ins, outs, p: (read_shapes(p)[2], 0), default_name="op",
)

SPECS = (OPAQUE,)
