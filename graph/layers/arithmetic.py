"""Merge and math layers beyond Add/Multiply/Concat: subtract, divide, max/min, average, matmul, gating, scale/shift, reductions."""
from __future__ import annotations

from graph.layers.base import LayerSpec

SPECS: tuple[LayerSpec, ...] = ()
