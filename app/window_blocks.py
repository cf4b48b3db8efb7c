"""Blocks in the window: Edit > Group into Block / Ungroup / Open Block / Rename Block /
Save Block to Library, double-click a block card to edit inside it, and the bar above the
canvas that says where you are (Network › Residual) with the way back.

Every step is one undo step on the document's stack (the commands are in graph.blocks); the
user's library is a folder of block files in LayerForge's data folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QInputDialog, QLabel, QMessageBox,
                               QPushButton)

from app.paths import app_data_dir
from graph.block_library import (BLOCK_SUFFIX, built_in_blocks, library_blocks, load_block,
                                 save_block)
from graph.blocks import AddBlock, BlockDefinition, GroupIntoBlock, RenameBlock, Ungroup
from graph.errors import LayerForgeError

if TYPE_CHECKING:
    from app.main_window import MainWindow


def library_folder() -> Path:
    """Where Save Block to Library writes and the palette's Blocks category reads."""
    return app_data_dir() / "blocks"


class BlockBar(QFrame):
    """Over the canvas' top-left corner while a block is open: the path, and Back."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window.view)
        self.window = window
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.path = QLabel()
        self.path.setTextFormat(Qt.TextFormat.PlainText)
        self.back = QPushButton("Back to Network")
        self.back.setToolTip("Leave the block (Alt+Up); your edits inside stay, in every "
                             "instance")
        self.back.clicked.connect(lambda: window.document.close_block())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 3, 3)
        layout.addWidget(self.path)
        layout.addWidget(self.back)
        self.hide()

    def follow(self) -> None:
        blocks = self.window.document.open_blocks
        self.setVisible(bool(blocks))
        if blocks:
            names = ["Network", *(d.name for d in blocks)]
            self.path.setText(" › ".join(names) + "   (editing every instance)")
            self.back.setText("Back" if len(blocks) > 1 else "Back to Network")
            self.adjustSize()
            self.move(8, 8)
            self.raise_()


class WindowBlocks(QObject):
    """The block actions of a window."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window

        def action(text: str, slot, shortcut: str | None, tip: str) -> QAction:
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            window.addAction(act)
            return act

        self.act_group = action("&Group into Block", self.group, "Ctrl+G",
                                "Make the selected layers one block node (a sub-network)")
        self.act_ungroup = action("Ungro&up Block", self.ungroup, "Ctrl+Shift+G",
                                  "Put the selected block's layers back in its place")
        self.act_open = action("&Open Block", self.open_selected, "Ctrl+E",
                               "Edit inside the selected block (every instance follows)")
        self.act_expand = action("E&xpand Block in Place", self.toggle_expanded,
                                 "Ctrl+Shift+E", "Show the selected blocks' layers inside "
                                 "their cards (again: collapse them)")
        self.act_back = action("&Back to Network", self.back, "Alt+Up",
                               "Leave the block being edited")
        self.act_rename = action("Re&name Block…", self.rename, None,
                                 "Rename the selected block's definition (every instance)")
        self.act_save = action("&Save Block to Library…", self.save_to_library, None,
                               "Keep the selected block in your library: it appears in the "
                               "palette's Blocks category in every project")
        self.bar: BlockBar | None = None
        self._built_in_cache: list[BlockDefinition] | None = None

    def actions(self) -> list[QAction]:
        return [self.act_group, self.act_ungroup, self.act_open, self.act_expand, self.act_back,
                self.act_rename, self.act_save]

    # ---- the palette's Blocks ---------------------------------------------------------------
    def sources(self) -> list[tuple[str, str, str, str]]:
        """(key, name, description, where) of every block the palette offers."""
        entries = [(f"builtin:{d.name}", d.name, d.description, "built-in")
                   for d in self._built_in()]
        mine, problems = library_blocks(library_folder())
        for problem in problems:
            self.window.show_message(f"a block in your library could not be read: {problem}")
        entries += [(f"library:{library_folder() / (d.name + BLOCK_SUFFIX)}", d.name,
                     d.description, "library") for d in mine]
        document = self.window.document
        if document is not None:
            entries += [(f"project:{name}", name, d.description, "this project")
                        for name, d in document.graph.blocks.items()]
        return entries

    def _built_in(self) -> list[BlockDefinition]:
        if self._built_in_cache is None:  # built once per window, when the palette asks
            self._built_in_cache = built_in_blocks()
        return self._built_in_cache

    def definition_for(self, key: str) -> BlockDefinition | None:
        where, _, name = key.partition(":")
        try:
            if where == "builtin":
                return next(d for d in self._built_in() if d.name == name)
            if where == "library":
                return load_block(name)
            if where == "project":
                return self.window.document.graph.blocks[name]
        except (StopIteration, KeyError, LayerForgeError) as exc:
            self.window.show_message(f"the block {name} is not available any more ({exc})")
            self.window.palette_widget.refresh_blocks()
        return None

    def add_block(self, key: str, at: QPointF | None = None) -> str | None:
        """Drop an instance of a palette block (at the canvas' centre by default)."""
        definition = self.definition_for(key)
        if definition is None:
            return None
        view = self.window.view
        at = at if at is not None else view.mapToScene(view.viewport().rect().center())
        command = AddBlock(self.window.document.shown_graph, definition,
                           (round(at.x() - 95), round(at.y() - 25)))
        if not self.window.document.push(command):
            return None
        self.window.scene.select_nodes([command.node_id])
        return command.node_id

    # ---- following the document ------------------------------------------------------------
    def follow(self, document) -> None:
        """A new document: show where it is (the network) and watch it open blocks."""
        palette = self.window.palette_widget
        if self.bar is None:
            self.bar = BlockBar(self.window)
            self.window.view.viewport().installEventFilter(self)
            self.window.view.blockDropped.connect(self.add_block)
            palette.block_sources = self.sources
            palette.blockActivated.connect(self.add_block)
        document.shownChanged.connect(self._shown_changed)
        document.graphChanged.connect(self._definitions_changed)
        palette.refresh_blocks()
        self.bar.follow()
        self.act_back.setEnabled(False)

    def _definitions_changed(self, event) -> None:
        if event.kind == "block_changed" and event.value is None:  # added, removed, renamed
            self.window.palette_widget.refresh_blocks()

    def _shown_changed(self) -> None:
        assert self.bar is not None
        self.bar.follow()
        self.act_back.setEnabled(bool(self.window.document.open_blocks))
        self.window.view.show_start()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        # a double-click on a block card opens it (the view handles every other double-click)
        if event.type() == QEvent.Type.MouseButtonDblClick and \
                event.button() == Qt.MouseButton.LeftButton:
            node = self._block_at(event.position().toPoint())
            if node is not None:
                self.window.document.open_block(node.block)
                return True
        return False

    def _block_at(self, pos):
        from app.editor.scene import NodeItem

        item = self.window.view.itemAt(pos)
        while item is not None and not isinstance(item, NodeItem):
            item = item.parentItem()
        if item is None:
            return None
        node = self.window.document.shown_graph.node(item.node_id)
        return node if node.block is not None else None

    def _selected_block(self):
        ids = self.window.scene.selected_node_ids()
        graph = self.window.document.shown_graph
        blocks = [graph.node(i) for i in ids if graph.node(i).block is not None]
        if len(blocks) != 1 or len(ids) != 1:
            self.window.show_message("select one block first")
            return None
        return blocks[0]

    # ---- actions ---------------------------------------------------------------------------
    def group(self) -> bool:
        window = self.window
        ids = window.scene.selected_node_ids()
        try:
            command = GroupIntoBlock(window.document.shown_graph, ids)
        except LayerForgeError as exc:
            window.show_message(str(exc))
            return False
        if not window.document.push(command):
            return False
        window.scene.select_nodes([command.block_node_id])
        window.show_message(f"grouped {len(ids)} layers into block {command.name}: "
                            f"double-click it to edit inside")
        return True

    def ungroup(self) -> bool:
        node = self._selected_block()
        if node is None:
            return False
        command = Ungroup(self.window.document.shown_graph, node.id)
        if not self.window.document.push(command):
            return False
        self.window.scene.select_nodes(command.added_ids)
        return True

    def toggle_expanded(self) -> list[str]:
        """Expand the selected block cards in place, or collapse them if all are expanded."""
        scene = self.window.scene
        graph = self.window.document.shown_graph
        ids = [i for i in scene.selected_node_ids() if graph.node(i).block is not None]
        if not ids:
            self.window.show_message("select a block first")
            return []
        expand = not all(i in scene.expanded for i in ids)
        return scene.set_expanded(ids, expand)

    def open_selected(self) -> None:
        node = self._selected_block()
        if node is not None:
            self.window.document.open_block(node.block)

    def back(self) -> None:
        self.window.document.close_block()

    def rename(self, new_name: str | None = None) -> bool:
        node = self._selected_block()
        if node is None:
            return False
        if new_name is None:
            new_name, ok = QInputDialog.getText(self.window, "Rename Block",
                                                "Block name (a Python class name):",
                                                text=node.block.name)
            if not ok:
                return False
        try:
            command = RenameBlock(self.window.document.graph, node.block.name, new_name.strip())
        except LayerForgeError as exc:
            self.window.show_message(str(exc))
            return False
        return self.window.document.push(command)

    def save_to_library(self, folder: Path | None = None, confirm: bool = True) -> Path | None:
        node = self._selected_block()
        if node is None:
            return None
        folder = folder or library_folder()
        target = folder / f"{node.block.name}{BLOCK_SUFFIX}"
        if confirm and target.exists() and QMessageBox.question(
                self.window, "Replace block?", f"Your library already has a block "
                f"{node.block.name}. Replace it?") != QMessageBox.StandardButton.Yes:
            return None
        try:
            path = save_block(node.block, folder)
        except (OSError, LayerForgeError) as exc:
            self.window.show_message(f"could not save the block to {folder}: {exc}")
            return None
        self.window.show_message(f"saved block {node.block.name} to your library ({path})")
        self.window.palette_widget.refresh_blocks()
        return path


__all__ = ["WindowBlocks", "BlockBar", "library_folder"]
