"""The Evaluation tab's page for a detector (issue 16): mAP headline, AP per class, and a
gallery of test images with the true boxes and the predicted ones, worst image first.

The report comes from ``backend.tasks.detection.detection_report``; this view only draws it.
An image's error count is its missed objects plus its false boxes at IoU 0.5 (a right box
of the wrong class counts as both), which is what puts it first in the gallery.
"""
from __future__ import annotations

from typing import Any

import torch
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel,
                               QListView, QListWidget, QListWidgetItem, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.editor.style import muted_color
from app.panels.report_views import _title, sample_image

GALLERY_LIMIT = 24
TILE = 128  # pixels of a gallery image: boxes on 64 px thumbnails are unreadable
TRUE_HUE = QColor("#3E9BC9")  # cerulean: what the image holds
PREDICTED_HUE = QColor("#E8703A")  # orange-red: what the detector said
IOU_MATCH = 0.5


def image_errors(predicted: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> int:
    """Missed objects + false boxes at IoU 0.5, greedily by score (same class only)."""
    from torchvision.ops import box_iou

    boxes, labels = predicted["boxes"], predicted["labels"]
    true_boxes, true_labels = target["boxes"], target["labels"]
    if len(boxes) == 0 or len(true_boxes) == 0:
        return len(boxes) + len(true_boxes)
    iou = box_iou(boxes.float(), true_boxes.float())
    iou[labels.view(-1, 1) != true_labels.view(1, -1)] = 0.0
    taken: set[int] = set()
    matched = 0
    for i in torch.argsort(predicted["scores"], descending=True).tolist():
        candidates = [(float(iou[i, j]), j) for j in range(len(true_boxes)) if j not in taken]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= IOU_MATCH:
            taken.add(best[1])
            matched += 1
    return (len(boxes) - matched) + (len(true_boxes) - matched)


def boxed_tile(image, predicted: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
               names: list[str], size: int = TILE) -> QPixmap:
    """The image scaled to ``size`` with true boxes (thin, cerulean) and predicted boxes
    (orange, with class and score)."""
    scale = size / max(image.width(), image.height())
    pixmap = QPixmap.fromImage(image.scaled(round(image.width() * scale),
                                            round(image.height() * scale),
                                            Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = painter.font()
    font.setPixelSize(10)
    painter.setFont(font)

    def rect(box) -> QRectF:
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        return QRectF(x1, y1, x2 - x1, y2 - y1)

    painter.setPen(QPen(TRUE_HUE, 1.5, Qt.PenStyle.DashLine))
    for box in target["boxes"]:
        painter.drawRect(rect(box))
    for box, label, score in zip(predicted["boxes"], predicted["labels"], predicted["scores"]):
        r = rect(box)
        painter.setPen(QPen(PREDICTED_HUE, 1.5))
        painter.drawRect(r)
        name = names[int(label)] if 0 <= int(label) < len(names) else str(int(label))
        text = f"{name} {float(score):.2f}"
        width = painter.fontMetrics().horizontalAdvance(text) + 4
        tag = QRectF(r.left(), max(0.0, r.top() - 12), width, 12)
        painter.fillRect(tag, PREDICTED_HUE)
        painter.setPen(QColor("white"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap


class DetectionView(QWidget):
    """mAP headline, AP per class, and test images with their boxes, worst first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = None
        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["class", "AP@[.5:.95]"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumWidth(240)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(TILE, TILE))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.gallery.setSpacing(4)
        self.gallery_title = _title("Test images, worst first")
        legend = QLabel(f"<span style='color:{TRUE_HUE.name()}'>- - true box</span>"
                        f"&nbsp;&nbsp;<span style='color:{PREDICTED_HUE.name()}'>▭ predicted "
                        f"(class, score)</span>")
        legend.setTextFormat(Qt.TextFormat.RichText)
        left = QVBoxLayout()
        left.addWidget(_title("Average precision per class"))
        left.addWidget(self.table, 1)
        right = QVBoxLayout()
        title_row = QHBoxLayout()
        title_row.addWidget(self.gallery_title)
        title_row.addStretch(1)
        title_row.addWidget(legend)
        right.addLayout(title_row)
        right.addWidget(self.gallery, 1)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addLayout(body, 1)

    # -- filling --
    def show_epoch_report(self, report: Any, run: Any) -> bool:
        return False  # the per-class table and gallery are of the test split: at the end

    def show_final_report(self, report, run: Any) -> bool:
        self.set_report(report, getattr(run, "bundle", None))
        return True

    def clear(self) -> None:
        self.report = None
        self.headline.clear()
        self.table.setRowCount(0)
        self.gallery.clear()

    def set_report(self, report, bundle) -> None:
        self.report = report
        m = report.metrics
        muted = muted_color(self.palette()).name()
        split = {"test": "test", "val": "validation"}.get(report.split, report.split)
        self.headline.setText(
            f"<span style='font-size:15pt; font-weight:600'>{m.get('map50', 0.0):.3f}</span>"
            f"&nbsp;&nbsp;{split} mAP@0.5<span style='color:{muted}'>&nbsp;&nbsp;·&nbsp;&nbsp;"
            f"mAP@[.5:.95] {m.get('map50_95', 0.0):.3f}&nbsp;&nbsp;·&nbsp;&nbsp;precision "
            f"{m.get('precision', 0.0):.2f}, recall {m.get('recall', 0.0):.2f}, F1 "
            f"{m.get('f1', 0.0):.2f}&nbsp;&nbsp;·&nbsp;&nbsp;centroid F1 "
            f"{m.get('centroid_f1', 0.0):.2f}</span>")
        self.table.setRowCount(len(report.per_class))
        for row, entry in enumerate(report.per_class):
            self.table.setItem(row, 0, QTableWidgetItem(str(entry["name"])))
            value = QTableWidgetItem(f"{entry['ap50_95']:.3f}")
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, value)
        self._fill_gallery(report, bundle)

    def _fill_gallery(self, report, bundle) -> None:
        self.gallery.clear()
        split = getattr(bundle, report.split, None) if bundle is not None else None
        normalization = getattr(bundle, "normalization", {}) or {}
        if split is None or not report.targets:
            self.gallery_title.setText("Test images: none to show")
            return
        errors = [image_errors(p, t) for p, t in zip(report.predictions, report.targets)]
        order = sorted(range(len(errors)), key=lambda i: (-errors[i], i))[:GALLERY_LIMIT]
        for i in order:
            image = sample_image(split.x[i], normalization)
            if image is None:
                break
            tile = boxed_tile(image, report.predictions[i], report.targets[i],
                              report.class_names)
            caption = f"#{i}: {errors[i]} error{'s' if errors[i] != 1 else ''}"
            item = QListWidgetItem(QIcon(tile), caption)
            item.setToolTip(f"{report.split} image #{i}: {len(report.targets[i]['boxes'])} "
                            f"objects, {len(report.predictions[i]['boxes'])} predicted boxes")
            self.gallery.addItem(item)
        wrong = sum(1 for e in errors if e)
        self.gallery_title.setText(f"Test images, worst first ({wrong} of {len(errors)} with "
                                   f"an error)")
