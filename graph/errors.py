"""The project's own exception types for problems a user can cause in the graph layer."""
from __future__ import annotations


class LayerForgeError(Exception):
    """Base class of every error a user can cause; the message says what to do."""


class ShapeError(LayerForgeError):
    """A layer cannot accept the tensor it is given (raised by a shape rule).

    When the problem is one input's layout, the rule fills ``port`` (input index),
    ``expected`` (e.g. "(N, F)") and ``fix`` so validation can name the node that feeds it:
    "Linear 'fc1' expects (N, F) but 'pool2' gives (N, 16, 5, 5): insert a Flatten".
    """

    def __init__(self, message: str, *, port: int | None = None, expected: str | None = None,
                 fix: str = "") -> None:
        super().__init__(message)
        self.port = port
        self.expected = expected
        self.fix = fix


class GraphEditError(LayerForgeError):
    """An edit that the graph refuses (unknown node, port already taken, ...)."""


class ProjectFileError(LayerForgeError):
    """A project file that cannot be read: corrupt, truncated, wrong version, hostile."""
