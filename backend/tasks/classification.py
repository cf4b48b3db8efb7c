"""Classification: one class label per sample (digits, CIFAR-10, an image folder, CSV classes).

Declares the class-label task family (``ClassLabels``: the losses, accuracy, the Output check),
the classifier task itself, and its end-of-run report: a confusion matrix, per-class
precision / recall / F1 and the misclassified samples.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from backend.data import DataBundle
from backend.errors import TrainingError
from backend.tasks.base import Baseline, FitContext, Metric, Task, model_device, predict

log = logging.getLogger(__name__)

ACCURACY = Metric("accuracy", "accuracy", higher_is_better=True, percent=True)


class ClassLabels(Task):
    """Tasks whose targets are class ids (one per sample, or one per time step)."""

    losses = ("cross_entropy", "nll", "bce_with_logits")
    default_loss = "cross_entropy"
    metric = ACCURACY
    # whether the Output may give more scores than the data has classes (a language model's
    # vocabulary covers characters one text never uses); a classifier needs one per class
    spare_classes = False

    def batch_metric(self, out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        return float((out.argmax(-1) == y).sum()), y.numel()

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        return int((out.argmax(dim=-1) == y).sum()), y.numel()

    def shape_hint(self, fit: FitContext) -> str:
        """Extra words for an Output of the wrong shape (none by default)."""
        return ""

    def check_fit(self, fit: FitContext) -> None:
        bundle, out_type = fit.bundle, fit.out_type
        self.check_loss(fit, f"compares numbers but dataset {fit.dataset} has class labels: "
                             f"choose {self.default_loss}")
        classes = bundle.num_classes or 0
        steps = bundle.target_shape  # () one label per sample; (T,) one label per time step
        wanted = "(N, " + "".join(f"{d}, " for d in steps) + f"{classes})"
        shape_fits = len(out_type.dims) == len(steps) + 1 and out_type.dims[:-1] == steps
        # a 128-wide Output for 10 classes trains without an error in torch (ids < 128 are
        # valid) but is never what was meant
        last = out_type.dims[-1] if out_type.dims else 0
        count_fits = not classes or last == classes or (self.spare_classes and last > classes)
        if not (shape_fits and count_fits):
            raise TrainingError(
                f"dataset {fit.dataset} has {classes} classes but {fit.feeder.label()} gives "
                f"{out_type}: the last layer must output {wanted} scores{self.shape_hint(fit)}",
                fit.feeder.name)
        self.check_inputs(fit)
        if fit.loss == "cross_entropy" and fit.feeder.type == "Softmax":
            log.warning("%s feeds the Output but cross-entropy already applies softmax",
                        fit.feeder.label())

    def check_inputs(self, fit: FitContext) -> None:
        """Checks of the network's input side against the data (none by default)."""


class Classification(ClassLabels):
    name = "classification"
    title = "classification"
    live_test = True
    counts_classes = True
    prediction = "top_k"

    def baselines(self, bundle: DataBundle) -> list[Baseline]:
        classes = bundle.num_classes or len(bundle.class_names or [])
        if not classes:
            return []
        chance = 1.0 / classes
        return [Baseline("chance_accuracy", chance,
                         f"chance {chance * 100:.0f}% (one of {classes} classes at random)")]

    def describe_data(self, bundle: DataBundle) -> list[tuple[str, str]]:
        return [("Classes", f"{bundle.num_classes}")]

    def final_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> "ClassificationReport":
        return classification_report(model, bundle, model_device(model))

    @staticmethod
    def top_k(probs: np.ndarray, names: list[str], k: int) -> tuple[list[tuple[str, float]], int]:
        """The k most likely classes [(name, probability)], best first, and the best index."""
        order = np.argsort(-probs, kind="stable")[:min(k, probs.size)]
        return ([(names[i] if i < len(names) else str(i), float(probs[i])) for i in order],
                int(order[0]))


# ---- the end-of-run report ----------------------------------------------------------------
# Plain tensors/dataclasses: the GUI draws them, the CLI or a notebook can print them.

MACRO_NAME = "macro average"




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
