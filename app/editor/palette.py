"""The layer palette: every catalogue layer by category, searchable, draggable onto the canvas.

It reads the catalogue only (``graph.layers.by_category``); adding a layer type to the
catalogue adds it here. Search ranks through ``graph.layers.search`` (names, other tools'
names, help text); the layers a user added last are listed first under "Recent" (kept in
QSettings ``palette/recent``).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QLineEdit, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from app.editor.mime import BLOCK_MIME, LAYER_MIME
from app.editor.style import category_icon, muted_color
from graph.layers import CATALOGUE, LayerSpec, by_category
from graph.layers.search import search, text_of

TYPE_ROLE = Qt.ItemDataRole.UserRole  # the layer type name on layer items (None on categories)
BLOCK_ROLE = Qt.ItemDataRole.UserRole + 1  # a block item's key (see mime.BLOCK_MIME)
BLOCKS = "Blocks"
_ACTIVATE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
RECENT_SETTING = "palette/recent"
RECENT_COUNT = 6
RECENT = "Recent"


def layer_mime_data(type_name: str) -> QMimeData:
    """What a palette drag carries: the layer type as LAYER_MIME and as plain text."""
    data = QMimeData()
    data.setData(LAYER_MIME, type_name.encode("utf-8"))
    data.setText(type_name)
    return data


class _LayerTree(QTreeWidget):
    """The category tree; drags layer items as LAYER_MIME, Enter activates."""

    activated = Signal(QTreeWidgetItem)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setUniformRowHeights(True)
        self.setIndentation(14)
        self.setAnimated(False)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setExpandsOnDoubleClick(True)
        self.itemDoubleClicked.connect(self._double_clicked)

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return [LAYER_MIME, BLOCK_MIME, "text/plain"]

    def mimeData(self, items) -> QMimeData:  # noqa: N802 - Qt override
        names = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        if names:
            return layer_mime_data(names[0])
        keys = [i.data(0, BLOCK_ROLE) for i in items if i.data(0, BLOCK_ROLE)]
        data = QMimeData()
        if keys:
            data.setData(BLOCK_MIME, keys[0].encode("utf-8"))
        return data

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 - Qt override
        return Qt.DropAction.CopyAction

    def _double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if item.data(0, TYPE_ROLE) or item.data(0, BLOCK_ROLE):
            self.activated.emit(item)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        item = self.currentItem()
        if event.key() in _ACTIVATE_KEYS and item is not None and (
                item.data(0, TYPE_ROLE) or item.data(0, BLOCK_ROLE)):
            self.activated.emit(item)
            return
        super().keyPressEvent(event)


class PaletteWidget(QWidget):
    """Search box above the catalogue tree. Emits ``layerActivated(type_name)`` on double-click
    or Enter (the canvas adds that layer at its centre); dragging an item carries LAYER_MIME."""

    layerActivated = Signal(str)
    blockActivated = Signal(str)  # a block item's key (double-click or Enter)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter by name, category or description. Enter adds the first "
                               "match; Down moves into the list.")
        self.tree = _LayerTree(self)
        self._empty = QLabel(self)
        self._empty.setWordWrap(True)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self._empty.setContentsMargins(8, 12, 8, 8)
        self._empty.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self._empty, 1)

        self._categories: list[QTreeWidgetItem] = []
        self._search_text: dict[int, str] = {}  # id(item) -> lower-cased searchable text
        self._expanded_before_filter: dict[str, bool] | None = None
        self._recent_top = QTreeWidgetItem([RECENT])  # above the categories when not empty
        self._blocks_top = QTreeWidgetItem([BLOCKS])  # after the layer categories
        self.block_sources = None  # () -> [(key, name, description, where)]: the window's
        self._populate()
        self._show_recent()

        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self.activate_first_match)
        self.search.installEventFilter(self)
        self.tree.activated.connect(self._emit_activated)

    # ---- building --------------------------------------------------------------------------
    def _populate(self) -> None:
        bold = QFont(self.font())
        bold.setBold(True)
        for category, specs in by_category():
            top = QTreeWidgetItem(self.tree, [category])
            top.setIcon(0, category_icon(category))
            top.setFont(0, bold)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not selectable, not draggable
            top.setToolTip(0, f"{len(specs)} {category} layer{'s' if len(specs) != 1 else ''}")
            for spec in specs:
                self._add_layer_item(top, spec)
            self._categories.append(top)
        self.tree.expandAll()

    def _add_layer_item(self, parent: QTreeWidgetItem, spec: LayerSpec) -> None:
        item = QTreeWidgetItem(parent, [spec.type])
        item.setData(0, TYPE_ROLE, spec.type)
        item.setIcon(0, category_icon(spec.category))
        item.setToolTip(0, f"<b>{spec.type}</b><br>{spec.description}")
        item.setStatusTip(0, spec.description)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                      | Qt.ItemFlag.ItemIsDragEnabled)
        self._search_text[id(item)] = text_of(spec)
        if spec.aliases:
            item.setToolTip(0, f"<b>{spec.type}</b> (also: {', '.join(spec.aliases)})<br>"
                               f"{spec.description}")

    # ---- recently used -------------------------------------------------------------------
    def recent_layers(self) -> list[str]:
        """The layer types added last, newest first (unknown names from older versions
        dropped)."""
        names = QSettings().value(RECENT_SETTING, [], type=list) or []
        return [n for n in names if n in CATALOGUE][:RECENT_COUNT]

    def note_used(self, type_name: str) -> None:
        """A layer of this type was added to the network: list it first under Recent."""
        if type_name not in CATALOGUE:
            return
        names = [type_name] + [n for n in self.recent_layers() if n != type_name]
        QSettings().setValue(RECENT_SETTING, names[:RECENT_COUNT])
        self._show_recent()

    def _show_recent(self) -> None:
        top = self._recent_top
        top.takeChildren()
        names = self.recent_layers()
        if names and self.tree.indexOfTopLevelItem(top) < 0:
            bold = QFont(self.font())
            bold.setBold(True)
            top.setFont(0, bold)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setToolTip(0, "The layers you added last")
            self.tree.insertTopLevelItem(0, top)
        elif not names and self.tree.indexOfTopLevelItem(top) >= 0:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(top))
        for name in names:
            spec = CATALOGUE[name]
            item = QTreeWidgetItem(top, [spec.type])
            item.setData(0, TYPE_ROLE, spec.type)
            item.setIcon(0, category_icon(spec.category))
            item.setToolTip(0, f"<b>{spec.type}</b><br>{spec.description}")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsDragEnabled)
        top.setExpanded(True)
        top.setHidden(bool(self.search.text().strip()))

    # ---- reading -------------------------------------------------------------------------
    def layer_items(self) -> list[QTreeWidgetItem]:
        """Every layer item, in display order."""
        return [top.child(i) for top in self._categories for i in range(top.childCount())]

    def category_items(self) -> list[QTreeWidgetItem]:
        return list(self._categories)

    def visible_layers(self) -> list[str]:
        """Type names currently shown (not hidden by the filter), in display order."""
        return [item.data(0, TYPE_ROLE) for item in self.layer_items()
                if not item.isHidden() and not item.parent().isHidden()]

    def mime_data(self, type_name: str) -> QMimeData:
        """The payload a drag of ``type_name`` carries (what the canvas' drop accepts)."""
        return self.tree.mimeData([i for i in self.layer_items()
                                   if i.data(0, TYPE_ROLE) == type_name])

    # ---- filtering -------------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        """Show only layers whose name, category or description contains every word of
        ``text`` (case-insensitive); categories without a match are hidden."""
        if self.search.text() != text:
            self.search.setText(text)  # re-enters through textChanged
            return
        words = text.lower().split()
        if words and self._expanded_before_filter is None:
            self._expanded_before_filter = {c.text(0): c.isExpanded() for c in self._categories}
        any_match = False
        self.tree.setUpdatesEnabled(False)
        try:
            for top in self._categories:
                matches = 0
                for i in range(top.childCount()):
                    item = top.child(i)
                    hit = all(w in self._search_text[id(item)] for w in words)  # = score > 0
                    item.setHidden(not hit)
                    matches += hit
                top.setHidden(matches == 0)
                any_match |= matches > 0
                if words and matches:
                    top.setExpanded(True)
            if not words and self._expanded_before_filter is not None:
                for top in self._categories:
                    top.setExpanded(self._expanded_before_filter.get(top.text(0), True))
                self._expanded_before_filter = None
        finally:
            self.tree.setUpdatesEnabled(True)
        self._recent_top.setHidden(bool(words))
        block_hits = 0
        for item in self.block_items():
            hit = all(w in self._search_text[id(item)] for w in words)
            item.setHidden(not hit)
            block_hits += hit
        self._blocks_top.setHidden(block_hits == 0)
        any_match |= block_hits > 0
        self._select_first_visible()
        self.tree.setVisible(any_match)
        self._empty.setVisible(not any_match)
        if not any_match:
            self._empty.setText(f"No layer matches “{text.strip()}”.")
            self._empty.setStyleSheet(f"color: {muted_color(self.palette()).name()}")

    def best_matches(self) -> list[str]:
        """The visible layers, best match for the search text first."""
        return search(self.search.text(), self.visible_layers())

    def _select_first_visible(self) -> None:
        names = self.best_matches()
        if self.search.text().strip() and names:
            first = next(i for i in self.layer_items() if i.data(0, TYPE_ROLE) == names[0])
            self.tree.setCurrentItem(first)
            self.tree.scrollToItem(first)
        elif not self.search.text().strip():
            self.tree.clearSelection()

    def activate_first_match(self) -> None:
        """Enter in the search box: add the best match."""
        names = self.best_matches()
        if names and self.search.text().strip():
            self.layerActivated.emit(names[0])

    # ---- events ----------------------------------------------------------------------------
    def _emit_activated(self, item: QTreeWidgetItem) -> None:
        if item.data(0, BLOCK_ROLE):
            self.blockActivated.emit(item.data(0, BLOCK_ROLE))
            return
        self.layerActivated.emit(item.data(0, TYPE_ROLE))

    # ---- blocks ------------------------------------------------------------------------------
    def refresh_blocks(self) -> None:
        """Re-read the Blocks category (built-in, your library, this project) from
        ``block_sources``."""
        top = self._blocks_top
        top.takeChildren()
        entries = self.block_sources() if self.block_sources is not None else []
        if self.tree.indexOfTopLevelItem(top) < 0:
            bold = QFont(self.font())
            bold.setBold(True)
            top.setFont(0, bold)
            top.setIcon(0, category_icon(BLOCKS))
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        top.setToolTip(0, f"{len(entries)} blocks: sub-networks used as one node. Drag one "
                          f"onto the canvas; select layers and press Ctrl+G to make your own")
        for key, name, description, where in entries:
            item = QTreeWidgetItem(top, [name if where == "built-in" else f"{name}  ({where})"])
            item.setData(0, BLOCK_ROLE, key)
            item.setIcon(0, category_icon(BLOCKS))
            item.setToolTip(0, f"<b>{name}</b> ({where} block)<br>{description}")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsDragEnabled)
            self._search_text[id(item)] = f"{name} {description} {where} block".lower()
        self.set_filter(self.search.text())

    def block_items(self) -> list[QTreeWidgetItem]:
        top = self._blocks_top
        return [top.child(i) for i in range(top.childCount())]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Down/Escape in the search box: move into the list / clear the search.
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key == Qt.Key.Key_Down and self.visible_layers():
                current = self.tree.currentItem()
                if current is None or not current.data(0, TYPE_ROLE) or current.isHidden():
                    first = self.best_matches()[0]
                    self.tree.setCurrentItem(next(i for i in self.layer_items()
                                                  if i.data(0, TYPE_ROLE) == first))
                self.tree.setFocus()
                return True
            if key == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
        return super().eventFilter(watched, event)
