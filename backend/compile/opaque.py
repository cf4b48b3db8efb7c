"""Running Opaque nodes: the imported operations LayerForge has no layer for.

An Opaque node's ``op`` parameter is JSON written by the importer. It says how to run the
operation with plain data only, so a project file never holds pickled objects:

- ``{"call": "function", "target": "torch.nn.functional:interpolate", "args": [...],
  "kwargs": {...}}`` — a function of an allow-listed torch/operator/math namespace;
- ``{"call": "method", "target": "mean", ...}`` — a tensor method (args[0] is the tensor);
- ``{"call": "module", "target": "GroupNorm", "init": [args, kwargs], "args": [...]}`` — a
  torch.nn module rebuilt from literal constructor arguments (its weights are in the
  checkpoint's state_dict under the node's name, as for any layer);
- ``{"call": "onnx", "model": BASE64}`` — a subgraph of an imported ONNX file with no
  layers, run by onnxruntime (inference only);
- ``{"call": "torchscript", "script": BASE64}`` — a submodule fx could not trace, recorded
  with ``torch.jit.trace`` at import (the branch its control flow took then is what runs).

Arguments are encoded by ``encode``: ``{"in": i}`` is the node's i-th input tensor,
``{"const": i}`` its i-th recorded constant tensor (a buffer/parameter of the node).
"""
from __future__ import annotations

import base64
import importlib
import io
import json
import math
import types
import warnings
from typing import Any

import torch
from torch import nn

from backend.compile.modules import register_builder
from backend.errors import CompileError

# Namespaces an Opaque function may come from, and names in them that could reach outside
# the tensor world (files, global settings) and are therefore never called from a file.
FUNCTION_MODULES = ("torch", "torch.nn.functional", "torch.special", "torch.linalg",
                    "torch.fft", "operator", "math")
DENIED = frozenset({"save", "load", "from_file", "set_default_device", "set_default_dtype",
                    "set_default_tensor_type", "manual_seed", "seed", "set_num_threads",
                    "set_num_interop_threads", "use_deterministic_algorithms", "compile",
                    "set_printoptions", "set_grad_enabled", "set_flush_denormal"})


class Const:
    """A recorded tensor argument (stored as a buffer or parameter of the node)."""

    def __init__(self, index: int) -> None:
        self.index = index


class In:
    """The node's i-th input tensor."""

    def __init__(self, index: int) -> None:
        self.index = index


def encode(value: Any) -> Any:
    """A Python argument -> JSON data (In/Const markers, tuples, slices, dtypes...)."""
    if isinstance(value, In):
        return {"in": value.index}
    if isinstance(value, Const):
        return {"const": value.index}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, torch.Size):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, slice):
        return {"slice": [encode(value.start), encode(value.stop), encode(value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": value.type}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    raise TypeError(f"cannot record an argument of type {type(value).__name__}")


def decode(data: Any, inputs: tuple[torch.Tensor, ...] = (), consts: list[torch.Tensor] = ()):
    """Inverse of ``encode``, substituting the node's inputs and constants."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):  # only inside the tagged forms below
        return [decode(v, inputs, consts) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"unreadable argument {data!r}")
    (tag, v), = data.items()
    if tag == "in":
        return inputs[v]
    if tag == "const":
        return consts[v]
    if tag == "float":
        return float(v)
    if tag == "tuple":
        return tuple(decode(x, inputs, consts) for x in v)
    if tag == "list":
        return [decode(x, inputs, consts) for x in v]
    if tag == "slice":
        return slice(*(decode(x, inputs, consts) for x in v))
    if tag == "ellipsis":
        return Ellipsis
    if tag == "dtype":
        dtype = getattr(torch, str(v), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {v!r}")
        return dtype
    if tag == "device":
        return torch.device(str(v))
    if tag == "memory_format":
        fmt = getattr(torch, str(v), None)
        if not isinstance(fmt, torch.memory_format):
            raise ValueError(f"unknown memory format {v!r}")
        return fmt
    if tag == "dict":
        return {k: decode(x, inputs, consts) for k, x in v.items()}
    raise ValueError(f"unreadable argument tag {tag!r}")


def resolve_function(target: str):
    """``"module:name"`` -> the function, only from FUNCTION_MODULES and never a DENIED one."""
    module_name, _, name = target.partition(":")
    if module_name not in FUNCTION_MODULES or not name or name in DENIED or \
            (name.startswith("_") and module_name != "operator"):
        raise ValueError(f"{target!r} is not an operation LayerForge will run from a file")
    fn = getattr(importlib.import_module(module_name), name, None)
    if fn is None or not callable(fn) or isinstance(fn, (type, types.ModuleType)):
        raise ValueError(f"{target!r} is not a function")
    return fn


def function_name(fn: Any) -> str | None:
    """The ``"module:name"`` of an allow-listed function, or None if it has none."""
    name = getattr(fn, "__name__", None)
    if not name or name in DENIED:
        return None
    for module_name in ("torch.nn.functional", "torch", "operator", "torch.special",
                        "torch.linalg", "torch.fft", "math"):
        module = importlib.import_module(module_name)
        if getattr(module, name, None) is fn:
            return f"{module_name}:{name}"
    return None


def module_class(name: str) -> type[nn.Module]:
    """A torch.nn layer class by name (nothing from outside torch.nn)."""
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)
            and cls.__module__.startswith("torch.nn.modules")):
        raise ValueError(f"{name!r} is not a torch.nn layer")
    return cls


class OpaqueFunction(nn.Module):
    """Runs a recorded function/method call; recorded tensors are its buffers/parameters."""

    def __init__(self, recipe: dict[str, Any]) -> None:
        super().__init__()
        self.kind = recipe["call"]
        if self.kind == "function":
            self.fn = resolve_function(recipe["target"])
        else:
            name = str(recipe["target"])
            if name.startswith("_") or not callable(getattr(torch.Tensor, name, None)):
                raise ValueError(f"{name!r} is not a tensor method")
            self.method = name
        self.args = recipe.get("args", [])
        self.kwargs = recipe.get("kwargs", {})
        self.n_consts = 0
        for i, (dims, dtype, trainable) in enumerate(recipe.get("consts", [])):
            t = torch.zeros(tuple(dims), dtype=decode({"dtype": dtype}))
            if trainable:
                self.register_parameter(f"c{i}", nn.Parameter(t))
            else:
                self.register_buffer(f"c{i}", t)
            self.n_consts += 1

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        consts = [getattr(self, f"c{i}") for i in range(self.n_consts)]
        args = [decode(a, xs, consts) for a in self.args]
        kwargs = {k: decode(v, xs, consts) for k, v in self.kwargs.items()}
        if self.kind == "function":
            return self.fn(*args, **kwargs)
        return getattr(args[0], self.method)(*args[1:], **kwargs)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", "") if self.kind == "function" else self.method


class OnnxRegion(nn.Module):
    """Runs an ONNX subgraph of an imported ONNX file with onnxruntime on the CPU (inference
    only: no gradients flow through it and its weights stay fixed inside the subgraph)."""

    def __init__(self, model: bytes) -> None:
        super().__init__()
        import onnx

        self.model = model
        proto = onnx.load_model_from_string(model)  # refuse a damaged blob now, not mid-run
        self.input_names = [i.name for i in proto.graph.input]
        self._session = None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(self.model, providers=["CPUExecutionProvider"])
        feeds = {name: x.detach().cpu().numpy() for name, x in zip(self.input_names, xs)}
        (out,) = self._session.run(None, feeds)
        return torch.from_numpy(out).to(xs[0].device if xs else "cpu")

    def extra_repr(self) -> str:
        return f"{len(self.model):,} bytes of ONNX"


def _plain_inputs(args: list, kwargs: dict) -> bool:
    return not kwargs and all(isinstance(a, dict) and set(a) == {"in"} and a["in"] == i
                              for i, a in enumerate(args))


def build_from_recipe(recipe: dict[str, Any]) -> nn.Module:
    """The torch module running one recorded operation (raises ValueError/KeyError)."""
    kind = recipe.get("call")
    if kind in ("function", "method"):
        return OpaqueFunction(recipe)
    if kind == "module":
        init_args, init_kwargs = recipe.get("init", [[], {}])
        module = module_class(recipe["target"])(*[decode(a) for a in init_args],
                                                 **{k: decode(v) for k, v in init_kwargs.items()})
        if not _plain_inputs(recipe.get("args", []), recipe.get("kwargs", {})):
            raise ValueError("a module is called with its input tensors only")
        return module
    if kind == "onnx":
        return OnnxRegion(base64.b64decode(recipe["model"]))
    if kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 2.14 marks TorchScript deprecated
            return torch.jit.load(io.BytesIO(base64.b64decode(recipe["script"])),
                                  map_location="cpu")
    raise ValueError(f"unknown kind of operation {kind!r}")


def build_opaque(node, inputs) -> nn.Module:
    """The module of an Opaque graph node; a damaged recipe raises CompileError naming it."""
    try:
        return build_from_recipe(json.loads(node.params["op"]))
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise CompileError(f"Opaque '{node.name}' cannot be rebuilt ({exc}); re-import the "
                           f"model it came from") from None


def describe(recipe: dict[str, Any]) -> str:
    """A short human name of a recorded operation: F.interpolate, .mean(), GroupNorm."""
    kind, target = recipe.get("call"), str(recipe.get("target", ""))
    if kind == "function":
        return target.replace("torch.nn.functional:", "F.").replace(":", ".")
    if kind == "method":
        return f".{target}()"
    if kind == "torchscript":
        return f"TorchScript {recipe.get('class', '')}".strip()
    if kind == "onnx":
        return "ONNX " + ", ".join(recipe.get("ops", []))
    return target


register_builder("opaque", lambda spec, node, inputs: build_opaque(node, inputs))
