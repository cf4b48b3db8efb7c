"""Shape layers: squeeze, transpose, split, slice, pad, crop, pixel shuffle, resize."""
from __future__ import annotations

from graph.layers.base import LayerSpec

SPECS: tuple[LayerSpec, ...] = ()
