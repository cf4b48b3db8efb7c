"""The Data tab: choose the project's dataset, edit its options, preview it and check it fits.

The panel never copies the project: it reads ``document.project.dataset`` and changes it only
by pushing one ``SetDataset`` (undoable) per edit. Loading runs on a background thread (a
download or a big image folder must not freeze the window); the result comes back as a queued
Qt signal and is dropped if the spec, the Input node or the document changed meanwhile.

The panel wires the document to small parts with one job each: the source controls
(``data_sources``), the background loads (``data_loading``), the preview views
(``data_views``) and the summary column (``data_summary``). This module keeps the job a
loading thread runs (``load_dataset`` then ``build_preview``) and the fit check.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from app.panels.data_loading import DatasetLoader, LoadControls, LoadState
from app.panels.data_preview import (EXCERPT_CHARS, THUMBNAILS, DataPreview, sample_images,
                                     series_parts, text_excerpt)
from app.panels.data_sources import (DATASET_HINTS, DATASET_TITLES, TEXT_TARGETS,
                                     DatasetSourceControls)
from app.panels.data_summary import DataSummary, MessageBanner
from app.panels.data_views import SPLIT_COLORS, PreviewViews, ThumbnailGrid
from backend.data import DataBundle, Split, load_dataset, reporting
from backend.tasks import get_task
from backend.training.train import check_fit, input_of
from graph.commands import SetDataset
from graph.errors import LayerForgeError

# what callers import from here (some of it is defined in the data_* modules)
__all__ = ["DATASET_HINTS", "DATASET_TITLES", "DEBOUNCE_MS", "EXCERPT_CHARS", "SPLIT_COLORS",
           "TEXT_TARGETS", "THUMBNAILS", "DataPanel", "DataPreview", "ThumbnailGrid",
           "build_preview", "fit_verdict", "sample_images", "series_parts", "text_excerpt"]

log = logging.getLogger(__name__)

DEBOUNCE_MS = 250


# ---- what a load produces (computed on the loading thread) ------------------------------------

def build_preview(bundle: DataBundle, key: str, spec: dict[str, Any], input_kind: str,
                  input_shape: tuple[int, ...], seed: int) -> DataPreview:
    """Turn a loaded bundle into what the panel displays (plain numpy/str, no Qt)."""
    small = DataBundle(
        name=bundle.name, task=bundle.task,
        train=Split(bundle.train.x[:2].clone(), bundle.train.y[:2].clone()),
        val=Split(bundle.val.x[:2].clone(), bundle.val.y[:2].clone()),
        test=Split(bundle.test.x[:2].clone(), bundle.test.y[:2].clone()),
        sample_shape=tuple(bundle.sample_shape), target_shape=tuple(bundle.target_shape),
        num_classes=bundle.num_classes,
        class_names=list(bundle.class_names) if bundle.class_names is not None else None,
        normalization=dict(bundle.normalization), source=bundle.source)
    preview = DataPreview(
        key=key, name=bundle.name, task=bundle.task, source=bundle.source,
        sizes=(len(bundle.train), len(bundle.val), len(bundle.test)),
        sample_shape=tuple(bundle.sample_shape), target_shape=tuple(bundle.target_shape),
        num_classes=bundle.num_classes, class_names=small.class_names, fit_bundle=small)
    kind = bundle.normalization.get("kind")
    if get_task(bundle.task).counts_classes and bundle.num_classes:
        preview.class_counts = np.stack(
            [torch.bincount(s.y.reshape(-1), minlength=bundle.num_classes).numpy()
             for s in (bundle.train, bundle.val, bundle.test)], axis=1)
    if kind == "image":
        preview.images = sample_images(bundle, THUMBNAILS)
    elif kind == "series":
        plain = bundle
        if bundle.normalization.get("relative"):
            # relative windows have lost the series' level: reload the same file in absolute
            # units (a CSV loads in milliseconds) so the plot shows the real values
            options = {**(spec.get("options") or {}), "relative": False}
            plain = load_dataset({"name": spec["name"], "options": options}, input_kind,
                                 input_shape, seed)
        preview.series = series_parts(plain)
        norm = bundle.normalization
        target = norm["target_columns"][0]
        preview.series_label = target
    elif kind == "text":
        preview.excerpt = text_excerpt(bundle, EXCERPT_CHARS)
    return preview


# ---- the loading thread -------------------------------------------------------------------------

def _load_preview(key: str, spec: dict[str, Any], input_kind: str,
                  input_shape: tuple[int, ...], seed: int, state: LoadState) -> Any:
    """Load the dataset and build its preview (a loading thread); the DataPreview, or the
    exception that stopped it."""
    started = time.perf_counter()
    try:
        with reporting(state.report, lambda: state.cancelled):  # downloads: progress, cancel
            bundle = load_dataset(spec, input_kind, input_shape, seed)
        result: Any = build_preview(bundle, key, spec, input_kind, input_shape, seed)
        del bundle
        result.seconds = time.perf_counter() - started
    except LayerForgeError as exc:
        result = exc
    except Exception as exc:  # noqa: BLE001 - a broken file or library must not kill the app
        log.exception("loading dataset %r failed", spec.get("name"))
        result = exc
    return result


def _load_request(project) -> tuple[str, dict[str, Any], str, tuple[int, ...], int]:
    """(key, spec, input kind, input shape, seed) of the load ``project`` asks for."""
    kind, shape = input_of(project)
    seed = project.training.get("seed", 0)
    seed = seed if isinstance(seed, int) else 0
    spec = _normal_spec(project.dataset)
    return _spec_key(spec, kind, shape, seed), spec, kind, tuple(shape), seed


def _spec_key(spec: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
              seed: int) -> str:
    return json.dumps([spec, input_kind, list(input_shape), seed], sort_keys=True, default=str)


def _normal_spec(spec: Any) -> dict[str, Any]:
    spec = spec if isinstance(spec, dict) else {}
    options = spec.get("options") or {}
    return {"name": spec.get("name"), "options": dict(options) if isinstance(options, dict)
            else {}}


# ---- the fit check ------------------------------------------------------------------------------

def fit_verdict(project, analysis, fit_bundle: DataBundle) -> tuple[str, str, str, bool | None]:
    """Whether the data fits the network: (banner kind, banner text ("" for none), the
    summary's fit line, fits: True / False / None for not checked)."""
    if not analysis.is_valid:
        errors = analysis.errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return ("warning", "Fix the network's errors first, then the data can be checked "
                f"against it: {errors[0].message}{more}", "not checked: the network has errors",
                None)
    try:
        check_fit(project, analysis, fit_bundle, project.training.get("loss", "cross_entropy"))
    except LayerForgeError as exc:
        return "error", str(exc), "does not fit the network (see above)", False
    except Exception as exc:  # noqa: BLE001 - a checker bug must not hide the preview
        log.exception("checking the data against the network failed")
        return ("error", f"Could not check the data against the network: {exc}", "not checked",
                None)
    return "", "", "fits the network", True


# ---- the panel ----------------------------------------------------------------------------------

class DataPanel(QWidget):
    """Dataset picker, per-dataset options, preview, summary and the data/network fit check."""

    loadStarted = Signal()
    loadFinished = Signal(bool)  # after the preview and banner are updated; False = failed

    def __init__(self, document=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._document = None
        self._dirty = True  # a load is due the next time the panel is shown
        self._loader = DatasetLoader(self)
        self._loader.downloading.connect(self._on_downloading)
        self._loader.finished.connect(self._on_loaded)
        self._preview: DataPreview | None = None
        self._load_error = ""

        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.load_now(force=False))

        self._build()
        if document is not None:
            self.set_document(document)

    # ---- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)

        # left: dataset and options (scrolls when the dock is short)
        controls = QWidget()
        left = QVBoxLayout(controls)
        left.setContentsMargins(0, 0, 4, 0)
        left.setSpacing(6)
        self.sources = DatasetSourceControls(self._dataset, self)
        self.sources.specEdited.connect(self._push)
        left.addWidget(self.sources)
        # the option editors, as attributes of the panel (tests and callers reach them here)
        for name in ("combo", "hint", "root_edit", "download_check", "folder_edit", "csv_edit",
                     "columns_edit", "target_edit", "horizon_spin", "relative_check",
                     "text_edit", "targets_combo"):
            setattr(self, name, getattr(self.sources, name))

        self.load_row = LoadControls(self)
        self.load_row.load_button.clicked.connect(lambda: self.load_now(force=True))
        self.load_button, self.busy, self.status = (self.load_row.load_button,
                                                    self.load_row.busy, self.load_row.status)
        left.addWidget(self.load_row)
        left.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(300)
        outer.addWidget(scroll)

        # right: banner over (preview | summary)
        right = QVBoxLayout()
        right.setSpacing(6)
        self.banner = MessageBanner()
        right.addWidget(self.banner)

        body = QHBoxLayout()
        body.setSpacing(8)
        self.views = PreviewViews(self)
        body.addWidget(self.views, 1)
        self.summary = DataSummary(self)
        body.addWidget(self.summary)
        right.addLayout(body, 1)
        outer.addLayout(right, 1)
        # the views, as attributes of the panel (tests and callers reach them here)
        for name in ("placeholder", "grid", "grid_scroll", "series_plot", "excerpt"):
            setattr(self, name, getattr(self.views, name))
        self.preview_stack, self._curves = self.views, self.views.curves
        self.class_chart = self.summary.class_chart

    @property
    def option_page(self) -> str:
        """Which options are shown: "none", "torchvision", "image_folder", "csv_series", "text"."""
        return self.sources.option_page

    @property
    def _remembered(self) -> dict[str, dict[str, Any]]:  # options of datasets left behind
        return self.sources.remembered

    # ---- the document ----------------------------------------------------------------------
    @property
    def document(self):
        return self._document

    def set_document(self, document) -> None:
        """Show ``document``'s dataset; a load still running for the previous one is ignored."""
        if self._document is not None:
            for signal, slot in self._connections():
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._document = document
        self._loader.abandon()
        self._loader.loaded_key = None
        self._preview = None
        self._remembered.clear()
        self.load_row.set_busy(False)
        self._clear_preview("No preview yet: press Load preview.")
        self._set_banner("", "")
        if document is None:
            return
        for signal, slot in self._connections():
            signal.connect(slot)
        self.sources.show_spec(self._dataset())
        self._request_load()

    def _connections(self):
        doc = self._document
        return ((doc.datasetChanged, self._on_dataset_changed),
                (doc.analysisChanged, self._on_analysis_changed),
                (doc.trainingChanged, self._on_training_changed))

    def _on_dataset_changed(self) -> None:
        self.sources.show_spec(self._dataset())
        self._request_load()

    def _on_analysis_changed(self) -> None:
        try:
            key = _load_request(self._document.project)[0]
        except LayerForgeError as exc:  # e.g. no Input node or two: nothing to load for
            self._loader.abandon()
            self.load_row.set_busy(False)
            self._set_banner("error", str(exc))
            return
        loader = self._loader
        if key not in (loader.loaded_key, loader.inflight_key):
            self._request_load()  # the Input node's kind or shape changed
        elif key == loader.loaded_key and loader.inflight_key is None:
            self._check_fit()

    def _on_training_changed(self, key: str) -> None:
        if key == "seed":
            self._request_load()
        elif key == "loss" and self._loader.inflight_key is None:
            self._check_fit()

    def _dataset(self) -> dict[str, Any] | None:
        """The project's (normalised) dataset spec; None without a document."""
        return None if self._document is None else _normal_spec(self._document.project.dataset)

    def _push(self, spec: dict[str, Any]) -> None:
        if _normal_spec(spec) == self._dataset():
            return
        self._document.push(SetDataset(self._document.project, spec))

    # ---- loading --------------------------------------------------------------------------
    def _request_load(self) -> None:
        """Load soon (coalescing bursts of edits) if the panel is shown, else when it is."""
        if self._document is None:
            return
        self._dirty = True
        if self.isVisible():
            self._debounce.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty and self._document is not None:
            self._debounce.start()

    def load_now(self, force: bool = True) -> None:
        """Start loading the project's dataset on a background thread.

        Without ``force`` nothing happens when this exact spec/Input/seed is loaded or loading.
        """
        self._debounce.stop()
        if self._document is None:
            return
        self._dirty = False
        try:
            key, spec, kind, shape, seed = _load_request(self._document.project)
        except LayerForgeError as exc:
            self._loader.abandon()
            self.load_row.set_busy(False)
            self._set_banner("error", str(exc))
            return
        loader = self._loader
        if not force and key == loader.inflight_key:
            return
        if not force and key == loader.loaded_key and loader.inflight_key is None:
            self._check_fit()
            return
        loading = f"Loading {DATASET_TITLES.get(spec['name'], spec['name']).rstrip('…')}…"
        if self._preview is None or self._preview.name != spec["name"]:
            self._preview = None  # another dataset's preview would mislead meanwhile
            self._clear_preview(loading)
        self.load_row.set_busy(True, loading)
        loader.start(key, lambda state: _load_preview(key, spec, kind, shape, seed, state))
        self.loadStarted.emit()

    @property
    def loading(self) -> bool:
        """A load is running whose result the panel will show."""
        return self._loader.running

    @property
    def pending(self) -> bool:
        """A load is running or about to start (debounced)."""
        return self._loader.running or self._debounce.isActive()

    def _on_downloading(self, progress) -> None:
        """While a load downloads its dataset: the bar fills, and the preview area (when it
        shows no older preview) says how far."""
        self.load_row.show_download(progress)
        self.views.show_message_if_empty(progress.describe() + "\n(once: later it is read from "
                                         "disk)")

    def _on_loaded(self, result: Any) -> None:
        """The wanted load's result (the loader drops stale ones)."""
        if isinstance(result, DataPreview):
            self._preview = result
            self._load_error = ""
            self._show_preview(result)
            self.load_row.set_busy(False, f"Loaded in {result.seconds:.1f} s.")
            self._check_fit()
            self.loadFinished.emit(True)
            return
        self._preview = None
        message = (str(result) if isinstance(result, LayerForgeError)
                   else f"Could not load the dataset: {type(result).__name__}: {result}")
        self._load_error = message
        self._clear_preview("The dataset could not be loaded (see the message above).")
        self.load_row.set_busy(False, "Loading failed.")
        self._set_banner("error", message)
        self.loadFinished.emit(False)

    # ---- the fit check --------------------------------------------------------------------
    def _check_fit(self) -> None:
        """Show whether the loaded data fits the network (or why not, with the fix)."""
        if self._document is None:
            return
        if self._preview is None:
            if self._load_error:
                self._set_banner("error", self._load_error)
            return
        banner_kind, banner, fit_line, ok = fit_verdict(self._document.project,
                                                        self._document.analysis,
                                                        self._preview.fit_bundle)
        self._set_banner(banner_kind, banner)
        self.summary.set_fit_line(fit_line, ok)

    def _set_banner(self, kind: str, text: str) -> None:
        self.banner.show_message(kind, text, self.palette())

    @property
    def banner_kind(self) -> str:
        """What the banner shows: "", "error" or "warning"."""
        return self.banner.kind

    def banner_text(self) -> str:
        """The message in the banner ("" when hidden)."""
        return self.banner.text() if self.banner.isVisibleTo(self) else ""

    # ---- showing a preview ----------------------------------------------------------------
    def _clear_preview(self, message: str) -> None:
        self.views.show_message(message)
        self.summary.clear()

    def _show_preview(self, p: DataPreview) -> None:
        if not self.views.show_preview(p):
            self._clear_preview("This dataset has no picture to show.")
        self.summary.show_preview(p)

    # ---- read-outs (tests, other panels) --------------------------------------------------
    @property
    def preview(self) -> DataPreview | None:
        """The last successful load's preview (None while none or after a failure)."""
        return self._preview

    def preview_kind(self) -> str:
        """Which preview is showing: "images", "series", "text" or "" (none)."""
        return self.views.kind()

    def split_sizes(self) -> tuple[int, int, int] | None:
        return self._preview.sizes if self._preview else None

    def class_counts(self) -> dict[str, int]:
        """Samples per class over all splits (classification only)."""
        return self._preview.class_totals() if self._preview is not None else {}

    def series_points(self) -> dict[str, int]:
        """Number of plotted (finite) points per split curve."""
        return self.views.series_points()

    def excerpt_text(self) -> str:
        return self.views.excerpt.toPlainText()

    def summary_text(self) -> str:
        return self.summary.plain_text()
