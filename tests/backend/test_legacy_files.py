"""Files written by LayerForge before backend/ was split into rooms and tasks became
declarations (commit 7365bfc; tests/legacy/README.md says how they were made) still open, give
the same numbers and train on.

The test-split figures below are what that code printed when it wrote the checkpoints; the
checkpoints hold the weights of their only epoch, so today's evaluation must reproduce them.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from backend.checkpoint import load_checkpoint
from backend.compile import compile_graph
from backend.data import load_dataset
from backend.data.timeseries import DEFAULT_CSV
from backend.export import predict_script
from backend.export.exporter import read_metadata
from backend.live.infer import load_predictor
from backend.tasks import evaluate, get_task
from backend.training.train import LOSSES, Finished, input_of, train
from graph.errors import LayerForgeError
from graph.project import load_project
from graph.validate import analyze

LEGACY = Path(__file__).resolve().parents[1] / "legacy"

# checkpoint -> (task, test figures the old code reported)
WRITTEN_BEFORE = {
    "hello-mlp.pt": ("classification", {"loss": 0.883394181728363,
                                        "accuracy": 0.7916666666666666}),
    "lstm-forecast.pt": ("regression", {"loss": 0.014103874564170837,
                                        "mae": 0.0984859798843437}),
    "char-gru.pt": ("language_model", {"loss": 3.116941452026367,
                                       "accuracy": 0.18544671474358973}),
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", sorted(WRITTEN_BEFORE))
def test_an_old_checkpoint_gives_the_test_figures_it_was_saved_with(name):
    ckpt = load_checkpoint(LEGACY / name)
    task_name, figures = WRITTEN_BEFORE[name]
    assert ckpt.task == task_name
    task = get_task(ckpt.task)
    model = compile_graph(ckpt.project.graph)
    model.load_state_dict(ckpt.state_dict)
    kind, shape = input_of(ckpt.project)
    bundle = load_dataset(ckpt.project.dataset, kind, shape, seed=ckpt.project.training["seed"])
    assert bundle.task == task_name
    loss_name = ckpt.project.training["loss"]
    got = evaluate(model, bundle.test, LOSSES[loss_name](), loss_name, task,
                   torch.device("cpu"))
    assert set(got) == set(figures)
    for key, value in figures.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_an_old_checkpoint_resumes_training():
    ckpt_path = LEGACY / "lstm-forecast.pt"
    ckpt = load_checkpoint(ckpt_path)
    events = train(ckpt.project, resume_from=ckpt_path, epochs=2)
    finished = [e for e in events if isinstance(e, Finished)]
    assert finished, events
    assert finished[0].epochs_run == 1  # the saved epoch, then one more
    assert math.isfinite(finished[0].test["mae"])


def test_an_old_project_file_opens_valid():
    project = load_project(LEGACY / "hello-mlp.json")
    assert analyze(project.graph).is_valid
    assert [n.type for n in project.graph.nodes][:2] == ["Input", "Linear"]


def test_an_old_classifier_checkpoint_is_tested_live():
    predictor = load_predictor(LEGACY / "hello-mlp.pt")
    frame = torch.zeros((120, 160, 3), dtype=torch.uint8).numpy()
    prediction = predictor.predict(frame)
    assert len(prediction.topk) == 3
    assert prediction.label in ckpt_class_names(LEGACY / "hello-mlp.pt")


def ckpt_class_names(path: Path) -> list[str]:
    return list(load_checkpoint(path).class_names or [])


def test_an_old_export_without_a_prediction_field_is_read_by_todays_predict_script(capsys):
    path = LEGACY / "lstm-forecast-export.pt"
    meta = read_metadata(path)
    assert meta["task"] == "regression" and "prediction" not in meta  # written before it
    series = DEFAULT_CSV  # the series it was trained on
    assert predict_script.main([str(series), "--model", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("co2 in 4 step(s): ")  # a forecast, not %
    assert math.isfinite(float(lines[0].rsplit(": ", 1)[1]))


def test_an_old_forecaster_is_refused_for_live_testing_with_the_reason():
    with pytest.raises(LayerForgeError, match="live testing"):
        load_predictor(LEGACY / "lstm-forecast.pt")
