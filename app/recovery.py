"""Autosave to a recovery file, and finding recovery files left by a crash."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from graph.fileio import atomic_write_bytes
from graph.project import Project


def recovery_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    path = Path(base or Path.home() / ".layerforge") / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


class RecoveryFile:
    """The recovery file of one open document (removed on save and on a clean close)."""

    def __init__(self) -> None:
        self.path = recovery_dir() / f"{uuid.uuid4()}.json"

    def write(self, project: Project, original: Path | None) -> None:
        data = {"original": str(original) if original else None, "project": project.to_dict()}
        atomic_write_bytes(self.path, json.dumps(data).encode("utf-8"))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def pending_recoveries() -> list[Path]:
    """Recovery files left behind (newest first): the app crashed with unsaved changes."""
    return sorted(recovery_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)


def read_recovery(path: Path) -> tuple[Project, Path | None]:
    """The project in a recovery file and the file it was editing (ProjectFileError if bad)."""
    from graph.errors import ProjectFileError
    from graph.project import project_from_dict

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        original = data.get("original")
        return project_from_dict(data["project"], str(path)), Path(original) if original else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProjectFileError(f"{path}: the recovery file is damaged ({exc})") from None
