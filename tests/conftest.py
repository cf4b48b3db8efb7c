"""Test-wide settings: no downloads, and reproducible property tests.

Hypothesis runs derandomized by default, so CI sees the same examples every run; explore new
ones locally with ``pytest --hypothesis-profile=explore``.
"""
import gc
import os
from pathlib import Path

import pytest
from hypothesis import settings

# Nothing downloads in tests: pretrained backbones refuse to fetch ImageNet weights and say so.
os.environ.setdefault("LAYERFORGE_OFFLINE", "1")

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("ci")


APP_TESTS = Path(__file__).parent / "app"


@pytest.fixture(autouse=True)
def _cycle_collection_where_it_belongs(request):
    """The GUI switches Python's automatic cycle collection off and collects on the GUI
    thread (app.garbage); tests without an event loop get the
    automatic collector back, and Qt tests leave no garbage for a later worker thread."""
    if not Path(str(request.node.fspath)).is_relative_to(APP_TESTS):
        gc.enable()
    yield
    if Path(str(request.node.fspath)).is_relative_to(APP_TESTS):
        gc.collect()  # on the main thread, after the test's widgets are gone
