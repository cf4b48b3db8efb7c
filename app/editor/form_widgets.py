"""Small pieces the inspector's forms are made of: text labels, section titles, form spacing."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QFormLayout, QLabel


def text_label(text: str = "", *, wrap: bool = False, selectable: bool = False) -> QLabel:
    """A label, word-wrapped and/or selectable with the mouse."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_text_color(label: QLabel, color: QColor) -> None:
    label.setStyleSheet(f"color: {color.name()};")


def section_title(text: str) -> QLabel:
    """A bold heading over a section of the inspector ("Settings", "Shapes")."""
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    label.setContentsMargins(0, 10, 0, 2)
    return label


def tune_form(form: QFormLayout) -> None:
    """The inspector's form spacing and alignment (labels left, fields growing)."""
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(6)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
