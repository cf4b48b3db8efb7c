"""A one-line text that changes often during a run (status, counts) without making the window
lay itself out again.

A QLabel's ``setText`` calls ``updateGeometry()``: in a layout that invalidates every layout up
to the main window, which then re-lays out its docks (measured while training: ~15 layout
passes a second up to QMainWindow, and a third of the GUI thread's time). Here the label
sits in a container without a layout, so the change stops at the container: only the text
is repainted. Text too long for the width is elided; the whole text is in the tooltip.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QTabWidget, QWidget


class StatusLine(QWidget):
    """``setText``/``text`` like a QLabel; a fixed one-line height, any width."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 minimum_width: int = 0) -> None:
        super().__init__(parent)
        self.label = QLabel(self)  # no layout: its geometry is set in resizeEvent
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self._text = ""
        self.preferred_width = 0
        height = self.label.fontMetrics().height() + 4
        self.setFixedHeight(height)
        self.setMinimumWidth(minimum_width)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """One line high; ``preferred_width`` wide when set (in a tab widget's corner, which
        bounds its corner widget's hint by the room beside the tabs: a huge one fills it)."""
        hint = super().sizeHint()
        return QSize(self.preferred_width or hint.width(), self.height())

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (the QLabel name)
        if text == self._text:
            return
        self._text = text
        self._show()

    def setStyleSheet(self, sheet: str) -> None:  # noqa: N802 - colours go to the label
        self.label.setStyleSheet(sheet)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())
        self._show()

    def _show(self) -> None:
        width = max(self.width(), 1)
        shown = self.label.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight,
                                                    width)
        self.label.setText(shown)
        self.setToolTip(self._text if shown != self._text else "")


class TabsWithStatus(QTabWidget):
    """A tab widget with a StatusLine in the room right of its tabs (a line of height saved
    below them). QTabWidget gives a corner widget its size hint unbounded: the status's hint
    is set to that room at each resize."""

    def __init__(self, status: StatusLine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setCornerWidget(status, Qt.Corner.TopRightCorner)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        room = event.size().width() - self.tabBar().sizeHint().width() - 12
        if room != self.status.preferred_width:
            self.status.preferred_width = max(room, 40)
            self.status.updateGeometry()
        super().resizeEvent(event)  # lays the tab bar and the corner out with it
