"""How the live curves' axes move: in coarse steps, not with every point.

A changed range re-renders the axis (ticks, labels, grid), the bulk of a live redraw. The x
axes span the whole planned run (``plan``) or grow to round numbers (``round_up``); the y
axes are refitted only when a point falls outside or the range has become more than twice too
tall (``refit``). ``LiveRanges`` applies this to the plots, for the current run's data and
the earlier runs drawn behind it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyqtgraph as pg

from app.panels.curve_data import finite_bounds

if TYPE_CHECKING:
    from app.panels.curve_data import LiveCurveData
    from app.panels.curve_overlays import EarlierRuns
    from app.panels.curve_plots import CurvePlots

STEP_EXTENT_MIN = 10  # the step axes start at 0..10 and grow to the next round number
EPOCH_EXTENT_MIN = 2  # the epoch axes start at 1..2


def round_up(x: float, minimum: float = STEP_EXTENT_MIN) -> float:
    """The first of 10, 15, 20, 30, 40, 50, 75, 100, 150... (``minimum`` times 1, 1.5, 2, 3,
    4, 5, 7.5 and their multiples of ten) at or above ``x``: at most 1.5x."""
    decade = float(minimum)
    while True:
        for factor in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5):
            if decade * factor >= x:
                return decade * factor
        decade *= 10


def refit(old: tuple[float, float] | None, lo: float, hi: float, pad: float = 0.1,
          grow: float = 0.5, ceiling: float | None = None) -> tuple[float, float] | None:
    """A live axis range that moves in coarse steps, for data spanning ``lo..hi``.

    None (keep ``old``) while ``old`` holds the data and is at most twice as tall as they
    need: a changed range re-renders the axis (ticks, labels, grid), most of a live redraw's
    cost, so it should change rarely, not with every point. A first fit, or one after the data
    have shrunk to under half the range: ``lo..hi`` with ``pad`` of their span on each side.
    Data past an edge: that edge moves past them by ``grow`` of the span (or of the old
    range, if taller), so a curve that keeps falling (a loss) or rising (an accuracy) crosses
    an edge a few times in a run, not at every update.
    Never below zero for data that are all >= 0, never above ``ceiling`` (100%) for data
    under it.
    """
    span = max(hi - lo, abs(hi) * 1e-3, 1e-9)
    if old is None or (hi - lo) * 2 < old[1] - old[0]:
        new_lo, new_hi = lo - span * pad, hi + span * pad
    elif lo < old[0] or hi > old[1]:
        reach = max(span, old[1] - old[0])  # the range at least grows by half each time
        new_lo = lo - reach * grow if lo < old[0] else old[0]
        new_hi = hi + reach * grow if hi > old[1] else old[1]
    else:
        return None
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    if ceiling is not None and hi <= ceiling:
        new_hi = min(new_hi, ceiling)
    return new_lo, new_hi


class LiveRanges:
    """The plots' view ranges for the current run (``data``) and the earlier runs
    (``overlays``), changed only when they must (each change re-renders an axis)."""

    def __init__(self, plots: CurvePlots, data: LiveCurveData, overlays: EarlierRuns) -> None:
        self._plots, self._data, self._overlays = plots, data, overlays
        self.planned_steps, self.planned_epochs = 0, 0
        # the extents the plots show: they start at the smallest ones (CurvePlots)
        self.step_extent: float = STEP_EXTENT_MIN
        self.epoch_extent: float = EPOCH_EXTENT_MIN
        self.y_ranges: dict[pg.PlotItem, tuple[float, float] | None] = {}

    def reset(self) -> None:
        """A new run: no plan, and the y ranges fitted afresh (the x extents stay until the
        next fit)."""
        self.y_ranges = {}
        self.planned_steps, self.planned_epochs = 0, 0

    def plan(self, steps: int, epochs: int) -> bool:
        """The run's planned last step and epoch; False if that was the plan already."""
        if (steps, epochs) == (self.planned_steps, self.planned_epochs):
            return False
        self.planned_steps, self.planned_epochs = max(int(steps), 0), max(int(epochs), 0)
        return True

    def show_rate_log(self, log_lr: bool) -> None:
        """Switch the rate axis to or from a log scale if it is not on that one yet."""
        lr_plot = self._plots.lr_plot
        if lr_plot.getAxis("left").logMode != log_lr:
            lr_plot.setLogMode(False, log_lr)
            # pyqtgraph turns auto-range back on for both axes here: keep them coarse
            lr_plot.enableAutoRange(enable=False)
            lr_plot.setXRange(0, self.step_extent, padding=0)
            self.y_ranges.pop(lr_plot, None)  # decades now: refit

    def fit_steps(self, log_lr: bool) -> None:
        """Step axes: the planned run, or a round number past the last step (this run's or an
        overlay's). Loss and rate axes: refitted in coarse steps (``refit``)."""
        data, plots = self._data, self._plots
        steps = data.batches.column(0)
        last = max([float(steps[-1]) if len(steps) else 0.0, *self._overlays.last_steps()])
        planned = self.planned_steps
        self.set_step_extent(planned if planned and last <= planned else round_up(last))
        self.fit_y(plots.batch_plot, data.loss_bounds)
        if 0 < data.lr_max <= data.lr_min * (1 + 1e-9):
            # a constant rate: shown against zero, not at the centre of a meaningless range
            self.set_y(plots.lr_plot, (0.0, 2 * data.lr_max))
        elif log_lr:  # the view of a log axis is in decades; zero rates are not drawn
            self.fit_y(plots.lr_plot, (math.log10(data.lr_min), math.log10(data.lr_max)))
        else:
            self.fit_y(plots.lr_plot, data.lr_bounds)

    def fit_epochs(self, scale: float) -> None:
        """Epoch axes: the planned run, or a round number past the last epoch (this run's or
        an overlay's). Loss and metric axes (the metric times ``scale``): refitted in coarse
        steps; accuracy (``scale`` 100, in %) never past 100."""
        e, plots = self._data.epochs, self._plots
        epochs = e.column(0)
        last = max([float(epochs[-1]) + 1 if len(epochs) else 1.0,
                    *self._overlays.last_epochs()])
        planned = max(self.planned_epochs, EPOCH_EXTENT_MIN) if self.planned_epochs else 0
        self.set_epoch_extent(planned if last <= planned
                              else round_up(last, EPOCH_EXTENT_MIN))
        self.fit_y(plots.epoch_plot, finite_bounds(e.column(1), e.column(2)))
        self.fit_y(plots.metric_plot,
                   finite_bounds(e.column(3) * scale, e.column(4) * scale),
                   ceiling=100.0 if scale == 100.0 else None)  # accuracy in %

    def set_step_extent(self, extent: float) -> None:
        if extent != self.step_extent:
            self.step_extent = extent
            self._plots.show_step_extent(extent)

    def set_epoch_extent(self, extent: float) -> None:
        if extent != self.epoch_extent:
            self.epoch_extent = extent
            self._plots.show_epoch_extent(extent)

    def fit_y(self, plot: pg.PlotItem, bounds: tuple[float, float] | None,
              ceiling: float | None = None) -> None:
        """Refit ``plot``'s y range to data spanning ``bounds`` and its overlays' curves,
        coarsely."""
        found = ([bounds] if bounds else []) + self._overlays.bounds.get(plot, [])
        if not found:
            return
        fitted = refit(self.y_ranges.get(plot), min(b[0] for b in found),
                       max(b[1] for b in found), ceiling=ceiling)
        if fitted is not None:
            self.set_y(plot, fitted)

    def set_y(self, plot: pg.PlotItem, y_range: tuple[float, float]) -> None:
        if self.y_ranges.get(plot) != y_range:
            self.y_ranges[plot] = y_range
            plot.setYRange(*y_range, padding=0)
