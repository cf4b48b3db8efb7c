"""The live-test pipeline on a synthetic 640x480 camera with the digits CNN. Prints JSON.

Measured in one run: the bare model (one preprocessed sample, forward + softmax) timed in a
loop; then the whole pipeline as the Test tab runs it — a FrameReader thread reading the
source with latest-frame semantics, and a consumer thread that takes the newest frame,
preprocesses it (ROI, mirror, invert, threshold, resize, normalise), runs the model, and
prepares the mirrored RGB preview. Throughput = predictions per second; latency = from the
moment a frame was read to its prediction and preview being ready; "added" latency is the
median end-to-end latency minus the median bare model time.

    .venv/bin/python bench/webcam_pipeline.py      (BENCH_SECONDS, BENCH_SOURCE_FPS, BENCH_THREADS)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SOURCE_FPS = float(os.environ.get("BENCH_SOURCE_FPS", "120"))  # faster than webcams (30-60)
THREADS = int(os.environ.get("BENCH_THREADS", "1"))  # torch threads for inference


def predictor():
    """The digits-cnn template with its dataset's real normalisation (weights untrained: the
    timing does not depend on them)."""
    import torch

    from backend.data import load_dataset
    from backend.live.infer import PreprocessOptions, predictor_from_project
    from backend.training.train import input_of
    from graph.templates import build_template

    torch.manual_seed(0)
    project = build_template("digits-cnn")
    kind, shape = input_of(project)
    bundle = load_dataset(project.dataset, kind, shape)
    from backend.compile.compiler import compile_graph

    state = compile_graph(project.graph).state_dict()
    options = PreprocessOptions(roi=(0.2, 0.1, 0.6, 0.8), mirror=True, invert=True,
                                threshold=True)
    return predictor_from_project(project, state, bundle.normalization, bundle.class_names,
                                  options=options)


def bare_model_ms(pred, frame, rounds: int = 300) -> list[float]:
    x = pred.preprocess(frame)
    for _ in range(30):
        pred.forward(x)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        pred.forward(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def pipeline(pred, seconds: float) -> dict:
    from backend.live.capture import FrameReader, SyntheticSource
    from backend.live.infer import display_image

    reader = FrameReader(SyntheticSource(640, 480, fps=SOURCE_FPS)).start()
    latencies: list[float] = []
    done: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            frame = reader.latest(timeout=0.5)
            if frame is None:
                continue
            pred.predict(frame.image, frame.index)
            display_image(frame.image, pred.options.mirror)
            now = time.perf_counter()
            latencies.append((now - frame.time) * 1000.0)
            done.append(now)

    worker = threading.Thread(target=consume)
    worker.start()
    time.sleep(0.5)  # warm-up, not counted
    n0, t0 = len(done), time.perf_counter()
    time.sleep(seconds)
    n1, t1 = len(done), time.perf_counter()
    skip = n0
    stop.set()
    worker.join()
    reader.stop()
    return {"fps": (n1 - n0) / (t1 - t0), "latencies": latencies[skip:n1],
            "source_frames": reader.frames, "dropped": reader.dropped}


def main() -> None:
    import torch

    from backend.live.capture import quiet_opencv, synthetic_frame

    quiet_opencv()
    torch.set_num_threads(THREADS)  # a 16x16 CNN gains nothing from more; leaves a core free
    pred = predictor()
    # torch's thread settings belong to the thread that runs the model: measure both on a
    # worker thread like the pipeline's
    result: dict = {}

    def measure() -> None:
        torch.set_num_threads(THREADS)
        result["bare"] = bare_model_ms(pred, synthetic_frame(3))

    t = threading.Thread(target=measure)
    t.start()
    t.join()
    bare = statistics.median(result["bare"])
    run = pipeline(pred, SECONDS)
    lat = sorted(run["latencies"])
    end_to_end = statistics.median(lat)
    print(json.dumps({
        "source": f"synthetic 640x480 at {SOURCE_FPS:g} fps", "model": "digits-cnn (1x16x16)",
        "cpu_cores": os.cpu_count(), "torch_threads": THREADS, "seconds": SECONDS,
        "pipeline_fps": round(run["fps"], 1), "target_fps": 30,
        "bare_model_ms_median": round(bare, 3),
        "end_to_end_latency_ms_median": round(end_to_end, 3),
        "end_to_end_latency_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 3),
        "added_latency_ms_median": round(end_to_end - bare, 3), "target_added_ms": 5,
        "frames_predicted": len(lat), "source_frames": run["source_frames"],
        "frames_dropped_as_stale": run["dropped"],
    }, indent=2))


if __name__ == "__main__":
    main()
