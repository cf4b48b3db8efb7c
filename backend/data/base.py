"""Plain data types shared by every dataset loader, and the helpers they have in common.

A loader turns a dataset spec from the project file into a :class:`DataBundle`: three in-memory
tensor splits already in the Input node's shape, plus the plain-data ``normalization`` record that
inference needs to preprocess raw input the same way.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

INPUT_KINDS: tuple[str, ...] = ("image", "vector", "sequence", "tokens")


class DataError(LayerForgeError):
    """A dataset problem the user can fix: the message names the dataset/file/column and the fix.

    Subclasses the project's common error base so the GUI and CLI catch all user errors alike.
    """


@dataclass
class Split:
    """One split of a dataset, held in memory so the trainer can slice batches by index."""

    x: torch.Tensor  # (n, *sample_shape); float32, or int64 for token ids
    y: torch.Tensor  # classification/language_model: (n,) int64; regression: (n, k) float32

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class DataBundle:
    """A loaded dataset: train/val/test splits plus everything needed to use it."""

    name: str
    task: str  # the name of its task declaration (backend/tasks): "classification", ...
    train: Split
    val: Split
    test: Split
    sample_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    class_names: list[str] | None
    normalization: dict[str, Any]
    source: str


@dataclass(frozen=True)
class ImageLayout:
    """How an image dataset must be delivered for a given Input node."""

    channels: int
    height: int
    width: int
    flatten: bool  # True for a "vector" input: (C*H*W,) per sample

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.flatten:
            return (self.channels * self.height * self.width,)
        return (self.channels, self.height, self.width)


def option(options: dict[str, Any], key: str, default: Any, kind: type | tuple[type, ...],
           dataset: str) -> Any:
    """Read one option, checking its type, so a typo in the project file gives a clear error."""
    value = options.get(key)
    if value is None:  # absent or JSON null: the default
        return default
    # bool is an int subclass; an int option given `true` is almost certainly a mistake
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DataError(f"dataset '{dataset}': option '{key}' must be "
                        f"{_type_names(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise DataError(f"dataset '{dataset}': option '{key}' must be "
                        f"{_type_names(kind)}, got {value!r}")
    return value


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a text",
             list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def image_layout(dataset: str, input_kind: str, input_shape: tuple[int, ...]) -> ImageLayout:
    """Check that an image dataset can feed this Input node and say how to shape it.

    "image" (C,H,W) needs C of 1 or 3; "vector" (F,) needs F = s*s (grayscale s x s, flattened)
    or F = 3*s*s (RGB s x s, flattened channel-first).
    """
    fix = (f"{dataset} gives images; set the Input node to kind 'image' with shape C,H,W "
           f"(C = 1 or 3, e.g. 1,28,28) or 'vector' with F a square number like 64 or 784 "
           f"(or 3 times a square, e.g. 3072 for 3x32x32 flattened)")
    if input_kind == "image":
        if len(input_shape) != 3:
            raise DataError(f"Input shape {tuple(input_shape)} is not C,H,W. {fix}")
        c, h, w = input_shape
        if c not in (1, 3):
            raise DataError(f"Input has {c} channels but {dataset} images can be delivered as "
                            f"1 (grayscale) or 3 (RGB) channels; set C to 1 or 3")
        return ImageLayout(c, h, w, flatten=False)
    if input_kind == "vector":
        if len(input_shape) != 1:
            raise DataError(f"Input shape {tuple(input_shape)} is not a single feature count. "
                            f"{fix}")
        f = input_shape[0]
        s = math.isqrt(f)
        if s * s == f:
            return ImageLayout(1, s, s, flatten=True)
        if f % 3 == 0 and math.isqrt(f // 3) ** 2 == f // 3:
            s = math.isqrt(f // 3)
            return ImageLayout(3, s, s, flatten=True)
        raise DataError(f"Input vector has F={f} features, which is not an image size. {fix}")
    raise DataError(f"Input node kind '{input_kind}' cannot take {dataset}. {fix}")


def check_input(input_kind: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Validate the Input node description itself (kind known, shape of positive integers)."""
    if input_kind not in INPUT_KINDS:
        raise DataError(f"unknown Input kind '{input_kind}'; use one of {', '.join(INPUT_KINDS)}")
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise DataError(f"Input shape {input_shape!r} must be a list of whole numbers") from None
    if not shape or any(d < 1 for d in shape):
        raise DataError(f"Input shape {shape} must be positive whole numbers")
    return shape


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert (N,C,H,W) between grayscale and RGB: replicate gray, or ITU-R 601 luma for RGB."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
        return (x * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (N,C,H,W); antialiased so shrinking does not alias."""
    if x.shape[-2:] == (height, width):
        return x
    return torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear",
                                           align_corners=False, antialias=True)


def images_to_layout(raw: torch.Tensor | np.ndarray, layout: ImageLayout, scale: float,
                     channels_last: bool = False, chunk: int = 4096) -> torch.Tensor:
    """Turn raw pixel arrays (N,H,W), (N,C,H,W) or (N,H,W,C) into float32 (N,C,H,W) in [0, 1].

    Works in chunks so a whole uint8 dataset never exists as float at its original *and* new size.
    """
    data = torch.as_tensor(raw)
    if data.dim() == 3:
        data = data.unsqueeze(1 if not channels_last else -1)
    if channels_last:
        data = data.permute(0, 3, 1, 2)
    n = data.shape[0]
    out = torch.empty((n, layout.channels, layout.height, layout.width), dtype=torch.float32)
    for start in range(0, n, chunk):
        part = data[start:start + chunk].to(torch.float32) * scale
        part = to_channels(part, layout.channels)
        out[start:start + chunk] = resize(part, layout.height, layout.width)
    return out


def split_indices(y: np.ndarray, test_size: float, random_state: int,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of indices 0..len(y)-1 into (keep, held_out).

    Falls back to a plain shuffled split when some class is too small to stratify; raises
    DataError when there are too few samples for both parts to be non-empty.
    """
    from sklearn.model_selection import train_test_split  # slow import: only when loading

    idx = np.arange(len(y))
    try:
        keep, held = train_test_split(idx, test_size=test_size, random_state=random_state,
                                      stratify=y)
    except ValueError:
        # a class with too few samples to appear on both sides: split without stratifying
        try:
            keep, held = train_test_split(idx, test_size=test_size, random_state=random_state)
        except ValueError:
            raise DataError(f"{what}: only {len(y)} samples, too few to split into "
                            f"train/validation/test; add more data") from None
        log.info("%s: a class is too small to stratify; split without stratification", what)
    return np.sort(keep), np.sort(held)


def three_way_split(y: np.ndarray, seed: int, what: str, test_size: float = 0.2,
                    val_size: float = 0.1, test_random_state: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/val/test indices: test from all data, val from the rest (seeded)."""
    rest, test = split_indices(y, test_size, test_random_state, what)
    train_pos, val_pos = split_indices(y[rest], val_size, seed, what)
    return rest[train_pos], rest[val_pos], test


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N,C,H,W) images (a constant channel gets std 1)."""
    xd = x.transpose(0, 1).reshape(x.shape[1], -1).to(torch.float64)
    mean = xd.mean(dim=1)
    std = xd.std(dim=1, correction=0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # never divide by zero
    return mean.tolist(), std.tolist()


def image_bundle(name: str, layout: ImageLayout, train: tuple[torch.Tensor, torch.Tensor],
                 val: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                 class_names: list[str], source: str, resize_mode: str,
                 stats: tuple[list[float], list[float]] | None = None) -> DataBundle:
    """Normalise (N,C,H,W) images in [0,1] with train-only statistics (or the given
    per-channel ``stats``, e.g. ImageNet's for a pretrained backbone) and build the bundle."""
    mean, std = stats if stats is not None else channel_stats(train[0])
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def finish(x: torch.Tensor, y: torch.Tensor) -> Split:
        x = x.sub_(m).div_(s) if x.is_contiguous() else (x - m) / s
        if layout.flatten:
            x = x.reshape(x.shape[0], -1)
        return Split(x.contiguous(), y.to(torch.int64))

    normalization = {
        "kind": "image",
        "mean": mean, "std": std,
        "size": [layout.height, layout.width],
        "channels": layout.channels,
        "flatten": layout.flatten,
        # raw pixels are scaled to [0, 1] (8-bit: divide by 255) before mean/std
        "value_range": [0.0, 1.0],
        "color": "rgb" if layout.channels == 3 else "gray",
        "resize": resize_mode,
    }
    return DataBundle(
        name=name, task="classification",
        train=finish(*train), val=finish(*val), test=finish(*test),
        sample_shape=layout.sample_shape, target_shape=(),
        num_classes=len(class_names), class_names=list(class_names),
        normalization=normalization, source=source,
    )
