"""Forecasting from a CSV time series: windows of T rows predict the target ``horizon`` rows later.

The series is split chronologically (70% train, 15% val, 15% test) *before* windowing, so no
window or target ever crosses a split boundary, and every column is normalised with the mean/std
of the train part only (targets too, in the same units).

With ``relative`` (the default) the target columns are expressed relative to their value at the
window's last row: inputs as ``(x - x_last) / std`` and the target as the *change* ``(y - x_last)
/ std``. Why: a trending series (CO2, prices, sales) leaves the train range in val/test, and a
network fed absolute levels cannot extrapolate there (measured on the shipped CO2 record: the
LSTM template lost to "repeat the last value" at every horizon). Either way ``x[:, -1,
target_index]`` is the last-value forecast in the units of ``y`` (0 in relative mode).
"""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.data.base import DataBundle, DataError, Split, option
from backend.resources import resources_dir

log = logging.getLogger(__name__)

RESOURCES = resources_dir() / "datasets"  # the bundle's copy when frozen (PyInstaller)
DEFAULT_CSV = RESOURCES / "co2_weekly.csv"
# Predicting one week ahead is nearly the last value (weekly noise dominates); four weeks ahead
# makes the seasonal cycle matter, so a sequence model clearly beats "repeat the last value".
DEFAULT_HORIZON = 4

_MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
# columns that are the time axis, not features (left out unless named in 'columns')
_TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "period", "year", "month", "week",
               "day", "hour", "minute")
TRAIN_FRACTION, VAL_FRACTION = 0.70, 0.15


def _parse_float(cell: str) -> float | None:
    """A number, NaN for a missing cell, or None when the cell is not a number at all."""
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def read_csv_columns(path: Path, dataset: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file (delimiter sniffed), with errors that name the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise DataError(f"dataset '{dataset}': file {path} does not exist; choose a CSV file "
                        "(option 'path')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"dataset '{dataset}': cannot read {path} as UTF-8 text ({exc}); "
                        "save it as a UTF-8 CSV file") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # one column, or sniffing failed: assume plain commas
    rows = list(csv.reader(text.splitlines(), dialect))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()  # trailing blank lines
    if rows and len(rows[0]) == 1:
        # in a one-column file an empty line is a missing value, not a line to skip
        rows = [r if r else [""] for r in rows]
    else:
        rows = [r for r in rows if r]
    if len(rows) < 2:
        raise DataError(f"dataset '{dataset}': {path} needs a header row and data rows; "
                        "it has none")
    header = [h.strip() for h in rows[0]]
    width = len(header)
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != width:
            raise DataError(f"dataset '{dataset}': {path} line {i} has {len(r)} cells but the "
                            f"header has {width}; fix that line")
    return header, rows[1:]


def _numeric_column(rows: list[list[str]], j: int) -> tuple[np.ndarray, int | None]:
    """Column j as float64 with NaN for missing cells, plus the first non-numeric row (or None)."""
    values = np.empty(len(rows), dtype=np.float64)
    for i, r in enumerate(rows):
        v = _parse_float(r[j])
        if v is None:
            return values, i
        values[i] = v
    return values, None


def interpolate_missing(values: np.ndarray) -> np.ndarray:
    """Fill NaNs linearly between neighbours (ends take the nearest known value)."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    idx = np.arange(len(values))
    out = values.copy()
    out[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    return out


def _as_name_list(value: Any, key: str, dataset: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise DataError(f"dataset '{dataset}': option '{key}' must be a column name or a list of "
                    f"column names, got {value!r}")


def _windows(data: np.ndarray, target_idx: list[int], window: int, horizon: int,
             relative: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """All windows of one split: x = rows i..i+T-1, y = target columns at row i+T-1+horizon.

    ``relative``: the target columns of x and y are taken minus their value at row i+T-1.
    """
    n = len(data) - window - horizon + 1
    starts = np.arange(n)
    x = data[starts[:, None] + np.arange(window)[None, :]]  # (n, T, F)
    y = data[starts + window - 1 + horizon][:, target_idx]  # (n, k)
    if relative:
        last = x[:, -1, target_idx]  # (n, k), copied before x changes
        x[:, :, target_idx] -= last[:, None, :]
        y = y - last
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def load_csv_series(options: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
                    seed: int, name: str = "csv_series") -> DataBundle:
    """Windows over a CSV time series for a "sequence" (T, F) Input; regression targets.

    options: ``path`` (default: the shipped Mauna Loa weekly CO2 record), ``columns`` (feature
    columns, default all numeric non-date columns), ``target`` (name or list, default the first
    feature), ``horizon`` (rows ahead to predict, default 4), ``relative`` (default true: target
    columns relative to the window's last value, see the module docstring). ``seed`` is unused:
    the split is chronological by design.
    """
    raw_path = option(options, "path", None, str, name)
    path = Path(os.path.expanduser(raw_path)) if raw_path else DEFAULT_CSV
    horizon = option(options, "horizon", DEFAULT_HORIZON, int, name)
    relative = option(options, "relative", True, bool, name)
    if horizon < 1:
        raise DataError(f"dataset '{name}': option 'horizon' must be at least 1 (rows ahead)")
    wanted = _as_name_list(options.get("columns"), "columns", name)
    targets = _as_name_list(options.get("target"), "target", name)

    if input_kind != "sequence" or len(input_shape) != 2:
        raise DataError(f"{name} gives time windows; set the Input node to kind 'sequence' "
                        "with shape T,F (T = window length in rows, F = number of feature "
                        "columns)")
    window, n_features = input_shape

    header, rows = read_csv_columns(path, name)
    if len(set(header)) != len(header):
        raise DataError(f"dataset '{name}': {path} has duplicate column names; rename them")

    if wanted is None:
        columns: list[str] = []
        for j, col in enumerate(header):
            if col.lower() in _TIME_NAMES or "date" in col.lower():
                continue  # the time axis is the row order, not a feature
            values, bad = _numeric_column(rows, j)
            if bad is None and not np.isnan(values).all():
                columns.append(col)
        if not columns:
            raise DataError(f"dataset '{name}': {path} has no numeric columns to use; "
                            f"its columns are {', '.join(header)}")
        log.info("%s: using numeric columns %s of %s", name, ", ".join(columns), path)
    else:
        columns = wanted
    if targets is None:
        targets = [columns[0]]
    for col in [*columns, *targets]:
        if col not in header:
            raise DataError(f"dataset '{name}': column '{col}' is not in {path}; its columns "
                            f"are {', '.join(header)}")
    for col in targets:
        if col not in columns:
            raise DataError(f"dataset '{name}': target column '{col}' must also be a feature "
                            "column (the model sees its past values); add it to 'columns'")

    matrix = np.empty((len(rows), len(columns)), dtype=np.float64)
    for k, col in enumerate(columns):
        values, bad = _numeric_column(rows, header.index(col))
        if bad is not None:
            raise DataError(f"dataset '{name}': column '{col}' in {path} is not numeric (line "
                            f"{bad + 2}: {rows[bad][header.index(col)]!r}); choose numeric "
                            "columns only")
        if np.isnan(values).all():
            raise DataError(f"dataset '{name}': column '{col}' in {path} has no values")
        n_missing = int(np.isnan(values).sum())
        if n_missing:
            log.info("%s: column '%s': %d missing values filled by linear interpolation",
                      name, col, n_missing)
        matrix[:, k] = interpolate_missing(values)

    if n_features != len(columns):
        raise DataError(f"dataset '{name}' has {len(columns)} feature column(s) "
                        f"({', '.join(columns)}) but the Input node has F={n_features}; set the "
                        f"Input shape to {window},{len(columns)}")

    n = len(matrix)
    n_train = int(round(n * TRAIN_FRACTION))
    n_val = int(round(n * VAL_FRACTION))
    parts = {"train": matrix[:n_train], "val": matrix[n_train:n_train + n_val],
             "test": matrix[n_train + n_val:]}
    need = window + horizon
    for split_name, part in parts.items():
        if len(part) < need:
            raise DataError(f"dataset '{name}': the {split_name} part of {path} has only "
                            f"{len(part)} rows but one window needs T + horizon = {need}; use a "
                            f"shorter window/horizon or a longer series ({n} rows in all)")

    mean = parts["train"].mean(axis=0)
    std = parts["train"].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant column stays finite
    target_idx = [columns.index(t) for t in targets]
    splits = {k: Split(*_windows((v - mean) / std, target_idx, window, horizon, relative))
              for k, v in parts.items()}

    normalization = {
        "kind": "series",
        "columns": list(columns),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "target_columns": list(targets),
        "target_index": target_idx,
        "window": int(window),
        "horizon": int(horizon),
        # columns given relative to the window's last row: x[:, j] = (raw[:, j] - raw[-1, j]) /
        # std[j]; a prediction p of target k means raw = raw[-1, target_index[k]] + p * std
        "relative": bool(relative),
        "relative_index": list(target_idx) if relative else [],
    }
    return DataBundle(
        name=name, task="regression",
        train=splits["train"], val=splits["val"], test=splits["test"],
        sample_shape=(window, len(columns)), target_shape=(len(targets),),
        num_classes=None, class_names=None, normalization=normalization,
        source=f"CSV time series {path} ({n:,} rows; predicts {', '.join(targets)} "
               f"{horizon} row(s) ahead{', as change from the last value' if relative else ''})",
    )
