"""File > New: pick a template from a gallery with a rendered preview of each network."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QVBoxLayout, QWidget)

from app.document import Document
from app.editor.scene import GraphScene
from graph.templates import TEMPLATES

PREVIEW = QSize(360, 200)


def render_preview(key: str, size: QSize = PREVIEW) -> QPixmap:
    """A picture of a template's network, drawn by the real canvas items."""
    document = Document(TEMPLATES[key].build())
    scene = GraphScene(document)
    pixmap = QPixmap(size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    source = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source,
                 Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    document.close()
    return pixmap


class TemplateGallery(QDialog):
    """Lists the templates; ``chosen_key`` holds the user's pick after ``exec()``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New network from a template")
        self.chosen_key: str | None = None
        self.list = QListWidget()
        self.list.setIconSize(QSize(96, 54))
        self.preview = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW)
        self.description = QLabel(wordWrap=True)
        self.description.setMinimumWidth(PREVIEW.width())
        self._previews: dict[str, QPixmap] = {}
        for key, template in TEMPLATES.items():
            item = QListWidgetItem(template.title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setIcon(QIcon(self.preview_of(key)))
            self.list.addItem(item)
        right = QVBoxLayout()
        right.addWidget(self.preview)
        right.addWidget(self.description)
        right.addStretch()
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(right, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(self._show)
        self.list.itemDoubleClicked.connect(lambda _: self.accept())
        self.list.setCurrentRow(0)
        self.resize(820, 420)

    def preview_of(self, key: str) -> QPixmap:
        if key not in self._previews:
            self._previews[key] = render_preview(key)
        return self._previews[key]

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        key = item.data(Qt.ItemDataRole.UserRole)
        self.chosen_key = key
        project = TEMPLATES[key].build()
        self.preview.setPixmap(self.preview_of(key))
        self.description.setText(f"<b>{project.name}</b><br>{project.description}<br><br>"
                                 f"Dataset: <i>{project.dataset['name']}</i>")
