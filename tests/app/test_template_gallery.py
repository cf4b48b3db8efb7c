"""File > New's gallery: a blank network first, every preview showing its network (centred,
fitted), every name readable without scrolling."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QDialogButtonBox, QStyle, QStyleOptionViewItem

from app.template_gallery import PREVIEW, THUMBNAIL, TemplateGallery, render_preview
from graph.templates import GALLERY, TEMPLATES


def drawn_area(pixmap) -> tuple[QRect, int]:
    """The bounding box of the pixels a preview painted, and how many it painted."""
    image = pixmap.toImage()
    points = [(x, y) for x in range(image.width()) for y in range(image.height())
              if image.pixelColor(x, y).alpha() > 0]
    if not points:
        return QRect(), 0
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return QRect(min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1), len(points)


@pytest.mark.parametrize("size", [PREVIEW, THUMBNAIL], ids=["preview", "thumbnail"])
@pytest.mark.parametrize("key", list(GALLERY))
def test_every_preview_shows_its_network_fitted_and_centred(isolated_app, key, size):
    pixmap = render_preview(key, size)
    area, painted = drawn_area(pixmap)
    assert painted > 0.01 * size.width() * size.height(), key
    # fitted: the network spans (nearly) the whole width or height of the picture ...
    assert area.width() > 0.8 * size.width() or area.height() > 0.8 * size.height(), key
    # ... and sits in its middle, not in a corner with the rest left blank
    centre = pixmap.rect().center()
    assert abs(area.center().x() - centre.x()) <= max(2, 0.05 * size.width()), key
    assert abs(area.center().y() - centre.y()) <= max(2, 0.05 * size.height()), key


def shown_gallery(qtbot) -> TemplateGallery:
    gallery = TemplateGallery()
    qtbot.addWidget(gallery)
    gallery.show()
    qtbot.waitExposed(gallery)
    return gallery


def text_rect(gallery: TemplateGallery, row: int) -> QRect:
    """Where the list draws a row's title, as its style lays the row out."""
    view = gallery.list
    index = view.model().index(row, 0)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    view.itemDelegate().initStyleOption(option, index)
    option.rect = view.visualRect(index)
    return view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view)


def test_gallery_names_are_never_cut(isolated_app, qtbot):
    gallery = shown_gallery(qtbot)
    view = gallery.list
    assert not view.horizontalScrollBar().isVisible()
    metrics = view.fontMetrics()
    for row in range(view.count()):
        item = view.item(row)
        rect = text_rect(gallery, row)
        assert metrics.horizontalAdvance(item.text()) <= rect.width(), item.text()
        assert view.viewport().rect().left() <= rect.left()
        assert rect.right() <= view.viewport().rect().right(), item.text()


def test_blank_network_comes_first_then_every_template(isolated_app, qtbot):
    gallery = shown_gallery(qtbot)
    keys = [gallery.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(gallery.list.count())]
    assert keys == ["blank", *TEMPLATES]
    assert gallery.list.item(0).text() == "Blank network"
    assert gallery.chosen_key == "blank"


def test_choosing_blank_network_opens_an_empty_document(gui, monkeypatch):
    window = gui.window(template="lstm-forecast")
    qtbot = gui.qtbot

    def exec_(dialog):
        """The user clicks the first row, then OK."""
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.list.setCurrentRow(3)  # came back from looking at another template
        view = dialog.list
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=view.visualItemRect(view.item(0)).center())
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        return dialog.result()

    monkeypatch.setattr(TemplateGallery, "exec", exec_)
    window.act_new.trigger()
    assert window.document.project.name == "Untitled"
    assert window.document.graph.nodes == [] and window.document.graph.edges == []
    assert window.scene.node_items == {}
    assert not window.isWindowModified() and window.document.undo_stack.count() == 0
