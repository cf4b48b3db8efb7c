"""The imports room: existing models become editable LayerForge graphs with their weights.

``import_model("model.py:Net")`` traces a PyTorch class with torch.fx (``torch_fx``);
``import_model("model.onnx")`` reads an ONNX file (``onnx_file``). Both build through
``building`` (graph, weights, layout, verification against the original).
"""
from __future__ import annotations

import re

from backend.errors import ImportModelError
from backend.imports.building import ImportResult


def import_model(source: str, input_shape: tuple[int, ...] | None = None) -> ImportResult:
    """``model.py:ClassName`` or ``model.onnx`` -> an ImportResult."""
    if source.lower().endswith(".onnx"):
        from backend.imports.onnx_file import import_onnx  # onnx is a slow import

        return import_onnx(source)
    path, sep, class_name = source.rpartition(":")
    if not sep or not path.endswith(".py") or not class_name:
        raise ImportModelError(f"{source}: give a Python file and a class as model.py:ClassName, "
                               f"or an .onnx file")
    from backend.imports.torch_fx import import_python

    return import_python(path, class_name, input_shape)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,224,224"`` -> (3, 224, 224), with a clear error otherwise."""
    try:
        dims = tuple(int(p) for p in re.split(r"[,x× ]+", text.strip()) if p)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise ImportModelError(f"input shape {text!r}: write positive sizes separated by commas, "
                               f"e.g. 3,224,224")
    return dims
