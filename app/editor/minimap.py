"""An overview of the whole graph in a corner of the canvas, with the visible part framed;
click or drag in it to move the canvas there. Shown when the graph doesn't fit the view."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QFrame, QGraphicsView

from app.editor.view import GraphView

SIZE = (220, 140)


class Minimap(QGraphicsView):
    """A small, non-interactive second view on the canvas's scene."""

    def __init__(self, view: GraphView) -> None:
        super().__init__(view.graph_scene, view)
        self.main_view = view
        self.setInteractive(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.Box)
        self.setFixedSize(*SIZE)
        self.setToolTip("Overview: click or drag to move the canvas")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        view.horizontalScrollBar().valueChanged.connect(self.refresh)
        view.verticalScrollBar().valueChanged.connect(self.refresh)
        view.zoomChanged.connect(self.refresh)
        view.graph_scene.changed.connect(self.refresh)
        view.installEventFilter(self)
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.main_view and event.type() == QEvent.Type.Resize:
            self.refresh()
        return False

    def visible_rect(self) -> QRectF:
        """The part of the scene the main view shows."""
        return self.main_view.mapToScene(self.main_view.viewport().rect()).boundingRect()

    def refresh(self, *_) -> None:
        items = self.main_view.graph_scene.itemsBoundingRect()
        visible = self.visible_rect()
        needed = not items.isEmpty() and not visible.contains(items)
        self.setVisible(needed)
        if needed:
            self.fitInView(items.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
            self.viewport().update()
        self.reposition()

    def reposition(self) -> None:
        """Bottom-right corner of the canvas, clear of its scroll bar."""
        area = self.main_view.viewport().geometry()
        self.move(area.right() - self.width() - 8, area.bottom() - self.height() - 8)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        back = self.palette().color(QPalette.ColorRole.Base)
        back.setAlpha(235)
        painter.fillRect(rect, back)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        frame = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        painter.setPen(QPen(frame, 0))
        fill = QColor(frame)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.drawRect(self.visible_rect())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.main_view.centerOn(self.mapToScene(event.position().toPoint()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.main_view.centerOn(self.mapToScene(event.position().toPoint()))

    def wheelEvent(self, event) -> None:
        event.ignore()
