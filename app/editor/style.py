"""Colours and number formats shared by the editor's widgets (palette, canvas, inspector).

One colour per layer category, mid-tone so it reads as a swatch or a node header on both light
and dark themes; text on top of it picks black or white by luminance.
"""
from __future__ import annotations

import hashlib

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap

from graph.layers import CATEGORY_ORDER

# Tableau-like hues, lightness kept in the middle so neither a white nor a black page washes
# them out. Keys must cover graph.layers.CATEGORY_ORDER (a test checks it).
_CATEGORY_COLORS: dict[str, str] = {
    "Input/Output": "#5B8FD6",    # blue
    "Dense": "#F28E2B",           # orange
    "Convolution": "#59A14F",     # green
    "Pooling": "#4BAFA8",         # teal
    "Normalization": "#B07AA1",   # mauve
    "Activation": "#E3B23C",      # mustard
    "Recurrent": "#3E9BC9",       # cerulean (red is kept for errors)
    "Attention": "#2F7F9E",       # deep teal
    "Merge": "#8A6FD1",           # violet
    "Math": "#9C8FC4",            # lavender
    "Reshape": "#A47D62",         # brown
    "Regularization": "#D97AA5",  # rose
    "Generative": "#6E9E4F",      # moss
    "Detection": "#D4754A",       # terracotta: heads and decoders that find objects
    "Pretrained": "#C46BC0",      # orchid
    "Blocks": "#4E6E8E",          # steel blue: sub-networks used as one node
    "Utility": "#8C96A3",         # slate
}
assert set(CATEGORY_ORDER) <= set(_CATEGORY_COLORS), "every category needs a colour"


def category_color(category: str) -> QColor:
    """The colour of a layer category (node headers, palette icons, inspector header).

    Unknown categories (a plugin family) get a stable colour derived from their name.
    """
    hex_code = _CATEGORY_COLORS.get(category)
    if hex_code is not None:
        return QColor(hex_code)
    hue = int(hashlib.md5(category.encode()).hexdigest()[:4], 16) % 360
    return QColor.fromHsl(hue, 140, 130)


def text_color_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background``."""
    r, g, b = background.redF(), background.greenF(), background.blueF()
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return QColor("#1b1b1b") if luminance > 0.5 else QColor("#ffffff")


_ICONS: dict[tuple[str, int], QIcon] = {}


def category_icon(category: str, size: int = 12) -> QIcon:
    """A small rounded square in the category colour (cached)."""
    key = (category, size)
    icon = _ICONS.get(key)
    if icon is None:
        icon = QIcon()
        for scale in (1, 2):  # crisp on high-dpi screens too
            pixmap = QPixmap(size * scale, size * scale)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            color = category_color(category)
            painter.setPen(color.darker(130))
            painter.setBrush(color)
            inset = 0.5 * scale
            painter.drawRoundedRect(inset, inset, size * scale - 2 * inset,
                                    size * scale - 2 * inset, 2.5 * scale, 2.5 * scale)
            painter.end()
            pixmap.setDevicePixelRatio(scale)
            icon.addPixmap(pixmap)
        _ICONS[key] = icon
    return icon


ACTION_ICON_SIZES = (16, 20, 24, 32)


def action_icon(name: str, palette: QPalette) -> QIcon:
    """A toolbar/menu icon from ``resources/icons/actions/NAME.svg`` (line art drawn with
    ``currentColor``), in the palette's text colour and a dimmed one when disabled, rendered
    from the vector at 1x, 2x and 3x: sharp on any screen, readable in light and dark themes."""
    from PySide6.QtCore import QByteArray
    from PySide6.QtSvg import QSvgRenderer

    from backend.resources import resource_path

    svg = resource_path("icons", "actions", f"{name}.svg").read_text(encoding="utf-8")
    icon = QIcon()
    colors = {QIcon.Mode.Normal: palette.color(QPalette.ColorRole.WindowText),
              QIcon.Mode.Disabled: palette.color(QPalette.ColorGroup.Disabled,
                                                 QPalette.ColorRole.WindowText)}
    for mode, color in colors.items():
        renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", color.name()).encode()))
        for size in ACTION_ICON_SIZES:
            for scale in (1, 2, 3):
                pixmap = QPixmap(size * scale, size * scale)
                pixmap.fill(Qt.GlobalColor.transparent)
                painter = QPainter(pixmap)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                renderer.render(painter)
                painter.end()
                pixmap.setDevicePixelRatio(scale)
                icon.addPixmap(pixmap, mode)
    return icon


def is_dark(palette: QPalette) -> bool:
    """True when the palette draws light text on a dark base."""
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def error_color(palette: QPalette) -> QColor:
    """Red for error text, readable on the palette's background."""
    return QColor("#FF6B6B") if is_dark(palette) else QColor("#C62828")


def warning_color(palette: QPalette) -> QColor:
    """Orange for warning text, readable on the palette's background."""
    return QColor("#FFB347") if is_dark(palette) else QColor("#B25E00")


def muted_color(palette: QPalette) -> QColor:
    """Secondary text (descriptions, hints)."""
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)
    return QColor((text.red() * 2 + window.red()) // 3, (text.green() * 2 + window.green()) // 3,
                  (text.blue() * 2 + window.blue()) // 3)
