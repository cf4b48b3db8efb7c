"""How far an import is, and a way to stop it (no Qt).

A caller that shows progress wraps the import in ``reporting(on_stage, cancelled)``; the
importers call ``stage("tracing")`` (then "mapping", "checking outputs", ...) as they go.
Each call tells ``on_stage(name, fraction)`` and raises ``ImportCancelled`` once
``cancelled()`` is true, so a cancelled import stops at the next stage and leaves nothing
behind. Context variables keep each thread's caller apart (as ``backend.data.download``).
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Callable, Iterator

from backend.errors import ImportModelError

# The stages every import goes through, in order (for a progress bar's fraction).
STAGES = ("reading", "tracing", "mapping", "structuring", "checking outputs")


class ImportCancelled(ImportModelError):
    """The caller's ``cancelled()`` turned true during an import."""


_on_stage: contextvars.ContextVar[Callable[[str, float], None] | None] = \
    contextvars.ContextVar("layerforge_import_stage", default=None)
_cancelled: contextvars.ContextVar[Callable[[], bool] | None] = \
    contextvars.ContextVar("layerforge_import_cancelled", default=None)


@contextmanager
def reporting(on_stage: Callable[[str, float], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
    """Within this block, imports report their stages to ``on_stage(name, fraction)`` and
    stop with ImportCancelled as soon as ``cancelled()`` is true."""
    tokens = _on_stage.set(on_stage), _cancelled.set(cancelled)
    try:
        yield
    finally:
        _on_stage.reset(tokens[0])
        _cancelled.reset(tokens[1])


def stage(name: str, within: float = 0.0) -> None:
    """An import reached ``name`` (one of STAGES), ``within`` (0..1) of the way through it."""
    cancelled = _cancelled.get()
    if cancelled is not None and cancelled():
        raise ImportCancelled("the import was cancelled")
    on_stage = _on_stage.get()
    if on_stage is not None:
        index = STAGES.index(name) if name in STAGES else 0
        on_stage(name, (index + min(max(within, 0.0), 1.0)) / len(STAGES))
