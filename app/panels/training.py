"""The Training tab: settings form, Train / Pause / Resume / Stop, progress with ETA, live
curves, run history, and the evaluation when a run ends."""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QProgressBar, QPushButton, QScrollArea, QSplitter,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

from app.document import Document
from app.editor.inspector import make_editor
from app.panels.curves import CurveRun, TrainingCurves
from app.status_line import StatusLine
from app.workers import TrainingSession, show_download
from backend.tasks import format_metric, get_task
from backend.training import train as tr
from graph.commands import SetTraining
from graph.errors import LayerForgeError
from graph.project import Project
from graph.settings import LIVE_SETTINGS, TRAINING_PARAMS
from graph.validate import analyze

# Form sections: (title, keys)
SECTIONS = (
    ("Optimisation", ("optimizer", "learning_rate", "momentum", "weight_decay", "loss",
                      "schedule", "step_size", "gamma", "grad_clip")),
    ("Run", ("epochs", "batch_size", "device", "seed", "mixed_precision", "early_stopping")),
    ("Augmentation (images)", ("flip", "shift", "rotate", "noise")),
)


def runs_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerforge") / "runs"


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclasses.dataclass
class RunRecord:
    """One finished (or stopped/failed) run, kept for comparison."""

    label: str
    settings: dict[str, Any]
    curves: CurveRun
    checkpoint: str | None
    result: str


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
        self.history: list[RunRecord] = []
        self._extra: dict[str, Any] = {}  # a sweep trial's changed values, for the history
        self.editors: dict[str, Any] = {}
        self._started_at = 0.0
        self._info: tr.Started | None = None
        self._last_epoch: tr.EpochEnd | None = None
        self._build()
        self._connect_session()
        self.set_document(document)

    # ---- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        form_box = QWidget()
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(4, 4, 4, 4)
        specs = {p.name: p for p in TRAINING_PARAMS}
        for title, keys in SECTIONS:
            group = QGroupBox(title)
            form = QFormLayout(group)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for key in keys:
                spec = specs[key]
                if key == "device":
                    spec = dataclasses.replace(spec, choices=self._device_choices())
                editor = make_editor(spec, self._edited, self._problem)
                self.editors[key] = editor
                form.addRow(key.replace("_", " "), editor.widget)
            form_layout.addWidget(group)
        self.tensorboard_box = QCheckBox("Also log to TensorBoard")
        if importlib.util.find_spec("tensorboard") is None:
            self.tensorboard_box.setEnabled(False)
            self.tensorboard_box.setToolTip("Install the tensorboard package to use this: "
                                            "pip install tensorboard")
        else:
            self.tensorboard_box.setToolTip("Writes the run's curves to <run folder>/"
                                            "tensorboard; open it with: tensorboard --logdir …")
        form_layout.addWidget(self.tensorboard_box)
        self.cluster_button = QPushButton("Write cluster launch script…")
        self.cluster_button.setToolTip("Saves this project and a torchrun script beside it that "
                                       "trains it data-parallel on several GPUs, cores or "
                                       "machines")
        self.cluster_button.clicked.connect(self.write_cluster_script)
        form_layout.addWidget(self.cluster_button)
        form_layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_box)
        scroll.setMinimumWidth(260)

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        self.train_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = StatusLine("Ready. Press Train.")
        self.banner = QLabel(wordWrap=True)
        self.banner.setStyleSheet("color: #e5484d;")
        self.banner.hide()

        self.curves = TrainingCurves()
        self.history_table = QTableWidget(0, 0)
        self.history_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.history_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.history_table.cellDoubleClicked.connect(self._open_run)
        self.overlay_box = QCheckBox("Overlay earlier runs on the curves")
        self.overlay_box.setChecked(True)
        self.overlay_box.toggled.connect(self._refresh_overlays)
        history = QWidget()
        hl = QVBoxLayout(history)
        hl.addWidget(self.overlay_box)
        hl.addWidget(QLabel("Double-click a run to open its checkpoint in the editor. Only "
                            "settings that differ between runs are shown."))
        hl.addWidget(self.history_table)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(history, "Runs")
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
        rl.addLayout(buttons)
        rl.addWidget(self.progress)
        rl.addWidget(self.status)
        rl.addWidget(self.banner)
        rl.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._set_state("idle")

    @staticmethod
    def _device_choices() -> tuple[str, ...]:
        kinds = []
        for device in tr.available_devices():
            kind = device.split(":")[0]
            if kind not in kinds:
                kinds.append(kind)
        return ("auto", *kinds)

    def _connect_session(self) -> None:
        s = self.session
        s.downloading.connect(self._on_downloading)
        s.started.connect(self._on_started)
        s.batches.connect(self._on_batches)
        s.epochEnded.connect(self._on_epoch)
        s.layerStats.connect(self.liveStats)
        s.paused.connect(lambda e: self._set_state("paused"))
        s.resumed.connect(lambda e: self._set_state("running"))
        s.finished.connect(self._on_finished)
        s.failed.connect(self._on_failed)
        s.runEnded.connect(self._on_run_ended)

    # ---- document ------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        if self.session.running:
            self.session.shutdown()
        if getattr(self, "_listening", None) is not None:
            self._listening.trainingChanged.disconnect(self._training_changed)
        self._listening = document
        self.document = document
        document.trainingChanged.connect(self._training_changed)
        self._refresh_form()

    def _refresh_form(self, *_: Any) -> None:
        training = self.document.project.training
        for key, editor in self.editors.items():
            editor.set_value(training[key])

    def _training_changed(self, key: str) -> None:
        """A setting changed (typed in the form, undone, redone): the form shows it and, during
        a run, a live one reaches the run from its next batch, so the form never shows a value
        the run is not using."""
        self._refresh_form()
        if not (self.session.running and key in LIVE_SETTINGS):
            return
        value = self.document.project.training[key]
        try:
            self.session.update_settings(**{key: value})
        except LayerForgeError as exc:
            self._problem(key, str(exc))
            return
        self.status.setText(f"{key.replace('_', ' ')} = {value} from the next batch on")

    def _edited(self, key: str, value: Any) -> None:
        if self.document.project.training.get(key) == value:
            return
        try:
            command = SetTraining(self.document.project, key, value)
        except LayerForgeError as exc:
            self._problem(key, str(exc))
            self._refresh_form()
            return
        self.document.push(command)  # -> _training_changed, which tells a running run

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
        name = "".join(c if c.isalnum() else "-" for c in self.document.title)[:40]
        out = base = runs_dir() / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        for n in range(2, 1000):  # two runs in one second (a sweep) get their own folders
            if not out.exists():
                break
            out = base.with_name(f"{base.name}-{n}")
        self.curves.clear()
        self._refresh_overlays()
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
        self.train_button.setEnabled(state == "idle")
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.stop_button.setEnabled(state in ("running", "paused"))
        for key, editor in self.editors.items():
            editor.widget.setEnabled(state == "idle" or (state == "paused"
                                                         and key in LIVE_SETTINGS))
        if state == "paused":
            self.status.setText("Paused. Safe settings (learning rate, clipping, "
                                "augmentation…) can be changed now; Resume continues with them.")

    # ---- events --------------------------------------------------------------------------
    def write_cluster_script(self, folder: str | None = None) -> Path | None:
        """Write the project and launch.sh (torchrun) into a folder the user picks."""
        from PySide6.QtWidgets import QFileDialog

        from backend.training.distributed import launch_script
        from graph.fileio import atomic_write_bytes
        from graph.project import save_project

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Folder for the cluster job")
        if not folder:
            return None
        name = "".join(c if c.isalnum() else "-" for c in self.document.title)[:40] or "project"
        project_file = Path(folder) / f"{name}.json"
        script = Path(folder) / "launch.sh"
        try:
            save_project(self.document.project, project_file)
            text = launch_script(str(project_file))
            atomic_write_bytes(script, text.encode())
            script.chmod(0o755)
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
        elapsed = time.perf_counter() - self._started_at
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
            self.status.setText(f"loss {last.loss:.4f} · lr {last.lr:.3g}")

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
        settings.update(self._extra)
        label = f"run {len(self.history) + 1}"
        curves = self.curves.current_run()
        curves.label = label
        self.history.append(RunRecord(label, settings, curves, checkpoint, result))
        self._refresh_history()

    def _refresh_history(self) -> None:
        keys = sorted({k for r in self.history for k in r.settings})
        differing = [k for k in keys if len({repr(r.settings.get(k)) for r in self.history}) > 1]
        columns = ["run", *differing, "result", "checkpoint"]
        table = self.history_table
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(self.history))
        for row, record in enumerate(self.history):
            values = [record.label, *[str(record.settings.get(k)) for k in differing],
                      record.result, record.checkpoint or "–"]
            for col, value in enumerate(values):
                table.setItem(row, col, QTableWidgetItem(value))

    def _refresh_overlays(self) -> None:
        self.curves.set_overlays([r.curves for r in self.history]
                                 if self.overlay_box.isChecked() else [])

    def _open_run(self, row: int, column: int) -> None:
        if 0 <= row < len(self.history) and self.history[row].checkpoint:
            self.openCheckpoint.emit(self.history[row].checkpoint)
