"""Image classification datasets: scikit-learn digits, torchvision MNIST/Fashion-MNIST/CIFAR-10,
and a folder of images with one subfolder per class.

Every loader produces float32 (N,C,H,W) images in [0, 1] at the Input node's size, then
:func:`backend.data.base.image_bundle` normalises them with train-split statistics.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.data.base import (
    DataBundle, DataError, ImageLayout, image_bundle, image_layout, images_to_layout, option,
    split_indices, three_way_split,
)
from backend.data.download import DownloadCancelled, exclusive, prefetch_torchvision

log = logging.getLogger(__name__)

DEFAULT_ROOT = "~/.cache/layerforge/datasets"

# torchvision's ImageNet-pretrained backbones were trained on inputs normalised with these.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
NORMALIZE_CHOICES = ("dataset", "imagenet")


def normalization_stats(options: dict[str, Any], layout: ImageLayout,
                        name: str) -> tuple[list[float], list[float]] | None:
    """Option ``normalize``: "dataset" (default: the train split's own mean/std) or "imagenet"
    (the statistics a pretrained backbone expects; RGB only). None means "from the data"."""
    how = option(options, "normalize", "dataset", str, name)
    if how not in NORMALIZE_CHOICES:
        raise DataError(f"dataset '{name}': option 'normalize' must be one of "
                        f"{', '.join(NORMALIZE_CHOICES)}, got {how!r}")
    if how == "dataset":
        return None
    if layout.channels != 3:
        raise DataError(f"dataset '{name}': ImageNet normalisation is for colour images; set "
                        f"the Input to 3 channels or the option 'normalize' to 'dataset'")
    return list(IMAGENET_MEAN), list(IMAGENET_STD)


# --- scikit-learn digits ----------------------------------------------------------------------

def load_digits(options: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
                seed: int, name: str = "digits") -> DataBundle:
    """The 1,797 real 8x8 handwritten digits shipped with scikit-learn (no download).

    Test = stratified 20% with random_state 0 (the split of the well-known SVC benchmark);
    val = stratified 10% of the rest, seeded.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    layout = image_layout(name, input_kind, input_shape)
    digits = sk_load_digits()
    y = np.asarray(digits.target, dtype=np.int64)
    # values are ink counts 0..16 per 4x4 block of the original 32x32 bitmaps
    x = images_to_layout(np.asarray(digits.images, dtype=np.float32), layout, scale=1.0 / 16.0)
    train, val, test = three_way_split(y, seed, "digits")
    yt = torch.from_numpy(y)
    return image_bundle(
        name, layout,
        (x[train], yt[train]), (x[val], yt[val]), (x[test], yt[test]),
        class_names=[str(d) for d in range(10)],
        source="scikit-learn load_digits (1,797 real 8x8 handwritten digits, UCI ML "
               "hand-written digits data set)",
        resize_mode="bilinear",
    )


# --- torchvision datasets ---------------------------------------------------------------------

_TORCHVISION: dict[str, tuple[str, str]] = {
    # name -> (torchvision class, human title)
    "mnist": ("MNIST", "MNIST handwritten digits"),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST clothing images"),
    "cifar10": ("CIFAR10", "CIFAR-10 small colour photos"),
}


def load_torchvision(options: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
                     seed: int, name: str) -> DataBundle:
    """MNIST / Fashion-MNIST / CIFAR-10 through torchvision, downloaded once into ``root``.

    options: ``root`` (default ~/.cache/layerforge/datasets), ``download`` (default true).
    Val = a seeded stratified 10% of the official training set; test = the official test set.
    """
    import torchvision.datasets as tvd  # slow import: only when this dataset is used

    layout = image_layout(name, input_kind, input_shape)
    stats = normalization_stats(options, layout, name)
    cls_name, title = _TORCHVISION[name]
    root = os.path.expanduser(str(option(options, "root", DEFAULT_ROOT, str, name)))
    download = option(options, "download", True, bool, name)
    cls = getattr(tvd, cls_name)

    def not_found(exc: Exception) -> DataError:
        if download:
            hint = ("the download failed (are you online?). Download it on a connected "
                    f"machine and copy the folder into {root}, or choose another dataset")
        else:
            hint = ("downloading is turned off. Turn on 'download' in the dataset options "
                    f"(needs internet once) or copy the {title} files into {root}")
        return DataError(f"dataset '{name}': not found in {root}: {hint}. ({exc})")

    def open_split(train: bool) -> Any:
        try:
            return cls(root=root, train=train, download=download)
        except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError/...
            raise not_found(exc) from exc

    # one loader at a time per dataset folder: a second one waits, then finds the files
    with exclusive(os.path.join(root, cls_name)):
        if download:  # ours: progress and cancel (download.reporting); torchvision unpacks
            try:
                prefetch_torchvision(cls, root, title)
            except DownloadCancelled:
                raise
            except DataError as exc:
                raise not_found(exc) from exc
        train_set, test_set = open_split(True), open_split(False)

    def arrays(ds: Any, idx: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # whole-array attributes, not a per-item PIL loop: seconds instead of minutes;
        # index the uint8 data before converting so no float copy of the whole set is made
        data, y = ds.data, torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
        if idx is not None:
            data, y = data[idx], y[idx]
        channels_last = isinstance(data, np.ndarray) and data.ndim == 4  # CIFAR: (N,H,W,3)
        return images_to_layout(data, layout, scale=1.0 / 255.0, channels_last=channels_last), y

    y_all = np.asarray(train_set.targets, dtype=np.int64)
    train_idx, val_idx = split_indices(y_all, 0.1, seed, f"dataset '{name}'")
    classes = [str(c) for c in getattr(train_set, "classes", range(int(y_all.max()) + 1))]
    test = arrays(test_set)
    return image_bundle(
        name, layout, arrays(train_set, train_idx), arrays(train_set, val_idx), test,
        class_names=classes,
        source=f"torchvision {cls_name} ({title}; {len(y_all):,} train + {len(test[1]):,} test) "
               f"from {root}",
        resize_mode="bilinear", stats=stats,
    )


# --- a folder of images -----------------------------------------------------------------------

def _read_image(path: Path, channels: int, height: int, width: int) -> np.ndarray | None:
    """Read one image as uint8 (H,W,C) at the target size, or None when unreadable."""
    import cv2

    try:
        # imdecode of the raw bytes instead of imread: imread cannot open non-ASCII paths on Windows
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    img = cv2.imdecode(buf, flag)
    if img is None:
        return None
    if channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    return img


def load_image_folder(options: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
                      seed: int, name: str = "image_folder") -> DataBundle:
    """Images in ``path``/<class name>/<image>; sorted subfolder names are the class names.

    Unreadable files are skipped with a warning; test = stratified 20%, val = 10% of the rest.
    Option ``normalize``: "dataset" or "imagenet" (for a pretrained backbone).
    """
    layout = image_layout(name, input_kind, input_shape)
    stats = normalization_stats(options, layout, name)
    raw_path = option(options, "path", None, str, name)
    if not raw_path:
        raise DataError(f"dataset '{name}': choose a folder (option 'path') that holds one "
                        "subfolder of images per class")
    folder = Path(os.path.expanduser(raw_path))
    if not folder.is_dir():
        raise DataError(f"dataset '{name}': folder {folder} does not exist; choose a folder "
                        "that holds one subfolder of images per class")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"dataset '{name}': folder {folder} has {len(class_dirs)} class "
                        "subfolder(s); it needs at least 2 (one subfolder of images per class)")

    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        count = 0
        for file in sorted(class_dir.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            img = _read_image(file, layout.channels, layout.height, layout.width)
            if img is None:
                log.warning("image_folder: skipped %s: not a readable image", file)
                continue
            images.append(img)
            labels.append(label)
            count += 1
        if count == 0:
            raise DataError(f"dataset '{name}': class folder {class_dir} has no readable "
                            "images; add images (PNG, JPEG, BMP, ...) or remove the folder")

    arr = np.stack(images)  # (N,H,W,C) uint8
    y = np.asarray(labels, dtype=np.int64)
    x = images_to_layout(arr, ImageLayout(layout.channels, layout.height, layout.width, False),
                         scale=1.0 / 255.0, channels_last=True)
    train, val, test = three_way_split(y, seed, f"dataset '{name}' ({folder})",
                                       test_random_state=seed)
    yt = torch.from_numpy(y)
    return image_bundle(
        name, layout,
        (x[train], yt[train]), (x[val], yt[val]), (x[test], yt[test]),
        class_names=[d.name for d in class_dirs],
        source=f"image folder {folder} ({len(y):,} images, {len(class_dirs)} classes)",
        resize_mode="area", stats=stats,
    )
