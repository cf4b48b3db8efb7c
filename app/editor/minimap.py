"""An overview of the whole graph over the canvas, with the visible part framed; click or
drag in it to move the canvas there. Shown when the graph doesn't fit the view.

It is small (a fraction of the canvas), can be dragged by its title bar to any corner or
place of the canvas and collapsed to its title bar; both are remembered in QSettings."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, QSettings, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (QFrame, QGraphicsView, QHBoxLayout, QLabel, QToolButton,
                               QVBoxLayout)

from app.editor.view import GraphView

MAX_SIZE = QSize(220, 150)
CANVAS_SHARE = (0.18, 0.22)  # of the canvas's width and height
MARGIN = 8  # from the canvas's edges
SETTINGS = "editor/minimap"


def share(offset: float, length: float) -> float:
    """``offset`` as a fraction of ``length``, within 0..1."""
    return min(1.0, max(0.0, offset / length)) if length > 0 else 0.0


class OverviewMap(QGraphicsView):
    """A small, non-interactive second view on the canvas's scene."""

    def __init__(self, view: GraphView, parent: QFrame) -> None:
        super().__init__(view.graph_scene, parent)
        self.main_view = view
        self.setInteractive(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setToolTip("Overview: click or drag to move the canvas")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def visible_rect(self) -> QRectF:
        """The part of the scene the main view shows."""
        return self.main_view.mapToScene(self.main_view.viewport().rect()).boundingRect()

    def fit(self, items: QRectF) -> None:
        self.fitInView(items.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        self.viewport().update()

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


class Minimap(QFrame):
    """The overview map under a title bar: drag the bar to move it, its arrow collapses it.

    ``place`` is where it sits in the canvas's free space, as fractions (0, 0) = top left to
    (1, 1) = bottom right, so that a corner stays a corner when the canvas is resized."""

    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.main_view = view
        self.setFrameShape(QFrame.Shape.Box)
        self.setAutoFillBackground(True)
        settings = QSettings()
        self.place = QPointF(settings.value(f"{SETTINGS}/x", 1.0, type=float),
                             settings.value(f"{SETTINGS}/y", 1.0, type=float))
        self._grab: QPoint | None = None  # where the title bar was pressed, while dragging
        self.toggle = QToolButton(autoRaise=True, checkable=True)
        self.toggle.setChecked(settings.value(f"{SETTINGS}/collapsed", False, type=bool))
        self.toggle.setFixedSize(16, 16)
        self.toggle.toggled.connect(self.set_collapsed)
        self.title = QLabel("Overview")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        self.title.setFont(font)
        self.title.setCursor(Qt.CursorShape.SizeAllCursor)
        self.title.setToolTip("Drag to move the overview")
        self.map = OverviewMap(view, self)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 1, 1, 1)
        bar.setSpacing(2)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.map, 1)
        view.horizontalScrollBar().valueChanged.connect(self.refresh)
        view.verticalScrollBar().valueChanged.connect(self.refresh)
        view.zoomChanged.connect(self.refresh)
        view.graph_scene.changed.connect(self.refresh)
        view.installEventFilter(self)
        self.set_collapsed(self.toggle.isChecked())

    def follow_scene(self, scene) -> None:
        """The canvas shows another document's scene: so does the map."""
        self.map.setScene(scene)
        scene.changed.connect(self.refresh)
        self.refresh()

    @property
    def collapsed(self) -> bool:
        return self.toggle.isChecked()

    def set_collapsed(self, collapsed: bool) -> None:
        """Show only the title bar (``True``) or the map under it; remembered."""
        self.toggle.setChecked(collapsed)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if collapsed else Qt.ArrowType.UpArrow)
        self.toggle.setToolTip("Show the overview" if collapsed else "Collapse the overview")
        self.map.setVisible(not collapsed)
        QSettings().setValue(f"{SETTINGS}/collapsed", collapsed)
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.main_view and event.type() == QEvent.Type.Resize:
            self.refresh()
        return False

    def visible_rect(self) -> QRectF:
        return self.map.visible_rect()

    def refresh(self, *_) -> None:
        items = self.main_view.graph_scene.itemsBoundingRect()
        needed = not items.isEmpty() and not self.visible_rect().contains(items)
        self.setVisible(needed)
        if not needed:
            return
        self.resize(self.wanted_size())
        if not self.collapsed:
            self.map.fit(items)
        self.reposition()

    def wanted_size(self) -> QSize:
        """A small share of the canvas, or the title bar alone when collapsed."""
        bar = self.layout().itemAt(0).sizeHint()
        if self.collapsed:
            return QSize(bar.width() + 2, bar.height() + 2)
        area = self.main_view.viewport().size()
        return QSize(min(MAX_SIZE.width(), int(area.width() * CANVAS_SHARE[0])),
                     min(MAX_SIZE.height(), int(area.height() * CANVAS_SHARE[1])))

    def free_space(self) -> QRectF:
        """Where the minimap's top-left corner may go, inside the canvas clear of its bars."""
        area = self.main_view.viewport().geometry()
        return QRectF(area.left() + MARGIN, area.top() + MARGIN,
                      max(0, area.width() - self.width() - 2 * MARGIN),
                      max(0, area.height() - self.height() - 2 * MARGIN))

    def reposition(self) -> None:
        free = self.free_space()
        self.move(round(free.left() + self.place.x() * free.width()),
                  round(free.top() + self.place.y() * free.height()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._grab = event.position().toPoint()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._grab is None:
            return
        free = self.free_space()
        top_left = self.mapToParent(event.position().toPoint()) - self._grab
        self.place = QPointF(share(top_left.x() - free.left(), free.width()),
                             share(top_left.y() - free.top(), free.height()))
        self.reposition()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._grab is None:
            return
        self._grab = None
        settings = QSettings()
        settings.setValue(f"{SETTINGS}/x", self.place.x())
        settings.setValue(f"{SETTINGS}/y", self.place.y())
