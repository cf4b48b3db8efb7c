"""The Test tab's picture widgets: the frame with its region box, and the drawing canvas."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from backend.live.capture import PushSource

ROI_COLOR = QColor("#F5C211")


def qimage(array: np.ndarray) -> QImage:
    """Wrap a uint8 gray/RGB array (the caller keeps the array alive while it is painted)."""
    h, w = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_Grayscale8)
    return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGB888)


class VideoView(QWidget):
    """The frame, scaled to fit, with a movable/resizable region-of-interest box and the
    prediction written over it."""

    roiChanged = Signal(object)  # (x, y, w, h) fractions, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._array: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._image: QImage | None = None
        self.roi: tuple[float, float, float, float] | None = None
        self.roi_pixels: tuple[int, int, int, int] | None = None
        self.caption = ""
        self.status = ""
        self.placeholder = "Choose a source and a model, then press Start"
        self._drag: tuple[str, QPointF, tuple[float, float, float, float]] | None = None

    def sizeHint(self) -> QSize:
        return QSize(480, 300)

    def set_frame(self, array: np.ndarray | None, roi_pixels=None, caption: str = "",
                  status: str = "") -> None:
        self._array = array
        self._image = qimage(array) if array is not None else None
        self.roi_pixels, self.caption, self.status = roi_pixels, caption, status
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn (aspect kept, centred)."""
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _roi_rect(self) -> QRectF | None:
        target = self.image_rect()
        if self.roi_pixels is not None and self._image is not None:
            x, y, w, h = self.roi_pixels
            sx, sy = target.width() / self._image.width(), target.height() / self._image.height()
            return QRectF(target.x() + x * sx, target.y() + y * sy, w * sx, h * sy)
        if self.roi is not None:
            x, y, w, h = self.roi
            return QRectF(target.x() + x * target.width(), target.y() + y * target.height(),
                          w * target.width(), h * target.height())
        return None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1f22"))
        if self._image is None:
            painter.setPen(QColor("#b0b3b8"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self._image)
        rect = self._roi_rect()
        if rect is not None:
            painter.setPen(QPen(ROI_COLOR, 2, Qt.PenStyle.DashLine if self.roi is None
                                else Qt.PenStyle.SolidLine))
            painter.drawRect(rect)
            if self.roi is not None:  # the resize handle
                painter.fillRect(QRectF(rect.right() - 8, rect.bottom() - 8, 10, 10), ROI_COLOR)
        if self.caption:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.8)
            font.setBold(True)
            painter.setFont(font)
            box = painter.fontMetrics().boundingRect(self.caption).adjusted(-8, -4, 8, 4)
            origin = (rect.topLeft() if rect is not None else self.image_rect().topLeft())
            box.moveTopLeft(origin.toPoint() + QPointF(4, 4).toPoint())
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.caption)
        if self.status:
            painter.setFont(self.font())
            box = painter.fontMetrics().boundingRect(self.status).adjusted(-6, -3, 6, 3)
            target = self.image_rect()
            box.moveBottomLeft(QPointF(target.left() + 4, target.bottom() - 4).toPoint())
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("#e6e6e6"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.status)
        painter.end()

    # -- the ROI box with the mouse --
    def _fractions(self, pos: QPointF) -> tuple[float, float]:
        target = self.image_rect()
        return ((pos.x() - target.x()) / max(target.width(), 1.0),
                (pos.y() - target.y()) / max(target.height(), 1.0))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.roi is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        x, y, w, h = self.roi
        fx, fy = self._fractions(event.position())
        rect = self._roi_rect()
        near_corner = rect is not None and (QPointF(rect.bottomRight()) - event.position()
                                            ).manhattanLength() < 16
        mode = "resize" if near_corner else "move" if x <= fx <= x + w and y <= fy <= y + h \
            else "new"
        if mode == "new":
            self.roi = (fx, fy, 0.02, 0.02)
            mode = "resize"
        self._drag = (mode, event.position(), self.roi)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return super().mouseMoveEvent(event)
        mode, start, (x, y, w, h) = self._drag
        sx, sy = self._fractions(start)
        fx, fy = self._fractions(event.position())
        if mode == "move":
            x = min(max(x + fx - sx, 0.0), 1.0 - w)
            y = min(max(y + fy - sy, 0.0), 1.0 - h)
        else:
            w = min(max(w + fx - sx, 0.03), 1.0 - x)
            h = min(max(h + fy - sy, 0.03), 1.0 - y)
        self.roi = (x, y, w, h)
        self.roi_pixels = None  # show the box where the mouse put it until the next frame
        self.update()
        self.roiChanged.emit(self.roi)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.roiChanged.emit(self.roi)


def ink_prompt(class_names: list[str] | None = None) -> str:
    """What to ask for on a blank canvas: a digit for a digit classifier (or before the model
    is known), else the model's classes."""
    if not class_names or all(name.strip().isdigit() for name in class_names):
        return "Draw a digit"
    shown = ", ".join(class_names[:6]) + (", …" if len(class_names) > 6 else "")
    return f"Draw one of: {shown}"


class DrawCanvas(QWidget):
    """Write with the mouse: dark ink on white paper, handed to a PushSource as frames.

    Until there is ink (``has_ink``) the paper shows ``prompt`` and nothing is predicted:
    a blank page is no digit, whatever a classifier says about it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.image = QImage(280, 280, QImage.Format.Format_RGB888)
        self.pen_width = 22
        self.source: PushSource | None = None
        self.has_ink = False
        self.prompt = ink_prompt()
        self._last: QPointF | None = None
        self.clear()

    def clear(self) -> None:
        self.image.fill(QColor("white"))
        self.has_ink = False
        self._publish()
        self.update()

    def set_prompt(self, text: str) -> bool:
        """Ask for ``text`` on the blank page; True when it changed."""
        if text == self.prompt:
            return False
        self.prompt = text
        self.update()
        return True

    def _to_image(self, pos: QPointF) -> QPointF:
        side = min(self.width(), self.height())
        ox, oy = (self.width() - side) / 2, (self.height() - side) / 2
        return QPointF((pos.x() - ox) * 280 / side, (pos.y() - oy) * 280 / side)

    def stroke(self, a: QPointF, b: QPointF) -> None:
        """Draw a line in canvas coordinates (0..280) — the mouse and tests use this."""
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("black"), self.pen_width, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawLine(a, b)
        painter.end()
        self.has_ink = True
        self._publish()
        self.update()

    def array(self) -> np.ndarray:
        """The drawing as a BGR uint8 frame (a copy)."""
        ptr = self.image.constBits()
        rgb = np.frombuffer(ptr, np.uint8).reshape(280, self.image.bytesPerLine())[:, :840]
        return np.ascontiguousarray(rgb.reshape(280, 280, 3)[:, :, ::-1])

    def _publish(self) -> None:
        if self.source is not None:
            self.source.push(self.array())
        self.changed.emit()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1f22"))
        side = min(self.width(), self.height())
        paper = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        painter.drawImage(paper, self.image)
        if not self.has_ink:  # the prompt is painted over the paper, never into the image
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(font)
            painter.setPen(QColor("#8a8d91"))
            painter.drawText(paper, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.prompt)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._last = self._to_image(event.position())
        self.stroke(self._last, self._last)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._last is not None:
            point = self._to_image(event.position())
            self.stroke(self._last, point)
            self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._last = None
