"""The Training tab's settings form: one editor per training setting in titled sections, the
TensorBoard switch and the cluster-script button, bound to a document's training settings.

An edit becomes one undoable ``SetTraining``; the form shows the document's values again after
every change (typed, undone, redone) and then says which setting changed (``settingChanged``),
so the panel can hand a live one to a running run.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGroupBox, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from app.document import Document
from app.editor.inspector import make_editor
from backend.training import train as tr
from graph.commands import SetTraining
from graph.errors import LayerForgeError
from graph.settings import LIVE_SETTINGS, TRAINING_PARAMS

# Form sections: (title, keys)
SECTIONS = (
    ("Optimisation", ("optimizer", "learning_rate", "momentum", "weight_decay", "loss",
                      "schedule", "step_size", "gamma", "grad_clip")),
    ("Run", ("epochs", "batch_size", "device", "seed", "mixed_precision", "early_stopping")),
    ("Augmentation (images)", ("flip", "shift", "rotate", "noise")),
)


class TrainingSettingsForm(QScrollArea):
    """The settings editors (``editors``: setting name -> editor), grouped by ``SECTIONS``;
    scrolls when the panel is short."""

    settingChanged = Signal(str)     # a setting of the document changed; the form shows it
    problem = Signal(str, object)    # (setting, message or None): an edit was refused

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.editors: dict[str, Any] = {}
        box = QWidget()
        form_layout = QVBoxLayout(box)
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
                editor = make_editor(spec, self._edited, self.problem.emit)
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
        form_layout.addWidget(self.cluster_button)
        form_layout.addStretch()
        self.setWidgetResizable(True)
        self.setWidget(box)
        self.setMinimumWidth(260)

    @staticmethod
    def _device_choices() -> tuple[str, ...]:
        kinds = []
        for device in tr.available_devices():
            kind = device.split(":")[0]
            if kind not in kinds:
                kinds.append(kind)
        return ("auto", *kinds)

    # ---- the document ----------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Edit ``document``'s training settings (and no longer the previous document's)."""
        if self.document is not None:
            self.document.trainingChanged.disconnect(self._training_changed)
        self.document = document
        document.trainingChanged.connect(self._training_changed)
        self.show_settings()

    def show_settings(self) -> None:
        """Every editor shows the document's value."""
        training = self.document.project.training
        for key, editor in self.editors.items():
            editor.set_value(training[key])

    def _training_changed(self, key: str) -> None:
        """A setting changed (typed in the form, undone, redone): the form shows it, then the
        panel hears of it (a live one reaches a running run from its next batch, so the form
        never shows a value the run is not using)."""
        self.show_settings()
        self.settingChanged.emit(key)

    def _edited(self, key: str, value: Any) -> None:
        if self.document.project.training.get(key) == value:
            return
        try:
            command = SetTraining(self.document.project, key, value)
        except LayerForgeError as exc:
            self.problem.emit(key, str(exc))
            self.show_settings()
            return
        self.document.push(command)  # -> _training_changed, which tells the panel

    def set_state(self, state: str) -> None:
        """idle | running | paused: idle edits everything, paused only the live settings
        (they reach the run when it resumes), running nothing."""
        for key, editor in self.editors.items():
            editor.widget.setEnabled(state == "idle" or (state == "paused"
                                                         and key in LIVE_SETTINGS))
