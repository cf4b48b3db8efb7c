"""Frame sources for live testing: cameras, video files, images, a folder, synthetic frames.

Every source has ``read() -> Frame | None`` (None: the stream ended normally) and raises
:class:`SourceLost` when a live stream breaks (camera unplugged, file unreadable mid-way).
:class:`FrameReader` runs a source on its own thread with latest-frame semantics: only the
newest frame is kept, so whoever consumes frames never sees an old picture.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from backend.errors import CaptureError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def quiet_opencv() -> None:
    """One thread for OpenCV (our images are small, and torch's pool needs the cores: two
    pools fighting halves throughput) and no console spam from failed camera probes."""
    cv2.setNumThreads(1)
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # older builds
        pass


class SourceLost(CaptureError):
    """A live stream stopped delivering frames before its end (camera lost, file damaged)."""


@dataclass
class Frame:
    """One captured picture: BGR uint8, its index in the stream and when it was captured."""

    image: np.ndarray
    index: int
    time: float  # time.perf_counter() when read


class FrameSource:
    """Base class. ``live`` sources (cameras, synthetic) produce frames in real time."""

    name = "source"
    live = False
    fps: float = 0.0  # native rate when known (videos), 0 otherwise

    def open(self) -> None:
        """Acquire the device/file (may raise CaptureError)."""

    def read(self) -> Frame | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the device/file; safe to call twice."""

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CameraSource(FrameSource):
    """A camera by index. ``opener`` builds the capture (tests pass a fake one)."""

    live = True

    def __init__(self, index: int, width: int | None = None, height: int | None = None,
                 opener: Callable[[int], object] | None = None, retries: int = 5) -> None:
        self.index = index
        self.name = f"camera {index}"
        self.width, self.height = width, height
        self._opener = opener or cv2.VideoCapture
        self._cap = None
        self._count = 0
        self.retries = retries  # failed reads in a row before the camera counts as lost

    def open(self) -> None:
        quiet_opencv()
        cap = self._opener(self.index)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"camera {self.index} does not open: is a camera connected and "
                               f"not in use by another program? Choose another camera, or use "
                               f"a video file, an image or the drawing canvas instead")
        try:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queued one
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        except Exception:  # noqa: BLE001 - optional hints the backend may not honour
            pass
        self._cap = cap

    def read(self) -> Frame | None:
        if self._cap is None:
            self.open()
        for _ in range(self.retries):
            ok, image = self._cap.read()
            if ok and image is not None:
                frame = Frame(image, self._count, time.perf_counter())
                self._count += 1
                return frame
            time.sleep(0.01)
        raise SourceLost(f"camera {self.index} stopped sending pictures (unplugged or taken by "
                         f"another program?); reconnect it and press Start again")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoSource(FrameSource):
    """A video file. ``realtime``: deliver frames at the video's own rate (the live view);
    otherwise as fast as they are read (the CLI processes every frame). ``loop``: start over."""

    def __init__(self, path: str | os.PathLike, realtime: bool = False,
                 loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.realtime, self.loop = realtime, loop
        self._cap: cv2.VideoCapture | None = None
        self._count = 0
        self._frames = 0
        self._start = 0.0

    def open(self) -> None:
        quiet_opencv()
        if not self.path.is_file():
            raise CaptureError(f"{self.path}: no such video file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CaptureError(f"{self.path}: not a video OpenCV can read; convert it to MP4 "
                               f"or AVI (MJPG)")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._count = 0
        self._start = time.perf_counter()

    def read(self) -> Frame | None:
        if self._cap is None:
            self.open()
        assert self._cap is not None
        if self.realtime and self.fps > 0:  # wait until this frame is due
            due = self._start + self._count / self.fps
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._frames and self._count < self._frames - 2:  # frame counts may be off by one
                raise SourceLost(f"{self.path}: could not read frame {self._count} of "
                                 f"{self._frames}; the file may be damaged")
            if self.loop and self._count:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._start, self._count = time.perf_counter(), 0
                return self.read()
            return None
        frame = Frame(image, self._count, time.perf_counter())
        self._count += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` and its subfolders, sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def read_image(path: Path) -> np.ndarray:
    """One image file as BGR uint8 (handles non-ASCII paths)."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read ({exc})") from None
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if image is None:
        raise CaptureError(f"{path}: not an image OpenCV can read (PNG, JPEG, BMP, ...)")
    return image


class ImageSource(FrameSource):
    """An image file or a folder of images, one frame each. ``repeat``: keep showing them
    (the live view), ``interval``: seconds per image when repeating."""

    def __init__(self, path: str | os.PathLike, repeat: bool = False,
                 interval: float = 0.0) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.repeat, self.interval = repeat, interval
        self.files: list[Path] = []
        self._count = 0

    def open(self) -> None:
        if self.path.is_dir():
            self.files = image_files(self.path)
            if not self.files:
                raise CaptureError(f"{self.path}: the folder holds no images (PNG, JPEG, ...)")
        elif self.path.is_file():
            self.files = [self.path]
        else:
            raise CaptureError(f"{self.path}: no such image file or folder")
        self._count = 0

    def read(self) -> Frame | None:
        if not self.files:
            self.open()
        if self._count >= len(self.files) and not self.repeat:
            return None
        if self.repeat and self.interval and self._count:
            time.sleep(self.interval)
        path = self.files[self._count % len(self.files)]
        frame = Frame(read_image(path), self._count, time.perf_counter())
        self._count += 1
        return frame

    def current_file(self, index: int) -> Path:
        return self.files[index % len(self.files)]


def synthetic_frame(index: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A test picture: a dark digit (index % 10) written on light 'paper', slightly moving."""
    image = np.full((height, width, 3), 220, np.uint8)
    image[:, :, 0] = 210  # faint colour cast, like a real camera
    digit = str(index % 10)
    size = min(width, height) * 0.45 / 22.0  # the digit fills the middle of the picture
    thickness = max(1, int(size * 2.2))
    shift = int(4 * np.sin(index / 5.0))
    (tw, th), _ = cv2.getTextSize(digit, cv2.FONT_HERSHEY_SIMPLEX, size, thickness)
    org = ((width - tw) // 2 + shift, (height + th) // 2)
    cv2.putText(image, digit, org, cv2.FONT_HERSHEY_SIMPLEX, size, (30, 30, 30), thickness,
                cv2.LINE_AA)
    return image


class SyntheticSource(FrameSource):
    """Generated frames (see :func:`synthetic_frame`), at ``fps`` (0: as fast as asked), up to
    ``count`` frames (0: endless). Stands in for a camera in benchmarks and demos."""

    live = True

    def __init__(self, width: int = 640, height: int = 480, fps: float = 0.0,
                 count: int = 0, distinct: int = 10) -> None:
        self.name = f"synthetic {width}x{height}"
        self.width, self.height, self.fps, self.count = width, height, fps, count
        # pre-render: generating text per frame would be measured as capture cost
        self._frames = [synthetic_frame(i, width, height) for i in range(distinct)]
        self._count = 0
        self._start = time.perf_counter()

    def open(self) -> None:
        self._count = 0
        self._start = time.perf_counter()

    def read(self) -> Frame | None:
        if self.count and self._count >= self.count:
            return None
        if self.fps > 0:
            delay = self._start + self._count / self.fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(self._frames[self._count % len(self._frames)], self._count,
                      time.perf_counter())
        self._count += 1
        return frame


class PushSource(FrameSource):
    """Frames handed in from elsewhere (the drawing canvas): ``push(image)`` replaces the
    current picture; ``read`` returns it again and again at ``fps``."""

    live = True

    def __init__(self, fps: float = 30.0) -> None:
        self.name = "drawing"
        self.fps = fps
        self._image: np.ndarray | None = None
        self._lock = threading.Lock()
        self._count = 0

    def push(self, image: np.ndarray) -> None:
        with self._lock:
            self._image = image

    def read(self) -> Frame | None:
        time.sleep(1.0 / self.fps)
        with self._lock:
            image = self._image
        if image is None:
            image = np.full((280, 280, 3), 255, np.uint8)
        frame = Frame(image, self._count, time.perf_counter())
        self._count += 1
        return frame


def open_source(spec: str | int, realtime: bool = False, repeat: bool = False) -> FrameSource:
    """A source from a command-line style spec: camera index ("0"), video file, image file,
    image folder, or "synthetic"."""
    text = str(spec)
    if text.isdigit():
        return CameraSource(int(text))
    if text == "synthetic":
        return SyntheticSource()
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        return ImageSource(path, repeat=repeat)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, repeat=repeat, interval=0.03 if repeat else 0.0)
    if path.suffix.lower() in VIDEO_SUFFIXES or path.is_file():
        return VideoSource(path, realtime=realtime)
    raise CaptureError(f"{text}: not a camera index, video, image or folder")


def list_cameras(max_index: int = 4,
                 opener: Callable[[int], object] | None = None) -> list[int]:
    """Indices of the cameras that open (probes 0..max_index-1; skips the probe where the OS
    says there is no video device)."""
    quiet_opencv()
    if opener is None and os.name == "posix" and Path("/dev").is_dir() and \
            not any(Path("/dev").glob("video*")) and not Path("/System").exists():
        return []  # Linux without /dev/video*: nothing to probe (and probing is slow)
    opener = opener or cv2.VideoCapture
    found = []
    for index in range(max_index):
        cap = opener(index)
        try:
            if cap.isOpened():
                found.append(index)
        finally:
            cap.release()
    return found


class FrameReader:
    """Reads a source on its own thread, keeping only the newest frame.

    ``latest(timeout)`` returns the newest frame not yet taken (older ones are dropped and
    counted in ``dropped``), or None when none came in time. ``state`` is "running", "ended"
    (the stream finished), "lost" (it broke: ``error`` says why) or "stopped".
    ``reconnect()`` reopens a lost source.
    """

    def __init__(self, source: FrameSource, keep_all: bool = False) -> None:
        self.source = source
        self.keep_all = keep_all  # tests/CLI: never drop (the consumer sets the pace)
        self.state = "stopped"
        self.error: str | None = None
        self.dropped = 0
        self.frames = 0
        self._frame: Frame | None = None
        self._queue: list[Frame] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "FrameReader":
        """Open the source (raising CaptureError now if it cannot) and start reading."""
        self.source.open()
        self._stop.clear()
        self.state, self.error = "running", None
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    self._finish("ended")
                    return
                with self._cond:
                    if self.keep_all:
                        self._queue.append(frame)
                    else:
                        if self._frame is not None:
                            self.dropped += 1
                        self._frame = frame
                    self.frames += 1
                    self._cond.notify_all()
        except CaptureError as exc:
            self._finish("lost", str(exc))
        except Exception as exc:  # noqa: BLE001 - a driver error must not kill the app
            log.exception("frame source failed")
            self._finish("lost", f"{self.source.name} failed: {exc}")
        finally:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the frame source failed")

    def _finish(self, state: str, error: str | None = None) -> None:
        with self._cond:
            if self.state == "running":
                self.state, self.error = state, error
            self._cond.notify_all()

    def latest(self, timeout: float = 0.5) -> Frame | None:
        """The newest frame not taken yet; waits up to ``timeout`` seconds for one."""
        with self._cond:
            end = time.perf_counter() + timeout
            while True:
                if self.keep_all and self._queue:
                    return self._queue.pop(0)
                if self._frame is not None:
                    frame, self._frame = self._frame, None
                    return frame
                if self.state != "running":
                    return None
                left = end - time.perf_counter()
                if left <= 0:
                    return None
                self._cond.wait(left)

    @property
    def done(self) -> bool:
        """The stream ended or broke and every frame has been taken."""
        with self._cond:
            return self.state != "running" and self._frame is None and not self._queue

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading and release the source."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            if self.state == "running":
                self.state = "stopped"
            self._cond.notify_all()
        self._thread = None

    def reconnect(self) -> None:
        """Reopen the source after it was lost (raises CaptureError if it still fails)."""
        self.stop()
        self._frame, self._queue = None, []
        self.start()
