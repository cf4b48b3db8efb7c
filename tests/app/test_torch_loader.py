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


def test_while_torch_loads_the_torch_tabs_wait_then_open(gui, qtbot, monkeypatch):
    import threading

    from app.editor.codeview import WAITING_TEXT

    loader = tl.TorchLoader()
    release = threading.Event()
    monkeypatch.setattr(tl, "_loader", loader)
    monkeypatch.setattr(tl, "torch_imported", lambda: False)
    monkeypatch.setattr(tl, "import_backend", lambda: release.wait(30))
    window = gui.window()
    qtbot.waitUntil(lambda: loader.state == tl.LOADING, timeout=5000)  # after the first paint
    assert window.training_panel is None and window.export_panel is None
    assert window.status_device.text() == tl.LOADING_TEXT
    assert not window.act_import.isEnabled() and window.act_import.toolTip() == tl.BUSY_TIP
    assert "PyTorch is loading" in window.bottom_tabs.widget(0).text()
    window.bottom_tabs.setCurrentWidget(window.code_view)
    window.code_view.refresh()
    assert window.code_view.text() == ""  # never compiled on the GUI thread meanwhile
    assert window.code_view.editor.placeholderText() == WAITING_TEXT
    release.set()
    qtbot.waitUntil(lambda: loader.ready, timeout=10_000)
    assert window.training_panel is not None
    assert window.bottom_tabs.widget(0) is window.training_panel
    assert window.bottom_tabs.widget(5) is window.export_panel
    assert window.act_import.isEnabled()
    assert window.status_device.text().startswith("device: ")
    assert "class " in window.code_view.text()  # the Code view compiled once ready
