"""Run a trained image classifier on raw camera/video frames.

:class:`Preprocessor` turns a BGR uint8 frame into exactly the tensor the model was trained on,
derived from the model's Input node and the dataset's normalisation record (size, channels,
scale, mean/std, flatten), plus the user's live options: a region of interest, mirror, invert
and threshold (dark ink on paper -> the white-on-black digits the datasets hold).
:class:`Predictor` wraps any model — a checkpoint, an exported TorchScript file, or the weights
of a run still training — behind one ``predict(frame)``. The GUI's Test tab and
``layerforge infer`` use the same two classes, so they print the same predictions.
"""
from __future__ import annotations

import json
import logging
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from backend.errors import CheckpointError, InferenceError
from backend.tasks import get_task

log = logging.getLogger(__name__)

CROP_MODES = ("center", "resize")  # centre square crop then resize / squash the whole region


@dataclass(frozen=True)
class ModelInfo:
    """What inference needs to know about a model besides its weights."""

    input_kind: str  # "image" (C,H,W) or "vector" (C*H*W,)
    input_shape: tuple[int, ...]
    normalization: dict[str, Any]
    class_names: list[str]
    task: str = "classification"
    source: str = ""  # where it came from, for the UI


@dataclass
class Prediction:
    """One frame's result. ``topk`` is [(class name, probability)], best first."""

    topk: list[tuple[str, float]]
    index: int  # best class index
    probs: np.ndarray
    latency_ms: float  # preprocessing + model + softmax for this frame
    model_ms: float  # the model's forward alone
    frame_index: int = -1
    heatmap: np.ndarray | None = None  # Grad-CAM in [0,1] at the model's input size

    @property
    def label(self) -> str:
        return self.topk[0][0]

    @property
    def confidence(self) -> float:
        return self.topk[0][1]


# ---- preprocessing ---------------------------------------------------------------------------

@dataclass
class PreprocessOptions:
    """The user's live choices. ``roi`` is (x, y, w, h) as fractions of the (mirrored) frame."""

    roi: tuple[float, float, float, float] | None = None
    mirror: bool = False
    invert: bool = False
    threshold: bool = False
    crop: str = "center"


class Preprocessor:
    """BGR uint8 frame -> float32 model input, fast (a crop view, one small resize, numpy).

    The model sees: ROI of the frame (mirrored like the preview) -> centre square crop (or the
    whole region squashed) -> resize to the Input size (area filter) -> gray or RGB ->
    invert/threshold -> scale to [0,1] -> (x - mean) / std -> (C,H,W) or flattened.
    """

    def __init__(self, info: ModelInfo, options: PreprocessOptions | None = None) -> None:
        norm = info.normalization or {}
        if norm.get("kind", "image") != "image":
            raise InferenceError(f"this model reads {norm.get('kind')} data, not images: only "
                                 f"image models can be tested on a camera or video")
        self.info = info
        self.options = options or PreprocessOptions()
        if self.options.crop not in CROP_MODES:
            raise InferenceError(f"crop mode {self.options.crop!r}: use one of "
                                 f"{', '.join(CROP_MODES)}")
        channels, height, width, flatten = _layout(info)
        self.channels, self.height, self.width, self.flatten = channels, height, width, flatten
        lo, hi = (norm.get("value_range") or [0.0, 1.0])[:2]
        mean = np.asarray(norm.get("mean") or [0.0] * channels, dtype=np.float32)
        std = np.asarray(norm.get("std") or [1.0] * channels, dtype=np.float32)
        if mean.size == 1 and channels == 3:
            mean, std = np.repeat(mean, 3), np.repeat(std, 3)
        # fold [0,255] -> value_range and (x-mean)/std into one multiply-add per channel
        scale = (hi - lo) / 255.0
        self._mul = (scale / std).reshape(channels, 1, 1).astype(np.float32)
        self._add = ((lo - mean) / std).reshape(channels, 1, 1).astype(np.float32)
        self._out = np.empty((channels, height, width), dtype=np.float32)  # reused every frame
        self.model_view: np.ndarray | None = None  # uint8 (H,W) or (H,W,3) RGB: what it sees

    def roi_pixels(self, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The region (x, y, w, h) in pixels of the mirrored frame that is fed to the model."""
        fh, fw = frame_shape[:2]
        roi = self.options.roi
        if roi is None:
            x, y, w, h = 0, 0, fw, fh
        else:
            x = int(round(min(max(roi[0], 0.0), 1.0) * fw))
            y = int(round(min(max(roi[1], 0.0), 1.0) * fh))
            w = max(1, min(int(round(roi[2] * fw)), fw - x))
            h = max(1, min(int(round(roi[3] * fh)), fh - y))
        if self.options.crop == "center" and w != h:  # keep the model's aspect ratio
            target = self.width / self.height
            if w / h > target:
                nw = max(1, int(round(h * target)))
                x, w = x + (w - nw) // 2, nw
            else:
                nh = max(1, int(round(w / target)))
                y, h = y + (h - nh) // 2, nh
        return x, y, w, h

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The region of ``frame`` the model sees, mirrored like the preview (a view or copy)."""
        x, y, w, h = self.roi_pixels(frame.shape)
        if self.options.mirror:  # the ROI is in mirrored coordinates: map it back
            fw = frame.shape[1]
            return frame[y:y + h, fw - x - w:fw - x][:, ::-1]
        return frame[y:y + h, x:x + w]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Frame (H,W,3) BGR or (H,W) gray uint8 -> float32 array in the model's sample shape."""
        if frame is None or frame.ndim not in (2, 3) or frame.dtype != np.uint8:
            raise InferenceError("a frame must be an 8-bit image (H,W) or (H,W,3)")
        region = np.ascontiguousarray(self.crop(frame))
        small = cv2.resize(region, (self.width, self.height), interpolation=cv2.INTER_AREA)
        if self.channels == 1:
            if small.ndim == 3:
                small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        else:
            small = (cv2.cvtColor(small, cv2.COLOR_BGR2RGB) if small.ndim == 3
                     else cv2.cvtColor(small, cv2.COLOR_GRAY2RGB))
        if self.options.invert:
            small = 255 - small
        if self.options.threshold:
            small = _threshold(small)
        self.model_view = small
        chw = small[None] if small.ndim == 2 else small.transpose(2, 0, 1)
        np.multiply(chw, self._mul, out=self._out)
        self._out += self._add
        out = self._out.copy()
        return out.reshape(-1) if self.flatten else out


def _threshold(img: np.ndarray) -> np.ndarray:
    """Keep the ink, drop the paper: Otsu's threshold on the luminance, then stretch the ink to
    the full range (the datasets' strokes are bright and saturated)."""
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = gray > level
    if not mask.any():
        return np.zeros_like(img)
    top = float(gray[mask].max())
    stretch = 255.0 / max(top - level, 1.0)
    ink = np.clip(np.rint((gray.astype(np.float32) - level) * stretch), 0, 255)
    ink = ink.astype(np.uint8)
    ink[~mask] = 0
    return ink if img.ndim == 2 else np.repeat(ink[:, :, None], 3, axis=2)


def _layout(info: ModelInfo) -> tuple[int, int, int, bool]:
    """(channels, height, width, flatten) from the Input node, checked against normalisation."""
    norm = info.normalization or {}
    shape = tuple(int(d) for d in info.input_shape)
    if info.input_kind == "image" and len(shape) == 3:
        c, h, w = shape
        flatten = False
    elif info.input_kind == "vector" and len(shape) == 1:
        size = norm.get("size") or []
        c = int(norm.get("channels") or 1)
        if len(size) == 2 and c * size[0] * size[1] == shape[0]:
            h, w = int(size[0]), int(size[1])
        else:
            side = int(round((shape[0] / c) ** 0.5))
            if c * side * side != shape[0]:
                raise InferenceError(f"Input vector of {shape[0]} features is not an image: "
                                     f"only image models can be tested on a camera")
            h = w = side
        flatten = True
    else:
        raise InferenceError(f"the model's Input is {info.input_kind} {shape}: only image models "
                             f"(kind 'image' C,H,W or a flattened image 'vector') can be tested "
                             f"on a camera or video")
    if c not in (1, 3):
        raise InferenceError(f"the model's Input has {c} channels; camera frames give 1 (gray) "
                             f"or 3 (RGB)")
    return c, h, w, flatten


# ---- the predictor ---------------------------------------------------------------------------

class Predictor:
    """A model plus its preprocessing: ``predict(frame)`` -> :class:`Prediction`.

    ``set_weights`` swaps in new weights (a running training's snapshot) without rebuilding.
    Not thread-safe: use one Predictor per inference thread.
    """

    def __init__(self, model: torch.nn.Module, info: ModelInfo,
                 options: PreprocessOptions | None = None, top_k: int = 3,
                 explain_layer: str | None = None) -> None:
        self.model = model.eval()
        self.info = info
        self.task = get_task(info.task)  # how one output reads (top-k classes)
        self.preprocess = Preprocessor(info, options)
        self.top_k = top_k
        self.explain_layer = explain_layer  # a conv layer name for Grad-CAM, when there is one
        self.explain = False
        self._batch = torch.empty((1, *self.info.input_shape), dtype=torch.float32)

    @property
    def options(self) -> PreprocessOptions:
        return self.preprocess.options

    def set_options(self, options: PreprocessOptions) -> None:
        """New ROI/mirror/invert/threshold/crop choices (takes effect on the next frame)."""
        self.preprocess = Preprocessor(self.info, options)

    def set_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load new weights in place (same network), e.g. a snapshot of a training run."""
        with torch.no_grad():
            self.model.load_state_dict(state_dict)
        self.model.eval()

    def forward(self, x: np.ndarray) -> torch.Tensor:
        """The bare model on one preprocessed sample: class probabilities (a 1-D tensor)."""
        self._batch[0].copy_(torch.from_numpy(x).view(self._batch.shape[1:]))
        with torch.inference_mode():
            out = self.model(self._batch)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return torch.softmax(out.reshape(1, -1).float(), dim=1)[0]

    def predict(self, frame: np.ndarray, frame_index: int = -1) -> Prediction:
        """Preprocess ``frame``, run the model, and return the top-k classes."""
        t0 = time.perf_counter()
        x = self.preprocess(frame)
        t1 = time.perf_counter()
        probs = self.forward(x).numpy()
        t2 = time.perf_counter()
        heatmap = None
        if self.explain and self.explain_layer is not None:
            from backend.live.explain import grad_cam
            heatmap = grad_cam(self.model, self.explain_layer, torch.from_numpy(x)[None],
                               int(probs.argmax()))
        topk, best = self.task.top_k(probs, self.info.class_names, self.top_k)
        t3 = time.perf_counter()
        return Prediction(topk, best, probs, (t3 - t0) * 1000.0, (t2 - t1) * 1000.0,
                          frame_index, heatmap)


# ---- loading ---------------------------------------------------------------------------------

def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold compiled code (``<name>/code/``); checkpoints do not."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def info_from_project(project, normalization: dict[str, Any], class_names: list[str] | None,
                      task: str = "classification", source: str = "") -> ModelInfo:
    """ModelInfo from a project's single Input node and its dataset's normalisation."""
    inputs = [n for n in project.graph.nodes if n.type == "Input"]
    if len(inputs) != 1:
        raise InferenceError(f"the network has {len(inputs)} Input nodes; live testing feeds "
                             f"one image into one Input")
    kind, shape = inputs[0].params["kind"], tuple(inputs[0].params["shape"])
    declared = get_task(task)
    if not declared.live_test:
        raise InferenceError(f"this model's task is {task}; live testing shows classes, so it "
                             f"needs an image classifier")
    names = list(class_names or [])
    return ModelInfo(kind, shape, dict(normalization or {}), names, declared.name, source)


def last_conv_layer(project) -> str | None:
    """The name of the last Conv2d in the network (Grad-CAM's layer), or None."""
    from graph.validate import analyze

    analysis = analyze(project.graph)
    convs = [project.graph.node(i).name for i in analysis.order
             if project.graph.node(i).type == "Conv2d"]
    return convs[-1] if convs else None


def predictor_from_project(project, state_dict: dict[str, torch.Tensor],
                           normalization: dict[str, Any], class_names: list[str] | None,
                           task: str = "classification", source: str = "",
                           options: PreprocessOptions | None = None) -> Predictor:
    """Compile ``project``'s graph, load ``state_dict`` and wrap it for frames."""
    from backend.compile.compiler import compile_graph

    info = info_from_project(project, normalization, class_names, task, source)
    if not normalization:
        raise InferenceError(f"{source or 'the model'} has no normalisation record (it was not "
                             f"trained on an image dataset): train it on one first")
    model = compile_graph(project.graph)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise InferenceError(f"{source or 'the weights'} do not fit the network: {exc}") from None
    if not info.class_names:
        out = model(torch.zeros((1, *info.input_shape)))
        info = ModelInfo(info.input_kind, info.input_shape, info.normalization,
                         [str(i) for i in range(int(out.reshape(1, -1).shape[1]))], info.task,
                         info.source)
    return Predictor(model, info, options, explain_layer=last_conv_layer(project))


def load_torchscript(path: str | os.PathLike,
                     options: PreprocessOptions | None = None) -> Predictor:
    """An exported TorchScript file with its ``layerforge.json`` (normalisation, classes...)."""
    extra = {"layerforge.json": ""}
    try:
        with warnings.catch_warnings():  # torch 2.14 marks TorchScript deprecated; we still read it
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InferenceError(f"{path}: not a readable TorchScript file ({exc})") from None
    try:
        meta = json.loads(extra["layerforge.json"] or "{}")
    except (json.JSONDecodeError, TypeError):
        meta = {}
    inp = meta.get("input") or {}
    kind = inp.get("kind") or meta.get("input_kind")
    shape = inp.get("shape") or meta.get("input_shape")
    norm = meta.get("normalization") or {}
    if not kind or not shape or not norm:
        raise InferenceError(f"{path}: has no LayerForge metadata (layerforge.json with input "
                             f"and normalisation); export it from LayerForge to test it live")
    if len(shape) == len(norm.get("size", [])) + 2 or (kind == "image" and len(shape) == 4):
        shape = shape[1:]  # a batch axis was included
    info = ModelInfo(kind, tuple(int(d) for d in shape), norm,
                     list(meta.get("class_names") or []), get_task(meta.get("task")).name,
                     str(path))
    if not get_task(info.task).live_test:
        raise InferenceError(f"{path}: a {info.task} model; live testing needs a classifier")
    if not info.class_names:
        with torch.no_grad():
            out = model(torch.zeros((1, *info.input_shape)))
        info = ModelInfo(info.input_kind, info.input_shape, norm,
                         [str(i) for i in range(int(out.reshape(1, -1).shape[1]))], info.task,
                         info.source)
    return Predictor(model, info, options)


def load_predictor(source: Any, options: PreprocessOptions | None = None) -> Predictor:
    """A Predictor from a checkpoint or TorchScript path, a loaded Checkpoint, or a tuple
    (project, state_dict, normalization, class_names). Problems raise InferenceError or
    CheckpointError naming the file and the fix."""
    from backend.checkpoint import Checkpoint, load_checkpoint

    if isinstance(source, tuple):
        project, state, norm, names = source
        return predictor_from_project(project, state, norm, names, options=options)
    if isinstance(source, Checkpoint):
        return predictor_from_project(source.project, source.state_dict, source.normalization,
                                      source.class_names, source.task, options=options)
    path = Path(source)
    if not path.is_file():
        raise InferenceError(f"{path}: no such model file; give a checkpoint (.pt) or an "
                             f"exported TorchScript file")
    if _is_torchscript(path):
        return load_torchscript(path, options)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError:
        raise
    return predictor_from_project(ckpt.project, ckpt.state_dict, ckpt.normalization,
                                  ckpt.class_names, ckpt.task, str(path), options)


@dataclass
class RateMeter:
    """Frames per second over a sliding window of recent frame times."""

    window_s: float = 1.0
    times: list[float] = field(default_factory=list)

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        self.times.append(now)
        cut = now - self.window_s
        while len(self.times) > 2 and self.times[0] < cut:
            self.times.pop(0)
        return self.fps

    @property
    def fps(self) -> float:
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


def predict_stream(predictor: Predictor, source, max_frames: int = 0):
    """Predict every frame of a file source in order (or the newest frames of a live one,
    through a latest-frame reader). Yields (frame, prediction); the source is closed after."""
    from backend.live.capture import FrameReader

    if not source.live:
        source.open()
        try:
            count = 0
            while not max_frames or count < max_frames:
                frame = source.read()
                if frame is None:
                    return
                yield frame, predictor.predict(frame.image, frame.index)
                count += 1
        finally:
            source.close()
        return
    reader = FrameReader(source).start()
    try:
        count = 0
        while not max_frames or count < max_frames:
            frame = reader.latest(timeout=2.0)
            if frame is None:
                if reader.state == "lost":
                    from backend.live.capture import SourceLost
                    raise SourceLost(reader.error or f"{source.name} was lost")
                if reader.state != "running":
                    return
                continue
            yield frame, predictor.predict(frame.image, frame.index)
            count += 1
    finally:
        reader.stop()


def display_image(frame: np.ndarray, mirror: bool = False) -> np.ndarray:
    """The frame as the preview shows it: RGB, mirrored when asked (a new contiguous array,
    safe to wrap in a QImage on another thread)."""
    if frame.ndim == 2:
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    else:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return cv2.flip(rgb, 1) if mirror else rgb
