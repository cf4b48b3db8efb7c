"""What a task is: the declaration every task module fills in, and the evaluation loop they share.

A task (classification, forecasting, language modelling, ...) is declared once, as a layer type
is in ``graph/layers``: its losses, its metric, its baselines, the checks between a dataset and
the network's Output, the reports of a run, how one prediction reads, and what an export
records. The trainer, evaluation, export, inference, the CLI and the GUI ask the task; none of
them compares task names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from backend.data import DataBundle, Split
from backend.errors import TrainingError
from graph.model import Node
from graph.project import Project
from graph.shapes import TensorType


@dataclass(frozen=True)
class Metric:
    """A task's headline metric: how it is named, read and compared."""

    name: str                 # the key in metrics records ("accuracy", "mae")
    title: str                # for people ("accuracy", "mean absolute error")
    higher_is_better: bool
    percent: bool = False     # shown as a percentage (a fraction in the records)

    def format(self, value: float) -> str:
        """The value as the CLI, the Runs table and the export report print it."""
        return f"{value * 100:.2f}%" if self.percent else f"{value:.4f}"


@dataclass(frozen=True)
class Baseline:
    """What a model must beat, computed from the data alone (in the loss' units)."""

    name: str          # key for records ("last_value_baseline_mse")
    value: float
    text: str          # one line for people


@dataclass(frozen=True)
class FitContext:
    """What a task's fit check looks at: the dataset, the loss, and the Output's input."""

    project: Project
    bundle: DataBundle
    loss: str
    out_type: TensorType   # what reaches the Output node
    feeder: Node           # the layer that feeds the Output

    @property
    def dataset(self) -> str:
        return f"'{self.bundle.name}'"


# Early stopping and sweeps rank runs by validation loss: every task's loss is "lower is
# better", while metrics point both ways.
RANK_BY = "val_loss"


class Task:
    """The declaration of one task. Subclasses set the class attributes and override the
    methods whose default does not fit; one instance of each lives in the registry."""

    name: str = ""
    title: str = ""
    losses: tuple[str, ...] = ()
    default_loss: str = ""
    metric: Metric
    figures: tuple[Metric, ...] = ()  # what evaluate() reports besides the loss and metric
    rank_by: str = RANK_BY
    live_test: bool = False         # can be tested live on camera frames (the Test tab)
    generates_text: bool = False    # ``layerforge sample`` and the temperature slider
    counts_classes: bool = False    # the Data tab shows class counts per split
    prediction: str = ""            # how one output reads in predict.py: top_k, value, next_token,
    #                                 boxes
    pixel_augment: bool = True      # the trainer's flips/shifts/rotations keep targets true

    # -- training: what the trainer asks for each batch --
    def criterion(self, loss_name: str) -> Callable | None:
        """The loss function, when the task has its own (None: torch's, by the loss' name)."""
        return None

    def forward(self, model: nn.Module, x: torch.Tensor) -> Any:
        """The model's output on a batch, as this task's loss and metrics read it."""
        return model(x)

    def loss(self, loss_fn: Callable, out: Any, y: torch.Tensor,
             loss_name: str) -> torch.Tensor:
        """The loss of one batch."""
        return loss_fn(*loss_inputs(out.float(), y, loss_name))

    def batch_augmenter(self, bundle: DataBundle, settings: dict[str, Any]
                        ) -> Callable[[torch.Tensor, torch.Tensor], tuple] | None:
        """An augmentation of whole training batches (x, y) -> (x, y) that keeps the targets
        true, for tasks whose targets move with the pixels (None: none)."""
        return None

    def rank_key(self, figures: dict[str, float]) -> float:
        """Where an epoch's validation figures ({"loss": ..., metric: ...}) rank: lower is
        better. By the loss, or by ``rank_by`` when a task ranks by its metric."""
        if self.rank_by == RANK_BY:
            return figures["loss"]
        value = figures[self.rank_by]
        return -value if self.metric.higher_is_better else value

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Split, loss_fn: Callable, loss_name: str,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        """Mean loss and the metric over a split (``metric_sums`` per batch)."""
        was_training = model.training
        model.eval()
        total_loss, metric_sum, metric_count, n = 0.0, 0.0, 0, 0
        for start in range(0, len(split), batch_size):
            x = split.x[start:start + batch_size].to(device, non_blocking=True)
            y = split.y[start:start + batch_size].to(device, non_blocking=True)
            out = self.forward(model, x).float()
            total_loss += float(self.loss(loss_fn, out, y, loss_name)) * len(x)
            s, c = self.metric_sums(out, y)
            metric_sum += s
            metric_count += c
            n += len(x)
        model.train(was_training)
        return {"loss": total_loss / max(n, 1),
                self.metric.name: metric_sum / max(metric_count, 1)}

    # -- metrics --
    def batch_metric(self, out: torch.Tensor, y: torch.Tensor) -> tuple[float, int] | None:
        """(sum, count) of the metric over one training batch, or None when the training
        curve does not show it (it would cost the trainer time for a number nobody reads)."""
        return None

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """(sum, count) of the metric over one evaluation batch; metric = sum / count."""
        raise NotImplementedError

    # -- data vs network --
    def check_fit(self, fit: FitContext) -> None:
        """Raise TrainingError (naming the layer and the fix) when the dataset's targets do
        not fit the network's Output or the loss."""

    def check_loss(self, fit: FitContext, needs: str) -> None:
        if fit.loss not in self.losses:
            raise TrainingError(f"loss '{fit.loss}' {needs}")

    def baselines(self, bundle: DataBundle) -> list[Baseline]:
        """What a model of this dataset must beat (on the validation split)."""
        return []

    def describe_data(self, bundle: DataBundle) -> list[tuple[str, str]]:
        """(label, text) rows the Data tab shows about this dataset's targets."""
        return []

    # -- reports --
    def epoch_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> Any:
        """What the Evaluation tab shows while training (after each epoch), or None."""
        return None

    def final_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> Any:
        """The test-set report at the end of a run (best weights), or None."""
        return None

    def run_summary(self, model: nn.Module, bundle: DataBundle,
                    best_val_loss: float) -> tuple[dict[str, float], list[str]]:
        """The end of a CLI run: figures for the metrics log and lines to print."""
        return {}, []

    # -- export --
    def export_metadata(self) -> dict[str, Any]:
        """What an export records besides the model (predict.py reads ``prediction``)."""
        return {"prediction": self.prediction, "metric": self.metric.name}


# ---- the evaluation loop every task shares ------------------------------------------------

def loss_inputs(out: torch.Tensor, y: torch.Tensor,
                loss_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, targets) as the loss wants them: a class per time step (N, T, K) vs (N, T) is
    flattened to (N*T, K) vs (N*T,); class labels become one-hot for BCE."""
    if y.dtype == torch.long and out.dim() == y.dim() + 1 and out.dim() > 2:
        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    if loss_name == "bce_with_logits" and y.dtype == torch.long:
        y = nn.functional.one_hot(y, out.shape[-1]).to(out.dtype)
    return out, y


def evaluate(model: nn.Module, split: Split, loss_fn: Callable, loss_name: str, task: Task,
             device: torch.device, batch_size: int = 512) -> dict[str, float]:
    """Mean loss and the task's figures over a split (its metric at least)."""
    return task.evaluate(model, split, loss_fn, loss_name, device, batch_size)


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


def model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def bits(nats: float) -> float:
    return nats / math.log(2)
