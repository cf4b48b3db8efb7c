"""The Test tab's controls: which source and model to test, Start/Reconnect, how frames are
preprocessed, and the message line. What was chosen is kept here and built from here."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QPushButton, QWidget)

from app.panels.frame_views import DrawCanvas
from backend.live.capture import (CaptureError, FrameSource, ImageSource, PushSource,
                                  SyntheticSource, VideoSource)
from backend.live.infer import PreprocessOptions, Predictor
from graph.errors import LayerForgeError

NO_CAMERA = ("No camera found. Use a video file, an image or folder, the drawing canvas or the "
             "demo source instead.")
ROI_TIP = "Crop the frames to a box you move and resize on the picture"
ROI_DRAW_TIP = ("The drawing canvas is the model's whole input: the region box applies to "
                "camera, video and image frames")


class LiveControls(QWidget):
    """The column left of the picture; the panel reacts to its signals and buttons."""

    sourcePicked = Signal(str, object)  # (kind, value) picked in the list or a file dialog
    modelPicked = Signal(str)           # a checkpoint or TorchScript file picked in a dialog
    optionsChanged = Signal()           # a preprocessing toggle or the crop mode changed
    camerasRequested = Signal()         # "↻": look for cameras again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_path: str | None = None
        self.source_path: str | None = None
        self.source_kind: str | None = None  # None: whatever the source list shows
        self.source_value: Any = None
        self._source_label: tuple[str, str] | None = None  # ("video", "Video: clip.avi")
        self.push_source: PushSource | None = None
        self._build()

    def _build(self) -> None:
        self.setMaximumWidth(270)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.source_combo = QComboBox()
        self.source_combo.activated.connect(self._source_picked)
        refresh = QPushButton("↻")
        refresh.setToolTip("Look for cameras again")
        refresh.setMaximumWidth(28)
        refresh.clicked.connect(lambda: self.camerasRequested.emit())
        row = QHBoxLayout()
        row.addWidget(self.source_combo, 1)
        row.addWidget(refresh)
        form.addRow("Source", row)
        self.model_combo = QComboBox()
        self.model_combo.addItem("Network being trained (live weights)", "training")
        self.model_combo.addItem("Checkpoint or TorchScript file…", "file")
        self.model_combo.activated.connect(self._model_picked)
        form.addRow("Model", self.model_combo)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.reconnect_button = QPushButton("Reconnect")
        self.reconnect_button.setEnabled(False)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.reconnect_button)
        form.addRow(buttons)
        self.mirror_box = QCheckBox("Mirror")
        self.invert_box = QCheckBox("Invert (dark ink)")
        self.threshold_box = QCheckBox("Threshold")
        self.roi_box = QCheckBox("Region box")
        self.roi_box.setToolTip(ROI_TIP)
        self.explain_box = QCheckBox("Grad-CAM")
        self.explain_box.setToolTip("Colour where the network looked to choose its class "
                                    "(CNN classifiers)")
        self.crop_combo = QComboBox()
        self.crop_combo.addItem("Centre crop", "center")
        self.crop_combo.addItem("Resize whole", "resize")
        toggles = QGridLayout()
        for i, box in enumerate((self.mirror_box, self.invert_box, self.threshold_box,
                                 self.roi_box, self.explain_box)):
            toggles.addWidget(box, i // 2, i % 2)
            box.toggled.connect(lambda _: self.optionsChanged.emit())
        toggles.addWidget(self.crop_combo, 2, 1)
        self.crop_combo.currentIndexChanged.connect(lambda _: self.optionsChanged.emit())
        form.addRow(toggles)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.message)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e5484d;" if error else "")

    def preprocess_options(self, roi: tuple[float, float, float, float] | None
                           ) -> PreprocessOptions:
        """The toggles as preprocessing options; ``roi`` is the region box (used when on,
        never for the drawing canvas: the box is drawn on frames, and the paper is the input)."""
        use_roi = self.roi_box.isChecked() and self.current_kind() != "draw"
        return PreprocessOptions(
            roi=roi if use_roi else None,
            mirror=self.mirror_box.isChecked(), invert=self.invert_box.isChecked(),
            threshold=self.threshold_box.isChecked(), crop=self.crop_combo.currentData())

    # -- the source --
    def fill_sources(self, cameras: list[int] | None, running: bool) -> None:
        """List ``cameras`` (None: not looked for yet) and the other sources, keeping the
        current choice; say so when there is no camera and one was chosen."""
        combo = self.source_combo
        current = combo.currentData()
        combo.clear()
        if cameras:
            for index in cameras:
                combo.addItem(f"Camera {index}", f"camera:{index}")
        elif cameras is not None:
            combo.addItem("No camera found", "none")
        else:
            combo.addItem("Camera 0", "camera:0")
        combo.addItem("Video file…", "video")
        combo.addItem("Image file…", "image")
        combo.addItem("Image folder…", "folder")
        combo.addItem("Draw with the mouse", "draw")
        combo.addItem("Demo: synthetic digits", "synthetic")
        index = combo.findData(current)
        combo.setCurrentIndex(max(index, 0))
        if index >= 0 and self._source_label and current == self._source_label[0]:
            combo.setItemText(index, self._source_label[1])
        if cameras == [] and not running and str(current).startswith(("camera", "none")):
            self.show_message(NO_CAMERA)

    def _source_picked(self, index: int) -> None:
        kind, _, camera = str(self.source_combo.itemData(index)).partition(":")
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Video file", "",
                                                  "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;"
                                                  "All files (*)")
            if path:
                self.sourcePicked.emit("video", path)
        elif kind == "image":
            path, _ = QFileDialog.getOpenFileName(self, "Image", "", "Images (*.png *.jpg "
                                                  "*.jpeg *.bmp *.webp);;All files (*)")
            if path:
                self.sourcePicked.emit("image", path)
        elif kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Folder of images")
            if path:
                self.sourcePicked.emit("folder", path)
        elif kind == "none":
            self.show_message(NO_CAMERA)
        else:
            self.sourcePicked.emit(kind, int(camera) if kind == "camera" else None)

    def current_kind(self) -> str:
        """The chosen source's kind: "camera", "video", "image", "folder", "draw", ..."""
        if self.source_kind is not None:
            return self.source_kind
        return str(self.source_combo.currentData() or "synthetic").partition(":")[0]

    def select_source(self, kind: str, value: Any = None) -> None:
        """Remember and show the source (see :meth:`TestPanel.set_source`); the message line
        says what was chosen (a "No camera found" from before does not stay)."""
        self.source_kind, self.source_value = kind, value
        index = self.source_combo.findData(f"camera:{value}" if kind == "camera" else kind)
        if index >= 0:
            self.source_combo.setCurrentIndex(index)
        if kind in ("video", "image", "folder"):
            self.source_path = str(value)
            self._source_label = (kind, f"{kind.title()}: {Path(value).name}")
            self.source_combo.setItemText(self.source_combo.currentIndex(),
                                          self._source_label[1])
            self.show_message(f"{self._source_label[1]}. Press Start to test the model on it.")
        elif kind == "draw":
            self.show_message("Draw on the paper with the mouse; press Start.")
        elif kind == "synthetic":
            self.show_message("Demo digits. Press Start.")
        self.roi_box.setEnabled(kind != "draw")
        self.roi_box.setToolTip(ROI_DRAW_TIP if kind == "draw" else ROI_TIP)

    def source_factory(self, canvas: DrawCanvas) -> Callable[[], FrameSource]:
        """What builds the chosen source (on the worker thread); ``canvas`` feeds "draw"."""
        kind, value = self.source_kind, self.source_value
        if kind is None:
            kind, _, camera = str(self.source_combo.currentData() or "synthetic").partition(":")
            value = int(camera) if kind == "camera" else None
        if kind == "camera":
            from backend.live.capture import CameraSource
            return lambda: CameraSource(int(value))
        if kind == "video":
            return lambda: VideoSource(value, realtime=True)
        if kind in ("image", "folder"):
            return lambda: ImageSource(value, repeat=True, interval=0.5 if kind == "folder"
                                       else 0.05)
        if kind == "draw":
            self.push_source = PushSource()
            canvas.source = self.push_source
            self.push_source.push(canvas.array())
            return lambda: self.push_source
        if kind == "synthetic":
            return lambda: SyntheticSource(640, 480, fps=30)
        raise CaptureError(NO_CAMERA if kind == "none" else f"choose a source ({kind})")

    # -- the model --
    def _model_picked(self, index: int) -> None:
        if self.model_combo.itemData(index) == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, "Model", "", "Models (*.pt *.pth *.ckpt *.pt2 *.ts *.torchscript);;"
                "All files (*)")
            if path:
                self.modelPicked.emit(path)
            else:
                self.model_combo.setCurrentIndex(0)

    def select_model(self, path: str | None) -> None:
        """Remember and show the model file (None: the network being trained)."""
        self.model_path = str(path) if path else None
        if path:
            i = self.model_combo.findData("path")
            if i < 0:
                self.model_combo.insertItem(1, "", "path")
                i = 1
            self.model_combo.setItemText(i, Path(path).name)
            self.model_combo.setCurrentIndex(i)
        else:
            self.model_combo.setCurrentIndex(0)

    def predictor_factory(self, options: PreprocessOptions, run_provider: Callable[[], Any] | None
                          ) -> tuple[Callable[[], Predictor], Callable[[], dict | None] | None]:
        """What builds the chosen model's predictor (on the worker thread), and where fresh
        weights come from (the training run; None for a file)."""
        from backend.live.infer import load_predictor, predictor_from_project

        if self.model_path:
            path = self.model_path
            return (lambda: load_predictor(path, options)), None
        run = run_provider() if run_provider else None
        if run is None or run.model is None or run.bundle is None:
            raise LayerForgeError("no network is training: train it in the Training tab (its "
                                  "current weights are tested live), or choose a checkpoint "
                                  "or TorchScript file as the model")
        project, bundle = run.project, run.bundle

        def build() -> Predictor:
            state = run.snapshot()
            return predictor_from_project(project, state, bundle.normalization,
                                          bundle.class_names, bundle.task,
                                          "the network being trained", options)
        return build, run.snapshot
