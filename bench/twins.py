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


TWINS: dict[str, Callable[[], nn.Module]] = {
    "hello-mlp": HelloMLP,
    "digits-cnn": DigitsCNN,
    "lstm-forecast": LSTMForecast,
    "char-gru": CharGRU,
    "residual-cnn": ResidualCNN,
    "transfer": Transfer,
}

# What one sample is, per template: (shape without batch, dtype, token id bound).
_INPUTS: dict[str, tuple[tuple[int, ...], torch.dtype, int]] = {
    "hello-mlp": ((784,), torch.float32, 0),
    "digits-cnn": ((1, 16, 16), torch.float32, 0),
    "lstm-forecast": ((52, 1), torch.float32, 0),
    "char-gru": ((64,), torch.int64, TEXT_VOCAB_SIZE),
    "residual-cnn": ((1, 16, 16), torch.float32, 0),
    "transfer": ((3, 128, 128), torch.float32, 0),
}
# Regression templates (values per sample); the rest are classifiers: (classes, time steps
# labelled per sample, 0 for one label per sample).
_REGRESSION = {"lstm-forecast": 1}
_CLASSES = {"hello-mlp": (10, 0), "digits-cnn": (10, 0), "char-gru": (TEXT_VOCAB_SIZE, 64),
            "residual-cnn": (10, 0), "transfer": (2, 0)}


def example_input(key: str, batch: int, seed: int = 0) -> torch.Tensor:
    """A random batch shaped like the template's Input (token ids for char-gru)."""
    shape, dtype, high = _INPUTS[key]
    gen = torch.Generator().manual_seed(seed)
    if dtype == torch.int64:
        return torch.randint(0, high, (batch, *shape), generator=gen)
    return torch.randn(batch, *shape, generator=gen)


def example_target(key: str, batch: int, seed: int = 1) -> torch.Tensor:
    """A random target for the template's task: class indices (one per sample, or one per
    time step for char-gru), or values for regression."""
    gen = torch.Generator().manual_seed(seed)
    if key in _REGRESSION:
        return torch.randn(batch, _REGRESSION[key], generator=gen)
    classes, steps = _CLASSES[key]
    return torch.randint(0, classes, (batch, steps) if steps else (batch,), generator=gen)


def loss_fn(key: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The template's training loss: MSE for the forecaster, cross-entropy otherwise (a class
    per time step is flattened to (N*T, K) vs (N*T,), as the trainer does)."""
    if key in _REGRESSION:
        return F.mse_loss(output, target)
    if output.dim() == target.dim() + 1 and output.dim() > 2:
        output, target = output.reshape(-1, output.shape[-1]), target.reshape(-1)
    return F.cross_entropy(output, target)
