"""The main window's docks around the canvas (layers, inspector, history, the bottom panels)
and the panels in the bottom tabs, wired to the canvas and to each other."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QWidget

from app.document import Document
from app.editor.palette import PaletteWidget
from app.panel_tabs import PanelTabs
from app.torch_loader import torch_loader

if TYPE_CHECKING:  # the panels import torch: made once the loader is ready (app.torch_loader)
    from app.main_window import MainWindow
    from app.panels.data_panel import DataPanel
    from app.panels.evaluation import EvaluationPanel
    from app.panels.export_panel import ExportPanel
    from app.panels.test_panel import TestPanel
    from app.panels.training import TrainingPanel

def torch_loader_text() -> str:
    return "PyTorch is loading… this tab opens in a moment; the editor works meanwhile."


# The bottom tabs in order; "Code" is the code view, the others need torch.
TAB_LABELS = ("Training", "Data", "Evaluation", "Test", "Code", "Export")

CANVAS_SHARE = 0.4  # a saved layout leaving the canvas less of the window is not restored


class WindowDocks(QObject):
    """Builds the docks; the bottom panels are made with the first document and kept (they
    follow each later one). A QObject child of the window, like its slots were.

    The torch panels are made once PyTorch has loaded (``panelsReady``); until then their
    attributes are None and their tabs say that PyTorch is loading."""

    panelsReady = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.training_panel: TrainingPanel | None = None
        self.data_panel: DataPanel | None = None
        self.evaluation_panel: EvaluationPanel | None = None
        self.test_panel: TestPanel | None = None
        self.export_panel: ExportPanel | None = None
        self.palette_widget = PaletteWidget()
        self.palette_widget.layerActivated.connect(window.add_layer_at_centre)
        dock = QDockWidget("Layers", window, objectName="palette")
        dock.setWidget(self.palette_widget)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.palette_dock = dock
        self.inspector_dock = QDockWidget("Inspector", window, objectName="inspector")
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inspector_dock)
        self.bottom_tabs = PanelTabs()
        self.bottom_dock = QDockWidget("Panels", window, objectName="panels")
        self.bottom_dock.setWidget(self.bottom_tabs)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.bottom_dock)
        self.history_dock = QDockWidget("History", window, objectName="history")
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.history_dock)
        self.history_dock.hide()

    def first_start_sizes(self) -> None:
        """No saved window state (or one that squeezed the canvas): the canvas gets the room,
        at least half of the window's width and about 60% of its height (the panels the
        rest: at 1600x1000 the curves show whole)."""
        window = self.window
        width, height = window.width(), window.height()
        window.resizeDocks([self.palette_dock, self.inspector_dock],
                           [min(210, int(0.18 * width)), min(360, int(0.27 * width))],
                           Qt.Orientation.Horizontal)
        window.resizeDocks([self.bottom_dock], [min(340, int(0.32 * height))],
                           Qt.Orientation.Vertical)

    def set_panels(self, document: Document, code_view: QWidget) -> None:
        """The bottom tabs: Training, Data, Evaluation, Test, Code (``code_view``), Export.
        Until PyTorch has loaded, the torch tabs hold a page saying so."""
        self.document = document
        if self.bottom_tabs.count() == 0:
            self.placeholders: list[QLabel] = []
            for label in TAB_LABELS:
                if label == "Code":
                    self.bottom_tabs.addTab(code_view, label)
                    continue
                page = QLabel(f"{label}: {torch_loader_text()}")
                page.setAlignment(Qt.AlignmentFlag.AlignCenter)
                page.setWordWrap(True)
                self.placeholders.append(page)
                self.bottom_tabs.addTab(page, label)
            loader = torch_loader()
            loader.finished.connect(self._loader_finished)
            loader.when_ready(self._build_panels)
        elif self.training_panel is not None:
            self.training_panel.set_document(document)
            self.data_panel.set_document(document)
            self.evaluation_panel.clear()
            self.test_panel.set_document(document)
            self.export_panel.set_document(document)

    def _loader_finished(self) -> None:
        """Loading failed: each torch tab says why; the editor keeps working."""
        loader = torch_loader()
        if loader.failed:
            for page in getattr(self, "placeholders", []):
                page.setText(f"PyTorch could not be loaded ({loader.error}). The editor works; "
                             "training, data, evaluation, test and export need PyTorch: "
                             "install it (pip install torch) and start LayerForge again.")

    def _build_panels(self) -> None:
        """PyTorch is loaded: the torch tabs get their panels, on the window's document."""
        if self.training_panel is not None:
            return
        from app.panels.data_panel import DataPanel
        from app.panels.evaluation import EvaluationPanel
        from app.panels.export_panel import ExportPanel
        from app.panels.test_panel import TestPanel
        from app.panels.training import TrainingPanel

        window, document = self.window, self.document
        self.training_panel = TrainingPanel(document)
        self.data_panel = DataPanel(document)
        self.evaluation_panel = EvaluationPanel()
        self.test_panel = TestPanel(document)
        self.export_panel = ExportPanel(document)
        self.test_panel.run_provider = lambda: self.training_panel.session.run
        self.test_panel.trainRequested.connect(
            lambda: self.bottom_tabs.setCurrentWidget(self.training_panel))
        panel = self.training_panel
        panel.liveStats.connect(lambda event: window.scene.set_live_stats(event.layers))
        panel.session.started.connect(lambda _: self.evaluation_panel.clear())
        panel.session.runEnded.connect(lambda: window.scene.set_live_stats(None))
        panel.failedAt.connect(lambda name: window.scene.mark_failed(
            name, f"'{name}' failed during training: see the Training tab"))
        panel.epochReport.connect(self._show_epoch_report)
        panel.runFinished.connect(self._show_evaluation)
        panel.session.checkpointSaved.connect(self.export_panel.set_checkpoint)
        panel.openCheckpoint.connect(
            lambda path: window.maybe_save() and window.open_file(path))
        panels = (self.training_panel, self.data_panel, self.evaluation_panel,
                  self.test_panel, self.export_panel)
        pages = [i for i, label in enumerate(TAB_LABELS) if label != "Code"]
        for index, new_panel in zip(pages, panels):
            self.bottom_tabs.set_page(index, new_panel)
        self.placeholders = []
        self.panelsReady.emit()

    def canvas_has_room(self) -> bool:
        """Whether the canvas has at least CANVAS_SHARE of the window's width and height."""
        window, canvas = self.window, self.window.centralWidget()
        return canvas is not None and \
            canvas.width() >= CANVAS_SHARE * window.width() and \
            canvas.height() >= CANVAS_SHARE * window.height()

    def _show_epoch_report(self, report) -> None:
        """During training: the latest epoch's report (a forecast, text samples) on the page
        of the run's task."""
        run = self.training_panel.session.run
        if run is not None and run.bundle is not None:
            self.evaluation_panel.show_run_report(run.bundle.task, report, run, final=False)

    def _show_evaluation(self, finished) -> None:
        """When a run ends: the test-set views for its task. They were computed on the training
        thread (``finished.report``); only the temperature slider samples text here."""
        run = self.training_panel.session.run
        report = getattr(finished, "report", None)
        if run is None or run.bundle is None or report is None:
            return
        self.evaluation_panel.show_run_report(run.bundle.task, report, run, final=True)

    def shutdown(self) -> None:
        """The window closes: never leave a training thread, a camera or an export behind."""
        if self.training_panel is not None:
            self.training_panel.session.shutdown()  # never leave a training thread behind
            self.test_panel.shutdown()  # nor a camera open
            self.export_panel.shutdown()  # nor an export thread
