"""What the Data tab shows about one loaded dataset, and the pieces cut from a bundle to show
it: sample images back in 8-bit pixels, a series' target column in raw units, a text excerpt.

Plain numpy/str (no Qt): built on the loading thread, drawn by the panel's views.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from backend.data import DataBundle, Split

THUMBNAILS = 32
EXCERPT_CHARS = 1500


@dataclass
class DataPreview:
    """Everything the panel shows about one loaded dataset, small enough to keep around.

    ``fit_bundle`` has the bundle's metadata and a couple of samples per split: enough for
    ``check_fit`` without holding a whole (possibly huge) dataset in memory.
    """

    key: str
    name: str
    task: str
    source: str
    sizes: tuple[int, int, int]
    sample_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    num_classes: int | None
    class_names: list[str] | None
    fit_bundle: DataBundle
    class_counts: np.ndarray | None = None  # (classes, 3): train/val/test
    images: list[tuple[np.ndarray, str]] = field(default_factory=list)
    series: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    series_label: str = ""
    excerpt: str = ""
    seconds: float = 0.0

    def class_totals(self) -> dict[str, int]:
        """Samples per class over all splits (classification only, else empty)."""
        if self.class_counts is None:
            return {}
        names = self.class_names or [str(i) for i in range(len(self.class_counts))]
        return {names[i]: int(self.class_counts[i].sum()) for i in range(len(self.class_counts))}


def sample_images(bundle: DataBundle, count: int) -> list[tuple[np.ndarray, str]]:
    """Up to ``count`` training images, classes taken in turn, back in 8-bit pixels.

    Returns (H,W) grayscale or (H,W,3) RGB uint8 arrays with their class names.
    """
    split, norm = bundle.train, bundle.normalization
    if len(split) < count:  # a small folder: show val/test images too
        parts = (bundle.train, bundle.val, bundle.test)
        split = Split(torch.cat([s.x for s in parts]), torch.cat([s.y for s in parts]))
    if len(split) == 0:
        return []
    y = split.y.reshape(len(split), -1)[:, 0].numpy()
    classes = int(bundle.num_classes or (y.max() + 1))
    by_class = [np.flatnonzero(y == c) for c in range(classes)]
    picks: list[int] = []
    depth = 0
    while len(picks) < count and any(depth < len(ix) for ix in by_class):
        for ix in by_class:
            if depth < len(ix) and len(picks) < count:
                picks.append(int(ix[depth]))
        depth += 1
    x = split.x[picks].to(torch.float32)
    channels = int(norm.get("channels", x.shape[1] if x.dim() == 4 else 1))
    if norm.get("size"):
        height, width = (int(v) for v in norm["size"])
    elif x.dim() == 4:
        height, width = x.shape[-2:]
    else:  # a flat vector without a recorded size: square if it can be
        side = math.isqrt(x.shape[1] // channels)
        height = width = side
    if channels * height * width != x[0].numel():
        return []  # cannot be drawn as a picture
    x = x.reshape(len(picks), channels, height, width)
    mean = torch.tensor(norm.get("mean", [0.0] * channels), dtype=torch.float32)
    std = torch.tensor(norm.get("std", [1.0] * channels), dtype=torch.float32)
    x = x * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
    pixels = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    names = bundle.class_names or [str(c) for c in range(classes)]
    out = []
    for img, label in zip(pixels, y[picks]):
        arr = img[0].numpy() if channels == 1 else img.permute(1, 2, 0).numpy()
        out.append((np.ascontiguousarray(arr), str(names[int(label)])))
    return out


def series_parts(bundle: DataBundle) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first target column of each split in raw units, rebuilt from absolute windows.

    x[i, j] is row i+j of the split and y[i] is row i+T-1+horizon, so the windows' first row,
    their last rows and the targets together cover the whole split. Returns (split name, row
    numbers in the file, values).
    """
    norm = bundle.normalization
    t = int(norm["target_index"][0])
    window, horizon = int(norm["window"]), int(norm["horizon"])
    mean, std = float(norm["mean"][t]), float(norm["std"][t])
    parts, start = [], 0
    for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
        n_windows = len(split)
        if n_windows == 0:
            continue
        x = split.x[:, :, t].numpy().astype(np.float64)
        y = split.y[:, 0].numpy().astype(np.float64)
        z = np.full(n_windows + window + horizon - 1, np.nan)
        z[:window] = x[0]
        z[window - 1:window - 1 + n_windows] = x[:, -1]
        z[window - 1 + horizon:window - 1 + horizon + n_windows] = y
        rows = np.arange(start, start + len(z), dtype=np.float64)
        parts.append((name, rows, z * std + mean))
        start += len(z)
    return parts


def text_excerpt(bundle: DataBundle, limit: int) -> str:
    """A readable stretch of the training text, decoded from the first windows."""
    vocab = bundle.normalization["vocab"]
    x = bundle.train.x
    if len(x) == 0:
        return ""
    window = x.shape[1]

    def text(ids) -> str:
        return "".join(vocab[int(i)] for i in ids)

    y = bundle.train.y
    follows = y[:, -1] if y.dim() == 2 else y  # the character right after each window
    n = min(len(x), 40)
    # windows placed end to end (stride T): the character after one starts the next
    if n > 1 and all(int(follows[i]) == int(x[i + 1, 0]) for i in range(n - 1)):
        out = ""
        for i in range(len(x)):
            out += text(x[i])
            if len(out) >= limit:
                break
        return out[:limit]
    stride = next((s for s in range(1, window)
                   if n > 1 and torch.equal(x[1, :window - s], x[0, s:])), None)
    if stride is not None:
        out = text(x[0])
        for i in range(1, len(x)):
            out += text(x[i, window - stride:])
            if len(out) >= limit:
                break
        return out[:limit]
    # windows further apart than T: show them one by one
    pieces, total = [], 0
    for i in range(len(x)):
        pieces.append(text(x[i]))
        total += window + 3
        if total >= limit:
            break
    return "\n…\n".join(pieces)
