"""The bottom panels' tab widget: every panel in a scroll area, so that a short panel area
(a 1280x720 window) scrolls a tall panel instead of growing over the canvas.

Without it the area could not be made shorter than its tallest page's minimum (the Training
page's form, buttons and curves: ~300 px), and the canvas got less room than the panels.
Callers keep working with the panels themselves: ``setCurrentWidget(panel)``,
``currentWidget()`` and ``widget(i)`` speak of the panel, not of its scroll area.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


class PanelTabs(QTabWidget):
    """A QTabWidget whose pages scroll when the area is smaller than they need."""

    def addTab(self, panel: QWidget, label: str) -> int:  # noqa: N802 (Qt name)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        area.setWidget(panel)
        return super().addTab(area, label)

    def set_page(self, index: int, panel: QWidget) -> None:
        """Put ``panel`` in tab ``index`` in place of its page (a placeholder), keeping the
        tab, its label and the current tab."""
        area = super().widget(index)
        old = area.takeWidget()
        area.setWidget(panel)
        if old is not None:
            old.deleteLater()

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def currentWidget(self) -> QWidget | None:  # noqa: N802 (Qt name)
        return self.widget(self.currentIndex())

    def indexOf(self, panel: QWidget) -> int:  # noqa: N802 (Qt name)
        for i in range(self.count()):
            if self.widget(i) is panel:
                return i
        return -1

    def setCurrentWidget(self, panel: QWidget) -> None:  # noqa: N802 (Qt name)
        index = self.indexOf(panel)
        if index >= 0:
            self.setCurrentIndex(index)
