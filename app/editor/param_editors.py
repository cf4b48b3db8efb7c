"""The inspector's parameter editors: one per parameter kind, generated from a ``ParamSpec``.

``make_editor`` picks the editor for a spec. An editor shows a model value (``set_value``)
without reporting an edit; a user edit calls ``on_edit(key, value)`` and text that cannot be
parsed calls ``on_problem(key, message)`` instead (nothing is pushed). Also used by the
training panel for its own settings.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLineEdit,
                               QSpinBox, QToolButton, QWidget)

from app.editor.form_widgets import text_label
from graph.layers import ParamSpec

_INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
_SPLIT = re.compile(r"[\s,;]+")

EditCallback = Callable[[str, Any], None]
ProblemCallback = Callable[[str, "str | None"], None]


# ---- small widgets ---------------------------------------------------------------------------
class _SpinBox(QSpinBox):
    """A spin box that lets the wheel scroll the panel unless it has focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Every keystroke is an edit, so the card and the shapes follow the typing at once (the
        # card showed the old value until the field lost focus); the document merges
        # consecutive edits of one parameter into one undo step.
        self.setKeyboardTracking(True)
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


# ---- reading and writing values --------------------------------------------------------------
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
        self.label = text_label(selectable=True)
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
