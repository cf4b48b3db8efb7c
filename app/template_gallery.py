"""File > New: pick a blank network or a template, from a gallery with a rendered preview of
each network."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QVBoxLayout, QWidget)

from app.document import Document
from app.editor.scene import GraphScene
from graph.project import Project
from graph.templates import GALLERY

PREVIEW = QSize(380, 300)
THUMBNAIL = QSize(44, 56)  # portrait: networks are laid out top to bottom
PADDING = 20  # scene units around the network


def render_preview(key: str, size: QSize = PREVIEW) -> QPixmap:
    """A picture of a template's network, drawn by the real canvas items and centred; the
    blank network shows an empty canvas's outline."""
    project = GALLERY[key].build()
    pixmap = QPixmap(size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if project.graph.nodes:
        _draw_network(painter, project, QRectF(pixmap.rect()))
    else:
        _draw_empty_canvas(painter, QRectF(pixmap.rect()))
    painter.end()
    return pixmap


def _draw_network(painter: QPainter, project: Project, target: QRectF) -> None:
    document = Document(project)
    scene = GraphScene(document)
    source = scene.itemsBoundingRect().adjusted(-PADDING, -PADDING, PADDING, PADDING)
    scale = min(target.width() / source.width(), target.height() / source.height())
    fitted = QRectF(0, 0, source.width() * scale, source.height() * scale)
    fitted.moveCenter(target.center())
    scene.render(painter, fitted, source)
    document.close()


def _draw_empty_canvas(painter: QPainter, target: QRectF) -> None:
    ink = QApplication.palette().color(QPalette.ColorRole.Text)
    ink.setAlpha(150)
    margin = min(target.width(), target.height()) * 0.12
    canvas = target.adjusted(margin, margin, -margin, -margin)
    painter.setPen(QPen(ink, max(1.0, margin / 10), Qt.PenStyle.DashLine))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(canvas, margin / 3, margin / 3)
    font = QFont(painter.font())
    font.setPixelSize(max(8, int(canvas.height() * (0.5 if canvas.height() < 80 else 0.2))))
    painter.setFont(font)
    painter.drawText(canvas, Qt.AlignmentFlag.AlignCenter, "+")


class TemplateGallery(QDialog):
    """Lists the blank network and the templates; ``chosen_key`` holds the user's pick after
    ``exec()``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New network")
        self.chosen_key: str | None = None
        self._previews: dict[tuple[str, int, int], QPixmap] = {}
        self.list = QListWidget()
        self.list.setIconSize(THUMBNAIL)
        self.list.setSpacing(2)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for key, template in GALLERY.items():
            item = QListWidgetItem(template.title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(template.title)
            item.setIcon(QIcon(self.preview_of(key, THUMBNAIL)))
            self.list.addItem(item)
        self.list.setMinimumWidth(self._width_for_titles())
        self.preview = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW)
        self.description = QLabel(wordWrap=True)
        self.description.setMinimumWidth(PREVIEW.width())
        right = QVBoxLayout()
        right.addWidget(self.preview)
        right.addWidget(self.description)
        right.addStretch()
        body = QHBoxLayout()
        body.addWidget(self.list)
        body.addLayout(right, 1)
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
        screen = self.screen().availableGeometry()
        self.resize(self.sizeHint().width(), min(screen.height() - 80, 580))

    def _width_for_titles(self) -> int:
        """Wide enough for the longest title beside its thumbnail, with a vertical scroll
        bar in case the list is taller than the dialog."""
        scroll_bar = self.list.verticalScrollBar().sizeHint().width()
        return (self.list.sizeHintForColumn(0) + 2 * self.list.frameWidth() + scroll_bar
                + 2 * self.list.spacing() + 8)

    def preview_of(self, key: str, size: QSize = PREVIEW) -> QPixmap:
        cached = (key, size.width(), size.height())
        if cached not in self._previews:
            self._previews[cached] = render_preview(key, size)
        return self._previews[cached]

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        key = item.data(Qt.ItemDataRole.UserRole)
        self.chosen_key = key
        project = GALLERY[key].build()
        self.preview.setPixmap(self.preview_of(key))
        self.description.setText(f"<b>{project.name}</b><br>{project.description}<br><br>"
                                 f"Dataset: <i>{project.dataset['name']}</i>")
