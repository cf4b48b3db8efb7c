"""Python source of a graph's network: a readable ``nn.Module`` class needing only torch.

Built from the compiled ``torch.fx.GraphModule`` (the same compiler that trains), so what the
user reads is what runs: ``__init__`` creates each submodule from its repr and ``forward`` is
fx's generated code. Used by the Code view and by the Python export.
"""
from __future__ import annotations

import logging
import re
import textwrap

import torch
import torch.fx as fx
from torch import nn

log = logging.getLogger(__name__)

_CLEANUP = re.compile(r";  (?:\w+ = )+None$")  # fx frees tensors early; noise for a reader


def _constructor(name: str, module: nn.Module) -> str:
    """Python that rebuilds ``module``: ``nn.`` + its repr when that round-trips (checked on
    the meta device: no memory), else a comment saying so."""
    own = getattr(module, "source_code", None)  # LayerForge modules that say how (backbones)
    if callable(own):
        return own()
    if _is_own_op(module):  # its class is printed above Network (own_classes)
        args = ", ".join(f"{k}={v!r}" for k, v in module.layerforge_args.items())
        return f"{type(module).__name__}({args})"
    text = repr(module)
    cls = type(module)
    if "\n" not in text and getattr(nn, cls.__name__, None) is cls:
        expr = f"nn.{text}"
        try:
            with torch.device("meta"):
                rebuilt = eval(expr, {"nn": nn, "torch": torch})  # noqa: S307 - our own repr
                # a repr can leave settings out (nn.RNN omits nonlinearity='relu'): add them
                missing = {k: v for k, v in _settings(module).items()
                           if _settings(rebuilt).get(k) != v}
                if missing and text.endswith(")"):
                    expr = expr[:-1] + "".join(f", {k}={v!r}" for k, v in missing.items()) + ")"
                    rebuilt = eval(expr, {"nn": nn, "torch": torch})  # noqa: S307
            if type(rebuilt) is cls and _shapes(rebuilt) == _shapes(module) and \
                    _settings(rebuilt) == _settings(module):
                return expr
        except Exception:  # noqa: BLE001 - repr is not a constructor call: fall through
            pass
    args = _init_args(module)
    if getattr(nn, cls.__name__, None) is cls and args is not None:
        return f"nn.{cls.__name__}({args})"
    # Should not happen for catalogue layers (a test execs the code of each template); say so
    # in the code rather than print something that silently builds a different module.
    return f"{cls.__module__}.{cls.__qualname__}()  # arguments unknown: {text.splitlines()[0]}"


def _is_own_op(module: nn.Module) -> bool:
    from backend.compile.ops import MODULES

    return type(module) in MODULES.values() and hasattr(module, "layerforge_args")


def own_classes(model: nn.Module) -> list[str]:
    """The source of each of LayerForge's own module classes the model uses, once each."""
    import inspect

    seen: dict[type, str] = {}
    for module in model.modules():
        if _is_own_op(module) and type(module) not in seen:
            seen[type(module)] = inspect.getsource(type(module)).rstrip()
    return list(seen.values())


def _init_args(module: nn.Module) -> str | None:
    """Constructor arguments for modules whose repr is not a call (TransformerEncoderLayer,
    TransformerDecoderLayer, MultiheadAttention)."""
    if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        attn = module.self_attn
        act = module.activation
        act_name = "gelu" if isinstance(act, nn.GELU) or getattr(act, "__name__", "") == "gelu" \
            else "relu"
        return (f"d_model={attn.embed_dim}, nhead={attn.num_heads}, "
                f"dim_feedforward={module.linear1.out_features}, dropout={module.dropout.p}, "
                f"activation={act_name!r}, batch_first={attn.batch_first}, "
                f"norm_first={module.norm_first}")
    if isinstance(module, nn.MultiheadAttention) and module.bias_k is None and \
            not module.add_zero_attn:
        args = (f"embed_dim={module.embed_dim}, num_heads={module.num_heads}, "
                f"dropout={module.dropout}, bias={module.in_proj_bias is not None}, "
                f"batch_first={module.batch_first}")
        if not module._qkv_same_embed_dim:
            args += f", kdim={module.kdim}, vdim={module.vdim}"
        return args
    return None


def _settings(module: nn.Module) -> dict[str, object]:
    """A module's plain settings that are also constructor arguments (what its repr must
    carry for the code to build the same layer)."""
    import inspect

    try:
        names = set(inspect.signature(type(module).__init__).parameters)
    except (TypeError, ValueError):
        return {}
    if isinstance(module, nn.RNN):  # taken from **kwargs, so not in any signature
        names.add("nonlinearity")
    return {k: v for k, v in vars(module).items() if k in names and
            isinstance(v, (bool, int, float, str, tuple, type(None)))}


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def generate_code(graph, analysis, title: str = "") -> str:
    """The whole module as Python source (or the errors, as comments, if it can't compile)."""
    if not analysis.is_valid:
        lines = ["# The network has errors, so it cannot be compiled:", "#"]
        for issue in analysis.errors:
            lines += _comment_lines(issue.message, "#   - ", "#     ")
        lines += ["#", "# Fix them (they are marked in red on the canvas) and the code appears "
                       "here."]
        return "\n".join(lines) + "\n"
    try:
        from backend.compile.compiler import compile_graph

        with torch.device("meta"):  # only the code is wanted: allocate no weights
            model = compile_graph(graph, analysis)
        model.meta["inputs"] = {n.name: (n.params["kind"], tuple(n.params["shape"]))
                                for n in graph.nodes if n.type == "Input"}
        model.meta["names"] = _renamed(model)
        # Layers whose code does not carry their settings (a backbone's weights, freezing).
        model.meta["layers"] = {n.name: (n.type, dict(n.params)) for n in graph.nodes
                                if callable(getattr(getattr(model, n.name, None),
                                                    "source_code", None))}
        return class_source(model, title)
    except Exception as exc:  # noqa: BLE001 - the view must survive any compiler failure
        log.exception("code view: compiling failed")
        lines = ["# The network could not be compiled:", "#"]
        lines += _comment_lines(f"{type(exc).__name__}: {exc}", "#   ", "#   ")
        return "\n".join(lines) + "\n"


def _renamed(model) -> dict[str, str]:
    """fx renames values that would shadow a Python builtin (an Add named "sum" -> sum_1):
    variable -> layer name, so that an import gives the layer its name back."""
    last = {n.meta["layer"]: n.name for n in model.graph.nodes
            if n.meta.get("layer") and "port" not in n.meta}  # not one output of several
    return {fx_name: layer for layer, fx_name in last.items()
            if fx_name != layer and layer not in model._modules}


def _block_interface(module) -> list[str]:
    """Class attributes of a block's class that its code alone does not say: output port
    names other than out / out1, out2... and renamed variables (as Network's)."""
    lines = []
    signature = module.meta.get("signature")
    if signature is not None:
        outs = tuple(signature.output_names)
        if outs != (("out",) if len(outs) == 1 else tuple(f"out{i + 1}"
                                                          for i in range(len(outs)))):
            lines.append(f"    LAYERFORGE_OUTPUTS = {outs!r}")
    names = _renamed(module)
    if names:
        lines.append(f"    LAYERFORGE_NAMES = {names!r}")
    return lines + ([""] if lines else [])


def _comment_lines(text: str, first: str, rest: str) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(str(text).splitlines() or [""]):
        wrapped = textwrap.wrap(line, 92) or [""]
        for j, part in enumerate(wrapped):
            out.append((first if i == 0 and j == 0 else rest) + part)
    return out


def class_source(model, title: str) -> str:
    """The class source of an already compiled GraphModule (real or on the meta device).
    Each block type becomes a class of its own above Network (one per distinct contents: a
    block used on inputs of different sizes builds different layers)."""
    named = f" “{title}”" if title else ""
    lines = [f"# Generated by LayerForge from the graph{named}.",
             "# The same code trains in LayerForge; state_dict keys match saved checkpoints.",
             "",
             *sorted({line for m in model.modules() for line in getattr(m, "source_imports", ())}),
             "import torch",
             "from torch import nn",
             "",
             ""]
    helpers = own_classes(model)  # LayerForge's own layers: their classes come first
    if helpers:
        at = lines.index("import torch")
        lines[at:at + 2] = ["import math", "", "import torch", "import torch.nn.functional as F",
                            "from torch import nn"]
        for source in helpers:
            lines += [source, "", ""]
    blocks: dict[str, str] = {}  # body text -> class name, in definition order (nested first)
    body = _class_body(model, blocks)
    for text, name in blocks.items():
        lines += [f"class {name}(nn.Module):", text, "", ""]
    lines += ["class Network(nn.Module):", *_interface_lines(model), body]
    return "\n".join(lines) + "\n"


def _class_body(model, blocks: dict[str, str]) -> str:
    """``__init__`` and ``forward`` of one GraphModule's class; its blocks' classes are added
    to ``blocks`` first."""
    lines = ["    def __init__(self):", "        super().__init__()"]
    for name, module in model.named_children():
        block = getattr(module, "meta", {}).get("block") if isinstance(module, fx.GraphModule) \
            else None
        if block is None:
            lines.append(f"        self.{name} = {_constructor(name, module)}")
            continue
        text = "\n".join([*_block_interface(module), _class_body(module, blocks)])
        if text not in blocks:
            taken = set(blocks.values())
            cls, i = block, 2
            while cls in taken:
                cls, i = f"{block}_{i}", i + 1
            blocks[text] = cls
        lines.append(f"        self.{name} = {blocks[text]}()")
    forward = textwrap.dedent(model.code).strip("\n")
    forward = "\n".join(_CLEANUP.sub("", line).rstrip() for line in forward.splitlines())
    lines.append("")
    lines += [("    " + line) if line else "" for line in forward.splitlines()]
    return "\n".join(lines)


def _interface_lines(model) -> list[str]:
    """Class attributes naming the inputs (kind, per-sample shape), the outputs, variables fx
    renamed and the settings of layers whose code does not show them, so that ``layerforge
    import`` rebuilds the same graph from this code."""
    lines = []
    inputs = model.meta.get("inputs")
    if inputs:
        lines.append(f"    LAYERFORGE_INPUTS = {inputs!r}")
    signature = model.meta.get("signature")
    if signature is not None:
        lines.append(f"    LAYERFORGE_OUTPUTS = {tuple(signature.output_names)!r}")
    if model.meta.get("names"):
        lines.append(f"    LAYERFORGE_NAMES = {model.meta['names']!r}")
    if model.meta.get("layers"):
        lines.append(f"    LAYERFORGE_LAYERS = {model.meta['layers']!r}")
    return lines + ([""] if lines else [])
