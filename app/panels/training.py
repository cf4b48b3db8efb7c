"""The Training tab: settings form, Train / Pause / Resume / Stop, progress with ETA, live
curves, run history, and the evaluation when a run ends."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QScrollArea, QSplitter,
                               QVBoxLayout, QWidget)

from app.document import Document
from app.panels.curves import TrainingCurves
from app.panels.training_controls import RunButtons
from app.panels.training_form import SECTIONS, TrainingSettingsForm
from app.panels.training_runs import RunHistory, RunRecord
from app.status_line import StatusLine, TabsWithStatus
from app.workers import TrainingSession, show_download
from backend.tasks import format_metric, get_task
from backend.training import train as tr
from graph.errors import LayerForgeError
from graph.project import Project
from graph.settings import LIVE_SETTINGS
from graph.validate import analyze

# what callers import from here (some of it is defined in the training_* modules)
__all__ = ["SECTIONS", "RunRecord", "TrainingPanel", "format_eta", "new_run_dir", "runs_dir",
           "write_cluster_job"]


def runs_dir() -> Path:
    """Where training runs write their folders (checkpoints, logs)."""
    from app.paths import app_data_dir

    return app_data_dir() / "runs"


def new_run_dir(title: str) -> Path:
    """A folder (not made yet) for a new run of the document called ``title``."""
    name = "".join(c if c.isalnum() else "-" for c in title)[:40]
    out = base = runs_dir() / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(2, 1000):  # two runs in one second (a sweep) get their own folders
        if not out.exists():
            break
        out = base.with_name(f"{base.name}-{n}")
    return out


def write_cluster_job(project: Project, title: str, folder: str) -> tuple[Path, Path]:
    """Save ``project`` and a launch.sh (torchrun) beside it into ``folder``: (script, project
    file). Raises OSError or LayerForgeError when they cannot be written."""
    from backend.training.distributed import launch_script
    from graph.fileio import atomic_write_bytes
    from graph.project import save_project

    name = "".join(c if c.isalnum() else "-" for c in title)[:40] or "project"
    project_file = Path(folder) / f"{name}.json"
    script = Path(folder) / "launch.sh"
    save_project(project, project_file)
    text = launch_script(str(project_file))
    atomic_write_bytes(script, text.encode())
    script.chmod(0o755)
    return script, project_file


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingPanel(QWidget):
    """Drives a TrainingSession for the document's project."""

    failedAt = Signal(str)          # name of the node that raised
    liveStats = Signal(object)      # tr.LayerStats, for the canvas overlay
    runFinished = Signal(object)    # tr.Finished, with self.session.run holding model+bundle
    epochReport = Signal(object)    # the task's epoch_report after an epoch
    openCheckpoint = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.session = TrainingSession(self)
        self._extra: dict[str, Any] = {}  # a sweep trial's changed values, for the history
        self._started_at = 0.0
        self._paused_at: float | None = None  # paused time does not count towards the ETA
        self._paused_for = 0.0
        self._position: tuple[int, int] = (0, 0)  # (epoch, batch) the run is at, 0-based
        self._started_with: dict[str, Any] = {}  # the run's settings as it started
        self._changes: dict[str, list[tuple[tuple[int, int], Any]]] = {}  # live: (at, value)
        self._info: tr.Started | None = None
        self._last_epoch: tr.EpochEnd | None = None
        self._build()
        self._connect_session()
        self.set_document(document)

    # ---- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = TrainingSettingsForm()
        self.form.settingChanged.connect(self._training_changed)
        self.form.problem.connect(self._problem)
        self.editors = self.form.editors
        self.tensorboard_box = self.form.tensorboard_box
        self.cluster_button = self.form.cluster_button
        # clicked(bool) would arrive as the folder: the dialog must be asked for
        self.cluster_button.clicked.connect(lambda: self.write_cluster_script())

        self.buttons = RunButtons()
        b = self.buttons
        self.train_button, self.pause_button = b.train_button, b.pause_button
        self.resume_button, self.stop_button = b.resume_button, b.stop_button
        self.train_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = StatusLine("Ready. Press Train.")
        self.banner = QLabel(wordWrap=True)
        self.banner.setStyleSheet("color: #e5484d;")
        self.banner.hide()

        self.curves = TrainingCurves()
        self.runs = RunHistory(self.curves)
        self.runs.openCheckpoint.connect(self.openCheckpoint)
        self.history_table = self.runs.table
        self.overlay_box = self.runs.overlay_box
        # the status sits in the free room right of the Curves/Runs/Sweep tabs: a line of
        # height more for the curves (at 1280x720 they had ~60 px)
        self.tabs = TabsWithStatus(self.status)
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.runs, "Runs")
        from app.panels.sweep import SweepPanel  # it drives this panel: imported late

        self.sweep = SweepPanel(self)
        self.sweep.openCheckpoint.connect(self.openCheckpoint)
        sweep_scroll = QScrollArea()  # its table, controls and plot need more height than
        sweep_scroll.setWidgetResizable(True)  # a short panel has: scroll, not squeeze the canvas
        sweep_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        sweep_scroll.setWidget(self.sweep)
        self.tabs.addTab(sweep_scroll, "Sweep")

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        controls = QHBoxLayout()  # one row: at 1280x720 the curves need the height
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.buttons)
        controls.addWidget(self.progress, 1)
        rl.addLayout(controls)
        rl.addWidget(self.banner)
        rl.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.form)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._set_state("idle")

    def _connect_session(self) -> None:
        s = self.session
        s.downloading.connect(self._on_downloading)
        s.started.connect(self._on_started)
        s.batches.connect(self._on_batches)
        s.epochEnded.connect(self._on_epoch)
        s.layerStats.connect(self.liveStats)
        s.paused.connect(self._on_paused)
        s.resumed.connect(self._on_resumed)
        s.finished.connect(self._on_finished)
        s.failed.connect(self._on_failed)
        s.runEnded.connect(self._on_run_ended)

    # ---- document ------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Follow another document: a run of the previous one is stopped, and nothing of it
        stays (progress, status, curves, runs, sweep trials, the trained model)."""
        self.sweep.running = False  # no next trial of the old network
        if self.session.running:
            self.session.shutdown()
        self.session.forget()
        self.document = document
        self.form.set_document(document)
        self.sweep.reset()
        self.runs.clear()
        self.curves.clear()
        self.banner.hide()
        self._info, self._last_epoch, self._extra = None, None, {}
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no run yet")
        self.status.setText("Ready. Press Train.")
        self._set_state("idle")

    def _training_changed(self, key: str) -> None:
        """A setting changed (typed in the form, undone, redone) and the form shows it: during
        a run, a live one reaches the run from its next batch, so the form never shows a value
        the run is not using."""
        if not (self.session.running and key in LIVE_SETTINGS):
            return
        value = self.document.project.training[key]
        try:
            self.session.update_settings(**{key: value})
        except LayerForgeError as exc:
            self._problem(key, str(exc))
            return
        run = self.session.run
        self._note_change(key, value)
        schedule = run.settings.get("schedule", "none") if run else "none"
        if key == "learning_rate" and schedule != "none":
            ratio = value / run.settings["learning_rate"]
            self.status.setText(f"learning rate = {value}: the {schedule.replace('_', '-')} "
                                f"schedule is scaled by {ratio:.3g} to it from the next batch "
                                f"on (the rate now becomes {ratio:.3g} × its current value)")
        else:
            self.status.setText(f"{key.replace('_', ' ')} = {value} from the next batch on")

    def _note_change(self, key: str, value: Any) -> None:
        """Keep a live change for the run history: changes at one point of the run (typed,
        undone, typed again while paused) count as their last, and one back to the value
        before it is no change."""
        changes = self._changes.setdefault(key, [])
        if changes and changes[-1][0] == self._position:
            changes.pop()
        before = changes[-1][1] if changes else self._started_with.get(key)
        if value != before:
            changes.append((self._position, value))
        if not changes:
            del self._changes[key]

    def _problem(self, key: str, message: str | None) -> None:
        if message:
            self.banner.setText(message)
            self.banner.show()
        else:
            self.banner.hide()

    # ---- controls ------------------------------------------------------------------------
    def start(self, project: Project | None = None, extra: dict[str, Any] | None = None,
              ) -> bool:
        """Train the document's project (or ``project``, a variant of it: a sweep's trial,
        whose changed values ``extra`` are shown in the run history); refuses (with the
        reason) an invalid network."""
        if self.session.running:
            return False
        project = project or self.document.project
        analysis = self.document.analysis if project is self.document.project \
            else analyze(project.graph)
        if not analysis.is_valid:
            self._show_failure(f"The network has {len(analysis.errors)} error(s); fix them "
                               f"first (they are marked red on the canvas):\n"
                               + analysis.summary())
            return False
        self.banner.hide()
        out = new_run_dir(self.document.title)
        self.curves.clear()
        self.runs.refresh_overlays()
        self._last_epoch = None
        self._extra = dict(extra or {})
        try:
            dataset = dict(project.dataset)
            self.session.start(project, out_dir=out,
                               # on the training thread: the task's views of the run (a
                               # forecast, text samples, the test-set report), so the GUI
                               # thread never runs torch
                               epoch_report=lambda m, b: get_task(b.task).epoch_report(
                                   m, b, dataset),
                               final_report=lambda m, b: get_task(b.task).final_report(
                                   m, b, dataset),
                               tensorboard_dir=out / "tensorboard"
                               if self.tensorboard_box.isChecked() else None)
        except LayerForgeError as exc:
            self._show_failure(str(exc))
            return False
        self._started_at = time.perf_counter()
        self._paused_at, self._paused_for, self._position = None, 0.0, (0, 0)
        self._started_with = dict(project.training)
        self._changes = {}
        self.status.setText("Loading data and compiling the network…")
        self._set_state("running")
        return True

    def pause(self) -> None:
        self.session.pause()
        self.status.setText("Pausing after this batch…")

    def resume(self) -> None:
        self.session.resume()

    def stop(self) -> None:
        self.session.stop()
        self.status.setText("Stopping after this batch…")

    def _set_state(self, state: str) -> None:
        """idle | running | paused: which buttons and which settings can be used."""
        self.state = state
        self.buttons.set_state(state)
        self.form.set_state(state)
        if state == "paused":
            self.status.setText("Paused. Safe settings (learning rate, clipping, "
                                "augmentation…) can be changed now; Resume continues with them.")

    # ---- events --------------------------------------------------------------------------
    def write_cluster_script(self, folder: str | None = None) -> Path | None:
        """Write the project and launch.sh (torchrun) into a folder the user picks."""
        from PySide6.QtWidgets import QFileDialog

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Folder for the cluster job")
        if not folder:
            return None
        try:
            script, project_file = write_cluster_job(self.document.project,
                                                     self.document.title, folder)
        except (OSError, LayerForgeError) as exc:
            self._show_failure(f"could not write the cluster script into {folder}: {exc}")
            return None
        self.status.setText(f"Wrote {script} and {project_file.name}: run ./launch.sh there "
                            f"(set NNODES, NODE_RANK, MASTER_ADDR on a cluster)")
        return script

    def _on_downloading(self, progress) -> None:
        """A download before the first epoch (the dataset or pretrained weights, once): how
        far it is (the bar says what); Stop ends it."""
        self.progress.setUpdatesEnabled(False)
        show_download(self.progress, progress)
        self.progress.setFormat(progress.describe())
        self.progress.setUpdatesEnabled(True)
        if self.state == "running":
            self.status.setText("Downloading (once: later runs read it from disk)…")

    def _on_paused(self, event: tr.Paused) -> None:
        self._paused_at = time.perf_counter()
        self._position = (event.epoch, event.batch)
        self._show_position("paused")
        self._set_state("paused")

    def _on_resumed(self, event: tr.Resumed) -> None:
        if self._paused_at is not None:
            self._paused_for += time.perf_counter() - self._paused_at
            self._paused_at = None
        self._set_state("running")
        if event.changed:
            self.status.setText("Resumed with " + ", ".join(
                f"{k.replace('_', ' ')} = {v}" for k, v in event.changed.items()))
        else:
            self.status.setText("Resumed.")

    def _show_position(self, what: str) -> None:
        """The progress bar's text when the run is not moving: where it is, no speed/ETA."""
        info = self._info
        if info is None:
            self.progress.setFormat(what)
            return
        epoch, batch = self._position
        epochs = self.session.run.settings["epochs"] if self.session.run else info.epochs
        self.progress.setFormat(f"epoch {epoch + 1}/{epochs} · batch {batch}/"
                                f"{info.batches_per_epoch} done · {what}")

    def _on_started(self, event: tr.Started) -> None:
        self._info = event
        total = (event.epochs - event.start_epoch) * event.batches_per_epoch
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.progress.setFormat(f"epoch {event.start_epoch + 1}/{event.epochs} · starting…")
        self.curves.set_metric_name(event.metric)
        self.curves.plan_run(event.epochs * event.batches_per_epoch, event.epochs)
        self.status.setText(f"Training on {event.device}: {event.parameters:,} parameters, "
                            f"{event.train_samples:,} samples")

    def _on_batches(self, events: list[tr.BatchEnd]) -> None:
        self.curves.add_batches([e.step for e in events], [e.loss for e in events],
                                [e.lr for e in events])
        last = events[-1]
        info = self._info
        if info is None:
            return
        done = (last.epoch - info.start_epoch) * info.batches_per_epoch + last.batch + 1
        epochs = self.session.run.settings["epochs"] if self.session.run else info.epochs
        total = (epochs - info.start_epoch) * info.batches_per_epoch
        self.curves.plan_run(epochs * info.batches_per_epoch, epochs)  # epochs may have changed
        self._position = (last.epoch, last.batch + 1)
        elapsed = time.perf_counter() - self._started_at - self._paused_for
        eta = elapsed / done * (total - done) if done else math.inf
        rate = sum(e.samples_per_second for e in events) / len(events)
        # QProgressBar.setValue repaints at once (through every parent): one update instead
        self.progress.setUpdatesEnabled(False)
        if self.progress.maximum() != max(total, 1):
            self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"epoch {last.epoch + 1}/{epochs} · batch {last.batch + 1}/"
                                f"{last.batches} · {rate:,.0f} samples/s · ETA {format_eta(eta)}")
        self.progress.setUpdatesEnabled(True)
        if self.state == "running":
            run = self.session.run
            schedule = run.settings.get("schedule", "none") if run else "none"
            scheduled = "" if schedule == "none" else \
                f" ({schedule.replace('_', '-')} schedule of {run.settings['learning_rate']:.3g})"
            self.status.setText(f"loss {last.loss:.4f} · lr {last.lr:.3g}{scheduled}")

    def _on_epoch(self, event: tr.EpochEnd) -> None:
        self._last_epoch = event
        self.curves.add_epoch(event.epoch, event.train_loss, event.val_loss, event.train_metric,
                              event.val_metric, event.metric)
        if event.report is not None:
            self.epochReport.emit(event.report)

    def _on_finished(self, event: tr.Finished) -> None:
        parts = [f"{k} {format_metric(k, v)}" for k, v in event.test.items()]
        how = "stopped" if event.stopped_by_user else "stopped early" if event.stopped_early \
            else "finished"
        result = f"test {', '.join(parts)}" if parts else "no test data"
        info = self._info
        epochs = self.session.run.settings["epochs"] if self.session.run else \
            (info.epochs if info else event.epochs_run)
        complete = (info.start_epoch if info else 0) + event.epochs_run
        self.progress.setFormat(f"{how} · {complete}/{epochs} epochs complete")
        self.status.setText(f"Training {how} after {event.epochs_run} epoch(s): {result}. "
                            f"Best epoch {event.best_epoch + 1}.")
        self._record(result, event.checkpoint)
        self.runFinished.emit(event)

    def _on_failed(self, event: tr.Failed) -> None:
        text = event.message
        if event.node_name:
            text = f"Layer '{event.node_name}': {text}"
            self.failedAt.emit(event.node_name)
        if event.checkpoint:
            text += f"\nThe last good checkpoint is kept: {event.checkpoint}"
        self._show_failure(text)
        self._show_position("failed")
        self._record("failed: " + event.message.splitlines()[0][:80], event.checkpoint)

    def _show_failure(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()
        self.status.setText("Training did not complete.")

    def _on_run_ended(self) -> None:
        self._set_state("idle")

    # ---- run history ---------------------------------------------------------------------
    def _record(self, result: str, checkpoint: str | None) -> None:
        run = self.session.run
        settings = dict(run.settings) if run else dict(self.document.project.training)
        settings["dataset"] = self.document.project.dataset.get("name")
        for key, changes in self._changes.items():  # what the run really trained with
            steps = [f"{self._started_with.get(key)}"] + [f"{v} (epoch {at[0] + 1})"
                                                          for at, v in changes]
            settings[key] = " → ".join(steps)
        settings.update(self._extra)
        self.runs.record(settings, result, checkpoint)

    @property
    def history(self) -> list[RunRecord]:
        """The runs of this session, oldest first."""
        return self.runs.records
