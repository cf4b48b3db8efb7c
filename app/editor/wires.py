"""The shape of a wire on the canvas: a curve from an output port to an input port along the
layout's flow, or, when cards stand on the straight way (a skip connection past a block), a
route through a lane beside them.

Computed in "top to bottom" coordinates; a left-to-right canvas swaps x and y on the way in
and out, so one router serves both directions.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Hashable, Iterable

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath, QPainterPathStroker

from graph.layout import LANE_GAP

BEND = 34.0          # how far a wire runs along the flow before it turns into its lane
MAX_DETOURS = 6      # lanes tried outwards before the wire gives up and goes straight

CardsIn = Callable[[QRectF], list[QRectF]]  # the cards (other than the wire's ends) in a rect


class CardGrid:
    """Where the cards are, for the router: their scene rectangles in a coarse grid.

    Asking the scene (``QGraphicsScene.items(rect)``) was O(cards) per wire: every wire that
    changes shape leaves Qt's BSP index to be rebuilt at the next query, and opening a
    500-node graph took 4 s instead of 0.2 s."""

    CELL = 256.0

    def __init__(self) -> None:
        self._rects: dict[Hashable, QRectF] = {}
        self._cells: dict[tuple[int, int], set[Hashable]] = defaultdict(set)

    def _cells_of(self, rect: QRectF) -> Iterable[tuple[int, int]]:
        c = self.CELL
        for gx in range(math.floor(rect.left() / c), math.floor(rect.right() / c) + 1):
            for gy in range(math.floor(rect.top() / c), math.floor(rect.bottom() / c) + 1):
                yield gx, gy

    def place(self, key: Hashable, rect: QRectF) -> None:
        self.remove(key)
        self._rects[key] = QRectF(rect)
        for cell in self._cells_of(rect):
            self._cells[cell].add(key)

    def remove(self, key: Hashable) -> None:
        rect = self._rects.pop(key, None)
        if rect is not None:
            for cell in self._cells_of(rect):
                self._cells[cell].discard(key)

    def clear(self) -> None:
        self._rects.clear()
        self._cells.clear()

    def cards_in(self, rect: QRectF, exclude: Iterable[Hashable] = ()) -> list[QRectF]:
        """The rectangles of the cards (but ``exclude``) that overlap ``rect``."""
        keys: set[Hashable] = set()
        for cell in self._cells_of(rect):
            keys |= self._cells.get(cell, set())
        keys.difference_update(exclude)
        return [self._rects[k] for k in keys if self._rects[k].intersects(rect)]


def _swap(p: QPointF) -> QPointF:
    return QPointF(p.y(), p.x())


def _swap_rect(r: QRectF) -> QRectF:
    return QRectF(r.y(), r.x(), r.height(), r.width())


def straight_path(a: QPointF, b: QPointF, direction: str) -> QPainterPath:
    """A curve leaving ``a`` and entering ``b`` along the flow (down, or to the right)."""
    if direction == "LR":
        return _swapped(straight_path(_swap(a), _swap(b), "TB"))
    d = max(abs(b.y() - a.y()) * 0.5, 40.0)
    path = QPainterPath(a)
    path.cubicTo(a + QPointF(0, d), b - QPointF(0, d), b)
    return path


def outline(path: QPainterPath, width: float = 2.0) -> QPainterPath:
    """The area the drawn wire covers. (``QPainterPath.intersects`` treats a path as filled:
    a curve would "hit" every card between it and its chord.)"""
    stroker = QPainterPathStroker()
    stroker.setWidth(width)
    return stroker.createStroke(path)


def lane_path(a: QPointF, b: QPointF, lane: float) -> QPainterPath:
    """Down from ``a``, over to x = ``lane``, along it, and back in to ``b`` (top to bottom)."""
    path = QPainterPath(a)
    top, bottom = a.y() + BEND, b.y() - BEND
    path.cubicTo(QPointF(a.x(), top), QPointF(lane, a.y()), QPointF(lane, top))
    path.lineTo(lane, bottom)
    path.cubicTo(QPointF(lane, b.y()), QPointF(b.x(), bottom), b)
    return path


def wire_path(a: QPointF, b: QPointF, direction: str, cards_in: CardsIn) -> QPainterPath:
    """The wire from ``a`` to ``b``: straight when no card is in its way, else through the
    nearest free lane beside the cards that are."""
    if direction == "LR":
        return _swapped(wire_path(_swap(a), _swap(b), "TB",
                                  lambda r: [_swap_rect(c) for c in cards_in(_swap_rect(r))]))
    path = straight_path(a, b, "TB")
    if b.y() - a.y() < 2 * BEND + 1:
        return path  # neighbouring layers (or a wire going back up): nothing can stand between
    body = QRectF(min(a.x(), b.x()), a.y() + BEND, abs(b.x() - a.x()), b.y() - a.y() - 2 * BEND)
    line = outline(path)
    blockers = [c for c in cards_in(body.adjusted(-1, 0, 1, 0)) if line.intersects(c)]
    if not blockers:
        return path
    middle = (a.x() + b.x()) / 2
    left = min(c.left() for c in blockers) - LANE_GAP
    right = max(c.right() for c in blockers) + LANE_GAP
    for _ in range(MAX_DETOURS):
        free = []
        for lane in (left, right):
            in_lane = cards_in(QRectF(lane - 2, a.y() + BEND, 4, b.y() - a.y() - 2 * BEND))
            if not in_lane:
                free.append(lane)
            elif lane == left:
                left = min(c.left() for c in in_lane) - LANE_GAP
            else:
                right = max(c.right() for c in in_lane) + LANE_GAP
        if free:
            return lane_path(a, b, min(free, key=lambda x: (abs(x - middle), -x)))
    return path


def _swapped(path: QPainterPath) -> QPainterPath:
    """The same path with x and y exchanged (a mirror in the diagonal)."""
    out = QPainterPath()
    for i in range(path.elementCount()):
        e = path.elementAt(i)
        p = QPointF(e.y, e.x)
        if e.isMoveTo():
            out.moveTo(p)
        elif e.isLineTo():
            out.lineTo(p)
        elif e.isCurveTo():
            c2, end = path.elementAt(i + 1), path.elementAt(i + 2)
            out.cubicTo(p, QPointF(c2.y, c2.x), QPointF(end.y, end.x))
    return out
