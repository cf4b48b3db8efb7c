"""Dataset downloads that say how far they are and can be cancelled (no Qt).

A caller that shows progress wraps the loading in ``reporting(progress, cancelled)``: every
download made inside it, on that thread, calls ``progress(DownloadProgress)`` after each chunk
and stops with ``DownloadCancelled`` as soon as ``cancelled()`` is true (the partial file is
removed). The settings live in context variables, so two threads loading at once (the Data
tab's preview and a training run) each report to their own caller.

torchvision's own download prints a tqdm bar and cannot be stopped; ``prefetch_torchvision``
fetches the same archives into the places torchvision looks, checked against its MD5 sums, so
torchvision then only verifies and extracts them.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from backend.data.base import DataError
from graph.formatting import format_bytes

CHUNK = 64 * 1024
USER_AGENT = "LayerForge (dataset download)"


@dataclass(frozen=True)
class DownloadProgress:
    what: str          # e.g. "MNIST: train-images-idx3-ubyte.gz"
    done: int          # bytes so far
    total: int | None  # bytes, when the server says

    def describe(self) -> str:
        """'Downloading MNIST: train-images-idx3-ubyte.gz: 4.2 MB of 9.9 MB (42%)'."""
        if self.total:
            return (f"Downloading {self.what}: {format_bytes(self.done)} of "
                    f"{format_bytes(self.total)} ({100 * self.done // self.total}%)")
        return f"Downloading {self.what}: {format_bytes(self.done)}"


class DownloadCancelled(DataError):
    """The caller's ``cancelled()`` turned true during a download."""


_progress: contextvars.ContextVar[Callable[[DownloadProgress], None] | None] = \
    contextvars.ContextVar("layerforge_download_progress", default=None)
_cancelled: contextvars.ContextVar[Callable[[], bool] | None] = \
    contextvars.ContextVar("layerforge_download_cancelled", default=None)


@contextlib.contextmanager
def reporting(progress: Callable[[DownloadProgress], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
    """Downloads on this thread inside the block report to ``progress`` and stop when
    ``cancelled()`` is true."""
    tokens = _progress.set(progress), _cancelled.set(cancelled)
    try:
        yield
    finally:
        _progress.reset(tokens[0])
        _cancelled.reset(tokens[1])


def fetch(url: str, path: str | Path, what: str, md5: str | None = None,
          sha256_prefix: str | None = None) -> Path:
    """Download ``url`` to ``path`` (atomically: a ``.part`` file renamed at the end),
    reporting progress and honouring cancellation; with ``md5`` (or the start of the SHA-256,
    as torch hub file names carry it), a corrupt download is an error. Raises
    DownloadCancelled, or OSError / urllib errors for network problems."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    progress, cancelled = _progress.get(), _cancelled.get()
    digest = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(DownloadProgress(what, 0, total))
            while True:
                if cancelled and cancelled():
                    raise DownloadCancelled(f"the download of {what} was cancelled")
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                sha256.update(chunk)
                done += len(chunk)
                if progress:
                    progress(DownloadProgress(what, done, total))
        if md5 and digest.hexdigest() != md5:
            raise DataError(f"the download of {what} from {url} is corrupt (MD5 "
                            f"{digest.hexdigest()}, expected {md5}): try again")
        if sha256_prefix and not sha256.hexdigest().startswith(sha256_prefix):
            raise DataError(f"the download of {what} from {url} is corrupt (SHA-256 "
                            f"{sha256.hexdigest()[:12]}…, expected {sha256_prefix}…): try again")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def torchvision_files(cls: Any, root: str | Path) -> list[tuple[list[str], Path, str | None]]:
    """What torchvision's ``cls`` (MNIST, FashionMNIST, CIFAR10) would download into
    ``root``, and is not there yet: [(urls to try, file, md5)]."""
    from torchvision.datasets.utils import check_integrity  # the test torchvision makes

    root = Path(root)
    if hasattr(cls, "resources") and hasattr(cls, "mirrors"):  # the MNIST family
        raw = root / cls.__name__ / "raw"
        missing = []
        for filename, md5 in cls.resources:
            extracted = raw / os.path.splitext(filename)[0]
            if not extracted.is_file() and not check_integrity(str(raw / filename), md5):
                missing.append(([f"{mirror}{filename}" for mirror in cls.mirrors],
                                raw / filename, md5))
        return missing
    if hasattr(cls, "url") and hasattr(cls, "filename"):  # CIFAR
        folder = getattr(cls, "base_folder", None)
        if folder and (root / folder).is_dir():
            return []  # extracted already (torchvision checks every batch file itself)
        archive = root / cls.filename
        md5 = getattr(cls, "tgz_md5", None)
        return [] if check_integrity(str(archive), md5) else [([cls.url], archive, md5)]
    return []  # unknown layout: torchvision downloads it itself


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """One caller at a time downloads and unpacks into ``path`` in this process (the Data
    tab's preview and a training run may load the same dataset at once); a caller waiting
    here still honours its ``cancelled()``."""
    with _locks_guard:
        lock = _locks.setdefault(Path(path).resolve(), threading.Lock())
    cancelled = _cancelled.get()
    while not lock.acquire(timeout=0.2):
        if cancelled and cancelled():
            raise DownloadCancelled(f"the download into {path} was cancelled")
    try:
        yield
    finally:
        lock.release()


def prefetch_torchvision(cls: Any, root: str | Path, title: str) -> None:
    """Download what torchvision's ``cls`` needs into ``root``, with progress and cancel;
    each file from the first of its mirrors that answers."""
    for urls, path, md5 in torchvision_files(cls, root):
        errors = []
        for url in urls:
            try:
                fetch(url, path, f"{title}: {path.name}", md5)
                break
            except DownloadCancelled:
                raise
            except (OSError, ValueError, DataError) as exc:  # URLError is an OSError
                errors.append(f"{url}: {exc}")
        else:
            raise DataError(f"could not download {path.name} for {title}: "
                            + "; ".join(errors))
