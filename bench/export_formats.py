"""Every export format of a briefly trained template: file size, max |difference| from the live
fp32 model, CPU latency per sample (batch 1, median) and, for int8, test accuracy (or MAE)
fp32 vs int8 and the size ratio. Prints JSON.

    .venv/bin/python bench/export_formats.py [--template digits-cnn] [--epochs 5]
                                             [--formats onnx,int8] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from backend.data import load_dataset  # noqa: E402
from backend.export.exporter import FORMATS, export_model  # noqa: E402
from backend.training.train import Finished, TrainingRun, input_of  # noqa: E402
from graph.templates import build_template  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="digits-cnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    project = build_template(args.template)
    kind, shape = input_of(project)
    bundle = load_dataset(project.dataset, kind, shape, seed=project.training["seed"])
    out = Path(tempfile.mkdtemp(prefix="layerforge-export-bench-"))
    started = time.perf_counter()
    events = list(TrainingRun(project, out_dir=out, bundle=bundle, epochs=args.epochs).events())
    if not isinstance(events[-1], Finished):
        print(f"training failed: {events[-1]}", file=sys.stderr)
        return 1
    result = {"template": args.template, "epochs": args.epochs,
              "train_seconds": round(time.perf_counter() - started, 2),
              "torch": torch.__version__, "threads": args.threads,
              "machine": platform.machine(), "formats": {}}
    for fmt in args.formats.split(","):
        t = time.perf_counter()
        report = export_model(out / "best.pt", fmt, out / "export" / args.template,
                              bundle=bundle)
        entry = {"size_bytes": report.size_bytes, "parameters": report.parameters,
                 "max_abs_diff": report.max_abs_diff,
                 "latency_ms": round(report.latency_ms, 4),
                 "export_seconds": round(time.perf_counter() - t, 2)}
        if report.size_ratio is not None:
            entry.update(size_ratio=round(report.size_ratio, 4), method=report.method,
                         metric=report.metric, fp32=report.metric_fp32,
                         int8=report.metric_int8)
        result["formats"][fmt] = entry
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
