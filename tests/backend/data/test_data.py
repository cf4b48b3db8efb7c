"""Behaviour of the data layer a user sees: shapes, splits, normalisation, errors, augmentation.

Nothing here touches the network: torchvision datasets are tested on small fake files written
in the format torchvision reads.
"""
from __future__ import annotations

import json
import logging
import math
import os
import pickle
import struct
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from backend.data import (
    DATASET_NAMES, Augmenter, DataBundle, DataError, Split, load_dataset,
)
from backend.data.text import decode, encode, stdlib_corpus
from backend.data.timeseries import DEFAULT_CSV


def denormalize_images(split: Split, bundle: DataBundle) -> torch.Tensor:
    """Back to [0, 1] pixel values (N, C, H, W) using the bundle's normalization record."""
    norm = bundle.normalization
    c, (h, w) = norm["channels"], norm["size"]
    x = split.x.reshape(len(split), c, h, w)
    mean = torch.tensor(norm["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"]).view(1, -1, 1, 1)
    return x * std + mean


def assert_plain(data: object) -> None:
    """normalization must survive a JSON round trip unchanged (plain data only)."""
    assert json.loads(json.dumps(data)) == data


# --- digits -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_8() -> DataBundle:
    return load_dataset({"name": "digits"}, "image", (1, 8, 8))


def test_dataset_names_are_the_documented_ones() -> None:
    assert DATASET_NAMES == ("digits", "mnist", "fashion_mnist", "cifar10", "image_folder",
                             "csv_series", "text", "digits-detection", "detection_folder")


def test_digits_shapes_dtypes_and_split_sizes(digits_8: DataBundle) -> None:
    b = digits_8
    assert (b.task, b.num_classes, b.sample_shape, b.target_shape) == \
        ("classification", 10, (1, 8, 8), ())
    assert b.class_names == [str(i) for i in range(10)]
    assert (len(b.train), len(b.val), len(b.test)) == (1293, 144, 360)
    for s in (b.train, b.val, b.test):
        assert s.x.dtype == torch.float32 and s.y.dtype == torch.int64
        assert s.x.shape[1:] == (1, 8, 8) and s.y.shape == (len(s),)
    assert "load_digits" in b.source
    assert_plain(b.normalization)


def test_digits_test_split_is_the_standard_stratified_one(digits_8: DataBundle) -> None:
    digits = load_digits()
    _, test_idx = train_test_split(np.arange(len(digits.target)), test_size=0.2,
                                   random_state=0, stratify=digits.target)
    test_idx = np.sort(test_idx)
    assert torch.equal(digits_8.test.y, torch.from_numpy(digits.target[test_idx]))
    pixels = denormalize_images(digits_8.test, digits_8)[:, 0] * 16
    assert torch.allclose(pixels, torch.from_numpy(digits.images[test_idx]).float(), atol=1e-4)
    # stratified: every class appears in each split in (about) its overall proportion
    overall = np.bincount(digits.target, minlength=10) / len(digits.target)
    for split in (digits_8.train, digits_8.val, digits_8.test):
        share = np.bincount(split.y.numpy(), minlength=10) / len(split)
        assert np.abs(share - overall).max() < 0.012


def test_digits_splits_depend_on_seed_only_for_validation(digits_8: DataBundle) -> None:
    again = load_dataset({"name": "digits"}, "image", (1, 8, 8), seed=0)
    other = load_dataset({"name": "digits"}, "image", (1, 8, 8), seed=1)
    assert torch.equal(again.train.x, digits_8.train.x)
    assert torch.equal(again.val.y, digits_8.val.y)
    # the benchmark test split is fixed (its normalised values follow the train statistics)
    assert torch.equal(other.test.y, digits_8.test.y)
    assert torch.allclose(denormalize_images(other.test, other),
                          denormalize_images(digits_8.test, digits_8), atol=1e-5)
    assert not torch.equal(other.val.x, digits_8.val.x)


def test_digits_normalisation_uses_train_split_only(digits_8: DataBundle) -> None:
    b = digits_8
    assert abs(b.train.x.mean().item()) < 1e-4
    assert b.train.x.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)
    raw_train = denormalize_images(b.train, b)
    assert b.normalization["mean"][0] == pytest.approx(raw_train.mean().item(), abs=1e-6)
    # the whole dataset has a different mean: statistics did not come from all of it
    all_mean = float(load_digits().images.mean() / 16)
    assert abs(all_mean - b.normalization["mean"][0]) > 1e-5
    assert abs(b.test.x.mean().item()) > 1e-4


def test_digits_as_784_vector_is_the_flattened_28x28_image() -> None:
    vec = load_dataset({"name": "digits"}, "vector", (784,))
    img = load_dataset({"name": "digits"}, "image", (1, 28, 28))
    assert vec.train.x.shape == (1293, 784) and vec.sample_shape == (784,)
    assert vec.normalization["flatten"] is True and vec.normalization["size"] == [28, 28]
    assert torch.allclose(vec.train.x, img.train.x.reshape(1293, -1))


def test_digits_as_rgb_replicates_the_gray_channel() -> None:
    b = load_dataset({"name": "digits"}, "image", (3, 16, 16))
    assert b.train.x.shape == (1293, 3, 16, 16) and b.normalization["channels"] == 3
    assert torch.equal(b.train.x[:, 0], b.train.x[:, 2])


@pytest.mark.parametrize("kind, shape, words", [
    ("sequence", (10, 4), ["digits gives images", "'image'", "'vector'", "784"]),
    ("vector", (100 + 1,), ["F=101", "square number"]),
    ("image", (2, 8, 8), ["2 channels", "1 or 3"]),
    ("image", (8, 8), ["C,H,W"]),
    ("tokens", (16,), ["digits gives images"]),
    ("pixels", (1, 8, 8), ["unknown Input kind", "image"]),
    ("image", (1, 0, 8), ["positive"]),
])
def test_digits_wrong_input_gives_a_helpful_error(kind: str, shape: tuple[int, ...],
                                                   words: list[str]) -> None:
    with pytest.raises(DataError) as err:
        load_dataset({"name": "digits"}, kind, shape)
    for word in words:
        assert word in str(err.value)


def test_unknown_dataset_and_bad_spec_are_data_errors() -> None:
    with pytest.raises(DataError, match="choose one of digits, mnist"):
        load_dataset({"name": "imagenet"}, "image", (3, 32, 32))
    with pytest.raises(DataError, match="options"):
        load_dataset({"name": "digits", "options": [1]}, "image", (1, 8, 8))
    with pytest.raises(DataError, match="'download' must be true/false"):
        load_dataset({"name": "mnist", "options": {"download": "yes"}}, "image", (1, 28, 28))


# --- torchvision datasets from a fake local root ----------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file (the MNIST format): magic, big-endian dims, uint8 data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, folder: str, n_train: int = 50, n_test: int = 20) -> dict:
    rng = np.random.default_rng(0)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
        data[prefix] = (images, labels)
    return data


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_from_a_local_root(tmp_path: Path, name: str, folder: str) -> None:
    raw = fake_mnist(tmp_path, folder)
    spec = {"name": name, "options": {"root": str(tmp_path), "download": False}}
    b = load_dataset(spec, "image", (1, 28, 28), seed=3)
    assert (len(b.train), len(b.val), len(b.test)) == (45, 5, 20)
    assert b.num_classes == 10 and len(b.class_names) == 10
    test_images, test_labels = raw["t10k"]
    assert torch.equal(b.test.y, torch.from_numpy(test_labels.astype(np.int64)))
    pixels = denormalize_images(b.test, b)[:, 0]
    assert torch.allclose(pixels, torch.from_numpy(test_images).float() / 255, atol=1e-5)
    assert abs(b.train.x.mean().item()) < 1e-5

    rgb = load_dataset(spec, "image", (3, 14, 14), seed=3)
    assert rgb.train.x.shape == (45, 3, 14, 14)
    assert torch.equal(rgb.train.x[:, 0], rgb.train.x[:, 1])
    vec = load_dataset(spec, "vector", (784,), seed=3)
    assert vec.test.x.shape == (20, 784)


def test_cifar10_from_a_local_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as tv_cifar

    # the real files are checked against fixed MD5 sums; fake files only need to exist
    monkeypatch.setattr(tv_cifar, "check_integrity",
                        lambda path, md5=None: os.path.isfile(path))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for fname, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 6)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batches[fname] = (data, labels)
        with open(folder / fname, "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": names}, fh)

    spec = {"name": "cifar10", "options": {"root": str(tmp_path), "download": False}}
    b = load_dataset(spec, "image", (3, 32, 32))
    assert (len(b.train), len(b.val), len(b.test)) == (18, 2, 6)
    assert b.class_names == names
    test_data, test_labels = batches["test_batch"]
    expected = torch.from_numpy(test_data.reshape(6, 3, 32, 32)).float() / 255  # R,G,B planes
    assert torch.allclose(denormalize_images(b.test, b), expected, atol=1e-5)
    assert b.test.y.tolist() == test_labels

    gray = load_dataset(spec, "image", (1, 16, 16))
    assert gray.test.x.shape == (6, 1, 16, 16) and gray.normalization["color"] == "gray"


def test_torchvision_missing_root_without_download_is_a_data_error(tmp_path: Path) -> None:
    root = tmp_path / "nothing here"
    with pytest.raises(DataError) as err:
        load_dataset({"name": "mnist", "options": {"root": str(root), "download": False}},
                     "image", (1, 28, 28))
    assert str(root) in str(err.value) and "download" in str(err.value)


# --- image folder -----------------------------------------------------------------------------

def write_class(folder: Path, n: int, bgr: tuple[int, int, int], size: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.zeros((*size, 3), dtype=np.uint8)
        img[:] = bgr
        img[0, 0] = (i * 7) % 256  # distinct images
        cv2.imwrite(str(folder / f"img_{i:02d}.png"), img)


def test_image_folder_reads_classes_and_skips_unreadable_files(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_class(tmp_path / "red", 10, (0, 0, 255), (20, 30))  # BGR on disk
    write_class(tmp_path / "blue", 10, (255, 0, 0), (40, 40))
    (tmp_path / "blue" / "broken.png").write_bytes(b"not an image at all")
    with caplog.at_level(logging.WARNING):
        b = load_dataset({"name": "image_folder", "options": {"path": str(tmp_path)}},
                         "image", (3, 16, 16))
    assert any("broken.png" in r.getMessage() for r in caplog.records)
    assert b.class_names == ["blue", "red"]  # sorted subfolder names
    assert len(b.train) + len(b.val) + len(b.test) == 20
    assert (len(b.test), len(b.val)) == (4, 2)
    assert set(b.test.y.tolist()) == {0, 1}  # stratified
    pixels = denormalize_images(b.train, b)
    red = pixels[b.train.y == 1][:, :, 8, 8]  # centre pixel, RGB order after conversion
    assert torch.allclose(red, torch.tensor([1.0, 0.0, 0.0]).expand_as(red), atol=1e-5)
    assert b.normalization["size"] == [16, 16] and b.normalization["resize"] == "area"

    gray = load_dataset({"name": "image_folder", "options": {"path": str(tmp_path)}},
                        "vector", (64,))
    assert gray.train.x.shape[1:] == (64,) and gray.normalization["channels"] == 1


def test_image_folder_with_tiny_classes_still_splits(tmp_path: Path) -> None:
    write_class(tmp_path / "a", 3, (10, 10, 10), (8, 8))
    write_class(tmp_path / "b", 2, (200, 200, 200), (8, 8))
    b = load_dataset({"name": "image_folder", "options": {"path": str(tmp_path)}},
                     "image", (1, 8, 8))
    assert min(len(b.train), len(b.val), len(b.test)) >= 1
    assert len(b.train) + len(b.val) + len(b.test) == 5


def test_image_folder_errors_name_the_folder(tmp_path: Path) -> None:
    def load(path: Path | None) -> None:
        options = {} if path is None else {"path": str(path)}
        load_dataset({"name": "image_folder", "options": options}, "image", (3, 8, 8))

    with pytest.raises(DataError, match="option 'path'"):
        load(None)
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "missing")
    write_class(tmp_path / "only" / "cats", 4, (1, 2, 3), (8, 8))
    with pytest.raises(DataError, match=r"at least 2") as err:
        load(tmp_path / "only")
    assert str(tmp_path / "only") in str(err.value)
    write_class(tmp_path / "two" / "cats", 4, (1, 2, 3), (8, 8))
    (tmp_path / "two" / "dogs").mkdir()
    (tmp_path / "two" / "dogs" / "x.jpg").write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(DataError, match="no readable images") as err:
        load(tmp_path / "two")
    assert "dogs" in str(err.value)


# --- CSV time series --------------------------------------------------------------------------

def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ramp_csv(tmp_path: Path) -> Path:
    """100 rows: 'step' = row number (so values identify rows), 'wave' = a sine, 'label' text."""
    rows = [[f"2020-01-{i:03d}", float(i), round(math.sin(i / 3), 6), f"x{i}"] for i in range(100)]
    return write_csv(tmp_path / "ramp.csv", ["date", "step", "wave", "label"], rows)


def raw_values(x: torch.Tensor, bundle: DataBundle) -> torch.Tensor:
    mean = torch.tensor(bundle.normalization["mean"], dtype=torch.float64)
    std = torch.tensor(bundle.normalization["std"], dtype=torch.float64)
    return x.double() * std + mean


def test_csv_windows_never_cross_splits_and_target_is_the_future_value(ramp_csv: Path) -> None:
    spec = {"name": "csv_series", "options": {"path": str(ramp_csv), "horizon": 3,
                                              "relative": False}}
    b = load_dataset(spec, "sequence", (5, 2))
    assert b.normalization["columns"] == ["step", "wave"]  # date and text columns left out
    assert (b.task, b.target_shape, b.num_classes) == ("regression", (1,), None)
    # 70/15/15 rows, each yielding rows - T - horizon + 1 windows
    assert (len(b.train), len(b.val), len(b.test)) == (63, 8, 8)
    bounds = {"train": (0, 70), "val": (70, 85), "test": (85, 100)}
    for name, (lo, hi) in bounds.items():
        split = getattr(b, name)
        assert split.x.dtype == torch.float32 and split.y.shape == (len(split), 1)
        rows = raw_values(split.x, b)[..., 0]  # the 'step' column is the row number
        y_row = split.y[:, 0].double() * b.normalization["std"][0] + b.normalization["mean"][0]
        assert rows.min() >= lo - 1e-3 and y_row.max() <= hi - 1 + 1e-3
        assert torch.allclose(y_row, rows[:, -1] + 3, atol=1e-3)  # horizon rows after the window
        assert torch.allclose(rows[:, 1:] - rows[:, :-1], torch.ones(len(split), 4,
                                                                     dtype=torch.float64))
    # normalised with the train rows only
    assert b.normalization["mean"][0] == pytest.approx(np.arange(70).mean())
    assert b.normalization["std"][0] == pytest.approx(np.arange(70).std())
    assert_plain(b.normalization)


def test_csv_relative_mode_predicts_the_change_from_the_last_value(ramp_csv: Path) -> None:
    spec = {"name": "csv_series", "options": {"path": str(ramp_csv), "columns": ["wave", "step"],
                                              "target": "step", "horizon": 2}}
    b = load_dataset(spec, "sequence", (4, 2))
    norm = b.normalization
    assert norm["relative"] is True and norm["target_index"] == [1] == norm["relative_index"]
    std = norm["std"][1]
    # the last-value forecast is x[:, -1, target_index] (0 = "no change")
    assert torch.all(b.val.x[:, -1, norm["target_index"]] == 0)
    assert torch.allclose(b.val.y * std, torch.full((len(b.val), 1), 2.0), atol=1e-4)
    assert torch.allclose(b.val.x[:, 0, 1] * std, torch.full((len(b.val),), -3.0), atol=1e-4)
    # the other column keeps its absolute normalised values
    wave = np.sin(np.arange(100) / 3)
    first_val_window = (wave[70:74] - norm["mean"][0]) / norm["std"][0]
    assert np.allclose(b.val.x[0, :, 0].numpy(), first_val_window, atol=1e-4)


def test_csv_missing_values_are_interpolated(tmp_path: Path) -> None:
    values: list[float | None] = [float(2 * i) for i in range(200)]
    values[10] = None
    values[20] = values[21] = values[22] = None
    path = write_csv(tmp_path / "gaps.csv", ["v"], [[v] for v in values])
    b = load_dataset({"name": "csv_series", "options": {"path": str(path), "horizon": 1,
                                                        "relative": False}},
                     "sequence", (25, 1))
    rows = raw_values(b.train.x, b)[0, :, 0]  # first train window = raw rows 0..24
    assert torch.allclose(rows, torch.arange(25, dtype=torch.float64) * 2, atol=1e-4)
    assert len(b.train) + len(b.val) + len(b.test) == 200 - 3 * 25  # no row was dropped


@pytest.mark.parametrize("options, shape, words", [
    ({"columns": ["step", "label"]}, (5, 2), ["'label'", "not numeric"]),
    ({"columns": ["step", "nope"]}, (5, 2), ["'nope'", "not in", "step, wave"]),
    ({"target": "wave", "columns": ["step"]}, (5, 1), ["'wave'", "feature column"]),
    ({}, (5, 3), ["2 feature column", "F=3", "5,2"]),
    ({"horizon": 0}, (5, 2), ["horizon"]),
    ({}, (20, 2), ["val part", "15 rows"]),
])
def test_csv_bad_options_are_data_errors(ramp_csv: Path, options: dict,
                                         shape: tuple[int, int], words: list[str]) -> None:
    with pytest.raises(DataError) as err:
        load_dataset({"name": "csv_series", "options": {"path": str(ramp_csv), **options}},
                     "sequence", shape)
    for word in words:
        assert word in str(err.value)


def test_csv_needs_a_sequence_input(ramp_csv: Path) -> None:
    with pytest.raises(DataError, match="kind 'sequence'"):
        load_dataset({"name": "csv_series"}, "vector", (10,))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset({"name": "csv_series", "options": {"path": str(ramp_csv) + ".missing"}},
                     "sequence", (5, 1))


def test_shipped_co2_series_loads_by_default() -> None:
    assert DEFAULT_CSV.is_file()
    b = load_dataset({"name": "csv_series"}, "sequence", (52, 1))
    assert b.normalization["columns"] == ["co2"] and b.normalization["horizon"] == 4
    assert len(b.train) > 1000 and len(b.val) > 200 and len(b.test) > 200
    assert torch.isfinite(b.train.x).all() and torch.isfinite(b.test.y).all()
    # the recorded mean is ppm CO2 of the 1958-1989 part
    assert 310 < b.normalization["mean"][0] < 350
    assert "co2_weekly.csv" in b.source


@settings(max_examples=25, deadline=None)
@given(n=st.integers(60, 140), window=st.integers(1, 5), horizon=st.integers(1, 4))
def test_csv_windows_property(n: int, window: int, horizon: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "s.csv", ["t"], [[i] for i in range(n)])
        b = load_dataset({"name": "csv_series", "options": {"path": str(path), "horizon": horizon,
                                                            "relative": False}},
                         "sequence", (window, 1))
    n_train, n_val = round(n * 0.7), round(n * 0.15)
    edges = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, n)]
    for split, (lo, hi) in zip((b.train, b.val, b.test), edges):
        rows = raw_values(split.x, b)[..., 0].round()
        target = (split.y[:, 0].double() * b.normalization["std"][0]
                  + b.normalization["mean"][0]).round()
        assert len(split) == hi - lo - window - horizon + 1
        assert rows.min() == lo and target.max() == hi - 1


# --- text -------------------------------------------------------------------------------------

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler — in the mind… " * 8


def test_text_windows_are_followed_by_their_next_character(tmp_path: Path) -> None:
    path = tmp_path / "play.txt"
    path.write_text(TEXT, encoding="utf-8")
    b = load_dataset({"name": "text", "options": {"path": str(path), "stride": 1}},
                     "tokens", (12,))
    vocab = b.normalization["vocab"]
    assert b.normalization == {"kind": "text", "vocab": "".join(sorted(set(TEXT)))}
    assert b.class_names == list(vocab) and b.num_classes == len(vocab)
    assert (b.task, b.sample_shape, b.target_shape) == ("language_model", (12,), ())
    assert b.train.x.dtype == torch.int64 and b.train.y.dtype == torch.int64
    n_train = int(len(TEXT) * 0.9)
    assert len(b.train) == n_train - 12
    for i in (0, 5, len(b.train) - 1):
        assert decode(b.train.x[i], vocab) == TEXT[i:i + 12]
        assert decode(b.train.y[i:i + 1], vocab) == TEXT[i + 12]
    n_val = int(len(TEXT) * 0.05)
    assert decode(b.val.x[0], vocab) + decode(b.val.y[:1], vocab) == TEXT[n_train:n_train + 13]
    assert decode(b.test.x[-1], vocab) + decode(b.test.y[-1:], vocab) == TEXT[-13:]
    assert len(b.val) == n_val - 12


def test_text_vocab_round_trip() -> None:
    vocab = "".join(sorted(set(TEXT)))
    ids = encode(TEXT, vocab)
    assert ids.dtype == torch.int64 and int(ids.max()) < len(vocab)
    assert decode(ids, vocab) == TEXT
    with pytest.raises(DataError, match="'Z'"):
        encode("Zebra", vocab)


def test_text_file_errors_name_the_file(tmp_path: Path) -> None:
    def load(path: Path) -> None:
        load_dataset({"name": "text", "options": {"path": str(path)}}, "tokens", (8,))

    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty.txt.*empty"):
        load(empty)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café crème brûlée ".encode("latin-1") * 20)
    with pytest.raises(DataError, match="latin1.txt.*not UTF-8"):
        load(latin)
    with pytest.raises(DataError, match="nope.txt.*does not exist"):
        load(tmp_path / "nope.txt")
    short = tmp_path / "short.txt"
    short.write_text("abc" * 20, encoding="utf-8")
    with pytest.raises(DataError, match="smaller T"):
        load(short)
    with pytest.raises(DataError, match="kind 'tokens'"):
        load_dataset({"name": "text"}, "sequence", (8, 1))


def test_stdlib_corpus_is_large_printable_and_deterministic() -> None:
    corpus = stdlib_corpus()
    assert len(corpus) > 100_000
    assert corpus == stdlib_corpus()
    assert set(corpus) <= set(chr(c) for c in range(32, 127)) | {"\n"}
    assert "Return" in corpus  # real docstring prose


def test_default_text_dataset_keeps_epochs_short() -> None:
    b = load_dataset({"name": "text"}, "tokens", (32,))
    assert 30_000 < len(b.train) <= 61_000
    assert b.num_classes == len(b.normalization["vocab"]) > 60
    assert "standard library" in b.source


# --- augmentation -----------------------------------------------------------------------------

def batch(n: int = 64, c: int = 3, h: int = 12, w: int = 10) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(42))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augmenter_is_identity_when_disabled() -> None:
    aug = Augmenter.from_options({})
    assert not aug.enabled and not Augmenter.from_options(None).enabled
    x = batch()
    assert aug(x, gen(0)) is x


def test_augmenter_keeps_shape_and_dtype_and_is_reproducible() -> None:
    aug = Augmenter.from_options({"flip": True, "shift": 2, "rotate": 15.0, "noise": 0.1})
    assert aug.enabled and aug.to_options()["shift"] == 2
    x = batch()
    out = aug(x, gen(7))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, aug(x, gen(7)))
    assert not torch.equal(out, aug(x, gen(8)))
    assert torch.isfinite(out).all()
    half = aug(x.double(), gen(7))
    assert half.dtype == torch.float64


def test_augmenter_flip_mirrors_about_half_the_samples() -> None:
    x = batch()
    out = Augmenter(flip=True)(x, gen(3))
    flipped = [bool(torch.equal(o, xi.flip(-1))) for o, xi in zip(out, x)]
    kept = [bool(torch.equal(o, xi)) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


@pytest.mark.parametrize("flip", [False, True])
def test_augmenter_shift_moves_by_whole_pixels(flip: bool) -> None:
    x = batch(n=32)
    out = Augmenter(shift=1, flip=flip)(x, gen(5))

    def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        res = torch.zeros_like(img)
        h, w = img.shape[-2:]
        res[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            img[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        return res

    moves = set()
    for o, xi in zip(out, x):
        match = [(mirror, dy, dx) for mirror in (False, True) for dy in (-1, 0, 1)
                 for dx in (-1, 0, 1)
                 if torch.allclose(o, shifted(xi.flip(-1) if mirror else xi, dy, dx), atol=1e-5)]
        assert match, "every sample is a whole-pixel translation (of the mirror image)"
        moves.add(match[0])
    assert len({m[1:] for m in moves}) > 3
    assert any(m[0] for m in moves) == flip


def test_augmenter_rejects_non_images_and_bad_options() -> None:
    aug = Augmenter(noise=0.1)
    with pytest.raises(DataError, match="image batches"):
        aug(torch.zeros(4, 10), gen(0))
    with pytest.raises(DataError, match="'shift'"):
        Augmenter.from_options({"shift": -1})
    with pytest.raises(DataError, match="'flip'"):
        Augmenter.from_options({"flip": "yes"})
    with pytest.raises(DataError, match="whole number"):
        Augmenter.from_options({"shift": 1.5})
