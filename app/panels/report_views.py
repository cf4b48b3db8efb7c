"""The Evaluation tab's pages, one per task (``app/task_views.py`` says which is whose).

A classifier gets a confusion matrix, a per-class precision / recall / F1 table and a gallery
of misclassified test images; a forecaster gets actual vs predicted curves against the "repeat
the last value" baseline; a text model gets a temperature slider and generated samples. The
reports come from the task declarations (:mod:`backend.tasks`); these views only draw them.

Each page has ``show_epoch_report(report, run)`` (during training) and
``show_final_report(report, run)`` (a run's test-set report); both return whether the page
now has something to show. ``run`` is the finished or running ``TrainingRun`` (its bundle
and model).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase, QIcon, QImage, QPainter, \
    QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel,
    QListView, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QScrollArea,
    QSizePolicy, QSlider, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.editor.style import error_color, is_dark, muted_color, text_color_on
from app.workers import call_in_background
from backend.data import DataBundle
from backend.tasks.classification import ClassificationReport
from backend.tasks.language_model import text_samples
from backend.tasks.regression import ForecastReport

log = logging.getLogger(__name__)

GALLERY_LIMIT = 24
THUMBNAIL = 64  # pixels of a gallery image
CORRECT_HUE = QColor("#3E9BC9")  # cerulean: the diagonal (right answers)
ERROR_HUE = QColor("#E8703A")    # orange-red: confusions
TEMPERATURE_RANGE = (0.1, 2.0)
DEFAULT_TEMPERATURE = 0.8


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` of the way to ``b``."""
    return QColor(round(a.red() + (b.red() - a.red()) * t),
                  round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


def _title(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class _VerticalLabel(QWidget):
    """A label drawn bottom-to-top: the "true class" axis title beside the matrix rows."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.height() + 4, fm.horizontalAdvance(self._text) + 8)

    minimumSizeHint = sizeHint

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.translate(0, self.height())
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, self.height(), self.width()),
                         Qt.AlignmentFlag.AlignCenter, self._text)
        painter.end()


# ---- images ----------------------------------------------------------------------------------

def sample_image(x: torch.Tensor, normalization: dict) -> QImage | None:
    """A test sample as the picture it came from: normalisation undone, (C,H,W) or flattened.

    None when the bundle holds no images.
    """
    if normalization.get("kind") != "image":
        return None
    channels = int(normalization.get("channels", 1))
    height, width = (int(v) for v in normalization.get("size", (0, 0)))
    if channels * height * width != x.numel():
        return None
    img = x.detach().float().cpu().reshape(channels, height, width)
    mean = torch.tensor(normalization.get("mean", [0.0] * channels)).view(-1, 1, 1)
    std = torch.tensor(normalization.get("std", [1.0] * channels)).view(-1, 1, 1)
    low, high = normalization.get("value_range", (0.0, 1.0))
    img = ((img * std + mean - low) / max(high - low, 1e-12)).clamp(0, 1)
    pixels = (img * 255).round().to(torch.uint8)
    if channels == 1:
        data = np.ascontiguousarray(pixels[0].numpy())
        image = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        data = np.ascontiguousarray(pixels[:3].permute(1, 2, 0).numpy())
        image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: `data` dies with this frame


def thumbnail(image: QImage, size: int = THUMBNAIL) -> QPixmap:
    """``image`` scaled to fit ``size``; small images keep crisp pixels instead of a blur."""
    mode = (Qt.TransformationMode.FastTransformation if max(image.width(), image.height()) <= 32
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode))


# ---- classification --------------------------------------------------------------------------

class _MatrixTable(QTableWidget):
    """A square-celled table whose cells grow or shrink with the height it is given, so the
    whole matrix shows (down to a readable minimum cell; then it scrolls)."""

    MIN_CELL, MAX_CELL, MAX_WIDTH = 20, 44, 520

    def __init__(self) -> None:
        super().__init__()
        self.min_column = 0  # wide enough for the longest class name
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setMinimumSectionSize(self.MIN_CELL)  # the style's default is wider

    def fit_cells(self) -> None:
        k = max(self.rowCount(), 1)
        chrome = 2 * self.frameWidth() + 2
        free_h = self.height() - self.horizontalHeader().sizeHint().height() - chrome
        cell = int(max(self.MIN_CELL, min(self.MAX_CELL, free_h / k)))
        column = max(cell, self.min_column)
        self.verticalHeader().setDefaultSectionSize(cell)
        self.horizontalHeader().setDefaultSectionSize(column)
        font = QFont(self.font())
        if cell < 28:
            font.setPointSizeF(max(font.pointSizeF() * cell / 28, 6.5))
        for t in range(self.rowCount()):
            for p in range(self.columnCount()):
                item = self.item(t, p)
                if item is not None:
                    f = QFont(font)
                    f.setBold(item.font().bold())
                    item.setFont(f)
        needed = self.verticalHeader().sizeHint().width() + k * column + chrome
        if cell * k > free_h:  # it scrolls vertically: leave room for the bar
            needed += self.verticalScrollBar().sizeHint().width()
        self.setFixedWidth(min(needed, self.MAX_WIDTH))

    def sizeHint(self) -> QSize:
        k, chrome = self.rowCount(), 2 * self.frameWidth() + 2
        cell = 30
        width = self.verticalHeader().sizeHint().width() + k * max(cell, self.min_column)
        return QSize(min(width + chrome, self.MAX_WIDTH),
                     self.horizontalHeader().sizeHint().height() + k * cell + chrome)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if event.size().height() != event.oldSize().height():
            self.fit_cells()


class ClassificationView(QWidget):
    """Accuracy headline, confusion matrix, per-class table and misclassified gallery."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ClassificationReport | None = None
        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)

        # the confusion matrix: rows = true class, columns = predicted class
        self.matrix = _MatrixTable()
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.matrix.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.matrix.setShowGrid(True)
        for header in (self.matrix.horizontalHeader(), self.matrix.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setHighlightSections(False)
        self.matrix.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        matrix_box = QWidget()
        grid = QGridLayout(matrix_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        grid.addWidget(_title("Confusion matrix"), 0, 0, 1, 3)
        predicted = QLabel("predicted class →")
        predicted.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(predicted, 1, 1)
        grid.addWidget(_VerticalLabel("← true class"), 2, 0)
        grid.addWidget(self.matrix, 2, 1)
        grid.setRowStretch(2, 1)
        self._axis_labels = (predicted,)

        # per-class precision / recall / F1
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Precision: of the samples predicted as this class, how many "
                              "were.\nRecall: of the samples of this class, how many were "
                              "found.\nF1: the harmonic mean of the two.\nSupport: test "
                              "samples of this class.")
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(4)
        table_layout.addWidget(_title("Per class"))
        table_layout.addWidget(self.table)

        # misclassified test images
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setWrapping(True)
        self.gallery.setWordWrap(True)
        self.gallery.setSpacing(4)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.gallery.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.gallery_title = _title("Misclassified")
        self.gallery_note = QLabel()  # no word wrap: height-for-width breaks the scroll area
        gallery_box = QWidget()
        gallery_layout = QVBoxLayout(gallery_box)
        gallery_layout.setContentsMargins(0, 0, 0, 0)
        gallery_layout.setSpacing(4)
        gallery_layout.addWidget(self.gallery_title)
        gallery_layout.addWidget(self.gallery_note)
        gallery_layout.addWidget(self.gallery, 1)
        self._boxes = (matrix_box, table_box, gallery_box)

        # matrix and table at their natural width; the gallery takes the rest; a panel too
        # narrow for all three scrolls sideways instead of squeezing them
        content = QWidget()
        row = QHBoxLayout(content)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(16)
        row.addWidget(matrix_box, 0)
        row.addWidget(table_box, 0)
        row.addWidget(gallery_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addWidget(self.headline)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(scroll, 1)

    # -- filling --
    def show_epoch_report(self, report: Any, run: Any) -> bool:
        return False  # the confusion matrix is of the test split: only at a run's end

    def show_final_report(self, report: ClassificationReport, run: Any) -> bool:
        self.set_report(report, run.bundle)
        return True

    def clear(self) -> None:
        self.report = None
        self.gallery.clear()

    def set_report(self, report: ClassificationReport, bundle: DataBundle | None) -> None:
        self.report = report
        self._fill_headline(report)
        self._fill_matrix(report)
        self._fill_table(report)
        self._fill_gallery(report, bundle)

    def _fill_headline(self, report: ClassificationReport) -> None:
        split = {"test": "Test", "val": "Validation", "train": "Training"}.get(report.split,
                                                                              report.split)
        muted = muted_color(self.palette()).name()
        self.headline.setText(
            f"<span style='font-size:15pt; font-weight:600'>{report.accuracy * 100:.1f}%</span>"
            f"&nbsp;&nbsp;{split.lower()} accuracy"
            f"<span style='color:{muted}'>&nbsp;&nbsp;·&nbsp;&nbsp;{report.correct:,} of "
            f"{report.total:,} {split.lower()} samples right&nbsp;&nbsp;·&nbsp;&nbsp;macro F1 "
            f"{report.macro['f1']:.2f}&nbsp;&nbsp;·&nbsp;&nbsp;chance "
            f"{100 / max(len(report.classes), 1):.0f}%</span>")

    def _fill_matrix(self, report: ClassificationReport) -> None:
        cm = report.confusion.tolist()
        k = len(cm)
        names = [str(n) for n in report.class_names[:k]]
        m = self.matrix
        m.clear()
        m.setRowCount(k)
        m.setColumnCount(k)
        fm = m.fontMetrics()
        # long names would make every column wide: then columns show the class number and the
        # rows "number  name", so the matrix stays square and compact
        short = max((fm.horizontalAdvance(n) for n in names), default=0) <= fm.horizontalAdvance(
            "000")
        for i, name in enumerate(names):
            row_label = name if short else \
                f"{i}  {fm.elidedText(name, Qt.TextElideMode.ElideRight, 130)}"
            column = QTableWidgetItem(name if short else str(i))
            column.setToolTip(f"predicted {name}")
            row = QTableWidgetItem(row_label)
            row.setToolTip(f"true {name}")
            row.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            m.setHorizontalHeaderItem(i, column)
            m.setVerticalHeaderItem(i, row)
        m.min_column = fm.horizontalAdvance(str(k - 1) if not short else max(names, key=len)) + 8
        for t in range(k):
            support = sum(cm[t])
            for p in range(k):
                count = cm[t][p]
                item = QTableWidgetItem(str(count))
                item.setData(Qt.ItemDataRole.UserRole, count)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / support if support else 0.0
                what = "right" if t == p else f"taken for {names[p]}"
                item.setToolTip(f"true {names[t]}, predicted {names[p]}: {count:,} sample(s)"
                                f" ({share:.0%} of the {names[t]} samples, {what})")
                m.setItem(t, p, item)
        self._color_matrix()
        m.fit_cells()
        m.updateGeometry()

    def _color_matrix(self) -> None:
        if self.report is None:
            return
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        muted = muted_color(palette)
        cm = self.report.confusion.tolist()
        for t, row in enumerate(cm):
            support = sum(row)
            for p, count in enumerate(row):
                item = self.matrix.item(t, p)
                if item is None:
                    continue
                if count == 0:
                    item.setBackground(QBrush(base))
                    item.setForeground(QBrush(_blend(muted, base, 0.35)))
                    continue
                share = count / support if support else 0.0
                hue = CORRECT_HUE if t == p else ERROR_HUE
                color = _blend(base, hue, 0.25 + 0.75 * min(1.0, share * (1 if t == p else 3)))
                item.setBackground(QBrush(color))
                item.setForeground(QBrush(text_color_on(color)))
                bold = QFont(item.font())
                bold.setBold(t != p)  # confusions are what a user looks for
                item.setFont(bold)

    def _fill_table(self, report: ClassificationReport) -> None:
        t = self.table
        rows = report.per_class
        t.setRowCount(len(rows))
        for r, row in enumerate(rows):
            is_macro = row["index"] is None
            cells = [row["name"], f"{row['precision']:.2f}", f"{row['recall']:.2f}",
                     f"{row['f1']:.2f}", f"{row['support']:,}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                if is_macro:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                t.setItem(r, c, item)
        t.resizeColumnsToContents()
        width = (t.horizontalHeader().length() + 2 * t.frameWidth()
                 + t.verticalScrollBar().sizeHint().width() + 4)
        t.setFixedWidth(width)

    def _fill_gallery(self, report: ClassificationReport, bundle: DataBundle | None) -> None:
        self.gallery.clear()
        wrong = report.misclassified_indices.tolist()
        names = report.class_names
        split = getattr(bundle, report.split, None) if bundle is not None else None
        normalization = bundle.normalization if bundle is not None else {}
        images = split is not None and normalization.get("kind") == "image"
        shown = wrong[:GALLERY_LIMIT] if images else []
        targets = report.targets if report.targets is not None else \
            (split.y if split is not None else None)
        fm = self.gallery.fontMetrics()
        widest = max((fm.horizontalAdvance(f"{names[int(targets[i])]} → "
                                           f"{names[int(report.predicted[i])]}")
                      for i in shown), default=0) if targets is not None else 0
        cell_w = THUMBNAIL + 16 if widest <= THUMBNAIL + 8 else THUMBNAIL + 44
        two_lines = False
        for i in shown:
            image = sample_image(split.x[i], normalization)
            if image is None:
                shown = []
                self.gallery.clear()
                break
            true_name = names[int(targets[i])] if targets is not None else "?"
            pred_name = names[int(report.predicted[i])]
            caption = f"{true_name} → {pred_name}"
            if fm.horizontalAdvance(caption) > cell_w - 8:  # long names: one per line
                two_lines = True
                caption = "\n".join(fm.elidedText(part, Qt.TextElideMode.ElideRight, cell_w - 8)
                                     for part in (true_name, f"→ {pred_name}"))
            item = QListWidgetItem(QIcon(thumbnail(image)), caption)
            item.setToolTip(f"{report.split} sample #{i}: a {true_name}, predicted "
                            f"{pred_name}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.gallery.addItem(item)
        self.gallery.setGridSize(QSize(cell_w, THUMBNAIL + (2 if two_lines else 1)
                                       * fm.lineSpacing() + 14))
        self.gallery.setVisible(bool(shown))
        self.gallery.setMinimumWidth(cell_w + 24 if shown else 0)
        total = len(wrong)
        if total == 0:
            self.gallery_title.setText("Misclassified: 0")
            self.gallery_note.setText(f"every {report.split} sample is right")
        elif shown:
            self.gallery_title.setText(
                f"Misclassified: {total:,}" + (f" (first {len(shown)} shown)"
                                               if total > len(shown) else ""))
            self.gallery_note.setText("true class → predicted class")
        else:
            self.gallery_title.setText(f"Misclassified: {total:,}")
            self.gallery_note.setText("(not images: nothing to picture)")
        self._color_note()

    def _color_note(self) -> None:
        self.gallery_note.setStyleSheet(f"color: {muted_color(self.palette()).name()}")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.report is not None:
            self._color_matrix()
            self._fill_headline(self.report)
            self._color_note()


# ---- forecast --------------------------------------------------------------------------------

class ForecastView(QWidget):
    """Actual vs forecast series with the last-value baseline; updated in place every epoch."""

    PREDICTED_COLOR = QColor("#F28E2B")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ForecastReport | None = None
        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.plot = pg.PlotWidget()
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        self.legend = item.addLegend(offset=(10, 10), labelTextSize="9pt")
        self.actual_curve = item.plot(name="actual")
        self.predicted_curve = item.plot(name="forecast")
        self.baseline_curve = item.plot(name="last value")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addWidget(self.headline)
        layout.addWidget(self.plot, 1)
        self._apply_theme()

    def _apply_theme(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        base = palette.color(QPalette.ColorRole.Base)
        dark = is_dark(palette)
        self.plot.setBackground(base)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(_blend(text, base, 0.45)))
            axis.setTextPen(pg.mkPen(text))
        actual = QColor("#7FB2E5") if dark else QColor("#2F6DB5")
        self.actual_curve.setPen(pg.mkPen(actual, width=1.5))
        self.predicted_curve.setPen(pg.mkPen(self.PREDICTED_COLOR, width=2))
        self.baseline_curve.setPen(pg.mkPen(muted_color(palette), width=1.3,
                                            style=Qt.PenStyle.DashLine))
        self.legend.setBrush(pg.mkBrush(QColor(base.red(), base.green(), base.blue(), 210)))
        self.legend.setPen(pg.mkPen(_blend(text, base, 0.7)))
        self.legend.setLabelTextColor(text)
        for _sample, label in self.legend.items:
            label.setText(label.text, color=text)
        if self.report is not None:
            self._fill_headline(self.report)

    def show_epoch_report(self, report: ForecastReport, run: Any) -> bool:
        self.set_report(report)  # the curves' data replaced in place: cheap every epoch
        return True

    def show_final_report(self, report: ForecastReport, run: Any) -> bool:
        self.set_report(report, autorange=True)
        return True

    def clear(self) -> None:
        self.report = None

    def set_report(self, report: ForecastReport, autorange: bool = False) -> None:
        """Put a report in the existing curves (no items are rebuilt: cheap every epoch)."""
        self.report = report
        x = np.asarray(report.steps, dtype=np.float64)
        self.actual_curve.setData(x, np.asarray(report.actual, dtype=np.float64))
        self.predicted_curve.setData(x, np.asarray(report.predicted, dtype=np.float64))
        self.baseline_curve.setData(x, np.asarray(report.baseline, dtype=np.float64))
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for curve, name in ((self.actual_curve, "actual"),
                            (self.predicted_curve, f"forecast (MSE {_fmt(report.mse)})"),
                            (self.baseline_curve,
                             f"last value (MSE {_fmt(report.baseline_mse)})")):
            label = self.legend.getLabel(curve)
            if label is not None:
                label.setText(name, color=text)
        self.legend.updateSize()
        item = self.plot.getPlotItem()
        unit = "" if report.levels != "change" else " (change from the window's last value)"
        item.setLabel("left", report.column + unit)
        item.setLabel("bottom", "row of the series")
        self._fill_headline(report)
        if autorange:
            item.enableAutoRange()

    def _fill_headline(self, report: ForecastReport) -> None:
        palette = self.palette()
        muted = muted_color(palette).name()
        split = {"test": "test", "val": "validation", "train": "training"}.get(report.split,
                                                                              report.split)
        if report.baseline_mse > 0:
            ratio = report.mse / report.baseline_mse
            if ratio <= 1:
                verdict = f"{(1 - ratio) * 100:.0f}% lower than repeating the last value"
                color = palette.color(QPalette.ColorRole.WindowText).name()
            else:
                verdict = f"{ratio:.1f}× the error of just repeating the last value"
                color = error_color(palette).name()
        else:
            verdict, color = "", muted
        note = {"estimated": " · levels inferred from the windows (errors exact)",
                "change": " · values are changes from the window's last value"}.get(
                    report.levels, "")
        steps = "row" if report.horizon == 1 else "rows"
        self.headline.setText(
            f"<b>{report.column}</b> forecast {report.horizon} {steps} ahead on the {split} "
            f"data&nbsp;&nbsp;·&nbsp;&nbsp;MSE <b>{_fmt(report.mse)}</b> vs last value "
            f"{_fmt(report.baseline_mse)}: <span style='color:{color}'>{verdict}</span>"
            f"<span style='color:{muted}'>{note}</span>")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()


def _fmt(value: float) -> str:
    """A number with 3-4 significant digits, whatever its size."""
    if value == 0 or 0.01 <= abs(value) < 10_000:
        return f"{value:.4g}"
    return f"{value:.3g}"


# ---- text ------------------------------------------------------------------------------------

class TextView(QWidget):
    """Generated text with a temperature slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sample_fn: Callable[[float], str] | None = None
        self._ticket = 0  # which request the shown text answers
        self._sampling = self._again = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        low, high = TEMPERATURE_RANGE
        self.slider.setRange(round(low * 10), round(high * 10))
        self.slider.setValue(round(DEFAULT_TEMPERATURE * 10))
        self.slider.setSingleStep(1)
        self.slider.setPageStep(2)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(5)
        self.slider.setMinimumWidth(160)
        self.slider.setMaximumWidth(320)
        self.slider.setToolTip("Low: safer, more repetitive text. High: more surprising text.")
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(self.value_label.fontMetrics().horizontalAdvance("0.00"))
        self.hint = QLabel("low: safe and repetitive · high: surprising")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Sample new text at this temperature")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setPlaceholderText("Press Generate to sample text from the trained network.")
        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(QLabel("Temperature"))
        controls.addWidget(self.slider)
        controls.addWidget(self.value_label)
        controls.addWidget(self.hint)
        controls.addStretch(1)
        controls.addWidget(self.generate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(controls)
        layout.addWidget(self.text, 1)
        # keyboard / wheel / page-step changes generate after a pause; a drag on release
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.refresh)
        self.slider.valueChanged.connect(self._value_changed)
        self.slider.sliderReleased.connect(self.refresh)
        self.generate_button.clicked.connect(self.refresh)
        self._value_changed(self.slider.value())
        self._color_hint()

    @property
    def temperature(self) -> float:
        return self.slider.value() / 10

    def _value_changed(self, _value: int) -> None:
        self.value_label.setText(f"{self.temperature:.1f}")
        if not self.slider.isSliderDown() and self.sample_fn is not None:
            self._debounce.start()

    def show_epoch_report(self, report: list[str], run: Any) -> bool:
        """The newest epoch's samples (shown through the sampler, off the GUI thread)."""
        self.set_sample_fn(lambda t, texts=report: "\n\n".join(texts))
        self.refresh()
        return True

    def show_final_report(self, report: list[str], run: Any) -> bool:
        """The run's samples; the slider then samples the trained model at its temperature."""
        model, bundle = run.model, run.bundle
        if model is None:
            return False
        self.set_sample_fn(lambda t: "\n\n".join(text_samples(model, bundle, t, n=2,
                                                               length=300)))
        self.text.setPlainText("\n\n".join(report))
        return True

    def clear(self) -> None:
        self.set_sample_fn(None)
        self.text.clear()

    def set_sample_fn(self, sample_fn: Callable[[float], str] | None) -> None:
        self.sample_fn = sample_fn
        self._ticket += 1  # a sample still running belongs to the old sampler: not shown
        self._again = False
        self.generate_button.setEnabled(sample_fn is not None and not self._sampling)

    def refresh(self) -> None:
        """Sample new text at the slider's temperature, on a background thread (a few hundred
        characters through a recurrent network take a noticeable fraction of a second).
        While one sample runs, a new request waits and then runs once, at the temperature the
        slider shows by then."""
        self._debounce.stop()
        if self.sample_fn is None:
            return
        if self._sampling:
            self._again = True
            return
        self._sampling, self._again = True, False
        self._ticket += 1
        ticket, sample_fn, temperature = self._ticket, self.sample_fn, self.temperature
        self.generate_button.setEnabled(False)
        self.generate_button.setText("Generating…")
        call_in_background(lambda: sample_fn(temperature),
                           lambda result: self._sampled(ticket, result), "layerforge-text",
                           owner=self)

    @property
    def busy(self) -> bool:
        """A sample is being generated."""
        return self._sampling

    def _sampled(self, ticket: int, result: object) -> None:
        self._sampling = False
        self.generate_button.setText("Generate")
        self.generate_button.setEnabled(self.sample_fn is not None)
        if ticket == self._ticket:  # else the sampler changed meanwhile (a new run, a clear)
            if isinstance(result, Exception):  # a broken model must not take the app down
                result = f"Could not generate text: {result}"
            self.text.setPlainText(str(result))
        if self._again:  # asked for again while this one ran (maybe of a newer sampler)
            self.refresh()

    def _color_hint(self) -> None:
        self.hint.setStyleSheet(f"color: {muted_color(self.palette()).name()}")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._color_hint()
