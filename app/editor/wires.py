"""The shape of a wire on the canvas: a curve from an output port to an input port along the
layout's flow, or, when cards stand on the straight way (a skip connection past a block), a
route through a lane beside them.

Computed in "top to bottom" coordinates; a left-to-right canvas swaps x and y on the way in
and out, so one router serves both directions.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath

from graph.layout import LANE_GAP

BEND = 34.0          # how far a wire runs along the flow before it turns into its lane
MAX_DETOURS = 6      # lanes tried outwards before the wire gives up and goes straight

CardsIn = Callable[[QRectF], list[QRectF]]  # the cards (other than the wire's ends) in a rect


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
    blockers = [c for c in cards_in(body.adjusted(-1, 0, 1, 0)) if path.intersects(c)]
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
