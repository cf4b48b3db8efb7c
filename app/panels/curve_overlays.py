"""Earlier runs drawn behind the live training curves: ``OverlayLayer`` (all of one plot's
earlier curves as one cached item) and ``EarlierRuns`` (which runs, their pens and legend
entries, and the extent the axes must take in)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from app.panels.curve_data import CurveRun, ema, finite_bounds

if TYPE_CHECKING:
    from app.panels.curve_plots import CurvePlots


def peak_downsample(x: np.ndarray, y: np.ndarray,
                    max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: consecutive buckets each reduced to their minimum and
    maximum, in order (the look of the whole curve, spikes included), then the last point."""
    n = len(x)
    if n <= max_points:
        return x, y
    size = -(-n // ((max_points - 1) // 2))  # two points a bucket, and the last point
    buckets = -(-n // size)
    pad = buckets * size - n  # < size: no bucket is all padding
    yb = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    xb = np.concatenate([x, np.full(pad, x[-1])]).reshape(buckets, size)
    lo, hi = np.nanargmin(yb, axis=1), np.nanargmax(yb, axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    rows = np.arange(buckets)
    xs = np.stack([xb[rows, first], xb[rows, second]], axis=1).reshape(-1)
    ys = np.stack([yb[rows, first], yb[rows, second]], axis=1).reshape(-1)
    return np.append(xs, x[-1]), np.append(ys, y[-1])  # the line ends where the run ended


class OverlayLayer(pg.GraphicsObject):
    """Earlier runs' curves of one plot, drawn by one item and cached as one picture.

    As separate plot items every earlier run cost each live redraw a Python paint call and a
    dashed stroke of all its points (~0.1% of a core per run while training); here they cost
    one cached blit, whatever their number, and are drawn again only when the axes change.
    Curves longer than ``MAX_POINTS`` are reduced to each bucket's minimum and maximum
    (peaks kept), as the live curves are downsampled.
    """

    MAX_POINTS = 4000

    def __init__(self) -> None:
        super().__init__()
        self.curves: list[tuple[np.ndarray, np.ndarray, QPen]] = []
        self._paths: list[tuple[QPainterPath, QPen]] | None = None
        self._bounds = QRectF()
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def add(self, x: np.ndarray, y: np.ndarray, pen: QPen) -> None:
        x, y = peak_downsample(np.asarray(x, float), np.asarray(y, float), self.MAX_POINTS)
        self.prepareGeometryChange()
        self.curves.append((x, y, pen))
        rect = QRectF(float(x.min()), float(y.min()), float(np.ptp(x)), float(np.ptp(y)))
        self._bounds = rect if self._bounds.isNull() else self._bounds.united(rect)
        self._paths = None
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.curves, self._paths, self._bounds = [], None, QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        if self._bounds.isNull():
            return QRectF()
        # cosmetic pens are drawn a pixel or two wide around the data: two pixels of margin
        px, py = self.pixelWidth() or 0.0, self.pixelHeight() or 0.0
        return self._bounds.adjusted(-2 * px, -2 * py, 2 * px, 2 * py)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph's name
        self.prepareGeometryChange()  # the margin above is in pixels: new data units

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._paths is None:
            self._paths = [(pg.arrayToQPath(x, y, connect="finite"), pen)
                           for x, y, pen in self.curves]
        for path, pen in self._paths:
            painter.setPen(pen)
            painter.drawPath(path)


class EarlierRuns:
    """Earlier runs drawn faded and dashed behind the current one, labelled in the legends.

    Their curves go into the plots' ``OverlayLayer``s; ``items`` are the legend entries
    (plot, sample item, label); ``bounds`` the (min, max) of each overlay curve, per plot,
    for the y ranges to take in.
    """

    def __init__(self, plots: CurvePlots) -> None:
        self._plots = plots
        self.runs: list[CurveRun] = []
        self.items: list[tuple[pg.PlotItem, pg.PlotDataItem, str]] = []
        self.bounds: dict[pg.PlotItem, list[tuple[float, float]]] = {}

    def clear(self) -> None:
        """No earlier runs any more."""
        self.remove_items()
        self.runs = []
        self.bounds = {}

    def remove_items(self) -> None:
        for layer in self._plots.overlay_layers.values():
            layer.clear()
        for plot, item, _ in self.items:
            plot.legend.removeItem(item)
        self.items = []

    def draw(self, factor: float, metric: str, scale: float) -> None:
        """Draw ``runs`` again: their batch losses smoothed by ``factor``, their metric only
        where it is ``metric`` (shown times ``scale``)."""
        self.remove_items()
        self.bounds = {}
        p = self._plots
        for i, run in enumerate(self.runs):
            dashed, dotted = p.overlay_pens(i)
            if len(run.steps):
                smoothed = ema(run.losses, factor)[0]
                self._add(p.batch_plot, run.steps, smoothed, dashed, run.label)
            epochs = run.epochs + 1
            # train dotted, validation dashed; the legend names the run once per plot
            self._add(p.epoch_plot, epochs, run.train_loss, dotted, None)
            self._add(p.epoch_plot, epochs, run.val_loss, dashed, run.label)
            if not run.metric or run.metric == metric:  # never mix accuracy and MAE
                self._add(p.metric_plot, epochs, run.train_metric * scale, dotted, None)
                self._add(p.metric_plot, epochs, run.val_metric * scale, dashed, run.label)

    def _add(self, plot: pg.PlotItem, x: np.ndarray, y: np.ndarray, pen: QPen,
             label: str | None) -> None:
        n = min(len(x), len(y))
        x, y = np.asarray(x[:n], float), np.asarray(y[:n], float)
        keep = np.isfinite(y)
        if not keep.any():
            return
        self._plots.overlay_layers[plot].add(x[keep], y[keep], pen)
        self.bounds.setdefault(plot, []).append(finite_bounds(y[keep]))
        if label:  # the legend's sample: an empty item with the overlay's pen
            sample = pg.PlotDataItem(pen=pen, name=label)
            plot.legend.addItem(sample, label)
            self.items.append((plot, sample, label))

    def labels(self, plot: pg.PlotItem) -> list[str]:
        """The overlay labels shown in ``plot``'s legend."""
        return [label for p, _, label in self.items if p is plot and label]

    def legend_entries(self, plot: pg.PlotItem) -> list[tuple[pg.PlotDataItem, str]]:
        """(sample item, label) of the overlays in ``plot``'s legend, in order."""
        return [(item, label) for p, item, label in self.items if p is plot and label]

    def last_steps(self) -> list[float]:
        """The last step of each run that has per-batch points."""
        return [float(r.steps.max()) for r in self.runs if len(r.steps)]

    def last_epochs(self) -> list[float]:
        """The last epoch of each run that has epochs, 1-based as drawn."""
        return [float(r.epochs.max()) + 1 for r in self.runs if len(r.epochs)]
