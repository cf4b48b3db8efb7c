"""The torch loader's waiting and failing, in this process (torch is already imported here:
the fresh-process start is tests/app/test_startup.py)."""
from __future__ import annotations

from app import torch_loader as tl

LAYER = "Linear"


def test_waiters_run_when_ready_and_not_after_a_failure(qapp, monkeypatch):
    loader = tl.TorchLoader()
    calls: list[str] = []
    monkeypatch.setattr(tl, "torch_imported", lambda: False)
    loader.when_ready(lambda: calls.append("first"))
    assert calls == [] and loader.state == tl.IDLE  # nothing loads before a window shows
    loader.start()
    assert loader.wait(120)
    assert calls == ["first"] and loader.ready
    loader.when_ready(lambda: calls.append("now"))
    assert calls == ["first", "now"]

    broken = tl.TorchLoader()
    monkeypatch.setattr(tl, "import_backend", lambda: (_ for _ in ()).throw(
        ImportError("No module named 'torch'")))
    broken.when_ready(lambda: calls.append("never"))
    broken.start()
    broken.wait(30)
    assert broken.failed and "No module named 'torch'" in broken.error
    assert "never" not in calls


def test_a_window_whose_torch_failed_to_load_keeps_editing(gui, monkeypatch):
    loader = tl.TorchLoader()
    monkeypatch.setattr(tl, "_loader", loader)
    monkeypatch.setattr(tl, "import_backend", lambda: (_ for _ in ()).throw(
        ImportError("No module named 'torch'")))
    monkeypatch.setattr(tl, "torch_imported", lambda: False)
    window = gui.window()  # showing it starts the loader
    loader.start()
    loader.wait(30)
    assert loader.failed
    assert window.status_device.text() == "PyTorch failed to load"
    assert "No module named 'torch'" in window.status_device.toolTip()
    assert window.training_panel is None
    page = window.bottom_tabs.widget(0)
    assert "could not be loaded" in page.text() and "No module named" in page.text()
    assert not window.act_import.isEnabled()
    count = len(window.document.graph.nodes)
    window.add_layer_at_centre(LAYER)  # the editor keeps working
    assert len(window.document.graph.nodes) == count + 1
