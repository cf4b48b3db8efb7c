"""Saving the training curves: the current run's values as CSV, the plot area as a PNG, and
the toolbar's file dialogs for both (``CurveExportDialogs``). Files are written atomically."""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Callable

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMessageBox

from graph.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from app.panels.curve_data import LiveCurveData
    from app.panels.curves import TrainingCurves


def curves_csv(data: LiveCurveData) -> str:
    """The points of ``data`` as two CSV tables separated by one blank line (the format is
    described at ``TrainingCurves.export_csv``)."""

    def cell(v: float) -> str:
        return "" if math.isnan(v) else repr(float(v))

    out = io.StringIO()
    out.write("step,loss,smoothed_loss,lr\n")
    b = data.batches
    for step, loss, smooth, lr in zip(*(b.column(i).tolist() for i in range(4))):
        out.write(f"{int(step)},{cell(loss)},{cell(smooth)},{cell(lr)}\n")
    out.write("\nepoch,train_loss,val_loss,train_metric,val_metric\n")
    e = data.epochs
    for epoch, *values in zip(*(e.column(i).tolist() for i in range(5))):
        out.write(f"{int(epoch) + 1}," + ",".join(cell(v) for v in values) + "\n")
    return out.getvalue()


def write_curves_csv(path: str, data: LiveCurveData) -> None:
    """Write ``curves_csv(data)`` to ``path`` atomically."""
    atomic_write_bytes(path, curves_csv(data).encode("utf-8"))


def render_plots(view: pg.GraphicsLayoutWidget, background: QColor,
                 scale: float) -> QImage:
    """``view`` as the user sees it on ``background``, rendered at ``scale`` x its size
    (sharp text and lines on a report or a high-dpi screen)."""
    if not view.isVisible() and (view.width() < 960 or view.height() < 600):
        # never laid out (exported from a hidden panel): give it a size a reader can use;
        # a hidden widget gets its resize event only when shown, and pyqtgraph lays the
        # plots out in that handler (which ignores its argument)
        view.resize(max(view.width(), 960), max(view.height(), 600))
        view.resizeEvent(None)
    source = view.sceneRect()
    image = QImage(round(source.width() * scale), round(source.height() * scale),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)  # logical coordinates; pens and text scale with it
    image.fill(background)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    view.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
    painter.end()
    return image


def write_png(path: str, image: QImage) -> None:
    """Write ``image`` as a PNG to ``path`` atomically."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError(f"could not encode the curves as PNG for {path}")
    buffer.close()
    atomic_write_bytes(path, bytes(data.data()))


class CurveExportDialogs:
    """The "Export PNG…"/"Export CSV…" buttons' work: ask for a file name (adding the suffix
    if missing), export, and warn if the file could not be written."""

    def __init__(self, curves: TrainingCurves) -> None:
        self._curves = curves

    def ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self._curves, "Export training curves",
                                              "training-curves.png", "PNG image (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self._export(self._curves.export_png, path)

    def ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self._curves, "Export training values",
                                              "training-curves.csv", "CSV file (*.csv)")
        if path:
            if not path.lower().endswith(".csv"):
                path += ".csv"
            self._export(self._curves.export_csv, path)

    def _export(self, export: Callable[[str], None], path: str) -> None:
        try:
            export(path)
        except OSError as exc:
            QMessageBox.warning(self._curves, "Export failed",
                                f"Could not write {path}:\n{exc}\n\nChoose another folder "
                                "or file name.")
