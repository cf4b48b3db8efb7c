"""Errors a user can cause in the backend; each message says what to do."""
from __future__ import annotations

from graph.errors import LayerForgeError


class CompileError(LayerForgeError):
    """The graph is not valid, so it cannot be turned into a torch module."""


class CheckpointError(LayerForgeError):
    """A checkpoint file that cannot be opened (corrupt, not a LayerForge checkpoint)."""


class TrainingError(LayerForgeError):
    """Training cannot go on (NaN loss, data and network do not fit, ...).

    ``node_name`` names the layer that raised when it can be told.
    """

    def __init__(self, message: str, node_name: str | None = None) -> None:
        super().__init__(message)
        self.node_name = node_name


class InferenceError(LayerForgeError):
    """A model that cannot be tested live (unreadable file, not an image model, ...)."""


class CaptureError(LayerForgeError):
    """A frame source that cannot be opened or was lost (no camera, unreadable video, ...)."""


class ExportError(LayerForgeError):
    """A network cannot be exported (or the written file does not verify).

    ``format`` is the export format; ``node_name`` names the layer at fault when it can be told.
    """

    def __init__(self, message: str, format: str = "", node_name: str | None = None) -> None:
        super().__init__(message)
        self.format = format
        self.node_name = node_name


class ImportModelError(LayerForgeError):
    """A model that cannot be imported (bad file, missing class, untraceable code, unknown
    ONNX op); the message names the file/line and says what to do."""


class UnknownTaskError(LayerForgeError):
    """A dataset, checkpoint or export names a task this LayerForge does not know."""
