"""Hand-written PyTorch twins of the built-in templates (graph/templates.py).

Each twin is the network a person would write by hand, with attributes named like the
template's nodes, so ``twin.load_state_dict(compile_graph(template).state_dict())`` works and
the two can be compared output for output (tests/backend/compile/test_compile.py) and timed side by
side (bench/compile_overhead.py).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

TEXT_VOCAB_SIZE = 96  # graph.templates.TEXT_VOCAB_SIZE


class HelloMLP(nn.Module):
    """hello-mlp: 784 -> 128 -> ReLU -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu1(self.fc1(image)))


class DigitsCNN(nn.Module):
    """digits-cnn: three conv-BN-ReLU blocks with two max-pools, then a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.relu3 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64 * 4 * 4, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(image)))
        x = self.pool1(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool2(self.relu3(self.bn3(self.conv3(x))))
        return self.fc(self.drop(self.flatten(x)))


class LSTMForecast(nn.Module):
    """lstm-forecast: LSTM over a (52, 1) window, last step -> one value."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 64, batch_first=True)
        self.head = nn.Linear(64, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(window)
        return self.head(out[:, -1])


class CharGRU(nn.Module):
    """char-gru: embed 64 characters, GRU, next-character scores at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(TEXT_VOCAB_SIZE, 32)
        self.gru = nn.GRU(32, 128, batch_first=True)
        self.head = nn.Linear(128, TEXT_VOCAB_SIZE)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(text))
        return self.head(out)


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)


class ResidualCNN(nn.Module):
    """residual-cnn: stem, two residual blocks (a max-pool and a widening conv between them),
    global average pooling, linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv3x3(1, 32)
        self.stem_bn = nn.BatchNorm2d(32)
        self.stem_relu = nn.ReLU()
        self.block1_conv1 = conv3x3(32, 32)
        self.block1_bn1 = nn.BatchNorm2d(32)
        self.block1_relu = nn.ReLU()
        self.block1_conv2 = conv3x3(32, 32)
        self.block1_bn2 = nn.BatchNorm2d(32)
        self.block1_out = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.widen = conv3x3(32, 64)
        self.widen_bn = nn.BatchNorm2d(64)
        self.widen_relu = nn.ReLU()
        self.block2_conv1 = conv3x3(64, 64)
        self.block2_bn1 = nn.BatchNorm2d(64)
        self.block2_relu = nn.ReLU()
        self.block2_conv2 = conv3x3(64, 64)
        self.block2_bn2 = nn.BatchNorm2d(64)
        self.block2_out = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stem_relu(self.stem_bn(self.stem(image)))
        y = self.block1_relu(self.block1_bn1(self.block1_conv1(x)))
        y = self.block1_bn2(self.block1_conv2(y))
        x = self.pool1(self.block1_out(y + x))
        x = self.widen_relu(self.widen_bn(self.widen(x)))
        y = self.block2_relu(self.block2_bn1(self.block2_conv1(x)))
        y = self.block2_bn2(self.block2_conv2(y))
        x = self.block2_out(y + x)
        return self.fc(self.flatten(self.gap(x)))


class Transfer(nn.Module):
    """transfer: torchvision's MobileNetV3-Small without its classifier, frozen (eval mode
    even while training), and a new linear head."""

    def __init__(self) -> None:
        import torchvision

        super().__init__()
        self.backbone = torchvision.models.mobilenet_v3_small()
        self.backbone.classifier = nn.Identity()  # features after global average pooling
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(576, 2)

    def train(self, mode: bool = True) -> "Transfer":
        super().train(mode)
        self.backbone.eval()  # frozen: batch-norm statistics stay fixed
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(image))


class SqueezeExcitation(nn.Module):
    """The SqueezeExcitation block (graph/block_library.py): pool each channel to one value,
    a 1×1 bottleneck turns those into a gate per channel, the input is scaled by its gate."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.squeeze(x)))))


class MBConv(nn.Module):
    """The MBConv block (built-in MBConv: 16 channels, 32 inside; MBConvWide of
    mobilenet-digits: 32, 96 inside): 1×1 expand, 3×3 depthwise, squeeze-excitation, 1×1
    project, plus the skip connection."""

    def __init__(self, channels: int, expanded: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(channels, expanded, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(expanded)
        self.act1 = nn.Hardswish()
        self.depthwise = nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded,
                                   bias=False)
        self.bn2 = nn.BatchNorm2d(expanded)
        self.act2 = nn.Hardswish()
        self.se = SqueezeExcitation(expanded, expanded // 4)
        self.project = nn.Conv2d(expanded, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.expand(x)))
        y = self.se(self.act2(self.bn2(self.depthwise(y))))
        return self.bn3(self.project(y)) + x


class MobileNetDigits(nn.Module):
    """mobilenet-digits: conv stem, an MBConv at 16 channels, a stride-2 depthwise + 1×1
    convolution to 32 channels at 8×8, two MBConvs there, a 1×1 head convolution, global
    average pooling, linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stem_act = nn.Hardswish()
        self.stage1 = MBConv(16, 32)
        self.down1_dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False)
        self.down1_dw_bn = nn.BatchNorm2d(16)
        self.down1_dw_act = nn.Hardswish()
        self.down1_pw = nn.Conv2d(16, 32, 1, bias=False)
        self.down1_pw_bn = nn.BatchNorm2d(32)
        self.stage2 = MBConv(32, 96)
        self.stage3 = MBConv(32, 96)
        self.head = nn.Conv2d(32, 128, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(128)
        self.head_act = nn.Hardswish()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(128, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stage1(self.stem_act(self.stem_bn(self.stem(image))))
        x = self.down1_dw_act(self.down1_dw_bn(self.down1_dw(x)))
        x = self.stage3(self.stage2(self.down1_pw_bn(self.down1_pw(x))))
        x = self.gap(self.head_act(self.head_bn(self.head(x))))
        return self.fc(self.drop(self.flatten(x)))


class ClassToken(nn.Module):
    """A learned token (starting at zeros) put in front of the sequence: (N, T, E) ->
    (N, T + 1, E)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """A learned vector per position added to the sequence (N, T, E)."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, length, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class ViTDigits(nn.Module):
    """vit-digits: 4×4 patches embedded to 64 features (16 tokens), a class token and
    learned positions, three pre-norm GELU transformer encoder layers, the class token
    read out, LayerNorm, linear classifier."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.patches = nn.Conv2d(1, width, 4, stride=4)
        self.tokens = nn.Flatten(2)
        self.cls = ClassToken(width)
        self.pos = PositionEmbedding(17, width)
        for i in (1, 2, 3):
            self.add_module(f"encoder{i}", nn.TransformerEncoderLayer(
                width, 4, dim_feedforward=128, dropout=0.1, activation="gelu",
                norm_first=True, batch_first=True))
        self.flatten = nn.Flatten()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.tokens(self.patches(image)).transpose(1, 2)  # (N, 16, 64)
        x = self.pos(self.cls(x))
        x = self.encoder3(self.encoder2(self.encoder1(x)))
        return self.fc(self.norm(self.flatten(x[:, 0:1])))


class DigitsDetector(nn.Module):
    """digits-detector: conv-BN-ReLU layers (3x3; stride 2 for the "down" ones) to a 12x12
    grid, a CenterNet head (a 1x1 conv per output: class heatmaps, box sizes, centre offsets)
    and the decoder's fixed-size rows. The head and decoder are LayerForge's own modules
    (what a person would import for CenterNet), so the trainer's hooks find them."""

    LAYERS = (("down1", 1, 16, 2), ("down2", 16, 32, 2), ("conv2", 32, 32, 1),
              ("down3", 32, 96, 2), ("conv3", 96, 96, 1))

    def __init__(self) -> None:
        from backend.compile.ops.detection import CenterNetHead, DetectionDecode

        super().__init__()
        for name, c_in, c_out, stride in self.LAYERS:
            self.add_module(name, nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False))
            self.add_module(f"{name}_bn", nn.BatchNorm2d(c_out))
        self.head = CenterNetHead(96, 10, 0, 8)
        self.decode = DetectionDecode(20, 0.3, False, 0.5, 8)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for name, *_ in self.LAYERS:
            x = F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))
        return self.decode(*self.head(x))


TWINS: dict[str, Callable[[], nn.Module]] = {
    "hello-mlp": HelloMLP,
    "digits-cnn": DigitsCNN,
    "lstm-forecast": LSTMForecast,
    "char-gru": CharGRU,
    "residual-cnn": ResidualCNN,
    "transfer": Transfer,
    "mobilenet-digits": MobileNetDigits,
    "vit-digits": ViTDigits,
    "digits-detector": DigitsDetector,
}

# What one sample is, per template: (shape without batch, dtype, token id bound).
_INPUTS: dict[str, tuple[tuple[int, ...], torch.dtype, int]] = {
    "hello-mlp": ((784,), torch.float32, 0),
    "digits-cnn": ((1, 16, 16), torch.float32, 0),
    "lstm-forecast": ((52, 1), torch.float32, 0),
    "char-gru": ((64,), torch.int64, TEXT_VOCAB_SIZE),
    "residual-cnn": ((1, 16, 16), torch.float32, 0),
    "transfer": ((3, 128, 128), torch.float32, 0),
    "mobilenet-digits": ((1, 16, 16), torch.float32, 0),
    "vit-digits": ((1, 16, 16), torch.float32, 0),
    "digits-detector": ((1, 96, 96), torch.float32, 0),
}
# Regression templates (values per sample); the rest are classifiers: (classes, time steps
# labelled per sample, 0 for one label per sample).
_REGRESSION = {"lstm-forecast": 1}
_DETECTORS = {"digits-detector"}  # boxes per image (the detection task)
_CLASSES = {"hello-mlp": (10, 0), "digits-cnn": (10, 0), "char-gru": (TEXT_VOCAB_SIZE, 64),
            "residual-cnn": (10, 0), "transfer": (2, 0), "mobilenet-digits": (10, 0),
            "vit-digits": (10, 0)}


def example_input(key: str, batch: int, seed: int = 0) -> torch.Tensor:
    """A random batch shaped like the template's Input (token ids for char-gru)."""
    shape, dtype, high = _INPUTS[key]
    gen = torch.Generator().manual_seed(seed)
    if dtype == torch.int64:
        return torch.randint(0, high, (batch, *shape), generator=gen)
    return torch.randn(batch, *shape, generator=gen)


def example_target(key: str, batch: int, seed: int = 1) -> torch.Tensor:
    """A random target for the template's task: class indices (one per sample, or one per
    time step for char-gru), values for regression, or for the detector 1-3 boxes per image
    as the data room pads them (N, 3, 5: x1, y1, x2, y2, label; label -1 unused)."""
    gen = torch.Generator().manual_seed(seed)
    if key in _DETECTORS:
        rows = torch.zeros(batch, 3, 5)
        rows[..., 4] = -1
        for i in range(batch):
            for j in range(int(torch.randint(1, 4, (1,), generator=gen))):
                x, y = (float(v) for v in torch.randint(0, 64, (2,), generator=gen))
                w, h = (float(v) for v in torch.randint(8, 32, (2,), generator=gen))
                label = float(torch.randint(0, 10, (1,), generator=gen))
                rows[i, j] = torch.tensor([x, y, x + w, y + h, label])
        return rows
    if key in _REGRESSION:
        return torch.randn(batch, _REGRESSION[key], generator=gen)
    classes, steps = _CLASSES[key]
    return torch.randint(0, classes, (batch, steps) if steps else (batch,), generator=gen)


def forward(key: str, model: nn.Module, x: torch.Tensor):
    """What the template's loss reads from a batch: the output, or for the detector the
    output with its head's maps (as the trainer runs it)."""
    if key in _DETECTORS:
        from backend.tasks.detection import run_detector
        return run_detector(model, x)
    return model(x)


def loss_fn(key: str, output, target: torch.Tensor) -> torch.Tensor:
    """The template's training loss: MSE for the forecaster, CenterNet's (focal, L1, GIoU)
    for the detector (``output`` from :func:`forward`), cross-entropy otherwise (a class per
    time step is flattened to (N*T, K) vs (N*T,), as the trainer does)."""
    if key in _DETECTORS:
        from backend.tasks.detection import CenterNetLoss
        return CenterNetLoss()(output, target)
    if key in _REGRESSION:
        return F.mse_loss(output, target)
    if output.dim() == target.dim() + 1 and output.dim() > 2:
        output, target = output.reshape(-1, output.shape[-1]), target.reshape(-1)
    return F.cross_entropy(output, target)
