"""``layerforge --smoke-test [FILE]``: the installers' smoke test runs the bundled app with it.
It must open the editor, paint it, close it and exit 0 on its own — and exit 1 without any
dialog on a file it cannot open. Run as a separate process, as the bundle runs it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.main import ICON_SIZES, app_icon
from graph.project import save_project
from graph.templates import build_template

ROOT = Path(__file__).resolve().parents[2]


def smoke(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    return subprocess.run([sys.executable, "-m", "app.main", "--smoke-test", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_smoke_flag_opens_a_template_paints_and_exits_0(tmp_path):
    project = tmp_path / "lstm.json"
    save_project(build_template("lstm-forecast"), project)
    result = smoke(tmp_path, str(project))
    assert result.returncode == 0, result.stderr
    assert "smoke test: opened 'lstm.json' (4 layers)" in result.stdout
    assert "painted=True" in result.stdout and "icon=True" in result.stdout


def test_smoke_flag_exits_1_on_a_file_it_cannot_open(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = smoke(tmp_path, str(bad))
    assert result.returncode == 1
    assert "smoke test: cannot open" in result.stderr and "bad.json" in result.stderr
    assert "painted" not in result.stdout


def test_app_icon_has_every_size(isolated_app):
    icon = app_icon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} == set(ICON_SIZES)
    assert not QApplication.windowIcon().isNull()  # create_application set it
