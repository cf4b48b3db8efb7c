"""What an import made, in a dialog a user reads and closes: the model, its nodes and blocks,
the Opaque nodes with the operation each runs, the importer's notes and how far the graph's
outputs are from the original's. A failed import shows its message here too."""
from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QStyle, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from app.import_progress import source_path
from graph.blocks import walk_nodes
from graph.model import Node

TABLE_ROWS = 12  # Opaque nodes listed without scrolling
SAME_OUTPUTS = 1e-4  # a max difference up to this is float rounding, not a different network
# Why an operation became Opaque, by the kind of call the importer recorded
WHY = {
    "module": "torch.nn module with no LayerForge layer",
    "function": "function with no LayerForge layer",
    "method": "tensor method with no LayerForge layer",
    "onnx": "ONNX operators with no LayerForge layer",
    "torchscript": "code torch.fx cannot trace, kept as TorchScript",
}


@dataclass
class OpaqueEntry:
    """One Opaque node: where it is (``block/inner`` names), what it runs and why."""

    path: str
    operation: str
    why: str


@dataclass
class ImportSummary:
    """The report's facts about one import (plain data, built from an ImportResult)."""

    name: str
    source: str
    nodes: int  # layers at any depth (inside blocks too), not counting the blocks themselves
    blocks: int  # Block nodes at any depth
    opaque: list[OpaqueEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None
    seconds: float = 0.0
    checkpoint: str = ""


def opaque_entry(path: str, node: Node) -> OpaqueEntry:
    """What an Opaque node runs (its recorded ``operation``, else the recipe's) and why."""
    try:
        recipe = json.loads(node.params.get("op") or "{}")
    except ValueError:
        recipe = {}
    recipe = recipe if isinstance(recipe, dict) else {}
    operation = str(node.params.get("operation") or "")
    if not operation and recipe:
        from backend.compile.opaque import describe

        operation = describe(recipe)
    return OpaqueEntry(path, operation or "unknown operation",
                       WHY.get(recipe.get("call"), "no LayerForge layer does this"))


def summarize(result, source: str, seconds: float = 0.0, checkpoint: str = "") -> ImportSummary:
    """The report's facts from a ``backend.imports.ImportResult``."""
    nodes = blocks = 0
    opaque = []
    for path, node in walk_nodes(result.project.graph):
        if node.type == "Block":
            blocks += 1
            continue
        nodes += 1
        if node.type == "Opaque":
            opaque.append(opaque_entry(path, node))
    return ImportSummary(result.project.name, source, nodes, blocks, opaque,
                         list(result.notes), result.max_abs_diff, seconds, checkpoint)


def tally(entries: list[OpaqueEntry]) -> str:
    """The operations, most frequent first: ".cumprod() ×20, torch.flip"."""
    counts = Counter(e.operation for e in entries)
    return ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in counts.most_common())


def difference_text(diff: float | None) -> str:
    """The max output difference in words."""
    if diff is None:
        return "not checked"
    if diff == 0:
        return "0 (the same outputs as the original)"
    verdict = "the same outputs, up to rounding" if diff <= SAME_OUTPUTS else \
        "the outputs differ: see the notes"
    return f"{diff:.2g} ({verdict})"


class ImportReportDialog(QDialog):
    """The report of one import, or why it failed. Not modal: the imported network is open
    behind it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import report")
        self.icon = QLabel()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.heading, 1)
        self.facts = QFormLayout()
        self.opaque_label = QLabel()
        self.opaque_label.setWordWrap(True)
        self.opaque_table = QTreeWidget()
        self.opaque_table.setHeaderLabels(["Node", "Operation", "Why"])
        self.opaque_table.setRootIsDecorated(False)
        self.opaque_table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel()  # a failure's text
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message.setContentsMargins(0, 8, 0, 8)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.facts)
        layout.addSpacing(6)
        for widget in (self.opaque_label, self.opaque_table, self.notes, self.message):
            layout.addWidget(widget)
        layout.addStretch(1)  # room the texts don't need goes below them
        layout.addWidget(buttons)
        self.summary: ImportSummary | None = None
        self.failure = ""

    def _set_icon(self, which: QStyle.StandardPixmap) -> None:
        self.icon.setPixmap(self.style().standardIcon(which).pixmap(32, 32))

    def show_result(self, summary: ImportSummary) -> None:
        """Fill in the report of a finished import."""
        self.summary = summary
        self._set_icon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        self.heading.setText(f"<b>Imported {html.escape(summary.name)}</b><br>"
                             f"<span style='color:gray'>from "
                             f"{html.escape(source_path(summary.source))}</span>")
        opaque = len(summary.opaque)
        share = f" ({opaque / summary.nodes:.0%})" if opaque and summary.nodes else ""
        rows = [("Nodes:", f"{summary.nodes}"),
                ("Blocks:", f"{summary.blocks}"),
                ("Opaque nodes:", f"{opaque}{share}"),
                ("Max output difference:", difference_text(summary.max_abs_diff))]
        if summary.seconds:
            rows.append(("Time:", f"{summary.seconds:.1f} s"))
        if summary.checkpoint:
            rows.append(("Weights saved to:", summary.checkpoint))
        for title, text in rows:
            value = QLabel(text)
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.facts.addRow(title, value)
        self.opaque_label.setText(
            "<b>Opaque nodes</b>: operations with no LayerForge layer. They run as recorded "
            "and keep the shapes they were imported with; replace them with layers to edit "
            f"them.<br>By operation: {html.escape(tally(summary.opaque))}" if opaque else
            "Every operation became an editable layer: no Opaque nodes.")
        for entry in summary.opaque:
            QTreeWidgetItem(self.opaque_table, [entry.path, entry.operation, entry.why])
        self.opaque_table.setVisible(bool(opaque))
        self._fit_table()
        self.notes.setText("<b>Notes</b><ul style='margin-top:2px; margin-left:-20px'>" + "".join(
            f"<li>{html.escape(note)}</li>" for note in summary.notes) + "</ul>")
        self.notes.setVisible(bool(summary.notes))
        self.message.hide()
        self._fit(560)

    def _fit_table(self) -> None:
        """As tall as its rows, up to TABLE_ROWS (then it scrolls)."""
        table = self.opaque_table
        rows = min(table.topLevelItemCount(), TABLE_ROWS)
        row_height = table.sizeHintForRow(0) if rows else 0
        table.setFixedHeight(table.header().sizeHint().height() + rows * row_height +
                             2 * table.frameWidth() + 2)

    def show_failure(self, source: str, message: str) -> None:
        """The import of ``source`` failed with ``message`` (an ImportModelError's text)."""
        self.failure = message
        self._set_icon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        path = source_path(source)
        self.setWindowTitle("Import failed")
        self.heading.setText(f"<b>Cannot import {html.escape(Path(path).name)}</b><br>"
                             f"<span style='color:gray'>{html.escape(path)}</span>")
        self.message.setText(message)
        for widget in (self.opaque_label, self.opaque_table, self.notes):
            widget.hide()
        self._fit(520)

    def _fit(self, min_width: int) -> None:
        """At least ``min_width`` wide, as tall as the wrapped texts need at that width."""
        width = max(min_width, self.sizeHint().width())
        layout = self.layout()
        layout.activate()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else -1
        self.resize(width, height if height > 0 else self.sizeHint().height())

    def facts_text(self) -> dict[str, str]:
        """The facts shown, by title (for tests and the screenshot script)."""
        out = {}
        for row in range(self.facts.rowCount()):
            label = self.facts.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
            value = self.facts.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
            out[label.text().rstrip(":")] = value.text()
        return out
