"""Metrics of a model on a data split, and the simple baselines a model must beat."""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from backend.data import DataBundle, Split
from backend.generate import sample_text
from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

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


# ---- reports for the evaluation views ---------------------------------------------------------
# Everything below returns plain tensors/arrays/dataclasses: the GUI draws them, the CLI or a
# notebook can print them, and none of it needs Qt.

MACRO_NAME = "macro average"


@torch.no_grad()
def predict(model: nn.Module, split: Split, device: torch.device | str = "cpu",
            batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's raw outputs for every sample of ``split`` and the split's targets, on the CPU.

    Runs in eval mode without gradients and puts the model back in the mode it was in.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(split), batch_size):
            x = split.x[start:start + batch_size].to(device, non_blocking=True)
            outputs.append(model(x).float().cpu())
    finally:
        model.train(was_training)
    if not outputs:
        return torch.empty(0), split.y
    return torch.cat(outputs), split.y


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor,
                     num_classes: int) -> torch.Tensor:
    """Counts of (true class, predicted class) pairs: ``cm[t, p]``, int64, num_classes square.

    Per-time-step labels (N, T) count every step.
    """
    preds = preds.reshape(-1).long().cpu()
    targets = targets.reshape(-1).long().cpu()
    if preds.shape != targets.shape:
        raise ValueError(f"{preds.numel()} predictions for {targets.numel()} targets")
    k = int(num_classes)
    if preds.numel() and (int(preds.min()) < 0 or int(targets.min()) < 0
                          or int(preds.max()) >= k or int(targets.max()) >= k):
        raise ValueError(f"class ids must lie in 0..{k - 1}")
    return torch.bincount(targets * k + preds, minlength=k * k).reshape(k, k)


def per_class_report(cm: torch.Tensor, class_names: list[str] | None = None) -> list[dict]:
    """Precision, recall, F1 and support of every class, then a final macro-average row.

    Each row is ``{"name", "index", "precision", "recall", "f1", "support"}``; a ratio whose
    denominator is 0 (never predicted, never present) is 0, never NaN. The macro row
    (``index`` None, ``name`` :data:`MACRO_NAME`) averages the classes that occur as a target or
    a prediction (as scikit-learn does by default) and its support is the total count.
    """
    cm = cm.to(torch.float64)
    k = cm.shape[0]
    names = list(class_names or [])
    names += [f"class {i}" for i in range(len(names), k)]
    tp = cm.diagonal()
    predicted, support = cm.sum(dim=0), cm.sum(dim=1)
    rows = []
    for i in range(k):
        p = float(tp[i] / predicted[i]) if predicted[i] > 0 else 0.0
        r = float(tp[i] / support[i]) if support[i] > 0 else 0.0
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        rows.append({"name": str(names[i]), "index": i, "precision": p, "recall": r, "f1": f1,
                     "support": int(support[i])})
    present = [row for row, pred in zip(rows, predicted.tolist()) if row["support"] or pred]
    macro = {"name": MACRO_NAME, "index": None, "support": int(support.sum())}
    for key in ("precision", "recall", "f1"):
        macro[key] = sum(r[key] for r in present) / len(present) if present else 0.0
    return rows + [macro]


def misclassified(preds: torch.Tensor, targets: torch.Tensor,
                  limit: int | None = None) -> torch.Tensor:
    """Indices (int64, ascending) of the samples predicted wrongly, at most ``limit`` of them.

    A sample with a label per time step counts as wrong when any step is.
    """
    wrong = preds.long().cpu() != targets.long().cpu()
    if wrong.dim() > 1:
        wrong = wrong.reshape(wrong.shape[0], -1).any(dim=1)
    idx = wrong.nonzero().reshape(-1)
    return idx if limit is None else idx[:max(int(limit), 0)]


@dataclass
class ClassificationReport:
    """How a classifier does on one split (the test split by default)."""

    confusion: torch.Tensor          # (K, K) int64, true x predicted
    per_class: list[dict]            # per_class_report(): K class rows, then the macro row
    accuracy: float
    misclassified_indices: torch.Tensor  # int64, ascending, into the split
    predicted: torch.Tensor          # predicted class of every sample (same shape as targets)
    class_names: list[str] = field(default_factory=list)
    targets: torch.Tensor | None = None
    split: str = "test"

    @property
    def classes(self) -> list[dict]:
        """The per-class rows without the macro average."""
        return [row for row in self.per_class if row["index"] is not None]

    @property
    def macro(self) -> dict:
        return self.per_class[-1]

    @property
    def correct(self) -> int:
        return int(self.confusion.diagonal().sum())

    @property
    def total(self) -> int:
        return int(self.confusion.sum())


def report_from_predictions(preds: torch.Tensor, targets: torch.Tensor,
                            class_names: list[str] | None = None, num_classes: int | None = None,
                            split: str = "test") -> ClassificationReport:
    """A :class:`ClassificationReport` from predicted and true class ids."""
    preds, targets = preds.long().cpu(), targets.long().cpu()
    k = max(num_classes or 0, len(class_names or []),
            int(preds.max()) + 1 if preds.numel() else 0,
            int(targets.max()) + 1 if targets.numel() else 0)
    names = list(class_names or [])
    names += [f"class {i}" for i in range(len(names), k)]  # a model with spare outputs
    cm = confusion_matrix(preds, targets, k)
    total = int(cm.sum())
    return ClassificationReport(
        confusion=cm, per_class=per_class_report(cm, names),
        accuracy=int(cm.diagonal().sum()) / total if total else 0.0,
        misclassified_indices=misclassified(preds, targets), predicted=preds,
        class_names=names, targets=targets, split=split)


def classification_report(model: nn.Module, bundle: DataBundle,
                          device: torch.device | str = "cpu",
                          split: str = "test") -> ClassificationReport:
    """Confusion matrix, per-class precision/recall/F1, accuracy and the misclassified samples
    of ``model`` on the bundle's test split (its accuracy equals :func:`evaluate`'s)."""
    outputs, targets = predict(model, getattr(bundle, split), device)
    preds = outputs.argmax(dim=-1) if outputs.numel() else targets.new_empty(targets.shape)
    return report_from_predictions(preds, targets, bundle.class_names, bundle.num_classes, split)


# ---- forecasting ------------------------------------------------------------------------------

@dataclass
class ForecastReport:
    """Actual vs forecast values of the first target column over one split, in the data's own
    units (the normalisation undone), with the "repeat the last value" baseline."""

    column: str
    split: str
    horizon: int
    steps: np.ndarray      # row number (0-based, in the whole series) of each forecast value
    actual: np.ndarray
    predicted: np.ndarray
    baseline: np.ndarray   # the last value of each input window
    mse: float             # model, original units squared
    baseline_mse: float
    # "exact"; "estimated" (a relative-mode split whose level had to be inferred: off by a
    # constant of about one step; the errors and MSEs are exact); "change" (no level known:
    # values are changes from the window's last value)
    levels: str = "exact"


_LEVEL_CACHE: dict[tuple, np.ndarray] = {}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _relative_rows(split: Split, j: int, k: int, horizon: int) -> np.ndarray | None:
    """Every row of a split's part of the series, in std units, relative to the first window's
    last row, rebuilt from overlapping relative windows (None when the windows cannot tell)."""
    x = split.x[:, :, j].double().numpy()
    y = split.y.reshape(len(split), -1)[:, k].double().numpy()
    n, t = x.shape
    if n < horizon or n == 0:
        return None
    if t >= 2:  # consecutive last rows differ by the next window's second-to-last value
        chain = np.concatenate([[0.0], -np.cumsum(x[1:, t - 2])])
    elif horizon == 1:
        chain = np.concatenate([[0.0], np.cumsum(y[:-1])])
    else:
        return None
    tail = chain[n - horizon:] + y[n - horizon:]  # the last `horizon` rows appear only as targets
    return np.concatenate([x[0, :t - 1], chain, tail])


def _reloaded_last_values(bundle: DataBundle, split: str, j: int,
                          dataset: dict[str, Any]) -> np.ndarray | None:
    """Exact window levels of a relative-mode CSV split, by loading the same file absolute."""
    from backend.data.timeseries import load_csv_series

    options = dict(dataset.get("options") or {})
    path = options.get("path")
    try:
        stamp = os.stat(os.path.expanduser(path)).st_mtime_ns if path else None
    except OSError:
        stamp = None
    key = (json.dumps(dataset, sort_keys=True, default=str), stamp, bundle.sample_shape, split, j)
    if key in _LEVEL_CACHE:
        return _LEVEL_CACHE[key]
    options["relative"] = False
    try:
        absolute = load_csv_series(options, "sequence", tuple(bundle.sample_shape), 0,
                                   str(dataset.get("name", "csv_series")))
    except LayerForgeError as exc:
        log.warning("forecast report: cannot reload %s for the series levels: %s",
                    dataset.get("name"), exc)
        return None
    norm, same = absolute.normalization, getattr(absolute, split)
    if (len(same) != len(getattr(bundle, split))
            or not np.allclose(norm["mean"], bundle.normalization["mean"])
            or not np.allclose(norm["std"], bundle.normalization["std"])):
        log.warning("forecast report: %s changed since training; series levels estimated",
                    dataset.get("name"))
        return None
    values = same.x[:, -1, j].double().numpy() * norm["std"][j] + norm["mean"][j]
    if len(_LEVEL_CACHE) >= 8:
        _LEVEL_CACHE.pop(next(iter(_LEVEL_CACHE)))
    _LEVEL_CACHE[key] = values
    return values


def _estimated_last_values(bundle: DataBundle, split: str, j: int, k: int,
                           horizon: int) -> np.ndarray | None:
    """Window levels of a relative-mode split without the file: the train part is pinned by its
    mean (exact); a later part is assumed to start where the previous one ended."""
    mean, std = bundle.normalization["mean"][j], bundle.normalization["std"][j]
    order = ("train", "val", "test")
    previous_end = None
    for name in order[:order.index(split) + 1]:
        rows = _relative_rows(getattr(bundle, name), j, k, horizon)
        if rows is None:
            return None
        raw = rows * std
        raw += (mean - raw.mean()) if previous_end is None else (previous_end - raw[0])
        previous_end = raw[-1]
        if name == split:
            t = bundle.sample_shape[0]
            return raw[t - 1:t - 1 + len(getattr(bundle, name))]
    return None


def forecast_report(model: nn.Module, bundle: DataBundle, split: str = "val",
                    dataset: dict[str, Any] | None = None, device: torch.device | str = "cpu",
                    ) -> ForecastReport:
    """Actual and forecast values of the first target column over ``split``, in the CSV's units.

    Undoes the normalisation (``raw = value * std + mean``); in ``relative`` mode a value is a
    change from the window's last row, so that row's level is added back. The relative splits
    hold no levels themselves: pass the project's ``dataset`` spec to read them from the file
    (exact; cached), otherwise they are rebuilt from the windows (train exact, val/test
    estimated to about one step; the MSEs are exact either way).
    """
    norm = bundle.normalization
    part = getattr(bundle, split)
    j = int(_as_list(norm.get("target_index", 0))[0])
    k = 0
    means, stds = norm.get("mean"), norm.get("std")
    mean = float(means[j]) if means else 0.0
    std = float(stds[j]) if stds else 1.0
    horizon = int(norm.get("horizon", 1))
    window = int(bundle.sample_shape[0]) if bundle.sample_shape else 1
    relative = bool(norm.get("relative")) and j in _as_list(norm.get("relative_index", []))

    outputs, targets = predict(model, part, device)
    p = outputs.reshape(len(part), -1)[:, k].double().numpy()
    y = targets.reshape(len(part), -1)[:, k].double().numpy()
    levels = "exact"
    if relative:
        last = None
        if dataset and dataset.get("name") == "csv_series":
            last = _reloaded_last_values(bundle, split, j, dataset)
        if last is None:  # the train part is pinned by its mean: exact there
            levels = "exact" if split == "train" else "estimated"
            last = _estimated_last_values(bundle, split, j, k, horizon)
        if last is None:
            levels, last = "change", np.zeros(len(part))
        actual, predicted = last + y * std, last + p * std
    else:
        last = part.x[:, -1, j].double().numpy() * std + mean
        actual, predicted = y * std + mean, p * std + mean

    # a split's rows start after the parts before it; each part has len + T + h - 1 rows
    order = ("train", "val", "test")
    start = sum(len(getattr(bundle, s)) + window + horizon - 1
                for s in order[:order.index(split)]) if split in order else 0
    steps = start + window - 1 + horizon + np.arange(len(part))
    columns = norm.get("target_columns") or norm.get("columns") or ["value"]
    n = max(len(part), 1)
    return ForecastReport(
        column=str(columns[0]), split=split, horizon=horizon, steps=steps,
        actual=actual, predicted=predicted, baseline=last,
        mse=float(((predicted - actual) ** 2).sum() / n),
        baseline_mse=float(((last - actual) ** 2).sum() / n), levels=levels)


# ---- text -------------------------------------------------------------------------------------

def text_samples(model: nn.Module, bundle: DataBundle, temperature: float, n: int = 3,
                 length: int = 200, seed: int = 0, prompt: str = "") -> list[str]:
    """``n`` pieces of generated text (sample i seeded ``seed + i``: the same every call)."""
    vocab = bundle.normalization.get("vocab") or "".join(bundle.class_names or [])
    window = int(bundle.sample_shape[0])
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    return [sample_text(model, vocab, window, prompt, length, temperature, seed + i, device)
            for i in range(n)]
