"""The layer catalogue: every layer type LayerForge knows, each declared once.

A family module (dense, conv, norm, ...) declares ``SPECS``; this package collects them.
Adding a layer is adding one ``LayerSpec`` to a family (and, if torch has no module for it, one
module in ``backend/compile/modules.py``). Families that need more than a declaration — e.g. pretrained
backbones, whose shapes come from a model file — register through ``register()`` too.
"""
from __future__ import annotations

from graph.errors import GraphEditError
from graph.layers import (activation, arithmetic, attention, conv, dense, detection, generative,
                          io, merge, norm, opaque, pool, pretrained, recurrent, regularization,
                          shape, window)
from graph.layers.base import LayerSpec, ParamSpec, PortSpec

CATALOGUE: dict[str, LayerSpec] = {}

# Renamed layer types keep loading from old project files: old name -> current name.
LEGACY_TYPES: dict[str, str] = {"Dense": "Linear", "Concatenate": "Concat", "Swish": "SiLU"}

CATEGORY_ORDER = ("Input/Output", "Dense", "Convolution", "Pooling", "Normalization",
                  "Activation", "Recurrent", "Attention", "Merge", "Math", "Reshape",
                  "Regularization", "Generative", "Detection", "Pretrained", "Utility")


def register(spec: LayerSpec) -> None:
    """Add a layer type to the catalogue (type names are unique)."""
    if spec.type in CATALOGUE:
        raise ValueError(f"layer type {spec.type!r} is declared twice")
    CATALOGUE[spec.type] = spec


for _family in (io, dense, conv, pool, norm, activation, recurrent, attention, window, merge,
                arithmetic, shape, regularization, generative, detection, opaque, pretrained):
    for _spec in _family.SPECS:
        register(_spec)


def get_spec(type_name: str) -> LayerSpec:
    """The declaration of a layer type (legacy names accepted)."""
    spec = CATALOGUE.get(LEGACY_TYPES.get(type_name, type_name))
    if spec is None:
        raise GraphEditError(f"unknown layer type {type_name!r}")
    return spec


def by_category() -> list[tuple[str, list[LayerSpec]]]:
    """Layer types grouped by category in palette order."""
    groups: dict[str, list[LayerSpec]] = {}
    for spec in CATALOGUE.values():
        groups.setdefault(spec.category, []).append(spec)
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order)))


__all__ = ["CATALOGUE", "LEGACY_TYPES", "LayerSpec", "ParamSpec", "PortSpec", "by_category",
           "get_spec", "register"]
