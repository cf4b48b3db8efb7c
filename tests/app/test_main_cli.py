"""``layerforge`` where it cannot or should not open the editor: without a display, or with an
argument that is neither a command nor a file. One clear line, a non-zero exit, in seconds —
run as a separate process, as a user's shell runs it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.main import has_display
from backend.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
NO_DISPLAY = "LayerForge needs a display for its window; without one use the command line: " \
             "layerforge "


def layerforge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m app.main ARGS`` with no display variables (plus ``env``)."""
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items()
             if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    clean.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                 XDG_DATA_HOME=str(home / ".local"), **env)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "app.main", *args], cwd=ROOT, env=clean,
                            capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20, "it must answer in seconds"
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux can lack a display")
def test_without_a_display_it_says_so_and_names_the_cli(tmp_path):
    result = layerforge(tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, not Qt's abort
    assert lines[0].startswith(NO_DISPLAY)
    assert "train" in lines[0] and "export" in lines[0] and "(layerforge --help)" in lines[0]
    assert "Qt platform plugin" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux can lack a display")
def test_without_a_display_an_existing_project_says_the_same(tmp_path):
    project = tmp_path / "net.json"
    project.write_text("{}")
    result = layerforge(tmp_path, str(project))
    assert result.returncode == 1 and result.stderr.startswith(NO_DISPLAY)


@pytest.mark.parametrize("env", [{}, {"QT_QPA_PLATFORM": "offscreen"}],
                         ids=["no display", "display"])
def test_a_typo_is_no_such_command_or_file(tmp_path, env):
    result = layerforge(tmp_path, "layerz", **env)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"layerforge: no such command or file: layerz "
                                     f"(commands: {', '.join(COMMANDS)}; layerforge --help)")
    assert result.stdout == ""


def test_cli_commands_still_run_without_a_display(tmp_path):
    result = layerforge(tmp_path, "templates")
    assert result.returncode == 0, result.stderr
    assert "digits-cnn" in result.stdout


@pytest.mark.parametrize(("env", "expected"), [
    ({}, False),
    ({"DISPLAY": ":0"}, True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, True),
    ({"QT_QPA_PLATFORM": "offscreen"}, True),
    ({"QT_QPA_PLATFORM": "minimal"}, True),
    ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, True),
    ({"QT_QPA_PLATFORM": "xcb"}, False),
    ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}, True),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":1"}, True),
])
def test_what_counts_as_a_display_on_linux(env, expected):
    assert has_display(env, "linux") is expected
    assert has_display({}, "win32") and has_display({}, "darwin")
