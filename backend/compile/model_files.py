"""Model files inside a compiled model: a TorchScript file or a LayerForge checkpoint as one
block (:class:`ImportedModel`). :func:`describe_model_file` reads such a file once (for the
inspector) and says what the node's derived parameters must be, because graph/ cannot open it.

A checkpoint holds a LayerForge graph, so opening one compiles that graph: this module sits
above the compiler and registers its builder with ``backend.compile.modules`` (no import circle).
"""
from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from backend.checkpoint import load_checkpoint
from backend.compile.backbones import (Backbone, PretrainedError, first_line,
                                       looks_like_torch_save)
from backend.compile.compiler import compile_graph
from backend.compile.modules import register_builder
from backend.errors import CheckpointError
from graph.layers import LayerSpec
from graph.model import Node
from graph.shapes import TensorType
from graph.validate import analyze

@dataclass(frozen=True)
class ModelDescription:
    """What a model file is, as an ImportedModel node records it (plain data)."""

    format: str                      # "torchscript" | "checkpoint"
    input_shape: tuple[int, ...]     # one sample, batch excluded
    output_shape: tuple[int, ...]
    param_count: int

    def node_params(self) -> dict[str, Any]:
        """The node's derived parameters."""
        return {"format": self.format, "input_shape": self.input_shape,
                "output_shape": self.output_shape, "param_count": self.param_count}


@dataclass
class LoadedModel:
    module: nn.Module
    format: str
    input_shape: tuple[int, ...] | None  # None: a TorchScript file does not say
    output_shape: tuple[int, ...] | None


def is_torchscript(path: str) -> bool:
    """TorchScript archives carry their code; torch.save archives only data."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_model_file(path: str, who: str = "ImportedModel") -> LoadedModel:
    """Open a TorchScript file or a LayerForge checkpoint as a module (CPU, train mode)."""
    path = os.path.expanduser(path)
    fix = "choose a TorchScript file or a LayerForge checkpoint (path)"
    if not path:
        raise PretrainedError(f"{who}: no model file chosen: {fix}")
    if not os.path.isfile(path):
        raise PretrainedError(f"{who}: model file {path} not found: {fix}")
    if not looks_like_torch_save(path):
        raise PretrainedError(f"{who}: {path} is neither a TorchScript file nor a LayerForge "
                              f"checkpoint: {fix}")
    if is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; still loads
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(path, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - corrupt archive, unknown ops, ...
            raise PretrainedError(f"{who}: {path} is not a readable TorchScript file "
                                  f"({first_line(exc)}): {fix}") from None
        return LoadedModel(module, "torchscript", None, None)
    return _load_checkpoint_model(path, who, fix)


def _load_checkpoint_model(path: str, who: str, fix: str) -> LoadedModel:
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise PretrainedError(f"{who}: {exc}: {fix}") from None
    graph = ckpt.project.graph
    inputs = [n for n in graph.nodes if n.type == "Input"]
    outputs = [n for n in graph.nodes if n.type == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise PretrainedError(f"{who}: the network in {path} has {len(inputs)} inputs and "
                              f"{len(outputs)} outputs; an imported model needs one of each")
    analysis = analyze(graph)
    if not analysis.is_valid:
        raise PretrainedError(f"{who}: the network in {path} has errors:\n"
                              f"{analysis.summary()}")
    in_type = analysis.info[inputs[0].id].outputs["out"]
    if in_type.dtype != "float":
        raise PretrainedError(f"{who}: the network in {path} takes token ids; an imported "
                              f"model must take real numbers (images, vectors, sequences)")
    module = compile_graph(graph, analysis)
    try:
        module.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise PretrainedError(f"{who}: the weights in {path} do not fit its network "
                              f"({first_line(exc)})") from None
    for inner in module.modules():  # its backbones were trained: never fetch their weights
        if isinstance(inner, Backbone):
            inner.weights = "none"
    out_type = analysis.info[outputs[0].id].inputs["in"]
    return LoadedModel(module, "checkpoint", in_type.dims, out_type.dims)


def describe_model_file(path: str, input_shape: tuple[int, ...] | None = None
                        ) -> ModelDescription:
    """Read a model file and say what it takes and gives (run it on a worker thread: it loads
    the whole model). A TorchScript file does not record its input shape, so ``input_shape``
    (what reaches the node now) is tried on it."""
    loaded = load_model_file(path)
    params = sum(p.numel() for p in loaded.module.parameters())
    if loaded.input_shape is not None and loaded.output_shape is not None:
        return ModelDescription(loaded.format, tuple(loaded.input_shape),
                                tuple(loaded.output_shape), params)
    if not input_shape:
        raise PretrainedError(f"ImportedModel: {path} is TorchScript, which does not record "
                              f"what it takes: connect the node's input first, so LayerForge "
                              f"can try the model on that shape")
    shape = tuple(int(d) for d in input_shape)
    module = loaded.module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, *shape))
    except Exception as exc:  # noqa: BLE001 - any failure means it does not take that shape
        raise PretrainedError(f"ImportedModel: the model in {path} does not take "
                              f"{TensorType(shape)} ({first_line(exc)}): connect an input of "
                              f"the shape it was made for") from None
    if not isinstance(out, torch.Tensor) or out.dim() < 2:
        raise PretrainedError(f"ImportedModel: the model in {path} must return one batched "
                              f"tensor, not {type(out).__name__}")
    return ModelDescription("torchscript", shape, tuple(out.shape[1:]), params)


class ImportedModel(nn.Module):
    """A model file as one block. Frozen (fine_tune off): no gradients, eval mode always."""

    def __init__(self, path: str, fine_tune: bool = False, input_shape: tuple[int, ...] = (),
                 output_shape: tuple[int, ...] = (), node_name: str = "imported") -> None:
        super().__init__()
        who = f"ImportedModel '{node_name}'"
        try:
            loaded = load_model_file(path, who)
        except PretrainedError as exc:
            exc.node_name = node_name
            raise
        recorded = (tuple(input_shape), tuple(output_shape))
        if loaded.input_shape is not None and \
                (tuple(loaded.input_shape), tuple(loaded.output_shape)) != recorded:
            raise PretrainedError(f"{who}: {path} changed since it was chosen (it now takes "
                                  f"{TensorType(loaded.input_shape)} and gives "
                                  f"{TensorType(loaded.output_shape)}): choose it again",
                                  node_name)
        self.inner = loaded.module
        self.path, self.fine_tune, self.format = path, fine_tune, loaded.format
        if not fine_tune:
            for p in self.inner.parameters():  # (a ScriptModule has no requires_grad_())
                p.requires_grad_(False)
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)

    source_imports = ("from collections import OrderedDict",)

    def source_code(self) -> str:
        """For the Code view: a TorchScript file loads as it is (same state_dict keys); a
        LayerForge checkpoint has no torch-only form, which the line says."""
        frozen = "fine-tuned" if self.fine_tune else "frozen"
        if self.format == "torchscript":
            return (f"nn.Sequential(OrderedDict([(\"inner\", torch.jit.load({self.path!r}))]))"
                    f"  # TorchScript file, {frozen}")
        return (f"None  # LayerForge checkpoint {self.path} ({frozen}): export it as "
                f"TorchScript to run this code outside LayerForge")

    def train(self, mode: bool = True) -> "ImportedModel":
        super().train(mode)
        if not self.fine_tune:
            self.inner.eval()
        return self


def _build_imported(spec: LayerSpec, node: Node, inputs: list[TensorType]) -> nn.Module:
    """The module of an ImportedModel node."""
    return ImportedModel(node_name=node.name, **spec.module_args(inputs, node.params))


register_builder("pretrained.ImportedModel", _build_imported)
