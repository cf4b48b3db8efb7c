"""Training from the GUI: the Training tab drives a real run on a QThread (torch on the CPU).

Runs are kept tiny: the hello-mlp template (784-128-10) on a hand-built in-memory dataset
(batch size 8, many epochs, so there is always a batch to catch), and one real epoch on the
digits for the end-to-end test. Every wait has a timeout; a test that hangs fails.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.document import Document
from app.panels.training import TrainingPanel
from backend.training import train as tr
from backend.data import DataBundle
from backend.data.base import Split
from graph.commands import SetTraining
from graph.settings import LIVE_SETTINGS
from graph.templates import build_template

RUN_TIMEOUT = 60_000  # ms: generous, the machine is shared


# ---- fixtures and helpers ---------------------------------------------------------------

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two busy cores: one torch thread per run keeps the suite fast and steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_bundle(n_train: int = 1200, features: int = 784, classes: int = 10,
                nan: bool = False, seed: int = 0) -> DataBundle:
    """A small learnable classification set: class k lifts feature k."""
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        y = torch.randint(0, classes, (n,), generator=gen)
        x = torch.randn(n, features, generator=gen) * 0.5
        x[torch.arange(n), y] += 2.0
        if nan:
            x[:, 0] = float("nan")
        return Split(x, y)

    return DataBundle("synthetic", "classification", split(n_train), split(100), split(100),
                      (features,), (), classes, [str(i) for i in range(classes)], {},
                      "test data")


class Feed:
    """Makes the panel's runs train on ``bundle`` (the Train button path stays the user's:
    only the data loading is replaced, as TrainingSession.start forwards it to TrainingRun).
    """

    def __init__(self, panel: TrainingPanel, monkeypatch, bundle: DataBundle) -> None:
        self.bundle = bundle
        start = panel.session.start
        monkeypatch.setattr(panel.session, "start",
                            lambda project, **kw: start(project, bundle=self.bundle, **kw))


class Probe:
    """Counts events at their source, on the training thread, as the trainer yields them
    (so a count read right after a click is not delayed by the GUI's 40 ms drain)."""

    def __init__(self, monkeypatch) -> None:
        self.batches = 0
        self.marks: dict[str, int] = {}  # event kind -> batches produced before it
        events = tr.TrainingRun.events
        probe = self

        def counting(run):
            for event in events(run):
                if isinstance(event, tr.BatchEnd):
                    probe.batches += 1
                else:
                    probe.marks.setdefault(type(event).__name__, probe.batches)
                yield event

        monkeypatch.setattr(tr.TrainingRun, "events", counting)


class Recorder:
    """What the panel's session delivered to the GUI, in order."""

    def __init__(self, session) -> None:
        self.batches: list[tr.BatchEnd] = []
        self.log: list[tuple[str, object]] = []
        session.batches.connect(self._batches)
        for name in ("started", "epochEnded", "paused", "resumed", "finished", "failed"):
            getattr(session, name).connect(lambda e, name=name: self.log.append((name, e)))
        session.runEnded.connect(lambda: self.log.append(("runEnded", None)))

    def _batches(self, events) -> None:
        self.batches.extend(events)
        self.log.append(("batches", len(events)))

    def batches_before(self, name: str) -> int:
        """Batches delivered before the first ``name`` signal."""
        count = 0
        for kind, value in self.log:
            if kind == name:
                return count
            if kind == "batches":
                count += value
        raise AssertionError(f"no {name} signal")

    def events(self, name: str) -> list:
        return [e for kind, e in self.log if kind == name]


def hello(**training) -> Document:
    project = build_template("hello-mlp")
    project.training.update(training)
    return Document(project)


@pytest.fixture
def panel(isolated_app, qtbot):
    """A shown Training tab on hello-mlp set up for long runs of small batches."""
    doc = hello(batch_size=8, epochs=500, schedule="none")
    widget = TrainingPanel(doc)
    widget._doc = doc  # keep the document alive as long as the panel

    def stop_training(w) -> None:  # before pytest-qt closes and deletes the panel
        w.session.shutdown()
        qtbot.waitUntil(lambda: not w.session.running, timeout=10_000)

    qtbot.addWidget(widget, before_close_func=stop_training)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click(button) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_batches(qtbot, recorder: Recorder, n: int) -> None:
    qtbot.waitUntil(lambda: len(recorder.batches) >= n, timeout=RUN_TIMEOUT)


def type_setting(panel, key: str, text: str) -> None:
    """Type ``text`` into a setting's field and press Return, as a user does."""
    field = panel.editors[key].widget
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, text)
    QTest.keyClick(field, Qt.Key.Key_Return)


def train_then_pause(panel, qtbot, recorder, batches: int) -> int:
    """Train until ``batches`` arrived, press Pause; the batches delivered by the pause."""
    click(panel.train_button)
    wait_batches(qtbot, recorder, batches)
    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    return len(recorder.batches)


def buttons(panel) -> dict[str, bool]:
    return {b.text(): b.isEnabled() for b in (panel.train_button, panel.pause_button,
                                               panel.resume_button, panel.stop_button)}


IDLE = {"Train": True, "Pause": False, "Resume": False, "Stop": False}


def python_threads() -> list[str]:
    return sorted(f"{t.name}:{t.ident}" for t in threading.enumerate())


PROC_TASKS = "/proc/self/task"  # Linux: one entry per thread of this process
HAVE_PROC = os.path.isdir(PROC_TASKS)


def os_threads() -> int:
    """Threads of this process as the kernel sees them (QThreads included, which Python's
    threading module only knows of once they call into it); 0 where there is no /proc."""
    return len(os.listdir(PROC_TASKS)) if HAVE_PROC else 0


# ---- 1. a whole run from the Train button -------------------------------------------------

def test_train_one_epoch_of_digits_from_the_window(gui, qtbot, monkeypatch):
    from backend.tasks import classification as evaluate

    report_threads: list[str] = []
    real_report = evaluate.classification_report

    def watched_report(*args, **kwargs):
        report_threads.append(threading.current_thread().name)
        return real_report(*args, **kwargs)

    monkeypatch.setattr(evaluate, "classification_report", watched_report)
    window = gui.window(document=hello(epochs=1))  # the real digits, loaded by the trainer
    panel = window.training_panel
    window.bottom_tabs.setCurrentWidget(panel)
    recorder = Recorder(panel.session)

    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.train_button)
        assert buttons(panel) == {"Train": False, "Pause": True, "Resume": False,
                                  "Stop": True}

    assert not recorder.events("failed"), recorder.events("failed")
    [finished] = recorder.events("finished")
    assert finished.epochs_run == 1 and not finished.stopped_by_user
    assert panel.curves.point_count() == len(recorder.batches) > 0
    assert panel.curves.epoch_count() == 1
    assert panel.progress.maximum() == recorder.events("started")[0].batches_per_epoch
    assert panel.progress.value() == panel.progress.maximum()
    status = panel.status.text()
    assert "test" in status
    accuracy = re.search(r"accuracy (\d+\.\d\d)%", status)
    assert accuracy and float(accuracy.group(1)) == pytest.approx(
        finished.test["accuracy"] * 100, abs=0.01)
    assert finished.test["accuracy"] > 0.5  # one epoch learns the digits well past chance
    assert len(panel.history) == 1
    record = panel.history[0]
    assert record.result.startswith("test") and record.settings["epochs"] == 1
    assert record.settings["dataset"] == "digits"
    assert panel.history_table.rowCount() == 1
    assert buttons(panel) == IDLE

    evaluation = window.evaluation_panel
    view = evaluation.classification_view
    assert evaluation.stack.currentWidget() is view
    assert view.report is not None and view.report.split == "test"
    assert view.report.accuracy == pytest.approx(finished.test["accuracy"], abs=1e-6)
    assert "test accuracy" in view.headline.text()
    assert not panel.session.running
    # the test-set report ran on the training thread: torch never runs on the GUI thread
    assert report_threads and threading.main_thread().name not in report_threads


# ---- 2. pause and resume ------------------------------------------------------------------

def test_pause_stops_within_one_batch_and_resume_continues(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    probe = Probe(monkeypatch)
    recorder = Recorder(panel.session)
    click(panel.train_button)
    wait_batches(qtbot, recorder, 5)

    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
        produced_at_click = probe.batches
    assert probe.marks["Paused"] - produced_at_click <= 1
    assert recorder.batches_before("paused") <= produced_at_click + 1
    assert buttons(panel) == {"Train": False, "Pause": False, "Resume": True, "Stop": True}
    assert panel.state == "paused" and "Paused" in panel.status.text()

    held = len(recorder.batches)
    assert held == probe.batches  # everything before the pause has been delivered
    qtbot.wait(300)
    assert len(recorder.batches) == held and probe.batches == held  # none while paused

    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    wait_batches(qtbot, recorder, held + 5)
    steps = [e.step for e in recorder.batches]
    assert steps == list(range(1, len(steps) + 1))  # no batch lost or repeated
    assert panel.state == "running" and buttons(panel)["Pause"]

    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)


# ---- 3. stop ------------------------------------------------------------------------------

def test_stop_ends_within_one_batch_and_returns_to_idle(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    probe = Probe(monkeypatch)
    recorder = Recorder(panel.session)
    click(panel.train_button)
    wait_batches(qtbot, recorder, 5)

    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
        produced_at_click = probe.batches
    assert probe.marks["Finished"] - produced_at_click <= 1
    [finished] = recorder.events("finished")
    assert finished.stopped_by_user and not finished.stopped_early
    assert not recorder.events("failed")
    assert recorder.batches_before("finished") == probe.marks["Finished"]
    assert buttons(panel) == IDLE and panel.state == "idle"
    assert "stopped" in panel.status.text()
    assert len(panel.history) == 1
    assert not panel.session.running


def test_stop_while_paused_ends_the_run(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    held = train_then_pause(panel, qtbot, recorder, 3)
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    assert len(recorder.batches) == held  # not one more batch
    [finished] = recorder.events("finished")
    assert finished.stopped_by_user
    assert buttons(panel) == IDLE


# ---- 4. a live setting changed while paused -----------------------------------------------

def test_learning_rate_typed_while_paused_applies_after_resume(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    document = panel.document
    old_lr = document.project.training["learning_rate"]
    click(panel.train_button)
    wait_batches(qtbot, recorder, 3)
    assert {e.lr for e in recorder.batches} == {old_lr}

    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    held = len(recorder.batches)
    field = panel.editors["learning_rate"].widget
    assert field.isEnabled()
    depth = document.undo_stack.count()
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "0.00037")
    QTest.keyClick(field, Qt.Key.Key_Return)

    assert document.project.training["learning_rate"] == pytest.approx(0.00037)
    assert document.undo_stack.count() == depth + 1
    command = document.undo_stack.command(depth).command
    assert isinstance(command, SetTraining) and command.key == "learning_rate"
    assert document.modified
    assert "learning rate = 0.00037" in panel.status.text()

    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT) as resumed:
        click(panel.resume_button)
    assert resumed.args[0].changed == {"learning_rate": pytest.approx(0.00037)}
    wait_batches(qtbot, recorder, held + 5)
    before, after = recorder.batches[:held], recorder.batches[held:]
    assert {e.lr for e in before} == {old_lr}
    assert all(e.lr == pytest.approx(0.00037) for e in after)
    assert panel.session.run.settings["learning_rate"] == pytest.approx(0.00037)

    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    # the Runs table says what the run trained with: the first rate, then the change
    paused_in = recorder.events("paused")[0].epoch + 1
    assert panel.history[-1].settings["learning_rate"] == f"{old_lr} → 0.00037 (epoch {paused_in})"
    document.undo_stack.undo()  # the edit is one undo step; the form follows
    assert document.project.training["learning_rate"] == old_lr
    assert float(field.text()) == pytest.approx(old_lr)
    document.undo_stack.redo()
    assert document.project.training["learning_rate"] == pytest.approx(0.00037)


def test_a_learning_rate_typed_while_paused_rescales_one_cycle_and_says_so(panel, qtbot,
                                                                          monkeypatch):
    """0.002 -> 0.0005 while paused in the warm-up: the schedule is scaled to the new peak, so
    the rate does not climb back towards 0.001 (issue 13, item 2)."""
    document = panel.document
    document.push(SetTraining(document.project, "schedule", "one_cycle"))
    document.push(SetTraining(document.project, "learning_rate", 0.002))
    document.push(SetTraining(document.project, "epochs", 100))  # 15000 steps, peak at 4500
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    held = train_then_pause(panel, qtbot, recorder, 10)
    assert held < 3000  # still warming up
    rate_at_pause = recorder.batches[-1].lr
    type_setting(panel, "learning_rate", "0.0005")
    assert "one-cycle schedule is scaled by 0.25" in panel.status.text()
    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    wait_batches(qtbot, recorder, held + 3)
    assert "one-cycle schedule of 0.0005" in panel.status.text()
    wait_batches(qtbot, recorder, 5000)  # past the peak
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    after = [e.lr for e in recorder.batches[held:]]
    assert after[0] == pytest.approx(rate_at_pause / 4, rel=0.1)
    assert max(after) <= 0.0005 * 1.0001  # the new peak, never the old one
    assert max(after) >= 0.0005 * 0.99  # and the warm-up still reaches it
    paused_in = recorder.events("paused")[0].epoch + 1
    assert panel.history[-1].settings["learning_rate"] == f"0.002 → 0.0005 (epoch {paused_in})"


def test_a_paused_or_stopped_run_shows_no_speed_or_eta(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle(n_train=80))  # 10 batches an epoch
    recorder = Recorder(panel.session)
    click(panel.train_button)
    qtbot.waitUntil(lambda: len(recorder.events("epochEnded")) >= 2, timeout=RUN_TIMEOUT)
    assert "samples/s" in panel.progress.format() and "ETA" in panel.progress.format()
    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    text = panel.progress.format()
    assert text.endswith("· paused") and "samples/s" not in text and "ETA" not in text
    [at] = recorder.events("paused")  # the epoch and the batches done in it
    assert text.startswith(f"epoch {at.epoch + 1}/500 · batch {at.batch}/10 done")
    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    wait_batches(qtbot, recorder, len(recorder.batches) + 3)
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    [finished] = recorder.events("finished")
    text = panel.progress.format()
    assert text == f"stopped · {finished.epochs_run}/500 epochs complete", text
    assert f"stopped after {finished.epochs_run} epoch(s)" in panel.status.text()
    assert "ETA" not in text and "samples/s" not in text


def test_the_eta_leaves_out_the_time_spent_paused(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    click(panel.train_button)
    wait_batches(qtbot, recorder, 5)
    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    qtbot.wait(1500)  # a long pause
    paused = panel._paused_at
    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    assert panel._paused_for >= 1.4 and panel._paused_at is None and paused is not None
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)


def test_another_document_leaves_nothing_of_the_last_run(gui, qtbot, monkeypatch):
    window = gui.window(document=hello(batch_size=8, epochs=2))
    panel = window.training_panel
    Feed(panel, monkeypatch, make_bundle(n_train=80))
    recorder = Recorder(panel.session)
    click(panel.train_button)
    qtbot.waitUntil(lambda: panel.state == "idle" and bool(recorder.events("runEnded")),
                    timeout=RUN_TIMEOUT)
    assert panel.history and panel.session.run is not None
    assert panel.curves.data.batches.size > 0 and panel.curves.data.epochs.size == 2
    assert "complete" in panel.progress.format()

    window.set_document(window.new_document(build_template("digits-cnn")))

    assert panel.history == [] and panel.runs.table.rowCount() == 0
    assert panel.session.run is None
    assert panel.progress.value() == 0 and panel.progress.format() == "no run yet"
    assert panel.status.text() == "Ready. Press Train." and panel.banner.isHidden()
    assert panel.curves.data.batches.size == 0 and panel.curves.data.epochs.size == 0
    assert panel.curves.overlays.runs == []
    assert buttons(panel) == IDLE


def test_undoing_a_live_setting_while_paused_reaches_the_run(panel, qtbot, monkeypatch):
    """The form shows what the run trains with: an undo while paused is a change too."""
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    document = panel.document
    old_lr = document.project.training["learning_rate"]
    click(panel.train_button)
    wait_batches(qtbot, recorder, 3)
    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    field = panel.editors["learning_rate"].widget
    field.selectAll()
    QTest.keyClicks(field, "0.05")
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert document.project.training["learning_rate"] == pytest.approx(0.05)
    document.undo_stack.undo()  # Ctrl+Z: back to the old rate, in the form and the project
    assert document.project.training["learning_rate"] == old_lr
    assert float(field.text()) == pytest.approx(old_lr)

    held = len(recorder.batches)
    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    wait_batches(qtbot, recorder, held + 3)
    assert {e.lr for e in recorder.batches[held:]} == {old_lr}
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    assert panel.history[-1].settings["learning_rate"] == old_lr


# ---- 5. which settings can be edited when -------------------------------------------------

def test_settings_that_cannot_change_live_are_locked_during_a_run(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    fixed = [k for k in panel.editors if k not in LIVE_SETTINGS]
    live = [k for k in panel.editors if k in LIVE_SETTINGS]
    assert fixed and live
    assert all(e.widget.isEnabled() for e in panel.editors.values())

    click(panel.train_button)
    wait_batches(qtbot, recorder, 2)
    assert not any(panel.editors[k].widget.isEnabled() for k in fixed)

    with qtbot.waitSignal(panel.session.paused, timeout=RUN_TIMEOUT):
        click(panel.pause_button)
    assert not any(panel.editors[k].widget.isEnabled() for k in fixed)
    assert all(panel.editors[k].widget.isEnabled() for k in live)

    with qtbot.waitSignal(panel.session.resumed, timeout=RUN_TIMEOUT):
        click(panel.resume_button)
    assert not any(panel.editors[k].widget.isEnabled() for k in fixed)

    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    disabled = [k for k, e in panel.editors.items() if not e.widget.isEnabled()]
    assert disabled == []


# ---- 6. no thread left behind -------------------------------------------------------------

def test_twenty_start_stop_cycles_leave_no_thread(panel, qtbot, monkeypatch):
    Feed(panel, monkeypatch, make_bundle(n_train=400))
    recorder = Recorder(panel.session)
    before = threading.active_count()
    names = python_threads()
    os_before = None
    for cycle in range(20):
        seen = len(recorder.batches)
        click(panel.train_button)
        assert panel.session.running
        qtbot.waitUntil(lambda: len(recorder.batches) > seen, timeout=RUN_TIMEOUT)
        with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
            click(panel.stop_button)
        assert not panel.session.running, f"cycle {cycle}"
        assert buttons(panel) == IDLE
        if os_before is None:  # after one cycle: whatever a first run starts for good
            qtbot.wait(50)
            os_before = os_threads()
        # the thread emits finished just before it exits: give it a moment to be gone
        qtbot.waitUntil(lambda: os_threads() == os_before, timeout=5000)
    finished = recorder.events("finished")
    assert len(finished) == 20 and all(f.stopped_by_user for f in finished)
    assert len(recorder.events("runEnded")) == 20
    assert threading.active_count() == before, (names, python_threads())
    assert not panel.session.running
    assert len(panel.history) == 20


# ---- 7. a diverging run -------------------------------------------------------------------

def test_nan_loss_is_reported_and_the_next_run_works(panel, qtbot, monkeypatch):
    feed = Feed(panel, monkeypatch, make_bundle(nan=True))
    recorder = Recorder(panel.session)
    panel.editors["epochs"].widget.setValue(1)  # through the form, as a user would
    assert panel.document.project.training["epochs"] == 1
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.train_button)
    [failed] = recorder.events("failed")
    assert "loss" in failed.message and "nan" in failed.message
    assert panel.banner.isVisible()
    assert "loss became nan" in panel.banner.text()
    assert "Lower the learning rate" in panel.banner.text()
    assert panel.status.text() == "Training did not complete."
    assert panel.history[-1].result.startswith("failed: the loss became nan")
    assert buttons(panel) == IDLE

    feed.bundle = make_bundle()
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.train_button)
    assert not panel.banner.isVisible()  # the old failure is gone
    [finished] = recorder.events("finished")
    assert finished.epochs_run == 1 and finished.test["accuracy"] > 0.5
    assert len(recorder.events("failed")) == 1
    assert "finished after 1 epoch" in panel.status.text()
    assert len(panel.history) == 2


# ---- 8. a layer that fails at run time ----------------------------------------------------

def test_a_failing_layer_is_marked_on_the_canvas_and_named(gui, qtbot, monkeypatch):
    window = gui.window(document=hello(batch_size=8, epochs=3))
    panel = window.training_panel
    Feed(panel, monkeypatch, make_bundle(features=100))  # fc1 wants 784 inputs
    items = {item.title: item for item in window.scene.node_items.values()}
    assert not items["fc1"].errors
    failed = []
    panel.failedAt.connect(failed.append)
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.train_button)
    assert failed == ["fc1"]
    assert items["fc1"].errors and "fc1" in items["fc1"].errors[-1]
    assert "fc1" in items["fc1"].toolTip()
    assert not any(items[name].errors for name in items if name != "fc1")
    banner = panel.banner.text()
    assert panel.banner.isVisible() and "fc1" in banner
    assert banner.startswith("Layer 'fc1':")
    assert buttons(panel) == IDLE and not panel.session.running


# ---- 9. the live overlay on the canvas ----------------------------------------------------

def test_live_overlay_shows_during_training_and_clears_after(gui, qtbot, monkeypatch):
    window = gui.window(document=hello(batch_size=8, epochs=500))
    panel = window.training_panel
    Feed(panel, monkeypatch, make_bundle())
    items = list(window.scene.node_items.values())
    assert all(item.live is None for item in items)
    click(panel.train_button)
    qtbot.waitUntil(lambda: any(item.live is not None for item in items),
                    timeout=RUN_TIMEOUT)
    live = {item.title for item in items if item.live is not None}
    assert {"fc1", "fc2"} <= live
    fc1 = next(item for item in items if item.title == "fc1").live
    assert fc1.grad_norm > 0 and fc1.act_std > 0  # a layer with weights: real numbers
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)
    assert all(item.live is None for item in items)


def test_a_run_keeps_the_panel_sizes_and_runs_at_a_lower_cpu_priority(gui, qtbot, monkeypatch):
    """Sizes change only when the user drags them: the canvas must not jump when a run starts
    (the curves scroll in the panel the user chose)."""
    window = gui.window(document=hello(batch_size=8, epochs=500))
    window.resize(1400, 1000)
    window.bottom_tabs.setCurrentWidget(window.training_panel)
    window.resizeDocks([window.bottom_dock], [200], Qt.Orientation.Vertical)  # the user's
    qtbot.wait(50)
    sizes = (window.bottom_dock.height(), window.view.height(), window.view.width())
    panel = window.training_panel
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    click(panel.train_button)
    wait_batches(qtbot, recorder, 2)
    qtbot.wait(100)
    assert (window.bottom_dock.height(), window.view.height(), window.view.width()) == sizes
    if HAVE_PROC and sys.platform.startswith("linux"):  # the GUI thread keeps its priority
        nice = {name: n for name, n in thread_niceness()}
        assert nice["main"] == 0 and nice["training"] > 0, nice
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)


def thread_niceness() -> list[tuple[str, int]]:
    """(main|training|other, niceness) of this process's OS threads, from /proc."""
    result = []
    for task in sorted(os.listdir("/proc/self/task")):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{task}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue  # the thread ended meanwhile
        kind = "main" if int(task) == os.getpid() else \
            "training" if comm == "_RunThread" else "other"
        result.append((kind, int(fields[16])))
    return result


# ---- 10. closing the window mid-run -------------------------------------------------------

def test_closing_the_window_while_training_stops_the_thread(gui, qtbot, monkeypatch):
    before = threading.active_count()
    names = python_threads()
    window = gui.window(document=hello(batch_size=8, epochs=500))
    panel = window.training_panel
    Feed(panel, monkeypatch, make_bundle())
    recorder = Recorder(panel.session)
    os_before = os_threads()
    click(panel.train_button)
    wait_batches(qtbot, recorder, 3)
    assert os_threads() > os_before or not HAVE_PROC  # the training thread
    thread = panel.session._thread
    assert thread is not None and thread.isRunning()

    assert window.close()
    assert thread.isFinished()  # closeEvent waited for it
    [finished] = recorder.events("finished")
    assert finished.stopped_by_user
    qtbot.waitUntil(lambda: not panel.session.running, timeout=10_000)
    assert threading.active_count() == before, (names, python_threads())
    qtbot.waitUntil(lambda: os_threads() == os_before, timeout=5000)
    assert gui.questions == []  # nothing was edited: no unsaved-changes prompt


def test_cluster_script_button_writes_the_project_and_a_torchrun_script(panel, tmp_path):
    from graph.project import load_project

    script = panel.write_cluster_script(str(tmp_path))
    assert script == tmp_path / "launch.sh" and os.access(script, os.X_OK)
    [project_file] = tmp_path.glob("*.json")
    assert f'"{project_file.name}"' in script.read_text()
    assert load_project(project_file).graph.signature() == \
        panel.document.project.graph.signature()
    assert "launch.sh" in panel.status.text()


def test_clicking_the_cluster_script_button_asks_for_the_folder(panel, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args: asked.append(args) or str(tmp_path)))
    click(panel.cluster_button)
    assert len(asked) == 1  # clicked(False) once arrived as the folder and nothing happened
    assert (tmp_path / "launch.sh").is_file()


def test_a_dataset_download_shows_its_progress_then_training_starts(panel, qtbot, tmp_path,
                                                                    monkeypatch):
    from tests.backend.data.test_data_download import slow_mnist_download

    panel.document.project.dataset = slow_mnist_download(tmp_path, monkeypatch)
    recorder = Recorder(panel.session)
    shown: list[str] = []
    panel.session.downloading.connect(lambda p: shown.append(panel.progress.text()))
    click(panel.train_button)
    qtbot.waitUntil(lambda: bool(shown), timeout=RUN_TIMEOUT)
    assert "Downloading MNIST handwritten digits: " in shown[0]
    assert re.search(r"[\d.]+ kB of [\d.]+ kB \(\d+%\)", shown[0])  # the fake archives: ~40 kB
    assert "Downloading (once" in panel.status.text()
    qtbot.waitUntil(lambda: bool(recorder.events("started")), timeout=RUN_TIMEOUT)
    assert "Downloading" not in panel.progress.text()  # the bar counts batches now
    with qtbot.waitSignal(panel.session.runEnded, timeout=RUN_TIMEOUT):
        click(panel.stop_button)


def test_stop_during_a_download_ends_the_run_and_leaves_no_partial_file(panel, qtbot, tmp_path,
                                                                       monkeypatch):
    from tests.backend.data.test_data_download import slow_mnist_download

    panel.document.project.dataset = slow_mnist_download(tmp_path, monkeypatch, 0.05)
    recorder = Recorder(panel.session)
    click(panel.train_button)
    qtbot.waitSignal(panel.session.downloading, timeout=RUN_TIMEOUT).wait()
    with qtbot.waitSignal(panel.session.runEnded, timeout=5_000):
        click(panel.stop_button)
    [failed] = recorder.events("failed")
    assert "stopped while downloading" in failed.message
    assert not recorder.events("started")
    assert panel.state == "idle" and buttons(panel) == IDLE
    raw = tmp_path / "datasets" / "MNIST" / "raw"
    assert not list(raw.glob("*.part"))
