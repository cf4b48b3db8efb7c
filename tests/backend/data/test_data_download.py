"""Dataset downloads with progress and cancel: served from file:// URLs written by the test
(nothing here touches the network)."""
from __future__ import annotations

import gzip
import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from backend.data import DataError, DownloadCancelled, load_dataset, reporting
from backend.data.download import DownloadProgress, fetch
from tests.backend.data.test_data import fake_mnist


def served(tmp_path: Path, size: int = 300_000) -> tuple[str, bytes]:
    payload = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    source = tmp_path / "server" / "blob.bin"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(payload)
    return source.as_uri(), payload


def test_fetch_reports_progress_and_checks_the_md5(tmp_path):
    url, payload = served(tmp_path)
    seen: list[DownloadProgress] = []
    with reporting(seen.append):
        path = fetch(url, tmp_path / "out" / "blob.bin", "the blob",
                     hashlib.md5(payload).hexdigest())
    assert path.read_bytes() == payload
    assert seen[0].done == 0 and seen[-1].done == len(payload)
    assert all(p.total == len(payload) for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen) and len(seen) > 3
    assert "the blob: 300.0 kB of 300.0 kB (100%)" in seen[-1].describe()
    assert DownloadProgress("x", 4_200_000, 9_900_000).describe() == \
        "Downloading x: 4.2 MB of 9.9 MB (42%)"
    assert DownloadProgress("x", 640_000, None).describe() == "Downloading x: 640.0 kB"

    with pytest.raises(DataError, match="corrupt"):
        fetch(url, tmp_path / "bad" / "blob.bin", "the blob", "0" * 32)
    assert not any((tmp_path / "bad").iterdir())  # nothing half-written is left


def test_cancelling_stops_the_download_and_leaves_no_file(tmp_path):
    url, _ = served(tmp_path)
    seen: list[DownloadProgress] = []
    with reporting(seen.append, cancelled=lambda: len(seen) >= 2):
        with pytest.raises(DownloadCancelled, match="cancelled"):
            fetch(url, tmp_path / "out" / "blob.bin", "the blob")
    assert not any((tmp_path / "out").iterdir())
    assert seen[-1].done < seen[-1].total


def test_reporting_belongs_to_the_thread_that_asked(tmp_path):
    url, _ = served(tmp_path)
    mine: list[DownloadProgress] = []
    other_done = threading.Event()

    def other() -> None:  # no reporting here: must not report to the main thread's list
        fetch(url, tmp_path / "other.bin", "other")
        other_done.set()

    with reporting(mine.append):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert other_done.is_set() and mine == []


def mnist_mirror(tmp_path: Path, monkeypatch) -> Path:
    """MNIST's four archives, gzipped as published, at a file:// mirror with their MD5s."""
    from torchvision.datasets import MNIST

    fake_mnist(tmp_path / "made", "MNIST")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources = []
    for raw in sorted((tmp_path / "made" / "MNIST" / "raw").iterdir()):
        archive = mirror / (raw.name + ".gz")
        archive.write_bytes(gzip.compress(raw.read_bytes()))
        resources.append((archive.name, hashlib.md5(archive.read_bytes()).hexdigest()))
    monkeypatch.setattr(MNIST, "mirrors", [str(tmp_path / "nowhere") + "/", mirror.as_uri() + "/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    return mirror


def slow_mnist_download(tmp_path, monkeypatch, seconds_per_chunk: float = 0.01) -> dict:
    """MNIST from the file:// mirror above, read in 1 KB chunks that take a while each, as
    over a slow line; the dataset spec that downloads it."""
    import urllib.request

    from backend.data import download

    mnist_mirror(tmp_path, monkeypatch)
    monkeypatch.setattr(download, "CHUNK", 1024)
    real_urlopen = urllib.request.urlopen

    class Slow:
        def __init__(self, response) -> None:
            self.response, self.headers = response, response.headers

        def read(self, n: int) -> bytes:
            time.sleep(seconds_per_chunk)
            return self.response.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.response.close()

    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda *a, **k: Slow(real_urlopen(*a, **k)))
    return {"name": "mnist", "options": {"root": str(tmp_path / "datasets")}}


def test_mnist_downloads_from_the_first_mirror_that_answers_with_progress(tmp_path, monkeypatch):
    mnist_mirror(tmp_path, monkeypatch)
    root = tmp_path / "datasets"
    spec = {"name": "mnist", "options": {"root": str(root)}}
    seen: list[DownloadProgress] = []
    with reporting(seen.append):
        bundle = load_dataset(spec, "image", (1, 28, 28), seed=3)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (45, 5, 20)
    files = {p.what.split(": ")[1] for p in seen}
    assert files == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert all(p.what.startswith("MNIST handwritten digits: ") for p in seen)
    seen.clear()
    with reporting(seen.append):  # downloaded once: the next load reads the files
        load_dataset(spec, "image", (1, 28, 28), seed=3)
    assert seen == []


def test_a_cancelled_mnist_download_is_not_reported_as_a_missing_dataset(tmp_path, monkeypatch):
    mnist_mirror(tmp_path, monkeypatch)
    spec = {"name": "mnist", "options": {"root": str(tmp_path / "datasets")}}
    with reporting(cancelled=lambda: True):
        with pytest.raises(DownloadCancelled):
            load_dataset(spec, "image", (1, 28, 28))


def test_no_mirror_answering_says_what_to_do(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", [(tmp_path / "nowhere").as_uri() + "/"])
    spec = {"name": "mnist", "options": {"root": str(tmp_path / "datasets")}}
    with pytest.raises(DataError, match="are you online.*train-images-idx3-ubyte.gz"):
        load_dataset(spec, "image", (1, 28, 28))


def test_two_loads_of_one_dataset_at_once_download_it_once(tmp_path, monkeypatch):
    """The Data tab's preview and a training run may load MNIST together: one downloads,
    the other waits and reads the files."""
    slow_mnist_download(tmp_path, monkeypatch, 0.002)
    spec = {"name": "mnist", "options": {"root": str(tmp_path / "datasets")}}
    reports: dict[str, list] = {"a": [], "b": []}
    results: dict[str, object] = {}

    def load(name: str) -> None:
        with reporting(reports[name].append):
            try:
                results[name] = len(load_dataset(spec, "image", (1, 28, 28), seed=3).train)
            except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                results[name] = exc

    threads = [threading.Thread(target=load, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": 45, "b": 45}
    assert sorted(bool(r) for r in reports.values()) == [False, True]  # one downloaded
