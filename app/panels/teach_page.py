"""Teach the camera: record classes of pictures from the live stream or a video, weed out bad
ones, and make the recorded folder the network's dataset."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListView, QListWidget, QListWidgetItem, QPushButton, QWidget)

from app.panels.live_worker import LiveWorker, StreamEvent
from app.paths import app_data_dir
from backend.data.recorder import SampleStore
from backend.live.capture import VideoSource
from backend.live.infer import PreprocessOptions
from graph.errors import LayerForgeError

THUMBNAILS = 120


def default_capture_folder() -> Path:
    """Where recorded classes go unless the user picks a folder."""
    return app_data_dir() / "captured"


class TeachPage(QWidget):
    """The classes in a :class:`SampleStore` folder, their thumbnails, and the buttons that
    fill it (hold to record, from a video) and train on it."""

    trainRequested = Signal()  # "Train on this": the dataset was set, go to the Training tab

    def __init__(self, show_message: Callable[..., None],
                 options: Callable[[], PreprocessOptions],
                 worker: Callable[[], LiveWorker | None], parent: QWidget | None = None) -> None:
        """``show_message(text, error=False)`` reports to the user; ``options`` are the live
        preprocessing settings (the region box); ``worker`` is the running stream, if any."""
        super().__init__(parent)
        self.show_message, self._options, self._worker = show_message, options, worker
        self.document = None
        self.store = SampleStore(default_capture_folder())
        self._build()

    def _build(self) -> None:
        layout = QGridLayout(self)
        self.class_list = QListWidget()
        self.class_list.setMaximumWidth(160)
        self.class_list.setMinimumWidth(120)
        self.class_list.currentItemChanged.connect(lambda *_: self.refresh_thumbnails())
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText("new class")
        self.class_name.returnPressed.connect(self.add_class)
        add = QPushButton("Add")
        add.clicked.connect(self.add_class)
        self.record_button = QPushButton("Hold to record")
        self.record_button.setToolTip("Hold down to save camera frames (the region box) into "
                                      "the selected class")
        self.record_button.pressed.connect(lambda: self.set_recording(True))
        self.record_button.released.connect(lambda: self.set_recording(False))
        from_video = QPushButton("From video…")
        from_video.clicked.connect(self.record_video_dialog)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(40, 40))
        self.thumbs.setGridSize(QSize(46, 46))
        self.thumbs.setUniformItemSizes(True)
        self.thumbs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        delete = QPushButton("Delete selected")
        delete.clicked.connect(self.delete_selected)
        self.train_button = QPushButton("Train on this")
        self.train_button.setToolTip("Use the recorded folder as the network's dataset and go "
                                     "to the Training tab")
        self.train_button.clicked.connect(self.train_on_captures)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._choose_folder)
        name_row = QHBoxLayout()
        name_row.addWidget(self.class_name)
        name_row.addWidget(add)
        layout.addLayout(name_row, 0, 0, 1, 2)
        layout.addWidget(self.class_list, 1, 0, 3, 1)
        rec_row = QHBoxLayout()
        rec_row.addWidget(self.record_button)
        rec_row.addWidget(from_video)
        layout.addLayout(rec_row, 1, 1)
        layout.addWidget(self.thumbs, 2, 1)
        act_row = QHBoxLayout()
        act_row.addWidget(delete)
        act_row.addWidget(self.train_button)
        layout.addLayout(act_row, 3, 1)
        f_row = QHBoxLayout()
        f_row.addWidget(self.folder_label, 1)
        f_row.addWidget(folder)
        layout.addLayout(f_row, 4, 0, 1, 2)
        layout.setRowStretch(2, 1)

    def set_capture_folder(self, path: str | Path) -> None:
        """Record into (and show the classes of) the folder ``path``."""
        self.store = SampleStore(path)
        self.refresh_classes()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for recorded classes",
                                                str(self.store.root))
        if path:
            self.set_capture_folder(path)

    def add_class(self, name: str | None = None) -> None:
        name = (name if isinstance(name, str) else self.class_name.text()).strip()
        if not name:
            return
        try:
            self.store.add_class(name)
        except LayerForgeError as exc:
            self.show_message(str(exc), error=True)
            return
        self.class_name.clear()
        self.refresh_classes(select=name)

    def current_class(self) -> str | None:
        item = self.class_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def refresh_classes(self, select: str | None = None) -> None:
        select = select or self.current_class()
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for name, count in self.store.counts().items():
            item = QListWidgetItem(f"{name} ({count})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.class_list.addItem(item)
            if name == select:
                self.class_list.setCurrentItem(item)
        if self.class_list.currentItem() is None and self.class_list.count():
            self.class_list.setCurrentRow(0)
        self.class_list.blockSignals(False)
        self.folder_label.setText(f"Saved in {self.store.root}")
        self.refresh_thumbnails()

    def refresh_thumbnails(self) -> None:
        self.thumbs.clear()
        name = self.current_class()
        if name is None:
            return
        for path in self.store.samples(name)[-THUMBNAILS:]:
            self._add_thumbnail(path)

    def _add_thumbnail(self, path: Path) -> None:
        item = QListWidgetItem(QIcon(QPixmap(str(path))), "")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(path.name)
        self.thumbs.addItem(item)

    def set_recording(self, on: bool) -> None:
        """Start/stop saving the stream's frames into the selected class (hold the button)."""
        name = self.current_class()
        worker = self._worker()
        if on and name is None:
            self.show_message("Add a class first (type its name and press Add).", error=True)
            return
        if on and worker is None:
            self.show_message("Start the camera first, then hold the button.", error=True)
            return
        if worker is not None:
            worker.set_recording(self.store if on else None, name if on else None)

    def recorded(self, event: StreamEvent) -> None:
        """The worker saved a frame: count it and show its thumbnail."""
        for i in range(self.class_list.count()):
            item = self.class_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == event.class_name:
                count = len(self.store.samples(event.class_name))
                item.setText(f"{event.class_name} ({count})")
        if event.class_name == self.current_class() and event.path is not None:
            self._add_thumbnail(event.path)
            self.thumbs.scrollToBottom()

    def record_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video to record from", "",
                                              "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;"
                                              "All files (*)")
        if path:
            self.record_video(path)

    def record_video(self, path: str | Path, every: int = 1) -> int:
        """Save every ``every``-th frame of a video (its region box) into the selected class."""
        from backend.live.infer import Preprocessor

        name = self.current_class()
        if name is None:
            self.show_message("Add a class first (type its name and press Add).", error=True)
            return 0
        count = 0
        try:
            options = self._options()
            with VideoSource(path) as source:
                # the crop needs only the ROI settings, not a model
                from backend.live.infer import ModelInfo
                crop = Preprocessor(ModelInfo("image", (3, 16, 16), {"kind": "image"}, []),
                                    replace(options, crop="resize")).crop
                while (frame := source.read()) is not None:
                    if frame.index % every == 0:
                        self.store.add(name, np.ascontiguousarray(crop(frame.image)))
                        count += 1
        except LayerForgeError as exc:
            self.show_message(str(exc), error=True)
        self.refresh_classes(select=name)
        self.show_message(f"Recorded {count} frames from {Path(path).name} into '{name}'.")
        return count

    def delete_selected(self) -> None:
        for item in self.thumbs.selectedItems():
            self.store.delete(item.data(Qt.ItemDataRole.UserRole))
        self.refresh_classes()

    def train_on_captures(self) -> bool:
        """Make the recorded folder the document's dataset (undoable) and ask for training."""
        from graph.commands import SetDataset

        counts = self.store.counts()
        if len([c for c in counts.values() if c]) < 2:
            self.show_message("Record at least two classes first.", error=True)
            return False
        if self.document is None:
            return False
        if not self.document.push(SetDataset(self.document.project, self.store.dataset_spec())):
            return False
        self.show_message(f"The network now trains on {self.store.root} "
                          f"({sum(counts.values())} images, {len(counts)} classes).")
        self.trainRequested.emit()
        return True
