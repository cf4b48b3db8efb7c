"""Metrics of a model on a data split, and the simple baselines a model must beat."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from backend.data import DataBundle, Split

METRIC_NAMES = {"classification": "accuracy", "language_model": "accuracy",
                "regression": "mae"}


def loss_inputs(out: torch.Tensor, y: torch.Tensor,
                loss_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, targets) as the loss wants them: a class per time step (N, T, K) vs (N, T) is
    flattened to (N*T, K) vs (N*T,); class labels become one-hot for BCE."""
    if y.dtype == torch.long and out.dim() == y.dim() + 1 and out.dim() > 2:
        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    if loss_name == "bce_with_logits" and y.dtype == torch.long:
        y = nn.functional.one_hot(y, out.shape[-1]).to(out.dtype)
    return out, y


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, loss_fn: Callable, loss_name: str, task: str,
             device: torch.device, batch_size: int = 512) -> dict[str, float]:
    """Mean loss and the task's metric (accuracy, or mean absolute error) over a split."""
    was_training = model.training
    model.eval()
    total_loss, correct, abs_err, n, labels = 0.0, 0, 0.0, 0, 0
    for start in range(0, len(split), batch_size):
        x = split.x[start:start + batch_size].to(device, non_blocking=True)
        y = split.y[start:start + batch_size].to(device, non_blocking=True)
        out = model(x).float()
        total_loss += float(loss_fn(*loss_inputs(out, y, loss_name))) * len(x)
        if task == "regression":
            abs_err += float((out - y).abs().mean(dim=tuple(range(1, y.dim()))).sum())
        else:
            correct += int((out.argmax(dim=-1) == y).sum())
            labels += y.numel()
        n += len(x)
    model.train(was_training)
    n = max(n, 1)
    metric = abs_err / n if task == "regression" else correct / max(labels, 1)
    return {"loss": total_loss / n, METRIC_NAMES[task]: metric}


def last_value_baseline(bundle: DataBundle, split: Split | None = None) -> float:
    """MSE (normalised units) of forecasting "the same as the last value in the window"."""
    split = split or bundle.val
    index = bundle.normalization["target_index"]
    guess = split.x[:, -1, index]
    return float(((guess - split.y) ** 2).mean())


def unigram_baseline(bundle: DataBundle, split: Split | None = None) -> float:
    """Cross-entropy (nats/char) of predicting each next character from train frequencies."""
    split = split or bundle.val
    classes = bundle.num_classes or int(bundle.train.y.max()) + 1
    counts = torch.bincount(bundle.train.y.reshape(-1), minlength=classes).double() + 1.0  # add-one
    log_p = (counts / counts.sum()).log()
    return float(-log_p[split.y.reshape(-1)].mean())


def bits(nats: float) -> float:
    return nats / math.log(2)
