"""Train every built-in template headless and print what it reaches (JSON).

    .venv/bin/python bench/templates.py [TEMPLATE ...]

For each template: wall time, test metrics, and for the forecaster / text generator the
validation baseline it must beat (last value / unigram), measured in the same run.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from backend.tasks.base import bits  # noqa: E402
from backend.tasks.language_model import unigram_baseline  # noqa: E402
from backend.tasks.regression import last_value_baseline  # noqa: E402
from backend.training.train import Failed, Finished, TrainingRun  # noqa: E402
from graph.templates import TEMPLATES, build_template  # noqa: E402


def run(key: str) -> dict:
    project = build_template(key)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        training = TrainingRun(project, out_dir=out)
        result: dict = {"template": key, "epochs": project.training["epochs"]}
        for event in training.events():
            if isinstance(event, Failed):
                result["failed"] = event.message
            if isinstance(event, Finished):
                result["test"] = {k: round(v, 5) for k, v in event.test.items()}
                result["best_val_loss"] = round(event.best_val_loss, 5)
        result["seconds"] = round(time.perf_counter() - started, 1)
        bundle = training.bundle
        if bundle is not None and bundle.task == "regression":
            result["val_last_value_baseline_mse"] = round(last_value_baseline(bundle), 5)
        if bundle is not None and bundle.task == "language_model":
            result["val_bits_per_char"] = round(bits(result["best_val_loss"]), 3)
            result["val_unigram_baseline_bits_per_char"] = round(bits(unigram_baseline(bundle)), 3)
    return result


def main() -> None:
    keys = sys.argv[1:] or list(TEMPLATES)
    results = [run(k) for k in keys]
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
