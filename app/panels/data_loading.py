"""The Data tab's background loads: one wanted load at a time, results of older ones dropped;
and the row that shows them (Load button, busy bar, status line).

A load runs on a daemon thread (a download or a big image folder must not freeze the window);
its result comes back as a queued Qt signal and is handed on only if no newer load started and
nobody abandoned it meanwhile. A download's progress is polled from the GUI thread.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.editor.style import muted_color
from app.workers import call_in_background, show_download
from backend.data import DownloadProgress

_tickets = itertools.count(1)  # which load a result answers


class LoadState:
    """Shared by the GUI and one loading thread: how far a download is (written by the
    thread, polled by the panel) and whether the load was given up (a newer one started)."""

    def __init__(self) -> None:
        self.download: DownloadProgress | None = None
        self.cancelled = False

    def report(self, progress: DownloadProgress) -> None:
        self.download = progress


class DatasetLoader(QObject):
    """Starts loads, remembers which one is wanted and what was loaded last.

    ``inflight_key`` is the key of the wanted load while it runs, ``loaded_key`` the key of
    the last load whose result was handed on (kept until the owner forgets it).
    """

    downloading = Signal(object)  # DownloadProgress of the wanted load, polled while it runs
    finished = Signal(object)     # the wanted load's result (whatever its job returned)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ticket: int | None = None  # the load whose result is wanted
        self.inflight_key: str | None = None
        self.loaded_key: str | None = None
        self._state: LoadState | None = None  # the wanted load's download and cancel
        self._download_timer = QTimer(self, interval=250)
        self._download_timer.timeout.connect(self._poll_download)

    @property
    def running(self) -> bool:
        """A load is running whose result will be handed on."""
        return self._ticket is not None

    def start(self, key: str, job: Callable[[LoadState], Any]) -> None:
        """Run ``job(state)`` on a background thread; an older load's result is dropped and a
        download it makes stops."""
        ticket = next(_tickets)
        self._ticket, self.inflight_key = ticket, key
        if self._state is not None:
            self._state.cancelled = True  # a download for the older request stops
        state = self._state = LoadState()
        # a daemon thread: quitting during a slow download must not wait for it
        call_in_background(lambda: job(state),
                           lambda result: self._on_loaded(ticket, result),
                           f"layerforge-data-{ticket}", owner=self)
        self._download_timer.start()

    def abandon(self) -> None:
        """Nobody wants the running load's result any more: a download it makes stops."""
        if self._state is not None:
            self._state.cancelled = True
        self._ticket = self.inflight_key = self._state = None
        self._download_timer.stop()

    def _poll_download(self) -> None:
        state = self._state
        progress = state.download if state is not None and self._ticket is not None else None
        if progress is None:
            return
        self.downloading.emit(progress)

    def _on_loaded(self, ticket: int, result: Any) -> None:
        if ticket != self._ticket:
            return  # a stale load: the spec, the Input or the document changed meanwhile
        key = self.inflight_key
        self._ticket = self.inflight_key = None
        self._state = None
        self._download_timer.stop()
        self.loaded_key = key
        self.finished.emit(result)


class LoadControls(QWidget):
    """The "Load preview" button with a busy bar (that fills during a download) or, when
    idle, a line saying how the last load went."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)  # as the column it sits in
        self.load_button = QPushButton("Load preview")
        self.load_button.setToolTip("Load the dataset again and check it against the network")
        row.addWidget(self.load_button)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(10)
        self.busy.setVisible(False)
        row.addWidget(self.busy, 1)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        row.addWidget(self.status, 1)

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """The busy bar (indeterminate) while ``busy``, else the status line; ``text`` on both."""
        self.busy.setRange(0, 0)  # indeterminate until a download says how big it is
        self.busy.setVisible(busy)
        self.status.setVisible(not busy)
        if text is not None:
            self.status.setText(text)
            self.busy.setToolTip(text)

    def show_download(self, progress: DownloadProgress) -> None:
        """How far a download is: the bar fills, its tooltip says how far."""
        show_download(self.busy, progress)
        self.busy.setToolTip(progress.describe())
