"""Torch side of the catalogue's arithmetic layers that torch has no single nn module for."""
from __future__ import annotations

from backend.compile.ops.base import Emitter

EMITTERS: dict[str, Emitter] = {}  # catalogue module name -> how it appears in forward()
MODULES: dict[str, type] = {}      # catalogue module name ("ops.X") -> own nn.Module class
