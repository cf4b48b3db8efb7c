"""Finding a layer by what a user types: its name, the names other tools give it, its
category or words of its help text, best match first.

The palette's search box and the canvas' quick-add (Tab) both ask ``search``. Other tools'
names ("Dense" in Keras, "deconvolution" in papers) are searchable aliases: a layer's are
``LayerSpec.aliases`` plus the old names it replaced (``LEGACY_TYPES``).
"""
from __future__ import annotations

from graph.layers import CATALOGUE, LEGACY_TYPES, LayerSpec

# How well a layer matches one word (the best of its names); a layer's score is its worst
# word's, so every word must match somewhere.
EXACT, PREFIX, IN_NAME, IN_TEXT = 4, 3, 2, 1


def names_of(spec: LayerSpec) -> tuple[str, ...]:
    """The type and every alias, lower case."""
    legacy = tuple(old for old, new in LEGACY_TYPES.items() if new == spec.type)
    return tuple(n.lower() for n in (spec.type, *spec.aliases, *legacy))


def text_of(spec: LayerSpec) -> str:
    """Everything searchable about a layer, lower case."""
    return " ".join((*names_of(spec), spec.category, spec.description)).lower()


def score(spec: LayerSpec, text: str) -> int:
    """0 when some word of ``text`` matches nothing of the layer; else how well it matches."""
    words = text.lower().split()
    if not words:
        return IN_TEXT
    names = names_of(spec)
    phrase = " ".join(words)
    if phrase in names:  # "fully connected", "global average pooling"
        return EXACT
    if len(words) > 1 and any(n.startswith(phrase) for n in names):
        return PREFIX
    haystack = text_of(spec)
    worst = EXACT
    for word in words:
        if word in names:
            best = EXACT
        elif any(n.startswith(word) for n in names):
            best = PREFIX
        elif any(word in n for n in names):
            best = IN_NAME
        elif word in haystack:
            best = IN_TEXT
        else:
            return 0
        worst = min(worst, best)
    return worst


def search(text: str, types: list[str] | None = None) -> list[str]:
    """Layer types matching every word of ``text``, best first (then in catalogue order)."""
    pool = types if types is not None else list(CATALOGUE)
    scored = [(-score(CATALOGUE[t], text), i, t) for i, t in enumerate(pool)]
    return [t for s, _, t in sorted(scored) if s < 0]
