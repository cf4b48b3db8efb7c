"""The colour theme: follow the system, or force light or dark (View > Theme).

The choice is kept in QSettings and applied to the whole application at once (every widget
gets a PaletteChange: icons, canvas and code colours pick their colours again) and at the next
start (:func:`apply_saved_theme` from ``create_application``). Light and dark are explicit
Fusion palettes, so they look the same on every platform, whatever the desktop's scheme; the
colour scheme hint is set too, for what Qt draws natively (title bars, dialogs) where the
platform honours it.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

THEME_SETTING = "view/theme"
THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "&System", "light": "&Light", "dark": "&Dark"}

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

# (window, window text, base, alternate base, text, button, highlight, link, disabled text)
_COLOURS = {
    "light": ("#efefef", "#1b1b1b", "#ffffff", "#f5f5f5", "#1b1b1b", "#efefef", "#3d7be0",
              "#1f5faf", "#9a9a9a"),
    "dark": ("#2b2d30", "#e6e6e6", "#1e1f22", "#26282b", "#e6e6e6", "#35373b", "#3d7be0",
             "#8ab4f8", "#7a7d82"),
}


def theme_palette(theme: str) -> QPalette:
    """The palette of ``light`` or ``dark`` (``system``: an empty palette, i.e. the
    platform's)."""
    if theme == "system":
        return QPalette()
    if theme not in _COLOURS:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, not {theme!r}")
    window, window_text, base, alt, text, button, highlight, link, disabled = (
        QColor(c) for c in _COLOURS[theme])
    palette = QPalette()
    for role, colour in ((Role.Window, window), (Role.WindowText, window_text),
                         (Role.Base, base), (Role.AlternateBase, alt), (Role.Text, text),
                         (Role.Button, button), (Role.ButtonText, window_text),
                         (Role.ToolTipBase, base), (Role.ToolTipText, text),
                         (Role.PlaceholderText, disabled), (Role.BrightText, QColor("#ff5555")),
                         (Role.Highlight, highlight), (Role.HighlightedText, QColor("#ffffff")),
                         (Role.Link, link), (Role.LinkVisited, link)):
        palette.setColor(role, colour)
    # Fusion draws bevels from these; without them buttons look flat on the dark palette.
    palette.setColor(Role.Light, button.lighter(130))
    palette.setColor(Role.Midlight, button.lighter(115))
    palette.setColor(Role.Mid, button.darker(130))
    palette.setColor(Role.Dark, button.darker(160))
    palette.setColor(Role.Shadow, QColor("#000000"))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        palette.setColor(Group.Disabled, role, disabled)
    return palette


def saved_theme() -> str:
    """The theme chosen last time (``system`` if none or an unknown one)."""
    theme = QSettings().value(THEME_SETTING, "system", type=str)
    return theme if theme in THEMES else "system"


def apply_theme(theme: str, remember: bool = True) -> None:
    """Switch the application to ``theme`` now (and remember it for the next start)."""
    palette = theme_palette(theme)  # raises on an unknown theme before anything changes
    app = QGuiApplication.instance()
    hints = app.styleHints()
    if theme == "system":
        hints.unsetColorScheme()
    else:
        hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
    app.setPalette(palette)
    if remember:
        QSettings().setValue(THEME_SETTING, theme)


def apply_saved_theme() -> str:
    """At start-up: apply the remembered theme; returns it."""
    theme = saved_theme()
    if theme != "system":
        apply_theme(theme, remember=False)
    return theme
