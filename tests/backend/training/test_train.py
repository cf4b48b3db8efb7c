"""The headless trainer as its users (GUI worker, CLI) see it: the events it yields, pause /
resume / stop / live settings from another thread, failures reported as ``Failed`` (never an
exception), checkpoints, resuming, reproducibility, schedules, optimizers and losses.

Control-flow tests use a tiny MLP on a hand-built ``DataBundle`` of random tensors, so each runs
in milliseconds; one test trains the hello-mlp template on the real digits to show it learns.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

from backend.checkpoint import load_checkpoint
from backend.data import DataBundle, Split
from backend.errors import TrainingError
from backend.training.train import (
    BatchEnd, CheckpointSaved, EpochEnd, Failed, Finished, Paused, Resumed, Started,
    TrainingRun, train,
)
from graph.project import Project
from graph.templates import Builder, build_template

TIMEOUT = 20.0  # seconds a background run may take to react; only reached when broken


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- helpers ---------------------------------------------------------------------------------

def tiny_project(out: int = 3, *, features: int = 8, **training: Any) -> Project:
    """Input(8) -> Linear(16) -> ReLU -> Linear(out) -> Output: 195 parameters for out=3."""
    b = Builder()
    x = b.add("Input", "x", kind="vector", shape=(features,))
    o = b.chain(x, ("Linear", "fc1", {"out_features": 16}), ("ReLU", "relu"),
                ("Linear", "fc2", {"out_features": out}))
    b.add("Output", "y", o)
    settings = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-2, "device": "cpu"}
    settings.update(training)
    return b.project("tiny", "a tiny MLP for tests", {"name": "digits", "options": {}},
                     **settings)


def class_bundle(n_train: int = 64, n_eval: int = 16, features: int = 8,
                 seed: int = 0) -> DataBundle:
    """3 classes that a small MLP can learn: the number of positive features among x0, x1."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        x = torch.randn(n, features, generator=g)
        return Split(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())

    return DataBundle("random-classes", "classification", split(n_train), split(n_eval),
                      split(n_eval), (features,), (), 3, ["zero", "one", "two"], {}, "tests")


def regression_bundle(n_train: int = 64, n_eval: int = 16, scale: float = 1.0) -> DataBundle:
    g = torch.Generator().manual_seed(1)

    def split(n: int) -> Split:
        x = torch.randn(n, 8, generator=g)
        return Split(x, scale * (2 * x[:, :1] - x[:, 1:2]))

    return DataBundle("random-numbers", "regression", split(n_train), split(n_eval),
                      split(n_eval), (8,), (1,), None, None, {"target_index": 0}, "tests")


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Consumer:
    """Iterates a run's events on a worker thread, as the GUI does; the test is the GUI."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.events: list = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        try:
            for event in self.run.events():
                self.events.append(event)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait_for(self, test: Callable[[Any], bool], start: int = 0) -> int:
        """Index of the first event from ``start`` on that passes ``test``."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for i in range(start, len(self.events)):
                if test(self.events[i]):
                    return i
            assert self.error is None, f"the run raised {self.error!r}"
            assert self.thread.is_alive() or any(test(e) for e in self.events[start:]), \
                f"the run ended without the awaited event: {self.events[-3:]}"
            time.sleep(0.002)
        raise AssertionError(f"no awaited event within {TIMEOUT}s; last: {self.events[-3:]}")

    def join(self) -> None:
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the run did not end"
        assert self.error is None, f"the run raised {self.error!r}"


def long_run(**training: Any) -> TrainingRun:
    """A run that would take minutes if not stopped (each epoch takes milliseconds)."""
    return TrainingRun(tiny_project(epochs=100_000, **training), bundle=class_bundle())


def is_batch(step: int) -> Callable[[Any], bool]:
    return lambda e: isinstance(e, BatchEnd) and e.step >= step


# ---- events --------------------------------------------------------------------------------

def test_events_come_in_order_with_their_content() -> None:
    events = train(tiny_project(epochs=3), bundle=class_bundle())

    started, finished = events[0], events[-1]
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert started == Started(device="cpu", epochs=3, batches_per_epoch=8, train_samples=64,
                              parameters=8 * 16 + 16 + 16 * 3 + 3, task="classification",
                              metric="accuracy", start_epoch=0,
                              trainable_parameters=8 * 16 + 16 + 16 * 3 + 3)
    assert not of(events, Failed) and not of(events, Paused) and not of(events, CheckpointSaved)
    batches = of(events, BatchEnd)
    assert len(batches) == 3 * 8
    assert [(b.epoch, b.batch) for b in batches] == [(e, b) for e in range(3) for b in range(8)]
    assert [b.step for b in batches] == list(range(1, 25))
    assert all(b.batches == 8 and math.isfinite(b.loss) and b.lr == 1e-2
               and b.samples_per_second > 0 for b in batches)
    epochs = of(events, EpochEnd)
    assert [e.epoch for e in epochs] == [0, 1, 2]
    for e in epochs:
        assert e.epochs == 3 and e.metric == "accuracy" and e.seconds >= 0
        assert all(math.isfinite(v) for v in (e.train_loss, e.train_metric, e.val_loss,
                                              e.val_metric, e.lr))
        assert 0.0 <= e.train_metric <= 1.0 and 0.0 <= e.val_metric <= 1.0
        # each epoch's end comes right after its last batch
        assert events[events.index(e) - 1] == batches[8 * e.epoch + 7]
    assert finished.epochs_run == 3 and not finished.stopped_by_user
    assert not finished.stopped_early and finished.checkpoint is None  # no out_dir
    assert finished.best_val_loss == min(e.val_loss for e in epochs)
    assert finished.best_epoch == min(epochs, key=lambda e: e.val_loss).epoch
    assert set(finished.test) == {"loss", "accuracy"}
    assert all(math.isfinite(v) for v in finished.test.values())


def test_hello_mlp_learns_the_real_digits() -> None:
    project = build_template("hello-mlp")
    events = train(project, epochs=3, device="cpu")

    assert isinstance(events[-1], Finished), events[-1]
    epochs = of(events, EpochEnd)
    assert len(epochs) == 3
    train_losses = [e.train_loss for e in epochs]
    assert train_losses == sorted(train_losses, reverse=True), train_losses
    assert epochs[-1].val_metric >= epochs[0].val_metric
    assert epochs[-1].val_metric > 0.9
    assert events[-1].test["accuracy"] > 0.9  # chance is 0.1


def test_lstm_forecast_template_trains_on_its_series() -> None:
    events = train(build_template("lstm-forecast"), epochs=2, device="cpu")

    assert isinstance(events[0], Started) and events[0].task == "regression"
    assert isinstance(events[-1], Finished), events[-1]
    epochs = of(events, EpochEnd)
    assert [e.metric for e in epochs] == ["mae", "mae"]
    assert all(math.isfinite(e.val_loss) and math.isfinite(e.val_metric) for e in epochs)
    assert all(math.isnan(e.train_metric) for e in epochs)  # no accuracy for numbers
    assert set(events[-1].test) == {"loss", "mae"}
    assert all(math.isfinite(v) for v in events[-1].test.values())


# ---- pause / resume / stop / live settings ------------------------------------------------

def test_pause_from_another_thread_stops_within_one_batch_and_resume_continues() -> None:
    run = long_run()
    worker = Consumer(run)
    worker.wait_for(is_batch(3))

    run.pause()
    mark = len(worker.events)
    at = worker.wait_for(lambda e: isinstance(e, Paused), mark)
    assert len(of(worker.events[mark:at], BatchEnd)) <= 1
    paused = worker.events[at]
    last = of(worker.events[:at], BatchEnd)[-1]
    assert (paused.epoch, paused.batch) == (
        (last.epoch, last.batch + 1) if last.batch + 1 < last.batches else (last.epoch + 1, 0))

    time.sleep(0.2)  # paused means paused: no batch runs meanwhile
    assert run.paused and len(worker.events) == at + 1 and worker.thread.is_alive()

    run.resume()
    r = worker.wait_for(lambda e: isinstance(e, Resumed), at)
    assert worker.events[r] == Resumed({})
    nxt = worker.wait_for(lambda e: isinstance(e, BatchEnd), r)
    following = worker.events[nxt]
    assert (following.epoch, following.batch) == (paused.epoch, paused.batch)
    assert following.step == last.step + 1
    assert not run.paused

    run.stop()
    worker.join()
    assert isinstance(worker.events[-1], Finished) and worker.events[-1].stopped_by_user


def test_stop_from_another_thread_ends_within_one_batch() -> None:
    run = long_run()
    worker = Consumer(run)
    worker.wait_for(is_batch(5))

    run.stop()
    mark = len(worker.events)
    worker.join()
    after = worker.events[mark:]
    assert len(of(after, BatchEnd)) <= 1
    finished = worker.events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.stopped_by_user and not finished.stopped_early
    assert finished.epochs_run == len(of(worker.events, EpochEnd))
    assert finished.epochs_run < 100_000
    assert not of(worker.events, Failed)


def test_stop_while_paused_ends_the_run() -> None:
    run = long_run()
    worker = Consumer(run)
    worker.wait_for(is_batch(2))
    run.pause()
    at = worker.wait_for(lambda e: isinstance(e, Paused))
    time.sleep(0.05)

    run.stop()
    worker.join()
    assert not of(worker.events[at:], BatchEnd)
    assert isinstance(worker.events[-1], Finished) and worker.events[-1].stopped_by_user


def test_learning_rate_changed_while_paused_takes_effect_on_resume(tmp_path: Path) -> None:
    run = TrainingRun(tiny_project(epochs=2, learning_rate=0.01), bundle=class_bundle(),
                      out_dir=tmp_path)
    events = run.events()
    seen = []
    for event in events:
        seen.append(event)
        if isinstance(event, BatchEnd) and event.step == 3:
            break
    assert all(e.lr == 0.01 for e in of(seen, BatchEnd))

    run.pause()
    assert next(events) == Paused(0, 3)
    run.update_settings(learning_rate=0.05)
    threading.Timer(0.05, run.resume).start()  # the GUI thread presses Resume
    assert next(events) == Resumed({"learning_rate": 0.05})
    rest = list(events)

    batches = of(rest, BatchEnd)
    assert len(batches) == 2 * 8 - 3
    assert all(b.lr == 0.05 for b in batches)
    assert all(e.lr == 0.05 for e in of(rest, EpochEnd))
    assert isinstance(rest[-1], Finished)
    # the optimizer itself runs with it (as saved for resuming), and the settings record it
    last = load_checkpoint(tmp_path / "last.pt")
    assert last.optimizer is not None
    assert [g["lr"] for g in last.optimizer["param_groups"]] == [0.05]
    assert last.project.training["learning_rate"] == 0.05


def test_live_setting_changed_while_running_applies_from_the_next_batch() -> None:
    run = TrainingRun(tiny_project(epochs=1, optimizer="sgd", learning_rate=0.01),
                      bundle=class_bundle())
    events = run.events()
    lrs = []
    for event in events:
        if isinstance(event, BatchEnd):
            lrs.append(event.lr)
            if event.step == 2:
                run.update_settings(learning_rate=0.002, momentum=0.5)
    assert lrs == [0.01, 0.01] + [0.002] * 6
    assert run.settings["momentum"] == 0.5


@pytest.mark.parametrize("change, words", [
    ({"batch_size": 16}, "batch_size"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"seed": 3}, "seed"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"),
])
def test_settings_that_cannot_change_live_are_refused(change: dict, words: str) -> None:
    run = TrainingRun(tiny_project(epochs=1), bundle=class_bundle())
    with pytest.raises(TrainingError, match=words):
        run.update_settings(**change)


def test_a_refused_update_changes_nothing() -> None:
    run = TrainingRun(tiny_project(epochs=1, learning_rate=0.01), bundle=class_bundle())
    with pytest.raises(TrainingError, match="batch_size"):
        run.update_settings(learning_rate=0.5, batch_size=4)
    events = list(run.events())
    assert {b.lr for b in of(events, BatchEnd)} == {0.01}
    assert len(of(events, BatchEnd)) == 8


def test_epochs_cannot_change_under_a_schedule_that_depends_on_them() -> None:
    run = TrainingRun(tiny_project(epochs=3, schedule="cosine"), bundle=class_bundle())
    with pytest.raises(TrainingError, match="cosine"):
        run.update_settings(epochs=5)
    free = TrainingRun(tiny_project(epochs=3), bundle=class_bundle())
    free.update_settings(epochs=1)  # no schedule: fine, and it shortens the run
    assert len(of(list(free.events()), EpochEnd)) == 1


# ---- failures end the run with Failed, never an exception ------------------------------------

def test_nan_in_the_data_fails_with_what_to_do() -> None:
    bundle = class_bundle()
    bundle.train.x[5, 3] = float("nan")
    events = train(tiny_project(), bundle=bundle)

    assert isinstance(events[0], Started)
    failed = events[-1]
    assert isinstance(failed, Failed) and not of(events, Finished)
    assert "loss became nan" in failed.message
    assert "learning rate" in failed.message and "NaN" in failed.message
    assert failed.checkpoint is None


def test_a_diverging_learning_rate_fails_with_what_to_do() -> None:
    project = tiny_project(out=1, loss="mse", optimizer="sgd", learning_rate=10.0, epochs=3)
    events = train(project, bundle=regression_bundle(scale=100.0))

    failed = events[-1]
    assert isinstance(failed, Failed), failed
    assert "diverged" in failed.message and "Lower the learning rate" in failed.message
    assert "(now 10)" in failed.message


@pytest.mark.parametrize("out, loss, bundle, node, words", [
    (3, "cross_entropy", regression_bundle, None, ["cross_entropy", "mse or l1"]),
    (3, "mse", regression_bundle, "fc2", ["Linear 'fc2'", "(1,)", "output 1 value"]),
    (3, "l1", class_bundle, None, ["class labels", "cross_entropy"]),
    (2, "cross_entropy", class_bundle, "fc2", ["Linear 'fc2'", "3 classes", "(N, 3)"]),
])
def test_data_that_does_not_fit_the_network_fails_naming_the_fix(
        out: int, loss: str, bundle: Callable[[], DataBundle], node: str | None,
        words: list[str]) -> None:
    events = train(tiny_project(out, loss=loss), bundle=bundle())

    assert len(events) == 1, events  # found before any batch runs
    failed = events[0]
    assert isinstance(failed, Failed)
    assert failed.node_name == node
    for word in words:
        assert word in failed.message


def test_a_layer_that_fails_while_training_is_named() -> None:
    bundle = class_bundle(features=5)  # but the Input node says 8 features
    events = train(tiny_project(), bundle=bundle)

    failed = events[-1]
    assert isinstance(failed, Failed), failed
    assert failed.node_name == "fc1"
    assert "'fc1'" in failed.message and "5" in failed.message


def test_a_network_with_errors_fails_before_training() -> None:
    project = tiny_project()
    fc2 = project.graph.find("fc2")
    edge = project.graph.edges_into(fc2.id)[0]
    project.graph.disconnect(edge)  # fc2 has no input now
    events = train(project, bundle=class_bundle())
    assert len(events) == 1 and isinstance(events[0], Failed), events
    assert "fc2" in events[0].message


def test_an_unknown_dataset_fails_naming_the_choices() -> None:
    project = tiny_project()
    project.dataset = {"name": "nonesuch", "options": {}}
    events = train(project)
    assert len(events) == 1 and isinstance(events[0], Failed), events
    assert "nonesuch" in events[0].message and "digits" in events[0].message


def test_two_input_nodes_fail_with_a_clear_message() -> None:
    project = tiny_project()
    project.graph.add_node("Input", name="extra", params={"kind": "vector", "shape": (8,)})
    events = train(project)
    assert len(events) == 1 and isinstance(events[0], Failed), events
    assert "2 Input nodes" in events[0].message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_fails_with_what_to_choose() -> None:
    events = train(tiny_project(device="cuda"), bundle=class_bundle())
    assert len(events) == 1 and isinstance(events[0], Failed), events
    assert "CUDA" in events[0].message and "'cpu'" in events[0].message


def token_project() -> Project:
    b = Builder()
    x = b.add("Input", "text", kind="tokens", shape=(8,))
    o = b.chain(x, ("Embedding", "embed", {"num_embeddings": 5, "embedding_dim": 4}),
                ("GRU", "gru", {"hidden_size": 8, "output": "last"}),
                ("Linear", "head", {"out_features": 10}))
    b.add("Output", "next_char", o)
    return b.project("tokens", "", {"name": "text", "options": {}}, epochs=1, batch_size=8,
                     device="cpu")


def test_token_ids_beyond_the_embedding_fail_naming_the_embedding() -> None:
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:  # a 10-character vocabulary; the Embedding holds 5
        return Split(torch.randint(0, 10, (n, 8), generator=g),
                     torch.randint(0, 10, (n,), generator=g))

    bundle = DataBundle("ten-chars", "language_model", split(32), split(8), split(8), (8,), (),
                        10, list("abcdefghij"), {"kind": "text", "vocab": "abcdefghij"}, "tests")
    events = list(TrainingRun(token_project(), bundle=bundle).events())
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.node_name == "embed"


def test_an_out_of_range_override_is_a_clear_error() -> None:
    try:
        events = list(TrainingRun(tiny_project(), bundle=class_bundle(), batch_size=0).events())
    except TrainingError as exc:
        message = str(exc)
    else:
        assert isinstance(events[-1], Failed)
        message = events[-1].message
    assert "batch_size" in message


# ---- early stopping, checkpoints, resuming -----------------------------------------------------

def worsening_bundle() -> DataBundle:
    """Validation labels are the training rule reversed: learning the training set makes the
    validation loss worse after the first epoch, every epoch."""
    bundle = class_bundle()
    bundle.val = Split(bundle.train.x[:16].clone(), 2 - bundle.train.y[:16])
    return bundle


def run_keeping_epoch_weights(run: TrainingRun) -> tuple[list, dict[int, dict]]:
    """Events, and the model's weights as they were at each EpochEnd."""
    events, at_epoch = [], {}
    for event in run.events():
        events.append(event)
        if isinstance(event, EpochEnd):
            at_epoch[event.epoch] = weights(run.model)
    return events, at_epoch


def test_early_stopping_stops_when_validation_stops_improving() -> None:
    run = TrainingRun(tiny_project(epochs=50, early_stopping=2, learning_rate=0.02),
                      bundle=worsening_bundle())
    events, at_epoch = run_keeping_epoch_weights(run)

    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.stopped_early and not finished.stopped_by_user
    epochs = of(events, EpochEnd)
    assert finished.best_epoch == 0
    assert finished.epochs_run == len(epochs) == 3 < 50
    # tested with the best weights, not the last ones
    assert same_weights(weights(run.model), at_epoch[0])
    assert not same_weights(weights(run.model), at_epoch[2])


def test_early_stopping_counts_epochs_since_the_last_improvement() -> None:
    bundle = worsening_bundle()
    honest = Split(bundle.train.x[16:48].clone(), bundle.train.y[16:48].clone())
    reversed_ = bundle.val
    # validation data for epochs 0..4: better, worse, better again, worse, worse
    plan = [honest, reversed_, honest, reversed_, reversed_]
    bundle.val = plan[0]
    run = TrainingRun(tiny_project(epochs=50, early_stopping=2, learning_rate=0.02),
                      bundle=bundle)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, EpochEnd) and event.epoch + 1 < len(plan):
            bundle.val = plan[event.epoch + 1]  # what the next epoch is validated on

    losses = [e.val_loss for e in of(events, EpochEnd)]
    assert losses[2] < losses[0] < losses[1]  # the plan worked
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stopped_early
    assert finished.best_epoch == 2 and finished.epochs_run == 5


def test_checkpoints_are_written_to_the_output_folder(tmp_path: Path) -> None:
    run = TrainingRun(tiny_project(epochs=3, learning_rate=0.02), bundle=worsening_bundle(),
                      out_dir=tmp_path)
    events, at_epoch = run_keeping_epoch_weights(run)

    best, last = tmp_path / "best.pt", tmp_path / "last.pt"
    assert best.is_file() and last.is_file()
    saved = of(events, CheckpointSaved)
    assert saved and all(s.path == str(best) for s in saved)
    for s in saved:  # saved right after the epoch that improved, with its val loss
        before = events[events.index(s) - 1]
        assert isinstance(before, EpochEnd) and before.epoch == s.epoch
        assert before.val_loss == s.val_loss
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.checkpoint == str(best)
    assert saved[-1].epoch == finished.best_epoch

    best_ckpt, last_ckpt = load_checkpoint(best), load_checkpoint(last)
    assert best_ckpt.epoch == finished.best_epoch == 0 and last_ckpt.epoch == 2
    assert same_weights(best_ckpt.state_dict, at_epoch[0])
    assert same_weights(last_ckpt.state_dict, at_epoch[2])
    assert best_ckpt.task == "classification" and best_ckpt.class_names == ["zero", "one", "two"]
    assert best_ckpt.project.graph.signature() == run.project.graph.signature()
    assert best_ckpt.metrics["loss"] == pytest.approx(finished.best_val_loss)
    assert len(last_ckpt.history) == 3
    # the model is left with the best weights (the ones the test metrics are of)
    assert same_weights(weights(run.model), at_epoch[0])
    assert not same_weights(weights(run.model), at_epoch[2])


def test_a_later_failure_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    bundle = regression_bundle(scale=100.0)
    run = TrainingRun(tiny_project(out=1, loss="mse", optimizer="sgd", learning_rate=1e-4,
                                   epochs=5), bundle=bundle, out_dir=tmp_path)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, CheckpointSaved) and event.epoch == 0:
            run.update_settings(learning_rate=10.0)  # the user turns it up: it diverges

    failed = events[-1]
    assert isinstance(failed, Failed), failed
    assert "diverged" in failed.message
    assert failed.checkpoint == str(tmp_path / "best.pt")
    kept = load_checkpoint(failed.checkpoint)
    assert kept.epoch == 0
    assert all(torch.isfinite(v).all() for v in kept.state_dict.values())
    assert load_checkpoint(tmp_path / "last.pt").epoch == 0


def test_resume_continues_at_the_next_epoch_with_the_same_weights(tmp_path: Path) -> None:
    bundle = class_bundle()
    first = train(tiny_project(epochs=2), bundle=bundle, out_dir=tmp_path / "a")
    assert isinstance(first[-1], Finished)
    last = load_checkpoint(tmp_path / "a" / "last.pt")
    assert last.epoch == 1

    run = TrainingRun(tiny_project(epochs=2), bundle=bundle, out_dir=tmp_path / "b",
                      resume_from=tmp_path / "a" / "last.pt", epochs=4)
    events = run.events()
    started = next(events)
    assert isinstance(started, Started)
    assert started.start_epoch == 2 and started.epochs == 4
    assert same_weights(weights(run.model), last.state_dict)  # before any batch ran
    rest = list(events)

    batches = of(rest, BatchEnd)
    assert (batches[0].epoch, batches[0].batch, batches[0].step) == (2, 0, 2 * 8 + 1)
    assert [e.epoch for e in of(rest, EpochEnd)] == [2, 3]
    assert isinstance(rest[-1], Finished) and rest[-1].epochs_run == 2
    assert [h["epoch"] for h in run.history] == [0, 1, 2, 3]
    assert load_checkpoint(tmp_path / "b" / "last.pt").epoch == 3


def losses_of(seed: int) -> list[float]:
    events = train(tiny_project(epochs=2, seed=seed), bundle=class_bundle())
    assert isinstance(events[-1], Finished)
    return [b.loss for b in of(events, BatchEnd)] + [e.val_loss for e in of(events, EpochEnd)]


def test_the_same_seed_gives_the_same_run() -> None:
    assert losses_of(3) == losses_of(3)
    assert losses_of(3) != losses_of(4)


# ---- schedules, optimizers, losses ---------------------------------------------------------------

def batch_lrs(**training: Any) -> list[BatchEnd]:
    events = train(tiny_project(learning_rate=0.1, **training), bundle=class_bundle())
    assert isinstance(events[-1], Finished), events[-1]
    return of(events, BatchEnd)


def test_step_schedule_decays_every_step_size_epochs() -> None:
    batches = batch_lrs(schedule="step", step_size=2, gamma=0.5, epochs=5)
    for b in batches:
        assert b.lr == pytest.approx(0.1 * 0.5 ** (b.epoch // 2))


def test_cosine_schedule_anneals_over_the_run() -> None:
    batches = batch_lrs(schedule="cosine", epochs=4)
    for b in batches:
        assert b.lr == pytest.approx(0.05 * (1 + math.cos(math.pi * b.epoch / 4)))


def test_one_cycle_schedule_warms_up_then_anneals_per_batch() -> None:
    lrs = [b.lr for b in batch_lrs(schedule="one_cycle", epochs=3)]
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(0.1, rel=0.02)
    assert 3 <= peak <= 10  # about 30% of the 24 steps
    assert lrs[:peak + 1] == sorted(lrs[:peak + 1])
    assert lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[0] < 0.05 and lrs[-1] < 1e-3


def test_one_cycle_batch_lr_is_the_lr_the_batch_trained_with() -> None:
    lrs = [b.lr for b in batch_lrs(schedule="one_cycle", epochs=2)]
    assert lrs[0] == pytest.approx(0.1 / 25)  # OneCycleLR starts at max_lr / div_factor


def test_epoch_end_lr_is_the_lr_the_epoch_trained_with() -> None:
    events = train(tiny_project(learning_rate=0.1, schedule="step", step_size=1, gamma=0.5,
                                epochs=2), bundle=class_bundle())
    for end in of(events, EpochEnd):
        assert end.lr == pytest.approx(0.1 * 0.5 ** end.epoch)


@pytest.mark.parametrize("schedule", ["none", "step", "cosine", "one_cycle"])
def test_a_learning_rate_changed_mid_run_rescales_the_whole_schedule(schedule: str) -> None:
    """The setting is the schedule's base (one-cycle's peak): changing it 0.1 -> 0.025 makes
    every later rate a quarter of what it would have been; one-cycle does not climb back."""
    settings = dict(schedule=schedule, step_size=1, gamma=0.5, epochs=3)
    plain = [b.lr for b in batch_lrs(**settings)]  # at 0.1
    run = TrainingRun(tiny_project(learning_rate=0.1, **settings), bundle=class_bundle())
    lrs = []
    for event in run.events():
        if isinstance(event, BatchEnd):
            lrs.append(event.lr)
            if event.step == 4:  # one-cycle is still warming up
                run.update_settings(learning_rate=0.025)
    assert lrs[:4] == plain[:4]
    assert lrs[4:] == pytest.approx([lr / 4 for lr in plain[4:]])
    assert max(lrs[4:]) <= 0.025 * 1.0001
    assert run.settings["learning_rate"] == 0.025


@pytest.mark.parametrize("optimizer, group, state", [
    ("sgd", {"momentum": 0.9, "nesterov": False}, "momentum_buffer"),
    ("adam", {"decoupled_weight_decay": False}, "exp_avg"),
    ("adamw", {"decoupled_weight_decay": True}, "exp_avg"),
    ("rmsprop", {"momentum": 0.9}, "square_avg"),
])
def test_each_optimizer_trains(tmp_path: Path, optimizer: str, group: dict,
                               state: str) -> None:
    run = TrainingRun(tiny_project(epochs=1, optimizer=optimizer, weight_decay=1e-3),
                      bundle=class_bundle(), out_dir=tmp_path)
    events = run.events()
    next(events)
    before = weights(run.model)
    rest = list(events)
    assert isinstance(rest[-1], Finished), rest[-1]
    assert all(math.isfinite(b.loss) for b in of(rest, BatchEnd))
    assert not same_weights(before, weights(run.model))
    saved = load_checkpoint(tmp_path / "last.pt").optimizer
    assert saved is not None
    params = saved["param_groups"][0]
    assert params["lr"] == 1e-2 and params["weight_decay"] == 1e-3
    assert {k: params[k] for k in group} == group
    assert all(state in s for s in saved["state"].values())


@pytest.mark.parametrize("loss, out, bundle, expected", [
    ("cross_entropy", 3, class_bundle, lambda o, y: nn.functional.cross_entropy(o, y)),
    ("nll", 3, class_bundle, lambda o, y: nn.functional.nll_loss(o, y)),
    ("bce_with_logits", 3, class_bundle,
     lambda o, y: nn.functional.binary_cross_entropy_with_logits(
         o, nn.functional.one_hot(y, 3).float())),
    ("mse", 1, regression_bundle, lambda o, y: nn.functional.mse_loss(o, y)),
    ("l1", 1, regression_bundle, lambda o, y: nn.functional.l1_loss(o, y)),
])
def test_each_loss_is_the_one_minimised(loss: str, out: int, bundle: Callable[[], DataBundle],
                                        expected: Callable) -> None:
    data = bundle()
    # one batch of the whole training set: its loss does not depend on the shuffle
    run = TrainingRun(tiny_project(out, loss=loss, epochs=1, batch_size=len(data.train)),
                      bundle=data)
    events = run.events()
    next(events)
    initial = copy.deepcopy(run.model)
    rest = list(events)
    assert isinstance(rest[-1], Finished), rest[-1]
    (batch,) = of(rest, BatchEnd)
    with torch.no_grad():
        want = float(expected(initial(data.train.x), data.train.y))
    assert batch.loss == pytest.approx(want, rel=1e-5)
    assert math.isfinite(rest[-1].test["loss"])


def test_snapshot_copies_the_weights_while_the_run_goes_on():
    """The Test tab tries the model live: snapshot() hands out a detached CPU copy."""
    from backend.training.train import TrainingRun
    from graph.templates import build_template

    run = TrainingRun(build_template("hello-mlp"), epochs=1)
    assert run.snapshot() is None  # no model before the run starts
    events = run.events()
    first = next(events)
    assert type(first).__name__ == "Started"
    snap = run.snapshot()
    assert snap and set(snap) == set(run.model.state_dict())
    key = next(iter(snap))
    before = snap[key].clone()
    for _ in events:
        pass
    assert torch.equal(snap[key], before)  # training did not write into the copy
    assert not torch.equal(run.model.state_dict()[key].cpu(), before)  # but it did train
