"""The Data tab's views of a loaded dataset: sample images, the series plot, a text excerpt
(one at a time, in ``PreviewViews``) and the class-count bars.

Views only: they draw what a ``DataPreview`` holds and know nothing of documents or loading.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontDatabase, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QLabel, QPlainTextEdit, QScrollArea, QSizePolicy, QStackedWidget,
                               QWidget)

from app.editor.style import muted_color
from app.panels.data_preview import DataPreview

SPLIT_COLORS = {"train": "#4E79A7", "val": "#F28E2B", "test": "#59A14F"}


class ThumbnailGrid(QWidget):
    """Sample images with their class label under each, flowing to the available width."""

    PAD = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cells: list[tuple[QPixmap, str]] = []
        self._thumb = 48
        self._label_w = 0
        sp = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        sp.setHeightForWidth(True)
        self.setSizePolicy(sp)

    def set_images(self, images: list[tuple[np.ndarray, str]]) -> None:
        """(H,W) gray or (H,W,3) RGB uint8 arrays, each with its label."""
        self._cells = []
        self._label_w = 0
        if images:
            side = max(images[0][0].shape[:2])
            # whole-number upscaling keeps small images crisp; big ones are shrunk smoothly
            self._thumb = min(side * max(1, math.ceil(44 / side)), 72)
            # room for class names up to 1.6 thumbnails wide (longer ones are elided)
            longest = max(self.fontMetrics().horizontalAdvance(label) for _, label in images)
            self._label_w = min(longest + 6, int(self._thumb * 1.6))
        for arr, label in images:
            self._cells.append((self._pixmap(arr), label))
        self._relayout()
        self.update()

    def _pixmap(self, arr: np.ndarray) -> QPixmap:
        h, w = arr.shape[:2]
        if arr.ndim == 2:
            image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
        else:
            image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
        image = image.copy()  # own the pixels: the numpy buffer may go away
        mode = (Qt.TransformationMode.FastTransformation if self._thumb % max(h, w) == 0
                else Qt.TransformationMode.SmoothTransformation)
        return QPixmap.fromImage(image.scaled(self._thumb, self._thumb,
                                              Qt.AspectRatioMode.KeepAspectRatio, mode))

    def count(self) -> int:
        return len(self._cells)

    def labels(self) -> list[str]:
        return [label for _, label in self._cells]

    def _cell_size(self) -> QSize:
        label_h = self.fontMetrics().height()
        return QSize(max(self._thumb, 40, self._label_w) + self.PAD,
                     self._thumb + label_h + self.PAD + 2)

    def _columns(self, width: int) -> int:
        return max(1, (width - self.PAD) // self._cell_size().width())

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self._cells:
            return 0
        rows = math.ceil(len(self._cells) / self._columns(width))
        return rows * self._cell_size().height() + self.PAD

    def sizeHint(self) -> QSize:
        cell = self._cell_size()
        return QSize(8 * cell.width() + self.PAD, self.heightForWidth(8 * cell.width()))

    def _relayout(self) -> None:
        self.setMinimumHeight(self.heightForWidth(max(self.width(), 1)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def paintEvent(self, event) -> None:
        if not self._cells:
            return
        painter = QPainter(self)
        cell = self._cell_size()
        cols = self._columns(self.width())
        used = min(cols, len(self._cells)) * cell.width()
        left = max(self.PAD, (self.width() - used) // 2)
        frame = self.palette().color(QPalette.ColorRole.Mid)
        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        fm = self.fontMetrics()
        for i, (pixmap, label) in enumerate(self._cells):
            x = left + (i % cols) * cell.width()
            y = self.PAD + (i // cols) * cell.height()
            px = x + (cell.width() - self.PAD - pixmap.width()) // 2
            painter.drawPixmap(px, y, pixmap)
            painter.setPen(frame)
            painter.drawRect(px - 1, y - 1, pixmap.width() + 1, pixmap.height() + 1)
            painter.setPen(text_color)
            text = fm.elidedText(label, Qt.TextElideMode.ElideRight, cell.width() - 2)
            painter.drawText(QRectF(x - self.PAD / 2, y + pixmap.height() + 2, cell.width(),
                                    fm.height()), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


def _style_plot(plot: pg.PlotWidget, palette: QPalette) -> None:
    """Plot colours from the widget palette, so the plot matches a light or dark theme."""
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    text = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(muted_color(palette)))
        axis.setTextPen(pg.mkPen(text))
    plot.setMenuEnabled(False)


class PreviewViews(QStackedWidget):
    """One view at a time: a message, sample images, the series plot or a text excerpt."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = QLabel("No preview yet: press Load preview.",
                                  alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.placeholder.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        self.addWidget(self.placeholder)

        self.grid = ThumbnailGrid()
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidget(self.grid)
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.addWidget(self.grid_scroll)

        self.series_plot = pg.PlotWidget()
        _style_plot(self.series_plot, self.palette())
        self.series_plot.showGrid(x=True, y=True, alpha=0.15)
        self.series_plot.setLabel("bottom", "row")
        self._legend = self.series_plot.addLegend(offset=(10, 5))
        self.curves: dict[str, pg.PlotDataItem] = {}
        for split, color in SPLIT_COLORS.items():
            curve = self.series_plot.plot([], [], pen=pg.mkPen(color, width=1.5), name=split,
                                          connect="finite")
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.curves[split] = curve
        self.addWidget(self.series_plot)

        self.excerpt = QPlainTextEdit(readOnly=True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.excerpt.setFont(mono)
        self.excerpt.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.addWidget(self.excerpt)

    def show_message(self, message: str) -> None:
        """Empty every view and show ``message`` instead."""
        self.placeholder.setText(message)
        self.setCurrentWidget(self.placeholder)
        self.grid.set_images([])
        for curve in self.curves.values():
            curve.setData([], [])
        self.excerpt.clear()

    def show_message_if_empty(self, message: str) -> None:
        """``message`` on the placeholder, unless an (older) preview is showing."""
        if self.currentWidget() is self.placeholder:
            self.placeholder.setText(message)

    def show_preview(self, p: DataPreview) -> bool:
        """Show ``p``'s images, series or excerpt; False when it has none of them."""
        if p.images:
            self.grid.set_images(p.images)
            self.setCurrentWidget(self.grid_scroll)
        elif p.series:
            for curve in self.curves.values():
                curve.setData([], [])
            for split, rows, values in p.series:
                self.curves[split].setData(rows, values)
            self.series_plot.setLabel("left", p.series_label)
            self.series_plot.enableAutoRange()
            self.setCurrentWidget(self.series_plot)
        elif p.excerpt:
            self.excerpt.setPlainText(p.excerpt)
            self.setCurrentWidget(self.excerpt)
        else:
            return False
        return True

    def kind(self) -> str:
        """Which preview is showing: "images", "series", "text" or "" (none)."""
        current = self.currentWidget()
        return {self.grid_scroll: "images", self.series_plot: "series",
                self.excerpt: "text"}.get(current, "")

    def series_points(self) -> dict[str, int]:
        """Number of plotted (finite) points per split curve."""
        out = {}
        for split, curve in self.curves.items():
            _, ys = curve.getData()
            out[split] = 0 if ys is None else int(np.isfinite(ys).sum())
        return out


class ClassCountChart(pg.PlotWidget):
    """Samples per class as bars, train / val / test stacked in the split colours."""

    def __init__(self, palette: QPalette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _style_plot(self, palette)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMinimumHeight(90)
        self.getAxis("left").setWidth(34)
        self.setVisible(False)
        self._bars: list[pg.BarGraphItem] = []

    def show_counts(self, p: DataPreview) -> None:
        """Bars for ``p``'s class counts; hidden when it has none (or over 100 classes)."""
        for bar in self._bars:
            self.removeItem(bar)
        self._bars = []
        counts = p.class_counts
        if counts is None or len(counts) == 0 or len(counts) > 100:
            self.setVisible(False)
            return
        xs = np.arange(len(counts))
        bottom = np.zeros(len(counts))
        for j, split in enumerate(("train", "val", "test")):
            bar = pg.BarGraphItem(x=xs, y0=bottom, height=counts[:, j], width=0.75,
                                  brush=SPLIT_COLORS[split], pen=None)
            self.addItem(bar)
            self._bars.append(bar)
            bottom = bottom + counts[:, j]
        names = p.class_names or [str(i) for i in xs]
        step = max(1, math.ceil(len(names) / 12))
        limit = max(4, int(250 / (len(names) / step) / 7))  # ~7 px a character
        self.getAxis("bottom").setTicks(
            [[(i, _short(names[i], limit)) for i in range(0, len(names), step)]])
        self.setXRange(-0.6, len(counts) - 0.4, padding=0)
        self.setYRange(0, float(bottom.max()) * 1.05 or 1, padding=0)
        self.setToolTip("Samples per class: " + ", ".join(
            f"{names[i]} {int(bottom[i]):,}" for i in range(len(names)))
            + " (train / val / test stacked)")
        self.setVisible(True)


def _short(name: str, limit: int = 6) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"
