"""Pre-trained torchvision backbones inside a compiled model.

:class:`Backbone` is a torchvision feature extractor (classifier removed) with freezing:
frozen blocks get ``requires_grad=False`` and stay in eval mode while the model trains (their
batch-norm statistics and dropout are fixed too). Building one never touches the network or
the disk: pretrained weights are fetched by :func:`load_pretrained_weights`, which the trainer
calls on its worker thread when a fresh run starts (a resumed run or a checkpoint brings its
own weights, so nothing is downloaded for them, and the Code view compiles instantly).
"""
from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from backend.data.base import DataError
from backend.data.download import DownloadCancelled, exclusive, fetch
from backend.compile.modules import register_builder
from backend.errors import CompileError
from graph.layers import LayerSpec
from graph.layers.pretrained import ARCHS
from graph.model import Node
from graph.shapes import TensorType

log = logging.getLogger(__name__)

# Set to 1 to never download (e.g. on an air-gapped machine): cached weights are still used.
OFFLINE_ENV = "LAYERFORGE_OFFLINE"


class PretrainedError(CompileError):
    """A backbone's weights or an imported model file cannot be used; says which node and
    what to do. ``node_name`` names the node when it is known (the GUI marks it)."""

    def __init__(self, message: str, node_name: str | None = None) -> None:
        super().__init__(message)
        self.node_name = node_name


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- torchvision backbones ---------------------------------------------------------------

def _head_prefix(arch: str) -> str:
    """The classifier that a backbone drops (its weights in a full state_dict are ignored)."""
    return "fc." if arch.startswith("resnet") else "classifier."


def _feature_children(arch: str, model: nn.Module) -> tuple[list[tuple[str, nn.Module]],
                                                            list[list[str]]]:
    """The feature extractor's children, named as in torchvision (so torchvision state_dicts
    load as they are), and its blocks (groups of child names) from input to output."""
    if arch.startswith("resnet"):
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        blocks = [["conv1", "bn1"], ["layer1"], ["layer2"], ["layer3"], ["layer4"]]
        return [(n, getattr(model, n)) for n in names], blocks
    features = model.features
    return [("features", features)], [[f"features.{i}"] for i in range(len(features))]


class Backbone(nn.Sequential):
    """A torchvision architecture without its classifier, optionally frozen.

    Children keep torchvision's names (``conv1``, ``layer4``, ``features``), so the state_dict
    keys under the node read ``backbone.layer4.1.conv2.weight``.
    """

    source_imports = ("import torchvision", "from collections import OrderedDict")

    def __init__(self, arch: str, weights: str = "none", weights_file: str = "",
                 freeze: bool = True, unfreeze_last: int = 0, output: str = "pooled",
                 node_name: str = "backbone") -> None:
        import torchvision.models as tvm  # slow import: only when a backbone is built

        if arch not in ARCHS:
            raise PretrainedError(f"Backbone '{node_name}': unknown architecture {arch!r}; "
                                  f"choose one of {', '.join(ARCHS)}")
        children, blocks = _feature_children(arch, getattr(tvm, arch)(weights=None))
        if output == "pooled":
            children += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten(1))]
        super().__init__(OrderedDict(children))
        self.arch, self.weights, self.weights_file = arch, weights, weights_file
        self.output, self.node_name = output, node_name
        self.blocks = blocks
        self.freeze, self.unfreeze_last = freeze, unfreeze_last
        self.frozen_blocks = blocks[:len(blocks) - unfreeze_last] if freeze else []
        for group in self.frozen_blocks:
            for name in group:
                self.get_submodule(name).requires_grad_(False)

    @property
    def label(self) -> str:
        return f"Backbone '{self.node_name}'"

    def frozen_modules(self) -> list[nn.Module]:
        return [self.get_submodule(n) for group in self.frozen_blocks for n in group]

    def block_modules(self, index: int) -> list[nn.Module]:
        """The modules of block ``index`` (0 = input side; negative counts from the end)."""
        return [self.get_submodule(n) for n in self.blocks[index]]

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        if mode:
            for module in self.frozen_modules():  # fixed BN statistics, no dropout
                module.eval()
        return self

    # -- weights --
    def load_pretrained(self) -> str | None:
        """Load the weights the node asks for; returns where they came from (None: none)."""
        try:
            return self._load_pretrained()
        except PretrainedError as exc:
            exc.node_name = self.node_name
            raise

    def _load_pretrained(self) -> str | None:
        if self.weights == "none":
            return None
        if self.weights == "imagenet":
            state, source = _imagenet_state(self.arch, self.label), "torchvision ImageNet"
        elif self.weights == "file":
            path = os.path.expanduser(self.weights_file)
            state, source = read_weights_file(path, self.label, self.arch), path
        else:
            raise PretrainedError(f"{self.label}: unknown weights {self.weights!r}; choose "
                                  f"imagenet, file or none")
        self.load_features(state, source)
        return source

    def load_features(self, state: dict[str, Any], source: str) -> None:
        """Load a torchvision state_dict of this architecture (its classifier is ignored); a
        state_dict of another network is refused with what does not fit."""
        if isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith(_head_prefix(self.arch))}
        own = self.state_dict()
        missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in state if k not in own]
        wrong = [k for k in own if k in state and (not isinstance(state[k], torch.Tensor)
                                                  or state[k].shape != own[k].shape)]
        if missing or unexpected or wrong:
            parts = []
            for what, keys in (("missing", missing), ("not in " + self.arch, unexpected),
                               ("with other shapes", wrong)):
                if keys:
                    parts.append(f"{len(keys)} weights {what} (e.g. {keys[0]})")
            raise PretrainedError(
                f"{self.label}: the weights in {source} do not fit {self.arch}: "
                f"{', '.join(parts)}: choose a local weights file saved from torchvision's "
                f"{self.arch} (torch.save(model.state_dict(), path)), or change arch")
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)

    # -- the Code view --
    def source_code(self) -> str:
        """Python that builds the same modules (same state_dict keys) with torchvision."""
        net = f"torchvision.models.{self.arch}()"
        if self.arch.startswith("resnet"):
            body = f"*list({net}.named_children())[:-2]"
        else:
            body = f"(\"features\", {net}.features)"
        if self.output == "pooled":
            body += ", (\"avgpool\", nn.AdaptiveAvgPool2d(1)), (\"flatten\", nn.Flatten(1))"
        weights = {"imagenet": "ImageNet weights", "file": f"weights from {self.weights_file}",
                   "none": "random start"}.get(self.weights, self.weights)
        frozen = (f"frozen but the last {self.unfreeze_last} blocks" if self.unfreeze_last
                  else "frozen") if self.freeze else "trainable"
        return f"nn.Sequential(OrderedDict([{body}]))  # {weights}, {frozen}"


def _imagenet_state(arch: str, who: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights: from the torch hub cache, else downloaded once."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(arch).DEFAULT
    fix = (f"choose a local weights file: set weights to 'file' and pick a .pth saved on a "
           f"connected machine with torch.save(torchvision.models.{arch}(weights='DEFAULT')"
           f".state_dict(), '{arch}.pth')")
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if os.environ.get(OFFLINE_ENV) == "1" and not os.path.isfile(cached):
        raise PretrainedError(f"{who}: the ImageNet weights of {arch} are not on this machine "
                              f"and downloads are off ({OFFLINE_ENV}=1): {fix}")
    # our download (progress and cancel, backend.data.download.reporting) into the hub cache,
    # where torchvision then finds the file
    with exclusive(cached):
        if not os.path.isfile(cached):
            try:
                fetch(weights.url, cached, f"ImageNet weights of {arch}",
                      sha256_prefix=hub_hash_prefix(cached))
            except DownloadCancelled:
                raise
            except (OSError, ValueError, DataError) as exc:  # URLError is an OSError
                raise PretrainedError(f"{who}: could not download torchvision's ImageNet "
                                      f"weights for {arch} (offline? {first_line(exc)}): "
                                      f"{fix}") from None
    try:
        log.info("%s: loading torchvision weights %s", who, weights)
        return weights.get_state_dict(progress=False, check_hash=True, map_location="cpu",
                                      weights_only=True)  # never run code from the file
    except Exception as exc:  # noqa: BLE001 - URLError, OSError, RuntimeError (hash), ...
        raise PretrainedError(f"{who}: could not get torchvision's ImageNet weights for {arch} "
                              f"(offline? {first_line(exc)}): {fix}") from None


def hub_hash_prefix(path: str) -> str | None:
    """The start of the file's SHA-256 that torch hub file names carry ('...-047dcff4.pth')."""
    match = torch.hub.HASH_REGEX.search(os.path.basename(path))
    return match.group(1) if match else None


def looks_like_torch_save(path: str) -> bool:
    """torch.save writes a zip archive (or, before PyTorch 1.6, a pickle: first byte 0x80)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def read_weights_file(path: str, who: str, arch: str = "") -> dict[str, Any]:
    """A state_dict from a .pth file, opened with ``weights_only=True`` (never runs code)."""
    fix = f"choose a local weights file (a .pth state_dict of torchvision's {arch or 'model'})"
    if os.path.isfile(path) and not looks_like_torch_save(path):
        raise PretrainedError(f"{who}: {path} is not a readable weights file (not saved by "
                              f"torch.save): {fix}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PretrainedError(f"{who}: weights file {path} not found: {fix}") from None
    except pickle.UnpicklingError:
        raise PretrainedError(f"{who}: {path} was refused: it holds code or objects other than "
                              f"weights, and opening it could run that code: {fix}") from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError, KeyError,
            IndexError) as exc:
        raise PretrainedError(f"{who}: {path} is not a readable weights file "
                              f"({type(exc).__name__}): {fix}") from None
    if isinstance(obj, dict) and obj.get("format") == "layerforge-checkpoint":
        raise PretrainedError(f"{who}: {path} is a LayerForge checkpoint, not torchvision "
                              f"weights: use an ImportedModel node for it, or {fix}")
    if not isinstance(obj, dict) or not obj:
        raise PretrainedError(f"{who}: {path} holds no state_dict: {fix}")
    return obj


def load_pretrained_weights(model: nn.Module) -> list[str]:
    """Load every backbone's pretrained weights (download, file or none); returns one line per
    backbone that got weights. Raises PretrainedError naming the node and the fix."""
    loaded = []
    for module in model.modules():
        if isinstance(module, Backbone):
            source = module.load_pretrained()
            if source:
                loaded.append(f"{module.label}: {module.arch} weights from {source}")
    return loaded


def _build_backbone(spec: LayerSpec, node: Node, inputs: list[TensorType]) -> nn.Module:
    """The module of a Backbone node (no weights are downloaded here)."""
    return Backbone(node_name=node.name, **spec.module_args(inputs, node.params))


register_builder("pretrained.Backbone", _build_backbone)
