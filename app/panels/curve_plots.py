"""The training curves' four pyqtgraph plots: built once, styled from the palette.

``CurvePlots`` makes the plots, one item per curve for the life of the widget (fed with
``setData``), and one ``OverlayLayer`` per plot for earlier runs; it colours them for light
and dark themes and names the metric plot. Which ranges they show is ``LiveRanges``'s
business (``curve_ranges``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import QGraphicsItem

from app.editor.style import is_dark, muted_color
from app.panels.curve_overlays import OverlayLayer
from app.panels.curve_ranges import EPOCH_EXTENT_MIN, STEP_EXTENT_MIN

pg.setConfigOptions(antialias=False)  # live curves: aliased lines are much cheaper to draw

LEFT_AXIS_WIDTH = 56  # px: room for labels like 0.0003 or 1e-05 and the axis title
PLOT_MIN_HEIGHT = 150  # px: a plot's title, x axis and a view with a few y ticks and a legend
TITLE_HEIGHT = 22  # px: pyqtgraph's 30 px title row takes a fifth of a short plot
LEGEND_MARGIN = 6  # px between a legend and its view's edges
MARGIN, SPACING = 4, 6  # px around and between the plots
PLOTS_MIN_HEIGHT = 2 * PLOT_MIN_HEIGHT + SPACING + 2 * MARGIN  # the two rows of plots


@dataclass
class CurveTheme:
    background: QColor
    foreground: QColor
    muted: QColor
    train: QColor
    val: QColor
    lr: QColor
    overlays: tuple[QColor, ...]


def curve_theme(palette: QPalette) -> CurveTheme:
    """The curves' colours for ``palette``: readable on light and dark themes alike."""
    dark = is_dark(palette)
    if dark:
        train, val, lr = "#5AA9F0", "#FFA64D", "#7BD88F"
        overlays = ("#B8B8B8", "#C89BE6", "#6ED3CF", "#E6A3B8", "#D4C27A")
    else:
        train, val, lr = "#1F63B5", "#D9660B", "#2E8B3E"
        overlays = ("#6E6E6E", "#8B5FBF", "#238B85", "#B8507A", "#8C7A20")
    return CurveTheme(palette.color(QPalette.ColorRole.Base),
                      palette.color(QPalette.ColorRole.WindowText), muted_color(palette),
                      QColor(train), QColor(val), QColor(lr),
                      tuple(QColor(c) for c in overlays))


def cosmetic_pen(color: QColor, width: float = 1.0, alpha: int = 255,
                 style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen ``width`` pixels wide whatever the zoom."""
    c = QColor(color)
    c.setAlpha(alpha)
    pen = pg.mkPen(c, width=width, style=style)
    pen.setCosmetic(True)
    return pen


def without_overlaps(texts: list) -> list:
    """pyqtgraph's tick label specs (rect, flags, text; major ticks first) less those whose
    text would touch one kept before it. pyqtgraph measures a label 0.8 of its height and
    draws it unclipped around that centre: compared here at full height, a pixel apart."""
    kept: list[QRectF] = []
    result = []
    for spec in texts:
        rect = spec[0]
        grow = rect.height() / 8 + 0.5
        full = rect.adjusted(0, -grow, 0, grow)
        if not any(full.intersects(other) for other in kept):
            kept.append(full)
            result.append(spec)
    return result


class LeftAxis(pg.AxisItem):
    """A y axis whose tick labels never overlap: a short plot shows fewer of them."""

    def __init__(self) -> None:
        super().__init__("left")

    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph's name
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        return axis, ticks, without_overlaps(texts)


class EpochAxis(pg.AxisItem):
    """An axis with ticks on whole numbers only (epoch 1, 2, 3 — never 2.5)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph's name
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if not levels:
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels


def format_rate(value: float) -> str:
    """A learning rate as a short tick label: 0.01, 0.001, 5e-4, 2.5e-5."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


class RateAxis(LeftAxis):
    """Learning-rate ticks in one short notation on linear and log axes alike."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        if self.logMode:  # label the decades only: minor ticks' labels overlap in a short plot
            return [format_rate(10.0 ** v) if abs(v - round(v)) < 1e-6 else "" for v in values]
        return [format_rate(v * scale) for v in values]


def metric_title(metric: str) -> str:
    """How a metric is named on screen: "Accuracy (%)", "MAE", "Metric"."""
    if not metric:
        return "Metric"
    if metric.lower() == "accuracy":
        return "Accuracy (%)"
    return metric.upper() if len(metric) <= 4 else metric.replace("_", " ").capitalize()


def metric_scale(metric: str) -> float:
    """What a metric's raw values are multiplied by on the plot (accuracy in %)."""
    return 100.0 if metric.lower() == "accuracy" else 1.0


class CurvePlots:
    """Four plots in one ``widget``: loss per batch and learning rate (top row), loss and
    metric per epoch (bottom row), each curve one item for the life of the widget."""

    def __init__(self) -> None:
        self.widget = pg.GraphicsLayoutWidget()
        # readable plots: a short panel scrolls them (TrainingCurves) rather than squash them
        self.widget.setMinimumSize(360, PLOTS_MIN_HEIGHT)
        self.widget.ci.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        self.widget.ci.setSpacing(SPACING)

        # Per-batch plots share the top row, per-epoch plots the bottom one: a live update
        # dirties one strip of the view, not two opposite corners (the whole view).
        top_right = (-LEGEND_MARGIN, LEGEND_MARGIN)
        self.batch_plot = self._make_plot(0, 0, "step", "loss", True, top_right)
        self.lr_plot = self._make_plot(0, 1, "step", "learning rate", True, None)
        self.epoch_plot = self._make_plot(1, 0, "epoch", "loss", False, top_right)
        self.metric_plot = self._make_plot(1, 1, "epoch", "", False, top_right)
        # the ranges are fitted by LiveRanges, in coarse steps, never by pyqtgraph; the x
        # axes start at its smallest extents
        for plot in self.all_plots():
            plot.enableAutoRange(enable=False)
        self.show_step_extent(STEP_EXTENT_MIN)
        self.show_epoch_extent(EPOCH_EXTENT_MIN)
        self._titles = {self.batch_plot: "Training loss per batch",
                        self.epoch_plot: "Loss per epoch", self.metric_plot: metric_title(""),
                        self.lr_plot: "Learning rate"}

        # one item per curve for the life of the widget; setData on each update
        self.raw_curve = self.batch_plot.plot(name="raw")
        self.smooth_curve = self.batch_plot.plot(name="smoothed")
        self.train_loss_curve = self.epoch_plot.plot(name="train", symbol="o", symbolSize=5)
        self.val_loss_curve = self.epoch_plot.plot(name="validation", symbol="o", symbolSize=5)
        self.train_metric_curve = self.metric_plot.plot(name="train", symbol="o", symbolSize=5)
        self.val_metric_curve = self.metric_plot.plot(name="validation", symbol="o",
                                                      symbolSize=5)
        self.lr_curve = self.lr_plot.plot()
        self.overlay_layers: dict[pg.PlotItem, OverlayLayer] = {}
        for plot in (self.batch_plot, self.epoch_plot, self.metric_plot):
            layer = OverlayLayer()
            layer.setZValue(-1)  # behind the current run
            plot.addItem(layer, ignoreBounds=True)  # the ranges are fitted here, not by pyqtgraph
            self.overlay_layers[plot] = layer
        self.raw_curve.setZValue(1)
        self.smooth_curve.setZValue(2)
        self.theme: CurveTheme  # set by apply_theme, which the owner calls once built

    def all_plots(self) -> tuple[pg.PlotItem, ...]:
        return (self.batch_plot, self.lr_plot, self.epoch_plot, self.metric_plot)

    def _make_plot(self, row: int, col: int, x_label: str, y_label: str, per_batch: bool,
                   legend_offset: tuple[int, int] | None) -> pg.PlotItem:
        axis = {"bottom": pg.AxisItem("bottom") if per_batch else EpochAxis("bottom"),
                "left": RateAxis() if y_label == "learning rate" else LeftAxis()}
        plot = self.widget.addPlot(row=row, col=col, axisItems=axis)
        plot.setMenuEnabled(False)  # the context menu offers log/FFT modes that would
        plot.hideButtons()          # fight the live updates
        plot.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            # with a grid the axis covers the plot: cache it, or every new point would
            # replay its tick labels
            plot.getAxis(name).setCacheMode(
                QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.setLabel("bottom", x_label)
        plot.setLabel("left", y_label)
        for name in ("left", "bottom"):
            plot.getAxis(name).enableAutoSIPrefix(False)  # no "(x0.001)" in the labels
        # A fixed width: tick labels changing width ("0.5" -> "0.25") would re-flow the
        # whole layout and repaint every plot on each live update.
        plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        if per_batch:
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
        if legend_offset is not None:
            # compact and translucent; a user can drag it off the curves
            plot.addLegend(offset=legend_offset, verSpacing=-5, labelTextSize="8pt")
            plot.getViewBox().sigResized.connect(lambda: self.fit_legend(plot))
        return plot

    def fit_legend(self, plot: pg.PlotItem) -> None:
        """Lay ``plot``'s legend out in as many columns as it needs to fit its view's height
        (earlier runs add entries; a short plot has room for a few rows)."""
        legend = plot.legend
        entries = len(legend.items)
        if not entries:
            return
        row_height = legend.height() / math.ceil(entries / legend.columnCount)
        room = plot.getViewBox().height() - 2 * LEGEND_MARGIN
        legend.setColumnCount(math.ceil(entries / max(int(room // row_height), 1)))

    def fit_legends(self) -> None:
        for plot in self.all_plots():
            if plot.legend is not None:
                self.fit_legend(plot)

    def _set_title(self, plot: pg.PlotItem, title: str | None) -> None:
        plot.setTitle(title, color=self.theme.foreground.name(), size="10pt", bold=True)
        plot.layout.setRowFixedHeight(0, TITLE_HEIGHT)

    def show_step_extent(self, extent: float) -> None:
        """Show steps 0..``extent`` on the per-batch plots."""
        for plot in (self.batch_plot, self.lr_plot):
            plot.setXRange(0, extent, padding=0)

    def show_epoch_extent(self, extent: float) -> None:
        """Show epochs 1..``extent`` (and a little margin) on the per-epoch plots."""
        for plot in (self.epoch_plot, self.metric_plot):
            plot.setXRange(1, extent, padding=0.05)

    # ---- appearance ---------------------------------------------------------------------
    def apply_theme(self, palette: QPalette) -> None:
        """Colours from the palette: readable on light and dark themes alike."""
        t = self.theme = curve_theme(palette)
        self.widget.setBackground(t.background)
        for plot in (self.batch_plot, self.epoch_plot, self.metric_plot, self.lr_plot):
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(cosmetic_pen(t.muted))
                axis.setTextPen(cosmetic_pen(t.foreground))
                plot.setLabel(name, axis.labelText, color=t.muted.name())
            self._set_title(plot, self._titles.get(plot))
            if plot.legend is not None:
                self.apply_theme_to_legend(plot.legend)
        self.raw_curve.setPen(cosmetic_pen(t.train, 1, alpha=70))
        self.smooth_curve.setPen(cosmetic_pen(t.train, 2))
        for curve, color in ((self.train_loss_curve, t.train), (self.val_loss_curve, t.val),
                             (self.train_metric_curve, t.train),
                             (self.val_metric_curve, t.val)):
            curve.setPen(cosmetic_pen(color, 2))
            curve.setSymbolPen(cosmetic_pen(color))
            curve.setSymbolBrush(color)
        self.lr_curve.setPen(cosmetic_pen(t.lr, 2))

    def apply_theme_to_legend(self, legend: pg.LegendItem) -> None:
        t = self.theme
        brush = QColor(t.background)
        brush.setAlpha(180)  # translucent: a curve behind it stays visible
        legend.setBrush(brush)
        legend.setPen(cosmetic_pen(t.muted, alpha=90))
        legend.setLabelTextColor(t.foreground)
        for _, label in legend.items:  # setLabelTextColor only sets the option
            label.setText(label.text)

    def overlay_pens(self, index: int) -> tuple[QPen, QPen]:
        """The pens of the ``index``-th earlier run: dashed (its batch and validation curves)
        and dotted (its train curves), faded."""
        colors = self.theme.overlays
        color = colors[index % len(colors)]
        return (cosmetic_pen(color, 1.5, alpha=170, style=Qt.PenStyle.DashLine),
                cosmetic_pen(color, 1.5, alpha=150, style=Qt.PenStyle.DotLine))

    def show_metric_name(self, metric: str) -> None:
        """Title, axis label and legend corner of the metric plot for ``metric``."""
        self._titles[self.metric_plot] = metric_title(metric)
        self._set_title(self.metric_plot, self._titles[self.metric_plot])
        y_label = ("accuracy (%)" if metric.lower() == "accuracy"
                   else metric_title(metric) if metric else "")
        self.metric_plot.setLabel("left", y_label, color=self.theme.muted.name())
        # accuracy climbs into the top right corner, an error falls away from it
        corner = -LEGEND_MARGIN if metric.lower() == "accuracy" else LEGEND_MARGIN
        self.metric_plot.legend.setOffset((-LEGEND_MARGIN, corner))
