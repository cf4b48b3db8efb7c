"""Import existing PyTorch models as editable LayerForge graphs.

``import_python("model.py", "Net", (3, 224, 224))`` traces the class with torch.fx,
``import_module(module, shapes)`` does the same for a live module, and
``backend.imports.onnx_file.import_onnx`` reads an ONNX file. Operations with a catalogue layer
become that layer (parameters read from the module); the rest become Opaque nodes that run
as recorded (backend/compile/opaque.py) and keep the shapes seen at import. The result carries a
state_dict whose keys are the graph's node names, so ``compile_graph(graph)`` loads it and
reproduces the original outputs.
"""
from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import linecache
import logging
import operator
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from backend.errors import ImportModelError
from backend.compile.opaque import Const, In, describe, encode, function_name, module_class
from backend.imports.building import (EXAMPLE_BATCH, GraphBuilder, ImportResult, finish,
                                     input_params, tensor_type, verify)
from backend.imports.progress import stage
from graph.layers.opaque import shapes_text
from graph.shapes import TensorType

log = logging.getLogger(__name__)

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


# ---- loading a Python file -------------------------------------------------------------------

def load_python_model(path: str | os.PathLike, name: str) -> nn.Module:
    """Run ``path`` and build ``name()`` (a class or a function returning a module).

    This executes the user's own Python file, as importing it in Python would.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportModelError(f"{path}: no such file")
    module_name = f"_layerforge_import_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportModelError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses/pickle inside the file look it up
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ImportModelError(f"{path}, line {exc.lineno}: syntax error ({exc.msg}); fix the "
                               f"file and import again") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the user's code is reported
        raise ImportModelError(f"{path}: running the file failed at {_user_line(exc)}: "
                               f"{type(exc).__name__}: {exc}") from None
    factory = getattr(module, name, None)
    if factory is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and
                       issubclass(v, nn.Module) and v.__module__ == module_name)
        raise ImportModelError(f"{path}: there is no {name!r} in the file; nn.Module classes "
                               f"in it: {', '.join(found) or 'none'}")
    try:
        model = factory()
    except TypeError as exc:
        raise ImportModelError(f"{path}: {name}() cannot be created without arguments ({exc}); "
                               f"give its constructor defaults or add a function that returns "
                               f"the model") from None
    except Exception as exc:  # noqa: BLE001
        raise ImportModelError(f"{path}: creating {name}() failed at {_user_line(exc)}: "
                               f"{type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ImportModelError(f"{path}: {name}() returned a {type(model).__name__}, not a "
                               f"torch.nn.Module")
    return model


def _user_frame(tb) -> traceback.FrameSummary | None:
    """The innermost frame of a traceback that is not inside torch (the user's code)."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(_TORCH_DIR)
              and not f.filename.startswith(os.path.dirname(__file__))]
    return frames[-1] if frames else None


def _user_line(exc: BaseException) -> str:
    frame = _user_frame(exc.__traceback__)
    if frame is None:
        return "an unknown line"
    return f"{frame.filename}, line {frame.lineno} ({(frame.line or '').strip()})"


# ---- fx tracing ------------------------------------------------------------------------------

class _Tracer(fx.Tracer):
    """Records each op's source line (for names) and the submodule a trace failure is in."""

    def __init__(self, leaves: set[str]) -> None:
        super().__init__()
        self.leaves = leaves
        self.path: list[str] = []
        self.failed_in: str | None = None
        self.module_args: dict[str, list[tuple[int | str, fx.Node]]] = {}

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        qualname = self.path_of_module(m)
        if qualname not in self.module_args:  # the first call's tensor arguments, for the
            # port order and names of the block the module becomes (backend/imports/structure)
            self.module_args[qualname] = [(i, a.node) for i, a in enumerate(args)
                                          if isinstance(a, fx.Proxy)] + \
                [(k, a.node) for k, a in kwargs.items() if isinstance(a, fx.Proxy)]
        self.path.append(qualname)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = qualname  # innermost module whose forward failed
            raise
        finally:
            self.path.pop()

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith((_TORCH_DIR, "<"))
                                     or frame.f_code.co_filename == __file__):
            frame = frame.f_back
        if frame is not None:
            node.meta["lf_source"] = (frame.f_code.co_filename, frame.f_lineno)
        return node


def trace(model: nn.Module, leaves: set[str] | None = None) -> tuple[fx.GraphModule, list[str]]:
    """fx-trace ``model`` (``leaves``: submodule paths kept whole); a submodule with
    data-dependent control flow becomes a leaf too (run as TorchScript later). Returns the
    GraphModule and notes about such fallbacks."""
    leaves = set(leaves or ())
    notes: list[str] = []
    while True:
        tracer = _Tracer(leaves)
        try:
            graph = tracer.trace(model)
            gm = fx.GraphModule(model, graph, model.__class__.__name__)
            gm.meta["lf_module_args"] = tracer.module_args
            return gm, notes
        except Exception as exc:  # noqa: BLE001 - any tracing failure is reported
            where = _user_line(exc)
            failed = tracer.failed_in
            if not failed or failed in leaves:
                raise ImportModelError(
                    f"torch.fx cannot trace {type(model).__name__}: {where}: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                    f"Data-dependent control flow (if/for on tensor values) cannot become a "
                    f"graph; move it into a submodule (it is then imported as one opaque "
                    f"node) or export the model to ONNX and import that") from None
            leaves.add(failed)
            notes.append(f"'{failed}' could not be traced by torch.fx ({where}): it is "
                         f"imported as one Opaque node recorded with TorchScript, which "
                         f"keeps only the branch taken for the example input")
            log.info("fx trace failed in %s at %s; retrying with it as a leaf", failed, where)


class _Recorder(fx.Interpreter):
    """Runs the traced module once, keeping every node's value (shapes and constants)."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n] = value
        return value


# ---- the mapping from torch to catalogue layers ----------------------------------------------

def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv2d(m: nn.Conv2d):
    if m.padding_mode != "zeros" or isinstance(m.padding, str) or len(set(m.dilation)) != 1:
        return None
    return "Conv2d", {"out_channels": m.out_channels, "kernel_size": m.kernel_size,
                      "stride": m.stride, "padding": m.padding, "dilation": m.dilation[0],
                      "groups": m.groups, "bias": m.bias is not None}


def _conv1d(m: nn.Conv1d):
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        return None
    return "Conv1d", {"out_channels": m.out_channels, "kernel_size": m.kernel_size[0],
                      "stride": m.stride[0], "padding": m.padding[0], "dilation": m.dilation[0],
                      "groups": m.groups, "bias": m.bias is not None}


def _convtranspose2d(m: nn.ConvTranspose2d):
    if m.groups != 1 or len(set(m.dilation)) != 1 or m.padding_mode != "zeros":
        return None
    return "ConvTranspose2d", {"out_channels": m.out_channels, "kernel_size": m.kernel_size,
                               "stride": m.stride, "padding": m.padding,
                               "output_padding": m.output_padding, "dilation": m.dilation[0],
                               "bias": m.bias is not None}


def _pool(type_name: str, rank: int):
    def rule(m):
        if m.ceil_mode or getattr(m, "dilation", 1) not in (1, (1, 1)) or \
                getattr(m, "return_indices", False) or \
                not getattr(m, "count_include_pad", True) or getattr(m, "divisor_override", None):
            return None
        if rank == 1:
            k, s, p = (m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0],
                       m.stride if isinstance(m.stride, int) else m.stride[0],
                       m.padding if isinstance(m.padding, int) else m.padding[0])
            return type_name, {"kernel_size": k, "stride": 0 if s == k else s, "padding": p}
        k, s = _pair(m.kernel_size), _pair(m.stride)
        # stride 0 is the catalogue's "same as the window" (torch stores the kernel size)
        return type_name, {"kernel_size": k, "stride": (0, 0) if s == k else s,
                           "padding": _pair(m.padding)}
    return rule


def _adaptive(m: nn.AdaptiveAvgPool2d):
    size = _pair(m.output_size)
    return None if None in size else ("AdaptiveAvgPool2d", {"output_size": size})


def _batchnorm(type_name: str):
    def rule(m):
        if not (m.affine and m.track_running_stats) or m.momentum is None:
            return None
        return type_name, {"eps": m.eps, "momentum": m.momentum}
    return rule


def _layernorm(m: nn.LayerNorm):
    if getattr(m, "bias", True) is None and m.elementwise_affine:
        return None
    return "LayerNorm", {"dims": len(m.normalized_shape), "eps": m.eps,
                         "elementwise_affine": m.elementwise_affine}


def _upsample(m: nn.Upsample):
    s = m.scale_factor
    if m.size is not None or s is None or isinstance(s, tuple) and len(set(s)) != 1:
        return None
    s = s[0] if isinstance(s, tuple) else s
    if float(s) != int(s) or m.mode not in ("nearest", "bilinear", "linear") or \
            m.align_corners:
        return None
    return "Upsample", {"scale_factor": int(s), "mode": m.mode}


def _recurrent(type_name: str):
    def rule(m):
        if not m.batch_first or getattr(m, "proj_size", 0):
            return None
        params = {"hidden_size": m.hidden_size, "num_layers": m.num_layers,
                  "bidirectional": m.bidirectional, "dropout": m.dropout, "bias": m.bias}
        if type_name == "RNN":
            params["nonlinearity"] = m.nonlinearity
        return type_name, params
    return rule


def _transformer(m: nn.TransformerEncoderLayer):
    act = m.activation
    name = "gelu" if act is F.gelu or isinstance(act, nn.GELU) else \
        "relu" if act is F.relu or isinstance(act, nn.ReLU) else None
    if name is None or not m.self_attn.batch_first:
        return None
    return "TransformerEncoderLayer", {"nhead": m.self_attn.num_heads,
                                       "dim_feedforward": m.linear1.out_features,
                                       "dropout": m.dropout.p, "activation": name,
                                       "norm_first": m.norm_first}


MODULE_RULES: dict[type, Callable[[nn.Module], tuple[str, dict[str, Any]] | None]] = {
    nn.Linear: lambda m: ("Linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.Conv1d: _conv1d, nn.Conv2d: _conv2d, nn.ConvTranspose2d: _convtranspose2d,
    nn.MaxPool1d: _pool("MaxPool1d", 1), nn.MaxPool2d: _pool("MaxPool2d", 2),
    nn.AvgPool2d: _pool("AvgPool2d", 2), nn.AdaptiveAvgPool2d: _adaptive,
    nn.Upsample: _upsample,
    nn.BatchNorm1d: _batchnorm("BatchNorm1d"), nn.BatchNorm2d: _batchnorm("BatchNorm2d"),
    nn.LayerNorm: _layernorm,
    nn.ReLU: lambda m: ("ReLU", {}), nn.SiLU: lambda m: ("SiLU", {}),
    nn.Sigmoid: lambda m: ("Sigmoid", {}), nn.Tanh: lambda m: ("Tanh", {}),
    nn.GELU: lambda m: ("GELU", {"approximate": m.approximate}),
    nn.LeakyReLU: lambda m: ("LeakyReLU", {"negative_slope": m.negative_slope}),
    nn.Softmax: lambda m: None if m.dim is None else ("Softmax", {"dim": m.dim}),
    nn.LogSoftmax: lambda m: None if m.dim is None else ("LogSoftmax", {"dim": m.dim}),
    nn.Dropout: lambda m: ("Dropout", {"p": m.p}),
    nn.Identity: lambda m: ("Identity", {}),
    nn.Flatten: lambda m: ("Flatten", {"start_dim": m.start_dim, "end_dim": m.end_dim}),
    nn.Embedding: lambda m: None if m.padding_idx is not None or m.max_norm is not None else
    ("Embedding", {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}),
    nn.RNN: _recurrent("RNN"), nn.LSTM: _recurrent("LSTM"), nn.GRU: _recurrent("GRU"),
    nn.TransformerEncoderLayer: _transformer,
}

# Elementwise activations called as functions or tensor methods.
_ACTIVATIONS: dict[Any, str] = {
    F.relu: "ReLU", torch.relu: "ReLU", "relu": "ReLU", F.silu: "SiLU", "sigmoid": "Sigmoid",
    torch.sigmoid: "Sigmoid", F.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.tanh: "Tanh",
    "tanh": "Tanh",
}
_ADD = (operator.add, operator.iadd, torch.add, "add", "add_", "__add__")
_MUL = (operator.mul, operator.imul, torch.mul, "mul", "mul_", "__mul__")


# ---- fx -> graph -----------------------------------------------------------------------------

class _FxImporter:
    def __init__(self, gm: fx.GraphModule, values: dict[fx.Node, Any], output_names: list[str],
                 layers: dict[str, tuple[str, dict]]) -> None:
        self.gm, self.values, self.output_names = gm, values, output_names
        self.layers = layers  # submodule path -> (layer type, params) declared by the code
        self.renamed: dict[str, str] = {}  # variable in the code -> node name it stands for
        self.b = GraphBuilder()
        self.ids: dict[fx.Node, str] = {}  # fx node -> graph node id of its (tensor) value
        self.notes: list[str] = []
        self.module_calls: dict[str, int] = {}
        self.absorbed: set[fx.Node] = set()  # getitem nodes folded into a recurrent layer

    # -- naming --
    def raw_name(self, n: fx.Node, op: str) -> str:
        stack = list(n.meta.get("nn_module_stack", {}).values())
        prefix = stack[-1][0] if stack else ""
        var = _assigned_name(n.meta.get("lf_source"))
        var = self.renamed.get(var, var)
        if var and var not in self.b.names.taken:
            return f"{prefix}_{var}" if prefix else var
        return f"{prefix}_{op}" if prefix else op

    def scope_of(self, n: fx.Node) -> str:
        """The module whose forward() made ``n`` (for a module call: the caller, not the
        module itself); records the class of every module on the way."""
        stack = list(n.meta.get("nn_module_stack", {}).values())
        for path, cls in stack:
            self.b.module_classes.setdefault(path, getattr(cls, "__name__", str(cls)))
        if n.op == "call_module" and stack and stack[-1][0] == n.target:
            stack = stack[:-1]
        return stack[-1][0] if stack else ""

    def value_type(self, n: fx.Node) -> TensorType:
        return tensor_type(self.values[n])

    # -- the walk --
    def run(self) -> GraphBuilder:
        nodes = list(self.gm.graph.nodes)
        for i, n in enumerate(nodes):
            if i % 64 == 0:
                stage("mapping", i / len(nodes))
            if n in self.absorbed:
                continue
            self.b.scope = self.scope_of(n)
            if n.op == "placeholder":
                self.placeholder(n)
            elif n.op == "call_module":
                self.call_module(n)
            elif n.op in ("call_function", "call_method"):
                self.call_function(n)
            elif n.op == "output":
                self.output(n)
            # get_attr: used through Const arguments of the ops that read it
        return self.b

    def placeholder(self, n: fx.Node) -> None:
        value = self.values[n]
        if not isinstance(value, torch.Tensor):
            raise ImportModelError(f"forward() argument {n.name!r} is not a tensor")
        node = self.b.add("Input", self.renamed.get(n.name, n.name),
                          input_params(tensor_type(value)), [])
        self.ids[n] = node.id

    def output(self, n: fx.Node) -> None:
        results = _flat_nodes(n.args[0])
        names = self.output_names if len(self.output_names) == len(results) else \
            ["output"] if len(results) == 1 else [f"output{i + 1}" for i in range(len(results))]
        for name, r in zip(names, results):
            if r not in self.ids:
                raise ImportModelError(f"the model returns {r.name!r}, which is not a tensor "
                                       f"computed from its inputs")
            self.b.add("Output", name, {}, [self.ids[r]])

    def tensor_args(self, n: fx.Node) -> list[fx.Node]:
        return [a for a in _flat_nodes((n.args, n.kwargs)) if a in self.ids]

    def call_module(self, n: fx.Node) -> None:
        module = self.gm.get_submodule(n.target)
        count = self.module_calls.get(n.target, 0)
        self.module_calls[n.target] = count + 1
        raw = n.target if count == 0 else f"{n.target}_{count}"
        rule = MODULE_RULES.get(type(module))
        mapped = rule(module) if rule else None
        if n.target in self.layers and count == 0:  # e.g. a Backbone written by LayerForge
            mapped = self.layers[n.target]
        plain = not n.kwargs and all(isinstance(a, fx.Node) and a in self.ids for a in n.args)
        if count == 1 and any(True for _ in module.parameters()):
            self.notes.append(f"'{n.target}' is called more than once; each call is a separate "
                              f"node with its own copy of the weights")
        if mapped and plain and len(n.args) == 1:
            type_name, params = mapped
            if type_name in ("RNN", "LSTM", "GRU"):
                if not self.recurrent(n, module, type_name, params, raw):
                    self.opaque_module(n, module, raw, torchscript=True)
                return
            if isinstance(self.values[n], torch.Tensor):
                node = self.b.add(type_name, raw, params, [self.ids[n.args[0]]],
                                  module.state_dict())
                self.ids[n] = node.id
                return
        self.opaque_module(n, module, raw)

    def recurrent(self, n: fx.Node, module: nn.Module, type_name: str, params: dict,
                  raw: str) -> bool:
        """Fold ``out = rnn(x)[0]`` (and its last step ``[:, -1]``, or for a bidirectional
        layer the halves LayerForge's "last" joins) into one recurrent layer."""
        users = [u for u in n.users if u.users or _is_getitem(u, 0)]  # `out, _ = rnn(x)`
        if len(users) != 1 or not _is_getitem(users[0], 0):
            return False
        seq = users[0]
        steps = list(seq.users)
        if steps and not module.bidirectional and \
                all(_is_getitem(u, (slice(None), -1)) for u in steps):
            params, results, absorbed = {**params, "output": "last"}, steps, set(steps)
        elif module.bidirectional and len(steps) == 2 and \
                len({u for step in steps for u in step.users}) == 1 and \
                _is_bidirectional_last(next(iter(steps[0].users)), seq, module.hidden_size):
            joined = next(iter(steps[0].users))
            params, results, absorbed = {**params, "output": "last"}, [joined], {joined, *steps}
        else:
            params, results, absorbed = {**params, "output": "sequence"}, [seq], set()
        node = self.b.add(type_name, raw, params, [self.ids[n.args[0]]], module.state_dict())
        self.absorbed |= absorbed | {seq} | set(n.users)
        for value in results:
            self.ids[value] = node.id
        return True

    def opaque_module(self, n: fx.Node, module: nn.Module, raw: str,
                      torchscript: bool = False) -> None:
        value = self.values[n]
        if not isinstance(value, torch.Tensor):
            raise ImportModelError(f"'{n.target}' ({type(module).__name__}) returns a "
                                   f"{type(value).__name__}; LayerForge layers return one "
                                   f"tensor, so it cannot be imported yet")
        sources = self.tensor_args(n)
        init = None if torchscript else _constructor_args(module)
        plain = not n.kwargs and list(n.args) == sources
        if init is not None and plain:
            recipe = {"call": "module", "target": type(module).__name__,
                      "init": [[encode(a) for a in init[0]],
                               {k: encode(v) for k, v in init[1].items()}],
                      "args": [encode(In(i)) for i in range(len(sources))]}
        else:
            recipe = _torchscript_recipe(module, [self.values[s] for s in sources])
        self.add_opaque(n, raw, recipe, sources, module.state_dict())

    def add_opaque(self, n: fx.Node, raw: str, recipe: dict, sources: list[fx.Node],
                   weights: dict[str, torch.Tensor]) -> None:
        ins = [self.value_type(s) for s in sources]
        n_params = sum(v.numel() for k, v in weights.items() if v.is_floating_point())
        params = {"operation": describe(recipe), "inputs": max(len(sources), 1),
                  "op": json.dumps(recipe),
                  "shapes": shapes_text(ins, self.value_type(n), n_params)}
        if not sources:
            raise ImportModelError(f"{n.name!r} ({describe(recipe)}) does not depend on the "
                                   f"model's input; LayerForge cannot import constants yet")
        node = self.b.add("Opaque", raw, params, [self.ids[s] for s in sources], weights)
        self.ids[n] = node.id

    def call_function(self, n: fx.Node) -> None:
        value = self.values[n]
        if not isinstance(value, torch.Tensor):
            return  # sizes, shapes, tuples: constants for the ops that use them
        mapped = self.map_function(n)
        if mapped is not None:
            type_name, op, params, sources = mapped
            node = self.b.add(type_name, self.raw_name(n, op), params,
                              [self.ids[s] for s in sources])
            self.ids[n] = node.id
            return
        self.opaque_function(n)

    def map_function(self, n: fx.Node):
        """(layer type, short op name, params, tensor inputs) for a catalogue op, or None."""
        t, args, kwargs = n.target, list(n.args), dict(n.kwargs)
        tensors = [a for a in args if isinstance(a, fx.Node) and a in self.ids]
        x = args[0] if args and isinstance(args[0], fx.Node) and args[0] in self.ids else None
        if x is None:
            if t is torch.cat and args and isinstance(args[0], (list, tuple)) and \
                    all(a in self.ids for a in args[0]) and len(args[0]) >= 2 and \
                    set(kwargs) <= {"dim"}:
                dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
                if len(args[0]) <= 8 and dim != 0 and -self.values[n].dim() <= dim:
                    return "Concat", "cat", {"inputs": len(args[0]), "dim": dim}, list(args[0])
            return None
        in_type, out_type = self.value_type(x), self.value_type(n)
        if (t in _ADD or t in _MUL) and len(args) == 2 and len(tensors) == 2 and not kwargs:
            if self.value_type(args[1]) == in_type == out_type:
                return ("Add", "add", {"inputs": 2}, tensors) if t in _ADD else \
                    ("Multiply", "mul", {"inputs": 2}, tensors)
            return None
        if len(tensors) != 1:
            return None
        rest, inplace_ok = args[1:], set(kwargs) <= {"inplace"}
        if t in _ACTIVATIONS and not rest and inplace_ok:
            return _ACTIVATIONS[t], _ACTIVATIONS[t].lower(), {}, [x]
        if t in (torch.flatten, "flatten") and set(kwargs) <= {"start_dim", "end_dim"}:
            start = rest[0] if rest else kwargs.get("start_dim", 0)
            end = rest[1] if len(rest) > 1 else kwargs.get("end_dim", -1)
            if isinstance(start, int) and isinstance(end, int) and start % (in_type.rank) != 0:
                return "Flatten", "flatten", {"start_dim": start, "end_dim": end}, [x]
            return None
        if t in ("view", "reshape", torch.reshape) and self.values[n].shape[0] == \
                self.values[x].shape[0] and not kwargs and out_type.dims:
            return "Reshape", t if isinstance(t, str) else "reshape", {"shape": out_type.dims}, [x]
        if t in ("permute", torch.permute) and not kwargs:
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            if dims and all(isinstance(d, int) for d in dims) and dims[0] == 0:
                return "Permute", "permute", {"dims": tuple(dims)}, [x]
            return None
        if t in (F.softmax, torch.softmax, "softmax", F.log_softmax, torch.log_softmax,
                 "log_softmax"):
            dim = rest[0] if rest else kwargs.get("dim")
            extra = set(kwargs) - {"dim", "_stacklevel", "dtype"}
            if isinstance(dim, int) and dim % out_type.rank != 0 and not extra and \
                    kwargs.get("dtype") is None and len(rest) <= 1:
                kind = "LogSoftmax" if "log" in getattr(t, "__name__", str(t)) else "Softmax"
                return kind, kind.lower(), {"dim": dim}, [x]
            return None
        if t is F.gelu and not rest and set(kwargs) <= {"approximate"}:
            return "GELU", "gelu", {"approximate": kwargs.get("approximate", "none")}, [x]
        if t is F.leaky_relu and set(kwargs) <= {"negative_slope", "inplace"}:
            slope = rest[0] if rest else kwargs.get("negative_slope", 0.01)
            return "LeakyReLU", "lrelu", {"negative_slope": slope}, [x]
        if t is F.dropout and not self.gm.training:
            return "Dropout", "dropout", {"p": rest[0] if rest else kwargs.get("p", 0.5)}, [x]
        if t is F.adaptive_avg_pool2d and not kwargs and len(rest) == 1:
            size = _pair(rest[0])
            if None not in size:
                return "AdaptiveAvgPool2d", "gap", {"output_size": size}, [x]
        return None

    def opaque_function(self, n: fx.Node) -> None:
        sources: list[fx.Node] = []
        consts: list[tuple[str, torch.Tensor, bool]] = []

        def convert(a: Any) -> Any:
            if isinstance(a, fx.Node):
                if a in self.ids:
                    if a not in sources:
                        sources.append(a)
                    return In(sources.index(a))
                value = self.values[a]
                if isinstance(value, torch.Tensor):
                    trainable = a.op == "get_attr" and isinstance(
                        _attr(self.gm, a.target), nn.Parameter)
                    consts.append((a.target if a.op == "get_attr" else a.name, value, trainable))
                    return Const(len(consts) - 1)
                if isinstance(value, int) and value == EXAMPLE_BATCH and _is_batch_size(a):
                    self.notes.append(f"{n.name!r} uses the batch size; the import fixed it "
                                      f"at {EXAMPLE_BATCH}, so this op needs changing by hand")
                return _map_nodes(value, convert)
            return _map_nodes(a, convert)

        args = [convert(a) for a in n.args]
        kwargs = {k: convert(v) for k, v in n.kwargs.items()}
        if n.op == "call_function":
            target = function_name(n.target)
            if target is None:
                what = getattr(n.target, "__name__", n.target)
                raise ImportModelError(f"cannot import {n.name!r} ({_where(n)}): {what} is not a "
                                       f"torch function, and a project file only runs torch "
                                       f"operations: write it with torch operations")
            recipe: dict[str, Any] = {"call": "function", "target": target}
        else:
            recipe = {"call": "method", "target": n.target}
        try:
            recipe["args"] = [encode(a) for a in args]
            recipe["kwargs"] = {k: encode(v) for k, v in kwargs.items()}
        except TypeError as exc:
            raise ImportModelError(f"cannot import {n.name!r} ({_where(n)}): {exc}") from None
        recipe["consts"] = [[list(v.shape), str(v.dtype).removeprefix("torch."), tr]
                            for _, v, tr in consts]
        weights = {f"c{i}": v for i, (_, v, _) in enumerate(consts)}
        op = recipe["target"].split(":")[-1].strip("_")
        self.add_opaque(n, self.raw_name(n, op), recipe, sources, weights)


def _attr(gm: nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _is_batch_size(n: fx.Node) -> bool:
    return (n.target in ("size",) and n.args[1:2] == (0,)) or \
        (n.target is operator.getitem and n.args[1] == 0)


def _where(n: fx.Node) -> str:
    src = n.meta.get("lf_source")
    if not src:
        return f"fx node {n.name}"
    return f"{src[0]}, line {src[1]}: {linecache.getline(*src).strip()}"


def _map_nodes(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, fx.Node):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(_map_nodes(v, fn) for v in value)
    if isinstance(value, list):
        return [_map_nodes(v, fn) for v in value]
    if isinstance(value, slice):
        return slice(_map_nodes(value.start, fn), _map_nodes(value.stop, fn),
                     _map_nodes(value.step, fn))
    if isinstance(value, dict):
        return {k: _map_nodes(v, fn) for k, v in value.items()}
    return value


def _flat_nodes(value: Any) -> list[fx.Node]:
    out: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: out.append(n) or n)
    return out


def _is_getitem(n: fx.Node, index: Any) -> bool:
    return n.op == "call_function" and n.target is operator.getitem and len(n.args) == 2 and \
        n.args[1] == index


def _is_bidirectional_last(n: fx.Node, seq: fx.Node, h: int) -> bool:
    if not (n.op == "call_function" and n.target is torch.cat and len(n.args) == 2 and
            n.args[1] == -1 and len(n.args[0]) == 2):
        return False
    fwd, bwd = n.args[0]
    return _is_getitem(fwd, (slice(None), -1, slice(None, h))) and fwd.args[0] is seq and \
        _is_getitem(bwd, (slice(None), 0, slice(h, None))) and bwd.args[0] is seq and \
        len(fwd.users) == 1 and len(bwd.users) == 1


def _assigned_name(source: tuple[str, int] | None) -> str | None:
    """``name`` when the op's source line is ``name = ...``, for a readable node name."""
    if not source:
        return None
    line = linecache.getline(*source).strip()
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign) and \
            len(tree.body[0].targets) == 1 and isinstance(tree.body[0].targets[0], ast.Name):
        return tree.body[0].targets[0].id
    return None


def _constructor_args(module: nn.Module) -> tuple[list, dict] | None:
    """Literal constructor arguments of a torch.nn layer, read from its repr and checked by
    rebuilding it (None when the repr is not a constructor call)."""
    cls = type(module)
    try:
        module_class(cls.__name__)
    except ValueError:
        return None
    if module_class(cls.__name__) is not cls:
        return None
    text = repr(module)
    try:
        call = ast.parse(text, mode="eval").body
        if not isinstance(call, ast.Call):
            return None
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
        rebuilt = cls(*args, **kwargs)
    except (SyntaxError, ValueError, TypeError):
        return None
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} != shapes or \
            repr(rebuilt) != text:
        return None
    return args, kwargs


def _torchscript_recipe(module: nn.Module, inputs: list[torch.Tensor]) -> dict[str, Any]:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and "trace might not generalize"
        was_training = module.training
        module.eval()
        try:
            scripted = torch.jit.trace(module, tuple(inputs), check_trace=False)
        except Exception as exc:  # noqa: BLE001
            raise ImportModelError(f"{type(module).__name__} can neither be traced by torch.fx "
                                   f"nor recorded with TorchScript ({type(exc).__name__}: "
                                   f"{exc}); export the model to ONNX and import that") from None
        finally:
            module.train(was_training)
        torch.jit.save(scripted, buffer)
    return {"call": "torchscript", "class": type(module).__name__,
            "script": base64.b64encode(buffer.getvalue()).decode("ascii")}


# ---- public entry points ---------------------------------------------------------------------

def example_inputs(model: nn.Module, shapes: list[tuple[int, ...]] | None,
                   dtypes: list[str] | None = None) -> list[torch.Tensor]:
    """Example inputs with batch EXAMPLE_BATCH; integer inputs when the model embeds tokens."""
    if shapes is None:
        declared = getattr(type(model), "LAYERFORGE_INPUTS", None)
        if not isinstance(declared, dict):
            raise ImportModelError(f"{type(model).__name__}: give the input shape per sample "
                                   f"(e.g. 3,224,224 for an RGB image)")
        shapes = [tuple(shape) for _, shape in declared.values()]
        dtypes = ["long" if kind == "tokens" else "float" for kind, _ in declared.values()]
    gen = torch.Generator().manual_seed(0)
    out = []
    embeds = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    for i, shape in enumerate(shapes):
        dtype = (dtypes or [None] * len(shapes))[i] or ("long" if embeds and i == 0 else "float")
        if dtype == "long":
            high = min(m.num_embeddings for m in embeds) if embeds else 2
            out.append(torch.randint(0, high, (EXAMPLE_BATCH, *shape), generator=gen))
        else:
            out.append(torch.randn((EXAMPLE_BATCH, *shape), generator=gen))
    return out


def import_module(model: nn.Module, input_shapes: list[tuple[int, ...]] | None = None,
                  name: str | None = None, input_dtypes: list[str] | None = None,
                  check: bool = True) -> ImportResult:
    """Trace a live module into a graph + weights (the module is put in eval mode).

    ``input_shapes``: per-sample shape of each forward() argument (batch excluded); None uses
    the class's ``LAYERFORGE_INPUTS`` (written by LayerForge's code export).
    """
    model.eval()
    inputs = example_inputs(model, input_shapes, input_dtypes)
    layers = _declared_layers(model)
    stage("tracing")
    gm, notes = trace(model, set(layers))
    recorder = _Recorder(gm)
    try:
        with torch.no_grad():
            recorder.run(*inputs)
    except Exception as exc:  # noqa: BLE001
        raise ImportModelError(f"{type(model).__name__} fails on an input of shape "
                               f"{tuple(inputs[0].shape)} at {_user_line(exc)}: {exc}; check "
                               f"the input shape") from None
    outputs = getattr(type(model), "LAYERFORGE_OUTPUTS", None)
    importer = _FxImporter(gm, recorder.values,
                           [str(o) for o in outputs] if isinstance(outputs, tuple) else [],
                           layers)
    renamed = getattr(type(model), "LAYERFORGE_NAMES", None)
    if isinstance(renamed, dict):
        importer.renamed = {str(k): str(v) for k, v in renamed.items()}
    builder = importer.run()
    builder.module_inputs = _module_inputs(model, gm, importer.ids)
    title = name or type(model).__name__
    stage("structuring")
    result = finish(builder, title, f"Imported from the PyTorch model {title}.",
                    notes + importer.notes)
    if not check:
        return result
    stage("checking outputs")
    return verify(result, model, inputs)


def _declared_layers(model: nn.Module) -> dict[str, tuple[str, dict[str, Any]]]:
    """``LAYERFORGE_LAYERS`` of LayerForge's generated code: submodule -> (type, params) for
    layers whose Python does not show their settings (checked against the catalogue)."""
    from graph.layers import CATALOGUE

    declared = getattr(type(model), "LAYERFORGE_LAYERS", None)
    if not isinstance(declared, dict):
        return {}
    layers = {}
    for name, entry in declared.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] in CATALOGUE and
                isinstance(entry[1], dict) and isinstance(getattr(model, str(name), None),
                                                          nn.Module)):
            raise ImportModelError(f"LAYERFORGE_LAYERS entry {name!r} of "
                                   f"{type(model).__name__} is not (layer type, parameters) of "
                                   f"a submodule")
        layers[str(name)] = entry
    return layers


def _module_inputs(model: nn.Module, gm: fx.GraphModule, ids: dict[fx.Node, Any]
                   ) -> dict[str, list[tuple[str, tuple[str, str]]]]:
    """Module path -> the graph values its forward() was first called with, named after its
    parameters (``BasicBlock.forward(self, x)`` -> x): the ports of the block it becomes."""
    import inspect

    out: dict[str, list[tuple[str, tuple[str, str]]]] = {}
    for path, args in gm.meta.get("lf_module_args", {}).items():
        try:
            params = [p.name for p in inspect.signature(model.get_submodule(path).forward)
                      .parameters.values() if p.kind in (p.POSITIONAL_ONLY,
                                                         p.POSITIONAL_OR_KEYWORD)]
        except (AttributeError, TypeError, ValueError):
            params = []
        values = []
        for key, node in args:
            value = ids.get(node)
            if value is None:
                continue
            name = key if isinstance(key, str) else params[key] if key < len(params) else \
                f"x{key + 1}"
            values.append((name, value if isinstance(value, tuple) else (value, "out")))
        out[path] = values
    return out


def import_python(path: str | os.PathLike, class_name: str,
                  input_shape: tuple[int, ...] | None = None) -> ImportResult:
    """Import ``class_name`` from the Python file ``path`` (which is run, as Python would)."""
    stage("reading")
    model = load_python_model(path, class_name)
    result = import_module(model, [tuple(input_shape)] if input_shape else None,
                           name=f"{class_name} ({Path(path).name})")
    return result
