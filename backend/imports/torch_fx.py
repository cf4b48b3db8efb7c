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
from torch import nn

from backend.errors import ImportModelError
from backend.compile.opaque import Const, In, describe, encode, function_name, module_class
from backend.imports.building import (EXAMPLE_BATCH, GraphBuilder, ImportResult, finish,
                                     input_params, tensor_type, verify)
from backend.imports.fx_rules import (LIBRARY_RULES, MODULE_RULES, PREV, Back, Call, Step,
                                      attention_params, class_path, function_rule,
                                      linear_steps, module_rule)  # noqa: F401 (re-export)
from backend.imports.progress import stage
from graph.layers import CATALOGUE
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
        self.module_results: dict[str, list[fx.Node]] = {}

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or class_path(type(m)) in LIBRARY_RULES or \
            super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        qualname = self.path_of_module(m)
        if qualname not in self.module_args:  # the first call's tensor arguments, for the
            # port order and names of the block the module becomes (backend/imports/structure)
            self.module_args[qualname] = [(i, a.node) for i, a in enumerate(args)
                                          if isinstance(a, fx.Proxy)] + \
                [(k, a.node) for k, a in kwargs.items() if isinstance(a, fx.Proxy)]
        self.path.append(qualname)
        try:
            result = super().call_module(m, forward, args, kwargs)
            if qualname not in self.module_results:  # its block's outputs, in return order
                self.module_results[qualname] = [
                    r.node for r in torch.utils._pytree.tree_leaves(result)
                    if isinstance(r, fx.Proxy)]
            return result
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
            gm.meta["lf_module_results"] = tracer.module_results
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


# ---- the mapping from torch to catalogue layers: backend/imports/fx_rules.py ----------------

# ---- fx -> graph -----------------------------------------------------------------------------

class _FxImporter:
    def __init__(self, gm: fx.GraphModule, values: dict[fx.Node, Any], output_names: list[str],
                 layers: dict[str, tuple[str, dict]]) -> None:
        self.gm, self.values, self.output_names = gm, values, output_names
        self.layers = layers  # submodule path -> (layer type, params) declared by the code
        self.renamed: dict[str, str] = {}  # variable in the code -> node name it stands for
        self.b = GraphBuilder()
        # fx node -> graph node id of its (tensor) value, or (node id, port)
        self.ids: dict[fx.Node, str | tuple[str, str]] = {}
        self.notes: list[str] = []
        self.module_calls: dict[str, int] = {}
        self.absorbed: set[fx.Node] = set()  # getitem nodes folded into a recurrent layer
        # a layer with several outputs (Split, attention): fx node of its tuple -> (graph node
        # id, its output ports); ``result[i]`` is then (node id, port i) in ``ids``
        self.tuples: dict[fx.Node, tuple[str, tuple[str, ...]]] = {}

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
        rule = module_rule(module)
        mapped = rule(module) if rule else None
        if n.target in self.layers and count == 0:  # e.g. a Backbone written by LayerForge
            mapped = self.layers[n.target]
        plain = not n.kwargs and all(isinstance(a, fx.Node) and a in self.ids for a in n.args)
        if count == 1 and any(True for _ in module.parameters()):
            self.notes.append(f"'{n.target}' is called more than once; each call is a separate "
                              f"node with its own copy of the weights")
        if mapped and mapped[0] in CATALOGUE and \
                _params_problem(Step(mapped[0], "", mapped[1], [])):
            mapped = None  # settings beyond the layer's ranges: imported as recorded
        if isinstance(module, nn.MultiheadAttention) and self.attention(n, module, raw):
            return
        if mapped and plain and len(n.args) == 1:
            type_name, params = mapped
            if type_name in ("RNN", "LSTM", "GRU"):
                if not self.recurrent(n, module, type_name, params, raw):
                    self.opaque_module(n, module, raw, torchscript=True)
                return
            if isinstance(self.values[n], torch.Tensor):
                x = n.args[0]
                steps = [Step(type_name, "", params, [x], module.state_dict())]
                if type_name == "Linear":
                    steps = linear_steps(x, self.values[x].dim(), self.values[n], params,
                                         module.state_dict())
                previous = None
                for step in steps:
                    sources = [previous if s is PREV else self.ids[s] for s in step.sources]
                    name = raw if step.type == type_name else f"{raw}_{step.op}"
                    previous = self.b.add(step.type, name, step.params, sources,
                                          step.weights).id
                self.ids[n] = previous
                return
        self.opaque_module(n, module, raw)

    def attention(self, n: fx.Node, module: nn.MultiheadAttention, raw: str) -> bool:
        """``attn(x, x, x)`` -> MultiheadAttention, ``attn(q, kv, kv)`` -> CrossAttention; the
        result's ``[0]`` and ``[1]`` take the out and weights ports."""
        params = attention_params(module)
        names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                 "average_attn_weights", "is_causal")
        given = dict(zip(names, n.args)) | dict(n.kwargs)
        q, k, v = (given.get(a) for a in ("query", "key", "value"))
        if params is None or not all(a in self.ids for a in (q, k, v)) or k is not v or \
                any(given.get(a) is not None for a in ("key_padding_mask", "attn_mask")) or \
                given.get("is_causal") or given.get("average_attn_weights") is False:
            return False
        type_name = "MultiheadAttention" if q is k else "CrossAttention"
        sources = [self.ids[q]] if q is k else [self.ids[q], self.ids[k]]
        node = self.b.add(type_name, raw, params, sources, module.state_dict())
        self.tuples[n] = (node.id, ("out", "weights"))
        return True

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
        if n.target is operator.getitem and n.args and n.args[0] in self.tuples:
            node_id, ports = self.tuples[n.args[0]]  # result[i] of a layer with several outputs
            if isinstance(n.args[1], int) and -len(ports) <= n.args[1] < len(ports):
                self.ids[n] = (node_id, ports[n.args[1]])
                return
        if isinstance(value, (tuple, list)) and value and \
                all(isinstance(v, torch.Tensor) for v in value):
            if not self.map_call(n):
                self.needs_leaf(n, "returns several tensors and has no layer")
            return
        if not isinstance(value, torch.Tensor):
            return  # sizes, shapes, flags: constants for the ops that use them
        if not self.tensor_args(n):
            return  # made from weights and constants only: the ops using it record its value
        if not self.map_call(n):
            self.opaque_function(n)

    def map_call(self, n: fx.Node) -> bool:
        """Adds the layer(s) a catalogue op becomes (fx_rules); False when it has none."""
        rule = function_rule(n.target)
        if rule is None:
            return False
        call = Call(n, list(n.args), dict(n.kwargs), self.values, lambda a: a in self.ids,
                    self.parameter, self.gm.training)
        try:
            steps = rule(call)
        except (TypeError, ValueError, IndexError, AttributeError, KeyError) as exc:
            # arguments of a form the rule did not foresee: the op stays an Opaque node
            log.info("no layer for %s (%s: %s)", n.name, type(exc).__name__, exc)
            return False
        if steps is None:
            return False
        steps = [steps] if isinstance(steps, Step) else steps
        if any(_params_problem(step) for step in steps):
            return False  # e.g. a Scale by 1e9: beyond the layer's range, kept as recorded
        if not steps:  # changes nothing (x.contiguous(), a cat of one): the same graph node
            self.ids[n] = self.ids[self.tensor_args(n)[0]]
            return True
        made: list[str] = []
        for step in steps:
            sources = [made[-1] if s is PREV else made[-s.steps] if isinstance(s, Back) else
                       self.ids[s] for s in step.sources]
            node = self.b.add(step.type, self.raw_name(n, step.op), step.params, sources,
                              step.weights)
            made.append(node.id)
        previous = made[-1]
        if isinstance(self.values[n], torch.Tensor):
            self.ids[n] = previous
        else:
            self.tuples[n] = (previous, tuple(p.name for p in node.spec.output_ports(
                node.params)))
        return True

    def parameter(self, a: Any) -> torch.Tensor | None:
        """The nn.Parameter an fx get_attr node reads, or None."""
        if isinstance(a, fx.Node) and a.op == "get_attr":
            value = _attr(self.gm, a.target)
            if isinstance(value, nn.Parameter):
                return value
        return None

    def needs_leaf(self, n: fx.Node, why: str) -> None:
        """``n`` cannot be imported op by op: ask for its module to be kept whole (one Opaque
        node recorded with TorchScript), or explain when it is not inside a module."""
        stack = list(n.meta.get("nn_module_stack", {}).values())
        if stack and stack[-1][0]:
            raise NeedsLeaf(stack[-1][0], f"{_describe_target(n)} ({_where(n)}) {why}")
        raise ImportModelError(f"cannot import {n.name!r} ({_where(n)}): "
                               f"{_describe_target(n)} {why}; write it with torch operations "
                               f"or move it into a submodule (imported whole)")

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
                    trainable = _from_parameter(self.gm, a)
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
                self.needs_leaf(n, "is not a torch function (a project file runs only torch "
                                   "operations)")
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


class NeedsLeaf(Exception):
    """Raised while mapping: the module at ``path`` must be traced as one leaf."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(path)
        self.path, self.why = path, why


def _params_problem(step: Step) -> str | None:
    """Why the step's params are outside its layer's ranges/choices, or None."""
    index = CATALOGUE[step.type].param_index
    for key, value in step.params.items():
        problem = index[key].problem(value) if key in index else f"unknown parameter {key}"
        if problem:
            return problem
    return None


def _describe_target(n: fx.Node) -> str:
    if n.op == "call_method":
        return f".{n.target}()"
    return getattr(n.target, "__name__", str(n.target))


def _from_parameter(gm: nn.Module, a: fx.Node) -> bool:
    """True when a recorded constant is, or is computed from, an nn.Parameter (it stays
    trainable: e.g. a relative position bias gathered from its table)."""
    seen, todo = set(), [a]
    while todo:
        x = todo.pop()
        if x in seen:
            continue
        seen.add(x)
        if x.op == "get_attr" and isinstance(_attr(gm, x.target), nn.Parameter):
            return True
        todo.extend(_flat_nodes((x.args, x.kwargs)))
    return False


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
    gm, notes, importer, builder = _trace_and_map(model, inputs, layers)
    builder.module_inputs = _module_inputs(model, gm, importer.ids)
    builder.module_outputs = {path: [v if isinstance(v, tuple) else (v, "out") for v in
                                     (importer.ids.get(n) for n in nodes) if v is not None]
                              for path, nodes in gm.meta.get("lf_module_results", {}).items()}
    for path in builder.module_classes:  # block classes of LayerForge's generated code
        try:
            cls = type(model.get_submodule(path))
        except AttributeError:
            continue
        outputs, names = getattr(cls, "LAYERFORGE_OUTPUTS", None), \
            getattr(cls, "LAYERFORGE_NAMES", None)
        if isinstance(outputs, tuple) and all(isinstance(o, str) for o in outputs):
            builder.module_output_names[path] = list(outputs)
        if isinstance(names, dict):
            builder.module_renames[path] = {str(k): str(v) for k, v in names.items()}
    title = name or type(model).__name__
    stage("structuring")
    result = finish(builder, title, f"Imported from the PyTorch model {title}.",
                    notes + importer.notes)
    if not check:
        return result
    stage("checking outputs")
    return verify(result, model, inputs)


def _trace_and_map(model: nn.Module, inputs: list[torch.Tensor],
                   layers: dict[str, tuple[str, dict[str, Any]]]):
    """Trace, record and map ``model``; a module whose code cannot be mapped op by op (a
    library function that is not torch, several results without a layer) is traced again
    as one leaf, with every module of its class (one retry per class, not per instance)."""
    leaves: set[str] = set(layers)
    leaf_notes: list[str] = []
    while True:
        stage("tracing")
        gm, notes = trace(model, leaves)
        recorder = _Recorder(gm)
        try:
            with torch.no_grad():
                recorder.run(*inputs)
        except Exception as exc:  # noqa: BLE001
            raise ImportModelError(f"{type(model).__name__} fails on an input of shape "
                                   f"{tuple(inputs[0].shape)} at {_user_line(exc)}: {exc}; "
                                   f"check the input shape") from None
        outputs = getattr(type(model), "LAYERFORGE_OUTPUTS", None)
        importer = _FxImporter(gm, recorder.values,
                               [str(o) for o in outputs] if isinstance(outputs, tuple) else [],
                               layers)
        renamed = getattr(type(model), "LAYERFORGE_NAMES", None)
        if isinstance(renamed, dict):
            importer.renamed = {str(k): str(v) for k, v in renamed.items()}
        try:
            builder = importer.run()
        except NeedsLeaf as need:
            cls = type(model.get_submodule(need.path))
            same = {path for path, m in model.named_modules() if type(m) is cls and path}
            if need.path in leaves or not same:
                raise ImportModelError(f"cannot import '{need.path}': {need.why}") from None
            leaves |= same
            leaf_notes.append(f"{cls.__name__} ({len(same)}x, e.g. '{need.path}') is imported "
                              f"as Opaque nodes recorded with TorchScript: {need.why}")
            log.info("retracing with %s as leaves: %s", cls.__name__, need.why)
            continue
        return gm, leaf_notes + notes, importer, builder


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
