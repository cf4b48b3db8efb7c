"""Live inference without a camera: preprocessing, predictors from every kind of model file,
frame sources (a video written by OpenCV, synthetic frames, a fake camera that dies), the
latest-frame reader, the teach-the-camera recorder, Grad-CAM and ``layerforge infer``."""
from __future__ import annotations

import contextlib
import io
import json
import re
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from backend.training import train as tr
from backend.live.capture import (CameraSource, CaptureError, FrameReader, SourceLost,
                             SyntheticSource, VideoSource, list_cameras, open_source,
                             synthetic_frame)
from backend.checkpoint import Checkpoint, save_checkpoint
from backend.cli import main as cli_main
from backend.data import load_dataset
from backend.data.recorder import SampleStore
from backend.errors import InferenceError
from backend.live.infer import (ModelInfo, PreprocessOptions, Preprocessor, load_predictor,
                           predict_stream)
from graph.errors import LayerForgeError
from graph.templates import build_template

NORM = {"kind": "image", "mean": [0.25], "std": [0.5], "size": [16, 16], "channels": 1,
        "flatten": False, "value_range": [0.0, 1.0], "color": "gray"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits-cnn trained for 3 epochs, saved as a checkpoint; and a short video of digits."""
    torch.set_num_threads(1)
    project = build_template("digits-cnn")
    run = tr.TrainingRun(project, epochs=3)
    events = list(run.events())
    assert isinstance(events[-1], tr.Finished), events[-1]
    folder = tmp_path_factory.mktemp("infer")
    ckpt = folder / "digits.pt"
    save_checkpoint(ckpt, Checkpoint(run.project, run.model.state_dict(),
                                     run.bundle.normalization, "classification",
                                     run.bundle.class_names, 2))
    video = write_video(folder / "digits.avi", 12)
    return {"ckpt": ckpt, "video": video, "run": run, "folder": folder}


def write_video(path: Path, frames: int, size=(320, 240), fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(synthetic_frame(i, *size))
    writer.release()
    return path


# ---- preprocessing ----------------------------------------------------------------------------

def info(channels=1, kind="image", norm=NORM) -> ModelInfo:
    shape = (channels, 16, 16) if kind == "image" else (channels * 256,)
    return ModelInfo(kind, shape, dict(norm, channels=channels), [str(i) for i in range(10)])


def test_preprocessing_scales_and_normalises_like_the_dataset():
    frame = np.full((48, 64, 3), 204, np.uint8)  # 0.8 after scaling
    x = Preprocessor(info())(frame)
    assert x.shape == (1, 16, 16) and x.dtype == np.float32
    np.testing.assert_allclose(x, (0.8 - 0.25) / 0.5, atol=1e-5)
    inverted = Preprocessor(info(), PreprocessOptions(invert=True))(frame)
    np.testing.assert_allclose(inverted, (0.2 - 0.25) / 0.5, atol=1e-5)
    flat = Preprocessor(info(kind="vector"))(frame)
    assert flat.shape == (256,)
    rgb = Preprocessor(info(3, norm=dict(NORM, mean=[0.1, 0.2, 0.3], std=[1, 1, 1])))(frame)
    assert rgb.shape == (3, 16, 16)
    np.testing.assert_allclose(rgb[2], 0.8 - 0.3, atol=1e-5)


def test_roi_mirror_and_crop_choose_what_the_model_sees():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :50] = 255  # white left quarter
    left = (0.0, 0.0, 0.25, 1.0)
    seen = Preprocessor(info(), PreprocessOptions(roi=left, crop="resize"))
    seen(frame)
    assert seen.model_view.min() == 255
    # mirrored, the white stripe is on the right: the same ROI now sees black
    mirrored = Preprocessor(info(), PreprocessOptions(roi=left, mirror=True, crop="resize"))
    mirrored(frame)
    assert mirrored.model_view.max() == 0
    # centre crop of the whole frame: the middle square, which is all black
    centre = Preprocessor(info())
    assert centre.roi_pixels(frame.shape) == (50, 0, 100, 100)
    centre(frame)
    assert centre.model_view.max() == 0


def test_threshold_keeps_dark_ink_on_paper_as_bright_strokes():
    frame = synthetic_frame(7, 160, 120)
    pre = Preprocessor(info(), PreprocessOptions(invert=True, threshold=True))
    pre(frame)
    view = pre.model_view
    assert view.max() == 255 and (view == 0).mean() > 0.4  # paper gone, ink saturated


def test_non_image_models_are_refused_with_a_reason():
    with pytest.raises(InferenceError, match="only image models"):
        Preprocessor(ModelInfo("sequence", (52, 1), {"kind": "series"}, []))
    with pytest.raises(InferenceError, match="only image models"):
        Preprocessor(ModelInfo("sequence", (52, 1), dict(NORM), []))


# ---- predictors -------------------------------------------------------------------------------

def test_predictor_from_checkpoint_reads_digits_on_paper(trained):
    pred = load_predictor(trained["ckpt"], PreprocessOptions(invert=True, threshold=True))
    assert pred.info.class_names == [str(i) for i in range(10)]
    result = pred.predict(synthetic_frame(2), 5)
    assert len(result.topk) == 3 and result.frame_index == 5
    probs = [p for _, p in result.topk]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert result.latency_ms >= result.model_ms > 0
    assert result.label == result.topk[0][0] == pred.info.class_names[result.index]
    # the same weights from the live run agree with the checkpoint
    run = trained["run"]
    live = load_predictor((run.project, run.snapshot(), run.bundle.normalization,
                           run.bundle.class_names), PreprocessOptions(invert=True, threshold=True))
    np.testing.assert_allclose(live.predict(synthetic_frame(2)).probs, result.probs, atol=1e-5)


def test_set_weights_swaps_the_model_in_place(trained):
    run = trained["run"]
    pred = load_predictor(trained["ckpt"])
    before = pred.predict(synthetic_frame(4)).probs
    zeros = {k: torch.zeros_like(v) for k, v in run.snapshot().items()}
    model = pred.model
    pred.set_weights(zeros)
    assert pred.model is model
    after = pred.predict(synthetic_frame(4)).probs
    assert not np.allclose(before, after)
    pred.set_weights(run.snapshot())
    np.testing.assert_allclose(pred.predict(synthetic_frame(4)).probs, before, atol=1e-5)


def test_torchscript_with_layerforge_metadata(trained, tmp_path):
    pred = load_predictor(trained["ckpt"])
    meta = {"normalization": pred.info.normalization, "class_names": pred.info.class_names,
            "task": "classification", "input": {"kind": "image", "shape": [1, 16, 16]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(pred.model, torch.zeros(1, 1, 16, 16))
        path = tmp_path / "digits.torchscript.pt"
        torch.jit.save(traced, str(path), _extra_files={"layerforge.json": json.dumps(meta)})
        bare = tmp_path / "bare.pt"
        torch.jit.save(traced, str(bare))
    scripted = load_predictor(path)
    frame = synthetic_frame(6)
    np.testing.assert_allclose(scripted.predict(frame).probs, pred.predict(frame).probs,
                               atol=1e-5)
    with pytest.raises(InferenceError, match="no LayerForge metadata"):
        load_predictor(bare)


def test_bad_model_files_raise_project_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(LayerForgeError, match="junk.pt"):
        load_predictor(junk)
    with pytest.raises(InferenceError, match="no such model"):
        load_predictor(tmp_path / "missing.pt")
    project = build_template("lstm-forecast")
    from backend.compile.compiler import compile_graph
    with pytest.raises(InferenceError, match="image"):
        load_predictor((project, compile_graph(project.graph).state_dict(),
                        {"kind": "series"}, None))


def test_grad_cam_highlights_part_of_the_input(trained):
    pred = load_predictor(trained["ckpt"], PreprocessOptions(invert=True, threshold=True))
    assert pred.explain_layer == "conv3"
    pred.explain = True
    heat = pred.predict(synthetic_frame(0)).heatmap
    assert heat.shape == (16, 16) and heat.max() == pytest.approx(1.0) and heat.min() >= 0
    assert heat.std() > 0.01
    from backend.live.explain import overlay
    out = overlay(np.zeros((40, 60, 3), np.uint8), heat)
    assert out.shape == (40, 60, 3) and out.any()


# ---- sources ----------------------------------------------------------------------------------

def test_video_source_reads_every_frame_then_ends(trained):
    with VideoSource(trained["video"]) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (240, 320, 3)
    with pytest.raises(CaptureError, match="no such video"):
        VideoSource(trained["folder"] / "nope.avi").open()
    assert isinstance(open_source(str(trained["video"])), VideoSource)
    assert isinstance(open_source("synthetic"), SyntheticSource)


def test_reader_keeps_only_the_newest_frame():
    reader = FrameReader(SyntheticSource(64, 48, fps=400, count=60)).start()
    seen = []
    while not reader.done:
        frame = reader.latest(timeout=1.0)
        if frame is not None:
            seen.append(frame.index)
            time.sleep(0.02)  # a slow consumer
    assert reader.state == "ended" and reader.error is None
    assert seen == sorted(seen) and seen[-1] == 59  # never an old picture; the last arrives
    assert reader.dropped > 0 and len(seen) + reader.dropped == 60


class FakeCapture:
    """A camera that delivers ``good`` frames and then fails every read."""

    def __init__(self, opened=True, good=5) -> None:
        self.opened, self.good, self.reads, self.released = opened, good, 0, False

    def isOpened(self):
        return self.opened

    def set(self, *args):
        return True

    def read(self):
        self.reads += 1
        if self.reads > self.good:
            return False, None
        return True, synthetic_frame(self.reads, 64, 48)

    def release(self):
        self.released = True


def test_a_camera_lost_mid_stream_stops_cleanly_and_can_reconnect():
    captures = []

    def opener(index):
        captures.append(FakeCapture(good=5))
        return captures[-1]

    reader = FrameReader(CameraSource(0, opener=opener, retries=2)).start()
    frames = []
    while not reader.done:
        frame = reader.latest(timeout=1.0)
        if frame is not None:
            frames.append(frame)
    assert reader.state == "lost" and "camera 0 stopped" in reader.error
    assert frames and captures[0].released
    reader.reconnect()
    assert reader.state in ("running", "lost") and len(captures) == 2
    assert reader.latest(timeout=1.0) is not None
    reader.stop()
    # the headless loop turns the loss into the project's error
    pred_source = CameraSource(0, opener=lambda i: FakeCapture(good=3), retries=1)
    pred = _tiny_predictor()
    with pytest.raises(SourceLost):
        list(predict_stream(pred, pred_source))


def test_no_camera_is_a_clear_error_and_listing_finds_none():
    with pytest.raises(CaptureError, match="camera 3 does not open"):
        CameraSource(3, opener=lambda i: FakeCapture(opened=False)).open()
    assert list_cameras(3, opener=lambda i: FakeCapture(opened=i == 1)) == [1]


def _tiny_predictor():
    from backend.compile.compiler import compile_graph
    from backend.live.infer import predictor_from_project

    project = build_template("digits-cnn")
    return predictor_from_project(project, compile_graph(project.graph).state_dict(),
                                  NORM, [str(i) for i in range(10)])


# ---- teach the camera -------------------------------------------------------------------------

def test_recorder_writes_a_dataset_the_image_folder_loader_reads(tmp_path):
    store = SampleStore(tmp_path / "captured")
    for name, digit in (("one", 1), ("seven", 7)):
        store.add_class(name)
        for i in range(6):
            store.add(name, synthetic_frame(digit + 10 * i, 320, 240))
    assert store.counts() == {"one": 6, "seven": 6}
    bad = store.samples("seven")[2]
    store.delete(bad)
    assert not bad.exists() and store.counts()["seven"] == 5
    assert store.add("seven", synthetic_frame(7)).name == "00006.png"  # numbers never reused
    with pytest.raises(LayerForgeError, match="class name"):
        store.add_class("a/b")
    bundle = load_dataset(store.dataset_spec(), "image", (1, 16, 16))
    assert bundle.class_names == ["one", "seven"]
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 12
    assert bundle.normalization["size"] == [16, 16]


# ---- the headless twin ------------------------------------------------------------------------

def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


FRAME_LINE = re.compile(r"^frame (\d+)\S*(?: \S+)?: (\S+) +([\d.]+)%")


def cli_predictions(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for line in text.splitlines()
            if (m := FRAME_LINE.match(line))}


def test_cli_infer_on_a_video_prints_predictions_and_fps(trained):
    code, out, err = run_cli("infer", str(trained["ckpt"]), "--source", str(trained["video"]),
                             "--invert", "--threshold")
    assert code == 0, err
    printed = cli_predictions(out)
    assert sorted(printed) == list(range(12))
    assert re.search(r"12 frames in [\d.]+ s: [\d.]+ FPS, median latency [\d.]+ ms", out)
    pred = load_predictor(trained["ckpt"], PreprocessOptions(invert=True, threshold=True))
    with VideoSource(trained["video"]) as source:
        while (frame := source.read()) is not None:
            assert printed[frame.index] == pred.predict(frame.image).label


def test_cli_infer_errors_are_one_line(trained, tmp_path):
    code, out, err = run_cli("infer", str(trained["ckpt"]), "--source", "7")
    assert code == 1 and "camera 7 does not open" in err and "Traceback" not in err
    code, out, err = run_cli("infer", str(tmp_path / "none.pt"), "--source", "synthetic")
    assert code == 1 and "no such model file" in err
    code, out, err = run_cli("infer", str(trained["ckpt"]), "--source", "synthetic",
                             "--max-frames", "5", "--quiet")
    assert code == 0 and "5 frames in" in out
