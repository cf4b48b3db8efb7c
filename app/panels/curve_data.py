"""The training curves' data: one run's curves (``CurveRun``), the live run's growing buffers
(``LiveCurveData``) and the smoothing (``ema``). No Qt here.

Points are appended to preallocated numpy buffers that double when full, and what a redraw
needs besides the points (the smoothing state, min/max of the losses and rates) is kept up to
date as they arrive, so a redraw never scans every point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


def floats(values) -> np.ndarray:
    """``values`` as a flat float64 array (None: an empty one)."""
    return np.array(values if values is not None else [], dtype=np.float64).reshape(-1)


@dataclass(eq=False)
class CurveRun:
    """The curves of one training run, as kept in the run history and drawn as an overlay.

    ``steps``/``losses`` are per batch (global optimizer step, 1-based as in ``BatchEnd``);
    ``epochs`` and the four per-epoch arrays are per epoch, ``epochs`` 0-based as in
    ``EpochEnd`` (drawn as ``epoch + 1``). Metrics are raw values (accuracy as a fraction);
    NaN means "not measured". ``metric`` names the metric ("accuracy", "mae"); empty when
    unknown.
    """

    label: str
    steps: np.ndarray = field(default_factory=lambda: np.empty(0))
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    epochs: np.ndarray = field(default_factory=lambda: np.empty(0))
    train_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    val_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    train_metric: np.ndarray = field(default_factory=lambda: np.empty(0))
    val_metric: np.ndarray = field(default_factory=lambda: np.empty(0))
    metric: str = ""

    def __post_init__(self) -> None:
        for name in ("steps", "losses", "epochs", "train_loss", "val_loss", "train_metric",
                     "val_metric"):
            setattr(self, name, floats(getattr(self, name)))


class GrowingColumns:
    """Float64 columns in one preallocated array that doubles its capacity when full."""

    def __init__(self, columns: int, capacity: int = 1024) -> None:
        self._data = np.empty((columns, capacity))
        self.size = 0

    def append(self, *columns: np.ndarray) -> None:
        k = len(columns[0])
        need = self.size + k
        if need > self._data.shape[1]:
            grown = np.empty((self._data.shape[0], max(need, 2 * self._data.shape[1])))
            grown[:, :self.size] = self._data[:, :self.size]
            self._data = grown
        for row, values in enumerate(columns):
            self._data[row, self.size:need] = values
        self.size = need

    def column(self, row: int) -> np.ndarray:
        """A view of the filled part of one column (valid until the next append)."""
        return self._data[row, :self.size]

    def clear(self) -> None:
        self.size = 0
        if self._data.shape[1] > 1 << 16:  # give a long run's memory back
            self._data = np.empty((self._data.shape[0], 1024))


def finite_bounds(*arrays: np.ndarray) -> tuple[float, float] | None:
    """(min, max) of the finite values of ``arrays``; None if there are none."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if len(a)]
    if not finite:
        return None
    return min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)


def _as_arrays(bounds: tuple[float, float] | None) -> tuple[np.ndarray, ...]:
    """Earlier (min, max) as an array to merge into ``finite_bounds``; nothing if there were
    none."""
    return (np.array(bounds),) if bounds else ()


def ema(values: np.ndarray, factor: float, last: float = 0.0,
        count: int = 0) -> tuple[np.ndarray, float, int]:
    """Exponential moving average with bias correction, as TensorBoard smooths scalars.

    ``last`` is the running (biased) average and ``count`` the number of finite values seen
    before ``values``; returns ``(smoothed, last, count)`` so a caller can continue where it
    stopped. Non-finite values leave the state alone and come out as NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    x = values[finite]
    if len(x) == 0:
        return out, last, count
    w = float(factor)
    # a plain loop: 150k points in ~15 ms, and no scipy import (half a second) at startup
    biased = np.empty(len(x))
    acc, keep = last, 1.0 - w
    for i, v in enumerate(x.tolist()):
        acc = acc * w + keep * v
        biased[i] = acc
    counts = np.arange(count + 1, count + 1 + len(x), dtype=np.float64)
    out[finite] = biased / (1.0 - np.power(w, counts))
    return out, float(biased[-1]), count + len(x)


class LiveCurveData:
    """The current run's points, as they arrive.

    ``batches``: step, raw loss, smoothed loss, learning rate; ``epochs``: epoch (0-based),
    train loss, val loss, train metric, val metric. ``factor`` is the smoothing's EMA factor
    and ``metric`` the metric's name. ``lr_min``/``lr_max`` span the positive rates (for the
    log axis); ``loss_bounds``/``lr_bounds`` are (min, max) of the finite losses and rates so
    far: the live y ranges, without a scan of every point at each redraw.
    """

    def __init__(self, factor: float) -> None:
        self.metric = ""
        self.factor = factor
        self.batches = GrowingColumns(4)
        self._ema_last, self._ema_count = 0.0, 0
        self.lr_min, self.lr_max = math.inf, 0.0
        self.loss_bounds: tuple[float, float] | None = None
        self.lr_bounds: tuple[float, float] | None = None
        self.epochs = GrowingColumns(5, capacity=64)
        self.resmooth_pending = False  # the factor changed: smooth every point again

    def clear(self) -> None:
        """Forget the points (the metric's name and the factor stay)."""
        self.batches.clear()
        self.epochs.clear()
        self._ema_last, self._ema_count = 0.0, 0
        self.lr_min, self.lr_max = math.inf, 0.0
        self.loss_bounds = self.lr_bounds = None

    def add_batches(self, steps: Sequence[int], losses: Sequence[float],
                    lrs: Sequence[float]) -> bool:
        """Append per-batch points (smoothed as they come); False if there were none."""
        steps, losses, lrs = floats(steps), floats(losses), floats(lrs)
        if not (len(steps) == len(losses) == len(lrs)):
            raise ValueError(f"add_batches: {len(steps)} steps, {len(losses)} losses and "
                             f"{len(lrs)} learning rates; give one of each per batch")
        if len(steps) == 0:
            return False
        smoothed, self._ema_last, self._ema_count = ema(losses, self.factor, self._ema_last,
                                                        self._ema_count)
        self.batches.append(steps, losses, smoothed, lrs)
        self.loss_bounds = finite_bounds(losses, *_as_arrays(self.loss_bounds))
        self.lr_bounds = finite_bounds(lrs, *_as_arrays(self.lr_bounds))
        positive = lrs[np.isfinite(lrs) & (lrs > 0)]
        if len(positive):
            self.lr_min = min(self.lr_min, float(positive.min()))
            self.lr_max = max(self.lr_max, float(positive.max()))
        return True

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_metric: float,
                  val_metric: float) -> None:
        self.epochs.append(*(np.array([float(v)]) for v in
                             (epoch, train_loss, val_loss, train_metric, val_metric)))

    def resmooth(self) -> bool:
        """Smooth every point again if the factor changed since; True if it did."""
        if not self.resmooth_pending:
            return False
        self.resmooth_pending = False
        smoothed, self._ema_last, self._ema_count = ema(self.batches.column(1), self.factor)
        self.batches.column(2)[:] = smoothed
        return True

    def log_rate(self) -> bool:
        """Whether the rate axis should be logarithmic: once the rate spans a decade (warm-up,
        step decay, one-cycle)."""
        return self.lr_max > 0 and self.lr_max / self.lr_min >= 10

    def snapshot(self, label: str) -> CurveRun:
        """The points as a ``CurveRun`` (copies)."""
        b, e = self.batches, self.epochs
        return CurveRun(label, b.column(0).copy(), b.column(1).copy(), e.column(0).copy(),
                        e.column(1).copy(), e.column(2).copy(), e.column(3).copy(),
                        e.column(4).copy(), self.metric)
