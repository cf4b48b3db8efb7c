"""The inspector: the selected layer's name, settings, tensor shapes, cost and problems.

It is a view of one node of the document's graph. Editors are generated from the layer's
``ParamSpec``s; a user edit becomes a ``SetParam``/``Rename`` pushed through the document (so it
is undoable), and model events flow back into the editors. It keeps no copy of the graph.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, QThread
from PySide6.QtGui import QColor, QFont, QWheelEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame,
                               QHBoxLayout, QLabel, QLineEdit, QScrollArea, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from app.editor.style import (category_color, error_color, muted_color, text_color_on,
                              warning_color)
from graph.commands import Compound, Rename, SetParam
from graph.errors import LayerForgeError
from graph.formatting import format_count, format_macs
from graph.layers import ParamSpec
from graph.model import GraphEvent, Node

_INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
_SPLIT = re.compile(r"[\s,;]+")

# Layers whose file parameter must be read by the backend to learn the node's shapes.
FILE_READERS = {"ImportedModel": "path"}

EditCallback = Callable[[str, Any], None]
ProblemCallback = Callable[[str, "str | None"], None]


# ---- small widgets ---------------------------------------------------------------------------
class _SpinBox(QSpinBox):
    """A spin box that lets the wheel scroll the panel unless it has focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setKeyboardTracking(False)  # one edit when typing ends, not one per keystroke
        self.setAccelerated(True)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _ComboBox(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


def _label(text: str = "", *, wrap: bool = False, selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _set_text_color(label: QLabel, color: QColor) -> None:
    label.setStyleSheet(f"color: {color.name()};")


def format_float(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (1e-05, 0.1, 2.0)."""
    return repr(float(value))


def parse_float(text: str) -> float:
    """A finite number from what the user typed; ValueError with a readable reason."""
    try:
        value = float(text.strip().replace("−", "-"))
    except ValueError:
        raise ValueError(f"“{text.strip()}” is not a number") from None
    if not math.isfinite(value):
        raise ValueError("enter a finite number")
    return value


def parse_ints(text: str) -> tuple[int, ...]:
    """Whole numbers separated by commas or spaces: "1, 28, 28" -> (1, 28, 28)."""
    parts = [p for p in _SPLIT.split(text.strip().strip("()[]")) if p]
    if not parts:
        raise ValueError("enter at least one whole number, e.g. 1, 28, 28")
    values = []
    for part in parts:
        try:
            values.append(int(part.replace("−", "-")))
        except ValueError:
            raise ValueError(f"“{part}” is not a whole number") from None
    return tuple(values)


def format_ints(value: Any) -> str:
    try:
        return ", ".join(str(v) for v in value)
    except TypeError:
        return str(value)


# ---- one editor per parameter kind -----------------------------------------------------------
class ParamEditor:
    """Edits one parameter. ``set_value`` shows a model value without reporting an edit;
    user edits call ``on_edit(key, value)``; unparsable text calls ``on_problem``."""

    def __init__(self, spec: ParamSpec, on_edit: EditCallback, on_problem: ProblemCallback):
        self.spec = spec
        self._on_edit = on_edit
        self._on_problem = on_problem
        self.widget: QWidget = self._build()
        self.widget.setToolTip(spec.help)

    def _build(self) -> QWidget:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_value(self, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _edited(self, value: Any) -> None:
        self._on_problem(self.spec.name, None)
        self._on_edit(self.spec.name, value)

    def _range(self, value: Any = None) -> tuple[int, int]:
        lo = int(self.spec.min) if self.spec.min is not None else -_INT_LIMIT
        hi = int(self.spec.max) if self.spec.max is not None else _INT_LIMIT
        # A value outside the declared range (an old file) is shown as it is, not clamped:
        # validation reports it.
        for v in (value if isinstance(value, (tuple, list)) else (value,)):
            if isinstance(v, int) and not isinstance(v, bool):
                lo, hi = min(lo, v), max(hi, v)
        return max(lo, -_INT_LIMIT), min(hi, _INT_LIMIT)


class IntEditor(ParamEditor):
    def _build(self) -> QWidget:
        self.spin = _SpinBox()
        self.spin.setRange(*self._range())
        self.spin.valueChanged.connect(self._edited)
        return self.spin

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setRange(*self._range(value))
            if isinstance(value, int):
                self.spin.setValue(value)


class _TextEditor(ParamEditor):
    """A text field parsed on editingFinished; a parse error is reported, nothing pushed."""

    placeholder = ""

    def parse(self, text: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def format(self, value: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build(self) -> QWidget:
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(self.placeholder)
        self.edit.editingFinished.connect(self._commit)
        return self.edit

    def _commit(self) -> None:
        try:
            value = self.parse(self.edit.text())
        except ValueError as exc:
            self._on_problem(self.spec.name, f"{self.spec.name}: {exc}")
            return
        self._edited(value)

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.edit):
            self.edit.setText(self.format(value))


class FloatEditor(_TextEditor):
    """A text field: small values such as 1e-5 must survive exactly, which a spin box with a
    fixed number of decimals would round."""

    def _build(self) -> QWidget:
        bounds = []
        if self.spec.min is not None:
            bounds.append(f"≥ {self.spec.min:g}")
        if self.spec.max is not None:
            bounds.append(f"≤ {self.spec.max:g}")
        self.placeholder = " and ".join(bounds) or "a number"
        return super()._build()

    def parse(self, text: str) -> Any:
        return parse_float(text)

    def format(self, value: Any) -> str:
        return format_float(value) if isinstance(value, (int, float)) else str(value)


class BoolEditor(ParamEditor):
    def _build(self) -> QWidget:
        self.check = QCheckBox()
        self.check.toggled.connect(self._edited)
        return self.check

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.check):
            self.check.setChecked(bool(value))


class ChoiceEditor(ParamEditor):
    def _build(self) -> QWidget:
        self.combo = _ComboBox()
        for choice in self.spec.choices:
            self.combo.addItem(str(choice))
        self.combo.currentIndexChanged.connect(self._picked)
        return self.combo

    def _picked(self, index: int) -> None:
        if 0 <= index < len(self.spec.choices):
            self._edited(self.spec.choices[index])

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.combo):
            index = self.spec.choices.index(value) if value in self.spec.choices else -1
            self.combo.setCurrentIndex(index)


class IntsRowEditor(ParamEditor):
    """A fixed number of whole numbers (kernel size, stride): one spin box each."""

    def _build(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.spins: list[QSpinBox] = []
        for _ in range(self.spec.length or 1):
            spin = _SpinBox()
            spin.setRange(*self._range())
            spin.setToolTip(self.spec.help)
            spin.valueChanged.connect(self._changed)
            row.addWidget(spin, 1)
            self.spins.append(spin)
        return box

    def _changed(self) -> None:
        self._edited(tuple(s.value() for s in self.spins))

    def set_value(self, value: Any) -> None:
        values = list(value) if isinstance(value, (tuple, list)) else [value] * len(self.spins)
        for spin, v in zip(self.spins, values):
            with QSignalBlocker(spin):
                spin.setRange(*self._range(v))
                if isinstance(v, int):
                    spin.setValue(v)


class IntsTextEditor(_TextEditor):
    """Any number of whole numbers, typed as "1, 28, 28"."""

    placeholder = "e.g. 1, 28, 28"

    def parse(self, text: str) -> Any:
        return parse_ints(text)

    def format(self, value: Any) -> str:
        return format_ints(value)


class FileEditor(ParamEditor):
    """A path: typed, or picked with "Browse…" (a file dialog using the spec's filter)."""

    def _build(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("no file chosen")
        self.edit.editingFinished.connect(lambda: self._edited(self.edit.text().strip()))
        self.browse = QToolButton()
        self.browse.setText("Browse…")
        self.browse.setToolTip(f"Choose the file ({self.spec.name})")
        self.browse.clicked.connect(self.choose)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)
        return box

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.widget, f"Choose {self.spec.name}",
                                              self.edit.text(), self.spec.file_filter)
        if path:
            self.edit.setText(path)
            self._edited(path)

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.edit):
            self.edit.setText(str(value))
            self.edit.setCursorPosition(0)  # the file name's start: the folder is in the tip
        self.edit.setToolTip(str(value) or self.spec.help)


class DerivedEditor(ParamEditor):
    """A value the app fills in (read from a file): shown, not edited."""

    def _build(self) -> QWidget:
        self.label = _label(selectable=True)
        return self.label

    def set_value(self, value: Any) -> None:
        if isinstance(value, (tuple, list)):
            text = format_ints(value) if value else "–"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = str(value)
        if len(text) > 48:  # recorded data (an imported op's recipe): its start says enough
            text = text[:47] + "…"
        self.label.setText(text)


def make_editor(spec: ParamSpec, on_edit: EditCallback, on_problem: ProblemCallback) -> ParamEditor:
    """The editor for a parameter, chosen by its kind."""
    kind = {"int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
            "file": FileEditor}
    if spec.derived:
        return DerivedEditor(spec, on_edit, on_problem)
    if spec.kind == "ints":
        cls = IntsRowEditor if spec.length else IntsTextEditor
    else:
        cls = kind[spec.kind]
    return cls(spec, on_edit, on_problem)


class _ModelFileReader(QThread):
    """Reads a model file off the GUI thread (``describe_model_file`` loads the whole model)."""

    def __init__(self, node_id: str, path: str, input_shape: tuple[int, ...] | None) -> None:
        super().__init__()
        self.node_id, self.path, self.input_shape = node_id, path, input_shape
        self.result = None
        self.error: str | None = None

    def run(self) -> None:  # QThread entry point
        from backend.compile.model_files import describe_model_file

        try:
            self.result = describe_model_file(self.path, self.input_shape)
        except LayerForgeError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app
            self.error = f"cannot read {self.path}: {type(exc).__name__}: {exc}"


# ---- the panel -------------------------------------------------------------------------------
class InspectorWidget(QWidget):
    """Shows and edits the selected node (``set_node``); with no node, the graph's totals."""

    def __init__(self, document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self._node_id: str | None = None
        self._built_for: str | None = None  # node id the editors were built for
        self._editors: dict[str, ParamEditor] = {}
        self._problems: dict[str, str] = {}  # parameter -> unparsable-text message
        self._port_rows: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._shape_labels: dict[tuple[str, str], QLabel] = {}
        self._issue_key: tuple = ()
        self._refreshing = False
        self._readers: list[_ModelFileReader] = []
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
        self.hint = _label("Select a layer to see and edit its settings.", wrap=True)
        empty.addWidget(self.hint)
        empty.addSpacing(6)
        empty.addWidget(self._section_title("Network"))
        totals = QFormLayout()
        self._tune_form(totals)
        self.total_labels: dict[str, QLabel] = {}
        for key, title, tip in (
                ("layers", "Layers", "Nodes in the graph."),
                ("params", "Parameters", "Parameters of the whole network."),
                ("trainable", "Trainable", "Parameters that training updates (frozen "
                                           "pretrained layers are not)."),
                ("macs", "MACs", "Multiply-accumulate operations for one sample."),
                ("errors", "Errors", "Problems that stop the network from training."),
                ("warnings", "Warnings", "Problems that do not stop training.")):
            value = _label(selectable=True)
            value.setToolTip(tip)
            self.total_labels[key] = value
            totals.addRow(title, value)
        empty.addLayout(totals)
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
        self._tune_form(name_form)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The layer's name: a Python identifier, used in the generated "
                                  "code and in the weights file (conv1.weight).")
        self.name_edit.editingFinished.connect(self._commit_name)
        name_form.addRow("Name", self.name_edit)
        page.addLayout(name_form)
        self.name_error = _label(wrap=True)
        self.name_error.hide()
        page.addWidget(self.name_error)

        self.description = _label(wrap=True)
        page.addWidget(self.description)

        page.addWidget(self._section_title("Settings"))
        self.params_holder = QVBoxLayout()
        self.params_holder.setContentsMargins(0, 0, 0, 0)
        page.addLayout(self.params_holder)
        self._params_widget: QWidget | None = None
        self.param_error = _label(wrap=True)
        self.param_error.hide()
        page.addWidget(self.param_error)

        page.addWidget(self._section_title("Shapes"))
        self.shapes_holder = QVBoxLayout()
        self.shapes_holder.setContentsMargins(0, 0, 0, 0)
        page.addLayout(self.shapes_holder)
        self._shapes_widget: QWidget | None = None
        self.params_label = _label()
        self.trainable_label = _label()
        self.macs_label = _label()

        page.addWidget(self._section_title("Errors"))
        self.issues_box = QVBoxLayout()
        self.issues_box.setContentsMargins(0, 0, 0, 0)
        self.issues_box.setSpacing(4)
        page.addLayout(self.issues_box)
        self.issue_labels: list[QLabel] = []
        body.addWidget(self.node_page)
        body.addStretch(1)
        self._apply_colors()

    def _section_title(self, text: str) -> QLabel:
        label = QLabel(text)
        font = QFont(label.font())
        font.setBold(True)
        label.setFont(font)
        label.setContentsMargins(0, 10, 0, 2)
        return label

    @staticmethod
    def _tune_form(form: QFormLayout) -> None:
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(6)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def _apply_colors(self) -> None:
        palette = self.palette()
        muted = muted_color(palette)
        for label in (self.hint, self.description):
            _set_text_color(label, muted)
        for label in (self.name_error, self.param_error):
            _set_text_color(label, error_color(palette))

    # ---- the document ----------------------------------------------------------------------
    def set_document(self, document) -> None:
        """Show another document (e.g. after File > Open); clears the selection."""
        if self.document is not None:
            self.document.analysisChanged.disconnect(self._on_analysis)
            self.document.graphChanged.disconnect(self._on_graph_event)
        self.document = document
        document.analysisChanged.connect(self._on_analysis)
        document.graphChanged.connect(self._on_graph_event)
        self._node_id = None
        self.set_node(None)

    @property
    def node_id(self) -> str | None:
        return self._node_id

    def _node(self) -> Node | None:
        graph = self.document.graph
        if self._node_id is None or not graph.has_node(self._node_id):
            return None
        return graph.node(self._node_id)

    # ---- selection -------------------------------------------------------------------------
    def set_node(self, node_id: str | None) -> None:
        """Inspect ``node_id`` (None, or an id no longer in the graph: show the totals)."""
        if node_id is not None and not self.document.graph.has_node(node_id):
            node_id = None
        self._node_id = node_id
        node = self._node()
        if node is None:
            self._built_for = None
            self._clear_editors()
            self.node_page.hide()
            self.empty_page.show()
            self._refresh_totals()
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
        self.header.setText(f"<span style='font-size:large; font-weight:600'>{spec.type}</span>"
                            f"&nbsp;&nbsp;<span>{spec.category}</span>")
        self.header.setStyleSheet(
            f"QLabel {{ background: {color.name()}; color: {text_color_on(color).name()};"
            f" border-radius: 5px; padding: 6px 10px; }}")
        self.description.setText(spec.description)
        self.name_error.hide()

        self._clear_editors()
        holder = QWidget()
        form = QFormLayout(holder)
        self._tune_form(form)
        for pspec in spec.params:
            editor = make_editor(pspec, self._param_edited, self._param_problem)
            label = QLabel(pspec.name)
            label.setToolTip(pspec.help)
            label.setBuddy(editor.widget)
            form.addRow(label, editor.widget)
            self._editors[pspec.name] = editor
        if not spec.params:
            none = _label("This layer has no settings.")
            _set_text_color(none, muted_color(self.palette()))
            form.addRow(none)
        self.params_holder.addWidget(holder)
        self._params_widget = holder
        self._built_for = node.id
        self._refresh_values(node)

    def _clear_editors(self) -> None:
        self._editors.clear()
        self._problems.clear()
        self.param_error.hide()
        if self._params_widget is not None:
            self._params_widget.hide()
            self._params_widget.deleteLater()
            self._params_widget = None
        if self._shapes_widget is not None:
            self._shapes_widget.hide()
            self._shapes_widget.deleteLater()
            self._shapes_widget = None
        self._port_rows = ((), ())
        self._shape_labels = {}
        self._issue_key = ()

    def _refresh_values(self, node: Node) -> None:
        """Show the model's values in the editors (reporting no edits)."""
        self._refreshing = True
        try:
            if self.name_edit.text() != node.name:
                self.name_edit.setText(node.name)
            for key, editor in self._editors.items():
                editor.set_value(node.params.get(key, editor.spec.default))
        finally:
            self._refreshing = False
        self._problems.clear()
        self._show_param_problems()

    # ---- model -> view ---------------------------------------------------------------------
    def _on_graph_event(self, event: GraphEvent) -> None:
        if self._node_id is None or event.node_id != self._node_id:
            return
        if event.kind == "node_removed":
            self.set_node(None)
        elif event.kind == "param_changed":
            editor = self._editors.get(event.name)
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
            self._refresh_totals()
        else:
            self._refresh_analysis()

    def _refresh_totals(self) -> None:
        analysis = self.document.analysis
        errors = len(analysis.errors)
        warnings = len(analysis.issues) - errors
        self.total_labels["layers"].setText(format_count(len(self.document.graph)))
        self.total_labels["params"].setText(format_count(analysis.total_params))
        self.total_labels["trainable"].setText(format_count(analysis.total_trainable))
        self.total_labels["macs"].setText(format_macs(analysis.total_macs))
        self.total_labels["errors"].setText(str(errors))
        self.total_labels["warnings"].setText(str(warnings))
        palette = self.palette()
        plain = palette.color(palette.ColorRole.WindowText)
        _set_text_color(self.total_labels["errors"], error_color(palette) if errors else plain)
        _set_text_color(self.total_labels["warnings"],
                        warning_color(palette) if warnings else plain)

    def _refresh_analysis(self) -> None:
        """Shapes, cost and problems of the node: label texts only, no editor is rebuilt."""
        node = self._node()
        if node is None:
            return
        analysis = self.document.analysis
        info = analysis.info.get(node.id)
        ins = tuple(p.name for p in node.spec.input_ports(node.params))
        outs = tuple(p.name for p in node.spec.outputs)
        if (ins, outs) != self._port_rows or self._shapes_widget is None:
            self._build_shape_rows(ins, outs)  # a merge layer gained or lost inputs
        wired = {e.target_port for e in self.document.graph.edges_into(node.id)}
        for port in ins:
            t = info.inputs.get(port) if info else None
            text = str(t) if t is not None else (
                "unknown (a problem upstream)" if port in wired else "not connected")
            self._set_shape(("in", port), text, t is None)
        for port in outs:
            t = info.outputs.get(port) if info else None
            self._set_shape(("out", port), str(t) if t is not None else "unknown", t is None)
        known = info is not None and (bool(info.outputs) or not outs)
        self.params_label.setText(format_count(info.params) if known else "–")
        self.trainable_label.setText(format_count(info.trainable) if known else "–")
        self.macs_label.setText(format_macs(info.macs) if known else "–")
        self._refresh_issues(analysis.issues_for(node.id))

    def _build_shape_rows(self, ins: tuple[str, ...], outs: tuple[str, ...]) -> None:
        if self._shapes_widget is not None:
            self._shapes_widget.hide()
            self._shapes_widget.deleteLater()
        holder = QWidget()
        form = QFormLayout(holder)
        self._tune_form(form)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self._shape_labels = {}
        for direction, ports in (("in", ins), ("out", outs)):
            for port in ports:
                value = _label(selectable=True)
                value.setFont(mono)
                title = direction if ports == ("in",) or ports == ("out",) else port
                form.addRow(title, value)
                self._shape_labels[(direction, port)] = value
        # Cost rows share the form so their labels line up with the ports'.
        self.params_label = _label(selectable=True)
        self.params_label.setToolTip("Parameters of this layer.")
        self.trainable_label = _label(selectable=True)
        self.trainable_label.setToolTip("Of these, the ones training updates (a frozen "
                                        "pretrained layer has fewer or none).")
        self.macs_label = _label(selectable=True)
        self.macs_label.setToolTip("Multiply-accumulate operations per sample.")
        form.addRow("Parameters", self.params_label)
        form.addRow("Trainable", self.trainable_label)
        form.addRow("MACs", self.macs_label)
        self.shapes_holder.addWidget(holder)
        self._shapes_widget = holder
        self._port_rows = (ins, outs)

    def _set_shape(self, key: tuple[str, str], text: str, unknown: bool) -> None:
        label = self._shape_labels[key]
        if label.text() != text:
            label.setText(text)
        label.setStyleSheet(f"color: {muted_color(self.palette()).name()};" if unknown else "")

    def _refresh_issues(self, issues) -> None:
        key = tuple((i.message, i.severity) for i in issues)
        if key == self._issue_key and self.issue_labels:
            return
        self._issue_key = key
        for label in self.issue_labels:
            self.issues_box.removeWidget(label)
            label.hide()  # deleteLater waits for the event loop; don't draw it meanwhile
            label.deleteLater()
        self.issue_labels = []
        palette = self.palette()
        if not issues:
            label = _label("No errors.", wrap=True)
            _set_text_color(label, muted_color(palette))
            self.issues_box.addWidget(label)
            self.issue_labels.append(label)
            return
        for issue in sorted(issues, key=lambda i: i.severity != "error"):
            color = error_color(palette) if issue.severity == "error" else warning_color(palette)
            label = _label(("⚠ " if issue.severity != "error" else "✖ ") + issue.message,
                           wrap=True, selectable=True)
            label.setProperty("severity", issue.severity)
            _set_text_color(label, color)
            self.issues_box.addWidget(label)
            self.issue_labels.append(label)

    # ---- view -> model ---------------------------------------------------------------------
    def _param_edited(self, key: str, value: Any) -> None:
        node = self._node()
        if self._refreshing or node is None:
            return
        if node.params.get(key) == value and type(node.params.get(key)) is type(value):
            return  # nothing changed (focus left a field, a refresh echoed back)
        if FILE_READERS.get(node.type) == key:
            self._read_model_file(node, value)
            return
        self.document.push(SetParam(self.document.graph, node.id, key, value))

    # ---- model files (ImportedModel): read on a thread, then one undoable edit ------------
    def _read_model_file(self, node: Node, path: str) -> None:
        """Learn the file's shapes on a worker thread; the path and what was read are then
        set together as one undo step."""
        info = self.document.analysis.info.get(node.id)
        t = next(iter(info.inputs.values()), None) if info else None
        reader = _ModelFileReader(node.id, path, t.dims if t is not None else None)
        reader.finished.connect(self._model_files_read)  # queued: runs on the GUI thread
        self._readers.append(reader)
        self._param_problem(FILE_READERS[node.type], None)
        reader.start()

    def _model_files_read(self) -> None:
        for reader in [r for r in self._readers if r.isFinished()]:
            self._readers.remove(reader)
            reader.deleteLater()
            graph = self.document.graph
            if not graph.has_node(reader.node_id):
                continue  # deleted while its file was read
            node = graph.node(reader.node_id)
            values = {"path": reader.path, "format": "unread", "input_shape": (),
                      "output_shape": (), "param_count": 0}
            if reader.result is not None:
                values.update(reader.result.node_params())
            commands = [SetParam(graph, node.id, k, v) for k, v in values.items()
                        if node.params.get(k) != v]
            if commands:
                self.document.push(Compound(commands, f"Choose model file of {node.name}"))
            if reader.error and reader.node_id == self._node_id:
                self._param_problem(FILE_READERS[node.type], reader.error)

    def wait_for_file_reads(self, ms: int = 30_000) -> None:
        """Block until model files being read are read and applied (tests, closing)."""
        for reader in list(self._readers):
            reader.wait(ms)
        self._model_files_read()

    def _param_problem(self, key: str, message: str | None) -> None:
        if message is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = message
        self._show_param_problems()

    def _show_param_problems(self) -> None:
        for key, editor in self._editors.items():
            bad = key in self._problems
            if isinstance(editor, (FloatEditor, IntsTextEditor, FileEditor)):
                editor.edit.setStyleSheet(
                    f"QLineEdit {{ border: 1px solid {error_color(self.palette()).name()}; }}"
                    if bad else "")
        if self._problems:
            self.param_error.setText("\n".join(self._problems.values()))
            self.param_error.show()
        else:
            self.param_error.hide()

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
            ok = self.document.push(Rename(self.document.graph, node.id, name))
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
        return self._editors[key]

    def shape_texts(self) -> dict[str, str]:
        """What the Shapes section shows: {"in": "(N, 1, 16, 16)", "out": ...}."""
        return {(port if len(self._port_rows[0 if d == "in" else 1]) > 1 else d): label.text()
                for (d, port), label in self._shape_labels.items()}

    def issue_texts(self) -> list[str]:
        return [label.text() for label in self.issue_labels if label.property("severity")]

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Light <-> dark theme switch: colours are picked per palette, so pick them again.
        if event.type() == QEvent.Type.PaletteChange and getattr(self, "document", None):
            self._apply_colors()
            self._issue_key = ()
            self._on_analysis()
        super().changeEvent(event)
