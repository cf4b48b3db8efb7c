"""File > Import PyTorch Model…: pick a Python file + class (traced with torch.fx) or an ONNX
file. The import then runs on a worker thread with a progress dialog
(:mod:`app.import_progress`), and the result opens as a new document with a report
(:mod:`app.import_report`)."""
from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QWidget)


class ImportDialog(QDialog):
    """Asks for the model file, the class to build and one sample's input shape."""

    def __init__(self, start_dir: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch Model")
        self.start_dir = start_dir
        self.path = QLineEdit()
        self.path.setPlaceholderText("model.py or model.onnx")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText("e.g. Net (a class or a function returning a module)")
        self.shape = QLineEdit()
        self.shape.setPlaceholderText("e.g. 3,224,224 (blank: from the model if it says)")
        self.checkpoint = QLineEdit()
        self.checkpoint.setPlaceholderText("optional: a .pt file for the graph with its weights")
        help_text = QLabel("Layers LayerForge knows become editable layers; other operations "
                           "become Opaque nodes that still run and show their shapes.")
        help_text.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Model file:", row)
        form.addRow("Class:", self.class_name)
        form.addRow("Input shape:", self.shape)
        form.addRow("Save weights to:", self.checkpoint)
        form.addRow(help_text)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                        QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.path.textChanged.connect(self._update)
        self.class_name.textChanged.connect(self._update)
        self.resize(560, self.sizeHint().height())
        self._update()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", self.start_dir,
                                              "PyTorch or ONNX model (*.py *.onnx)")
        if path:
            self.path.setText(path)

    def _is_onnx(self) -> bool:
        return self.path.text().strip().lower().endswith(".onnx")

    def _update(self) -> None:
        onnx = self._is_onnx()
        self.class_name.setEnabled(not onnx)
        self.shape.setEnabled(not onnx)
        ok = bool(self.path.text().strip()) and (onnx or bool(self.class_name.text().strip()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def source(self) -> str:
        """What ``backend.imports.import_model`` takes: model.py:Class or model.onnx."""
        path = self.path.text().strip()
        return path if self._is_onnx() else f"{path}:{self.class_name.text().strip()}"

    def input_shape(self) -> str:
        return "" if self._is_onnx() else self.shape.text().strip()

    def checkpoint_path(self) -> str:
        """Where to save the imported graph + weights as a checkpoint ("" for nowhere)."""
        path = self.checkpoint.text().strip()
        return path if not path or path.endswith((".pt", ".pth")) else path + ".pt"
