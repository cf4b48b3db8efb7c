"""LayerForge's own torch pieces, one module per layer family: the fx ops (emitters) and the
own ``nn.Module`` classes that catalogue layers compile to when torch has no module of the
same meaning. ``backend/compile/modules.py`` resolves catalogue module names through these.
"""
from __future__ import annotations

from backend.compile.ops import (activation, arithmetic, attention, conv, detection, norm, shape,
                                 window)
from backend.compile.ops.base import Emitter

EMITTERS: dict[str, Emitter] = {}
MODULES: dict[str, type] = {}
for _family in (activation, arithmetic, attention, conv, detection, norm, shape, window):
    for _name in _family.EMITTERS.keys() & EMITTERS.keys() | _family.MODULES.keys() & MODULES.keys():
        raise ValueError(f"op {_name!r} is declared twice")
    EMITTERS.update(_family.EMITTERS)
    MODULES.update(_family.MODULES)

__all__ = ["EMITTERS", "MODULES"]
