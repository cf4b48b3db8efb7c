"""A block card expanded in place: its inside drawn in the card, read-only.

Edit > Expand Block in Place shows what a block holds without leaving the network: its
inner layers as small cards in rows (one row per depth, as the data flows), the wires between
them, and its ports. Open Block (double-click) is where the inside is edited; this is a
view, so it holds nothing but what it drew from the block's graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.editor.style import category_color
from graph.model import Graph

MINI_WIDTH = 150.0
LANE = 6.0  # a wire that skips rows runs beside the cards it passes
MINI_HEIGHT = 20.0
ROW_GAP = 14.0
COLUMN_GAP = 8.0
PAD = 8.0
TEXT_PT = 7.5
PORT_TYPES = ("Input", "Output")


@dataclass
class MiniCard:
    """One inner node as the preview draws it."""

    node_id: str
    text: str
    color: QColor
    rect: QRectF
    is_port: bool


def mini_layout(graph: Graph) -> tuple[list[MiniCard], list[tuple[str, str]], QRectF]:
    """Cards in rows by depth (longest path from an input), ordered within a row by where
    they sit in the block, the wires between them, and the bounding rectangle."""
    g = graph.nx_view()
    depth: dict[str, int] = {}
    for node_id in nx.topological_sort(g) if nx.is_directed_acyclic_graph(g) else g.nodes:
        depth[node_id] = max((depth.get(p, 0) + 1 for p in g.predecessors(node_id)), default=0)
    rows: dict[int, list] = {}
    for node in graph.nodes:
        rows.setdefault(depth.get(node.id, 0), []).append(node)
    widest = max((len(r) for r in rows.values()), default=1)
    width = widest * MINI_WIDTH + (widest - 1) * COLUMN_GAP
    cards = []
    for level, nodes in sorted(rows.items()):
        nodes.sort(key=lambda n: (n.position[0], n.name))
        row_width = len(nodes) * MINI_WIDTH + (len(nodes) - 1) * COLUMN_GAP
        x = (width - row_width) / 2
        y = level * (MINI_HEIGHT + ROW_GAP)
        for node in nodes:
            is_port = node.type in PORT_TYPES
            text = node.name if is_port else f"{node.name} · {node.type_label}"
            cards.append(MiniCard(node.id, text, category_color(node.spec.category),
                                  QRectF(x, y, MINI_WIDTH, MINI_HEIGHT), is_port))
            x += MINI_WIDTH + COLUMN_GAP
    edges = [(e.source, e.target) for e in graph.edges]
    height = (max(rows, default=0) + 1) * (MINI_HEIGHT + ROW_GAP) - ROW_GAP
    return cards, edges, QRectF(0, 0, width, height)


class BlockPreview(QGraphicsItem):
    """The inside of a block, drawn under its card's header (a child of the card)."""

    def __init__(self, graph: Graph, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.cards, self.edges, inner = mini_layout(graph)
        self.wires, lanes = self._route()  # once: paint only draws them
        self.size = QRectF(0, 0, inner.width() + 2 * PAD + LANE * lanes + (PAD if lanes else 0),
                           inner.height() + 2 * PAD)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks reach the card

    def boundingRect(self) -> QRectF:
        return self.size

    def _route(self) -> tuple[list[QPainterPath], int]:
        """The wires, and how many side lanes they use: a wire to the next row is a short
        S-curve; one that skips rows (a residual's shortcut) leaves its card's side and runs
        down beside the cards it passes."""
        by_id = {c.node_id: c.rect for c in self.cards}
        paths, lanes = [], 0
        for source, target in self.edges:
            a, b = by_id.get(source), by_id.get(target)
            if a is None or b is None:
                continue
            between = [c.rect for c in self.cards if a.bottom() < c.rect.top() < b.top()]
            if not between:
                start, end = QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top())
                path = QPainterPath(start)
                bend = max(6.0, (end.y() - start.y()) / 2)
                path.cubicTo(start + QPointF(0, bend), end - QPointF(0, bend), end)
            else:
                lanes += 1
                x = max(r.right() for r in [a, b, *between]) + LANE * lanes
                start, end = QPointF(a.right(), a.center().y()), QPointF(b.right(), b.center().y())
                path = QPainterPath(start)
                path.lineTo(x - LANE, start.y())
                path.quadTo(x, start.y(), x, start.y() + LANE)
                path.lineTo(x, end.y() - LANE)
                path.quadTo(x, end.y(), x - LANE, end.y())
                path.lineTo(end)
            paths.append(path)
        return paths, lanes

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = QApplication.palette()
        text = palette.color(QPalette.ColorRole.Text)
        panel = QColor(palette.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(QPen(QColor(text.red(), text.green(), text.blue(), 50), 1,
                            Qt.PenStyle.DashLine))
        painter.setBrush(panel)
        painter.drawRoundedRect(self.size, 5, 5)
        painter.translate(PAD, PAD)
        wire = QColor(text)
        wire.setAlpha(140)
        painter.setPen(QPen(wire, 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for path in self.wires:
            painter.drawPath(path)
        font = QFont(painter.font())
        font.setPointSizeF(TEXT_PT)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        body = QColor(palette.color(QPalette.ColorRole.Base))
        for card in self.cards:
            if card.is_port:
                painter.setPen(QPen(wire, 1))
                painter.setBrush(body)
                painter.drawRoundedRect(card.rect, MINI_HEIGHT / 2, MINI_HEIGHT / 2)
            else:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(body)
                painter.drawRoundedRect(card.rect, 3, 3)
                painter.setBrush(card.color)
                painter.drawRoundedRect(QRectF(card.rect.topLeft(), QPointF(
                    card.rect.left() + 5, card.rect.bottom())), 2, 2)
                painter.setPen(QPen(QColor(text.red(), text.green(), text.blue(), 60), 1))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(card.rect, 3, 3)
            painter.setPen(text)
            box = card.rect.adjusted(9, 0, -4, 0)
            painter.drawText(box, Qt.AlignmentFlag.AlignVCenter | (
                Qt.AlignmentFlag.AlignHCenter if card.is_port else Qt.AlignmentFlag.AlignLeft),
                metrics.elidedText(card.text, Qt.TextElideMode.ElideRight, box.width()))
