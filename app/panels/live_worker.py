"""The live test's worker thread and what it hands to the GUI thread.

A :class:`LiveWorker` takes the newest frame from a :class:`backend.live.capture.FrameReader`
(its own thread, latest-frame semantics), preprocesses it exactly as the model was trained
(:class:`backend.live.infer.Predictor`), optionally records it for "teach the camera", and leaves
only its newest result in a one-slot queue for the Test tab to paint.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QThread

from app.panels.live_views import TOP_K
from backend.data.recorder import SampleStore
from backend.live.capture import FrameReader, FrameSource
from backend.live.infer import Prediction, PreprocessOptions, Predictor, RateMeter, display_image
from graph.errors import LayerForgeError

log = logging.getLogger(__name__)

RECORD_INTERVAL_S = 1 / 15  # hold-to-record keeps at most 15 frames a second
WEIGHTS_POLL_S = 1.0  # live training: fresh weights this often


@dataclass
class LiveResult:
    """One painted frame: what the worker hands to the GUI thread."""

    display: np.ndarray  # RGB uint8, mirrored like the preview (heatmap blended in)
    model_view: np.ndarray  # uint8 gray or RGB at the model's input size
    prediction: Prediction
    fps: float
    latency_ms: float  # frame read -> result ready
    frame_index: int
    roi: tuple[int, int, int, int]  # pixels in ``display``
    dropped: int
    task: str = ""  # the model's task: which live view shows the prediction


@dataclass
class StreamEvent:
    """Something the GUI must not miss (unlike frames): a recording, an end, a loss."""

    kind: str  # "recorded" | "ended" | "lost" | "error" | "weights"
    text: str = ""
    path: Path | None = None
    class_name: str = ""


class LiveWorker(QThread):
    """Builds the predictor (on this thread), then predicts the newest frame until stopped."""

    def __init__(self, make_source: Callable[[], FrameSource],
                 make_predictor: Callable[[], Predictor], options: PreprocessOptions,
                 weights: Callable[[], dict | None] | None = None,
                 idle: Callable[[], bool] | None = None) -> None:
        """``idle()`` True: there is nothing to predict yet (a blank drawing): frames are
        skipped, not predicted."""
        super().__init__()
        self.make_source, self.make_predictor = make_source, make_predictor
        self.weights, self.idle = weights, idle
        self.results: collections.deque[LiveResult] = collections.deque(maxlen=1)
        self.events: collections.deque[StreamEvent] = collections.deque()
        self.reader: FrameReader | None = None
        self.predictor: Predictor | None = None
        self._lock = threading.Lock()
        self._options = options
        self._options_changed = True
        self._explain = False
        self._record: tuple[SampleStore, str] | None = None
        self._stop = threading.Event()

    # -- from the GUI thread --
    def set_options(self, options: PreprocessOptions) -> None:
        with self._lock:
            self._options, self._options_changed = options, True

    def set_explain(self, on: bool) -> None:
        self._explain = on

    def set_recording(self, store: SampleStore | None, class_name: str | None) -> None:
        with self._lock:
            self._record = (store, class_name) if store and class_name else None

    def stop(self) -> None:
        self._stop.set()

    # -- the thread --
    def run(self) -> None:  # QThread entry point
        try:
            self._loop()
        except LayerForgeError as exc:
            self.events.append(StreamEvent("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the app silently
            log.exception("live test crashed")
            self.events.append(StreamEvent("error", f"live test stopped by an internal error: "
                                                    f"{exc}"))
        finally:
            if self.reader is not None:
                self.reader.stop()

    def _loop(self) -> None:
        import torch

        torch.set_num_threads(1)  # this thread's pool: a small CNN gains nothing, training keeps
        self.predictor = predictor = self.make_predictor()
        predictor.top_k = TOP_K
        self.reader = reader = FrameReader(self.make_source()).start()
        meter = RateMeter()
        last_weights = last_record = 0.0
        while not self._stop.is_set():
            frame = reader.latest(timeout=0.2)
            if frame is None:
                if reader.state == "lost":
                    self.events.append(StreamEvent("lost", reader.error or "the source was lost"))
                    return
                if reader.state == "ended":
                    self.events.append(StreamEvent("ended", f"{reader.source.name}: end of "
                                                            f"stream"))
                    return
                continue
            if self.idle is not None and self.idle():
                continue
            with self._lock:
                if self._options_changed:
                    predictor.set_options(self._options)
                    self._options_changed = False
                record = self._record
            now = time.perf_counter()
            if self.weights is not None and now - last_weights > WEIGHTS_POLL_S:
                last_weights = now
                state = self.weights()
                if state is not None:
                    predictor.set_weights(state)
            if record is not None and now - last_record >= RECORD_INTERVAL_S:
                last_record = now
                store, name = record
                path = store.add(name, np.ascontiguousarray(predictor.preprocess.crop(frame.image)))
                self.events.append(StreamEvent("recorded", path=path, class_name=name))
            predictor.explain = self._explain and predictor.explain_layer is not None
            prediction = predictor.predict(frame.image, frame.index)
            display = display_image(frame.image, predictor.options.mirror)
            roi = predictor.preprocess.roi_pixels(display.shape)
            if prediction.heatmap is not None:
                from backend.live.explain import overlay

                x, y, w, h = roi
                display[y:y + h, x:x + w] = overlay(display[y:y + h, x:x + w],
                                                    prediction.heatmap)
            view = predictor.preprocess.model_view
            done = time.perf_counter()
            self.results.append(LiveResult(
                display, view.copy() if view is not None else np.zeros((1, 1), np.uint8),
                prediction, meter.tick(done), (done - frame.time) * 1000.0, frame.index, roi,
                reader.dropped, predictor.info.task))
