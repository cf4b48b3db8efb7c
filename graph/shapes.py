"""Tensor types flowing along edges: a shape with a symbolic batch dimension and a dtype."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

BATCH = "N"  # the symbolic batch dimension, always first


@dataclass(frozen=True)
class TensorType:
    """A tensor's shape per sample (batch excluded) and its element kind ("float" or "long")."""

    dims: tuple[int, ...]
    dtype: str = "float"

    @property
    def rank(self) -> int:
        """Rank including the batch dimension."""
        return len(self.dims) + 1

    @property
    def shape(self) -> tuple[int | str, ...]:
        """Full shape with the symbolic batch dimension first, e.g. ('N', 16, 5, 5)."""
        return (BATCH, *self.dims)

    @property
    def numel(self) -> int:
        """Elements per sample."""
        return prod(self.dims)

    def with_dims(self, dims: tuple[int, ...] | list[int], dtype: str | None = None) -> "TensorType":
        return TensorType(tuple(int(d) for d in dims), dtype or self.dtype)

    def __str__(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: tuple[int | str, ...]) -> str:
    """Human form of a shape: (N, 16, 5, 5)."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def normalize_dim(dim: int, rank: int, what: str) -> int:
    """Turn a possibly negative dim index into a positive one, or raise a readable error."""
    from graph.errors import ShapeError

    if not -rank <= dim < rank:
        raise ShapeError(f"{what} {dim} is out of range for a tensor of rank {rank}")
    return dim % rank
