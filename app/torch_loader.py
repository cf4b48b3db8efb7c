"""PyTorch and the backend, loaded on a background thread once the editor shows.

The editor (canvas, palette, inspector, shapes, validation) needs only ``graph/`` and Qt, and
comes up in about a second; ``import torch`` alone takes ~2 s and ~700 MB. So the window is
shown first and :class:`TorchLoader` imports torch and the backend modules the panels use on
a daemon thread. Whatever needs torch (the Training, Data, Evaluation, Test and Export tabs,
the Code view, File > Import) asks :meth:`TorchLoader.when_ready`.

Python's import lock is per module: while the loader imports torch, a GUI-thread import of
anything that imports torch waits for it (a frozen window) or, with the locks taken in the
other order, deadlocks. The GUI thread therefore imports no torch-dependent module until
``ready`` (tests/app/test_startup.py checks that the window comes up without torch).
"""
from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from typing import Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal

log = logging.getLogger(__name__)

# What the panels and the Code view import at module level: loaded here, off the GUI thread.
BACKEND_MODULES = (
    "torch", "numpy", "backend.errors", "backend.tasks", "backend.data",
    "backend.training.train", "backend.training.sweep", "backend.compile",
    "backend.compile.codegen", "backend.checkpoint", "backend.export.formats",
    "backend.live.capture", "backend.live.infer", "backend.data.recorder",
    "backend.tasks.classification", "backend.tasks.regression",
    "backend.tasks.language_model",
)

LOADING_TEXT = "loading PyTorch…"
BUSY_TIP = "PyTorch is loading: this opens in a moment."

IDLE, LOADING, READY, FAILED = "idle", "loading", "ready", "failed"


def torch_imported() -> bool:
    """Whether torch is imported already (then loading the rest cannot race the GUI)."""
    return "torch" in sys.modules


def import_backend() -> None:
    """Import torch and the backend modules the panels need (any thread)."""
    for name in BACKEND_MODULES:
        importlib.import_module(name)


class TorchLoader(QObject):
    """One per application: loads torch once and tells whoever waits.

    ``finished`` is emitted on the GUI thread when loading ends, ready or failed (then
    ``error`` says why)."""

    finished = Signal()
    _done = Signal(str)  # from the loading thread: "" or the reason it failed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = IDLE
        self.error = ""
        self.seconds = 0.0  # how long loading took
        self._waiting: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._done.connect(self._finish)

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def failed(self) -> bool:
        return self.state == FAILED

    def start(self) -> None:
        """Begin loading on a daemon thread (once). When torch is already imported (the
        process embedding the editor, the tests) the rest is loaded at once instead."""
        if self.state != IDLE:
            return
        if torch_imported():
            self.load_now()
            return
        self.state = LOADING
        self._thread = threading.Thread(target=self._load, name="layerforge-torch-loader",
                                        daemon=True)
        self._thread.start()

    def load_now(self) -> None:
        """Load on this (the GUI) thread, blocking; only when no loading thread runs."""
        if self.state in (READY, FAILED):
            return
        if self.state == LOADING and self._thread is not None:
            self._thread.join()
            QCoreApplication.sendPostedEvents(self)
            if self.state != LOADING:
                return
        self.state = LOADING
        self._finish(self._load_error())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loaded (tests, benches); True when ready. Delivers the result."""
        if self._thread is not None:
            self._thread.join(timeout)
        QCoreApplication.sendPostedEvents(self)
        return self.ready

    def when_ready(self, fn: Callable[[], None]) -> None:
        """``fn()`` on the GUI thread as soon as torch is ready (now if it is); never if
        loading failed. Loading itself starts when the first window shows (:meth:`start`),
        or now when torch is already imported (then nothing is left to wait for)."""
        if self.state == IDLE and torch_imported():
            self.start()
        if self.state == READY:
            fn()
        elif self.state != FAILED:
            self._waiting.append(fn)

    def _load_error(self) -> str:
        started = time.perf_counter()
        try:
            import_backend()
        except BaseException as exc:  # noqa: BLE001 - shown to the user; the editor stays
            log.exception("loading PyTorch failed")
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.seconds = time.perf_counter() - started
        return ""

    def _load(self) -> None:
        error = self._load_error()
        try:
            self._done.emit(error)
        except RuntimeError:  # the application is gone
            pass

    def _finish(self, error: str) -> None:
        if self.state in (READY, FAILED):
            return
        self.error = error
        self.state = FAILED if error else READY
        waiting, self._waiting = self._waiting, []
        if self.state == READY:
            for fn in waiting:
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one waiter's bug must not stop the others
                    log.exception("a task waiting for PyTorch failed")
        self.finished.emit()


_loader: TorchLoader | None = None


def torch_loader() -> TorchLoader:
    """The application's loader (made on first use, owned by the QApplication)."""
    global _loader
    app = QCoreApplication.instance()
    if _loader is not None:
        try:
            _loader.objectName()  # still alive (a test may have made a new application)
            return _loader
        except RuntimeError:
            _loader = None
    _loader = TorchLoader(app)
    return _loader
