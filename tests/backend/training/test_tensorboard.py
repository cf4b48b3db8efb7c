"""Optional TensorBoard logging: files when the package is there, a clear message when not."""
from __future__ import annotations

import importlib.util

import torch

from backend.training.train import Failed, Finished, TrainingRun
from graph.templates import build_template


def test_tensorboard_logging_writes_events_or_says_what_to_install(tmp_path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        events = list(TrainingRun(build_template("hello-mlp"), epochs=1,
                                  tensorboard_dir=tmp_path / "tb").events())
    finally:
        torch.set_num_threads(threads)
    if importlib.util.find_spec("tensorboard") is None:
        assert isinstance(events[-1], Failed)
        assert "pip install tensorboard" in events[-1].message
    else:
        assert isinstance(events[-1], Finished)
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
