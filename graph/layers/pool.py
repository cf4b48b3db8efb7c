"""Pooling layers."""
from __future__ import annotations

from graph.layers.base import LayerSpec

SPECS: tuple[LayerSpec, ...] = ()
