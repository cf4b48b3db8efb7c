"""Where LayerForge keeps its own files (runs, recovery files, recorded classes), and file
names that every operating system accepts."""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths

# characters Windows, macOS or Linux refuse in a file name, and control characters
_UNSAFE = re.compile(r'[:/\\*?"<>|\x00-\x1f]+')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}  # Windows device names


def app_data_dir() -> Path:
    """LayerForge's data folder (e.g. ~/.local/share/LayerForge, %APPDATA%/LayerForge).

    QStandardPaths' AppDataLocation is ``<base>/<organization>/<application>``; both names are
    "LayerForge", which made every folder ``LayerForge/LayerForge``: one of them is dropped."""
    path = _qt_app_data()
    if path is None:
        return Path.home() / ".layerforge"
    org, app = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    if org and org == app and path.name == app and path.parent.name == org:
        path = path.parent
    return path


def legacy_app_data_dir() -> Path | None:
    """The doubled ``LayerForge/LayerForge`` folder earlier versions wrote to, if it exists
    and differs from :func:`app_data_dir` (its crash recovery files are still offered)."""
    path = _qt_app_data()
    if path is None or path == app_data_dir() or not path.is_dir():
        return None
    return path


def _qt_app_data() -> Path | None:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) if base else None


def safe_file_name(name: str, fallback: str = "network") -> str:
    """``name`` as a file name valid on Windows, macOS and Linux: no ``: / \\ * ? " < > |``
    or control characters (each run becomes "-"), no trailing dots or spaces, no device
    names (CON, NUL, ...). An empty result is ``fallback``."""
    text = _UNSAFE.sub("-", name).strip().rstrip(". ")
    text = re.sub(r"-{2,}", "-", text).strip("-").strip()
    if text.split(".")[0].upper() in _RESERVED:
        text = f"{text}-"
    return text[:120] or fallback
