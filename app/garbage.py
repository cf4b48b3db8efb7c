"""Where and when Python's cycle collector runs in the GUI.

Python's cycle collector runs on whichever thread happens to allocate. When that is a worker
(training, capture, export) and the garbage holds a Qt object, PySide deadlocks: the worker
waits for the GIL inside ~QObject holding Qt's mutex, while the GUI thread holds the GIL and
waits for that mutex (checked with gdb: a training run froze the app). So the GUI switches
automatic collection off and collects on its own thread from a timer (as pyqtgraph's
GarbageCollector does; :class:`GuiCollector` is the same few lines without importing
pyqtgraph and numpy at startup).

A full collection walks every object torch, numpy and Qt created: ~140 ms after startup,
~300 ms after a run (measured), holding the GIL. Such a collection, due every few minutes,
would freeze the editor at a random moment. So full collections happen only at natural
pauses (``settle_idle``: once the event loop starts, and when a run ends), and every object
alive then moves to the permanent generation (``gc.freeze``); the timer's collections only
walk what was created since. ``settle()`` before a run does the same; ``settle_setup()``
freezes the run's setup (model, data, first imports: ~120k objects) without a collection,
and no collection runs during that setup (one took ~60 ms). ``unsettle()`` after the run
collects everything once (the run's model is garbage in reference cycles: fx graphs point
back at their module) and freezes the rest again.
"""
from __future__ import annotations

import gc
import sys
import threading


_setting_up = threading.Event()  # a run is building its model and loading its data


def collect_on_gui_thread(app) -> None:
    """Switch automatic collection off; collect from a 1 s timer on the GUI thread."""
    if getattr(app, "_gui_thread_gc", None) is None:
        app._gui_thread_gc = GuiCollector(interval=1.0)
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, settle_idle)  # once the window is up: startup's objects stay


class GuiCollector:
    """Automatic collection off; the generations collected from a timer on the GUI thread
    when their counts pass gc's thresholds, as automatic collection would (pyqtgraph's
    GarbageCollector), except during a run's setup."""

    def __init__(self, interval: float = 1.0) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer.start(int(interval * 1000))

    def check(self) -> None:
        if _setting_up.is_set():  # its objects are about to be frozen
            return
        l0, l1, l2 = gc.get_count()
        if l0 > self.threshold[0]:
            gc.collect(0)
            if l1 > self.threshold[1]:
                gc.collect(1)
                if l2 > self.threshold[2]:
                    gc.collect(2)


def settle_idle() -> None:
    """A full collection now, then every survivor is exempt from the timer's collections
    (GUI thread, at a pause the user expects: startup, the end of a run)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
    """After a run (GUI thread): collect its garbage, freeze what is left, and hand the freed
    memory back to the system."""
    _setting_up.clear()
    settle_idle()
    release_free_memory()


def settle_released() -> None:
    """After a document was closed or an import ended (GUI thread, a pause the user made):
    free what they held (an fx model's cycles need a full collection) and return the
    memory. Not in the middle of a run's setup (see ``settle``)."""
    if not _setting_up.is_set():
        settle_idle()
    release_free_memory()


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``): a finished
    run's tensors, freed, otherwise stay in the training thread's malloc arena, and each run's
    new thread got a new one (+15-50 MB resident per run, measured with bench/startup.py).
    A no-op where there is no glibc."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
