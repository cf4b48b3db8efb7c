"""A StatusLine's text changes repaint the text only: the window is not laid out again."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.status_line import StatusLine


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def relayouts_while_text_changes(qtbot, make) -> int:
    panel = QWidget()
    qtbot.addWidget(panel)
    layout = QVBoxLayout(panel)
    line = make()
    layout.addWidget(line)
    layout.addWidget(QLabel("something below"))
    panel.resize(400, 100)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(20)  # the first layout pass is over
    counter = LayoutRequests()
    panel.installEventFilter(counter)
    for i in range(20):
        line.setText(f"loss {1 / (i + 1):.4f} · lr {10 ** -i:.3g}" + " ·" * i)
        qtbot.wait(1)
    panel.removeEventFilter(counter)
    return counter.count


def test_a_qlabel_relays_out_its_parent_a_status_line_does_not(qtbot):
    assert relayouts_while_text_changes(qtbot, QLabel) > 0  # what StatusLine avoids
    assert relayouts_while_text_changes(qtbot, StatusLine) == 0


def test_long_text_is_elided_with_the_whole_text_in_the_tooltip(qtbot):
    line = StatusLine("short")
    qtbot.addWidget(line)
    line.resize(120, line.height())
    line.show()
    assert line.text() == "short" and line.label.text() == "short" and line.toolTip() == ""
    long = "Training finished after 30 epoch(s): test accuracy 98.61%. Best epoch 22."
    line.setText(long)
    assert line.text() == long
    assert line.label.text().endswith("…") and len(line.label.text()) < len(long)
    assert line.toolTip() == long
    line.resize(2000, line.height())  # room again: the whole text, no tooltip
    assert line.label.text() == long and line.toolTip() == ""
