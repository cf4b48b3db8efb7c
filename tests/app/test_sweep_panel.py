"""The Sweep page of the Training tab: each trial is a run in the run history."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.document import Document
from app.panels.training import TrainingPanel
from backend.checkpoint import load_checkpoint
from graph.templates import build_template

RUN_TIMEOUT = 120_000


@pytest.fixture
def panel(isolated_app, qtbot):
    project = build_template("hello-mlp")
    project.training.update(epochs=1, batch_size=128)
    doc = Document(project)
    widget = TrainingPanel(doc)
    widget._doc = doc
    qtbot.addWidget(widget, before_close_func=lambda w: w.session.shutdown())
    widget.resize(1200, 700)
    widget.show()
    return widget


def set_axes(sweep, *rows):
    sweep.axes_table.setRowCount(0)
    for name, values in rows:
        sweep.add_axis(name, values)


def test_a_grid_sweep_runs_every_trial_as_a_run_and_finds_the_best(panel, qtbot):
    sweep = panel.sweep
    hidden = next(n for n in panel.document.project.graph.nodes if n.type == "Linear")
    set_axes(sweep, ("learning_rate", "0.00001, 0.01"), (f"{hidden.name}.out_features", "24"))
    opened = []
    panel.openCheckpoint.connect(opened.append)
    QTest.mouseClick(sweep.run_button, Qt.MouseButton.LeftButton)
    assert sweep.running and not sweep.run_button.isEnabled()
    qtbot.waitUntil(lambda: not sweep.running, timeout=RUN_TIMEOUT)

    assert len(sweep.results) == 2 and len(panel.history) == 2  # two runs in Runs
    assert [r.settings["sweep trial"] for r in panel.history] == [1, 2]
    assert panel.history[1].settings["learning_rate"] == 0.01
    assert sweep.results_table.rowCount() == 2
    best = sweep.best()
    assert best.values["learning_rate"] == 0.01
    assert sweep.results_table.item(0, 0).text() == "2"  # best first
    assert "Best: learning_rate=0.01" in sweep.status.text()
    assert len(sweep.scatter.data) == 2 and len(sweep.best_marker.data) == 1
    assert sweep.best_button.isEnabled()
    QTest.mouseClick(sweep.best_button, Qt.MouseButton.LeftButton)
    assert opened == [best.checkpoint]
    ckpt = load_checkpoint(best.checkpoint)
    assert ckpt.project.graph.find(hidden.name).params["out_features"] == 24
    # the document itself was not changed by the trials
    assert panel.document.project.graph.find(hidden.name).params["out_features"] != 24


def test_a_bad_axis_is_named_and_nothing_runs(panel):
    set_axes(panel.sweep, ("nosuch.units", "3"))
    assert not panel.sweep.start()
    assert "no node named 'nosuch'" in panel.sweep.status.text()
    assert not panel.session.running and panel.history == []


def test_stop_ends_the_sweep_after_the_current_trial(panel, qtbot):
    panel.document.project.training["epochs"] = 200
    set_axes(panel.sweep, ("learning_rate", "0.001, 0.002, 0.003"))
    assert panel.sweep.start()
    qtbot.waitUntil(lambda: panel.session.running, timeout=RUN_TIMEOUT)
    panel.sweep.stop()
    qtbot.waitUntil(lambda: not panel.session.running, timeout=RUN_TIMEOUT)
    qtbot.wait(100)
    assert len(panel.history) == 1 and not panel.session.running
    assert panel.sweep.run_button.isEnabled()
