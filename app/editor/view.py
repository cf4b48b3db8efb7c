"""The canvas widget: zoom around the cursor, pan (middle-drag or space-drag), rubber-band
selection, drops from the palette and the Tab quick-add search."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPalette, QWheelEvent
from PySide6.QtWidgets import (QApplication, QFrame, QGraphicsView, QLineEdit, QListWidget,
                               QListWidgetItem, QVBoxLayout, QWidget)

from app.editor.mime import BLOCK_MIME, LAYER_MIME
from app.editor.scene import CARD_TEXT_PT, GraphScene, is_dark
from graph.commands import AddNode
from graph.layers import CATALOGUE
from graph.layers.search import search

MIN_SCALE, MAX_SCALE = 0.1, 3.0
EMPTY_CANVAS_HINT = ("Drag layers here from the Layers panel, or double-click to search.\n"
                     "Start with an Input, end with an Output, and wire them up.")
READABLE_PX = 9.0  # a card's smallest text at the zoom a network opens at
MARGIN = 60.0      # scene units around the network when it is shown


class QuickAddPopup(QFrame):
    """Search-as-you-type list of layers; Enter adds the chosen one."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit(placeholderText="Add layer…")
        self.list = QListWidget()
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(240, 300)
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._accept_current)
        self.list.itemActivated.connect(lambda item: self._accept(item.text()))
        self.set_filter("")

    def set_filter(self, text: str) -> None:
        self.list.clear()
        for type_name in search(text):  # best match first: Enter takes it
            item = QListWidgetItem(type_name)
            item.setToolTip(CATALOGUE[type_name].description)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            row = self.list.currentRow() + (1 if event.key() == Qt.Key.Key_Down else -1)
            self.list.setCurrentRow(max(0, min(row, self.list.count() - 1)))
            return
        super().keyPressEvent(event)

    def _accept_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._accept(item.text())

    def _accept(self, type_name: str) -> None:
        self.close()
        self.chosen.emit(type_name)


class GraphView(QGraphicsView):
    """Shows a GraphScene; the user's gestures become scene/document edits."""

    zoomChanged = Signal(float)
    layerAdded = Signal(str)  # the type of a layer the user added (the palette's Recent)
    blockDropped = Signal(str, QPointF)  # a palette block's key, where it was dropped (scene)

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.graph_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        # the dotted background is drawn once per view change, not under every repaint (the
        # live strips repaint the whole network a few times a second while training)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAcceptDrops(True)
        self.setSceneRect(QRectF(-50_000, -50_000, 100_000, 100_000))
        self._pan_from: QPoint | None = None
        self._space = False
        self._quick_add_at = QPointF()

    def set_graph_scene(self, scene: GraphScene) -> None:
        """Show another document's scene in this same widget (its size in the window stays)."""
        self.graph_scene = scene
        self.setScene(scene)
        self.resetCachedContent()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.resetCachedContent()  # the cached background has the old theme's colours
        super().changeEvent(event)

    # ---- zoom ----------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = max(MIN_SCALE, min(MAX_SCALE, factor))
        self.scale(factor / self.zoom, factor / self.zoom)
        self.zoomChanged.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * 1.15 ** steps)  # anchored under the mouse

    def zoom_to_fit(self) -> None:
        """Show every node, at most at 100% so a small graph is not blown up."""
        items = self.graph_scene.itemsBoundingRect()
        if items.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        self.fitInView(items.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN),
                       Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.set_zoom(1.0)
        self.centerOn(items.center())
        self.zoomChanged.emit(self.zoom)

    def readable_zoom(self) -> float:
        """The zoom at which a card's smallest text is READABLE_PX pixels tall on this screen."""
        return READABLE_PX / (CARD_TEXT_PT * self.logicalDpiY() / 72.0)

    def show_start(self) -> None:
        """How a network opens: all of it when that can be read, else its start (the inputs:
        top, or left) at the smallest readable zoom; Zoom to Fit shows the rest."""
        items = self.graph_scene.itemsBoundingRect()
        self.zoom_to_fit()
        readable = min(1.0, self.readable_zoom())
        if items.isEmpty() or self.zoom >= readable:
            return
        self.set_zoom(readable)
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        starts = QRectF()
        for node_id, item in self.graph_scene.node_items.items():
            if not self.graph_scene.document.shown_graph.edges_into(node_id):
                starts = starts.united(item.sceneBoundingRect())
        if self.graph_scene.direction == "TB":
            x = starts.center().x() if items.width() > seen.width() else items.center().x()
            self.centerOn(x, items.top() - MARGIN + seen.height() / 2)
        else:
            y = starts.center().y() if items.height() > seen.height() else items.center().y()
            self.centerOn(items.left() - MARGIN + seen.width() / 2, y)

    # ---- pan -----------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.pan(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def pan(self, dx: int, dy: int) -> None:
        """Move the picture by (dx, dy) pixels."""
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - dx)
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - dy)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Tab:
            self.open_quick_add(self.mapFromGlobal(self.cursor().pos()))
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab opens the quick-add search instead of moving focus

    # ---- adding layers -------------------------------------------------------------------
    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.itemAt(event.position().toPoint()) is None:
            self.open_quick_add(event.position().toPoint())
            return
        super().mouseDoubleClickEvent(event)

    def open_quick_add(self, view_pos: QPoint) -> QuickAddPopup:
        """The Tab / double-click search; the chosen layer lands at ``view_pos``."""
        if not self.rect().contains(view_pos):
            view_pos = self.rect().center()
        self._quick_add_at = self.mapToScene(view_pos)
        popup = QuickAddPopup(self)
        popup.chosen.connect(lambda t: self.add_layer(t, self._quick_add_at))
        popup.move(self.mapToGlobal(view_pos))
        popup.show()
        popup.search.setFocus()
        self.quick_add = popup
        return popup

    def add_layer(self, type_name: str, scene_pos: QPointF) -> str | None:
        """Add a layer centred at ``scene_pos``; returns its node id."""
        command = AddNode(self.graph_scene.document.shown_graph, type_name,
                          (round(scene_pos.x() - 95), round(scene_pos.y() - 25)))
        if self.graph_scene.document.push(command):
            self.graph_scene.select_nodes([command.node_id])
            self.layerAdded.emit(type_name)
            return command.node_id
        return None

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or event.mimeData().hasFormat(BLOCK_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()  # files dropped on the canvas go up to the main window

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        at = self.mapToScene(event.position().toPoint())
        if event.mimeData().hasFormat(LAYER_MIME):
            type_name = bytes(event.mimeData().data(LAYER_MIME)).decode("utf-8")
            self.add_layer(type_name, at)
            event.acceptProposedAction()
        elif event.mimeData().hasFormat(BLOCK_MIME):
            self.blockDropped.emit(bytes(event.mimeData().data(BLOCK_MIME)).decode("utf-8"), at)
            event.acceptProposedAction()
        else:
            event.ignore()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """An empty canvas says how to begin."""
        if self.graph_scene.node_items:
            return
        painter.save()
        painter.resetTransform()
        color = QColor(QApplication.palette().color(QPalette.ColorRole.Text))
        color.setAlpha(150)
        painter.setPen(color)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.drawText(QRectF(self.viewport().rect()), Qt.AlignmentFlag.AlignCenter
                         | Qt.TextFlag.TextWordWrap, EMPTY_CANVAS_HINT)
        painter.restore()

    # ---- background ----------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        palette = QApplication.palette()
        base = palette.color(QPalette.ColorRole.Window)
        painter.fillRect(rect, base.darker(108) if not is_dark(palette) else base.darker(130))
        if self.zoom < 0.35:
            return  # dots would be noise when zoomed far out
        dot = QColor(palette.color(QPalette.ColorRole.Text))
        dot.setAlpha(40)
        painter.setPen(dot)
        step = 24
        left, top = int(rect.left()) - int(rect.left()) % step, int(rect.top()) - int(rect.top()) % step
        points = [QPointF(x, y) for x in range(left, int(rect.right()) + 1, step)
                  for y in range(top, int(rect.bottom()) + 1, step)]
        if len(points) < 40_000:
            painter.drawPoints(points)
