"""Regression / forecasting: numbers to predict (the next rows of a CSV series).

Declares the task (mse or l1 loss, mean absolute error, the "repeat the last value" baseline)
and its report: forecast vs actual in the data's own units.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from backend.data import DataBundle, Split
from backend.errors import TrainingError
from backend.tasks.base import Baseline, FitContext, Metric, Task, model_device, predict
from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

MAE = Metric("mae", "mean absolute error", higher_is_better=False)


class Regression(Task):
    name = "regression"
    title = "forecasting"
    losses = ("mse", "l1")
    default_loss = "mse"
    metric = MAE
    prediction = "value"

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        return float((out - y).abs().sum()), y.numel()

    def check_fit(self, fit: FitContext) -> None:
        bundle = fit.bundle
        self.check_loss(fit, f"needs class labels but dataset {fit.dataset} gives numbers to "
                             f"forecast: choose the {' or '.join(self.losses)} loss")
        if fit.out_type.dims != bundle.target_shape:
            raise TrainingError(
                f"dataset {fit.dataset} has targets of shape {bundle.target_shape} but "
                f"{fit.feeder.label()} gives {fit.out_type}: make the last layer output "
                f"{bundle.target_shape[0] if bundle.target_shape else 1} value(s)",
                fit.feeder.name)

    def baselines(self, bundle: DataBundle) -> list[Baseline]:
        if "target_index" not in bundle.normalization:
            return []
        mse = last_value_baseline(bundle)
        return [Baseline("last_value_baseline_mse", mse,
                         f"last-value baseline MSE {mse:.5f} (normalised units)")]

    def describe_data(self, bundle: DataBundle) -> list[tuple[str, str]]:
        norm = bundle.normalization
        change = " (as change)" if norm.get("relative") else ""
        return [("Predicts", f"{', '.join(norm.get('target_columns', []))} "
                             f"{norm.get('horizon')} row(s) ahead{change}"),
                ("Features", ", ".join(norm.get("columns", [])))]

    def epoch_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> "ForecastReport":
        return forecast_report(model, bundle, dataset=dataset)

    def final_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> "ForecastReport":
        return forecast_report(model, bundle, "test", dataset=dataset,
                               device=model_device(model))

    def run_summary(self, model: nn.Module, bundle: DataBundle,
                    best_val_loss: float) -> tuple[dict[str, float], list[str]]:
        baseline = last_value_baseline(bundle)
        return ({"val_mse": best_val_loss, "val_last_value_baseline_mse": baseline},
                [f"validation MSE {best_val_loss:.5f} vs last-value baseline {baseline:.5f} "
                 f"(normalised units)"])


def last_value_baseline(bundle: DataBundle, split: Split | None = None) -> float:
    """MSE (normalised units) of forecasting "the same as the last value in the window"."""
    split = split or bundle.val
    index = bundle.normalization["target_index"]
    guess = split.x[:, -1, index]
    return float(((guess - split.y) ** 2).mean())


# ---- the forecast report -------------------------------------------------------------------

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
