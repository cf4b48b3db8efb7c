""""Find the digits": LayerForge's offline object-detection dataset, generated on first use.

Each image is a random crop of one of scikit-learn's bundled photos (``china.jpg``,
``flower.jpg``) with 1-5 of scikit-learn's real 8x8 handwritten digits pasted on it, scaled
up (bicubic) to 16-40 px tall and blended in as dark ink on light backgrounds or light ink on
dark ones. The classes are "0".."9"; a box is the tight extent of the ink that was drawn,
and boxes never intersect. Each split draws its digits from its own range of sample indices
(train 0-1299, val 1300-1549, test 1550-1796), so test digits were never seen in training.

Everything follows from the :class:`DigitsDetectionSpec` (sizes, counts, seed) and
``GENERATOR_VERSION``: the same spec gives byte-identical files, recorded in each COCO
file's ``info``. The folder is generated once into the dataset cache and renamed into place
when complete.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from backend.data.base import DataError, option
from backend.data.detection_coco import (
    SPLITS, CocoBox, CocoImage, atomic_folder, coco_dict, write_json,
)
from backend.data.download import exclusive

log = logging.getLogger(__name__)

# bump when the drawing changes: a new version lands in a new cache folder
GENERATOR_VERSION = 1
DATASET_NAME = "digits-detection"
DEFAULT_ROOT = "~/.cache/layerforge/datasets"
CLASS_NAMES = [str(d) for d in range(10)]
# disjoint ranges of scikit-learn's 1,797 digit samples, one per split
DIGIT_RANGES: dict[str, tuple[int, int]] = {"train": (0, 1300), "val": (1300, 1550),
                                            "test": (1550, 1797)}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
INK_THRESHOLD = 0.2   # alpha below this is not drawn, so the box holds every changed pixel
GAP = 2               # px between the boxes of two digits


@dataclass(frozen=True)
class DigitsDetectionSpec:
    """The generator's parameters (the dataset options of "digits-detection")."""

    image_size: int = 96
    train: int = 2000
    val: int = 300
    test: int = 300
    min_digits: int = 1
    max_digits: int = 5
    # digit height in px before the tight box is taken; below 16 px (11 px at a 64 px Input)
    # a small detector confuses the 8x8 digits' classes (measured: 76% vs 88% right)
    min_size: int = 16
    max_size: int = 40
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataError(f"dataset '{DATASET_NAME}': option '{f.name}' must be a whole "
                                f"number, got {value!r}")
        if not 32 <= self.image_size <= 512:
            raise DataError(f"dataset '{DATASET_NAME}': 'image_size' must be 32..512 px, got "
                            f"{self.image_size}")
        if min(self.train, self.val, self.test) < 1 or self.train > 100_000:
            raise DataError(f"dataset '{DATASET_NAME}': 'train', 'val' and 'test' must be at "
                            "least 1 image (train at most 100,000)")
        if not 0 <= self.min_digits <= self.max_digits <= 20 or self.max_digits < 1:
            raise DataError(f"dataset '{DATASET_NAME}': need 0 <= min_digits <= max_digits "
                            f"<= 20 and max_digits >= 1, got {self.min_digits}..{self.max_digits}")
        if not 8 <= self.min_size <= self.max_size <= self.image_size:
            raise DataError(f"dataset '{DATASET_NAME}': need 8 <= min_size <= max_size <= "
                            f"image_size, got {self.min_size}..{self.max_size} for "
                            f"{self.image_size} px images")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "DigitsDetectionSpec":
        values = {f.name: option(options, f.name, f.default, int, DATASET_NAME)
                  for f in fields(cls)}
        return cls(**values)

    def count(self, split: str) -> int:
        return int(getattr(self, split))

    def key(self) -> str:
        """A short name for this spec's cache folder."""
        text = json.dumps({"version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return f"v{GENERATOR_VERSION}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@dataclass
class Rendered:
    """One generated image and what was drawn on it."""

    image: np.ndarray                          # (H, W, 3) uint8 RGB
    boxes: list[tuple[int, int, int, int]]     # x1, y1, x2, y2 (x2/y2 exclusive)
    labels: list[int]                          # the digit 0..9 per box
    samples: list[int]                         # scikit-learn sample index per box
    ink: np.ndarray                            # (H, W) float alpha of all digits drawn


@lru_cache(maxsize=1)
def _sources() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """scikit-learn's digits (images in [0, 1], targets) and its two sample photos."""
    from sklearn.datasets import load_digits, load_sample_images

    digits = load_digits()
    photos = tuple(np.ascontiguousarray(p) for p in load_sample_images().images)
    return (np.asarray(digits.images, dtype=np.float32) / 16.0,
            np.asarray(digits.target, dtype=np.int64), photos)


def _background(rng: np.random.Generator, size: int, photos: tuple[np.ndarray, ...]
                ) -> np.ndarray:
    import cv2

    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    side = int(rng.integers(size, min(h, w, 3 * size) + 1))
    top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    crop = cv2.resize(photo[top:top + side, left:left + side], (size, size),
                      interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    bg = crop.astype(np.float32) / 255.0
    mean = bg.mean(axis=(0, 1), keepdims=True)
    return mean + (bg - mean) * rng.uniform(0.6, 1.0)  # a calmer photo, so digits stand out


def render_image(spec: DigitsDetectionSpec, split: str, index: int) -> Rendered:
    """Draw image ``index`` of ``split``; depends only on (spec, split, index)."""
    import cv2

    digit_images, targets, photos = _sources()
    rng = np.random.default_rng([spec.seed, _SPLIT_CODE[split], index, GENERATOR_VERSION])
    size = spec.image_size
    canvas = _background(rng, size, photos)
    ink_map = np.zeros((size, size), dtype=np.float32)
    lo, hi = DIGIT_RANGES[split]
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[int] = []
    samples: list[int] = []
    for _ in range(int(rng.integers(spec.min_digits, spec.max_digits + 1))):
        sample = int(rng.integers(lo, hi))
        ph = int(rng.integers(spec.min_size, spec.max_size + 1))
        pw = max(8, int(round(ph * rng.uniform(0.8, 1.1))))
        alpha = cv2.resize(digit_images[sample], (pw, ph), interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(alpha * rng.uniform(1.3, 1.8), 0.0, 1.0)
        alpha[alpha < INK_THRESHOLD] = 0.0
        rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
        if len(rows) == 0:
            continue
        r1, r2, c1, c2 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        alpha = alpha[r1:r2, c1:c2]
        bh, bw = r2 - r1, c2 - c1
        for _try in range(30):
            x, y = int(rng.integers(size - bw + 1)), int(rng.integers(size - bh + 1))
            box = (x, y, x + bw, y + bh)
            if all(box[0] >= b[2] + GAP or b[0] >= box[2] + GAP or box[1] >= b[3] + GAP
                   or b[1] >= box[3] + GAP for b in boxes):
                break
        else:
            continue  # no room left for this digit
        region = canvas[y:y + bh, x:x + bw]
        # the background's brightness where the strokes land picks dark or light ink
        luma = region @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        under = float((luma * alpha).sum() / alpha.sum())
        ink = rng.uniform(0.0, 0.2, 3) if under > 0.5 else rng.uniform(0.8, 1.0, 3)
        a = alpha[:, :, None]
        canvas[y:y + bh, x:x + bw] = region * (1.0 - a) + ink.astype(np.float32) * a
        ink_map[y:y + bh, x:x + bw] = np.maximum(ink_map[y:y + bh, x:x + bw], alpha)
        boxes.append(box)
        labels.append(int(targets[sample]))
        samples.append(sample)
    image = np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)
    return Rendered(image, boxes, labels, samples, ink_map)


def _info(spec: DigitsDetectionSpec, split: str) -> dict[str, Any]:
    lo, hi = DIGIT_RANGES[split]
    return {
        "description": "LayerForge 'find the digits': scikit-learn's handwritten digits "
                       "pasted on crops of scikit-learn's sample photos",
        "generator": "backend.data.detection_digits",
        "generator_version": GENERATOR_VERSION,
        "seed": spec.seed,
        "parameters": asdict(spec),
        "split": split,
        "digit_samples": [lo, hi - 1],
        "sources": "sklearn.datasets.load_digits (UCI ML hand-written digits), "
                   "sklearn.datasets.load_sample_images (china.jpg, flower.jpg)",
    }


def generate(spec: DigitsDetectionSpec, dest: str | Path, overwrite: bool = False) -> Path:
    """Write the dataset for ``spec`` to folder ``dest`` (atomically): ``<split>.json`` in
    COCO format and ``images/<split>/<n>.png``."""
    import cv2

    started = time.perf_counter()
    dest = Path(dest)
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        ann_id = 1
        for split in SPLITS:
            (tmp / "images" / split).mkdir(parents=True)
            images: list[CocoImage] = []
            boxes: dict[int, list[CocoBox]] = {}
            for i in range(spec.count(split)):
                r = render_image(spec, split, i)
                name = f"images/{split}/{i:05d}.png"
                ok, png = cv2.imencode(".png", cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_PNG_COMPRESSION, 1])
                if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
                    raise DataError(f"could not encode {name}")
                (tmp / name).write_bytes(png.tobytes())
                image = CocoImage(i + 1, name, spec.image_size, spec.image_size)
                images.append(image)
                boxes[image.id] = []
                for (x1, y1, x2, y2), label in zip(r.boxes, r.labels):
                    boxes[image.id].append(CocoBox(ann_id, image.id, label,
                                                   (x1, y1, x2 - x1, y2 - y1)))
                    ann_id += 1
            write_json(tmp / f"{split}.json",
                       coco_dict(images, boxes, list(enumerate(CLASS_NAMES)),
                                 _info(spec, split)))
    log.info("%s: generated %d images in %.1f s into %s", DATASET_NAME,
             spec.train + spec.val + spec.test, time.perf_counter() - started, dest)
    return dest


def dataset_folder(options: dict[str, Any] | None = None) -> Path:
    """The folder of "digits-detection" for these options, generated on first use.

    options: the :class:`DigitsDetectionSpec` fields and ``root`` (the dataset cache,
    default ~/.cache/layerforge/datasets).
    """
    options = dict(options or {})
    root = Path(os.path.expanduser(str(option(options, "root", DEFAULT_ROOT, str,
                                              DATASET_NAME))))
    spec = DigitsDetectionSpec.from_options({k: v for k, v in options.items() if k != "root"})
    folder = root / DATASET_NAME / spec.key()
    if (folder / "test.json").is_file():
        return folder
    with exclusive(folder):  # the Data tab's preview and a run may ask at once
        if not (folder / "test.json").is_file():
            try:
                generate(spec, folder, overwrite=folder.exists())
            except OSError as exc:
                if (folder / "test.json").is_file():  # another process was quicker
                    return folder
                raise DataError(f"dataset '{DATASET_NAME}': cannot write {folder} ({exc}); "
                                "choose another folder in the option 'root'") from exc
    return folder
