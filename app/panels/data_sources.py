"""The Data tab's source controls: which dataset, its one-line hint and that dataset's options.

The controls never edit a project: they show a spec (``show_spec``) and, when the user finishes
an edit, say the whole new spec (``specEdited``); the panel turns that into one undoable
``SetDataset``.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QSpinBox,
    QToolButton, QVBoxLayout, QWidget,
)

from app.editor.style import muted_color
from backend.data import DATASET_NAMES
from backend.data.images import DEFAULT_ROOT
from backend.data.timeseries import DEFAULT_CSV, DEFAULT_HORIZON

DATASET_TITLES: dict[str, str] = {
    "digits": "Handwritten digits (scikit-learn, offline)",
    "mnist": "MNIST (download)",
    "fashion_mnist": "Fashion-MNIST (download)",
    "cifar10": "CIFAR-10 (download)",
    "image_folder": "Image folder…",
    "csv_series": "CSV time series…",
    "text": "Text file…",
}

DATASET_HINTS: dict[str, str] = {
    "digits": "1,797 real 8×8 handwritten digits shipped with scikit-learn; no download.",
    "mnist": "70,000 handwritten digits (28×28), downloaded once (about 12 MB).",
    "fashion_mnist": "70,000 clothing images (28×28) in 10 classes, downloaded once (about "
                     "30 MB).",
    "cifar10": "60,000 small colour photos (32×32) in 10 classes, downloaded once (about "
               "170 MB).",
    "image_folder": "Your own images: a folder with one subfolder per class (cats/, dogs/, …).",
    "csv_series": "Forecast a column of a CSV file from a window of past rows. Input: "
                  "sequence T,F.",
    "text": "Predict the next character of a UTF-8 text. Input: tokens T.",
}

# which option page edits which dataset
_PAGE_OF: dict[str, str] = {
    "digits": "none", "mnist": "torchvision", "fashion_mnist": "torchvision",
    "cifar10": "torchvision", "image_folder": "image_folder", "csv_series": "csv_series",
    "text": "text",
}

TEXT_TARGETS = (("next", "the next character after the window"),
                ("sequence", "the next character at every step"))


class _PathEdit(QWidget):
    """A line edit with a "Browse…" button; ``committed`` when the user finishes an edit."""

    committed = Signal()

    def __init__(self, placeholder: str, choose, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.editingFinished.connect(self.committed)
        self.button = QToolButton(text="…", toolTip="Browse…")
        self.button.clicked.connect(lambda: self._browse(choose))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def _browse(self, choose) -> None:
        path = choose(self.edit.text().strip())
        if path:
            self.edit.setText(path)
            self.committed.emit()

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        if self.edit.text() != text:
            self.edit.setText(text)


class DatasetSourceControls(QWidget):
    """The dataset combo, its hint and one option page per kind of dataset.

    ``current_spec`` returns the project's (normalised) spec, or None while there is no
    document; an edit is said as ``specEdited(spec)`` with the full new spec.
    """

    specEdited = Signal(object)  # a dict: {"name": ..., "options": {...}}

    def __init__(self, current_spec: Callable[[], dict[str, Any] | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current = current_spec
        self._syncing = False
        self.remembered: dict[str, dict[str, Any]] = {}  # options of datasets left behind

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.combo = QComboBox()
        for name in DATASET_NAMES:
            self.combo.addItem(DATASET_TITLES.get(name, name), name)
        self.combo.setToolTip("The dataset this project trains on")
        self.combo.currentIndexChanged.connect(self._on_combo)
        layout.addWidget(self.combo)
        self.hint = QLabel(wordWrap=True)
        self.hint.setStyleSheet(f"color: {muted_color(self.palette()).name()}")
        layout.addWidget(self.hint)

        # one option page per kind of dataset; only the current one is shown (not a
        # QStackedWidget: that would reserve the tallest page's height for every dataset)
        self._pages: dict[str, QWidget] = {
            "none": QWidget(), "torchvision": self._torchvision_page(),
            "image_folder": self._image_folder_page(), "csv_series": self._csv_page(),
            "text": self._text_page()}
        for page in self._pages.values():
            page.setVisible(False)
            layout.addWidget(page)
        self._page = "none"

    # ---- option pages ---------------------------------------------------------------------
    def _show_page(self, key: str) -> None:
        self._page = key
        for name, page in self._pages.items():
            page.setVisible(name == key)

    @property
    def option_page(self) -> str:
        """Which options are shown: "none", "torchvision", "image_folder", "csv_series", "text"."""
        return self._page

    @staticmethod
    def _form(widget: QWidget) -> QFormLayout:
        form = QFormLayout(widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(5)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return form

    def _torchvision_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.root_edit = _PathEdit(DEFAULT_ROOT, self._choose_folder)
        self.root_edit.setToolTip("Folder the dataset is downloaded to (once) and read from")
        self.root_edit.committed.connect(self._commit_options)
        form.addRow("Folder", self.root_edit)
        self.download_check = QCheckBox("Download if missing (needs internet once)")
        self.download_check.toggled.connect(self._commit_options)
        form.addRow(self.download_check)
        return page

    def _image_folder_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.folder_edit = _PathEdit("one subfolder per class", self._choose_folder)
        self.folder_edit.committed.connect(self._commit_options)
        form.addRow("Folder", self.folder_edit)
        return page

    def _csv_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.csv_edit = _PathEdit(f"shipped {DEFAULT_CSV.name}", self._choose_csv)
        self.csv_edit.setToolTip("The CSV file; empty uses the Mauna Loa weekly CO2 record "
                                 "shipped with LayerForge")
        self.csv_edit.committed.connect(self._commit_options)
        form.addRow("File", self.csv_edit)
        self.columns_edit = QLineEdit(placeholderText="all numeric columns")
        self.columns_edit.setToolTip("Feature columns, separated by commas (the Input's F)")
        self.columns_edit.editingFinished.connect(self._commit_options)
        form.addRow("Columns", self.columns_edit)
        self.target_edit = QLineEdit(placeholderText="the first column")
        self.target_edit.setToolTip("Column(s) to forecast, separated by commas")
        self.target_edit.editingFinished.connect(self._commit_options)
        form.addRow("Target", self.target_edit)
        self.horizon_spin = QSpinBox(minimum=1, maximum=100_000, suffix=" rows ahead")
        self.horizon_spin.setKeyboardTracking(False)  # one edit per Enter/arrow, not per digit
        self.horizon_spin.valueChanged.connect(self._commit_options)
        form.addRow("Horizon", self.horizon_spin)
        self.relative_check = QCheckBox("Predict the change from the last value")
        self.relative_check.setToolTip("Recommended for trending series: the network sees and "
                                       "predicts differences from the window's last value")
        self.relative_check.toggled.connect(self._commit_options)
        form.addRow(self.relative_check)
        return page

    def _text_page(self) -> QWidget:
        page = QWidget()
        form = self._form(page)
        self.text_edit = _PathEdit("built-in corpus (Python docs)", self._choose_text)
        self.text_edit.setToolTip("A UTF-8 text file; empty uses text from the Python standard "
                                  "library's documentation")
        self.text_edit.committed.connect(self._commit_options)
        form.addRow("File", self.text_edit)
        self.targets_combo = QComboBox()
        for value, title in TEXT_TARGETS:
            self.targets_combo.addItem(title, value)
        self.targets_combo.setToolTip("next: for a model that ends in the last time step; "
                                      "sequence: for a model that predicts at every step")
        self.targets_combo.currentIndexChanged.connect(self._commit_options)
        form.addRow("Predict", self.targets_combo)
        return page

    # ---- file choosers -------------------------------------------------------------------
    def _choose_folder(self, current: str) -> str:
        return QFileDialog.getExistingDirectory(self, "Choose a folder", current)

    def _choose_csv(self, current: str) -> str:
        start = current or str(DEFAULT_CSV.parent)
        path, _ = QFileDialog.getOpenFileName(self, "Choose a CSV file", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        return path

    def _choose_text(self, current: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a text file", current,
                                              "Text files (*.txt *.md);;All files (*)")
        return path

    # ---- spec <-> widgets -----------------------------------------------------------------
    def show_spec(self, spec: dict[str, Any]) -> None:
        """Show a (normalised) dataset spec in the widgets (after an edit, undo or new file)."""
        name, options = spec["name"], spec["options"]
        self._syncing = True
        try:
            index = self.combo.findData(name)
            self.combo.setCurrentIndex(index)
            self.hint.setText(DATASET_HINTS.get(name, f"Unknown dataset {name!r}."))
            self._show_page(_PAGE_OF.get(name, "none"))
            page = _PAGE_OF.get(name)
            if page == "torchvision":
                self.root_edit.set_text(str(options.get("root") or ""))
                self.download_check.setChecked(options.get("download", True) is not False)
            elif page == "image_folder":
                self.folder_edit.set_text(str(options.get("path") or ""))
            elif page == "csv_series":
                self.csv_edit.set_text(str(options.get("path") or ""))
                self.columns_edit.setText(", ".join(_names(options.get("columns"))))
                self.target_edit.setText(", ".join(_names(options.get("target"))))
                horizon = options.get("horizon")
                self.horizon_spin.setValue(horizon if isinstance(horizon, int)
                                           and not isinstance(horizon, bool)
                                           else DEFAULT_HORIZON)
                self.relative_check.setChecked(options.get("relative", True) is not False)
            elif page == "text":
                self.text_edit.set_text(str(options.get("path") or ""))
                i = self.targets_combo.findData(options.get("targets") or "next")
                self.targets_combo.setCurrentIndex(max(i, 0))
        finally:
            self._syncing = False

    def _on_combo(self, index: int) -> None:
        if self._syncing or index < 0:
            return
        current = self._current()
        if current is None:
            return
        name = self.combo.itemData(index)
        if name == current["name"]:
            return
        self.remembered[current["name"]] = current["options"]
        self.specEdited.emit({"name": name, "options": self.remembered.get(name, {})})

    def _commit_options(self, *_args) -> None:
        """An option editor finished an edit: say the full new spec."""
        if self._syncing:
            return
        spec = self._current()
        if spec is None:
            return
        name, options = spec["name"], dict(spec["options"])
        page = _PAGE_OF.get(name)

        def put(key: str, value: Any, default: Any, same=lambda a, b: a == b) -> None:
            old = options.get(key)
            old = default if old in (None, "") else old
            if same(old, value):
                return  # unchanged in meaning: keep how the file spells it
            if value == default:
                options.pop(key, None)
            else:
                options[key] = value

        def same_names(a: Any, b: Any) -> bool:
            return _names(a) == _names(b)

        if page == "torchvision":
            put("root", self.root_edit.text() or None, None)
            put("download", self.download_check.isChecked(), True)
        elif page == "image_folder":
            put("path", self.folder_edit.text() or None, None)
        elif page == "csv_series":
            put("path", self.csv_edit.text() or None, None)
            columns = _split_names(self.columns_edit.text())
            put("columns", columns or None, None, same_names)
            targets = _split_names(self.target_edit.text())
            put("target", (targets[0] if len(targets) == 1 else targets) or None, None,
                same_names)
            put("horizon", self.horizon_spin.value(), DEFAULT_HORIZON)
            put("relative", self.relative_check.isChecked(), True)
        elif page == "text":
            put("path", self.text_edit.text() or None, None)
            put("targets", self.targets_combo.currentData(), "next")
        self.specEdited.emit({"name": name, "options": options})


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _split_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
