"""LayerForge's own folders live in one data folder (not LayerForge/LayerForge), and suggested
file names are valid on every operating system."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_one_data_folder_for_runs_recovery_and_recorded_classes(isolated_app):
    from PySide6.QtCore import QStandardPaths

    from app.panels.teach_page import default_capture_folder
    from app.panels.training import new_run_dir, runs_dir
    from app.paths import app_data_dir
    from app.recovery import recovery_dir

    qt = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    assert qt.parts[-2:] == ("LayerForge", "LayerForge")  # what Qt gives for org == app
    data = app_data_dir()
    assert data == qt.parent and data.name == "LayerForge"
    for folder in (runs_dir(), recovery_dir(), default_capture_folder(),
                   new_run_dir("digits: cnn")):
        assert "LayerForge/LayerForge" not in folder.as_posix(), folder
        assert folder.is_relative_to(data)
    assert runs_dir() == data / "runs" and recovery_dir() == data / "recovery"
    assert default_capture_folder() == data / "captured"


def test_a_crash_file_in_the_old_doubled_folder_is_still_offered(isolated_app):
    from app.paths import app_data_dir, legacy_app_data_dir
    from app.recovery import pending_recoveries
    from graph.templates import build_template

    assert legacy_app_data_dir() is None  # nothing there yet
    old = app_data_dir() / "LayerForge" / "recovery"
    old.mkdir(parents=True)
    left = old / "crashed.json"
    left.write_text(json.dumps({"original": None,
                                "project": build_template("hello-mlp").to_dict()}))
    assert legacy_app_data_dir() == app_data_dir() / "LayerForge"
    assert pending_recoveries() == [left]


@pytest.mark.parametrize("name, expected", [
    ("resnet18: imported 12:30", "resnet18- imported 12-30"),
    ('a/b\\c*d?e"f<g>h|i', "a-b-c-d-e-f-g-h-i"),
    ("digits cnn", "digits cnn"),
    ("CON", "CON-"),
    ("trailing dots...", "trailing dots"),
    (":::", "network"),
])
def test_safe_file_name(name, expected):
    from app.paths import safe_file_name

    assert safe_file_name(name) == expected
