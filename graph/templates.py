"""Built-in example networks that train out of the box on offline data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from graph.layout import auto_layout
from graph.model import Edge, Graph, Node
from graph.project import Project
from graph.settings import default_training

# Printable ASCII and newline: the text datasets map every corpus onto this alphabet.
TEXT_VOCAB_SIZE = 96


class Builder:
    """Small helper to write templates as readable chains of layers."""

    def __init__(self) -> None:
        self.graph = Graph()

    def add(self, type_name: str, name: str | None = None, source: Node | list[Node] | None = None,
            **params: Any) -> Node:
        node = self.graph.add_node(type_name, name=name, params=params)
        sources = source if isinstance(source, list) else [source] if source else []
        ports = [p.name for p in node.spec.input_ports(node.params)]
        for port, src in zip(ports, sources):
            self.graph.connect(Edge(src.id, "out", node.id, port))
        return node

    def chain(self, source: Node, *layers: tuple) -> Node:
        """Append layers one after another: each item is (type, name, {params})."""
        node = source
        for type_name, name, *rest in layers:
            node = self.add(type_name, name, node, **(rest[0] if rest else {}))
        return node

    def project(self, name: str, description: str, dataset: dict[str, Any],
                **training: Any) -> Project:
        auto_layout(self.graph)
        settings = default_training()
        settings.update(training)
        return Project(self.graph, dataset, settings, name, description)


def hello_mlp() -> Project:
    b = Builder()
    x = b.add("Input", "image", kind="vector", shape=(784,))
    out = b.chain(x, ("Linear", "fc1", {"out_features": 128}), ("ReLU", "relu1"),
                  ("Linear", "fc2", {"out_features": 10}))
    b.add("Output", "digit", out)
    return b.project(
        "Hello world: an MLP for handwritten digits",
        "The classic first network: 784 pixels -> 128 hidden units -> ReLU -> 10 digit scores. "
        "Trains on scikit-learn's real handwritten digits scaled to 28x28 (offline); switch the "
        "dataset to MNIST when online.",
        {"name": "digits", "options": {}}, epochs=30, learning_rate=1e-3, batch_size=32)


def digits_cnn() -> Project:
    b = Builder()
    x = b.add("Input", "image", kind="image", shape=(1, 16, 16))
    out = b.chain(
        x,
        ("Conv2d", "conv1", {"out_channels": 32, "kernel_size": (3, 3), "padding": (1, 1)}),
        ("BatchNorm2d", "bn1"), ("ReLU", "relu1"),
        ("Conv2d", "conv2", {"out_channels": 32, "kernel_size": (3, 3), "padding": (1, 1)}),
        ("BatchNorm2d", "bn2"), ("ReLU", "relu2"),
        ("MaxPool2d", "pool1"),
        ("Conv2d", "conv3", {"out_channels": 64, "kernel_size": (3, 3), "padding": (1, 1)}),
        ("BatchNorm2d", "bn3"), ("ReLU", "relu3"),
        ("MaxPool2d", "pool2"),
        ("Flatten", "flatten"),
        ("Dropout", "drop", {"p": 0.3}),
        ("Linear", "fc", {"out_features": 10}),
    )
    b.add("Output", "digit", out)
    return b.project(
        "CNN for handwritten digits",
        "Three convolutions with batch norm and pooling, then a linear classifier. Trains on "
        "scikit-learn's real 8x8 handwritten digits scaled to 16x16, with small random shifts.",
        {"name": "digits", "options": {}}, epochs=30, learning_rate=2e-3, batch_size=32,
        optimizer="adamw", weight_decay=1e-4, schedule="one_cycle", shift=1, rotate=8.0)


def lstm_forecast() -> Project:
    b = Builder()
    x = b.add("Input", "window", kind="sequence", shape=(52, 1))
    out = b.chain(x, ("LSTM", "lstm", {"hidden_size": 64, "output": "last"}),
                  ("Linear", "head", {"out_features": 1}))
    b.add("Output", "forecast", out)
    return b.project(
        "LSTM time-series forecaster",
        "Reads a window of the past (52 weeks) and forecasts the value 4 weeks after it. "
        "Trains on the real Mauna Loa weekly CO2 record shipped with LayerForge; compare with "
        "the last-value baseline printed after training.",
        {"name": "csv_series", "options": {}}, loss="mse", epochs=30, learning_rate=2e-3,
        batch_size=64, grad_clip=1.0)


def char_gru() -> Project:
    b = Builder()
    x = b.add("Input", "text", kind="tokens", shape=(64,))
    out = b.chain(x, ("Embedding", "embed", {"num_embeddings": TEXT_VOCAB_SIZE,
                                             "embedding_dim": 32}),
                  ("GRU", "gru", {"hidden_size": 128, "output": "sequence"}),
                  ("Linear", "head", {"out_features": TEXT_VOCAB_SIZE}))
    b.add("Output", "next_char", out)
    return b.project(
        "Character-level text generator (GRU)",
        "Reads 64 characters and predicts, at every step, the character that comes next; "
        "sample new text with a temperature. Trains on documentation text gathered from the "
        "Python standard library (offline).",
        {"name": "text", "options": {"targets": "sequence"}}, epochs=5, learning_rate=4e-3,
        batch_size=64, grad_clip=1.0)


def residual_cnn() -> Project:
    b = Builder()
    x = b.add("Input", "image", kind="image", shape=(1, 16, 16))

    def conv(name: str, channels: int) -> tuple:
        return ("Conv2d", name, {"out_channels": channels, "kernel_size": (3, 3),
                                 "padding": (1, 1), "bias": False})

    stem = b.chain(x, conv("stem", 32), ("BatchNorm2d", "stem_bn"), ("ReLU", "stem_relu"))
    branch = b.chain(stem, conv("block1_conv1", 32), ("BatchNorm2d", "block1_bn1"),
                     ("ReLU", "block1_relu"), conv("block1_conv2", 32),
                     ("BatchNorm2d", "block1_bn2"))
    merged = b.add("Add", "block1_add", [branch, stem])
    down = b.chain(merged, ("ReLU", "block1_out"), ("MaxPool2d", "pool1"), conv("widen", 64),
                   ("BatchNorm2d", "widen_bn"), ("ReLU", "widen_relu"))
    branch = b.chain(down, conv("block2_conv1", 64), ("BatchNorm2d", "block2_bn1"),
                     ("ReLU", "block2_relu"), conv("block2_conv2", 64),
                     ("BatchNorm2d", "block2_bn2"))
    merged = b.add("Add", "block2_add", [branch, down])
    out = b.chain(merged, ("ReLU", "block2_out"), ("AdaptiveAvgPool2d", "gap"),
                  ("Flatten", "flatten"), ("Linear", "fc", {"out_features": 10}))
    b.add("Output", "digit", out)
    return b.project(
        "Small residual CNN",
        "Two residual blocks (convolutions whose input is added back to their output through "
        "an Add skip connection), global average pooling and a linear classifier, on the "
        "handwritten digits.",
        {"name": "digits", "options": {}}, epochs=25, learning_rate=3e-3, batch_size=32,
        optimizer="adamw", weight_decay=1e-4, schedule="one_cycle", shift=1)


def transfer_learning() -> Project:
    b = Builder()
    x = b.add("Input", "image", kind="image", shape=(3, 128, 128))
    out = b.chain(x, ("Backbone", "backbone", {"arch": "mobilenet_v3_small",
                                               "weights": "imagenet", "freeze": True}),
                  ("Linear", "head", {"out_features": 2}))
    b.add("Output", "label", out)
    return b.project(
        "Transfer learning: pretrained backbone + new head",
        "An ImageNet-trained MobileNetV3 (frozen) turns each image into 576 features; only the "
        "new linear head learns, so a few dozen images per class are enough. Choose a folder "
        "with one subfolder of images per class (e.g. captured from the webcam) and set the "
        "head's out_features to the number of classes. The weights download once when training "
        "starts; offline, set the backbone's weights to a local .pth file.",
        {"name": "image_folder", "options": {"path": "", "normalize": "imagenet"}},
        epochs=10, learning_rate=1e-3, batch_size=16, optimizer="adamw", flip=True)


def _wide_mbconv(b: Builder, channels: int, expanded: int) -> None:
    """Register MBConv variants for ``channels`` channels (``expanded`` inside) in ``b``'s
    blocks: the built-in MBConv and SqueezeExcitation are drawn for 16 and 32 channels."""
    from graph.blocks import BlockDefinition

    se = Builder()
    x = se.add("Input", "x", kind="image", shape=(expanded, 8, 8))
    gate = se.chain(x, ("AdaptiveAvgPool2d", "squeeze"),
                    ("Conv2d", "reduce", {"out_channels": expanded // 4, "kernel_size": (1, 1)}),
                    ("ReLU", "relu"),
                    ("Conv2d", "expand", {"out_channels": expanded, "kernel_size": (1, 1)}),
                    ("Hardsigmoid", "gate"))
    se.add("Output", "out", se.add("BroadcastMultiply", "scale", [x, gate]))
    auto_layout(se.graph)
    b.graph.blocks.add(BlockDefinition(
        "SqueezeExcitationWide", se.graph, f"Squeeze-excitation for {expanded} channels "
        f"(bottleneck {expanded // 4}): one gate per channel from the pooled image."))

    mb = Builder()
    mb.graph.blocks = b.graph.blocks
    x = mb.add("Input", "x", kind="image", shape=(channels, 8, 8))
    y = mb.chain(x, ("Conv2d", "expand", {"out_channels": expanded, "kernel_size": (1, 1),
                                          "bias": False}),
                 ("BatchNorm2d", "bn1"), ("Hardswish", "act1"),
                 ("DepthwiseConv2d", "depthwise", {"padding": (1, 1), "bias": False}),
                 ("BatchNorm2d", "bn2"), ("Hardswish", "act2"))
    y = mb.add("Block", "se", y, block="SqueezeExcitationWide")
    y = mb.chain(y, ("Conv2d", "project", {"out_channels": channels, "kernel_size": (1, 1),
                                           "bias": False}),
                 ("BatchNorm2d", "bn3"))
    mb.add("Output", "out", mb.add("Add", "add", [y, x]))
    auto_layout(mb.graph)
    b.graph.blocks.add(BlockDefinition(
        "MBConvWide", mb.graph, f"MBConv for {channels} channels: 1×1 expand to {expanded}, "
        f"3×3 depthwise, squeeze-excitation, 1×1 project, plus the skip connection."))


def mobilenet_digits() -> Project:
    from graph.block_library import built_in_blocks

    b = Builder()
    mbconv = next(d for d in built_in_blocks() if d.name == "MBConv")
    # the built-in MBConv holds its own SqueezeExcitation: the project registers that one
    b.graph.blocks.add(next(n.block for n in mbconv.graph.nodes if n.block is not None))
    b.graph.blocks.add(mbconv)
    _wide_mbconv(b, 32, 96)

    def down(source: Node, stage: str, channels: int) -> Node:
        """Halve H and W with a stride-2 depthwise convolution, then change the channels
        with a 1×1 convolution (no activation after it, like an MBConv's projection)."""
        return b.chain(
            source, ("DepthwiseConv2d", f"{stage}_dw", {"stride": (2, 2), "padding": (1, 1),
                                                        "bias": False}),
            ("BatchNorm2d", f"{stage}_dw_bn"), ("Hardswish", f"{stage}_dw_act"),
            ("Conv2d", f"{stage}_pw", {"out_channels": channels, "kernel_size": (1, 1),
                                       "bias": False}),
            ("BatchNorm2d", f"{stage}_pw_bn"))

    x = b.add("Input", "image", kind="image", shape=(1, 16, 16))
    y = b.chain(x, ("Conv2d", "stem", {"out_channels": 16, "kernel_size": (3, 3),
                                       "padding": (1, 1), "bias": False}),
                ("BatchNorm2d", "stem_bn"), ("Hardswish", "stem_act"))
    y = b.add("Block", "stage1", y, block="MBConv")
    y = down(y, "down1", 32)
    y = b.add("Block", "stage2", y, block="MBConvWide")
    y = b.add("Block", "stage3", y, block="MBConvWide")
    out = b.chain(y, ("Conv2d", "head", {"out_channels": 128, "kernel_size": (1, 1),
                                         "bias": False}),
                  ("BatchNorm2d", "head_bn"), ("Hardswish", "head_act"),
                  ("AdaptiveAvgPool2d", "gap"), ("Flatten", "flatten"),
                  ("Dropout", "drop", {"p": 0.2}), ("Linear", "fc", {"out_features": 10}))
    b.add("Output", "digit", out)
    return b.project(
        "Small MobileNet (depthwise-separable, squeeze-excitation, Hardswish)",
        "A MobileNetV3-style network on the handwritten digits: a convolution stem, then "
        "MBConv blocks (1×1 expand, 3×3 depthwise, squeeze-excitation, 1×1 project, skip "
        "connection) with a stride-2 depthwise convolution between the stages, global "
        "average pooling and a linear classifier.",
        {"name": "digits", "options": {}}, epochs=30, learning_rate=3e-3, batch_size=32,
        optimizer="adamw", weight_decay=1e-4, schedule="one_cycle", shift=1, rotate=8.0)


def vit_digits() -> Project:
    b = Builder()
    width = 64
    x = b.add("Input", "image", kind="image", shape=(1, 16, 16))
    y = b.chain(x, ("Conv2d", "patches", {"out_channels": width, "kernel_size": (4, 4),
                                          "stride": (4, 4)}),
                ("Flatten", "tokens", {"start_dim": 2}),
                ("Transpose", "to_sequence", {"dim0": 1, "dim1": 2}),
                ("ClassToken", "cls"), ("PositionEmbedding", "pos"))
    for i in (1, 2, 3):
        y = b.add("TransformerEncoderLayer", f"encoder{i}", y, nhead=4, dim_feedforward=128,
                  dropout=0.1, activation="gelu", norm_first=True)
    out = b.chain(y, ("Slice", "cls_out", {"dim": 1, "start": 0, "end": 1}),
                  ("Flatten", "flatten"), ("LayerNorm", "norm"),
                  ("Linear", "fc", {"out_features": 10}))
    b.add("Output", "digit", out)
    return b.project(
        "Small vision transformer (patches, class token, transformer blocks)",
        "A ViT on the handwritten digits: the 16x16 image is cut into 16 patches of 4x4 "
        "pixels, each embedded as a token; a learned class token and position embeddings are "
        "added, three transformer encoder blocks let every token attend to every other, and "
        "the class token is read out and classified.",
        {"name": "digits", "options": {}}, epochs=60, learning_rate=2e-3, batch_size=32,
        optimizer="adamw", weight_decay=5e-2, schedule="one_cycle", shift=1, rotate=8.0)


def digits_detector() -> Project:
    b = Builder()
    y = b.add("Input", "image", kind="image", shape=(1, 96, 96))

    def conv(source: Node, name: str, channels: int, stride: int = 1) -> Node:
        return b.chain(source, ("Conv2d", name, {"out_channels": channels, "kernel_size": (3, 3),
                                                 "stride": (stride, stride), "padding": (1, 1),
                                                 "bias": False}),
                       ("BatchNorm2d", f"{name}_bn"), ("ReLU", f"{name}_relu"))

    y = conv(y, "down1", 16, stride=2)            # 48x48
    for stage, channels in ((2, 32), (3, 96)):  # 24x24, then 12x12: stride 8
        y = conv(y, f"down{stage}", channels, stride=2)
        y = conv(y, f"conv{stage}", channels)
    head = b.add("CenterNetHead", "head", y, num_classes=10, hidden=0, stride=8)
    decode = b.add("DetectionDecode", "decode", k=20, threshold=0.3, stride=8)
    for port in ("heatmap", "size", "offset"):
        b.graph.connect(Edge(head.id, port, decode.id, port))
    b.add("Output", "boxes", decode)
    return b.project(
        "Digit detector (CenterNet)",
        "Finds the handwritten digits in a photo and boxes each one: five convolutions shrink "
        "the 96x96 image 8 times to a 12x12 grid of features, a CenterNet head predicts for "
        "each cell and digit how likely a digit's centre lies there, with its box size and "
        "exact position, and the decoder keeps the 20 strongest peaks as boxes "
        "[x1, y1, x2, y2, score, class]. Trains on the offline 'find the digits' dataset "
        "(scikit-learn's handwritten digits on crops of its sample photos); measured by "
        "COCO mAP. Training zooms and recolours each image (boxes kept true).",
        {"name": "digits-detection", "options": {}}, loss="centernet", epochs=12,
        learning_rate=4e-3, batch_size=32, optimizer="adamw", weight_decay=1e-4,
        schedule="one_cycle", shift=4)


def blank_network() -> Project:
    return Project(name="Untitled", description=(
        "An empty canvas. Drag layers from the Layers panel (or double-click the canvas and "
        "type a layer's name): start with an Input, end with an Output, and wire them up."))


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    build: Callable[[], Project]


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("hello-mlp", "Hello world MLP (784-128-10)", hello_mlp),
    Template("digits-cnn", "CNN for handwritten digits", digits_cnn),
    Template("lstm-forecast", "LSTM time-series forecaster", lstm_forecast),
    Template("char-gru", "Character-level text generator", char_gru),
    Template("residual-cnn", "Small residual CNN", residual_cnn),
    Template("transfer", "Transfer learning: pretrained backbone + new head", transfer_learning),
    Template("mobilenet-digits",
             "Small MobileNet (depthwise-separable, squeeze-excitation, Hardswish)",
             mobilenet_digits),
    Template("vit-digits", "Small vision transformer (patches, class token, transformer blocks)",
             vit_digits),
    Template("digits-detector", "Digit detector (CenterNet boxes on the 'find the digits' "
                                "photos)", digits_detector),
)}


# File > New offers a blank network first. It is not in TEMPLATES, the examples that train
# out of the box (the CLI, docs, benchmarks and tests go through every one of those).
BLANK = Template("blank", "Blank network", blank_network)
GALLERY: dict[str, Template] = {BLANK.key: BLANK, **TEMPLATES}


def build_template(key: str) -> Project:
    """A fresh project from a template (or the blank one); unknown keys raise KeyError
    listing the choices."""
    if key not in GALLERY:
        raise KeyError(f"unknown template {key!r}; choose one of {', '.join(TEMPLATES)} "
                       f"(or {BLANK.key} for an empty network)")
    return GALLERY[key].build()
