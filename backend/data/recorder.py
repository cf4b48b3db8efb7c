"""Teach the camera: record frames into an image-folder dataset on disk.

The folder is exactly what :func:`backend.data.images.load_image_folder` reads:
``root/<class name>/<n>.png``. Files are written atomically (temp file + rename; the temp
name starts with a dot so a loader never sees half a file).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np

from backend.data.base import DataError
from graph.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

_BAD_NAME = re.compile(r"[\\/:*?\"<>|\x00-\x1f]")
MAX_SIDE = 160  # recorded samples are shrunk to this: models here take small inputs


class SampleStore:
    """Classes and their recorded images under ``root``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(os.path.expanduser(str(root)))

    def classes(self) -> list[str]:
        """Class names (sorted, as the image-folder loader numbers them)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def add_class(self, name: str) -> Path:
        """Create a class folder; names that are not valid folder names raise DataError."""
        name = name.strip()
        if not name or name.startswith(".") or _BAD_NAME.search(name):
            raise DataError(f"class name {name!r}: use letters, digits, spaces, - or _ "
                            f"(it becomes a folder name)")
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_class(self, name: str) -> None:
        """Delete a class folder and all its samples."""
        folder = self.root / name
        if folder.is_dir() and folder.parent == self.root:
            shutil.rmtree(folder)

    def samples(self, name: str) -> list[Path]:
        """A class's sample files, oldest first."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(files, key=_sample_order)

    def counts(self) -> dict[str, int]:
        """Samples per class."""
        return {name: len(self.samples(name)) for name in self.classes()}

    def add(self, name: str, image: np.ndarray) -> Path:
        """Save one BGR (or gray) uint8 image as the class's next PNG; returns its path."""
        folder = self.root / name
        if not folder.is_dir():
            self.add_class(name)
        h, w = image.shape[:2]
        if max(h, w) > MAX_SIDE:
            f = MAX_SIDE / max(h, w)
            image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                               interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
        if not ok:
            raise DataError(f"could not encode a sample for class '{name}'")
        existing = self.samples(name)
        number = _sample_order(existing[-1])[0] + 1 if existing else 0
        path = folder / f"{number:05d}.png"
        atomic_write_bytes(path, buf.tobytes())
        return path

    def delete(self, path: str | os.PathLike) -> None:
        """Delete one sample (only files inside this store)."""
        path = Path(path)
        if path.resolve().parent.parent != self.root.resolve():
            raise DataError(f"{path} is not a sample of {self.root}")
        path.unlink(missing_ok=True)

    def dataset_spec(self) -> dict:
        """The project dataset setting that trains on this folder."""
        return {"name": "image_folder", "options": {"path": str(self.root)}}


def _sample_order(path: Path) -> tuple[int, str]:
    try:
        return int(path.stem), path.name
    except ValueError:
        return -1, path.name
