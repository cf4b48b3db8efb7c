"""Where LayerForge's shipped resources (datasets, icons) live, in a checkout and when frozen.

In a source checkout or editable install they sit in ``resources/`` beside the packages; in a
PyInstaller bundle the spec copies them to ``resources/`` under ``sys._MEIPASS`` (the
bundle's ``_internal`` folder). Pure Python, so both ``backend/`` and ``app/`` can use it.
"""
from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding ``datasets/``, ``icons/`` ...: the bundle's copy when frozen."""
    frozen = getattr(sys, "_MEIPASS", None)  # set by the PyInstaller bootloader
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(*parts: str) -> Path:
    """A file under :func:`resources_dir`, e.g. ``resource_path("icons", "layerforge.svg")``."""
    return resources_dir().joinpath(*parts)
