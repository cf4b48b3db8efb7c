"""Datasets for training: each loads into memory as tensors shaped for the model's Input node.

``load_dataset({"name": "digits"}, "image", (1, 28, 28))`` returns a :class:`DataBundle` with
train/val/test :class:`Split` s, the task, class names and the plain-data ``normalization``
record inference needs. Every problem a user can cause raises :class:`DataError`.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from backend.data.augment import Augmenter
from backend.data.base import DataBundle, DataError, Split, check_input
from backend.data.detection import load_detection_bundle
from backend.data.download import DownloadCancelled, DownloadProgress, reporting
from backend.data.images import load_digits, load_image_folder, load_torchvision
from backend.data.text import load_text
from backend.data.timeseries import load_csv_series

__all__ = ["Split", "DataBundle", "DataError", "load_dataset", "DATASET_NAMES", "Augmenter",
           "DownloadCancelled", "DownloadProgress", "reporting"]

log = logging.getLogger(__name__)

Loader = Callable[[dict[str, Any], str, tuple[int, ...], int, str], DataBundle]

_LOADERS: dict[str, Loader] = {
    "digits": load_digits,
    "mnist": load_torchvision,
    "fashion_mnist": load_torchvision,
    "cifar10": load_torchvision,
    "image_folder": load_image_folder,
    "csv_series": load_csv_series,
    "text": load_text,
    # object detection (task "detection"): backend/data/detection.py documents the targets
    "digits-detection": load_detection_bundle,
    "detection_folder": load_detection_bundle,
}

DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(spec: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
                 seed: int = 0) -> DataBundle:
    """Load the dataset named in ``spec`` ({"name": ..., "options": {...}}) for an Input node.

    ``input_kind``/``input_shape`` are the Input node's kind and per-sample shape; the data is
    delivered exactly in that shape or a DataError says what to change. Splits are
    deterministic given ``seed``.
    """
    if not isinstance(spec, dict):
        raise DataError(f"the dataset setting must be an object like {{\"name\": \"digits\"}}, "
                        f"got {spec!r}")
    name = spec.get("name")
    if name not in _LOADERS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise DataError(f"dataset '{name}': 'options' must be an object, got {options!r}")
    shape = check_input(input_kind, input_shape)
    bundle = _LOADERS[name](options, input_kind, shape, int(seed), name)
    log.info("loaded %s: %d train / %d val / %d test samples of shape %s", name,
             len(bundle.train), len(bundle.val), len(bundle.test), bundle.sample_shape)
    return bundle
