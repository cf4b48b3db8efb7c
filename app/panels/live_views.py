"""The Test tab's live views: how one frame's prediction is shown, per task
(``app/task_views.py`` says whose is which). Each has ``show_prediction(prediction)``."""
from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from backend.live.infer import Prediction

TOP_K = 3


class TopKBars(QWidget):
    """The top classes as labelled probability bars."""

    def __init__(self, k: int = TOP_K, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.names: list[QLabel] = []
        self.bars: list[QProgressBar] = []
        for i in range(k):
            name, bar = QLabel("–"), QProgressBar()
            name.setMinimumWidth(60)
            bar.setRange(0, 1000)
            bar.setFormat("")
            bar.setTextVisible(True)
            grid.addWidget(name, i, 0)
            grid.addWidget(bar, i, 1)
            self.names.append(name)
            self.bars.append(bar)
        font = self.names[0].font()
        font.setBold(True)
        self.names[0].setFont(font)

    def show_topk(self, topk: list[tuple[str, float]]) -> None:
        for i, (name, bar) in enumerate(zip(self.names, self.bars)):
            if i < len(topk):
                label, prob = topk[i]
                name.setText(label)
                bar.setValue(round(prob * 1000))
                bar.setFormat(f"{prob * 100:.1f}%")
            else:
                name.setText("–")
                bar.setValue(0)
                bar.setFormat("")

    def show_prediction(self, prediction: Prediction) -> None:
        self.show_topk(prediction.topk)

    def clear(self) -> None:
        self.show_topk([])
