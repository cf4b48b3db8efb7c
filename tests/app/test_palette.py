"""The layer palette: every catalogue layer by category, search, drag payload, activation."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.editor.mime import LAYER_MIME
from app.editor.palette import PaletteWidget
from app.editor.style import category_color
from graph.layers import CATALOGUE, CATEGORY_ORDER, by_category


@pytest.fixture(autouse=True)
def own_settings(isolated_app):
    """Recent layers live in QSettings: each test starts with its own, empty store."""


def make_palette(qtbot) -> PaletteWidget:
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    palette.resize(260, 600)
    palette.show()
    return palette


def item_for(palette: PaletteWidget, type_name: str):
    return next(i for i in palette.layer_items() if i.text(0) == type_name)


def test_every_catalogue_layer_is_listed_under_its_category(qtbot):
    palette = make_palette(qtbot)
    categories = palette.category_items()
    assert [c.text(0) for c in categories] == [c for c, _ in by_category()]
    for top, (category, specs) in zip(categories, by_category()):
        children = [top.child(i) for i in range(top.childCount())]
        assert [c.text(0) for c in children] == [s.type for s in specs]
        for child, spec in zip(children, specs):
            assert spec.description in child.toolTip(0)
    assert sorted(palette.visible_layers()) == sorted(CATALOGUE)


def test_typing_filters_by_name_category_and_description(qtbot):
    palette = make_palette(qtbot)
    qtbot.keyClicks(palette.search, "Embed")  # what a user types
    shown = palette.visible_layers()
    assert "Embedding" in shown and palette.best_matches()[0] == "Embedding"
    assert all(any("embed" in t for t in (s.type.lower(), s.description.lower(),
                                          *map(str.lower, s.aliases)))
               for s in (CATALOGUE[n] for n in shown))
    visible_categories = {c.text(0) for c in palette.category_items() if not c.isHidden()}
    assert visible_categories == {CATALOGUE[n].category for n in shown}
    palette.set_filter("lstm")  # GRU's description mentions LSTM
    assert palette.visible_layers()[:2] == ["LSTM", "GRU"]
    palette.set_filter("max pool")  # every word must match somewhere
    assert {"MaxPool1d", "MaxPool2d"} <= set(palette.visible_layers())
    assert "AvgPool2d" not in palette.visible_layers() and "Linear" not in \
        palette.visible_layers()
    assert all(c.isExpanded() for c in palette.category_items() if not c.isHidden())

    palette.set_filter("pooling")  # a category name, any case
    pooling = {s.type for s in CATALOGUE.values() if s.category == "Pooling"}
    assert pooling <= set(palette.visible_layers())
    assert set(palette.visible_layers()) == pooling | {
        s.type for s in CATALOGUE.values() if "pooling" in s.description.lower()}
    assert "Conv2d" not in palette.visible_layers()

    palette.set_filter("RESIDUAL")  # Add's description and aliases ("a residual/skip
    assert palette.best_matches()[0] == "Add"  # connection")


def test_collapsed_category_with_a_match_is_expanded(qtbot):
    palette = make_palette(qtbot)
    recurrent = next(c for c in palette.category_items() if c.text(0) == "Recurrent")
    recurrent.setExpanded(False)
    palette.set_filter("gru")
    assert recurrent.isExpanded()
    palette.set_filter("")
    assert not recurrent.isExpanded()  # the user's choice comes back


def test_no_match_hides_every_category_and_says_so(qtbot):
    palette = make_palette(qtbot)
    palette.set_filter("no such layer")
    assert palette.visible_layers() == []
    assert all(c.isHidden() for c in palette.category_items())
    assert not palette.tree.isVisible()


def test_clearing_the_search_restores_everything(qtbot):
    palette = make_palette(qtbot)
    palette.set_filter("conv")
    assert 0 < len(palette.visible_layers()) < len(CATALOGUE)
    palette.search.clear()
    assert sorted(palette.visible_layers()) == sorted(CATALOGUE)
    assert all(not c.isHidden() for c in palette.category_items())
    assert palette.tree.isVisible()


def test_drag_payload_carries_the_layer_type(qtbot):
    palette = make_palette(qtbot)
    data = palette.tree.mimeData([item_for(palette, "Conv2d")])  # what startDrag sends
    assert bytes(data.data(LAYER_MIME)).decode("utf-8") == "Conv2d"
    assert data.text() == "Conv2d"
    assert LAYER_MIME in palette.tree.mimeTypes()
    assert bytes(palette.mime_data("Linear").data(LAYER_MIME)) == b"Linear"
    category = palette.category_items()[0]
    assert not category.flags() & Qt.ItemFlag.ItemIsDragEnabled
    assert item_for(palette, "Conv2d").flags() & Qt.ItemFlag.ItemIsDragEnabled


def test_double_click_emits_layer_activated(qtbot):
    palette = make_palette(qtbot)
    item = item_for(palette, "Dropout")
    palette.tree.scrollToItem(item)
    rect = palette.tree.visualItemRect(item)
    with qtbot.waitSignal(palette.layerActivated, timeout=1000) as blocker:
        # A real double-click: press/release, then the double-click press.
        qtbot.mouseClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(palette.tree.viewport(), Qt.MouseButton.LeftButton,
                          pos=rect.center())
    assert blocker.args == ["Dropout"]


def test_enter_on_a_layer_emits_layer_activated(qtbot):
    palette = make_palette(qtbot)
    palette.tree.setCurrentItem(item_for(palette, "GELU"))
    with qtbot.waitSignal(palette.layerActivated, timeout=1000) as blocker:
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert blocker.args == ["GELU"]


def test_enter_on_a_category_does_nothing(qtbot):
    palette = make_palette(qtbot)
    palette.tree.setCurrentItem(palette.category_items()[0])
    with qtbot.assertNotEmitted(palette.layerActivated):
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)


def test_enter_in_search_activates_first_match(qtbot):
    palette = make_palette(qtbot)
    qtbot.keyClicks(palette.search, "batchnorm")
    with qtbot.waitSignal(palette.layerActivated, timeout=1000) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["BatchNorm1d"]


def test_every_category_has_its_own_colour():
    colours = [category_color(c).name() for c in CATEGORY_ORDER]
    assert len(set(colours)) == len(CATEGORY_ORDER)
    for c in CATEGORY_ORDER:
        lightness = category_color(c).lightnessF()
        assert 0.35 <= lightness <= 0.75, c  # mid-tone: visible on white and on black
    assert category_color("Some plugin family").isValid()


def test_other_tools_names_find_the_layer_and_enter_adds_the_best_match(qtbot):
    palette = make_palette(qtbot)
    added = []
    palette.layerActivated.connect(added.append)
    qtbot.keyClicks(palette.search, "dense")  # Keras' name for Linear
    assert palette.best_matches()[0] == "Linear"
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    palette.set_filter("fully connected")
    assert palette.best_matches()[0] == "Linear"
    palette.set_filter("swish")  # a replaced name (SiLU's old type) is an alias too
    assert palette.best_matches()[0] == "SiLU"
    assert added == ["Linear"]


def test_the_name_ranks_above_a_mention_in_the_help_text(qtbot):
    palette = make_palette(qtbot)
    palette.set_filter("lstm")  # GRU's description mentions LSTM
    assert palette.best_matches()[:2] == ["LSTM", "GRU"]
    assert palette.tree.currentItem().text(0) == "LSTM"


def test_recent_layers_come_first_newest_on_top_and_are_kept(qtbot):
    palette = make_palette(qtbot)
    assert palette.recent_layers() == []
    assert palette.tree.topLevelItem(0).text(0) != "Recent"
    for type_name in ("Conv2d", "ReLU", "Conv2d"):
        palette.note_used(type_name)
    top = palette.tree.topLevelItem(0)
    assert top.text(0) == "Recent"
    assert [top.child(i).text(0) for i in range(top.childCount())] == ["Conv2d", "ReLU"]
    palette.set_filter("relu")  # searching shows the catalogue, not the duplicates
    assert top.isHidden()
    palette.set_filter("")
    assert not top.isHidden()
    again = make_palette(qtbot)  # the next start (same settings store)
    assert again.recent_layers() == ["Conv2d", "ReLU"]


def test_adding_a_layer_on_the_canvas_lists_it_under_recent(gui):
    window = gui.window()
    window.add_layer_at_centre("GELU")
    assert window.palette_widget.recent_layers()[0] == "GELU"
