"""COCO JSON, the on-disk format of LayerForge's detection datasets: reading with checks,
writing atomically.

A detection dataset is a folder holding one COCO file per split (``train.json``,
``val.json``, ``test.json``; any subset) whose images' ``file_name`` is relative to the
folder. :func:`read_coco` checks everything a user's file can get wrong (bad JSON, a missing
image file, a box outside its image or of zero size, an unknown category) and raises
:class:`DataError` naming the file, the entry and the fix. :func:`atomic_folder` builds a
folder under a temporary name and renames it into place, so a failed import or generation
leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from backend.data.base import DataError

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_ALIASES = {"validation": "val", "valid": "val"}
# boxes a rounding error outside the image are clipped; further out is an error
EDGE_TOLERANCE = 1.0


@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str  # relative to the dataset folder (forward slashes)
    width: int
    height: int


@dataclass(frozen=True)
class CocoBox:
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]  # x, y, w, h in pixels

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


@dataclass
class CocoSplit:
    """One COCO file: images, their boxes and the categories, already checked."""

    path: Path                      # the JSON file
    images: list[CocoImage]
    categories: list[tuple[int, str]]  # (id, name), sorted by id
    boxes: dict[int, list[CocoBox]] = field(default_factory=dict)  # image id -> its boxes
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def class_names(self) -> list[str]:
        return [name for _, name in self.categories]

    def label_of(self) -> dict[int, int]:
        """category id -> contiguous label 0..K-1 (categories in id order)."""
        return {cid: i for i, (cid, _) in enumerate(self.categories)}

    def image_path(self, image: CocoImage) -> Path:
        return resolve_image(self.folder, image.file_name)


def normalize_split(split: str) -> str:
    """'train', 'val' ('validation', 'valid'), 'test'; anything else is a DataError."""
    name = SPLIT_ALIASES.get(str(split).lower(), str(split).lower())
    if name not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return name


def resolve_image(folder: Path, file_name: str) -> Path:
    """Where an image named in a COCO file lives: beside the file, else in ``images/``."""
    path = folder / file_name
    if not path.exists() and (folder / "images" / file_name).exists():
        return folder / "images" / file_name
    return path


# --- reading -------------------------------------------------------------------------------

def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def load_json(path: Path) -> Any:
    """Parse a JSON file; a DataError names the file and the place of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; choose an existing COCO JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); check the file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}); fix the file or export it again") from None


def read_coco(path: str | Path, check_files: bool = True) -> CocoSplit:
    """Read and check one COCO detection file.

    Raises DataError naming the file and the entry (image id, annotation id) for: bad JSON,
    missing top-level lists, a malformed image/category/annotation entry, an image file
    that does not exist (``check_files``), an unknown image or category id, a box of zero
    size or outside its image (boxes within ``EDGE_TOLERANCE`` px of the edge are clipped).
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: a COCO file is a JSON object with 'images', 'annotations' "
                        f"and 'categories'; this one is a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: the list '{key}' is missing; a COCO detection file needs "
                            "'images', 'annotations' and 'categories' lists")

    categories: dict[int, str] = {}
    for n, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _int(cat.get("id")) \
                or not isinstance(cat.get("name"), str) or not cat["name"].strip():
            raise DataError(f"{path}: category entry {n} ({cat!r}) needs an integer 'id' and "
                            "a non-empty 'name'; fix the entry")
        if cat["id"] in categories:
            raise DataError(f"{path}: category id {cat['id']} is listed twice; give each "
                            "category its own id")
        if cat["name"] in categories.values():
            raise DataError(f"{path}: category name {cat['name']!r} is listed twice; merge "
                            "the two categories")
        categories[cat["id"]] = cat["name"]
    if not categories:
        raise DataError(f"{path}: no categories; list the object classes in 'categories'")

    images: dict[int, CocoImage] = {}
    for n, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not _int(img.get("id")) \
                or not isinstance(img.get("file_name"), str) or not img["file_name"] \
                or not _int(img.get("width")) or not _int(img.get("height")) \
                or img["width"] < 1 or img["height"] < 1:
            raise DataError(f"{path}: image entry {n} ({_short(img)}) needs an integer 'id', "
                            "a 'file_name' and positive integer 'width' and 'height'; fix "
                            "the entry")
        if img["id"] in images:
            raise DataError(f"{path}: image id {img['id']} is listed twice; give each image "
                            "its own id")
        file_name = img["file_name"].replace("\\", "/")
        if check_files and not resolve_image(path.parent, file_name).is_file():
            raise DataError(f"{path}: image {img['id']}: file {file_name!r} not found in "
                            f"{path.parent}; put the image there or remove the entry (and its "
                            "annotations)")
        images[img["id"]] = CocoImage(img["id"], file_name, img["width"], img["height"])

    boxes: dict[int, list[CocoBox]] = {i: [] for i in images}
    seen: set[int] = set()
    for n, ann in enumerate(data["annotations"]):
        where = f"annotation {ann.get('id', n) if isinstance(ann, dict) else n}"
        if not isinstance(ann, dict) or not _int(ann.get("id")) \
                or not _int(ann.get("image_id")) or not _int(ann.get("category_id")):
            raise DataError(f"{path}: {where} ({_short(ann)}) needs integer 'id', 'image_id' "
                            "and 'category_id'; fix the entry")
        if ann["id"] in seen:
            raise DataError(f"{path}: annotation id {ann['id']} is used twice; give each "
                            "annotation its own id")
        seen.add(ann["id"])
        image = images.get(ann["image_id"])
        if image is None:
            raise DataError(f"{path}: {where} refers to image {ann['image_id']}, which is not "
                            "in 'images'; add the image or remove the annotation")
        where += f" (image {image.id}, {image.file_name})"
        if ann["category_id"] not in categories:
            raise DataError(f"{path}: {where} has category_id {ann['category_id']}, which is "
                            f"not a known class (known: {_known(categories)}); add the "
                            "category or correct the annotation")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            raise DataError(f"{path}: {where}: 'bbox' must be [x, y, width, height] in "
                            f"pixels, got {bbox!r}; fix the box")
        boxes[image.id].append(CocoBox(ann["id"], image.id, ann["category_id"],
                                       check_box(bbox, image, f"{path}: {where}")))

    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return CocoSplit(path, list(images.values()), sorted(categories.items()), boxes, info)


def check_box(bbox: list[float] | tuple[float, ...], image: CocoImage,
              where: str) -> tuple[float, float, float, float]:
    """Check an (x, y, w, h) box against its image: positive size, inside (clipped within
    ``EDGE_TOLERANCE``); returns the clipped box."""
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise DataError(f"{where}: box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] has zero size; "
                        "draw the box again or remove it")
    t = EDGE_TOLERANCE
    if x < -t or y < -t or x + w > image.width + t or y + h > image.height + t:
        raise DataError(f"{where}: box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] reaches outside "
                        f"the {image.width}x{image.height} image; fix the box (or the image's "
                        "width/height)")
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(image.width)), min(y + h, float(image.height))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise DataError(f"{where}: box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] has no area "
                        "inside the image; fix or remove it")
    return (x1, y1, x2 - x1, y2 - y1)


def _short(entry: Any) -> str:
    text = repr(entry)
    return text if len(text) <= 80 else text[:77] + "..."


def _known(categories: dict[int, str]) -> str:
    items = [f"{cid}={name}" for cid, name in sorted(categories.items())]
    return ", ".join(items[:12]) + (", ..." if len(items) > 12 else "")


def find_splits(path: str | Path) -> dict[str, Path]:
    """The COCO files of a dataset folder ({split: file}), or of one .json file (as train).

    A folder holds ``train.json``/``val.json``/``test.json`` (``validation.json`` and
    ``valid.json`` count as val) or ``annotations/instances_<split>.json``.
    """
    path = Path(os.path.expanduser(str(path)))
    if path.is_file():
        return {"train": path}
    if not path.is_dir():
        raise DataError(f"{path}: no such dataset folder or COCO file; choose a folder with "
                        "train.json/val.json/test.json or a COCO .json file")
    found: dict[str, Path] = {}
    for file in sorted(path.glob("*.json")) + sorted(path.glob("annotations/instances_*.json")):
        stem = file.stem.removeprefix("instances_").lower()
        split = SPLIT_ALIASES.get(stem, stem)
        if split in SPLITS and split not in found:
            found[split] = file
    if not found:
        raise DataError(f"{path}: no COCO files found; a detection dataset folder holds "
                        "train.json (and val.json, test.json) with images beside them")
    return found


# --- writing -------------------------------------------------------------------------------

def coco_dict(images: list[CocoImage], boxes: dict[int, list[CocoBox]],
              categories: list[tuple[int, str]], info: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The plain COCO structure (keys in a fixed order, so equal data gives equal bytes)."""
    annotations = []
    for image in images:
        for box in boxes.get(image.id, []):
            x, y, w, h = box.bbox
            annotations.append({"id": box.id, "image_id": image.id,
                                "category_id": box.category_id,
                                "bbox": [_plain(x), _plain(y), _plain(w), _plain(h)],
                                "area": _plain(w * h), "iscrowd": 0})
    return {
        "info": dict(info or {}),
        "images": [{"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}
                   for i in images],
        "annotations": annotations,
        "categories": [{"id": cid, "name": name, "supercategory": "object"}
                       for cid, name in categories],
    }


def _plain(v: float) -> float | int:
    """Whole numbers as ints, others rounded to 1/1000 px (stable text, no float noise)."""
    r = round(float(v), 3)
    return int(r) if r == int(r) else r


def write_json(path: Path, data: Any) -> None:
    """Write JSON with flush+fsync (inside a folder that :func:`atomic_folder` renames)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_folder(dest: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it becomes ``dest`` by a rename,
    on any error it is removed and ``dest`` is untouched.

    An existing non-empty ``dest`` is a DataError unless ``overwrite`` (then it is replaced
    only after the new folder is complete).
    """
    dest = Path(os.path.expanduser(str(dest)))
    if dest.exists() and not overwrite and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest} already exists; choose a new folder for the output (nothing "
                        "was written)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except OSError:
            if old is not None:
                os.replace(old, dest)  # put the previous folder back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
