"""Attention and transformer layers, learned parameters and position encodings."""
from __future__ import annotations

from graph.layers.base import LayerSpec

SPECS: tuple[LayerSpec, ...] = ()
