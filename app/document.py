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
    # The canvas edits one graph at a time: the network, or a block opened to edit inside.
    shownChanged = Signal()             # a block was opened or closed
    shownGraphChanged = Signal(object)  # GraphEvent of the graph the canvas shows

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project or Project()
        self.path = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.analysis: Analysis = analyze(self.project.graph)
        self.open_blocks: list = []  # graph.blocks.BlockDefinition, outermost first
        self.shown_analysis: Analysis = self.analysis
        self._reanalyze = QTimer(self, singleShot=True, interval=0)
        self._reanalyze.timeout.connect(self.refresh_analysis)
        self._unsubscribe = self.project.graph.subscribe(self._on_graph_event)

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    @property
    def graph(self):
        return self.project.graph

    @property
    def shown_graph(self):
        """The graph the canvas shows and edits: the network or the innermost open block."""
        return self.open_blocks[-1].graph if self.open_blocks else self.graph

    def open_block(self, definition) -> None:
        """Edit inside a block (every instance follows; edits go on the same undo stack)."""
        self.open_blocks.append(definition)
        self.shown_analysis = self._analysis_of_shown()
        self.shownChanged.emit()

    def close_block(self, levels: int = 1) -> None:
        """Back out of ``levels`` open blocks (all of them with a large number)."""
        if not self.open_blocks:
            return
        del self.open_blocks[max(0, len(self.open_blocks) - levels):]
        self.shown_analysis = self._analysis_of_shown()
        self.shownChanged.emit()

    def _analysis_of_shown(self) -> Analysis:
        """The shown graph's analysis: an open block's inner graph with the input types of its
        first instance that has them (else as its own Input nodes say)."""
        graph, analysis = self.graph, self.analysis
        for definition in self.open_blocks:
            inner = None
            for node in definition.instances(graph):
                ports = node.spec.input_ports(node.params)
                types = [analysis.info[node.id].inputs.get(p.name) for p in ports]
                if all(t is not None for t in types):
                    inner = definition.analysis_for(types)
                    break
            analysis = inner if inner is not None else analyze(definition.graph)
            graph = definition.graph
        return analysis

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
        graph = self.shown_graph
        moved = {k: v for k, v in positions.items() if graph.node(k).position != v}
        if moved:
            self.push(MoveNodes(graph, moved))

    def _on_graph_event(self, event: GraphEvent) -> None:
        self.graphChanged.emit(event)
        if not self.open_blocks:
            self.shownGraphChanged.emit(event)
        elif event.kind == "block_changed":
            shown = self.open_blocks[-1]
            if any(self.graph.blocks.get(d.name) is not d for d in self.open_blocks):
                self.close_block(len(self.open_blocks))  # an undo removed the open block
            elif event.value is not None and self.graph.blocks.get(event.name) is shown:
                self.shownGraphChanged.emit(event.value)  # an edit inside the open block
            else:  # another definition changed: a nested block's card may have new ports
                self.shownGraphChanged.emit(GraphEvent("block_changed", name=event.name))
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
        self.shown_analysis = self._analysis_of_shown()
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
