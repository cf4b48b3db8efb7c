"""Training in the GUI vs headless, and how responsive the window stays. Prints JSON.

Measured in one run, in rounds: the headless trainer, then the same template trained from
the editor window (Training tab, curves and live node overlay on) twice — once as a user runs
it, once with the stall probe on — every other round in reverse order; ratios are given from
the medians and as the median of each GUI run over the headless run of its round. Throughput is training samples
per second over the epochs' own durations (EpochEnd.seconds, timed on the training thread:
the same clock in both modes, however late the window shows an event; the set-up before the
first epoch and the test-set report after the last are not training).

Responsiveness: a 10 ms timer on the GUI thread records how late each tick fires while
training runs (a stall is the extra delay beyond 10 ms). The probe is an instrument with a
cost of its own: it wakes the GUI thread 100 times a second, and on a machine whose cores
torch keeps busy each wake-up pre-empts a torch worker (measured: 1-2% of training speed).
So the headline ratio comes from the rounds without it, and the rounds with it give the
stalls and, for comparison, their own ratio (gui_with_probe_over_headless).
gui_thread_cpu_share is the CPU time the GUI thread used per second of training: what the
window takes from the cores, whatever else the machine does.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEMPLATE = os.environ.get("BENCH_TEMPLATE", "digits-cnn")
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "15"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))


def headless() -> float:
    """Seconds from Started to Finished of the plain trainer, on a fresh thread like the
    GUI's run (torch's OpenMP pool belongs to the calling thread: a main-thread pool left
    spinning would compete with the GUI run's pool and skew the comparison)."""
    import threading

    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(_headless()))
    worker.start()
    worker.join()
    return result[0]


def _headless() -> float:
    from backend.training import train as tr
    from graph.templates import build_template

    project = build_template(TEMPLATE)
    seconds = 0.0
    with tempfile.TemporaryDirectory() as out:
        for event in tr.TrainingRun(project, out_dir=out, epochs=EPOCHS).events():
            if isinstance(event, tr.EpochEnd):
                seconds += event.seconds
            elif isinstance(event, tr.Failed):
                raise SystemExit(event.message)
    return seconds


def in_gui(app, window, probe: bool) -> tuple[float, list[float], float]:
    """Train once from the window: (training seconds, tick lateness in ms if ``probe``, GUI
    thread CPU seconds per second of training)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    panel = window.training_panel
    marks: dict[str, float] = {}
    panel.session.started.connect(lambda e: marks.setdefault("t0", time.perf_counter()))
    # The end of the last epoch, as headless: the test-set report that follows isn't training.
    panel.session.epochEnded.connect(lambda e: marks.__setitem__("t1", time.perf_counter()))
    epoch_seconds: list[float] = []
    panel.session.epochEnded.connect(lambda e: epoch_seconds.append(e.seconds))
    lateness: list[float] = []
    finished: list[bool] = []
    panel.session.finished.connect(lambda e: finished.append(True))
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        if "t0" in marks and not finished:
            lateness.append(max((now - last[0]) / 1e6 - 10.0, 0.0))
        last[0] = now

    heartbeat = QTimer(interval=10)
    heartbeat.timeout.connect(tick)
    if probe:
        heartbeat.start()
    # Run the real event loop (as app.exec() does), not a processEvents() busy loop: a
    # polling main thread keeps asking for the GIL and slows the training thread down.
    loop = QEventLoop()
    panel.session.runEnded.connect(loop.quit)
    cpu = {}
    panel.session.started.connect(lambda e: cpu.setdefault("t0", main_thread_cpu()))
    panel.session.epochEnded.connect(lambda e: cpu.__setitem__("t1", main_thread_cpu()))
    panel.start()
    loop.exec()
    panel.session.runEnded.disconnect(loop.quit)
    heartbeat.stop()
    shown = max(marks["t1"] - marks["t0"], 1e-3)  # from the window's point of view
    return sum(epoch_seconds), lateness, (cpu["t1"] - cpu["t0"]) / shown


def main_thread_cpu() -> float:
    """CPU seconds this (the main) thread has used: what the window takes from training,
    independent of how busy the rest of the machine is."""
    return time.thread_time()


def main() -> None:
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    from app.document import Document
    from app.main import create_application
    from app.main_window import MainWindow
    from graph.templates import build_template

    app = create_application()
    from app.torch_loader import torch_loader

    torch_loader().load_now()  # the window's Training tab at once (it loads lazily otherwise)
    project = build_template(TEMPLATE)
    project.training["epochs"] = EPOCHS
    window = MainWindow(Document(project))
    window.resize(1500, 900)
    window.show()
    window.bottom_tabs.setCurrentWidget(window.training_panel)
    app.processEvents()
    headless_s, gui_s, probed_s, stalls, cpu, probed_cpu = [], [], [], [], [], []
    def plain() -> None:
        seconds, _, share = in_gui(app, window, probe=False)
        gui_s.append(seconds)
        cpu.append(share)

    def probed() -> None:
        nonlocal stalls
        seconds, lateness, share = in_gui(app, window, probe=True)
        probed_s.append(seconds)
        probed_cpu.append(share)
        stalls += lateness

    for number in range(ROUNDS):
        # every other round in reverse order: a machine slowly speeding up or slowing down
        # (other tenants) favours each mode alike
        steps = [lambda: headless_s.append(headless()), plain, probed]
        for step in steps if number % 2 == 0 else reversed(steps):
            step()
    run = window.training_panel.session.run
    samples = len(run.bundle.train) // run.settings["batch_size"] * run.settings["batch_size"]
    samples *= EPOCHS
    stalls.sort()
    p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
    median = statistics.median
    print(json.dumps({
        "template": TEMPLATE, "epochs": EPOCHS, "rounds": ROUNDS,
        "headless_samples_per_s": round(samples / median(headless_s), 1),
        "gui_samples_per_s": round(samples / median(gui_s), 1),
        "gui_over_headless": round(median(headless_s) / median(gui_s), 3),
        # each GUI run against the headless run of its round: machine drift (other tenants,
        # thermal) moves both of a pair alike
        "gui_over_headless_paired": round(median(h / g for h, g in zip(headless_s, gui_s)), 3),
        "target_ratio": 0.95,
        "gui_thread_cpu_share": round(median(cpu), 4),
        "ui_stall_max_ms": round(max(stalls, default=0.0), 1),
        "ui_stall_p99_ms": round(p99, 1),
        "targets_ms": {"max": 50, "p99": 20}, "heartbeats": len(stalls),
        # the rounds with the 10 ms probe running, its own cost included
        "gui_with_probe_over_headless": round(median(headless_s) / median(probed_s), 3),
        "gui_with_probe_over_headless_paired": round(
            median(h / g for h, g in zip(headless_s, probed_s)), 3),
        "gui_thread_cpu_share_with_probe": round(median(probed_cpu), 4),
        "headless_rounds_s": [round(s, 2) for s in headless_s],
        "gui_rounds_s": [round(s, 2) for s in gui_s],
        "gui_with_probe_rounds_s": [round(s, 2) for s in probed_s],
    }, indent=2))
    window.training_panel.session.shutdown()
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main()
