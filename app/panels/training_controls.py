"""The Training tab's run buttons: Train / Pause / Resume / Stop, each usable only in the run
states where it means something."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget


class RunButtons(QWidget):
    """The four run buttons in a row; ``set_state`` enables them for idle | running | paused."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        buttons = QHBoxLayout(self)
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.train_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch()

    def set_state(self, state: str) -> None:
        """idle: Train; running: Pause, Stop; paused: Resume, Stop."""
        self.train_button.setEnabled(state == "idle")
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.stop_button.setEnabled(state in ("running", "paused"))
