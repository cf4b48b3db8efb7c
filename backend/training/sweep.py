"""Hyper-parameter sweeps: a grid or random search over training settings and layer parameters.

Each trial is an ordinary training run of a copy of the project with some values changed
(``learning_rate``, ``batch_size``, ``optimizer``... or ``<node name>.<parameter>`` such as
``conv1.out_channels``), written to its own folder with its checkpoint, so every trial is a
run like any other. Trials run one after another (on 2 cores parallel trials only fight over
them); the results table is sorted by validation loss and the best run's checkpoint is named.

Grid and random search need no library; Optuna's samplers would pay off for long searches
over many dimensions, which this tool does not aim at yet.
"""
from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from backend.training import train as tr
from backend.errors import TrainingError
from backend.tasks import format_metric
from graph.errors import LayerForgeError
from graph.project import Project
from graph.settings import TRAINING_INDEX
from graph.validate import analyze


@dataclass(frozen=True)
class Axis:
    """One swept name and the values it takes."""

    name: str  # a training setting, or "<node name>.<parameter>"
    values: tuple[Any, ...]


@dataclass
class Trial:
    """One run of the sweep: the values it used and what came out."""

    index: int
    values: dict[str, Any]
    folder: str
    val_loss: float = math.nan
    val_metric: float = math.nan
    metric: str = ""
    test: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.error is None and math.isfinite(self.val_loss)

    def summary(self) -> str:
        """One line for a results table: the test metrics, or why the trial failed."""
        if self.error is not None:
            return "failed: " + self.error.splitlines()[0][:80]
        parts = [f"{k} {format_metric(k, v)}" for k, v in self.test.items()]
        return "test " + ", ".join(parts) if parts else "finished"

    def row(self) -> dict[str, Any]:
        return {"trial": self.index + 1, **self.values, "val_loss": self.val_loss,
                f"val_{self.metric or 'metric'}": self.val_metric,
                **{f"test_{k}": v for k, v in self.test.items()},
                "seconds": round(self.seconds, 2), "checkpoint": self.checkpoint,
                "error": self.error}


def best_of(trials: list[Trial]) -> Trial | None:
    """The finished trial with the lowest validation loss."""
    return min((t for t in trials if t.finished), key=lambda t: t.val_loss, default=None)


def ranked(trials: list[Trial]) -> list[Trial]:
    """Best first by validation loss; failed trials last."""
    return sorted(trials, key=lambda t: (not t.finished,
                                         t.val_loss if t.finished else math.inf))


def parse_axis(text: str) -> Axis:
    """``name=v1,v2,...`` -> Axis, values typed by the setting or layer parameter."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise TrainingError(f"sweep axis {text!r}: write name=value1,value2 (e.g. "
                            f"learning_rate=0.001,0.01 or conv1.out_channels=8,16)")
    parts = [v.strip() for v in values.split(",") if v.strip()]
    return Axis(name, tuple(_parse_value(p) for p in parts))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word: an optimizer name, a schedule...


def check_axes(project: Project, axes: list[Axis]) -> None:
    """Every axis names a real setting or node parameter and every value is allowed."""
    for axis in axes:
        if not axis.values:
            raise TrainingError(f"sweep axis '{axis.name}' has no values")
        for value in axis.values:
            trial = project.copy()
            apply_value(trial, axis.name, value)
            analysis = analyze(trial.graph)
            if not analysis.is_valid:
                first = analysis.errors[0].message
                raise TrainingError(f"sweep value {axis.name}={value!r} breaks the network: "
                                    f"{first}")


def apply_value(project: Project, name: str, value: Any) -> None:
    """Set one swept value (a training setting or <node>.<parameter>) on ``project``."""
    if name in TRAINING_INDEX:
        problem = TRAINING_INDEX[name].problem(value)
        if problem:
            raise TrainingError(f"sweep value for {problem}")
        project.training[name] = TRAINING_INDEX[name].coerce(value)
        return
    node_name, dot, param = name.rpartition(".")
    if not dot:
        raise TrainingError(f"sweep axis '{name}' is neither a training setting (e.g. "
                            f"learning_rate, batch_size, optimizer) nor <node>.<parameter>")
    try:
        node = project.graph.find(node_name)
    except LayerForgeError:
        raise TrainingError(f"sweep axis '{name}': there is no node named '{node_name}'") \
            from None
    spec = node.spec.param_index.get(param)
    if spec is None:
        raise TrainingError(f"sweep axis '{name}': {node.type} '{node_name}' has no parameter "
                            f"'{param}' (it has {', '.join(node.spec.param_index)})")
    problem = spec.problem(value)
    if problem:
        raise TrainingError(f"sweep value for {node_name}.{problem}")
    project.graph.set_param(node.id, param, value)


def grid(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values."""
    names = [a.name for a in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(a.values for a in axes))]


def random_points(axes: list[Axis], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct random combinations (all of them when there are fewer)."""
    points = grid(axes)
    rng = random.Random(seed)
    rng.shuffle(points)
    return points[:n]


class Sweep:
    """Run trials one after another; iterate ``trials()`` for each finished Trial."""

    def __init__(self, project: Project, points: list[dict[str, Any]], out_dir: str | Path,
                 epochs: int | None = None, on_event: Callable[[int, Any], None] | None = None,
                 **run_options: Any) -> None:
        self.project = project
        self.points = points
        self.out_dir = Path(out_dir)
        self.epochs = epochs
        self.on_event = on_event  # (trial index, training event): progress for a GUI/CLI
        self.run_options = run_options
        self.results: list[Trial] = []
        self.current: tr.TrainingRun | None = None
        self._stopped = False

    def stop(self) -> None:
        """Stop the running trial and start no more (any thread)."""
        self._stopped = True
        if self.current is not None:
            self.current.stop()

    def trials(self) -> Iterator[Trial]:
        for index, values in enumerate(self.points):
            if self._stopped:
                return
            trial = self._run(index, values)
            self.results.append(trial)
            yield trial
        self.write_table()

    def _run(self, index: int, values: dict[str, Any]) -> Trial:
        folder = self.out_dir / f"trial-{index + 1:03d}"
        trial = Trial(index, dict(values), str(folder))
        project = self.project.copy()
        try:
            for name, value in values.items():
                apply_value(project, name, value)
            self.current = tr.TrainingRun(project, out_dir=folder, epochs=self.epochs,
                                          **self.run_options)
        except LayerForgeError as exc:
            trial.error = str(exc)
            return trial
        for event in self.current.events():
            if self.on_event is not None:
                self.on_event(index, event)
            if isinstance(event, tr.Finished):
                trial.val_loss = event.best_val_loss
                trial.test = dict(event.test)
                trial.checkpoint = event.checkpoint
                best = min(self.current.history, key=lambda h: h["val_loss"], default=None)
                if best is not None:
                    trial.val_metric = best["val_metric"]
            elif isinstance(event, tr.Started):
                trial.metric = event.metric
            elif isinstance(event, tr.EpochEnd):
                trial.seconds += event.seconds
            elif isinstance(event, tr.Failed):
                trial.error = event.message
        self.current = None
        return trial

    def best(self) -> Trial | None:
        return best_of(self.results)

    def table(self) -> list[dict[str, Any]]:
        """Rows sorted best first (failed trials last)."""
        return [t.row() for t in ranked(self.results)]

    def write_table(self) -> Path:
        """results.json (rows) and results.csv beside the trial folders."""
        from graph.fileio import atomic_write_bytes

        rows = self.table()
        atomic_write_bytes(self.out_dir / "results.json", json.dumps(rows, indent=1).encode())
        columns = list(dict.fromkeys(k for row in rows for k in row))
        lines = [",".join(columns)]
        lines += [",".join("" if row.get(c) is None else str(row.get(c)) for c in columns)
                  for row in rows]
        atomic_write_bytes(self.out_dir / "results.csv", ("\n".join(lines) + "\n").encode())
        return self.out_dir / "results.csv"
