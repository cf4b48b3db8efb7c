"""Background work for the GUI: a training run on its own QThread.

The thread iterates the headless trainer (``backend.training.train.TrainingRun.events()``) and only
appends events to a queue. A timer on the GUI thread drains the queue a few dozen times a
second and re-emits the events as Qt signals, so however fast batches come, the event loop
gets a bounded number of updates (per-batch events are coalesced into lists).
"""
from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal
from PySide6.QtWidgets import QProgressBar

from app.garbage import settle, settle_setup, unsettle
from backend.training import train as tr
from backend.data import DownloadProgress
from graph.project import Project

log = logging.getLogger(__name__)
DRAIN_MS = 500  # 2 GUI updates a second: on 2 cores every repaint is taken from training


TRAINING_NICENESS = 5  # how much lower the training thread's CPU priority is than the GUI's


def yield_cpu_to_gui() -> None:
    """Lower the calling (training) thread's CPU priority below the GUI thread's.

    On two cores, torch's two compute threads and the GUI thread take turns; at equal priority
    a repaint waits for a time slice and takes twice its CPU time in wall time (measured:
    19 ms for 9 ms of painting). At a lower priority the trainer still gets every cycle the
    window leaves idle, so its speed is unchanged when nothing is drawn. The compute threads
    torch starts from this thread inherit the priority. Linux sets it per thread
    (setpriority on the thread id); elsewhere Qt's thread priority does the same.
    """
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid,
                           os.getpriority(os.PRIO_PROCESS, tid) + TRAINING_NICENESS)
        except OSError as exc:  # a sandbox may forbid it: training is only less polite then
            log.info("could not lower the training thread's priority: %s", exc)
    else:
        thread = QThread.currentThread()
        if thread is not None:
            thread.setPriority(QThread.Priority.LowPriority)


class _RunThread(QThread):
    """Runs one TrainingRun; everything it learns goes into ``queue``."""

    def __init__(self, run: tr.TrainingRun, queue: collections.deque) -> None:
        super().__init__()
        self.run_ = run
        self.queue = queue

    def run(self) -> None:  # QThread entry point
        yield_cpu_to_gui()
        try:
            for event in self.run_.events():
                self.queue.append(event)
                if isinstance(event, tr.Started):
                    settle_setup()  # model built, data loaded: later collections skip them
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app silently
            log.exception("training crashed")
            self.queue.append(tr.Failed(f"training stopped by an internal error: {exc}"))


class TrainingSession(QObject):
    """Start, pause, resume, stop a training run; its events arrive as signals on the GUI
    thread. One run at a time."""

    downloading = Signal(object)      # backend.data.DownloadProgress, before Started
    started = Signal(object)          # tr.Started
    batches = Signal(list)            # [tr.BatchEnd, ...] since the last update
    epochEnded = Signal(object)       # tr.EpochEnd
    layerStats = Signal(object)       # tr.LayerStats (only the newest per update)
    checkpointSaved = Signal(object)  # tr.CheckpointSaved
    paused = Signal(object)           # tr.Paused
    resumed = Signal(object)          # tr.Resumed
    finished = Signal(object)         # tr.Finished
    failed = Signal(object)           # tr.Failed
    runEnded = Signal()               # after finished or failed, the thread is gone

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run: tr.TrainingRun | None = None
        self._thread: _RunThread | None = None
        self._queue: collections.deque = collections.deque()
        self._timer = QTimer(self, interval=DRAIN_MS)
        self._timer.timeout.connect(self.drain)
        self._ending = False
        self._download = None  # the download progress last shown

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, project: Project, out_dir: str | Path | None = None,
              monitor_interval: float | None = DRAIN_MS / 1000,
              **kwargs: Any) -> tr.TrainingRun:
        """Train a copy of ``project`` (later edits of the graph don't touch the run). Layer
        statistics are sampled once per GUI update by default: the window shows only the
        newest, and each sample costs the training thread a little."""
        if self.running:
            raise RuntimeError("a training run is already going")
        settle()  # the run's garbage collections then skip everything that exists now
        self.run = tr.TrainingRun(project.copy(), out_dir=out_dir,
                                  monitor_interval=monitor_interval, **kwargs)
        self._queue.clear()
        self._download = None
        self._thread = _RunThread(self.run, self._queue)
        self._thread.finished.connect(self._thread_done)
        self._thread.start()
        self._timer.start()
        return self.run

    def pause(self) -> None:
        if self.run:
            self.run.pause()

    def resume(self) -> None:
        if self.run:
            self.run.resume()

    def stop(self) -> None:
        if self.run:
            self.run.stop()

    def update_settings(self, **changes: Any) -> None:
        """Safe settings for the next batch (raises TrainingError for the others)."""
        if self.run:
            self.run.update_settings(**changes)

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the run's thread has ended (tests, closing the window)."""
        if self._thread is None:
            return True
        done = self._thread.wait(ms)
        self.drain()
        return done

    def shutdown(self) -> None:
        """Stop any run and wait for its thread (window closing)."""
        self.stop()
        self.wait()

    def forget(self) -> None:
        """Drop the last run (its model, data and settings) once it has ended: another
        document is open and nothing should test or record the old network."""
        if not self.running:
            self.run = None

    def drain(self) -> None:
        """Deliver queued events as signals (GUI thread)."""
        batch: list[tr.BatchEnd] = []
        stats = None
        download = self.run.setup_progress if self.run is not None else None
        if download is not None and download is not self._download:
            self._download = download
            self.downloading.emit(download)
        while self._queue:
            event = self._queue.popleft()
            if isinstance(event, tr.BatchEnd):
                batch.append(event)
                continue
            if isinstance(event, tr.LayerStats):
                stats = event
                continue
            if batch:  # keep order: batches before the epoch that contains them
                self.batches.emit(batch)
                batch = []
            self._emit(event)
        if batch:
            self.batches.emit(batch)
        if stats is not None:
            self.layerStats.emit(stats)
        thread = self._thread
        if thread is not None and thread.isFinished() and not self._ending:
            self._thread_done()  # its finished signal has not arrived (yet): end the run now

    def _emit(self, event: Any) -> None:
        signal = {tr.Started: self.started, tr.EpochEnd: self.epochEnded,
                  tr.CheckpointSaved: self.checkpointSaved, tr.Paused: self.paused,
                  tr.Resumed: self.resumed, tr.Finished: self.finished,
                  tr.Failed: self.failed}.get(type(event))
        if signal is not None:
            signal.emit(event)

    def _thread_done(self) -> None:
        """The run's thread has ended (its finished signal, or drain() noticing first)."""
        if self._thread is None or self._ending:
            return  # already ended: the other of the two paths got here first
        self._ending = True
        try:
            self.drain()
        finally:
            self._ending = False
        self._timer.stop()
        unsettle()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self.runEnded.emit()



def show_download(bar: QProgressBar, progress: DownloadProgress) -> None:
    """A download's progress on a bar (KiB: byte counts overflow its int range past 2 GB; a
    download of unknown size shows a busy bar)."""
    total = progress.total or 0
    bar.setRange(0, total // 1024)
    bar.setValue(progress.done // 1024)


class _Relay(QObject):
    """Carries one background result to the GUI thread (a queued signal)."""

    done = Signal(object)


_relays: set[_Relay] = set()  # kept alive on the GUI thread until their result arrived
_threads: set[threading.Thread] = set()  # background calls still running
_threads_lock = threading.Lock()


def call_in_background(fn: Callable[[], Any], on_done: Callable[[Any], None],
                       name: str = "layerforge-task",
                       owner: QObject | None = None) -> threading.Thread:
    """Run ``fn()`` on a daemon thread; ``on_done(result)`` then runs on the GUI thread, with
    the exception instead of a result if ``fn`` raised. For short jobs (seconds) whose result
    only a widget needs: a closing app does not wait for them. If ``owner`` (the widget that
    asked) is deleted first, ``on_done`` is not called."""
    relay = _Relay(owner)  # created here: it belongs to the GUI thread, and so does on_done

    def deliver(result: Any) -> None:
        _relays.discard(relay)
        on_done(result)

    relay.done.connect(deliver)
    _relays.add(relay)

    def work() -> None:
        try:
            result: Any = fn()
        except Exception as exc:  # noqa: BLE001 - handed to on_done, which shows it
            log.exception("background task %s failed", name)
            result = exc
        try:
            relay.done.emit(result)
        except RuntimeError:  # the owner, and the relay with it, is gone: nobody to tell
            _relays.discard(relay)
        finally:
            with _threads_lock:
                _threads.discard(threading.current_thread())

    thread = threading.Thread(target=work, name=name, daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()
    return thread


def wait_for_background(timeout: float = 30.0) -> bool:
    """Join every background call still running (tests, application exit); True if none is."""
    deadline = time.monotonic() + timeout
    while True:
        with _threads_lock:
            threads = list(_threads)
        if not threads:
            return True
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            with _threads_lock:
                return not _threads
