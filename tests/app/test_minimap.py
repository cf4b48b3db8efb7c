"""The canvas's overview map: small at a laptop-sized window, dragged by its title bar,
collapsed by its toggle, both remembered; clicking in it still moves the canvas."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from app.document import Document
from app.editor.minimap import MAX_SIZE, Minimap
from graph.templates import build_template


def laptop_window(gui):
    """A 1280x720 window at 100% zoom on a network too big for the canvas."""
    window = gui.window(template="residual-cnn")
    window.resize(1280, 720)
    gui.qtbot.waitUntil(lambda: window.view.viewport().width() > 400)
    gui.qtbot.wait(10)  # the deferred zoom-to-fit
    window.view.set_zoom(1.0)
    assert window.minimap.isVisible()
    return window


def drag_title(qtbot, minimap: Minimap, to_view: QPoint) -> None:
    """Press on the title bar, move so that the press point lands on ``to_view`` (canvas
    coordinates), release."""
    title = minimap.title
    start = title.rect().center()
    QTest.mousePress(title, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    grabbed = title.mapTo(minimap.main_view, start)
    for i in range(1, 5):
        step = grabbed + (to_view - grabbed) * (i / 4)
        QTest.mouseMove(title, title.mapFrom(minimap.main_view, step))
    QTest.mouseRelease(title, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       title.mapFrom(minimap.main_view, to_view))
    qtbot.wait(1)


def test_minimap_is_a_small_share_of_a_1280x720_canvas(gui):
    window = laptop_window(gui)
    canvas = window.view.viewport().geometry()
    size = window.minimap.size()
    assert size.width() <= min(MAX_SIZE.width(), 0.18 * canvas.width() + 1)
    assert size.height() <= min(MAX_SIZE.height(), 0.22 * canvas.height() + 1)
    assert canvas.contains(window.minimap.geometry())
    # by default in the bottom-right corner
    assert canvas.right() - window.minimap.geometry().right() < 20
    assert canvas.bottom() - window.minimap.geometry().bottom() < 20


def test_collapse_leaves_a_small_toggle_and_expands_again(gui):
    window = laptop_window(gui)
    minimap = window.minimap
    qtbot = gui.qtbot
    qtbot.mouseClick(minimap.toggle, Qt.MouseButton.LeftButton)
    assert minimap.isVisible() and minimap.toggle.isVisible()
    assert not minimap.map.isVisible()
    assert minimap.height() <= 30 and minimap.width() <= 120
    canvas = window.view.viewport().geometry()
    assert canvas.contains(minimap.geometry())

    qtbot.mouseClick(minimap.toggle, Qt.MouseButton.LeftButton)
    assert minimap.map.isVisible() and minimap.map.height() > 30


def test_dragging_the_title_bar_moves_it_to_another_corner(gui):
    window = laptop_window(gui)
    minimap = window.minimap
    canvas = window.view.viewport().geometry()
    drag_title(gui.qtbot, minimap, canvas.topLeft())
    assert minimap.geometry().topLeft().x() - canvas.left() <= 10
    assert minimap.geometry().topLeft().y() - canvas.top() <= 10

    drag_title(gui.qtbot, minimap, canvas.center())  # anywhere, not only corners
    middle = minimap.geometry().center()
    assert abs(middle.x() - canvas.center().x()) < canvas.width() / 4
    assert abs(middle.y() - canvas.center().y()) < canvas.height() / 4
    assert canvas.contains(minimap.geometry())


def test_place_and_collapse_are_remembered(gui):
    window = laptop_window(gui)
    canvas = window.view.viewport().geometry()
    drag_title(gui.qtbot, window.minimap, canvas.topLeft())
    gui.qtbot.mouseClick(window.minimap.toggle, Qt.MouseButton.LeftButton)
    assert QSettings().value("editor/minimap/collapsed", type=bool)

    # a new canvas (another document) reads them back
    window.set_document(Document(build_template("digits-cnn")))
    gui.qtbot.wait(10)
    window.view.set_zoom(1.0)
    minimap = window.minimap
    assert minimap.isVisible() and minimap.collapsed and not minimap.map.isVisible()
    canvas = window.view.viewport().geometry()
    assert minimap.x() - canvas.left() <= 10 and minimap.y() - canvas.top() <= 10


def test_clicking_the_map_still_moves_the_canvas(gui):
    window = laptop_window(gui)
    minimap = window.minimap
    items = window.scene.itemsBoundingRect()
    target = minimap.map.mapFromScene(items.center().x(), items.bottom() - 50)
    gui.qtbot.mouseClick(minimap.map.viewport(), Qt.MouseButton.LeftButton, pos=target)
    shown = minimap.visible_rect()
    assert shown.contains(minimap.map.mapToScene(target))
    assert shown.bottom() > items.bottom() - 300
