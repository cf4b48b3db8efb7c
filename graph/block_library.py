"""The blocks a user can drop from the palette: LayerForge's built-in ones (the units of the
networks practitioners draw: Conv-BN-Act, residual blocks, squeeze-excitation, MBConv,
Inception, a transformer block, ViT's patch embedding, ...) and the user's own library, a folder of block files.

A block file is a project file whose network is one instance of the block (so it is read
through the same checks as any project, nested blocks included): ``<Name>.block.json``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from graph.blocks import BlockDefinition
from graph.errors import LayerForgeError, ProjectFileError
from graph.layout import auto_layout
from graph.model import Graph
from graph.project import Project, load_project, save_project
from graph.templates import Builder

BLOCK_SUFFIX = ".block.json"


# ---- the user's library --------------------------------------------------------------------

def save_block(definition: BlockDefinition, folder: str | os.PathLike) -> Path:
    """Write ``definition`` (and the blocks it uses) to ``folder/<Name>.block.json``."""
    graph = Graph()
    copy = definition.copy()
    _copy_nested(copy, graph)
    graph.blocks.add(copy)
    graph.add_node("Block", params={"block": copy.name})
    path = Path(folder) / f"{definition.name}{BLOCK_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_project(Project(graph, name=definition.name, description=definition.description),
                 path)
    return path


def _copy_nested(definition: BlockDefinition, graph: Graph) -> None:
    """Copy the blocks ``definition`` uses into ``graph``'s registry (inner ones first)."""
    for node in definition.graph.nodes:
        if node.block is not None and node.block.name not in graph.blocks:
            inner = node.block.copy()
            _copy_nested(inner, graph)
            graph.blocks.add(inner)
            node.block = inner
        elif node.block is not None:
            node.block = graph.blocks[node.block.name]


def load_block(path: str | os.PathLike) -> BlockDefinition:
    """The block in a block file (ProjectFileError naming the file when it is not one)."""
    project = load_project(path)
    instances = [n for n in project.graph.nodes if n.block is not None]
    if len(instances) != 1 or len(project.graph) != 1:
        raise ProjectFileError(f"{path}: not a LayerForge block file (it should hold one "
                               f"block)")
    return instances[0].block


def library_blocks(folder: str | os.PathLike) -> tuple[list[BlockDefinition], list[str]]:
    """The blocks saved in ``folder`` by name, and a message for each file that could not be
    read (the others still load)."""
    blocks, problems = [], []
    root = Path(folder)
    if not root.is_dir():
        return [], []
    for path in sorted(root.glob(f"*{BLOCK_SUFFIX}")):
        try:
            blocks.append(load_block(path))
        except LayerForgeError as exc:
            problems.append(str(exc))
    return blocks, problems


# ---- built-in blocks -----------------------------------------------------------------------

def _define(name: str, description: str, build: Callable[[Builder], None]) -> BlockDefinition:
    builder = Builder()
    build(builder)
    auto_layout(builder.graph)
    return BlockDefinition(name, builder.graph, description)


def _conv_bn_act(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(16, 16, 16))
    y = b.chain(x, ("Conv2d", "conv", {"out_channels": 32, "padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "bn"), ("ReLU", "act"))
    b.add("Output", "out", y)


def _residual_basic(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(32, 16, 16))
    y = b.chain(x, ("Conv2d", "conv1", {"out_channels": 32, "padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "bn1"), ("ReLU", "relu1"),
                ("Conv2d", "conv2", {"out_channels": 32, "padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "bn2"))
    add = b.add("Add", "add", [y, x])
    b.add("Output", "out", b.add("ReLU", "relu2", add))


def _residual_bottleneck(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(64, 16, 16))
    y = b.chain(x, ("Conv2d", "reduce", {"out_channels": 16, "kernel_size": (1, 1),
                                         "bias": False}),
                ("BatchNorm2d", "bn1"), ("ReLU", "relu1"),
                ("Conv2d", "conv", {"out_channels": 16, "padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "bn2"), ("ReLU", "relu2"),
                ("Conv2d", "expand", {"out_channels": 64, "kernel_size": (1, 1),
                                      "bias": False}),
                ("BatchNorm2d", "bn3"))
    add = b.add("Add", "add", [y, x])
    b.add("Output", "out", b.add("ReLU", "relu3", add))


def _inception(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(32, 16, 16))
    one = b.chain(x, ("Conv2d", "b1_1x1", {"out_channels": 16, "kernel_size": (1, 1)}),
                  ("ReLU", "b1_relu"))
    three = b.chain(x, ("Conv2d", "b2_1x1", {"out_channels": 16, "kernel_size": (1, 1)}),
                    ("ReLU", "b2_relu1"),
                    ("Conv2d", "b2_3x3", {"out_channels": 24, "padding": (1, 1)}),
                    ("ReLU", "b2_relu2"))
    five = b.chain(x, ("Conv2d", "b3_1x1", {"out_channels": 8, "kernel_size": (1, 1)}),
                   ("ReLU", "b3_relu1"),
                   ("Conv2d", "b3_5x5", {"out_channels": 8, "kernel_size": (5, 5),
                                         "padding": (2, 2)}),
                   ("ReLU", "b3_relu2"))
    pool = b.chain(x, ("MaxPool2d", "b4_pool", {"kernel_size": (3, 3), "stride": (1, 1),
                                                "padding": (1, 1)}),
                   ("Conv2d", "b4_1x1", {"out_channels": 8, "kernel_size": (1, 1)}),
                   ("ReLU", "b4_relu"))
    b.add("Output", "out", b.add("Concat", "concat", [one, three, five, pool], inputs=4))


def _dense_block(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(24, 16, 16))
    features = x
    for i in (1, 2, 3):
        new = b.chain(features, ("BatchNorm2d", f"bn{i}"), ("ReLU", f"relu{i}"),
                      ("Conv2d", f"conv{i}", {"out_channels": 12, "padding": (1, 1),
                                              "bias": False}))
        features = b.add("Concat", f"concat{i}", [features, new])
    b.add("Output", "out", features)


def _fire(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(64, 16, 16))
    squeeze = b.chain(x, ("Conv2d", "squeeze", {"out_channels": 16, "kernel_size": (1, 1)}),
                      ("ReLU", "squeeze_relu"))
    one = b.chain(squeeze, ("Conv2d", "expand1x1", {"out_channels": 64,
                                                    "kernel_size": (1, 1)}),
                  ("ReLU", "expand1x1_relu"))
    three = b.chain(squeeze, ("Conv2d", "expand3x3", {"out_channels": 64, "padding": (1, 1)}),
                    ("ReLU", "expand3x3_relu"))
    b.add("Output", "out", b.add("Concat", "concat", [one, three]))


def _squeeze_excitation(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(32, 16, 16))
    gate = b.chain(x, ("AdaptiveAvgPool2d", "squeeze"),
                   ("Conv2d", "reduce", {"out_channels": 8, "kernel_size": (1, 1)}),
                   ("ReLU", "relu"),
                   ("Conv2d", "expand", {"out_channels": 32, "kernel_size": (1, 1)}),
                   ("Hardsigmoid", "gate"))
    b.add("Output", "out", b.add("BroadcastMultiply", "scale", [x, gate]))


def _mbconv(b: Builder) -> None:
    se = _define("SqueezeExcitation", *BUILT_IN["SqueezeExcitation"])
    b.graph.blocks.add(se)
    x = b.add("Input", "x", kind="image", shape=(16, 16, 16))
    y = b.chain(x, ("Conv2d", "expand", {"out_channels": 32, "kernel_size": (1, 1),
                                         "bias": False}),
                ("BatchNorm2d", "bn1"), ("Hardswish", "act1"),
                ("DepthwiseConv2d", "depthwise", {"padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "bn2"), ("Hardswish", "act2"))
    y = b.add("Block", "se", y, block="SqueezeExcitation")
    y = b.chain(y, ("Conv2d", "project", {"out_channels": 16, "kernel_size": (1, 1),
                                          "bias": False}),
                ("BatchNorm2d", "bn3"))
    b.add("Output", "out", b.add("Add", "add", [y, x]))


def _transformer_encoder(b: Builder) -> None:
    x = b.add("Input", "x", kind="sequence", shape=(17, 64))
    attn = b.chain(x, ("LayerNorm", "ln1"), ("MultiheadAttention", "attn", {"num_heads": 4}))
    y = b.add("Add", "add1", [x, attn])
    mlp = b.chain(y, ("LayerNorm", "ln2"), ("Linear", "fc1", {"out_features": 128}),
                  ("GELU", "gelu"), ("Linear", "fc2", {"out_features": 64}))
    b.add("Output", "out", b.add("Add", "add2", [y, mlp]))


def _patch_embedding(b: Builder) -> None:
    x = b.add("Input", "x", kind="image", shape=(1, 16, 16))
    y = b.chain(x, ("Conv2d", "patches", {"out_channels": 64, "kernel_size": (4, 4),
                                          "stride": (4, 4)}),
                ("Flatten", "tokens", {"start_dim": 2}),
                ("Transpose", "to_sequence", {"dim0": 1, "dim1": 2}),
                ("ClassToken", "cls"), ("PositionEmbedding", "pos"))
    b.add("Output", "out", y)


BUILT_IN: dict[str, tuple[str, Callable[[Builder], None]]] = {
    "ConvBNAct": ("Convolution, batch normalisation and ReLU: the unit most CNNs repeat.",
                  _conv_bn_act),
    "ResidualBasic": ("ResNet's basic block: two 3×3 convolutions with a skip connection "
                      "(input and output channels must match).", _residual_basic),
    "ResidualBottleneck": ("ResNet-50's bottleneck: 1×1 reduce, 3×3, 1×1 expand, plus the "
                           "skip connection.", _residual_bottleneck),
    "Inception": ("GoogLeNet's module: 1×1, 3×3, 5×5 and pooled branches side by side, "
                  "joined along the channels.", _inception),
    "DenseBlock": ("DenseNet's block: each layer sees every earlier layer's features "
                   "(growth rate 12).", _dense_block),
    "Fire": ("SqueezeNet's module: a 1×1 squeeze, then 1×1 and 3×3 expands joined.", _fire),
    "SqueezeExcitation": ("Channel attention (SENet, MobileNetV3): the image is pooled to one "
                          "value per channel, a small bottleneck turns that into a gate per "
                          "channel, and each channel is scaled by its gate.",
                          _squeeze_excitation),
    "MBConv": ("MobileNetV2/V3's inverted residual: 1×1 expand, 3×3 depthwise, "
               "squeeze-excitation, 1×1 project, plus the skip connection.", _mbconv),
    "TransformerEncoderBlock": ("A pre-norm transformer block written out: LayerNorm, "
                                "self-attention and a skip, LayerNorm, a GELU MLP and a skip "
                                "(open it to change the heads or the MLP width).",
                                _transformer_encoder),
    "PatchEmbedding": ("ViT's input: 4×4 patches embedded by a strided convolution, as a "
                       "sequence with a learned class token in front and learned positions "
                       "added.", _patch_embedding),
}


def built_in_blocks() -> list[BlockDefinition]:
    """Fresh definitions of the built-in blocks (each call builds new ones)."""
    return [_define(name, description, build)
            for name, (description, build) in BUILT_IN.items()]
