"""Hyper-parameter sweeps over training settings and layer parameters."""
from __future__ import annotations

import json

import pytest

from backend.training import sweep as sw
from backend.checkpoint import load_checkpoint
from backend.cli import main as cli
from backend.errors import TrainingError
from graph.project import save_project
from graph.templates import build_template


def tiny_mlp():
    project = build_template("hello-mlp")
    project.training.update(epochs=1, batch_size=128)
    return project


def test_axes_are_parsed_and_typed():
    assert sw.parse_axis("learning_rate=0.001, 0.1") == sw.Axis("learning_rate", (0.001, 0.1))
    assert sw.parse_axis("optimizer=adam,sgd").values == ("adam", "sgd")
    with pytest.raises(TrainingError, match="name=value1,value2"):
        sw.parse_axis("learning_rate")


def test_grid_and_random_points():
    axes = [sw.Axis("a", (1, 2, 3)), sw.Axis("b", ("x", "y"))]
    points = sw.grid(axes)
    assert len(points) == 6 and {"a": 3, "b": "y"} in points
    picked = sw.random_points(axes, 4, seed=1)
    assert len(picked) == 4 and len({tuple(p.items()) for p in picked}) == 4
    assert picked == sw.random_points(axes, 4, seed=1)  # seeded


@pytest.mark.parametrize("axis, message", [
    ("lerning_rate=0.1", "neither a training setting"),
    ("nosuch.units=3", "no node named 'nosuch'"),
    ("learning_rate=-1", "learning_rate"),
])
def test_bad_axes_say_what_is_wrong(axis, message):
    with pytest.raises(TrainingError, match=message):
        sw.check_axes(tiny_mlp(), [sw.parse_axis(axis)])


def test_a_layer_parameter_that_breaks_the_network_is_refused_before_training():
    project = tiny_mlp()
    hidden = next(n for n in project.graph.nodes if n.type == "Linear")
    with pytest.raises(TrainingError, match="must be"):
        sw.check_axes(project, [sw.Axis(f"{hidden.name}.out_features", (0,))])


def test_a_sweep_trains_every_point_and_names_the_best_checkpoint(tmp_path):
    project = tiny_mlp()
    hidden = next(n for n in project.graph.nodes if n.type == "Linear")
    axes = [sw.Axis("learning_rate", (1e-5, 1e-2)), sw.Axis(f"{hidden.name}.out_features", (16,))]
    sweep = sw.Sweep(project, sw.grid(axes), tmp_path, monitor_interval=None)
    trials = list(sweep.trials())
    assert len(trials) == 2 and all(t.error is None for t in trials)
    best = sweep.best()
    assert best.values["learning_rate"] == 1e-2  # a 1000x larger step learns more in 1 epoch
    ckpt = load_checkpoint(best.checkpoint)
    assert ckpt.project.training["learning_rate"] == 1e-2
    layer = ckpt.project.graph.find(hidden.name)
    assert layer.params["out_features"] == 16
    assert ckpt.state_dict[f"{hidden.name}.weight"].shape[0] == 16
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["trial"] for r in rows] == [best.index + 1, 3 - (best.index + 1)]
    assert (tmp_path / "results.csv").read_text().startswith("trial,learning_rate,")
    original_units = hidden.params["out_features"]
    assert original_units != 16 and project.training["learning_rate"] not in (1e-5, 1e-2)
    assert project.graph.find(hidden.name).params["out_features"] == original_units  # untouched


def test_cli_sweep(tmp_path, capsys):
    save_project(tiny_mlp(), tmp_path / "mlp.json")
    code = cli(["sweep", str(tmp_path / "mlp.json"), "--grid", "learning_rate=0.001,0.01",
                "--random", "1", "--out", str(tmp_path / "sweep"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 trials" in out and "best: trial 1" in out
    assert (tmp_path / "sweep" / "results.csv").exists()
    code = cli(["sweep", str(tmp_path / "mlp.json"), "--set", "nope=1"])
    assert code == 1 and "neither a training setting" in capsys.readouterr().err
