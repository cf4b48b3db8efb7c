"""The editor starts without torch (issue 18): in a fresh process the window is shown before
torch is imported, PyTorch then loads off the GUI thread, and training works once it has."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_editor(tmp_path: Path, *args: str, timeout: float = 300) -> dict:
    """``python -m app.startup_probe`` in a fresh process with a scratch home: its JSON."""
    home = tmp_path / "home"
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), QT_QPA_PLATFORM="offscreen",
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "app.startup_probe", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def test_the_window_shows_before_torch_and_training_works_once_it_has_loaded(tmp_path):
    result = start_editor(tmp_path, "--train", "hello-mlp", "--runs", "1", "--epochs", "1")
    assert result["torch_at_shown"] is False  # palette, canvas, inspector, shapes: no torch
    assert result["panels_at_shown"] is False
    assert result["status_at_shown"] == "loading PyTorch…"
    assert result["load_error"] == ""
    assert result["ready"] >= result["shown"]
    assert result["status_at_ready"].startswith("device: ")
    assert result["ok"], result["why"]
    [run] = result["runs"]
    assert run["status"].startswith("Training finished after 1 epoch"), run["status"]
