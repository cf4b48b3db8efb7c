"""Autosave to a recovery file, and finding recovery files left by a crash.

Each open document's recovery file has a lock file beside it, held while the document is
open. A recovery file whose lock is held belongs to a running LayerForge (another window,
another instance): it is not a crash's leftover, and is never offered. A lock whose process
is gone is stale (QLockFile checks the process id), and its recovery file is offered.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from PySide6.QtCore import QLockFile

from app.paths import app_data_dir, legacy_app_data_dir
from graph.fileio import atomic_write_bytes
from graph.project import Project


def recovery_dir() -> Path:
    """Where autosaves go (made if missing)."""
    path = app_data_dir() / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


class RecoveryFile:
    """The recovery file of one open document (removed on save and on a clean close)."""

    def __init__(self) -> None:
        self.path = recovery_dir() / f"{uuid.uuid4()}.json"
        self._lock = _lock_for(self.path)
        self._lock.tryLock(0)  # a fresh name: nobody else holds it

    def write(self, project: Project, original: Path | None) -> None:
        data = {"original": str(original) if original else None, "project": project.to_dict()}
        atomic_write_bytes(self.path, json.dumps(data).encode("utf-8"))

    def remove(self) -> None:
        """Nothing to recover (saved, or edits undone): the file goes, the lock stays."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """The document closed cleanly: remove the file and release the lock."""
        self.remove()
        self._lock.unlock()


def _lock_for(path: Path) -> QLockFile:
    lock = QLockFile(str(path.with_suffix(".lock")))
    lock.setStaleLockTime(0)  # stale only when its process is gone, however old it is
    return lock


def _owner_is_running(path: Path) -> bool:
    """Whether a running LayerForge holds this recovery file's lock (this one included)."""
    lock = _lock_for(path)
    if lock.tryLock(0):  # free, or stale (the owner crashed): not running
        lock.unlock()
        return False
    return lock.error() == QLockFile.LockError.LockFailedError


def pending_recoveries() -> list[Path]:
    """Recovery files left behind (newest first): an app crashed with unsaved changes. The
    files of documents open right now, in this or another running LayerForge, are not."""
    folders = [recovery_dir()]
    legacy = legacy_app_data_dir()  # the doubled LayerForge/LayerForge of earlier versions
    if legacy is not None and (legacy / "recovery").is_dir():
        folders.append(legacy / "recovery")
    left = []
    for folder in folders:
        for lock in folder.glob("*.lock"):  # a crash before the first autosave leaves these
            if not lock.with_suffix(".json").exists():
                _owner_is_running(lock)  # a stale lock is removed on the way
        left += [p for p in folder.glob("*.json") if not _owner_is_running(p)]
    return sorted(left, key=lambda p: p.stat().st_mtime, reverse=True)


def discard_recovery(path: Path) -> None:
    """Delete a crash's recovery file (restored or declined) and its stale lock."""
    path.unlink(missing_ok=True)
    path.with_suffix(".lock").unlink(missing_ok=True)


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
