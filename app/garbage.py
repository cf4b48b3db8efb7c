"""Where and when Python's cycle collector runs in the GUI.

Python's cycle collector runs on whichever thread happens to allocate. When that is a worker
(training, capture, export) and the garbage holds a Qt object, PySide deadlocks: the worker
waits for the GIL inside ~QObject holding Qt's mutex, while the GUI thread holds the GIL and
waits for that mutex (checked with gdb: a training run froze the app). So the GUI switches
automatic collection off and collects on its own thread from a timer (pyqtgraph's
GarbageCollector, made for exactly this).

A full collection then walks every object torch, numpy and Qt created (~70 ms here, holding
the GIL, so training waits too); ``settle()`` before a run moves what exists into the
permanent generation (``gc.freeze``) so the collections during the run only walk new objects;
``settle_setup()`` does the same, without a collection, once the run has built its model and
loaded its data (that setup, with the modules it imports the first time, leaves tens of
thousands of new objects: a collection that walked them took ~50 ms, a visible stall).
``unsettle()`` after the run hands them back to the collector.
"""
from __future__ import annotations

import gc
import threading


_setting_up = threading.Event()  # a run is building its model and loading its data


def collect_on_gui_thread(app) -> None:
    """Switch automatic collection off; collect from a 1 s timer on the GUI thread."""
    if getattr(app, "_gui_thread_gc", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        class Collector(GarbageCollector):
            def check(self) -> None:
                if not _setting_up.is_set():  # its objects are about to be frozen
                    super().check()

        app._gui_thread_gc = Collector(interval=1.0)


def settle() -> None:
    """Collect what is garbage now, then exempt the survivors from later collections; no
    collection until ``settle_setup()`` (the run's setup creates ~120k objects: a collection
    in the middle of it took ~60 ms)."""
    gc.collect()
    gc.freeze()
    _setting_up.set()


def settle_setup() -> None:
    """Exempt what exists now from the collections still to come in this run (no collection:
    safe on any thread), and let the collections resume."""
    gc.freeze()
    _setting_up.clear()


def unsettle() -> None:
    """After a run: objects frozen by ``settle()`` may be collected again (on this thread)."""
    _setting_up.clear()
    gc.unfreeze()
