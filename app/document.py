"""One open project in the GUI: the graph model, its undo stack and its analysis.

The document never copies the graph. Views subscribe to ``graph`` events (through
``changed``) and to ``analysisChanged``; every edit is a ``graph.commands`` command pushed
here, wrapped in a QUndoCommand on the document's own QUndoStack.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.commands import Command, MoveNodes, SetDataset, SetParam, SetTraining
from graph.model import GraphEvent
from graph.project import Project, load_project, save_project
from graph.validate import Analysis, analyze

_MERGE_SET_PARAM = 1  # QUndoCommand ids for commands that merge with the previous one


class UndoCommand(QUndoCommand):
    """A graph command on the Qt undo stack. ``push`` has already run it once."""

    def __init__(self, command: Command, after=None) -> None:
        super().__init__(command.text)
        self.command = command
        self._first = True
        self._after = after  # tells the document about project-level changes

    def redo(self) -> None:
        if self._first:  # Document.push ran do() already, to surface refusals before pushing
            self._first = False
            return
        self.command.do()
        if self._after:
            self._after(self.command)

    def undo(self) -> None:
        self.command.undo()
        if self._after:
            self._after(self.command)

    def id(self) -> int:
        return _MERGE_SET_PARAM if isinstance(self.command, SetParam) else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        """Consecutive edits of one parameter (a spin box being stepped) are one undo step."""
        mine, theirs = self.command, getattr(other, "command", None)
        if not (isinstance(mine, SetParam) and isinstance(theirs, SetParam)):
            return False
        if (mine.node_id, mine.key) != (theirs.node_id, theirs.key):
            return False
        mine.value = theirs.value  # keep my old value, take the newest value
        return True


class Document(QObject):
    """An open project: graph + undo stack + file path + live analysis."""

    analysisChanged = Signal()
    graphChanged = Signal(object)  # GraphEvent, after the model changed
    pathChanged = Signal()
    modifiedChanged = Signal(bool)
    message = Signal(str)  # refusals and notices for the status bar
    trainingChanged = Signal(str)  # a training setting changed (its key)
    datasetChanged = Signal()

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project or Project()
        self.path = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.analysis: Analysis = analyze(self.project.graph)
        self._reanalyze = QTimer(self, singleShot=True, interval=0)
        self._reanalyze.timeout.connect(self.refresh_analysis)
        self._unsubscribe = self.project.graph.subscribe(self._on_graph_event)

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    @property
    def graph(self):
        return self.project.graph

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.path.name if self.path else self.project.name

    # ---- edits --------------------------------------------------------------------------
    def push(self, command: Command) -> bool:
        """Run a graph command and put it on the undo stack. A refusal (GraphEditError) is
        reported through ``message`` and returns False; nothing changes."""
        from graph.errors import LayerForgeError

        try:
            command.do()
        except LayerForgeError as exc:
            self.message.emit(str(exc))
            return False
        self.undo_stack.push(UndoCommand(command, self._project_changed))
        self._project_changed(command)
        return True

    def _project_changed(self, command: Command) -> None:
        """Graph edits announce themselves through graph events; project settings here."""
        if isinstance(command, SetTraining):
            self.trainingChanged.emit(command.key)
        elif isinstance(command, SetDataset):
            self.datasetChanged.emit()

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> None:
        """One undo step for a whole drag (called on mouse release)."""
        moved = {k: v for k, v in positions.items() if self.graph.node(k).position != v}
        if moved:
            self.push(MoveNodes(self.graph, moved))

    def _on_graph_event(self, event: GraphEvent) -> None:
        self.graphChanged.emit(event)
        self._reanalyze.start()  # coalesce: a paste of 50 nodes re-analyzes once

    def analyze_pending(self) -> None:
        """Re-analyze now if an edit is waiting for its coalesced analysis (a reader that
        needs the graph as it is, e.g. Copy of the code)."""
        if self._reanalyze.isActive():
            self.refresh_analysis()

    def refresh_analysis(self) -> None:
        """Re-run shape inference and validation now."""
        self._reanalyze.stop()
        self.analysis = analyze(self.graph)
        self.analysisChanged.emit()

    # ---- files --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, parent: QObject | None = None) -> "Document":
        """Open a project file or a checkpoint (its embedded project). Raises the project's
        own errors (ProjectFileError, CheckpointError) with the reason."""
        path = Path(path)
        if path.suffix in (".pt", ".pth", ".ckpt"):
            from backend.checkpoint import load_checkpoint
            return cls(load_checkpoint(path).project, None, parent)
        return cls(load_project(path), path, parent)

    def save(self, path: str | Path | None = None) -> None:
        """Save atomically (to ``path`` or the current path) and mark the document clean."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("no file name: use Save As")
        save_project(self.project, target)
        if target != self.path:
            self.path = target
            self.pathChanged.emit()
        self.undo_stack.setClean()

    def close(self) -> None:
        self._unsubscribe()
