"""The inspector's sections, each a titled part of its page that it fills and refreshes:
``NetworkTotals`` (no selection), and for a node ``ParamsForm`` (its settings' editors),
``ShapesSection`` (tensor shapes per port, parameters and MACs) and ``IssuesSection``
(its errors and warnings). Colours follow the inspector's palette (``owner``)."""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from app.editor.form_widgets import section_title, set_text_color, text_label, tune_form
from app.editor.param_editors import (EditCallback, FileEditor, FloatEditor, IntsTextEditor,
                                      ParamEditor, make_editor)
from app.editor.style import error_color, muted_color, warning_color
from graph.formatting import format_count, format_macs
from graph.model import Node


def _drop(widget: QWidget | None) -> None:
    """Take a section's rows off screen now; deleted when the event loop runs."""
    if widget is not None:
        widget.hide()
        widget.deleteLater()


class NetworkTotals:
    """The "Network" section shown with no selection: layers, parameters, MACs, problems."""

    def __init__(self, page: QVBoxLayout, owner: QWidget) -> None:
        self._owner = owner
        page.addWidget(section_title("Network"))
        totals = QFormLayout()
        tune_form(totals)
        self.labels: dict[str, QLabel] = {}
        for key, title, tip in (
                ("layers", "Layers", "Nodes in the graph."),
                ("params", "Parameters", "Parameters of the whole network."),
                ("trainable", "Trainable", "Parameters that training updates (frozen "
                                           "pretrained layers are not)."),
                ("macs", "MACs", "Multiply-accumulate operations for one sample."),
                ("errors", "Errors", "Problems that stop the network from training."),
                ("warnings", "Warnings", "Problems that do not stop training.")):
            value = text_label(selectable=True)
            value.setToolTip(tip)
            self.labels[key] = value
            totals.addRow(title, value)
        page.addLayout(totals)

    def show(self, document) -> None:
        """The totals of ``document``'s graph and analysis."""
        analysis = document.analysis
        errors = len(analysis.errors)
        warnings = len(analysis.issues) - errors
        self.labels["layers"].setText(format_count(len(document.graph)))
        self.labels["params"].setText(format_count(analysis.total_params))
        self.labels["trainable"].setText(format_count(analysis.total_trainable))
        self.labels["macs"].setText(format_macs(analysis.total_macs))
        self.labels["errors"].setText(str(errors))
        self.labels["warnings"].setText(str(warnings))
        palette = self._owner.palette()
        plain = palette.color(palette.ColorRole.WindowText)
        set_text_color(self.labels["errors"], error_color(palette) if errors else plain)
        set_text_color(self.labels["warnings"], warning_color(palette) if warnings else plain)


class ParamsForm:
    """The "Settings" section: one editor per parameter of the node's layer, and the
    problems of text that could not be read (``error``)."""

    def __init__(self, page: QVBoxLayout, owner: QWidget, on_edit: EditCallback) -> None:
        self._owner, self._on_edit = owner, on_edit
        page.addWidget(section_title("Settings"))
        self._holder = QVBoxLayout()
        self._holder.setContentsMargins(0, 0, 0, 0)
        page.addLayout(self._holder)
        self._widget: QWidget | None = None
        self.editors: dict[str, ParamEditor] = {}
        self._problems: dict[str, str] = {}  # parameter -> unparsable-text message
        self.error = text_label(wrap=True)
        self.error.hide()
        page.addWidget(self.error)

    def build(self, node: Node) -> None:
        """Editors for ``node``'s layer (after ``clear``)."""
        holder = QWidget()
        form = QFormLayout(holder)
        tune_form(form)
        for pspec in node.spec.params:
            editor = make_editor(pspec, self._on_edit, self.set_problem)
            label = QLabel(pspec.name)
            label.setToolTip(pspec.help)
            label.setBuddy(editor.widget)
            form.addRow(label, editor.widget)
            self.editors[pspec.name] = editor
        if not node.spec.params:
            none = text_label("This layer has no settings.")
            set_text_color(none, muted_color(self._owner.palette()))
            form.addRow(none)
        self._holder.addWidget(holder)
        self._widget = holder

    def clear(self) -> None:
        self.editors.clear()
        self._problems.clear()
        self.error.hide()
        _drop(self._widget)
        self._widget = None

    def show_values(self, params: dict[str, Any]) -> None:
        """Show the model's values in the editors (the editors report no edits)."""
        for key, editor in self.editors.items():
            editor.set_value(params.get(key, editor.spec.default))

    def set_problem(self, key: str, message: str | None) -> None:
        """Report (or, with None, clear) unreadable text in parameter ``key``'s editor."""
        if message is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = message
        self._show_problems()

    def clear_problems(self) -> None:
        self._problems.clear()
        self._show_problems()

    def _error_border(self) -> str:
        return f"QLineEdit {{ border: 1px solid {error_color(self._owner.palette()).name()}; }}"

    def _show_problems(self) -> None:
        for key, editor in self.editors.items():
            bad = key in self._problems
            if isinstance(editor, (FloatEditor, IntsTextEditor, FileEditor)):
                editor.edit.setStyleSheet(self._error_border() if bad else "")
        if self._problems:
            self.error.setText("\n".join(self._problems.values()))
            self.error.show()
        else:
            self.error.hide()


class ShapesSection:
    """The "Shapes" section: the tensor shape at each port (rows rebuilt only when the ports
    change), then the layer's parameters, trainable parameters and MACs."""

    def __init__(self, page: QVBoxLayout, owner: QWidget) -> None:
        self._owner = owner
        page.addWidget(section_title("Shapes"))
        self._holder = QVBoxLayout()
        self._holder.setContentsMargins(0, 0, 0, 0)
        page.addLayout(self._holder)
        self._widget: QWidget | None = None
        self.params_label = text_label()
        self.trainable_label = text_label()
        self.macs_label = text_label()
        self._port_rows: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._labels: dict[tuple[str, str], QLabel] = {}

    def clear(self) -> None:
        _drop(self._widget)
        self._widget = None
        self._port_rows = ((), ())
        self._labels = {}

    def show(self, node: Node, info, sources: dict[str, str]) -> None:
        """``node``'s shapes and cost from its analysis ``info`` (None: not analysed);
        ``sources``: the layer wired into each connected input port, named after the shape
        when the node has several inputs (which branch is in1?). Label texts only, unless the
        ports changed."""
        ins = tuple(p.name for p in node.spec.input_ports(node.params))
        outs = tuple(p.name for p in node.spec.output_ports(node.params))
        if (ins, outs) != self._port_rows or self._widget is None:
            self._build_rows(ins, outs)  # a merge layer gained or lost inputs
        for port in ins:
            t = info.inputs.get(port) if info else None
            text = str(t) if t is not None else (
                "unknown (a problem upstream)" if port in sources else "not connected")
            if len(ins) > 1 and port in sources:
                text += f"  ← {sources[port]}"
            self._set_shape(("in", port), text, t is None)
        for port in outs:
            t = info.outputs.get(port) if info else None
            self._set_shape(("out", port), str(t) if t is not None else "unknown", t is None)
        known = info is not None and (bool(info.outputs) or not outs)
        self.params_label.setText(format_count(info.params) if known else "–")
        self.trainable_label.setText(format_count(info.trainable) if known else "–")
        self.macs_label.setText(format_macs(info.macs) if known else "–")

    def _build_rows(self, ins: tuple[str, ...], outs: tuple[str, ...]) -> None:
        _drop(self._widget)
        holder = QWidget()
        form = QFormLayout(holder)
        tune_form(form)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self._labels = {}
        for direction, ports in (("in", ins), ("out", outs)):
            for port in ports:
                value = text_label(selectable=True)
                value.setFont(mono)
                title = direction if ports == ("in",) or ports == ("out",) else port
                form.addRow(title, value)
                self._labels[(direction, port)] = value
        # Cost rows share the form so their labels line up with the ports'.
        self.params_label = text_label(selectable=True)
        self.params_label.setToolTip("Parameters of this layer.")
        self.trainable_label = text_label(selectable=True)
        self.trainable_label.setToolTip("Of these, the ones training updates (a frozen "
                                        "pretrained layer has fewer or none).")
        self.macs_label = text_label(selectable=True)
        self.macs_label.setToolTip("Multiply-accumulate operations per sample.")
        form.addRow("Parameters", self.params_label)
        form.addRow("Trainable", self.trainable_label)
        form.addRow("MACs", self.macs_label)
        self._holder.addWidget(holder)
        self._widget = holder
        self._port_rows = (ins, outs)

    def _set_shape(self, key: tuple[str, str], text: str, unknown: bool) -> None:
        label = self._labels[key]
        if label.text() != text:
            label.setText(text)
        label.setStyleSheet(f"color: {muted_color(self._owner.palette()).name()};"
                            if unknown else "")

    def texts(self) -> dict[str, str]:
        """What the section shows: {"in": "(N, 1, 16, 16)", "out": ...}; a port's name for
        a side with several ports."""
        return {(port if len(self._port_rows[0 if d == "in" else 1]) > 1 else d): label.text()
                for (d, port), label in self._labels.items()}


class IssuesSection:
    """The "Errors" section: the node's errors, then its warnings (or "No errors.")."""

    def __init__(self, page: QVBoxLayout, owner: QWidget) -> None:
        self._owner = owner
        page.addWidget(section_title("Errors"))
        self._box = QVBoxLayout()
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(4)
        page.addLayout(self._box)
        self.labels: list[QLabel] = []
        self._key: tuple = ()

    def forget(self) -> None:
        """Build the labels again at the next ``show`` (another node, another palette)."""
        self._key = ()

    def show(self, issues) -> None:
        key = tuple((i.message, i.severity) for i in issues)
        if key == self._key and self.labels:
            return
        self._key = key
        for label in self.labels:
            self._box.removeWidget(label)
            label.hide()  # deleteLater waits for the event loop; don't draw it meanwhile
            label.deleteLater()
        self.labels = []
        palette = self._owner.palette()
        if not issues:
            label = text_label("No errors.", wrap=True)
            set_text_color(label, muted_color(palette))
            self._box.addWidget(label)
            self.labels.append(label)
            return
        for issue in sorted(issues, key=lambda i: i.severity != "error"):
            color = error_color(palette) if issue.severity == "error" else warning_color(palette)
            label = text_label(("⚠ " if issue.severity != "error" else "✖ ") + issue.message,
                               wrap=True, selectable=True)
            label.setProperty("severity", issue.severity)
            set_text_color(label, color)
            self._box.addWidget(label)
            self.labels.append(label)

    def texts(self) -> list[str]:
        return [label.text() for label in self.labels if label.property("severity")]
