"""The canvas model-view: one QGraphicsItem per graph node and edge, kept in step with the
graph through its events. The scene never edits the graph directly: drags, wires and
deletions become graph commands pushed on the document."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QFontMetricsF, QPainter, QPainterPath,
                           QPainterPathStroker, QPalette, QPen)
from PySide6.QtWidgets import (QApplication, QGraphicsItem, QGraphicsObject,
                               QGraphicsPathItem, QGraphicsScene, QGraphicsSceneMouseEvent,
                               QStyleOptionGraphicsItem, QWidget)

from app.document import Document
from app.editor.block_preview import BlockPreview
from app.editor.style import category_color
from app.editor.wires import CardGrid, straight_path, wire_path
from graph.commands import Compound, Connect, Disconnect, RemoveNode
from graph.formatting import format_macs
from graph.layout import CARD_HEADER as HEADER_HEIGHT
from graph.layout import CARD_PAD, DEFAULT_DIRECTION, LAYER_GAP, card_rows
from graph.layout import CARD_ROW as ROW_HEIGHT
from graph.layout import CARD_WIDTH as NODE_WIDTH
from graph.model import Edge, GraphEvent, Node

PORT_RADIUS = 6.0
PORT_LABEL = 62.0  # room for a port's name beside its card (merges: in0, in1...)
CORNER = 7.0
LIVE_HEIGHT = 20.0
# Below this zoom (screen pixels per scene unit) text would be under 4 pixels high: cards and
# wires are drawn without it and ports without antialiasing. A zoomed-out view of a big graph
# repaints several times faster, and nothing readable is lost.
DETAIL_ZOOM = 0.3
CARD_TEXT_PT = 8.5   # a card's parameter lines and type name: its smallest text
TITLE_PT = 9.5


def detail_level(painter: QPainter) -> float:
    """How many screen pixels one scene unit covers where this painter draws."""
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the application palette is a dark theme."""
    palette = palette or QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def format_value(value) -> str:
    if isinstance(value, tuple):
        if len(set(value)) == 1 and len(value) == 2:
            return f"{value[0]}×{value[1]}" if value[0] != 0 else "0"
        return "×".join(str(v) for v in value) if len(value) <= 4 else str(list(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class PortItem(QGraphicsItem):
    """An input or output connector of a node card: inputs on its top edge and outputs on its
    bottom edge (top-to-bottom canvas), or left and right (left-to-right)."""

    def __init__(self, node_item: "NodeItem", name: str, is_output: bool) -> None:
        super().__init__(node_item)
        self.node_item, self.name, self.is_output = node_item, name, is_output
        self.highlight = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        # Painted once per zoom level: a big graph has a thousand ports to repaint otherwise.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.boundingRect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing,
                              detail_level(painter) >= DETAIL_ZOOM)
        base = self.node_item.color
        painter.setPen(QPen(base.darker(150), 1.5))
        fill = base.lighter(130) if self.highlight else QApplication.palette().color(
            QPalette.ColorRole.Base)
        painter.setBrush(fill)
        r = PORT_RADIUS + (2 if self.highlight else 0)
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event) -> None:
        self.highlight = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.highlight = False
        self.update()


class LiveStrip(QGraphicsItem):
    """The training overlay under a card: μ/σ of the activations and the gradient norm,
    coloured blue when gradients vanish and orange when they explode. Its own item, so the
    updates a few times a second repaint this strip, not the cached card above it."""

    def __init__(self, node_item: "NodeItem") -> None:
        super().__init__(node_item)
        self.stat = None  # backend.training.monitor.LayerStat
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.hide()

    def boundingRect(self) -> QRectF:
        return QRectF(6, 2, NODE_WIDTH - 12, LIVE_HEIGHT - 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        stat = self.stat
        if stat is None:
            return
        text = QApplication.palette().color(QPalette.ColorRole.Text)
        status = stat.status
        color = {"vanishing": QColor("#3b82f6"), "exploding": QColor("#f97316")}.get(
            status, QColor(text.red(), text.green(), text.blue(), 40))
        box = self.boundingRect()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        fill = QColor(color)
        fill.setAlpha(70 if status == "ok" else 150)
        painter.setBrush(fill)
        painter.drawRoundedRect(box, 4, 4)
        if detail_level(painter) < DETAIL_ZOOM:
            return
        grad = "–" if stat.grad_norm != stat.grad_norm else f"{stat.grad_norm:.1e}"
        act = "" if stat.act_mean != stat.act_mean else \
            f"μ {stat.act_mean:+.2f} σ {stat.act_std:.2f}  "
        font = QFont(painter.font())
        font.setPointSizeF(7.5)
        painter.setFont(font)
        painter.setPen(text)
        label = f"{act}∇ {grad}" + ("  vanishing" if status == "vanishing" else
                                    "  exploding" if status == "exploding" else "")
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)


class NodeItem(QGraphicsObject):
    """A node card: coloured category header, title, key parameters, ports."""

    def __init__(self, node: Node, direction: str = DEFAULT_DIRECTION) -> None:
        super().__init__()
        self.node_id = node.id
        self.direction = direction
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.totals = ""  # a block's parameters and MACs (from the analysis)
        self.width = NODE_WIDTH
        self.expanded = False  # a block card showing its inside (Expand Block in Place)
        self.preview: BlockPreview | None = None
        self.strip = LiveStrip(self)
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.edges: set["EdgeItem"] = set()
        self.refresh(node)
        self.setPos(*node.position)

    def refresh(self, node: Node) -> None:
        """Re-read title, key parameters and ports from the node (after an edit)."""
        self.prepareGeometryChange()
        spec = node.spec
        self.title = node.name
        self.type_name = node.type_label
        self.color = category_color(spec.category)
        self.lines = [f"{k}: {format_value(node.params[k])}" for k in spec.key_params]
        if node.block is not None:  # what is inside; the totals come with the analysis
            layers = len(node.block.graph) - len(spec.inputs) - len(spec.outputs)
            self.lines = [f"{layers} layer{'s' if layers != 1 else ''} inside", self.totals]
        in_ports = [p.name for p in spec.input_ports(node.params)]
        out_ports = [p.name for p in spec.output_ports(node.params)]
        self.height = HEADER_HEIGHT + card_rows(node, self.direction) * ROW_HEIGHT + CARD_PAD
        self.width = NODE_WIDTH
        self._show_inside(node)
        for ports, names, out in ((self.inputs, in_ports, False), (self.outputs, out_ports, True)):
            for name in list(ports):
                if name not in names:
                    self.scene() and self.scene().removeItem(ports[name])
                    del ports[name]
            for i, name in enumerate(names):
                port = ports.get(name) or PortItem(self, name, out)
                ports[name] = port
                port.setPos(self._port_position(i, len(names), out))
        self.show_port_names = len(in_ports) > 1 or len(out_ports) > 1
        # under the card; top to bottom, below the output port too: the wire runs behind it
        # like behind its shape label, which sits lower in the gap (EdgeItem.LABEL_AT)
        self.strip.setPos(0, self.height + (PORT_RADIUS if self.direction == "TB" else 0))
        self._place_in_grid()
        self.setToolTip("\n".join([f"{self.title} ({self.type_name})"] + self.errors
                                  + self.warnings))
        self.update()

    def _show_inside(self, node: Node) -> None:
        """Expanded: the block's inside below the card's lines (the card grows around it)."""
        if self.preview is not None:
            self.preview.setParentItem(None)
            if self.preview.scene() is not None:
                self.preview.scene().removeItem(self.preview)
            self.preview = None
        if not (self.expanded and node.block is not None):
            self.setZValue(1)
            return
        self.preview = BlockPreview(node.block.graph, self)
        self.preview.setPos(8, self.height - CARD_PAD + 2)
        self.height += self.preview.size.height() + 4
        self.width = max(NODE_WIDTH, self.preview.size.width() + 16)
        self.setZValue(2)  # over the cards it now covers

    def set_expanded(self, node: Node, expanded: bool) -> None:
        """Show (or hide) a block's inside in its card."""
        if expanded != self.expanded:
            self.expanded = expanded
            self.refresh(node)

    def _place_in_grid(self) -> None:
        """Tell the scene's wire router where this card is now."""
        scene = self.scene()
        if isinstance(scene, GraphScene):
            scene.cards.place(self.node_id, self.sceneBoundingRect())

    def _port_position(self, i: int, count: int, out: bool) -> QPointF:
        if self.direction == "TB":  # spread along the top (inputs) or bottom (outputs) edge
            return QPointF(self.width * (i + 1) / (count + 1), self.height if out else 0.0)
        return QPointF(self.width if out else 0.0, HEADER_HEIGHT + 5 + (i + 0.5) * ROW_HEIGHT)

    def set_direction(self, node: Node, direction: str) -> None:
        """Ports on top/bottom edges (``TB``) or left/right (``LR``)."""
        self.direction = direction
        self.refresh(node)

    def set_problems(self, errors: list[str], warnings: list[str]) -> None:
        if (errors, warnings) != (self.errors, self.warnings):
            self.errors, self.warnings = errors, warnings
            self.setToolTip("\n".join([f"{self.title} ({self.type_name})"] + errors + warnings))
            self.update()

    @property
    def live(self):
        """The training overlay's statistics (backend.training.monitor.LayerStat), or None."""
        return self.strip.stat

    def set_live(self, stat) -> None:
        """Training overlay: activation statistics and gradient norm (None hides it)."""
        if stat is None and self.strip.stat is None:
            return
        self.strip.stat = stat
        self.strip.setVisible(stat is not None)
        self.strip.update()

    def boundingRect(self) -> QRectF:
        box = QRectF(-3, -3, self.width + 6, self.height + 6)
        if self.show_port_names:  # the names stand outside the card, beside their ports
            for label in self.port_label_rects().values():
                box = box.united(label)
        return box

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = QApplication.palette()
        dark = is_dark(palette)
        rect = QRectF(0, 0, self.width, self.height)
        body = QColor(palette.color(QPalette.ColorRole.Base))
        body = body.lighter(135) if dark else body
        if self.errors:
            pen = QPen(QColor("#e5484d"), 2.5)
        elif self.isSelected():
            pen = QPen(palette.color(QPalette.ColorRole.Highlight), 2.5)
        else:
            pen = QPen(QColor(0, 0, 0, 60) if not dark else QColor(255, 255, 255, 50), 1)
        painter.setPen(pen)
        painter.setBrush(body)
        painter.drawRoundedRect(rect, CORNER, CORNER)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, self.width, HEADER_HEIGHT + CORNER), CORNER, CORNER)
        clip = QPainterPath()
        clip.addRect(QRectF(0, 0, self.width, HEADER_HEIGHT))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        painter.drawPath(header.intersected(clip))
        if detail_level(painter) < DETAIL_ZOOM:
            if self.errors:
                self._paint_error_dot(painter)
            return
        font = QFont(painter.font())
        font.setPointSizeF(TITLE_PT)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("white") if self.color.lightness() < 150 else QColor("#1a1a1a"))
        metrics = QFontMetricsF(font)
        type_font = QFont(font)
        type_font.setBold(False)
        type_font.setPointSizeF(CARD_TEXT_PT)
        type_width = QFontMetricsF(type_font).horizontalAdvance(self.type_name)
        # imported names share their start (m_layer1_1_conv2): the end is what tells them
        # apart; the type keeps its place on the right
        room = max(self.width * 0.4, self.width - 20 - type_width - 8)
        title = metrics.elidedText(self.title, Qt.TextElideMode.ElideLeft, room)
        painter.drawText(QRectF(10, 0, self.width - 20, HEADER_HEIGHT),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(type_font)
        type_room = self.width - 20 - metrics.horizontalAdvance(title) - 8  # what is left
        painter.drawText(QRectF(10, 0, self.width - 20, HEADER_HEIGHT),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         QFontMetricsF(type_font).elidedText(
                             self.type_name, Qt.TextElideMode.ElideRight, max(type_room, 20)))
        font = type_font  # the body's lines: regular, card text size
        text = palette.color(QPalette.ColorRole.Text)
        painter.setPen(text)
        font.setPointSizeF(CARD_TEXT_PT)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        for i, line in enumerate(self.lines):
            line = metrics.elidedText(line, Qt.TextElideMode.ElideRight, self.width - 36)
            painter.drawText(QRectF(16, HEADER_HEIGHT + 5 + i * ROW_HEIGHT, self.width - 32,
                                    ROW_HEIGHT), Qt.AlignmentFlag.AlignVCenter, line)
        if self.show_port_names:
            muted = QColor(text)
            muted.setAlpha(170)
            painter.setPen(muted)
            for name, box in self.port_label_rects().items():
                painter.drawText(box, Qt.AlignmentFlag.AlignVCenter
                                 | (Qt.AlignmentFlag.AlignRight
                                    if self.direction == "LR" and name in self.inputs
                                    else Qt.AlignmentFlag.AlignLeft), name)
        if self.errors:
            self._paint_error_dot(painter)

    def port_label_rects(self) -> dict[str, QRectF]:
        """Where each input's name is written: above the card beside its port (top to bottom),
        or left of the card above its wire (left to right), clear of the card's text."""
        rects = {}
        if len(self.inputs) > 1:
            for name, port in self.inputs.items():
                if self.direction == "TB":
                    rects[name] = QRectF(port.x() + PORT_RADIUS + 2, -ROW_HEIGHT, PORT_LABEL,
                                         ROW_HEIGHT - 2)
                else:
                    rects[name] = QRectF(-PORT_LABEL, port.y() - ROW_HEIGHT, PORT_LABEL - 4,
                                         ROW_HEIGHT - 4)
        if len(self.outputs) > 1:  # several outputs (Split, Chunk): below or right of the card
            for name, port in self.outputs.items():
                if self.direction == "TB":
                    rects[name] = QRectF(port.x() + PORT_RADIUS + 2, self.height + 2,
                                         PORT_LABEL, ROW_HEIGHT - 2)
                else:
                    rects[name] = QRectF(self.width + 4, port.y() - ROW_HEIGHT, PORT_LABEL - 4,
                                         ROW_HEIGHT - 4)
        return rects

    def _paint_error_dot(self, painter: QPainter) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#e5484d"))
        painter.drawEllipse(QPointF(self.width - 8, self.height - 8), 4, 4)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self._place_in_grid()
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)


_metrics_cache: dict[str, QFontMetricsF] = {}


def _label_metrics() -> QFontMetricsF:
    """The shape labels' font metrics (measured for every label at each re-analysis)."""
    key = QApplication.font().key()
    if key not in _metrics_cache:
        _metrics_cache.clear()
        _metrics_cache[key] = QFontMetricsF(_label_font())
    return _metrics_cache[key]


def _label_font() -> QFont:
    font = QFont(QApplication.font())
    font.setPointSizeF(7.5)
    return font


LABEL_ROOM = 130.0  # px a wire's bounding rectangle leaves around it for its label
LABEL_CHARS = 18    # a label this long fits in that room, beside its wire as well
LABEL_AT = 0.62     # where along a wire between neighbouring layers its label sits


class EdgeItem(QGraphicsPathItem):
    """A wire from an output port to an input port, labelled with the tensor shape it carries."""

    def __init__(self, edge: Edge, source: PortItem, target: PortItem) -> None:
        super().__init__()
        self.edge, self.source, self.target = edge, source, target
        self.label = ""
        self._box = QRectF()       # the label's, placed when first needed (painting)
        self._box_stale = False
        self.ok = True
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.update_path()

    def update_path(self) -> None:
        a, b = self.source.scenePos(), self.target.scenePos()
        direction = self.source.node_item.direction
        cards_in = self._cards_in()
        self.setPath(straight_path(a, b, direction) if cards_in is None else
                     wire_path(a, b, direction, cards_in))
        # a short wire's label sits below the middle of the gap, clear of the live strip
        # under the card above it (top to bottom)
        # between neighbouring layers (no card fits between) the label is in the gap: no card
        # can be under it; top to bottom it sits low, clear of the live strip above
        along = b.y() - a.y() if direction == "TB" else b.x() - a.x()
        self._long = not 0 < along < 2 * LAYER_GAP[direction]
        self._mid = self.path().pointAtPercent(
            LABEL_AT if direction == "TB" and not self._long else 0.5)
        self._place_label(cards_in)

    def _cards_in(self):
        """The scene's query for the cards in a rectangle, but this wire's two ends (None when
        the wire is in no scene yet)."""
        scene = self.scene()
        if scene is None:
            return None
        ends = (self.source.node_item.node_id, self.target.node_item.node_id)
        return lambda rect: scene.cards.cards_in(rect, ends)

    def _place_label(self, cards_in=None) -> None:
        """Place the label again when it is next needed. A re-analysis relabels every wire
        downstream of an edit (hundreds in a big graph) and most of them are off screen or
        too small to carry text; the bounding rectangle's margins hold a label of up to
        LABEL_ROOM pixels beside its wire, so only a longer one is placed at once."""
        if len(self.label) > LABEL_CHARS:
            box = self._label_box(cards_in)
            if not self._margins().contains(box):
                self.prepareGeometryChange()
            self._box, self._box_stale = box, False
        else:
            self._box_stale = True

    @property
    def label_box(self) -> QRectF:
        """Where the shape label is drawn (scene coordinates; empty without a label)."""
        if self._box_stale:
            self._box, self._box_stale = self._label_box(self._cards_in()), False
        return self._box

    def _margins(self) -> QRectF:
        return super().boundingRect().adjusted(-LABEL_ROOM, -LABEL_ROOM / 4, LABEL_ROOM,
                                               LABEL_ROOM / 4)

    def _label_box(self, cards_in=None) -> QRectF:
        """The shape label at the wire's middle, moved beside it where it would cover a card
        (a skip connection's lane runs close to the cards it passes)."""
        if not self.label:
            return QRectF()
        metrics = _label_metrics()
        w, h = metrics.horizontalAdvance(self.label) + 10, metrics.height() + 2
        mid = self._mid
        box = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
        if cards_in is not None and self._long and cards_in(box):
            shift = QPointF(w / 2 + 6, 0) if self.source.node_item.direction == "TB" else \
                QPointF(0, h / 2 + 4)
            for moved in (box.translated(shift), box.translated(-shift)):
                if not cards_in(moved):
                    return moved
        return box

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        # A selection box picks nodes; a wire that merely crosses it is not picked (else
        # Delete would cut wires between nodes the user did not select). Click selects.
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedChange and value and \
                any(not v.rubberBandRect().isNull() for v in (self.scene().views()
                                                                if self.scene() else [])):
            return False
        return super().itemChange(change, value)

    def set_label(self, text: str, ok: bool) -> None:
        if (text, ok) != (self.label, self.ok):
            relabel = text != self.label
            self.label, self.ok = text, ok
            self.setToolTip(text)
            if relabel:  # the route stays; the label's box may change
                self._place_label(self._cards_in())
            self.update()

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def boundingRect(self) -> QRectF:
        margins = self._margins()
        return margins if self._box_stale else margins | self._box

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = QApplication.palette()
        color = palette.color(QPalette.ColorRole.Highlight) if self.isSelected() else \
            QColor("#8a8f98") if self.ok else QColor("#e5484d")
        painter.setPen(QPen(color, 2.2 if self.isSelected() else 1.8))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if not self.label or detail_level(painter) < DETAIL_ZOOM:
            return
        painter.setFont(_label_font())
        box = self.label_box
        back = QColor(palette.color(QPalette.ColorRole.Window))
        back.setAlpha(230)
        painter.setPen(QPen(color, 1))
        painter.setBrush(back)
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.label)


class GraphScene(QGraphicsScene):
    """Items for every node and edge of a document's graph, updated from graph events."""

    message = Signal(str)

    def __init__(self, document: Document, parent=None,
                 direction: str = DEFAULT_DIRECTION) -> None:
        super().__init__(parent)
        self.document = document
        self.direction = direction
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._hover_port: PortItem | None = None
        self._syncing = False
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.cards = CardGrid()  # where the wires' router looks for cards in the way
        self.expanded: set[str] = set()  # block cards showing their inside (a view setting)
        self.rebuild()
        document.shownGraphChanged.connect(self._on_graph_event)
        document.analysisChanged.connect(self.refresh_analysis)
        document.shownChanged.connect(self.rebuild)  # a block was opened or closed

    # ---- model -> view -----------------------------------------------------------------
    def rebuild(self) -> None:
        self.clear()
        self.cards.clear()
        self.node_items.clear()
        self.edge_items.clear()
        for node in self.document.shown_graph.nodes:
            self._add_node(node)
        for edge in self.document.shown_graph.edges:
            self._add_edge(edge)
        self.refresh_analysis()

    def set_direction(self, direction: str) -> None:
        """Cards with ports on their top/bottom edges (``TB``) or left/right sides (``LR``)."""
        if direction == self.direction:
            return
        self.direction = direction
        graph = self.document.shown_graph
        for node_id, item in self.node_items.items():
            item.set_direction(graph.node(node_id), direction)
        for item in self.edge_items.values():
            item.update_path()

    def _add_node(self, node: Node) -> None:
        item = NodeItem(node, self.direction)
        if node.id in self.expanded:
            item.set_expanded(node, True)
        self.addItem(item)
        self.node_items[node.id] = item
        self.cards.place(node.id, item.sceneBoundingRect())

    def _add_edge(self, edge: Edge) -> None:
        src, dst = self.node_items.get(edge.source), self.node_items.get(edge.target)
        if src is None or dst is None:
            return
        s_port, t_port = src.outputs.get(edge.source_port), dst.inputs.get(edge.target_port)
        if s_port is None or t_port is None:
            return  # a wire into a port that no longer exists: validation reports it
        item = EdgeItem(edge, s_port, t_port)
        self.addItem(item)
        item.update_path()  # now it can see the cards in its way
        self.edge_items[edge] = item
        src.edges.add(item)
        dst.edges.add(item)

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edge_items.pop(edge, None)
        if item is None:
            return
        for end in (edge.source, edge.target):
            if end in self.node_items:
                self.node_items[end].edges.discard(item)
        self.removeItem(item)

    def _on_graph_event(self, event: GraphEvent) -> None:
        graph = self.document.shown_graph
        if event.kind == "node_added":
            self._add_node(graph.node(event.node_id))
        elif event.kind == "node_removed":
            item = self.node_items.pop(event.node_id, None)
            self.cards.remove(event.node_id)
            if item is not None:
                self.removeItem(item)
        elif event.kind == "edge_added":
            self._add_edge(event.edge)
        elif event.kind == "edge_removed":
            self._remove_edge(event.edge)
        elif event.kind == "block_changed":  # a definition changed: its instances' cards
            for node in graph.nodes:
                if node.block is not None and node.id in self.node_items:
                    self._refresh_item(node.id)
        elif event.kind in ("param_changed", "node_renamed"):
            self._refresh_item(event.node_id)
        elif event.kind == "node_moved":
            item = self.node_items[event.node_id]
            if (item.x(), item.y()) != tuple(event.value):
                self._syncing = True
                item.setPos(*event.value)
                self._syncing = False

    def set_expanded(self, node_ids, expanded: bool) -> list[str]:
        """Expand (or collapse) block cards in place; returns the blocks it changed."""
        graph = self.document.shown_graph
        changed = []
        for node_id in node_ids:
            node = graph.node(node_id) if graph.has_node(node_id) else None
            if node is None or node.block is None:
                continue
            (self.expanded.add if expanded else self.expanded.discard)(node_id)
            item = self.node_items[node_id]
            if item.expanded != expanded:
                item.set_expanded(node, expanded)
                for edge in item.edges:
                    edge.update_path()
                changed.append(node_id)
        return changed

    def _refresh_item(self, node_id: str) -> None:
        """Re-read a card from its node; rewire it if its ports changed."""
        item = self.node_items[node_id]
        ports_before = (list(item.inputs), list(item.outputs))
        item.refresh(self.document.shown_graph.node(node_id))
        if (list(item.inputs), list(item.outputs)) != ports_before:
            self._reattach(node_id)
        for edge in item.edges:
            edge.update_path()

    def _reattach(self, node_id: str) -> None:
        """A merge layer's ports changed: rebuild the wires touching it."""
        graph = self.document.shown_graph
        for edge in [e for e in self.edge_items if node_id in (e.source, e.target)]:
            self._remove_edge(edge)
        for edge in set(graph.edges_into(node_id)) | set(graph.edges_from(node_id)):
            self._add_edge(edge)

    def refresh_analysis(self) -> None:
        """Shape labels on wires and red outlines on nodes with errors."""
        analysis = self.document.shown_analysis
        problems: dict[str, tuple[list[str], list[str]]] = {k: ([], []) for k in self.node_items}
        for issue in analysis.issues:
            if issue.node_id in problems:
                problems[issue.node_id][0 if issue.severity == "error" else 1].append(
                    issue.message)
        for node_id, (errors, warnings) in problems.items():
            self.node_items[node_id].set_problems(errors, warnings)
        graph = self.document.shown_graph
        for node_id, item in self.node_items.items():  # a block card shows its totals
            node = graph.node(node_id) if graph.has_node(node_id) else None
            if node is not None and node.block is not None:
                info = analysis.info.get(node_id)
                totals = (f"{format_macs(info.params)} params · {format_macs(info.macs)} MACs"
                          if info is not None and info.outputs else "totals: connect it")
                if totals != item.totals:
                    item.totals = totals
                    item.refresh(node)
        for edge, item in self.edge_items.items():
            t = analysis.edge_type(edge)
            item.set_label(str(t) if t is not None else "?", t is not None and not any(
                i.port == edge.target_port for i in analysis.issues_for(edge.target)
                if i.severity == "error"))

    def set_live_stats(self, layers: dict | None) -> None:
        """Show (dict of node name -> LayerStat) or hide (None) the training overlay."""
        by_name = {item.title: item for item in self.node_items.values()}
        for name, item in by_name.items():
            item.set_live(None if layers is None else layers.get(name))

    def mark_failed(self, node_name: str, message: str) -> None:
        """Outline the node that raised during training, with the message on hover."""
        for item in self.node_items.values():
            if item.title == node_name:
                item.set_problems(item.errors + [message], item.warnings)

    # ---- selection ---------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        self.clearSelection()
        for node_id in node_ids:
            if node_id in self.node_items:
                self.node_items[node_id].setSelected(True)

    def delete_selection(self) -> None:
        """Delete the selected nodes (with their wires) and wires, as one undo step."""
        graph = self.document.shown_graph
        nodes = set(self.selected_node_ids())
        commands = [Disconnect(graph, e) for e in self.selected_edges()
                    if e.source not in nodes and e.target not in nodes]
        commands += [RemoveNode(graph, n) for n in nodes]
        if commands:
            count = len(nodes) + len(commands) - len(nodes)
            self.document.push(Compound(commands, f"Delete {count} item(s)"))

    # ---- wires and moves (view -> commands) ---------------------------------------------
    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self.start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)

    def start_wire(self, port: PortItem) -> None:
        """Begin a rubber-band wire from an output (or, backwards, from an input)."""
        self._wire_from = port
        self._wire = QGraphicsPathItem()
        self._wire.setPen(QPen(QColor("#3b82f6"), 2, Qt.PenStyle.DashLine))
        self._wire.setZValue(3)
        self.addItem(self._wire)
        self._update_wire(port.scenePos())

    def _update_wire(self, pos: QPointF) -> None:
        assert self._wire is not None and self._wire_from is not None
        a = self._wire_from.scenePos()
        a, b = (a, pos) if self._wire_from.is_output else (pos, a)
        self._wire.setPath(straight_path(a, b, self.direction))

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None:
            self.finish_wire(self._port_at(event.scenePos()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self.commit_moves()

    def finish_wire(self, target: PortItem | None) -> bool:
        """End the rubber band on ``target``: connect if allowed, else say why."""
        start, wire = self._wire_from, self._wire
        self._wire = self._wire_from = None
        if wire is not None:
            self.removeItem(wire)
        if start is None or target is None or target is start:
            return False
        if target.is_output == start.is_output:
            self.message.emit("connect an output (bottom edge) to an input (top edge)"
                              if self.direction == "TB" else
                              "connect an output (right side) to an input (left side)")
            return False
        out, inp = (start, target) if start.is_output else (target, start)
        edge = Edge(out.node_id, out.name, inp.node_id, inp.name)
        from graph.errors import GraphEditError
        try:
            command = Connect(self.document.shown_graph, edge)
        except GraphEditError as exc:
            self.message.emit(f"can't connect: {exc}")
            return False
        return self.document.push(command)

    def commit_moves(self) -> None:
        """After a drag: one MoveNodes command for every node whose item moved."""
        graph = self.document.shown_graph
        moved = {}
        for node_id, item in self.node_items.items():
            pos = (item.x(), item.y())
            if graph.has_node(node_id) and graph.node(node_id).position != pos:
                moved[node_id] = pos
        if moved:
            self.document.move_nodes(moved)
