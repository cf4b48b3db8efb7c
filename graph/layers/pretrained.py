"""Pre-trained networks as building blocks: torchvision backbones and imported model files.

graph/ cannot import torch, so what a backbone gives is declared here per architecture (feature
count, parameters per block, MACs as a function of the image size), each number checked against
torchvision by tests/backend/compile/test_transfer.py. An imported model's shapes come from its file:
the app reads the file once through the backend (``backend.compile.backbones.describe_model_file``) and
stores what it learnt as the node's derived parameters, so validation never opens a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from math import ceil
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, expect_rank
from graph.shapes import TensorType

# The network halves the image this many times (every stride-2 step rounds up).
DOWNSAMPLING_STEPS = 5
MIN_IMAGE_SIZE = 32


@dataclass(frozen=True)
class Arch:
    """What one torchvision architecture's feature extractor (classifier removed) is.

    ``block_params``: parameters of each block, input side first (the unit of "unfreeze the
    last N blocks"). ``macs``: coefficients (a0, a1..a5) of MACs per sample =
    a0 + sum_s a_s * ceil(H/2^s) * ceil(W/2^s), exact for every input size (measured with
    torch's flop counter; a0 is the squeeze-excitation layers that see pooled vectors).
    """

    features: int
    block_params: tuple[int, ...]
    macs: tuple[int, ...]
    blocks_are: str

    @property
    def params(self) -> int:
        return sum(self.block_params)

    def macs_for(self, height: int, width: int) -> int:
        return self.macs[0] + sum(
            a * ceil(height / 2 ** s) * ceil(width / 2 ** s)
            for s, a in enumerate(self.macs[1:], start=1))


_RESNET_BLOCKS = "the stem (conv1, bn1) and layer1..layer4"
ARCHS: dict[str, Arch] = {
    "resnet18": Arch(512, (9536, 147968, 525568, 2099712, 8393728),
                     (0, 9408, 147456, 524288, 2097152, 8388608), _RESNET_BLOCKS),
    "resnet34": Arch(512, (9536, 221952, 1116416, 6822400, 13114368),
                     (0, 9408, 221184, 1114112, 6815744, 13107200), _RESNET_BLOCKS),
    "resnet50": Arch(2048, (9536, 215808, 1219584, 7098368, 14964736),
                     (0, 9408, 245760, 1310720, 7471104, 14417920), _RESNET_BLOCKS),
    "mobilenet_v3_small": Arch(
        576, (464, 744, 3864, 5416, 13736, 57264, 57264, 21968, 29800, 91848, 294096, 294096,
              56448),
        (458752, 432, 1552, 9696, 101448, 340128), "features[0]..features[12]"),
    "mobilenet_v3_large": Arch(
        960, (464, 464, 3440, 4440, 10328, 20992, 20992, 32080, 34760, 31992, 31992, 214424,
              386120, 429224, 797360, 797360, 155520),
        (1507200, 1856, 7944, 39480, 445672, 940320), "features[0]..features[16]"),
    "efficientnet_b0": Arch(
        1280, (928, 1448, 16714, 46640, 242930, 543148, 2026348, 717232, 412160),
        (627200, 3200, 14832, 44160, 697680, 2569120), "features[0]..features[8]"),
}
MAX_BLOCKS = max(len(a.block_params) for a in ARCHS.values())

WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt);;All files (*)"
MODEL_FILTER = "TorchScript or LayerForge checkpoint (*.pt *.pth *.ts *.ckpt);;All files (*)"


def _file_problem(path: str, what: str, fix: str) -> str | None:
    """Why the file at ``path`` cannot be used (a cheap stat, no reading), or None."""
    if not path:
        return f"no {what} chosen: {fix}"
    if not os.path.isfile(os.path.expanduser(path)):
        return f"{what} {path} not found: {fix}"
    return None


def _backbone(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    x = ins[0]
    fix = "ImageNet backbones take colour images: set the Input to 3 channels (C,H,W = 3,…)"
    expect_rank(x, (4,), "(N, 3, H, W)", fix)
    if x.dims[0] != 3:
        raise ShapeError(f"expects (N, 3, H, W) but gets {x}: {fix}", port=0,
                         expected="(N, 3, H, W)", fix=fix)
    h, w = x.dims[1:]
    if min(h, w) < MIN_IMAGE_SIZE:
        raise ShapeError(f"needs images of at least {MIN_IMAGE_SIZE}×{MIN_IMAGE_SIZE} pixels "
                         f"(it halves them {DOWNSAMPLING_STEPS} times) but gets {h}×{w}: make the "
                         f"Input larger (e.g. 3, 96, 96)")
    arch = ARCHS[p["arch"]]
    blocks = len(arch.block_params)
    if p["freeze"] and p["unfreeze_last"] > blocks:
        raise ShapeError(f"{p['arch']} has {blocks} blocks ({arch.blocks_are}); unfreeze_last "
                         f"must be at most {blocks}")
    if p["weights"] == "file":
        problem = _file_problem(p["weights_file"], "weights file",
                                f"choose a local weights file (a .pth state_dict of "
                                f"torchvision's {p['arch']}) or set weights to imagenet or none")
        if problem:
            raise ShapeError(problem)
    if p["output"] == "pooled":
        return [TensorType((arch.features,))]
    return [TensorType((arch.features, ceil(h / 2 ** DOWNSAMPLING_STEPS),
                        ceil(w / 2 ** DOWNSAMPLING_STEPS)))]


def backbone_trainable(params: dict[str, Any]) -> int:
    """Parameters that training updates: all, or (frozen) those of the last N blocks."""
    arch = ARCHS[params["arch"]]
    if not params["freeze"]:
        return arch.params
    n = params["unfreeze_last"]
    return sum(arch.block_params[len(arch.block_params) - n:]) if n > 0 else 0


BACKBONE = LayerSpec(
    type="Backbone", category="Pretrained",
    description="A pre-trained torchvision image network (ResNet, MobileNetV3, EfficientNet) "
                "without its classifier: turns an image into features for a new head. Weights "
                "from torchvision (ImageNet, downloaded once) or a local .pth file; freeze it, "
                "or let training fine-tune its last blocks.",
    params=(
        ParamSpec("arch", "choice", "resnet18", "Which torchvision architecture.",
                  choices=tuple(ARCHS)),
        ParamSpec("weights", "choice", "imagenet",
                  "imagenet: torchvision's ImageNet weights (downloaded when training starts, "
                  "then cached); file: a local .pth state_dict (offline); none: random start.",
                  choices=("imagenet", "file", "none")),
        ParamSpec("weights_file", "file", "", "The local weights file when weights is 'file': "
                  "torch.save(model.state_dict(), path) of the same torchvision model.",
                  file_filter=WEIGHTS_FILTER),
        ParamSpec("freeze", "bool", True, "Keep the pre-trained weights fixed (and batch-norm "
                  "statistics too); only the layers after it learn."),
        ParamSpec("unfreeze_last", "int", 0, "With freeze on: let training update this many "
                  "blocks at the output end (fine-tuning).", min=0, max=MAX_BLOCKS),
        ParamSpec("output", "choice", "pooled", "pooled: one feature vector per image (global "
                  "average); feature_map: the last feature map (C, H/32, W/32).",
                  choices=("pooled", "feature_map")),
    ),
    infer=_backbone, module="pretrained.Backbone",
    module_args=lambda ins, p: {k: p[k] for k in ("arch", "weights", "weights_file", "freeze",
                                                  "unfreeze_last", "output")},
    cost=lambda ins, outs, p: (ARCHS[p["arch"]].params,
                               ARCHS[p["arch"]].macs_for(*ins[0].dims[1:])),
    trainable=lambda ins, outs, p: backbone_trainable(p),
    key_params=("arch", "weights", "freeze"), default_name="backbone",
)


# ---- imported models ---------------------------------------------------------------------

MODEL_FORMATS = ("unread", "torchscript", "checkpoint")
DESCRIBED = ("format", "input_shape", "output_shape", "param_count")  # filled from the file


def _imported(ins: list[TensorType], p: dict[str, Any]) -> list[TensorType]:
    problem = _file_problem(p["path"], "model file",
                            "choose a TorchScript file or a LayerForge checkpoint (path)")
    if problem:
        raise ShapeError(problem)
    if p["format"] == "unread" or not p["output_shape"]:
        raise ShapeError(f"model file {p['path']} has not been read yet: choose it again in "
                         f"the inspector so LayerForge can learn its shapes")
    x = ins[0]
    expect_rank(x, (len(p["input_shape"]) + 1,), str(TensorType(p["input_shape"])),
                f"the imported model takes {TensorType(p['input_shape'])}")
    if x.dims != tuple(p["input_shape"]):
        want = str(TensorType(p["input_shape"]))
        fix = "the imported model was made for that shape: resize the input to it"
        raise ShapeError(f"expects {want} but gets {x}: {fix}", port=0, expected=want, fix=fix)
    return [TensorType(p["output_shape"])]


IMPORTED_MODEL = LayerSpec(
    type="ImportedModel", category="Pretrained",
    description="A model from a file as one block: a TorchScript file or a LayerForge "
                "checkpoint (your own trained network), frozen or fine-tuned. Its shapes are "
                "read from the file when you choose it.",
    params=(
        ParamSpec("path", "file", "", "TorchScript (.pt) or LayerForge checkpoint file.",
                  file_filter=MODEL_FILTER),
        ParamSpec("fine_tune", "bool", False, "Let training update the imported weights "
                  "(off: frozen, batch-norm statistics fixed too)."),
        ParamSpec("format", "choice", "unread", "What the file is (read from it).",
                  choices=MODEL_FORMATS, derived=True),
        ParamSpec("input_shape", "ints", (), "One sample going in (read from the file).",
                  min=1, min_length=0, derived=True),
        ParamSpec("output_shape", "ints", (), "One sample coming out (read from the file).",
                  min=1, min_length=0, derived=True),
        ParamSpec("param_count", "int", 0, "Parameters in the file's model.", min=0,
                  derived=True),
    ),
    infer=_imported, module="pretrained.ImportedModel",
    module_args=lambda ins, p: {"path": p["path"], "fine_tune": p["fine_tune"],
                                "input_shape": tuple(p["input_shape"]),
                                "output_shape": tuple(p["output_shape"])},
    cost=lambda ins, outs, p: (p["param_count"], 0),
    trainable=lambda ins, outs, p: p["param_count"] if p["fine_tune"] else 0,
    key_params=("format", "fine_tune"), default_name="imported",
)

SPECS = (BACKBONE, IMPORTED_MODEL)
