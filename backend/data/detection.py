"""Object-detection datasets: images with boxes and classes, for the "detection" task.

The interface the detection task, its heads and templates build on::

    ds = load_detection_dataset("digits-detection", "train", augment=True)
    image, target = ds[i]
    images, targets = collate([ds[0], ds[1], ...])

- ``image``: float32 tensor (C, H, W): pixels scaled to [0, 1], then normalised per channel
  with the train split's mean/std (``ds.normalization``, the same record the image
  classification datasets give; ``normalize="imagenet"`` for a pretrained backbone).
- ``target``: ``{"boxes": float32 (K, 4), "labels": int64 (K,)}``; boxes are x1, y1, x2, y2
  in pixels of ``image`` (0 <= x1 < x2 <= W, 0 <= y1 < y2 <= H; x2/y2 are the far edges, so
  a box's width is x2 - x1), labels index ``ds.class_names``. K may be 0.
- ``collate``: images stacked to (B, C, H, W), targets kept as a list of B dicts.
- ``augment``: box-aware, drawn per item from torch's global RNG: a box-safe zoom in/out
  (no object is cut), colour jitter, and a left-right flip that is *off* for
  "digits-detection" (digits are not mirror-symmetric) and on for other datasets by default
  (pass a :class:`DetectionAugment` to choose).

``name_or_path``: "digits-detection" (generated offline on first use, see
``detection_digits``), a folder of COCO files (``train.json``, ``val.json``, ``test.json``;
a split that is missing is carved from train: test 20%, val 10%, fixed seed) or one COCO
``.json`` file. YOLO and Pascal VOC folders become such a folder with
``detection_formats.import_yolo`` / ``import_voc``.

The data room also registers "digits-detection" and "detection_folder" for ``load_dataset``:
a :class:`DetectionBundle` (task "detection") whose splits hold ``x`` (N, C, H, W) normalised
and ``y`` (N, M, 5) float32 rows x1, y1, x2, y2, label padded with label -1 (``unpad_targets``
turns it back into target dicts; ``augment_batch`` augments such a batch).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from backend.data.base import DataBundle, DataError, ImageLayout, Split, option
from backend.data.detection_augment import DetectionAugment
from backend.data.detection_coco import CocoSplit, find_splits, normalize_split, read_coco
from backend.data.detection_digits import DATASET_NAME as DIGITS
from backend.data.detection_digits import dataset_folder
from backend.data.images import normalization_stats

log = logging.getLogger(__name__)

Target = dict[str, torch.Tensor]
CARVE = {"test": 0.2, "val": 0.1}  # shares of train carved off when a split file is missing


# --- the dataset ---------------------------------------------------------------------------

class DetectionDataset(Dataset):
    """Images (kept as uint8) and their boxes; items as described in the module docstring."""

    def __init__(self, images: list[torch.Tensor], targets: list[Target],
                 class_names: list[str], normalization: dict[str, Any],
                 augment: DetectionAugment | None = None, files: list[Path] | None = None,
                 source: str = "") -> None:
        self.images = images            # uint8 (C, H, W) each
        self.targets = targets
        self.class_names = list(class_names)
        self.normalization = normalization
        self.augment = augment
        self.files = files or []
        self.source = source
        self._mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(normalization["std"], dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def raw(self, index: int) -> tuple[torch.Tensor, Target]:
        """Image ``index`` as stored (uint8, no augmentation, not normalised) and its target."""
        t = self.targets[index]
        return self.images[index], {"boxes": t["boxes"].clone(), "labels": t["labels"].clone()}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        image, target = self.raw(index)
        x = image.float().div_(255.0)
        boxes, labels = target["boxes"], target["labels"]
        if self.augment is not None:
            x, boxes, labels = self.augment(x, boxes, labels)
        return (x - self._mean) / self._std, {"boxes": boxes, "labels": labels}


def collate(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[torch.Tensor, list[Target]]:
    """For a DataLoader: images stacked (B, C, H, W), targets kept as a list of dicts."""
    images, targets = zip(*batch) if batch else ((), ())
    if not images:
        return torch.empty(0), []
    if len({tuple(i.shape) for i in images}) > 1:
        raise DataError("images of different sizes cannot form one batch; load the dataset "
                        "with size=(H, W) so every image is resized (boxes with it)")
    return torch.stack(list(images)), list(targets)


def pad_targets(targets: Sequence[Target], max_boxes: int | None = None) -> torch.Tensor:
    """Target dicts -> (N, M, 5) float32: x1, y1, x2, y2, label; unused rows have label -1."""
    m = max_boxes if max_boxes is not None else max((len(t["labels"]) for t in targets),
                                                    default=0)
    out = torch.zeros(len(targets), max(m, 1), 5)
    out[:, :, 4] = -1
    for i, t in enumerate(targets):
        k = len(t["labels"])
        if k > m:
            raise DataError(f"image {i} has {k} boxes, more than the {m} the batch holds")
        out[i, :k, :4] = t["boxes"]
        out[i, :k, 4] = t["labels"].float()
    return out


def unpad_targets(y: torch.Tensor) -> list[Target]:
    """(N, M, 5) padded rows -> a list of target dicts (the rows with label >= 0)."""
    result = []
    for rows in y:
        keep = rows[:, 4] >= 0
        result.append({"boxes": rows[keep, :4].float(), "labels": rows[keep, 4].long()})
    return result


def augment_batch(x: torch.Tensor, y: torch.Tensor, augment: DetectionAugment,
                  normalization: dict[str, Any], generator: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a normalised batch x (N, C, H, W) with padded targets y (N, M, 5), as the
    in-memory trainer holds them (:meth:`DetectionAugment.batch`)."""
    return augment.batch(x, y, normalization, generator)


# --- loading -------------------------------------------------------------------------------

def _coco_files(name_or_path: str | Path, options: dict[str, Any] | None) -> tuple[
        dict[str, Path], str]:
    """The COCO files of a named or given dataset, and a description of it."""
    if str(name_or_path) == DIGITS:
        folder = dataset_folder(options)
        return find_splits(folder), (f"{DIGITS}: scikit-learn handwritten digits on crops of "
                                     f"its sample photos, generated in {folder}")
    return find_splits(name_or_path), f"COCO detection dataset {name_or_path}"


def _split_entries(files: dict[str, Path], split: str) -> tuple[CocoSplit, list[int]]:
    """The COCO file that holds ``split`` and the positions of its images in it."""
    source = files.get("train")
    if source is None:
        raise DataError(f"{next(iter(files.values())).parent}: no train.json; a detection "
                        "dataset needs a train split (val and test can be carved from it)")
    carving = any(name not in files for name in CARVE)
    if split in files and not (split == "train" and carving):
        coco = read_coco(files[split])
        return coco, list(range(len(coco.images)))
    coco = read_coco(source)
    order = np.random.default_rng(0).permutation(len(coco.images))  # fixed: a stable test
    n = len(order)
    cuts: dict[str, np.ndarray] = {}
    start = 0
    for name in ("test", "val"):
        if name not in files:
            take = max(1, int(round(n * CARVE[name])))
            cuts[name] = order[start:start + take]
            start += take
    cuts["train"] = order[start:]
    chosen = cuts.get(split, np.array([], dtype=int))
    if len(chosen) == 0:
        raise DataError(f"{source}: {n} images are too few to carve train/validation/test "
                        "splits from; add images or give val.json and test.json")
    return coco, sorted(int(i) for i in chosen)


def _read_images(coco: CocoSplit, positions: list[int], channels: int,
                 size: tuple[int, int] | None) -> tuple[list[torch.Tensor], list[Target],
                                                        list[Path]]:
    import cv2

    label_of = coco.label_of()
    images, targets, files = [], [], []
    for pos in positions:
        entry = coco.images[pos]
        path = coco.image_path(entry)
        try:
            buf = np.fromfile(str(path), dtype=np.uint8)
        except OSError:
            buf = np.empty(0, np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if img is None:
            raise DataError(f"{coco.path}: image {entry.id}: {path} is not a readable image; "
                            "replace the file or remove the entry")
        if img.shape[:2] != (entry.height, entry.width):
            raise DataError(f"{coco.path}: image {entry.id}: {path.name} is "
                            f"{img.shape[1]}x{img.shape[0]} px but the file says "
                            f"{entry.width}x{entry.height}; correct 'width'/'height'")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if channels == 3 else cv2.COLOR_BGR2GRAY)
        boxes = torch.tensor([b.xyxy for b in coco.boxes[entry.id]],
                             dtype=torch.float32).reshape(-1, 4)
        if size is not None and img.shape[:2] != size:
            h, w = size
            shrink = h * w < entry.height * entry.width
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink
                             else cv2.INTER_LINEAR)
            boxes *= torch.tensor([w / entry.width, h / entry.height] * 2)
        if img.ndim == 2:
            img = img[:, :, None]
        images.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
        labels = torch.tensor([label_of[b.category_id] for b in coco.boxes[entry.id]],
                              dtype=torch.int64)
        targets.append({"boxes": boxes, "labels": labels})
        files.append(path)
    return images, targets, files


def _stats(images: list[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Per-channel mean/std in [0, 1] of uint8 images, in float64 sums image by image (no
    float copy of the whole split)."""
    sums = torch.zeros(images[0].shape[0], dtype=torch.float64)
    squares, count = torch.zeros_like(sums), 0
    for start in range(0, len(images), 256):
        chunk = images[start:start + 256]
        if len({tuple(i.shape) for i in chunk}) == 1:
            parts = [torch.stack(chunk).transpose(0, 1).reshape(len(sums), -1)]
        else:
            parts = [i.reshape(len(sums), -1) for i in chunk]
        for part in parts:
            v = part.to(torch.float32)
            sums += v.sum(1, dtype=torch.float64)
            squares += (v * v).sum(1, dtype=torch.float64)
            count += part.shape[1]
    mean = sums / count / 255.0
    std = (squares / count / 255.0 ** 2 - mean ** 2).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return mean.tolist(), std.tolist()


def load_detection_dataset(name_or_path: str | Path, split: str, augment: bool | DetectionAugment
                           = False, *, size: tuple[int, int] | None = None, channels: int = 3,
                           normalize: str = "dataset", options: dict[str, Any] | None = None
                           ) -> DetectionDataset:
    """One split of a detection dataset as a torch Dataset (see the module docstring).

    ``split``: "train", "val" ("validation") or "test". ``augment``: True for the default
    augmentation of this dataset, a :class:`DetectionAugment` to choose, False for none.
    ``size`` (H, W): resize every image (boxes scaled alike); None keeps the files' size.
    ``channels``: 3 (RGB) or 1 (grayscale). ``normalize``: "dataset" (train mean/std) or
    "imagenet". ``options``: the "digits-detection" generator options (``root``, sizes...).
    """
    split = normalize_split(split)
    if channels not in (1, 3):
        raise DataError(f"detection images can be delivered with 1 or 3 channels, not "
                        f"{channels}")
    files, source = _coco_files(name_or_path, options)
    datasets = _load_splits(files, (split,), channels, size, normalize, source)
    ds = datasets[split]
    if augment is True:
        ds.augment = DetectionAugment(flip=str(name_or_path) != DIGITS)
    elif isinstance(augment, DetectionAugment):
        ds.augment = augment
    return ds


def _load_splits(files: dict[str, Path], splits: Sequence[str], channels: int,
                 size: tuple[int, int] | None, normalize: str, source: str
                 ) -> dict[str, DetectionDataset]:
    loaded: dict[str, tuple[list[torch.Tensor], list[Target], list[Path]]] = {}
    class_names: list[str] | None = None
    for name in dict.fromkeys(("train", *splits)):  # train first: its statistics normalise
        coco, positions = _split_entries(files, name)
        if class_names is None:
            class_names = coco.class_names
        elif coco.class_names != class_names:
            raise DataError(f"{coco.path}: its categories {coco.class_names} differ from the "
                            f"train split's {class_names}; give every split the same "
                            "categories")
        loaded[name] = _read_images(coco, positions, channels, size)
    assert class_names is not None
    train_images = loaded["train"][0]
    if not train_images:
        raise DataError(f"{files.get('train')}: the train split has no images; add images")
    layout = ImageLayout(channels, *train_images[0].shape[-2:], flatten=False)
    stats = normalization_stats({"normalize": normalize}, layout, "detection") \
        or _stats(train_images)
    normalization = {
        "kind": "image", "mean": stats[0], "std": stats[1],
        "size": list(train_images[0].shape[-2:]), "channels": channels, "flatten": False,
        "value_range": [0.0, 1.0], "color": "rgb" if channels == 3 else "gray",
        "resize": "area", "boxes": "xyxy_pixels",
    }
    return {name: DetectionDataset(*loaded[name][:2], class_names, normalization,
                                   files=loaded[name][2], source=source)
            for name in splits}


# --- the data room's registry ------------------------------------------------------------

@dataclass
class DetectionBundle(DataBundle):
    """A detection dataset as the in-memory trainer holds it (see the module docstring);
    ``datasets`` are the same splits as :class:`DetectionDataset` s (no augmentation)."""

    datasets: dict[str, DetectionDataset] = field(default_factory=dict)
    folder: str = ""


def load_detection_bundle(options: dict[str, Any], input_kind: str,
                          input_shape: tuple[int, ...], seed: int, name: str) -> DataBundle:
    """The ``load_dataset`` loader of "digits-detection" and "detection_folder" (option
    ``path``): images at the Input's size (boxes scaled alike), padded targets."""
    if input_kind != "image" or len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise DataError(f"dataset '{name}' gives images with boxes; set the Input node to "
                        "kind 'image' with shape C,H,W (C = 1 or 3, e.g. 3,96,96)")
    channels, h, w = (int(d) for d in input_shape)
    normalize = option(options, "normalize", "dataset", str, name)
    if name == DIGITS:
        target: str | Path = DIGITS
        generator = {k: v for k, v in options.items() if k != "normalize"}
    else:
        path = option(options, "path", None, str, name)
        if not path:
            raise DataError(f"dataset '{name}': choose a folder with COCO files (option "
                            "'path'): train.json (val.json, test.json) beside the images")
        target, generator = path, None
    files, source = _coco_files(target, generator)
    ds = _load_splits(files, ("train", "val", "test"), channels, (h, w), normalize, source)
    most = max((len(t["labels"]) for d in ds.values() for t in d.targets), default=0)

    mean = torch.tensor(ds["train"].normalization["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(ds["train"].normalization["std"]).view(1, -1, 1, 1)

    def split(d: DetectionDataset) -> Split:
        x = torch.stack(d.images).float().div_(255.0).sub_(mean).div_(std) if len(d) else \
            torch.empty(0, channels, h, w)
        return Split(x, pad_targets(d.targets, most))

    first = next(iter(files.values()))
    return DetectionBundle(
        name=name, task="detection", train=split(ds["train"]), val=split(ds["val"]),
        test=split(ds["test"]), sample_shape=(channels, h, w), target_shape=(max(most, 1), 5),
        num_classes=len(ds["train"].class_names), class_names=ds["train"].class_names,
        normalization=ds["train"].normalization, source=source, datasets=ds,
        folder=str(first.parent))
