"""The main window's files and lifecycle: save and reopen, bad files, drag-and-drop of a
project, recent files, the unsaved-changes prompt, crash recovery, auto layout and the
template gallery. Dialogs are answered by the ``gui`` fixture (see conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from app.document import Document
from app.main import offer_recovery
from app.recovery import pending_recoveries, recovery_dir
from app.template_gallery import TemplateGallery, render_preview
from graph.commands import MoveNodes
from graph.layout import auto_layout, flow_direction, layered_positions
from graph.project import load_project, save_project
from graph.templates import GALLERY, TEMPLATES, build_template

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
Save, Discard, Cancel = (QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Discard,
                         QMessageBox.StandardButton.Cancel)


def shape_of(graph) -> tuple:
    """A graph described by names (ids differ between two builds of one template)."""
    names = {n.id: n.name for n in graph.nodes}
    return (sorted((n.name, n.type, tuple(sorted(n.params.items())), n.position)
                   for n in graph.nodes),
            sorted((names[e.source], e.source_port, names[e.target], e.target_port)
                   for e in graph.edges))


def edit(window) -> None:
    """A small user edit: a layer added from the palette."""
    window.palette_widget.layerActivated.emit("Dropout")


def scene_ids(window) -> tuple[set, set]:
    return set(window.scene.node_items), set(window.scene.edge_items)


def graph_ids(window) -> tuple[set, set]:
    graph = window.document.graph
    return {n.id for n in graph.nodes}, set(graph.edges)


# ---- save and open -----------------------------------------------------------------------
def test_save_then_open_in_a_new_window_gives_the_same_graph(gui, tmp_path):
    window = gui.window()
    edit(window)
    assert window.isWindowModified()
    path = tmp_path / "projects" / "net.json"

    assert window._save_to(path)

    assert path.is_file() and not window.isWindowModified()
    assert not window.document.modified
    assert window.windowTitle().startswith("net.json")
    assert "saved" in window.statusBar().currentMessage()
    assert window.recent_files() == [path.resolve()]
    assert [a.text() for a in window.recent_menu.actions()] == [str(path.resolve())]
    assert window.recent_menu.isEnabled()

    other = gui.window(template="hello-mlp")
    assert other.open_file(path)
    assert other.document.graph.signature() == window.document.graph.signature()
    assert other.document.path == path and not other.isWindowModified()
    assert graph_ids(other) == scene_ids(other)
    assert other.windowTitle().startswith("net.json")
    # an edit after saving marks it modified again; undoing it is the saved state
    edit(window)
    assert window.isWindowModified()
    window.act_undo.trigger()
    assert not window.isWindowModified()


def test_save_as_asks_for_a_name_and_adds_the_extension(gui, tmp_path):
    window = gui.window()
    gui.save_name = str(tmp_path / "mine")
    window.act_save.trigger()  # never saved: Save is Save As
    saved = tmp_path / "mine.json"
    assert saved.is_file() and window.document.path == saved
    assert load_project(saved).graph.signature() == window.document.graph.signature()
    edit(window)
    gui.save_name = ""  # Save now writes the same file without asking
    window.act_save.trigger()
    assert not window.isWindowModified()
    assert len(load_project(saved).graph) == len(window.document.graph)


def test_recent_files_list_newest_first_and_reopen(gui, tmp_path):
    window = gui.window()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    window._save_to(first)
    edit(window)
    window._save_to(second)
    window._save_to(first)  # saved again: moves to the top, listed once
    assert window.recent_files() == [first.resolve(), second.resolve()]
    other = gui.window(template="hello-mlp")  # recent files are shared through settings
    assert other.recent_files() == [first.resolve(), second.resolve()]
    recent_b = [a for a in other.recent_menu.actions() if a.text() == str(second.resolve())]
    recent_b[0].trigger()
    assert other.document.path == second.resolve()
    assert other.document.graph.signature() == load_project(second).graph.signature()


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"format_version": 999}',
                                     b"\x80\x81binary"])
def test_opening_a_corrupt_file_shows_an_error_and_keeps_the_document(gui, tmp_path,
                                                                      content):
    window = gui.window()
    edit(window)
    document, signature = window.document, window.document.graph.signature()
    bad = tmp_path / "broken_project.json"
    bad.write_bytes(content)

    assert not window.open_file(bad)

    assert len(gui.errors) == 1
    title, text = gui.errors[0]
    assert "broken_project.json" in text
    assert window.document is document and document.graph.signature() == signature
    assert window.isWindowModified()
    assert window.recent_files() == []
    assert window.centralWidget() is window.view and window.view.scene() is window.scene


def test_opening_a_missing_file_shows_an_error(gui, tmp_path):
    window = gui.window()
    document = window.document
    assert not window.open_file(tmp_path / "gone.json")
    assert len(gui.errors) == 1 and "gone.json" in gui.errors[0][1]
    assert window.document is document


def test_opening_a_checkpoint_shows_its_network(gui, tmp_path):
    from backend.checkpoint import Checkpoint, save_checkpoint
    from backend.compile.compiler import compile_graph

    project = build_template("hello-mlp")
    path = tmp_path / "trained.pt"
    save_checkpoint(path, Checkpoint(project, compile_graph(project.graph).state_dict(), {},
                                     "classification", [str(i) for i in range(10)], 3))
    window = gui.window()
    assert window.open_file(path)
    assert window.document.graph.signature() == project.graph.signature()
    assert window.document.path is None  # Save writes a project file: it asks where
    assert graph_ids(window) == scene_ids(window)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    document = window.document
    assert not window.open_file(garbage)
    assert window.document is document
    assert len(gui.errors) == 1 and "garbage.pt" in gui.errors[0][1]


def test_open_dialog_asks_about_unsaved_changes_first(gui, tmp_path):
    saved = tmp_path / "other.json"
    gui.window(template="lstm-forecast")._save_to(saved)
    window = gui.window()
    edit(window)
    gui.open_name = str(saved)
    gui.answer = Cancel
    window.act_open.trigger()
    assert len(gui.questions) == 1
    assert window.document.path is None  # cancelled: nothing opened
    gui.answer = Discard
    window.act_open.trigger()
    assert window.document.path == saved
    assert shape_of(window.document.graph) == shape_of(load_project(saved).graph)


def drop_files(widget, paths: list[Path]) -> bool:
    """What Qt sends when files from a file manager are dropped on ``widget``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted()


@pytest.mark.parametrize("onto", ["window", "canvas"])
def test_dropping_a_project_file_opens_it(gui, tmp_path, onto):
    saved = tmp_path / "dropped.json"
    save_project(build_template("residual-cnn"), saved)  # from elsewhere: not yet recent
    window = gui.window()
    assert window.recent_files() == []

    target = window if onto == "window" else window.view.viewport()
    assert drop_files(target, [saved])

    assert window.document.path == saved and not window.isWindowModified()
    assert window.document.graph.signature() == load_project(saved).graph.signature()
    assert graph_ids(window) == scene_ids(window)
    assert window.recent_files() == [saved.resolve()]
    assert gui.questions == [] and gui.errors == []


def test_dropping_a_corrupt_file_keeps_the_document(gui, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    window = gui.window()
    document = window.document
    drop_files(window, [bad])
    assert window.document is document
    assert len(gui.errors) == 1 and "bad.json" in gui.errors[0][1]


# ---- closing -----------------------------------------------------------------------------
def test_closing_an_unmodified_window_does_not_ask(gui):
    window = gui.window()
    assert window.close()
    assert gui.questions == []


def test_closing_a_modified_window_asks_and_cancel_keeps_it_open(gui):
    window = gui.window()
    edit(window)
    signature = window.document.graph.signature()
    gui.answer = Cancel

    assert not window.close()

    assert len(gui.questions) == 1 and window.document.title in gui.questions[0]
    assert window.isVisible() and window.document.graph.signature() == signature
    assert window.isWindowModified()
    gui.answer = Discard
    assert window.close()
    assert not window.isVisible()
    assert len(gui.questions) == 2


def test_closing_with_save_writes_the_file(gui, tmp_path):
    path = tmp_path / "kept.json"
    window = gui.window()
    window._save_to(path)
    edit(window)
    gui.answer = Save
    assert window.close()
    assert len(load_project(path).graph) == len(window.document.graph)


def test_closing_with_save_but_cancelling_the_file_dialog_keeps_it_open(gui):
    window = gui.window()
    edit(window)
    gui.answer = Save
    gui.save_name = ""  # the user cancels Save As
    assert not window.close()
    assert window.isVisible() and window.isWindowModified()
    gui.answer = Discard


# ---- crash recovery ----------------------------------------------------------------------
def crash(window) -> None:
    """What a crash leaves: the recovery file, and a lock no running process holds (a real
    crash's stale lock is tested in test_recovery.py)."""
    window.recovery._lock.unlock()


def test_autosave_then_recovery_restores_the_edited_graph(gui, tmp_path):
    window = gui.window()
    window.autosave()
    assert not window.recovery.path.exists()  # nothing unsaved, nothing written
    edit(window)
    window.palette_widget.layerActivated.emit("Linear")
    edited = window.document.graph.signature()

    window.autosave()

    assert window.recovery.path.exists() and window.recovery.path.parent == recovery_dir()
    assert pending_recoveries() == []  # the window is open: its work is not a crash's
    crash(window)  # the app crashes (nothing cleans up); it starts again with a fresh window
    assert pending_recoveries() == [window.recovery.path]
    fresh = gui.window()
    gui.answer = Yes
    offer_recovery(fresh, pending_recoveries())

    assert len(gui.questions) == 1 and "Restore" in gui.questions[0]
    assert fresh.document.graph.signature() == edited
    assert fresh.document.modified and fresh.isWindowModified()
    assert graph_ids(fresh) == scene_ids(fresh)
    assert pending_recoveries() == []
    # the restored work is unsaved work: closing asks
    gui.answer = Cancel
    assert not fresh.close()


def test_recovery_of_a_saved_file_keeps_its_path(gui, tmp_path):
    path = tmp_path / "work.json"
    window = gui.window()
    window._save_to(path)
    edit(window)
    window.autosave()
    crash(window)
    fresh = gui.window()
    gui.answer = Yes
    offer_recovery(fresh, pending_recoveries())
    assert fresh.document.path == path and fresh.document.modified
    assert fresh.document.graph.signature() == window.document.graph.signature()
    assert fresh.windowTitle().startswith("work.json")


def test_declining_recovery_keeps_the_fresh_document_and_removes_the_files(gui):
    window = gui.window()
    edit(window)
    window.autosave()
    crash(window)
    fresh = gui.window(template="hello-mlp")
    signature = fresh.document.graph.signature()
    gui.answer = No
    offer_recovery(fresh, pending_recoveries())
    assert fresh.document.graph.signature() == signature and not fresh.isWindowModified()
    assert pending_recoveries() == []


def test_a_damaged_recovery_file_is_reported(gui):
    damaged = recovery_dir() / "damaged.json"
    damaged.write_text('{"project": 42')
    window = gui.window()
    document = window.document
    gui.answer = Yes
    offer_recovery(window, pending_recoveries())
    assert window.document is document
    assert len(gui.errors) == 1 and "damaged.json" in gui.errors[0][1]
    assert not damaged.exists()


def test_a_clean_save_and_a_clean_close_remove_the_recovery_file(gui, tmp_path):
    window = gui.window()
    edit(window)
    window.autosave()
    assert window.recovery.path.exists()
    window._save_to(tmp_path / "saved.json")
    assert not window.recovery.path.exists() and pending_recoveries() == []
    edit(window)
    window.autosave()
    assert window.recovery.path.exists()
    gui.answer = Discard
    assert window.close()
    assert not window.recovery.path.exists()
    assert not window.recovery.path.with_suffix(".lock").exists()  # lock released too


def test_undoing_back_to_the_saved_state_drops_the_recovery_file(gui):
    window = gui.window()
    edit(window)
    window.autosave()
    assert window.recovery.path.exists()
    window.act_undo.trigger()  # back to the saved state: nothing is unsaved
    window.autosave()
    assert not window.recovery.path.exists()
    crash(window)
    fresh = gui.window()
    offer_recovery(fresh, pending_recoveries())
    assert gui.questions == []  # no crash prompt for work that was undone


def test_autosave_timer_writes_the_recovery_file(gui, qtbot):
    window = gui.window()
    edit(window)
    window.autosave_timer.setInterval(10)
    qtbot.waitUntil(lambda: window.recovery.path.exists(), timeout=2000)


# ---- layout ------------------------------------------------------------------------------
def test_auto_layout_is_one_undo_step(gui):
    window = gui.window()
    graph, stack = window.document.graph, window.document.undo_stack
    window.act_layout.trigger()  # a template is laid out already: no edit
    assert stack.count() == 0
    laid_out = {n.id: n.position for n in graph.nodes}
    window.document.push(MoveNodes(graph, {n.id: (i * 37.0, -i * 11.0)
                                           for i, n in enumerate(graph.nodes)}))
    scrambled = {n.id: n.position for n in graph.nodes}

    window.act_layout.trigger()

    assert stack.count() == 2
    assert {n.id: n.position for n in graph.nodes} == laid_out == \
        layered_positions(graph, window.scene.direction)
    assert all((i.x(), i.y()) == laid_out[k] for k, i in window.scene.node_items.items())
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert all(visible.contains(i.sceneBoundingRect())
               for i in window.scene.node_items.values())
    window.act_undo.trigger()
    assert {n.id: n.position for n in graph.nodes} == scrambled


def test_view_layout_direction_lays_the_canvas_out_and_is_kept(gui):
    window = gui.window(template="digits-cnn")
    graph, stack = window.document.graph, window.document.undo_stack
    menus = window.menus
    assert window.scene.direction == "TB" and menus.direction_actions["TB"].isChecked()
    conv1 = window.scene.node_items[graph.find("conv1").id]
    assert conv1.outputs["out"].pos().y() == conv1.height  # below the card

    menus.direction_actions["LR"].trigger()

    assert window.scene.direction == "LR" and menus.direction_actions["LR"].isChecked()
    assert flow_direction(graph) == "LR" and stack.count() == 1  # one undo step
    assert {n.id: n.position for n in graph.nodes} == layered_positions(graph, "LR")
    out = conv1.outputs["out"].pos()  # on the card's right edge now
    assert out.x() > conv1.inputs["in"].pos().x() and out.y() < conv1.height
    window.act_undo.trigger()
    assert flow_direction(graph) == "TB"

    second = gui.window()
    assert second.scene.direction == "LR" and flow_direction(second.document.graph) == "LR"
    assert second.menus.direction_actions["LR"].isChecked()


def test_a_file_drawn_left_to_right_opens_left_to_right(gui, tmp_path):
    project = build_template("hello-mlp")
    auto_layout(project.graph, "LR")
    path = tmp_path / "sideways.json"
    save_project(project, path)
    window = gui.window()  # the preference is top to bottom
    assert window.open_file(path)
    assert window.scene.direction == "LR" and window.menus.direction_actions["LR"].isChecked()
    assert {n.id: n.position for n in window.document.graph.nodes} == \
        {n.id: n.position for n in project.graph.nodes}  # opened as drawn: no edit
    assert window.document.undo_stack.count() == 0


# ---- templates ---------------------------------------------------------------------------
def opaque_pixels(pixmap) -> int:
    image = pixmap.toImage()
    return sum(1 for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
               if image.pixelColor(x, y).alpha() > 0)


def test_template_gallery_lists_every_template_with_a_preview(gui, qtbot):
    window = gui.window()
    gallery = TemplateGallery(window)
    qtbot.addWidget(gallery)
    keys = [gallery.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(gallery.list.count())]
    assert keys == list(GALLERY)
    for row, key in enumerate(keys):
        item = gallery.list.item(row)
        assert item.text() == GALLERY[key].title
        assert not item.icon().isNull()
        preview = gallery.preview_of(key)
        assert not preview.isNull() and opaque_pixels(preview) > 100, key
        gallery.list.setCurrentRow(row)
        assert gallery.chosen_key == key
        assert gallery.preview.pixmap().cacheKey() == preview.cacheKey()
        assert build_template(key).name in gallery.description.text()


def test_previews_differ_between_templates(isolated_app):
    images = {key: render_preview(key).toImage() for key in TEMPLATES}
    assert len({img.bits().tobytes() if hasattr(img.bits(), "tobytes") else bytes(img.bits())
                for img in images.values()}) == len(TEMPLATES)


def choose_template(monkeypatch, key: str | None):
    """Replace the modal gallery: pick ``key`` (or cancel with None) as a user would."""
    shown = []

    def exec_(dialog):
        shown.append(dialog)
        if key is None:
            return QDialog.DialogCode.Rejected
        row = list(GALLERY).index(key)
        dialog.list.setCurrentRow(row)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(TemplateGallery, "exec", exec_)
    return shown


def test_new_from_template_loads_the_chosen_template(gui, monkeypatch):
    window = gui.window()
    shown = choose_template(monkeypatch, "lstm-forecast")
    window.act_new.trigger()
    assert len(shown) == 1
    assert shape_of(window.document.graph) == shape_of(build_template("lstm-forecast").graph)
    assert not window.isWindowModified() and window.document.undo_stack.count() == 0
    assert graph_ids(window) == scene_ids(window)
    assert window.history_dock.widget().stack() is window.document.undo_stack
    assert window.inspector is window.inspector_dock.widget()
    assert "LSTM" in window.windowTitle()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert window.findChildren(TemplateGallery) == []  # the dialog did not stay behind
    # the new document is edited through the window as before
    edit(window)
    assert window.isWindowModified() and window.act_undo.isEnabled()


def test_new_from_template_cancelled_keeps_the_document(gui, monkeypatch):
    window = gui.window()
    edit(window)
    document = window.document
    shown = choose_template(monkeypatch, "hello-mlp")
    gui.answer = Cancel  # "save changes?" -> Cancel: no gallery at all
    window.act_new.trigger()
    assert shown == [] and window.document is document
    gui.answer = Discard
    shown = choose_template(monkeypatch, None)  # gallery cancelled
    window.act_new.trigger()
    assert len(shown) == 1 and window.document is document


# ---- startup -----------------------------------------------------------------------------
def test_a_window_opened_on_a_file_at_startup_shows_it_readable(gui, qtbot, tmp_path):
    """What ``layerforge net.json`` does: a window, then open_file before the event loop. The
    network shows at a zoom where its text can be read, from its input on."""
    from app.main_window import MainWindow

    path = tmp_path / "start.json"
    gui.window(template="char-gru")._save_to(path)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.open_file(path)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(20)  # deferred show_start of both set_document calls
    assert_shows_start_readable(window)


def assert_shows_start_readable(window) -> None:
    view = window.view
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    items = window.scene.node_items.values()
    assert view.zoom >= min(1.0, view.readable_zoom()) - 1e-6
    if not all(visible.contains(i.sceneBoundingRect()) for i in items):
        graph = window.document.graph
        for node in graph.nodes:
            if node.type == "Input":  # where the network starts is in view
                start = window.scene.node_items[node.id]
                assert visible.contains(start.sceneBoundingRect()), node.name


def test_opening_documents_one_after_another_leaves_no_old_canvas_behind(gui, qtbot,
                                                                          tmp_path):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QUndoView

    from app.editor.scene import GraphScene
    from app.editor.view import GraphView

    path = tmp_path / "net.json"
    window = gui.window()
    window._save_to(path)
    actions = len(window.findChildren(QAction))
    for _ in range(3):
        assert window.open_file(path)
    qtbot.wait(5)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    for kind in (GraphScene, GraphView, QUndoView, Document):
        assert len(window.findChildren(kind)) == 1, kind.__name__
    assert window.findChildren(GraphScene) == [window.scene]
    assert len(window.findChildren(QAction)) == actions
    # and the window still works on the last one
    edit(window)
    assert window.isWindowModified()
    window.act_undo.trigger()
    assert not window.isWindowModified()


# ---- icons -------------------------------------------------------------------------------
def icon_lightness(action, size: int = 24) -> float:
    """Mean lightness of the icon's drawn (opaque) pixels at 2x (a high-dpi screen)."""
    from PySide6.QtCore import QSize

    image = action.icon().pixmap(QSize(size, size), 2.0).toImage()
    assert image.width() == 2 * size  # rendered for the high-dpi size, not scaled up
    values = [image.pixelColor(x, y) for x in range(image.width())
              for y in range(image.height())]
    drawn = [c.lightness() for c in values if c.alpha() > 200]
    assert drawn, "the icon is empty"
    return sum(drawn) / len(drawn)


def test_toolbar_icons_are_sharp_and_follow_the_theme(gui, qapp):
    from PySide6.QtGui import QColor, QPalette

    window = gui.window()
    actions = [window.act_new, window.act_open, window.act_save, window.act_undo,
               window.act_redo, window.act_layout, window.act_fit]
    assert all(not a.icon().isNull() for a in actions)
    assert all(a in window.toolbar.actions() for a in actions)
    assert icon_lightness(window.act_save) < 100  # dark lines on a light theme
    before = qapp.palette()
    dark = QPalette(before)
    for role, color in ((QPalette.ColorRole.Window, "#262626"),
                        (QPalette.ColorRole.WindowText, "#eeeeee")):
        dark.setColor(role, QColor(color))
    qapp.setPalette(dark)
    try:
        qapp.processEvents()
        assert icon_lightness(window.act_save) > 180  # light lines on a dark theme
    finally:
        qapp.setPalette(before)


def test_canvas_background_follows_the_theme(gui, qapp):
    """The canvas caches its background: a theme switch must not leave the old colours."""
    from PySide6.QtGui import QColor, QPalette

    window = gui.window()
    view = window.view

    def background_lightness() -> int:
        image = view.viewport().grab().toImage()
        return image.pixelColor(3, 3).lightness()  # a corner: no card, no wire

    assert background_lightness() > 150
    before = qapp.palette()
    dark = QPalette(before)
    for role, color in ((QPalette.ColorRole.Window, "#262626"),
                        (QPalette.ColorRole.WindowText, "#eeeeee"),
                        (QPalette.ColorRole.Text, "#eeeeee")):
        dark.setColor(role, QColor(color))
    qapp.setPalette(dark)
    try:
        qapp.processEvents()
        assert background_lightness() < 60
    finally:
        qapp.setPalette(before)
        qapp.processEvents()
    assert background_lightness() > 150


# ---- the canvas keeps its room -----------------------------------------------------------
def canvas_and_docks(window) -> tuple:
    return (window.view.width(), window.view.height(), window.palette_dock.width(),
            window.inspector_dock.width(), window.bottom_dock.height())


def test_loading_a_template_or_a_checkpoint_never_resizes_the_docks(gui, qtbot, monkeypatch,
                                                                      tmp_path):
    from backend.checkpoint import Checkpoint, save_checkpoint
    from backend.compile.compiler import compile_graph

    project = build_template("hello-mlp")
    checkpoint = tmp_path / "trained.pt"
    save_checkpoint(checkpoint, Checkpoint(project, compile_graph(project.graph).state_dict(),
                                           {}, "classification", [str(i) for i in range(10)], 3))
    window = gui.window()
    window.resize(1600, 1000)
    qtbot.wait(50)
    before = canvas_and_docks(window)
    assert window.docks.canvas_has_room()
    for load in ("residual-cnn", "lstm-forecast", checkpoint, "blank", "digits-cnn"):
        if isinstance(load, str):
            choose_template(monkeypatch, load)
            window.act_new.trigger()
        else:
            gui.open_name = str(load)
            window.act_open.trigger()
        qtbot.wait(50)
        assert canvas_and_docks(window) == before, load
    assert window.document.project.name == build_template("digits-cnn").name


def test_a_saved_layout_that_squeezes_the_canvas_is_not_restored(gui, qtbot):
    from PySide6.QtCore import Qt

    from app.main_window import MainWindow

    window = gui.window()
    window.resize(1280, 720)
    qtbot.wait(50)
    window.resizeDocks([window.palette_dock, window.inspector_dock], [560, 560],
                       Qt.Orientation.Horizontal)
    qtbot.wait(50)
    assert not window.docks.canvas_has_room()  # the 50 px strip a user once got
    window.close()  # saves the layout
    again = MainWindow()
    qtbot.addWidget(again)
    again.resize(1280, 720)
    again.show()
    qtbot.waitExposed(again)
    qtbot.waitUntil(again.docks.canvas_has_room, timeout=2000)
    assert again.view.width() >= 0.4 * again.width()


def test_a_short_panel_area_scrolls_its_panels_instead_of_taking_the_canvas(gui, qtbot):
    from PySide6.QtCore import Qt

    window = gui.window()
    window.resize(1280, 720)
    qtbot.wait(50)
    for panel in (window.training_panel, window.test_panel, window.export_panel):
        window.bottom_tabs.setCurrentWidget(panel)
        assert window.bottom_tabs.currentWidget() is panel
        window.resizeDocks([window.bottom_dock], [170], Qt.Orientation.Vertical)
        qtbot.wait(20)
        assert window.bottom_dock.height() <= 190, panel  # the user's choice holds
        assert window.view.height() >= 0.5 * window.height()
        assert panel.isVisible()
