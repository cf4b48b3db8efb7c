"""Detection datasets in other formats: YOLO txt and Pascal VOC XML folders to COCO, and back.

LayerForge keeps detection data as a folder of COCO files (``backend/data/detection_coco``).
``import_yolo`` and ``import_voc`` read the two other common layouts into such a folder
(images copied beside the COCO files); ``export_yolo`` and ``export_voc`` write a COCO
folder out again. Every reader checks each entry and raises DataError naming the file and
the line/object at fault and what to do; the output folder is built under a temporary name
and renamed into place, so a failure leaves nothing behind.

YOLO: ``images/`` and ``labels/`` (optionally with ``train/``, ``val/``, ``test/`` below
them, or the folders that ``data.yaml``'s ``train``/``val``/``test`` name); one
``<image stem>.txt`` per image with ``class x_center y_center width height`` lines,
normalised to 0..1 (no file: no objects); class names from ``data.yaml``'s ``names`` (a list
or {index: name}) or ``classes.txt`` (one per line).

Pascal VOC: ``Annotations/*.xml`` (1-based, inclusive pixel corners) and ``JPEGImages/``;
splits from ``ImageSets/Main/<split>.txt`` when present, otherwise everything is train.
Objects marked ``difficult`` are kept as ordinary boxes.
"""
from __future__ import annotations

import logging
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from backend.data.base import DataError
from backend.data.detection_coco import (
    SPLIT_ALIASES, SPLITS, CocoBox, CocoImage, CocoSplit, atomic_folder, check_box, coco_dict,
    find_splits, read_coco, write_json,
)

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _image_size(path: Path, where: str) -> tuple[int, int]:
    """(width, height) from the file's header; DataError when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise DataError(f"{where}: image file {path} not found; add the image or remove "
                        "its annotation") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{where}: {path} is not a readable image ({exc}); replace it or "
                        "remove it") from None


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _coco_splits_of(images: dict[str, list[CocoImage]], boxes: dict[int, list[CocoBox]],
                    categories: list[tuple[int, str]], tmp: Path, info: dict[str, Any]) -> None:
    for split, entries in images.items():
        write_json(tmp / f"{split}.json",
                   coco_dict(entries, boxes, categories, {**info, "split": split}))


# --- YOLO ----------------------------------------------------------------------------------

def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: not readable YAML ({exc}); fix the file") from None


def yolo_class_names(folder: Path) -> tuple[list[str], dict[str, Any]]:
    """The class names of a YOLO folder and its data.yaml (or {}) ."""
    spec: dict[str, Any] = {}
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (folder / name).is_file():
            loaded = _yaml(folder / name)
            if not isinstance(loaded, dict):
                raise DataError(f"{folder / name}: expected keys like 'names', 'train', 'val'; "
                                "fix the file")
            spec = {**loaded, "_file": folder / name}
            break
    names = spec.get("names")
    if names is not None:
        where = spec["_file"]
        if isinstance(names, dict):
            if sorted(names) != list(range(len(names))):
                raise DataError(f"{where}: 'names' must number the classes 0, 1, 2, ... "
                                f"without gaps, got {sorted(names)}; fix the numbers")
            names = [names[i] for i in range(len(names))]
        if not isinstance(names, list) or not names:
            raise DataError(f"{where}: 'names' must list the class names; fix the file")
        return [str(n) for n in names], spec
    for candidate in (folder / "classes.txt", folder / "labels" / "classes.txt"):
        if candidate.is_file():
            lines = [ln.strip() for ln in candidate.read_text(encoding="utf-8").splitlines()]
            names = [ln for ln in lines if ln]
            if not names:
                raise DataError(f"{candidate}: no class names; write one name per line")
            return names, spec
    raise DataError(f"{folder}: no class names found; add classes.txt (one name per line, "
                    "in class-number order) or data.yaml with 'names'")


def _label_for(image: Path) -> Path:
    """YOLO's rule: the last 'images' folder of the path becomes 'labels', suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _yolo_split_dirs(folder: Path, spec: dict[str, Any]) -> dict[str, Path]:
    """{split: images folder} of a YOLO dataset."""
    dirs: dict[str, Path] = {}
    if any(k in spec for k in ("train", "val", "test")):
        base = Path(str(spec.get("path") or "."))
        base = base if base.is_absolute() else folder / base
        for key in ("train", "val", "test"):
            value = spec.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise DataError(f"{spec['_file']}: '{key}' must be one folder of images, got "
                                f"{value!r}; merge the folders or import them one at a time")
            path = Path(value) if Path(value).is_absolute() else base / value
            if not path.is_dir():
                raise DataError(f"{spec['_file']}: '{key}' names {path}, which is not a folder "
                                "of images; fix the path")
            dirs[key] = path
        return dirs
    images = folder / "images"
    if not images.is_dir():
        raise DataError(f"{folder}: no images/ folder; a YOLO dataset has images/ and labels/ "
                        "(with one .txt per image) and classes.txt or data.yaml")
    for sub in sorted(p for p in images.iterdir() if p.is_dir()):
        split = SPLIT_ALIASES.get(sub.name.lower(), sub.name.lower())
        if split in SPLITS and split not in dirs:
            dirs[split] = sub
    return dirs or {"train": images}


def _read_yolo_label(path: Path, names: list[str], image: CocoImage, first_id: int
                     ) -> list[CocoBox]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); fix or remove the file") from None
    boxes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}: line {lineno}"
        if len(parts) != 5:
            raise DataError(f"{where}: {len(parts)} values ({line.strip()[:60]!r}); a YOLO box "
                            "line is 'class x_center y_center width height' (5 values, "
                            "normalised 0..1): fix the line")
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise DataError(f"{where}: {line.strip()[:60]!r} is not a class number and four "
                            "numbers; fix the line") from None
        if not 0 <= cls < len(names):
            raise DataError(f"{where}: class {cls} is not a known class (0..{len(names) - 1}: "
                            f"{', '.join(names[:10])}{', ...' if len(names) > 10 else ''}); "
                            "add its name to classes.txt/data.yaml or fix the line")
        bbox = ((cx - w / 2) * image.width, (cy - h / 2) * image.height,
                w * image.width, h * image.height)
        bbox = check_box(bbox, image, where)
        boxes.append(CocoBox(first_id + len(boxes), image.id, cls, bbox))
    return boxes


def import_yolo(folder: str | Path, dest: str | Path, overwrite: bool = False) -> Path:
    """Convert a YOLO dataset folder into a COCO dataset folder ``dest`` (images copied)."""
    folder = Path(os.path.expanduser(str(folder)))
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; choose the YOLO dataset folder (the one "
                        "with images/ and labels/)")
    names, spec = yolo_class_names(folder)
    split_dirs = _yolo_split_dirs(folder, spec)
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        images: dict[str, list[CocoImage]] = {}
        boxes: dict[int, list[CocoBox]] = {}
        next_image, next_box = 1, 1
        for split, image_dir in split_dirs.items():
            images[split] = []
            used: set[Path] = set()
            for path in _images_under(image_dir):
                rel = path.relative_to(image_dir).as_posix()
                width, height = _image_size(path, str(image_dir))
                entry = CocoImage(next_image, f"images/{split}/{rel}", width, height)
                next_image += 1
                label = _label_for(path)
                found = _read_yolo_label(label, names, entry, next_box) \
                    if label.is_file() else []
                used.add(label)
                next_box += len(found)
                boxes[entry.id] = found
                images[split].append(entry)
                (tmp / entry.file_name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, tmp / entry.file_name)
            label_dir = _label_for(image_dir / "x.png").parent
            if label_dir != image_dir and label_dir.is_dir():
                for orphan in sorted(label_dir.rglob("*.txt")):
                    if orphan not in used and orphan.name != "classes.txt":
                        raise DataError(f"{orphan}: no image for this label file in "
                                        f"{image_dir}; add the image or remove the file")
            if not images[split]:
                raise DataError(f"{image_dir}: no images ({', '.join(IMAGE_EXTS)}); add "
                                "images or fix the folder")
        _coco_splits_of(images, boxes, list(enumerate(names)), tmp,
                        {"description": "imported from a YOLO dataset", "source": str(folder)})
    log.info("imported YOLO %s -> %s", folder, dest)
    return Path(dest)


def _coco_folder(coco_folder: str | Path) -> tuple[dict[str, CocoSplit], list[tuple[int, str]]]:
    splits = {s: read_coco(p) for s, p in find_splits(coco_folder).items()}
    categories = next(iter(splits.values())).categories
    for coco in splits.values():
        if coco.categories != categories:
            raise DataError(f"{coco.path}: its categories differ from the other splits'; "
                            "give every split the same categories")
    return splits, categories


def export_yolo(coco_folder: str | Path, dest: str | Path, overwrite: bool = False) -> Path:
    """Write a COCO dataset folder as a YOLO folder: images/<split>/, labels/<split>/,
    classes.txt and data.yaml."""
    import yaml

    splits, categories = _coco_folder(coco_folder)
    index = {cid: i for i, (cid, _) in enumerate(categories)}
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        for split, coco in splits.items():
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
            taken: set[str] = set()
            for image in coco.images:
                name = Path(image.file_name).name
                if Path(name).stem in taken:
                    name = f"{image.id}_{name}"
                taken.add(Path(name).stem)
                shutil.copyfile(coco.image_path(image), tmp / "images" / split / name)
                lines = []
                for box in coco.boxes[image.id]:
                    x, y, w, h = box.bbox
                    lines.append(f"{index[box.category_id]} {(x + w / 2) / image.width:.6f} "
                                 f"{(y + h / 2) / image.height:.6f} {w / image.width:.6f} "
                                 f"{h / image.height:.6f}\n")
                (tmp / "labels" / split / Path(name).with_suffix(".txt")).write_text(
                    "".join(lines), encoding="utf-8")
        names = [name for _, name in categories]
        (tmp / "classes.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        data = {"path": ".", **{s: f"images/{s}" for s in splits}, "nc": len(names),
                "names": names}
        (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False,
                                                      allow_unicode=True), encoding="utf-8")
    return Path(dest)


# --- Pascal VOC ----------------------------------------------------------------------------

def _text(node: ET.Element | None, tag: str) -> str | None:
    found = node.find(tag) if node is not None else None
    return found.text.strip() if found is not None and found.text else None


def _read_voc_xml(path: Path) -> tuple[str, list[tuple[str, list[float]]]]:
    """(image file name, [(class name, [xmin, ymin, xmax, ymax])]) of one VOC file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid XML ({exc}); fix the file or remove it") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    filename = _text(root, "filename") or f"{path.stem}.jpg"
    objects = []
    for k, obj in enumerate(root.findall("object"), 1):
        name = _text(obj, "name")
        box = obj.find("bndbox")
        values = [_text(box, t) for t in ("xmin", "ymin", "xmax", "ymax")]
        if not name or None in values:
            raise DataError(f"{path}: object {k} needs a <name> and a <bndbox> with xmin, ymin, "
                            "xmax, ymax; fix the object")
        try:
            corners = [float(v) for v in values]  # type: ignore[arg-type]
        except ValueError:
            raise DataError(f"{path}: object {k} ({name}): the box {values} is not numbers; "
                            "fix the object") from None
        objects.append((name, corners))
    return filename, objects


def import_voc(folder: str | Path, dest: str | Path, classes: list[str] | None = None,
               overwrite: bool = False) -> Path:
    """Convert a Pascal VOC folder into a COCO dataset folder ``dest`` (images copied).

    ``classes``: the class names in order (an object of another class is an error); None
    takes the names found, sorted.
    """
    folder = Path(os.path.expanduser(str(folder)))
    ann_dir, img_dir = folder / "Annotations", folder / "JPEGImages"
    if not ann_dir.is_dir() or not img_dir.is_dir():
        raise DataError(f"{folder}: not a Pascal VOC folder; it needs Annotations/ (*.xml) and "
                        "JPEGImages/")
    parsed = {p.stem: (p, *_read_voc_xml(p)) for p in sorted(ann_dir.glob("*.xml"))}
    if not parsed:
        raise DataError(f"{ann_dir}: no .xml files; add the annotations")
    names = list(classes) if classes else sorted({n for _, _, objs in parsed.values()
                                                  for n, _ in objs})
    if not names:
        raise DataError(f"{ann_dir}: no objects in any annotation; label some objects first")
    category = {n: i for i, n in enumerate(names)}
    split_ids = _voc_splits(folder, parsed)
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        images: dict[str, list[CocoImage]] = {}
        boxes: dict[int, list[CocoBox]] = {}
        next_image, next_box = 1, 1
        for split, ids in split_ids.items():
            images[split] = []
            for stem in ids:
                xml, filename, objects = parsed[stem]
                src = _voc_image(img_dir, filename, stem, xml)
                width, height = _image_size(src, str(xml))
                entry = CocoImage(next_image, f"images/{split}/{src.name}", width, height)
                next_image += 1
                found = []
                for k, (name, (x1, y1, x2, y2)) in enumerate(objects, 1):
                    where = f"{xml}: object {k} ({name})"
                    if name not in category:
                        raise DataError(f"{where}: class {name!r} is not one of {names}; add "
                                        "it to the classes or fix the object")
                    # VOC corners are 1-based and inclusive
                    bbox = check_box((x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1), entry, where)
                    found.append(CocoBox(next_box, entry.id, category[name], bbox))
                    next_box += 1
                boxes[entry.id] = found
                images[split].append(entry)
                (tmp / entry.file_name).parent.mkdir(parents=True, exist_ok=True)
                if (tmp / entry.file_name).exists():
                    raise DataError(f"{xml}: image {src.name} is used by two annotations in "
                                    f"{split}; give each annotation its own image")
                shutil.copyfile(src, tmp / entry.file_name)
        _coco_splits_of(images, boxes, list(enumerate(names)), tmp,
                        {"description": "imported from a Pascal VOC dataset",
                         "source": str(folder)})
    log.info("imported VOC %s -> %s", folder, dest)
    return Path(dest)


def _voc_image(img_dir: Path, filename: str, stem: str, xml: Path) -> Path:
    src = img_dir / filename
    if src.is_file():
        return src
    for ext in IMAGE_EXTS:  # <filename> is sometimes stale: look for the annotation's stem
        if (img_dir / f"{stem}{ext}").is_file():
            return img_dir / f"{stem}{ext}"
    raise DataError(f"{xml}: image {filename!r} not found in {img_dir}; add the image or "
                    "remove the annotation file")


def _voc_splits(folder: Path, parsed: dict[str, Any]) -> dict[str, list[str]]:
    sets = folder / "ImageSets" / "Main"
    result: dict[str, list[str]] = {}
    for split in SPLITS:
        for name in (split, *[a for a, s in SPLIT_ALIASES.items() if s == split]):
            listing = sets / f"{name}.txt"
            if listing.is_file() and split not in result:
                ids = [ln.split()[0] for ln in listing.read_text(encoding="utf-8").splitlines()
                       if ln.strip()]
                for lineno, stem in enumerate(ids, 1):
                    if stem not in parsed:
                        raise DataError(f"{listing}: line {lineno}: {stem!r} has no "
                                        f"Annotations/{stem}.xml; add it or remove the line")
                result[split] = ids
    if "train" not in result:  # VOC2007 lists trainval.txt; else what no other list names
        listing = sets / "trainval.txt"
        listed = {stem for ids in result.values() for stem in ids}
        result["train"] = [ln.split()[0] for ln in listing.read_text(encoding="utf-8")
                           .splitlines() if ln.strip() and ln.split()[0] in parsed] \
            if listing.is_file() else [stem for stem in parsed if stem not in listed]
    return {split: result[split] for split in SPLITS if result.get(split)}


def export_voc(coco_folder: str | Path, dest: str | Path, overwrite: bool = False) -> Path:
    """Write a COCO dataset folder as Pascal VOC: Annotations/, JPEGImages/ and
    ImageSets/Main/<split>.txt (file stems get a split prefix when splits share names)."""
    splits, categories = _coco_folder(coco_folder)
    names = dict(categories)
    stems = [Path(i.file_name).stem for c in splits.values() for i in c.images]
    prefix = len(set(stems)) != len(stems)
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
            (tmp / sub).mkdir(parents=True)
        for split, coco in splits.items():
            ids = []
            for image in coco.images:
                file = Path(image.file_name)
                stem = f"{split}_{file.stem}" if prefix else file.stem
                ids.append(stem)
                shutil.copyfile(coco.image_path(image), tmp / "JPEGImages" / f"{stem}{file.suffix}")
                root = ET.Element("annotation")
                ET.SubElement(root, "filename").text = f"{stem}{file.suffix}"
                size = ET.SubElement(root, "size")
                for tag, value in (("width", image.width), ("height", image.height),
                                   ("depth", 3)):
                    ET.SubElement(size, tag).text = str(value)
                for box in coco.boxes[image.id]:
                    obj = ET.SubElement(root, "object")
                    ET.SubElement(obj, "name").text = names[box.category_id]
                    ET.SubElement(obj, "difficult").text = "0"
                    bnd = ET.SubElement(obj, "bndbox")
                    x, y, w, h = box.bbox
                    for tag, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w),
                                       ("ymax", y + h)):
                        ET.SubElement(bnd, tag).text = _number(value)
                ET.indent(root)
                ET.ElementTree(root).write(tmp / "Annotations" / f"{stem}.xml",
                                           encoding="utf-8", xml_declaration=True)
            (tmp / "ImageSets" / "Main" / f"{split}.txt").write_text(
                "".join(f"{i}\n" for i in ids), encoding="utf-8")
    return Path(dest)


def _number(v: float) -> str:
    r = round(float(v), 3)
    return str(int(r)) if r == int(r) else f"{r:g}"
