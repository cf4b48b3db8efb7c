"""The Data tab's read-outs of a load: the summary column (what was loaded: source, split sizes,
sample shape, the task's own lines; whether it fits the network; the class-count bars) and
the banner that says why a load failed or the data does not fit."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QTextDocument
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.editor.style import error_color, is_dark, muted_color, warning_color
from app.panels.data_preview import DataPreview
from app.panels.data_views import SPLIT_COLORS, ClassCountChart
from backend.tasks import get_task


class DataSummary(QWidget):
    """A rich-text summary of one ``DataPreview`` plus its fit line, over the class chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._preview: DataPreview | None = None
        self._fit_line = ""
        self.setFixedWidth(290)
        side = QVBoxLayout(self)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(4)
        self.label = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        side.addWidget(self.label)
        self.class_chart = ClassCountChart(self.palette())
        side.addWidget(self.class_chart, 1)
        side.addStretch(0)

    def clear(self) -> None:
        """No summary, no fit line, no bars."""
        self._preview = None
        self.label.setText("")
        self._fit_line = ""
        self.class_chart.setVisible(False)

    def show_preview(self, p: DataPreview) -> None:
        """Summarise ``p`` (not yet checked against the network) and draw its class bars."""
        self._preview = p
        self._fit_line = ""
        self._render()
        self.class_chart.show_counts(p)

    def set_fit_line(self, text: str, ok: bool | None) -> None:
        """The "Network" line: fits (ok), does not fit (not ok) or not checked (None)."""
        if ok is None:
            color = muted_color(self.palette())
        elif ok:
            color = QColor("#66BB6A") if is_dark(self.palette()) else QColor("#2E7D32")
        else:
            color = error_color(self.palette())
        mark = "✓ " if ok else ("✗ " if ok is False else "")
        self._fit_line = f"<span style='color:{color.name()}'>{mark}{_html(text)}</span>"
        self._render()

    def plain_text(self) -> str:
        """The summary as plain text."""
        doc = QTextDocument()
        doc.setHtml(self.label.text())
        return doc.toPlainText()

    def _render(self) -> None:
        p = self._preview
        if p is None:
            self.label.setText("")
            return
        muted = muted_color(self.palette()).name()
        train, val, test = p.sizes

        def row(label: str, value: str) -> str:
            return (f"<tr><td style='color:{muted}; padding-right:6px'>{label}</td>"
                    f"<td>{value}</td></tr>")

        def split(name: str, n: int) -> str:  # coloured like the bars and the curves
            return f"<span style='color:{SPLIT_COLORS[name]}'>{name}</span> {n:,}"

        rows = [row("Samples", f"{split('train', train)} · {split('val', val)} · "
                               f"{split('test', test)}"),
                row("Sample", _shape_text(p.sample_shape, p.fit_bundle.normalization))]
        rows += [row(label, _html(text))
                 for label, text in get_task(p.task).describe_data(p.fit_bundle)]
        if self._fit_line:
            rows.append(row("Network", self._fit_line))
        self.label.setText(
            f"<div style='color:{muted}'>{_html(p.source)}</div>"
            f"<table style='margin-top:4px' cellspacing='0' cellpadding='1'>{''.join(rows)}"
            "</table>")


class MessageBanner(QLabel):
    """A tinted box with an error or a warning (selectable text); hidden when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, wordWrap=True)
        self.kind = ""  # "", "error" or "warning"
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setVisible(False)

    def show_message(self, kind: str, text: str, palette: QPalette) -> None:
        """Show ``text`` as an "error" or a "warning" ("" hides the banner). The colours come
        from ``palette`` (the panel's): the banner's own one follows its style sheet."""
        self.kind = kind if text else ""
        self.setText(text)
        self.setVisible(bool(text))
        if not text:
            return
        color = error_color(palette) if kind == "error" else warning_color(palette)
        tint = QColor(color)
        tint.setAlpha(40 if is_dark(palette) else 28)
        self.setStyleSheet(
            f"QLabel {{ background: rgba({tint.red()},{tint.green()},{tint.blue()},"
            f"{tint.alpha()}); border: 1px solid {color.name()}; border-left: 4px solid "
            f"{color.name()}; border-radius: 3px; padding: 5px 8px; color: "
            f"{palette.color(QPalette.ColorRole.WindowText).name()}; }}")


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _shape_text(shape: tuple[int, ...], norm: dict[str, Any]) -> str:
    dims = " × ".join(str(d) for d in shape)
    kind = norm.get("kind")
    if kind == "image":
        what = "RGB" if norm.get("channels") == 3 else "grayscale"
        flat = ", flattened" if norm.get("flatten") else ""
        size = norm.get("size") or []
        return f"{dims} ({what} {'×'.join(str(s) for s in size)}{flat})"
    if kind == "series":
        return f"{dims} (rows × features)"
    if kind == "text":
        return f"{dims} character ids"
    return dims
