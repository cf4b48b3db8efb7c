"""File > Open and File > Save As as a user meets them: the dialog's default filter shows
every file Open can read, and the suggested name is a valid file name everywhere."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from backend.checkpoint import Checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph
from graph.templates import build_template


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    project = build_template("hello-mlp")
    torch.manual_seed(0)
    path = tmp_path / "best.pt"
    save_checkpoint(path, Checkpoint(project, compile_graph(project.graph).state_dict(), {},
                                     "classification", [str(i) for i in range(10)], 0))
    return path


def patterns(filter_text: str) -> set[str]:
    """The file patterns of one filter entry: "Name (*.a *.b)" -> {"*.a", "*.b"}."""
    match = re.search(r"\(([^)]*)\)", filter_text)
    return set(match.group(1).split()) if match else set()


def test_open_shows_projects_and_checkpoints_by_default_and_opens_a_checkpoint(
        gui, monkeypatch, checkpoint):
    from PySide6.QtWidgets import QFileDialog

    window = gui.window(template="digits-cnn")
    seen = []

    def choose(parent, caption, folder, filters, *args, **kwargs):
        seen.append(filters)
        return str(checkpoint), filters.split(";;")[0]  # the user picks under the default

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(choose))
    window.act_open.trigger()
    default = seen[0].split(";;")[0]
    assert {"*.json", "*.pt", "*.pth", "*.ckpt"} <= patterns(default), default
    assert any(patterns(f) == {"*"} for f in seen[0].split(";;"))  # "All files" is still there
    assert not gui.errors
    assert window.document.project.name == build_template("hello-mlp").name
    assert len(window.document.project.graph.nodes) == \
        len(build_template("hello-mlp").graph.nodes)
    window.document.undo_stack.setClean()
    window.close()


@pytest.mark.parametrize("name", ["resnet18: imported 12:30", 'net/v2 "best"?', "a<b>|c*"])
def test_save_as_suggests_a_name_valid_on_every_system(gui, monkeypatch, tmp_path, name):
    from PySide6.QtWidgets import QFileDialog

    project = build_template("hello-mlp")
    project.name = name
    from app.document import Document

    window = gui.window(Document(project))
    suggested = []

    def choose(parent, caption, start, filters, *args, **kwargs):
        suggested.append(start)
        return str(tmp_path / Path(start).name), ""  # the user accepts the suggested name

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    window.act_save_as.trigger()
    file_name = Path(suggested[0]).name
    assert file_name.endswith(".json") and not set(':/\\*?"<>|') & set(file_name), file_name
    assert file_name.split("-")[0].strip() == re.split(r'[:/\\*?"<>| ]', name)[0]
    saved = tmp_path / file_name
    assert saved.is_file() and not gui.errors and window.document.path == saved
    window.close()


def test_save_as_of_a_saved_file_suggests_its_own_name(gui, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    window = gui.window(template="hello-mlp")
    gui.save_name = str(tmp_path / "my.net.v2.json")
    window.act_save_as.trigger()
    suggested = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda p, c, start, f, *a, **k: (suggested.append(start)
                                                                    or "", "")))
    window.act_save_as.trigger()
    assert Path(suggested[0]).name == "my.net.v2.json"  # not "my.json"
    window.close()
