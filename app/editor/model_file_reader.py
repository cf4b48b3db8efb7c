"""Reading the model file of an ``ImportedModel`` node for the inspector: on a worker thread
(``describe_model_file`` loads the whole model), then the path and what was read are set on
the node together, as one undo step."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QThread

from app.editor.param_editors import ProblemCallback
from graph.commands import Compound, SetParam
from graph.errors import LayerForgeError
from graph.model import Node

# Layers whose file parameter must be read by the backend to learn the node's shapes.
FILE_READERS = {"ImportedModel": "path"}


class ModelFileReader(QThread):
    """Reads a model file off the GUI thread (``describe_model_file`` loads the whole model)."""

    def __init__(self, node_id: str, path: str, input_shape: tuple[int, ...] | None) -> None:
        super().__init__()
        self.node_id, self.path, self.input_shape = node_id, path, input_shape
        self.result = None
        self.error: str | None = None

    def run(self) -> None:  # QThread entry point
        from backend.compile.model_files import describe_model_file

        try:
            self.result = describe_model_file(self.path, self.input_shape)
        except LayerForgeError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app
            self.error = f"cannot read {self.path}: {type(exc).__name__}: {exc}"


class ModelFileReads(QObject):
    """The model files being read, each applied to the document shown (``document()``) when
    read. A file that cannot be read is reported with ``on_problem(key, message)`` while its
    node is the one inspected (``inspected()``)."""

    def __init__(self, document: Callable[[], Any], inspected: Callable[[], str | None],
                 on_problem: ProblemCallback, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document, self._inspected, self._on_problem = document, inspected, on_problem
        self._readers: list[ModelFileReader] = []

    def read(self, node: Node, path: str) -> None:
        """Learn the file's shapes on a worker thread; the path and what was read are then
        set together as one undo step."""
        info = self._document().analysis.info.get(node.id)
        t = next(iter(info.inputs.values()), None) if info else None
        reader = ModelFileReader(node.id, path, t.dims if t is not None else None)
        reader.finished.connect(self._apply_read)  # queued: runs on the GUI thread
        self._readers.append(reader)
        self._on_problem(FILE_READERS[node.type], None)
        reader.start()

    def _apply_read(self) -> None:
        for reader in [r for r in self._readers if r.isFinished()]:
            self._readers.remove(reader)
            reader.deleteLater()
            document = self._document()
            graph = document.shown_graph
            if not graph.has_node(reader.node_id):
                continue  # deleted while its file was read
            node = graph.node(reader.node_id)
            values = {"path": reader.path, "format": "unread", "input_shape": (),
                      "output_shape": (), "param_count": 0}
            if reader.result is not None:
                values.update(reader.result.node_params())
            commands = [SetParam(graph, node.id, k, v) for k, v in values.items()
                        if node.params.get(k) != v]
            if commands:
                document.push(Compound(commands, f"Choose model file of {node.name}"))
            if reader.error and reader.node_id == self._inspected():
                self._on_problem(FILE_READERS[node.type], reader.error)

    def wait(self, ms: int = 30_000) -> None:
        """Block until the files being read are read and applied (tests, closing)."""
        for reader in list(self._readers):
            reader.wait(ms)
        self._apply_read()
