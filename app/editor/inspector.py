"""The inspector: the selected layer's name, settings, tensor shapes, cost and problems.

It is a view of one node of the document's graph. Editors are generated from the layer's
``ParamSpec``s; a user edit becomes a ``SetParam``/``Rename`` pushed through the document (so it
is undoable), and model events flow back into the editors. It keeps no copy of the graph.

The editors are in ``param_editors``, the page's sections (totals, settings, shapes, errors)
in ``inspector_sections`` and the reading of model files in ``model_file_reader``.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QFormLayout, QFrame, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from app.editor.form_widgets import set_text_color, text_label, tune_form
from app.editor.inspector_sections import IssuesSection, NetworkTotals, ParamsForm, ShapesSection
from app.editor.model_file_reader import FILE_READERS, ModelFileReads
from app.editor.param_editors import (BoolEditor, ChoiceEditor, DerivedEditor, FileEditor,
                                      FloatEditor, IntEditor, IntsRowEditor, IntsTextEditor,
                                      ParamEditor, format_float, format_ints, make_editor,
                                      parse_float, parse_ints)
from app.editor.style import category_color, error_color, muted_color, text_color_on
from graph.commands import Rename, SetParam
from graph.errors import LayerForgeError
from graph.model import GraphEvent, Node

__all__ = ["BoolEditor", "ChoiceEditor", "DerivedEditor", "FILE_READERS", "FileEditor",
           "FloatEditor", "InspectorWidget", "IntEditor", "IntsRowEditor", "IntsTextEditor",
           "ParamEditor", "format_float", "format_ints", "make_editor", "parse_float",
           "parse_ints"]


# ---- the panel -------------------------------------------------------------------------------
class InspectorWidget(QWidget):
    """Shows and edits the selected node (``set_node``); with no node, the graph's totals."""

    def __init__(self, document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self._node_id: str | None = None
        self._built_for: str | None = None  # node id the editors were built for
        self._refreshing = False
        self._file_reads = ModelFileReads(lambda: self.document, lambda: self._node_id,
                                          self._param_problem, parent=self)
        self._build_ui()
        self.set_document(document)

    # ---- construction ----------------------------------------------------------------------
    def _build_ui(self) -> None:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        content = QWidget()
        scroll.setWidget(content)
        body = QVBoxLayout(content)
        body.setContentsMargins(10, 10, 10, 10)
        body.setSpacing(0)

        # No selection: a hint and the totals.
        self.empty_page = QWidget()
        empty = QVBoxLayout(self.empty_page)
        empty.setContentsMargins(0, 0, 0, 0)
        empty.setSpacing(6)
        self.hint = text_label("Select a layer to see and edit its settings.", wrap=True)
        empty.addWidget(self.hint)
        empty.addSpacing(6)
        self.totals = NetworkTotals(empty, self)
        self.total_labels: dict[str, QLabel] = self.totals.labels
        body.addWidget(self.empty_page)

        # A node: header, name, description, settings, shapes, errors.
        self.node_page = QWidget()
        page = QVBoxLayout(self.node_page)
        page.setContentsMargins(0, 0, 0, 0)
        page.setSpacing(6)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        page.addWidget(self.header)

        name_form = QFormLayout()
        tune_form(name_form)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The layer's name: a Python identifier, used in the generated "
                                  "code and in the weights file (conv1.weight).")
        self.name_edit.editingFinished.connect(self._commit_name)
        name_form.addRow("Name", self.name_edit)
        page.addLayout(name_form)
        self.name_error = text_label(wrap=True)
        self.name_error.hide()
        page.addWidget(self.name_error)

        self.description = text_label(wrap=True)
        page.addWidget(self.description)
        self.open_block = QPushButton("Open Block (edit inside)")
        self.open_block.setToolTip("Edit the layers inside this block; every instance follows "
                                   "(double-click the card does the same)")
        self.open_block.clicked.connect(self._open_block)
        self.open_block.hide()
        page.addWidget(self.open_block)

        self.params_form = ParamsForm(page, self, self._param_edited)
        self.param_error = self.params_form.error
        self.shapes = ShapesSection(page, self)
        self.issues = IssuesSection(page, self)
        body.addWidget(self.node_page)
        body.addStretch(1)
        self._apply_colors()

    def _apply_colors(self) -> None:
        palette = self.palette()
        muted = muted_color(palette)
        for label in (self.hint, self.description):
            set_text_color(label, muted)
        for label in (self.name_error, self.param_error):
            set_text_color(label, error_color(palette))

    # the sections' labels under the inspector's own names (tests, other panels)
    @property
    def params_label(self) -> QLabel:
        return self.shapes.params_label

    @property
    def trainable_label(self) -> QLabel:
        return self.shapes.trainable_label

    @property
    def macs_label(self) -> QLabel:
        return self.shapes.macs_label

    @property
    def issue_labels(self) -> list[QLabel]:
        return self.issues.labels

    # ---- the document ----------------------------------------------------------------------
    def set_document(self, document) -> None:
        """Show another document (e.g. after File > Open); clears the selection."""
        if self.document is not None:
            self.document.analysisChanged.disconnect(self._on_analysis)
            self.document.shownGraphChanged.disconnect(self._on_graph_event)
        self.document = document
        document.analysisChanged.connect(self._on_analysis)
        document.shownGraphChanged.connect(self._on_graph_event)
        self._node_id = None
        self.set_node(None)

    @property
    def node_id(self) -> str | None:
        return self._node_id

    def _node(self) -> Node | None:
        graph = self.document.shown_graph
        if self._node_id is None or not graph.has_node(self._node_id):
            return None
        return graph.node(self._node_id)

    # ---- selection -------------------------------------------------------------------------
    def set_node(self, node_id: str | None) -> None:
        """Inspect ``node_id`` (None, or an id no longer in the graph: show the totals)."""
        if node_id is not None and not self.document.shown_graph.has_node(node_id):
            node_id = None
        self._node_id = node_id
        node = self._node()
        if node is None:
            self._built_for = None
            self._clear_editors()
            self.node_page.hide()
            self.empty_page.show()
            self.totals.show(self.document)
            return
        if self._built_for != node.id:
            self._build_for(node)
        else:
            self._refresh_values(node)
        self.empty_page.hide()
        self.node_page.show()
        self._refresh_analysis()

    def _build_for(self, node: Node) -> None:
        spec = node.spec
        color = category_color(spec.category)
        self.header.setText(f"<span style='font-size:large; font-weight:600'>"
                            f"{node.type_label}</span>&nbsp;&nbsp;<span>{spec.category}</span>")
        self.open_block.setVisible(node.block is not None)
        self.header.setStyleSheet(
            f"QLabel {{ background: {color.name()}; color: {text_color_on(color).name()};"
            f" border-radius: 5px; padding: 6px 10px; }}")
        self.description.setText(spec.description)
        self.name_error.hide()

        self._clear_editors()
        self.params_form.build(node)
        self._built_for = node.id
        self._refresh_values(node)

    def _open_block(self) -> None:
        node = self._node()
        if node is not None and node.block is not None:
            self.document.open_block(node.block)

    def _clear_editors(self) -> None:
        self.params_form.clear()
        self.shapes.clear()
        self.issues.forget()

    def _refresh_values(self, node: Node) -> None:
        """Show the model's values in the editors (reporting no edits)."""
        self._refreshing = True
        try:
            if self.name_edit.text() != node.name:
                self.name_edit.setText(node.name)
            self.params_form.show_values(node.params)
        finally:
            self._refreshing = False
        self.params_form.clear_problems()

    # ---- model -> view ---------------------------------------------------------------------
    def _on_graph_event(self, event: GraphEvent) -> None:
        if self._node_id is None or event.node_id != self._node_id:
            return
        if event.kind == "node_removed":
            self.set_node(None)
        elif event.kind == "param_changed":
            editor = self.params_form.editors.get(event.name)
            if editor is not None:
                self._refreshing = True
                try:
                    editor.set_value(event.value)
                finally:
                    self._refreshing = False
                self._param_problem(event.name, None)
        elif event.kind == "node_renamed":
            if self.name_edit.text() != event.name:
                self.name_edit.setText(event.name)
            self.name_error.hide()

    def _on_analysis(self) -> None:
        if self._node() is None:
            if self._node_id is not None:  # removed without us hearing of it
                self.set_node(None)
            self.totals.show(self.document)
        else:
            self._refresh_analysis()

    def _refresh_analysis(self) -> None:
        """Shapes, cost and problems of the node: label texts only, no editor is rebuilt."""
        node = self._node()
        if node is None:
            return
        analysis = self.document.shown_analysis
        graph = self.document.shown_graph
        sources = {}
        for e in graph.edges_into(node.id):  # which layer feeds each input
            name = graph.node(e.source).name
            sources[e.target_port] = name if e.source_port == "out" else \
                f"{name}.{e.source_port}"
        self.shapes.show(node, analysis.info.get(node.id), sources)
        self.issues.show(analysis.issues_for(node.id))

    # ---- view -> model ---------------------------------------------------------------------
    def _param_edited(self, key: str, value: Any) -> None:
        node = self._node()
        if self._refreshing or node is None:
            return
        if node.params.get(key) == value and type(node.params.get(key)) is type(value):
            return  # nothing changed (focus left a field, a refresh echoed back)
        if FILE_READERS.get(node.type) == key:
            # read on a thread, then the path and what was read as one undoable edit
            self._file_reads.read(node, value)
            return
        self.document.push(SetParam(self.document.shown_graph, node.id, key, value))

    def wait_for_file_reads(self, ms: int = 30_000) -> None:
        """Block until model files being read are read and applied (tests, closing)."""
        self._file_reads.wait(ms)

    def _param_problem(self, key: str, message: str | None) -> None:
        self.params_form.set_problem(key, message)

    def _commit_name(self) -> None:
        node = self._node()
        if node is None:
            return
        name = self.name_edit.text().strip()
        if name == node.name:
            self.name_edit.setText(node.name)
            self.name_error.hide()
            return
        refusals: list[str] = []

        def refused(message: str) -> None:
            refusals.append(message)

        self.document.message.connect(refused)
        try:
            ok = self.document.push(Rename(self.document.shown_graph, node.id, name))
        except LayerForgeError as exc:  # a command that refuses before push runs it
            ok, refusals = False, [str(exc)]
        finally:
            self.document.message.disconnect(refused)
        if ok:
            self.name_error.hide()
            return
        self.name_error.setText(refusals[0] if refusals else f"cannot rename to {name!r}")
        self.name_error.show()
        self.name_edit.setText(node.name)

    # ---- for tests and other panels ---------------------------------------------------------
    def editor(self, key: str) -> ParamEditor:
        """The editor of parameter ``key`` of the inspected node."""
        return self.params_form.editors[key]

    def shape_texts(self) -> dict[str, str]:
        """What the Shapes section shows: {"in": "(N, 1, 16, 16)", "out": ...}."""
        return self.shapes.texts()

    def issue_texts(self) -> list[str]:
        return self.issues.texts()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Light <-> dark theme switch: colours are picked per palette, so pick them again.
        if event.type() == QEvent.Type.PaletteChange and getattr(self, "document", None):
            self._apply_colors()
            self.issues.forget()
            self._on_analysis()
        super().changeEvent(event)
