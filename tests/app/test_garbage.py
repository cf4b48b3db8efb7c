"""Cycle collection in the GUI: on the GUI thread's timer, never in the middle of a run's
setup (its objects are frozen right after it instead), everything handed back after the run."""
from __future__ import annotations

import gc
import weakref

from app.garbage import collect_on_gui_thread, settle, settle_setup, unsettle


def make_garbage(n: int = 5000) -> None:
    for _ in range(n):
        a: list = []
        a.append(a)  # a cycle: only the cycle collector frees it


def test_no_collection_during_a_runs_setup_then_its_objects_are_frozen(qapp):
    collect_on_gui_thread(qapp)
    collector = qapp._gui_thread_gc
    assert not gc.isenabled()
    try:
        settle()
        frozen_at_start = gc.get_freeze_count()
        make_garbage()  # what building the model and loading the data leave behind
        pending = gc.get_count()[0]
        assert pending > collector.threshold[0]
        collector.check()  # the 1 s timer fires while the run is still setting up
        assert gc.get_count()[0] >= pending  # nothing was collected

        setup_objects = [[i] for i in range(1000)]  # survivors of the setup: the model...
        settle_setup()  # the run has started: they are exempt from the run's collections
        assert gc.get_freeze_count() >= frozen_at_start + len(setup_objects)
        make_garbage()
        collector.check()
        assert gc.get_count()[0] < collector.threshold[0]  # collections are back
        model = Cyclic()  # the run's model: garbage in a reference cycle once the run ends
        settle_setup()
        gone = weakref.ref(model)
        del model
        assert gone() is not None  # frozen: the run's collections leave it alone
    finally:
        unsettle()
    assert gone() is None  # the run is over: its garbage was collected
    assert gc.get_freeze_count() > 0  # and what is left stays out of the timer's collections
    make_garbage()
    collector.check()
    assert gc.get_count()[0] < collector.threshold[0]


class Cyclic:
    def __init__(self) -> None:
        self.me = self
