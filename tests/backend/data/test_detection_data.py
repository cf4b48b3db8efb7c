"""Object-detection data: the offline "find the digits" generator, COCO/YOLO/VOC conversion,
the Dataset interface the detection task builds on, box-aware augmentation, and the errors a
malformed annotation gives (naming file and entry, writing nothing).

The generator runs at a small size here (48 px images, a dozen per split) to stay fast.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from backend.data import DATASET_NAMES, DataError, load_dataset
from backend.data.detection import (
    DetectionAugment, DetectionBundle, augment_batch, collate, load_detection_dataset,
    pad_targets, unpad_targets,
)
from backend.data.detection_coco import read_coco
from backend.data.detection_digits import (
    DIGIT_RANGES, GENERATOR_VERSION, DigitsDetectionSpec, dataset_folder, generate,
    render_image,
)
from backend.data.detection_formats import export_voc, export_yolo, import_voc, import_yolo

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"image_size": 48, "train": 12, "val": 4, "test": 4, "min_size": 10, "max_size": 20,
         "max_digits": 4}
SPEC = DigitsDetectionSpec(**SMALL)


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    """A small generated dataset folder (COCO files + PNGs)."""
    return generate(SPEC, tmp_path_factory.mktemp("gen") / "digits")


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_nothing_written(dest: Path) -> None:
    assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]


# --- the generator -------------------------------------------------------------------------

def test_generator_is_deterministic_and_records_how(coco: Path, tmp_path: Path) -> None:
    again = generate(SPEC, tmp_path / "again")
    first, second = files_of(coco), files_of(again)
    assert first == second  # byte-identical, PNGs and JSON alike
    assert sorted(k for k in first if k.endswith(".json")) == \
        ["test.json", "train.json", "val.json"]
    assert sum(k.endswith(".png") for k in first) == 12 + 4 + 4
    info = json.loads(first["train.json"])["info"]
    assert info["generator_version"] == GENERATOR_VERSION
    assert info["seed"] == 0 and info["parameters"]["image_size"] == 48
    other = generate(DigitsDetectionSpec(**{**SMALL, "seed": 1}), tmp_path / "seed1")
    assert files_of(other)["images/train/00000.png"] != first["images/train/00000.png"]


def test_coco_files_are_well_formed(coco: Path) -> None:
    data = json.loads((coco / "train.json").read_text())
    assert [c["name"] for c in data["categories"]] == [str(d) for d in range(10)]
    ann = data["annotations"][0]
    assert set(ann) >= {"id", "image_id", "category_id", "bbox", "area", "iscrowd"}
    assert ann["iscrowd"] == 0 and ann["area"] == ann["bbox"][2] * ann["bbox"][3]
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    split = read_coco(coco / "train.json")  # passes every check
    assert len(split.images) == 12 and split.class_names == [str(d) for d in range(10)]


def test_boxes_are_tight_around_the_ink_and_inside_the_image(coco: Path) -> None:
    split = read_coco(coco / "train.json")
    for n, image in enumerate(split.images):
        r = render_image(SPEC, "train", n)
        on_disk = cv2.cvtColor(cv2.imread(str(coco / image.file_name)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(on_disk, r.image)
        assert [b.xyxy for b in split.boxes[image.id]] == [tuple(map(float, b)) for b in r.boxes]
        assert [b.category_id for b in split.boxes[image.id]] == r.labels
        inside = np.zeros(r.ink.shape, dtype=bool)
        for x1, y1, x2, y2 in r.boxes:
            assert 0 <= x1 < x2 <= 48 and 0 <= y1 < y2 <= 48
            assert not inside[y1:y2, x1:x2].any()  # digits never overlap
            inside[y1:y2, x1:x2] = True
            ink = r.ink[y1:y2, x1:x2] > 0
            # tight: ink touches all four sides of its box
            assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()
        assert not (r.ink[~inside] > 0).any()  # every drawn pixel is in a box
        assert len(r.boxes) >= 1


def test_splits_use_disjoint_digit_samples() -> None:
    ranges = [DIGIT_RANGES[s] for s in ("train", "val", "test")]
    assert ranges[0][1] <= ranges[1][0] and ranges[1][1] <= ranges[2][0]
    for split, (lo, hi) in DIGIT_RANGES.items():
        samples = [s for i in range(10) for s in render_image(SPEC, split, i).samples]
        assert samples and all(lo <= s < hi for s in samples)


def test_generated_on_first_use_into_the_cache(tmp_path: Path) -> None:
    options = {**SMALL, "root": str(tmp_path)}
    folder = dataset_folder(options)
    assert folder.parent == tmp_path / "digits-detection" and (folder / "test.json").is_file()
    stamp = (folder / "train.json").stat().st_mtime_ns
    assert dataset_folder(options) == folder  # found, not generated again
    assert (folder / "train.json").stat().st_mtime_ns == stamp
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temp folders left
    with pytest.raises(DataError, match="image_size"):
        dataset_folder({"image_size": 8, "root": str(tmp_path)})


# --- the Dataset interface -----------------------------------------------------------------

def test_dataset_items_and_collate(coco: Path) -> None:
    ds = load_detection_dataset(coco, "val")
    assert len(ds) == 4 and ds.class_names == [str(d) for d in range(10)]
    image, target = ds[0]
    assert image.shape == (3, 48, 48) and image.dtype == torch.float32
    assert set(target) == {"boxes", "labels"}
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    assert target["boxes"].shape == (len(target["labels"]), 4)
    # normalised with the train split's statistics, as the image datasets are
    norm = ds.normalization
    raw, _ = ds.raw(0)
    mean, std = torch.tensor(norm["mean"]).view(3, 1, 1), torch.tensor(norm["std"]).view(3, 1, 1)
    assert torch.allclose(image * std + mean, raw.float() / 255, atol=1e-5)
    assert json.loads(json.dumps(norm)) == norm
    images, targets = collate([ds[0], ds[1], ds[2]])
    assert images.shape == (3, 3, 48, 48) and len(targets) == 3
    assert load_detection_dataset(coco, "validation").files == ds.files
    # digits are not mirror-symmetric: the dataset's default augmentation does not flip
    assert load_detection_dataset("digits-detection", "test", augment=True,
                                  options={**SMALL, "root": str(coco.parent)}).augment.flip \
        is False


def test_registered_in_the_data_room(tmp_path: Path) -> None:
    assert {"digits-detection", "detection_folder"} <= set(DATASET_NAMES)
    spec = {"name": "digits-detection", "options": {**SMALL, "root": str(tmp_path)}}
    bundle = load_dataset(spec, "image", (1, 32, 32))
    assert isinstance(bundle, DetectionBundle) and bundle.task == "detection"
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (12, 4, 4)
    assert bundle.train.x.shape == (12, 1, 32, 32) and bundle.num_classes == 10
    m = bundle.target_shape[0]
    assert bundle.train.y.shape == (12, m, 5) and bundle.target_shape == (m, 5)
    targets = unpad_targets(bundle.train.y)
    full = load_detection_dataset("digits-detection", "train", options=spec["options"])
    for t, f in zip(targets, full.targets):  # boxes scaled from 48 px to 32 px
        assert torch.allclose(t["boxes"], f["boxes"] * 32 / 48)
        assert torch.equal(t["labels"], f["labels"])
    assert torch.equal(pad_targets(targets, m), bundle.train.y)
    with pytest.raises(DataError, match="kind 'image'"):
        load_dataset(spec, "vector", (64,))
    folder = load_dataset({"name": "detection_folder", "options": {"path": str(
        Path(full.files[0]).parents[2])}}, "image", (3, 48, 48))
    assert torch.equal(folder.train.y[:, :, 4] >= 0, bundle.train.y[:, :, 4] >= 0)


def test_a_single_coco_file_is_carved_into_splits(coco: Path, tmp_path: Path) -> None:
    only = tmp_path / "one"
    only.mkdir()
    (only / "images").symlink_to(coco / "images")
    (only / "train.json").write_text((coco / "train.json").read_text())
    parts = {s: load_detection_dataset(only, s).files for s in ("train", "val", "test")}
    assert [len(p) for p in parts.values()] == [9, 1, 2]  # 12 images: 20% test, 10% val
    assert not set(parts["train"]) & set(parts["test"])
    assert not set(parts["train"]) & set(parts["val"])


# --- round trips ---------------------------------------------------------------------------

def boxes_by_file(folder: Path) -> dict[str, dict[str, list]]:
    """{split: {image basename: sorted [(class name, x, y, w, h)]}}."""
    out = {}
    for split in ("train", "val", "test"):
        c = read_coco(folder / f"{split}.json")
        names = dict(c.categories)
        out[split] = {Path(i.file_name).name: sorted((names[b.category_id], *b.bbox)
                                                     for b in c.boxes[i.id]) for i in c.images}
    return out


def close(a: dict, b: dict, tol: float) -> bool:
    if a.keys() != b.keys():
        return False
    for split in a:
        if a[split].keys() != b[split].keys():
            return False
        for name, boxes in a[split].items():
            other = b[split][name]
            if len(boxes) != len(other) or any(
                    x[0] != y[0] or not np.allclose(x[1:], y[1:], atol=tol)
                    for x, y in zip(boxes, other)):
                return False
    return True


def test_coco_to_yolo_to_coco(coco: Path, tmp_path: Path) -> None:
    yolo = export_yolo(coco, tmp_path / "yolo")
    assert (yolo / "classes.txt").read_text().split() == [str(d) for d in range(10)]
    label = (yolo / "labels" / "train" / "00000.txt").read_text().splitlines()[0].split()
    assert len(label) == 5 and 0 < float(label[1]) < 1
    back = import_yolo(yolo, tmp_path / "back")
    assert close(boxes_by_file(coco), boxes_by_file(back), tol=1e-3)
    # class names from classes.txt alone (no data.yaml) and images/labels without splits
    (yolo / "data.yaml").unlink()
    plain = tmp_path / "plain"
    (plain / "images").mkdir(parents=True)
    (plain / "labels").mkdir()
    for p in (yolo / "images" / "val").iterdir():
        (plain / "images" / p.name).write_bytes(p.read_bytes())
        lbl = yolo / "labels" / "val" / f"{p.stem}.txt"
        (plain / "labels" / lbl.name).write_bytes(lbl.read_bytes())
    (plain / "classes.txt").write_text((yolo / "classes.txt").read_text())
    single = import_yolo(plain, tmp_path / "single")
    assert [p.name for p in single.glob("*.json")] == ["train.json"]
    assert boxes_by_file(back)["val"] == {
        k: v for k, v in boxes_by_file_one(single / "train.json").items()}


def boxes_by_file_one(path: Path) -> dict[str, list]:
    c = read_coco(path)
    names = dict(c.categories)
    return {Path(i.file_name).name: sorted((names[b.category_id], *b.bbox)
                                           for b in c.boxes[i.id]) for i in c.images}


def test_yolo_data_yaml_names_as_a_mapping(coco: Path, tmp_path: Path) -> None:
    yolo = export_yolo(coco, tmp_path / "yolo")
    (yolo / "classes.txt").unlink()
    names = "\n".join(f"  {i}: digit{i}" for i in range(10))
    (yolo / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\n"
                                    f"names:\n{names}\n")
    back = import_yolo(yolo, tmp_path / "back")
    assert sorted(p.name for p in back.glob("*.json")) == ["train.json", "val.json"]
    assert read_coco(back / "train.json").class_names == [f"digit{i}" for i in range(10)]


def test_coco_to_voc_to_coco(coco: Path, tmp_path: Path) -> None:
    voc = export_voc(coco, tmp_path / "voc")
    first = ET.parse(voc / "Annotations" / "train_00000.xml").getroot()
    box = read_coco(coco / "train.json").boxes[1][0].bbox
    assert float(first.find("object/bndbox/xmin").text) == box[0] + 1  # VOC is 1-based
    assert float(first.find("object/bndbox/xmax").text) == box[0] + box[2]
    back = import_voc(voc, tmp_path / "back", classes=[str(d) for d in range(10)])
    ours = {s: {f"{s}_{k}": v for k, v in d.items()} for s, d in boxes_by_file(coco).items()}
    assert close(ours, boxes_by_file(back), tol=0)


def test_voc_written_by_hand(tmp_path: Path) -> None:
    """VOC2007's layout: 1-based inclusive corners, trainval.txt and test.txt, a stale
    <filename>, a 'difficult' object."""
    voc = tmp_path / "VOC"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True)
    for stem in ("000001", "000002", "000003"):
        cv2.imwrite(str(voc / "JPEGImages" / f"{stem}.jpg"), np.zeros((30, 40, 3), np.uint8))
        (voc / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{'old' if stem == '000002' else stem}.jpg</filename>"
            "<size><width>40</width><height>30</height><depth>3</depth></size>"
            "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin>"
            "<ymin>1</ymin><xmax>40</xmax><ymax>10</ymax></bndbox></object>"
            "<object><name>cat</name><bndbox><xmin>5.5</xmin><ymin>11</ymin><xmax>9</xmax>"
            "<ymax>30</ymax></bndbox></object></annotation>")
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n")
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000003\n")
    out = import_voc(voc, tmp_path / "coco")
    assert sorted(p.name for p in out.glob("*.json")) == ["test.json", "train.json"]
    train = read_coco(out / "train.json")
    assert train.class_names == ["cat", "dog"] and len(train.images) == 2
    assert [(b.category_id, b.bbox) for b in train.boxes[1]] == \
        [(1, (0.0, 0.0, 40.0, 10.0)), (0, (4.5, 10.0, 4.5, 20.0))]
    assert train.images[1].file_name == "images/train/000002.jpg"


# --- malformed annotations -----------------------------------------------------------------

def write_coco(tmp_path: Path, coco: Path, edit) -> Path:
    """A copy of the generated dataset whose train.json went through ``edit(data)``."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "images").symlink_to(coco / "images")
    for split in ("val", "test"):
        (bad / f"{split}.json").write_text((coco / f"{split}.json").read_text())
    data = json.loads((coco / "train.json").read_text())
    edit(data)
    (bad / "train.json").write_text(json.dumps(data))
    return bad


def first_ann(data: dict) -> dict:
    return data["annotations"][0]


COCO_CASES = {
    "missing image": (lambda d: d["images"][2].update(file_name="images/train/nope.png"),
                      ["train.json", "image 3", "nope.png", "not found"]),
    "box outside": (lambda d: first_ann(d).update(bbox=[40, 10, 20, 10]),
                    ["train.json", "annotation 1", "outside the 48x48 image"]),
    "zero size": (lambda d: first_ann(d).update(bbox=[4, 4, 0, 9]),
                  ["train.json", "annotation 1", "zero size"]),
    "unknown class": (lambda d: first_ann(d).update(category_id=42),
                      ["train.json", "annotation 1", "category_id 42", "not a known class"]),
    "unknown image": (lambda d: first_ann(d).update(image_id=999),
                      ["train.json", "annotation 1", "image 999"]),
}


@pytest.mark.parametrize("case", sorted(COCO_CASES))
def test_malformed_coco_names_file_and_entry(case: str, coco: Path, tmp_path: Path) -> None:
    edit, words = COCO_CASES[case]
    bad = write_coco(tmp_path, coco, edit)
    with pytest.raises(DataError) as err:
        load_detection_dataset(bad, "train")
    for word in words:
        assert word in str(err.value)
    dest = tmp_path / "out"
    with pytest.raises(DataError):
        export_yolo(bad, dest)
    assert_nothing_written(dest)


def test_bad_json_names_the_place(coco: Path, tmp_path: Path) -> None:
    bad = write_coco(tmp_path, coco, lambda d: None)
    (bad / "train.json").write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DataError, match=r"train.json: not valid JSON \(line 2, column"):
        load_detection_dataset(bad, "test")
    with pytest.raises(DataError, match="export it again"):
        export_voc(bad, tmp_path / "voc")
    assert_nothing_written(tmp_path / "voc")


def make_yolo(tmp_path: Path, coco: Path) -> Path:
    return export_yolo(coco, tmp_path / "yolo")


YOLO_CASES = {
    "ragged line": ("3 0.5 0.5 0.2\n", ["00001.txt", "line 2", "4 values"]),
    "unknown class": ("12 0.5 0.5 0.2 0.2\n", ["00001.txt", "line 2", "class 12",
                                               "not a known class"]),
    "outside": ("1 0.95 0.5 0.3 0.2\n", ["00001.txt", "line 2", "reaches outside"]),
    "zero size": ("1 0.5 0.5 0 0.2\n", ["00001.txt", "line 2", "zero size"]),
    "not numbers": ("1 a b c d\n", ["00001.txt", "line 2", "not a class number"]),
}


@pytest.mark.parametrize("case", sorted(YOLO_CASES))
def test_malformed_yolo_names_file_and_line(case: str, coco: Path, tmp_path: Path) -> None:
    yolo = make_yolo(tmp_path, coco)
    label = yolo / "labels" / "train" / "00001.txt"
    first = label.read_text().splitlines()[0]
    line, words = YOLO_CASES[case]
    label.write_text(f"{first}\n{line}")
    dest = tmp_path / "out"
    with pytest.raises(DataError) as err:
        import_yolo(yolo, dest)
    for word in words:
        assert word in str(err.value)
    assert_nothing_written(dest)


def test_yolo_label_without_image(coco: Path, tmp_path: Path) -> None:
    yolo = make_yolo(tmp_path, coco)
    (yolo / "images" / "train" / "00002.png").unlink()
    dest = tmp_path / "out"
    with pytest.raises(DataError, match=r"00002.txt: no image for this label file"):
        import_yolo(yolo, dest)
    assert_nothing_written(dest)
    (yolo / "classes.txt").unlink()
    (yolo / "data.yaml").unlink()
    with pytest.raises(DataError, match="no class names found"):
        import_yolo(yolo, dest)
    assert_nothing_written(dest)


def voc_folder(tmp_path: Path, coco: Path) -> Path:
    return export_voc(coco, tmp_path / "voc")


def set_xml(path: Path, edit) -> None:
    tree = ET.parse(path)
    edit(tree.getroot())
    tree.write(path)


VOC_CASES = {
    "bad xml": (lambda p: p.write_text("<annotation><object></annotation>"),
                ["train_00001.xml", "not valid XML", "line 1"]),
    "unknown class": (lambda p: set_xml(p, lambda r: setattr(r.find("object/name"), "text",
                                                              "cat")),
                      ["train_00001.xml", "object 1 (cat)", "'cat' is not one of"]),
    "outside": (lambda p: set_xml(p, lambda r: setattr(r.find("object/bndbox/xmax"), "text",
                                                        "60")),
                ["train_00001.xml", "object 1", "reaches outside the 48x48 image"]),
    "missing image": (lambda p: (p.parents[1] / "JPEGImages" / "train_00001.png").unlink(),
                      ["train_00001.xml", "'train_00001.png' not found"]),
}


@pytest.mark.parametrize("case", sorted(VOC_CASES))
def test_malformed_voc_names_file_and_object(case: str, coco: Path, tmp_path: Path) -> None:
    voc = voc_folder(tmp_path, coco)
    edit, words = VOC_CASES[case]
    edit(voc / "Annotations" / "train_00001.xml")
    dest = tmp_path / "out"
    with pytest.raises(DataError) as err:
        import_voc(voc, dest, classes=[str(d) for d in range(10)])
    for word in words:
        assert word in str(err.value)
    assert_nothing_written(dest)


def test_output_folder_is_never_overwritten_by_accident(coco: Path, tmp_path: Path) -> None:
    dest = tmp_path / "yolo"
    export_yolo(coco, dest)
    before = files_of(dest)
    with pytest.raises(DataError, match="already exists"):
        export_yolo(coco, dest)
    assert files_of(dest) == before
    export_yolo(coco, dest, overwrite=True)
    assert files_of(dest) == before


# --- augmentation --------------------------------------------------------------------------

def ink_sample(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image n's ink map as a 3-channel image in [0, 1] (the digits white on black)."""
    r = render_image(SPEC, "train", n)
    ink = torch.from_numpy((r.ink > 0).astype(np.float32))
    boxes = torch.tensor(r.boxes, dtype=torch.float32)
    return ink.expand(3, -1, -1).clone(), boxes, torch.tensor(r.labels)


def ink_in_boxes(image: torch.Tensor, boxes: torch.Tensor) -> float:
    mask = image[0] > 0.5
    inside = torch.zeros_like(mask)
    for x1, y1, x2, y2 in boxes.tolist():
        inside[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
    return float((mask & inside).sum() / mask.sum().clamp_min(1))


def test_zoom_keeps_every_box_on_its_digit() -> None:
    torch.manual_seed(0)
    aug = DetectionAugment(zoom=0.4, color=0.0)
    for n in range(8):
        image, boxes, labels = ink_sample(n)
        out, out_boxes, out_labels = aug(image, boxes, labels)
        assert out.shape == image.shape
        assert torch.equal(out_labels, labels)  # box-safe: no digit is cut away
        assert ink_in_boxes(out, out_boxes) > 0.97
        w = out_boxes[:, 2] - out_boxes[:, 0]
        assert torch.allclose(w / (boxes[:, 2] - boxes[:, 0]), w[:1] / (boxes[:1, 2] -
                                                                          boxes[:1, 0]))


def test_flip_moves_the_boxes_with_the_image() -> None:
    image, boxes, labels = ink_sample(0)
    aug = DetectionAugment(flip=True, zoom=0.0, color=0.0)
    seen = set()
    torch.manual_seed(1)
    for _ in range(12):
        out, out_boxes, _ = aug(image, boxes, labels)
        if torch.equal(out, image):
            assert torch.equal(out_boxes, boxes)
            seen.add("kept")
        else:
            assert torch.equal(out, image.flip(-1))
            mirrored = torch.stack([48 - boxes[:, 2], boxes[:, 1], 48 - boxes[:, 0],
                                    boxes[:, 3]], 1)
            assert torch.equal(out_boxes, mirrored)
            seen.add("flipped")
    assert seen == {"kept", "flipped"}
    assert DetectionAugment().flip is False


def test_batched_augmentation_keeps_boxes_on_digits() -> None:
    samples = [ink_sample(n) for n in range(8)]
    x = torch.stack([s[0] for s in samples])
    y = pad_targets([{"boxes": s[1], "labels": s[2]} for s in samples])
    norm = {"mean": [0.2, 0.2, 0.2], "std": [0.4, 0.4, 0.4]}
    xn = (x - 0.2) / 0.4
    gen = torch.Generator().manual_seed(3)
    out, out_y = augment_batch(xn, y, DetectionAugment(flip=True, zoom=0.4, color=0.0), norm,
                               gen)
    assert out.shape == xn.shape and out_y.shape == y.shape
    assert torch.equal(out_y[..., 4], y[..., 4])  # nothing dropped, same classes
    flipped = 0
    for image, target, original in zip(out * 0.4 + 0.2, unpad_targets(out_y), unpad_targets(y)):
        assert ink_in_boxes(image, target["boxes"]) > 0.95
        # the left-to-right order of the digits tells a flip
        order = torch.argsort(target["boxes"][:, 0])
        flipped += bool(len(order) > 1 and torch.equal(
            order, torch.argsort(original["boxes"][:, 0], descending=True)))
    assert flipped > 0
    # colour jitter changes pixels, never boxes
    out2, y2 = augment_batch(xn, y, DetectionAugment(zoom=0.0, color=0.5), norm, gen)
    assert torch.equal(y2, y) and not torch.equal(out2, xn)


def test_dataset_augmentation_returns_valid_targets(coco: Path) -> None:
    ds = load_detection_dataset(coco, "train", augment=DetectionAugment(flip=True))
    torch.manual_seed(0)
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.shape == (3, 48, 48)
        b = target["boxes"]
        assert ((b[:, 0] >= 0) & (b[:, 2] <= 48) & (b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3])).all()
        assert len(target["labels"]) == len(ds.targets[i]["labels"])
