"""The Data tab: choosing a dataset (undoable), previews per task, the fit check, failures,
and loading off the GUI thread. Offscreen, no network."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from app.document import Document  # noqa: E402
from app.panels import data_panel as dp  # noqa: E402
from app.panels.data_panel import DataPanel  # noqa: E402
from app.workers import wait_for_background  # noqa: E402
from graph.commands import Disconnect, SetParam  # noqa: E402
from graph.templates import build_template  # noqa: E402

LOAD_TIMEOUT = 60_000
CO2_ROWS = 2284


@pytest.fixture
def make_panel(qtbot):
    """A shown DataPanel on a template project (optionally with another dataset)."""

    def make(template: str = "digits-cnn", dataset: dict | None = None, show: bool = True):
        project = build_template(template)
        if dataset is not None:
            project.dataset = dataset
        document = Document(project)
        panel = DataPanel(document)
        qtbot.addWidget(panel)
        panel.resize(1200, 360)
        if show:
            panel.show()
            qtbot.waitExposed(panel)
        return panel, document

    yield make
    assert wait_for_background(60), "a dataset loading thread is still running"


def settle(qtbot, panel) -> None:
    """Wait until no load is pending or running."""
    qtbot.waitUntil(lambda: not panel.pending, timeout=LOAD_TIMEOUT)


def choose(panel, name: str) -> None:
    """Pick a dataset in the combo as a user would."""
    index = panel.combo.findData(name)
    assert index >= 0, name
    panel.combo.setCurrentIndex(index)


def write_text(path: Path) -> str:
    lines = [f"line {i:04d}: the quick brown fox jumps over the lazy dog." for i in range(120)]
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def write_image_folder(root: Path, per_class: int = 12) -> Path:
    import cv2

    for name in ("circle", "square"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = np.zeros((24, 24), np.uint8)
            r = 5 + i % 5
            if name == "circle":
                cv2.circle(img, (12, 12), r, 255, -1)
            else:
                cv2.rectangle(img, (12 - r, 12 - r), (12 + r, 12 + r), 255, -1)
            assert cv2.imwrite(str(root / name / f"{i:02d}.png"), img)
    return root


# ---- previews ------------------------------------------------------------------------------

def test_digits_shows_32_labelled_thumbnails_split_sizes_and_class_counts(qtbot, make_panel):
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)

    assert panel.banner_text() == ""
    assert panel.preview_kind() == "images"
    assert panel.grid.count() == 32
    labels = panel.grid.labels()
    assert set(labels) == {str(d) for d in range(10)}  # classes taken in turn
    assert panel.split_sizes() == (1293, 144, 360)
    summary = panel.summary_text()
    for text in ("1,293", "144", "360", "1 × 16 × 16", "fits the network"):
        assert text in summary
    counts = panel.class_counts()
    assert sorted(counts) == [str(d) for d in range(10)]
    assert sum(counts.values()) == 1797
    assert all(170 <= c <= 190 for c in counts.values())
    assert panel.class_chart.isVisible()
    # thumbnails are back in pixel units: normalisation undone
    images = [img for img, _ in panel.preview.images]
    assert all(img.dtype == np.uint8 and img.shape == (16, 16) for img in images)
    from backend.data import load_dataset

    bundle = load_dataset({"name": "digits"}, "image", (1, 16, 16), seed=0)
    first_zero = int((bundle.train.y == 0).nonzero()[0, 0])
    norm = bundle.normalization
    raw = bundle.train.x[first_zero, 0].numpy() * norm["std"][0] + norm["mean"][0]  # in [0, 1]
    assert np.abs(images[0].astype(float) - raw * 255).max() <= 1.0


def test_vector_input_images_are_reshaped_to_squares(qtbot, make_panel):
    panel, _ = make_panel("hello-mlp")  # Input: vector (784,)
    settle(qtbot, panel)
    assert panel.preview_kind() == "images"
    assert all(img.shape == (28, 28) for img, _ in panel.preview.images)


def test_switching_to_csv_series_plots_the_raw_series(qtbot, make_panel):
    panel, document = make_panel("lstm-forecast", {"name": "digits", "options": {}})
    settle(qtbot, panel)
    assert panel.banner_kind == "error"  # digits do not fit a sequence input

    choose(panel, "csv_series")
    assert panel.option_page == "csv_series" and panel.horizon_spin.isVisible()
    settle(qtbot, panel)
    assert panel.banner_text() == ""
    assert panel.preview_kind() == "series"
    points = panel.series_points()
    assert all(points[s] > 100 for s in ("train", "val", "test"))
    assert sum(points.values()) == CO2_ROWS  # every row of the file, once
    xs, ys = panel._curves["train"].getData()
    assert ys[0] == pytest.approx(316.1, abs=1e-3)  # the first CO2 reading, in ppm
    _, test_ys = panel._curves["test"].getData()
    assert test_ys[-1] == pytest.approx(371.5, abs=1e-3)  # the last reading: real level, though
    # the windows are relative to their last value (the default)
    assert "co2" in panel.summary_text()


def test_csv_options_push_one_command_each_and_undo_restores_them(qtbot, make_panel):
    panel, document = make_panel("lstm-forecast")
    settle(qtbot, panel)
    stack = document.undo_stack
    before = stack.count()

    panel.horizon_spin.setValue(8)
    assert stack.count() == before + 1
    assert document.project.dataset == {"name": "csv_series", "options": {"horizon": 8}}
    panel.relative_check.setChecked(False)
    assert stack.count() == before + 2
    assert document.project.dataset["options"] == {"horizon": 8, "relative": False}
    panel.columns_edit.setText("co2")
    panel.columns_edit.editingFinished.emit()
    panel.columns_edit.editingFinished.emit()  # the same text again: no second command
    assert stack.count() == before + 3
    settle(qtbot, panel)
    assert panel.preview.fit_bundle.normalization["horizon"] == 8

    stack.undo()
    stack.undo()
    assert panel.relative_check.isChecked()
    assert panel.columns_edit.text() == ""
    stack.undo()
    assert panel.horizon_spin.value() == 4
    assert document.project.dataset == {"name": "csv_series", "options": {}}


@pytest.mark.parametrize("targets", ["sequence", "next"])
def test_text_file_shows_an_excerpt_of_the_file(qtbot, make_panel, tmp_path, monkeypatch,
                                                targets):
    from PySide6.QtWidgets import QFileDialog

    text = write_text(tmp_path / "corpus.txt")
    panel, document = make_panel("char-gru", {"name": "text", "options": {"targets": targets}})
    settle(qtbot, panel)  # the built-in corpus first
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "corpus.txt"), "")))
    panel.text_edit.button.click()
    assert document.project.dataset["options"]["path"] == str(tmp_path / "corpus.txt")
    settle(qtbot, panel)

    assert panel.preview_kind() == "text"
    excerpt = panel.excerpt_text()
    assert "line 0003: the quick brown fox" in excerpt
    assert text.startswith(excerpt)  # a contiguous stretch from the start of the file
    assert len(excerpt) > 500
    assert "corpus.txt" in panel.summary_text()
    if targets == "sequence":
        assert panel.banner_text() == ""
    else:  # the GRU predicts at every step: the fit check says which option to change
        assert "targets" in panel.banner_text()


def test_image_folder_written_with_cv2(qtbot, make_panel, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = write_image_folder(tmp_path / "shapes")
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    choose(panel, "image_folder")
    settle(qtbot, panel)
    assert "choose a folder" in panel.banner_text()  # no folder yet: said, not crashed

    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(folder)))
    panel.folder_edit.button.click()
    assert document.project.dataset == {"name": "image_folder",
                                        "options": {"path": str(folder)}}
    settle(qtbot, panel)
    # two classes for the template's ten outputs: said, with the layer to change
    assert "has 2 classes but Linear 'fc' gives (N, 10)" in panel.banner_text()
    set_classes(document, 2)
    assert panel.banner_text() == ""
    assert panel.preview_kind() == "images"
    assert set(panel.grid.labels()) == {"circle", "square"}
    assert panel.grid.count() == 24  # fewer than 32 images: all of them, from every split
    assert panel.class_counts() == {"circle": 12, "square": 12}
    assert sum(panel.split_sizes()) == 24


# ---- editing the dataset ---------------------------------------------------------------------

def test_choosing_a_dataset_is_one_undoable_command(qtbot, make_panel):
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    stack = document.undo_stack
    before = stack.count()
    assert not document.modified

    choose(panel, "fashion_mnist")
    assert stack.count() == before + 1
    assert document.project.dataset == {"name": "fashion_mnist", "options": {}}
    assert document.modified
    assert panel.option_page == "torchvision" and panel.download_check.isVisible()
    choose(panel, "fashion_mnist")  # same again: nothing
    assert stack.count() == before + 1

    stack.undo()
    assert panel.combo.currentData() == "digits"
    assert document.project.dataset == {"name": "digits", "options": {}}
    assert not document.modified
    stack.redo()
    assert panel.combo.currentData() == "fashion_mnist"
    stack.undo()
    settle(qtbot, panel)
    assert panel.preview_kind() == "images"


def test_switching_back_remembers_the_options_of_a_dataset(qtbot, make_panel, tmp_path):
    panel, document = make_panel("lstm-forecast")
    settle(qtbot, panel)
    panel.horizon_spin.setValue(2)
    choose(panel, "digits")
    assert document.project.dataset == {"name": "digits", "options": {}}
    choose(panel, "csv_series")
    assert document.project.dataset == {"name": "csv_series", "options": {"horizon": 2}}
    assert panel.horizon_spin.value() == 2


# ---- the fit check and failures ------------------------------------------------------------

def test_image_data_for_a_sequence_input_shows_the_fix(qtbot, make_panel):
    panel, _ = make_panel("lstm-forecast", {"name": "digits", "options": {}})
    settle(qtbot, panel)
    assert panel.banner_kind == "error"
    banner = panel.banner_text()
    assert "sequence" in banner and "set the Input node to kind 'image'" in banner
    assert panel.preview is None
    assert panel.preview_kind() == ""


def test_output_that_does_not_fit_the_classes_is_shown_with_the_fix(qtbot, make_panel):
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    fc = document.graph.find("fc")
    document.push(SetParam(document.graph, fc.id, "out_features", 5))
    document.refresh_analysis()
    assert "10 classes" in panel.banner_text()
    assert "(N, 10)" in panel.banner_text()
    assert "does not fit" in panel.summary_text()
    assert panel.preview_kind() == "images"  # the data is still shown

    document.undo_stack.undo()
    document.refresh_analysis()
    assert panel.banner_text() == ""
    assert "fits the network" in panel.summary_text()


def test_invalid_network_asks_to_fix_its_errors_first(qtbot, make_panel):
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    output = next(n for n in document.graph.nodes if n.type == "Output")
    edge = document.graph.edges_into(output.id)[0]
    document.push(Disconnect(document.graph, edge))
    document.refresh_analysis()
    assert panel.banner_kind == "warning"
    assert "fix the network's errors first" in panel.banner_text().lower()


def test_missing_csv_file_is_named_in_the_banner_and_nothing_is_lost(qtbot, make_panel,
                                                                     tmp_path):
    panel, document = make_panel("lstm-forecast")
    settle(qtbot, panel)
    missing = tmp_path / "no_such_series.csv"
    panel.csv_edit.edit.setText(str(missing))
    panel.csv_edit.committed.emit()
    settle(qtbot, panel)
    assert panel.banner_kind == "error"
    assert "no_such_series.csv" in panel.banner_text()
    assert "does not exist" in panel.banner_text()
    assert document.project.dataset["options"]["path"] == str(missing)

    document.undo_stack.undo()  # back to the shipped file
    assert panel.csv_edit.text() == ""
    settle(qtbot, panel)
    assert panel.banner_text() == ""
    assert panel.preview_kind() == "series"


def test_two_input_nodes_are_reported_without_loading(qtbot, make_panel):
    from graph.commands import AddNode

    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    document.push(AddNode(document.graph, "Input"))
    document.refresh_analysis()
    settle(qtbot, panel)
    assert "2 Input nodes" in panel.banner_text()
    document.undo_stack.undo()
    document.refresh_analysis()
    settle(qtbot, panel)
    assert panel.banner_text() == ""
    assert panel.preview_kind() == "images"


def test_seed_reloads_and_loss_rechecks(qtbot, make_panel, monkeypatch):
    from graph.commands import SetTraining

    seeds = []
    real = dp.load_dataset
    monkeypatch.setattr(dp, "load_dataset",
                        lambda spec, kind, shape, seed=0: seeds.append(seed)
                        or real(spec, kind, shape, seed))
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    document.push(SetTraining(document.project, "seed", 7))
    settle(qtbot, panel)
    assert seeds == [0, 7]  # the validation split depends on the seed

    document.push(SetTraining(document.project, "loss", "mse"))
    assert "choose cross_entropy" in panel.banner_text()
    document.undo_stack.undo()
    assert panel.banner_text() == ""
    assert seeds == [0, 7]  # the loss needs no reload


# ---- threads ----------------------------------------------------------------------------------

def test_loading_runs_off_the_gui_thread_with_a_busy_indicator(qtbot, make_panel,
                                                               monkeypatch):
    calls: list[int] = []
    release = threading.Event()
    real = dp.load_dataset

    def slow_load(spec, kind, shape, seed=0):
        calls.append(threading.get_ident())
        release.wait(20)
        return real(spec, kind, shape, seed)

    monkeypatch.setattr(dp, "load_dataset", slow_load)
    panel, _ = make_panel("digits-cnn")
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)
    assert panel.loading and panel.busy.isVisible()
    qtbot.wait(100)  # the GUI thread keeps handling events meanwhile
    assert panel.loading
    release.set()
    settle(qtbot, panel)
    assert calls and all(ident != threading.main_thread().ident for ident in calls)
    assert not panel.busy.isVisible()
    assert panel.grid.count() == 32


def test_a_stale_result_is_ignored(qtbot, make_panel, monkeypatch, tmp_path):
    folder = write_image_folder(tmp_path / "shapes")
    release = threading.Event()
    real = dp.load_dataset

    def load(spec, kind, shape, seed=0):
        if spec["name"] == "digits":
            release.wait(20)  # the slow first load
        return real(spec, kind, shape, seed)

    monkeypatch.setattr(dp, "load_dataset", load)
    panel, document = make_panel("digits-cnn",
                                 {"name": "digits", "options": {}})
    qtbot.waitUntil(lambda: panel.loading, timeout=5000)
    panel._remembered["image_folder"] = {"path": str(folder)}
    choose(panel, "image_folder")
    settle(qtbot, panel)
    assert set(panel.grid.labels()) == {"circle", "square"}

    with qtbot.assertNotEmitted(panel.loadFinished, wait=300):
        release.set()
        assert wait_for_background(30)
    assert set(panel.grid.labels()) == {"circle", "square"}  # digits arrived late: dropped
    assert panel.class_counts() == {"circle": 12, "square": 12}


def test_a_hidden_panel_loads_when_shown(qtbot, make_panel, monkeypatch):
    calls = []
    real = dp.load_dataset
    monkeypatch.setattr(dp, "load_dataset",
                        lambda *a, **k: calls.append(a[0]["name"]) or real(*a, **k))
    panel, document = make_panel("digits-cnn", show=False)
    choose(panel, "csv_series")
    qtbot.wait(dp.DEBOUNCE_MS + 100)
    assert calls == []
    document.undo_stack.undo()
    panel.show()
    settle(qtbot, panel)
    assert calls == ["digits"]
    assert panel.preview_kind() == "images"


def test_a_new_document_replaces_the_preview(qtbot, make_panel):
    panel, _ = make_panel("digits-cnn")
    settle(qtbot, panel)
    other = Document(build_template("lstm-forecast"))
    panel.set_document(other)
    assert panel.combo.currentData() == "csv_series"
    settle(qtbot, panel)
    assert panel.preview_kind() == "series"


def test_colour_images_for_a_three_channel_input(qtbot, make_panel, tmp_path):
    import cv2

    for name, bgr in (("blue", (255, 0, 0)), ("red", (0, 0, 255))):
        (tmp_path / "colours" / name).mkdir(parents=True)
        for i in range(10):
            img = np.zeros((20, 20, 3), np.uint8)
            cv2.circle(img, (10, 10), 4 + i % 5, bgr, -1)
            cv2.imwrite(str(tmp_path / "colours" / name / f"{i}.png"), img)
    panel, document = make_panel(
        "digits-cnn", {"name": "image_folder", "options": {"path": str(tmp_path / "colours")}})
    settle(qtbot, panel)
    assert all(img.shape == (16, 16) for img, _ in panel.preview.images)  # Input is 1 channel

    image = next(n for n in document.graph.nodes if n.type == "Input")
    document.push(SetParam(document.graph, image.id, "shape", [3, 16, 16]))
    document.refresh_analysis()  # the Input changed: the data is loaded again, in colour
    assert panel.pending
    settle(qtbot, panel)
    set_classes(document, 2)
    assert panel.banner_text() == ""
    for img, label in panel.preview.images:
        assert img.shape == (16, 16, 3)
        r, b = img[..., 0].astype(int).sum(), img[..., 2].astype(int).sum()
        assert (r > 2 * b) if label == "red" else (b > 2 * r)


def set_classes(document, classes: int) -> None:
    """The digits template's last Linear set to ``classes`` outputs."""
    document.push(SetParam(document.graph, document.graph.find("fc").id, "out_features",
                           classes))
    document.refresh_analysis()


def write_fake_mnist(root: Path, train: int = 60, test: int = 20) -> None:
    """Tiny MNIST idx files where torchvision looks for them (no download)."""
    import struct

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, label in enumerate(labels):
            images[i, 4:24, 4 + 2 * label:8 + 2 * label] = 255  # a bar whose place is the class
        images += rng.integers(0, 20, images.shape, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + labels.tobytes())


def test_torchvision_dataset_from_a_local_root_without_downloading(qtbot, make_panel,
                                                                    tmp_path):
    panel, document = make_panel("hello-mlp")
    settle(qtbot, panel)
    choose(panel, "mnist")
    panel.download_check.setChecked(False)  # never touch the network in a test
    assert document.project.dataset == {"name": "mnist", "options": {"download": False}}
    panel.root_edit.edit.setText(str(tmp_path / "empty"))
    panel.root_edit.committed.emit()
    settle(qtbot, panel)
    assert panel.banner_kind == "error"
    assert "downloading is turned off" in panel.banner_text()
    assert str(tmp_path / "empty") in panel.banner_text()

    write_fake_mnist(tmp_path / "mnist")
    panel.root_edit.edit.setText(str(tmp_path / "mnist"))
    panel.root_edit.committed.emit()
    settle(qtbot, panel)
    assert panel.banner_text() == ""
    assert panel.split_sizes() == (54, 6, 20)
    assert panel.grid.count() == 32
    assert panel.grid.labels()[:2] == ["0 - zero", "1 - one"]
    assert all(img.shape == (28, 28) for img, _ in panel.preview.images)  # from 784 features


def test_a_download_shows_its_progress_and_a_newer_choice_cancels_it(make_panel, qtbot,
                                                                     tmp_path, monkeypatch):
    from tests.backend.data.test_data_download import slow_mnist_download

    spec = slow_mnist_download(tmp_path, monkeypatch, 0.25)  # ~15 s for the whole set
    panel, document = make_panel("hello-mlp", dataset=spec)
    qtbot.waitUntil(lambda: "Downloading MNIST handwritten digits" in panel.placeholder.text(),
                    timeout=LOAD_TIMEOUT)
    assert panel.busy.isVisible() and panel.busy.maximum() > 0  # a bar that fills
    assert " kB (" in panel.placeholder.text()  # how far, of how much
    choose(panel, "digits")
    settle(qtbot, panel)
    assert document.project.dataset["name"] == "digits"
    assert "Loaded in" in panel.status.text() and panel.banner_kind != "error"
    assert wait_for_background(5), "the abandoned download kept going"
    raw = tmp_path / "datasets" / "MNIST" / "raw"
    assert not list(raw.glob("*.part"))
    assert panel.busy.maximum() == 0  # indeterminate again for the next load


@pytest.mark.parametrize("out_features", [128, 11])
def test_an_output_wider_than_the_classes_does_not_fit(qtbot, make_panel, out_features):
    """(N, 128) scores for the 10 digit classes trains without a torch error and is never what
    was meant: the Data tab says so and names the layer, instead of "fits the network"."""
    panel, document = make_panel("digits-cnn")
    settle(qtbot, panel)
    fc = document.graph.find("fc")
    document.push(SetParam(document.graph, fc.id, "out_features", out_features))
    document.refresh_analysis()
    assert panel.banner_kind == "error"
    assert "10 classes" in panel.banner_text() and "'fc'" in panel.banner_text()
    assert f"(N, {out_features})" in panel.banner_text()
    assert "does not fit" in panel.summary_text()
