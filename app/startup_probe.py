"""Start the editor as ``layerforge`` does, measure its start, optionally train, print JSON.

``python -m app.startup_probe [--train TEMPLATE] [--runs N] [--epochs E]`` opens the window
(offscreen under ``QT_QPA_PLATFORM=offscreen``) and prints one JSON line: the wall clock when
the window was shown and whether torch was imported then, the resident memory at that point,
when PyTorch was ready (app.torch_loader) and the memory then, and with ``--train`` the
memory after each of ``N`` runs of the template from the Training tab. Used by
``bench/startup.py`` (each launch a fresh process) and ``tests/app/test_startup.py``. Run it
with HOME (and XDG_*) pointing at a scratch folder: it writes a run folder like the app.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

STARTED = time.time()


def rss_mb() -> float:
    """This process's resident set in MB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1e6 if sys.platform == "darwin" else 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="", help="template to train once torch is ready")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main import create_application
    from app.main_window import MainWindow
    from app.torch_loader import torch_loader

    result: dict = {"started": STARTED, "runs": []}
    app = create_application()
    window = MainWindow()

    def finish(ok: bool, why: str = "") -> None:
        result["ok"], result["why"] = ok, why
        if window.training_panel is not None:
            window.training_panel.session.shutdown()
        window.document.undo_stack.setClean()  # no "save changes?" question
        window.close()
        QApplication.quit()

    def shown() -> None:
        result["shown"] = time.time()
        result["cpu_at_shown"] = time.process_time()  # the start's CPU: less load-dependent
        result["torch_at_shown"] = "torch" in sys.modules
        result["rss_shown_mb"] = rss_mb()
        result["status_at_shown"] = window.status_device.text()
        result["panels_at_shown"] = window.training_panel is not None
        loader = torch_loader()
        if loader.state in ("ready", "failed"):
            ready()
        else:
            loader.finished.connect(ready)

    def ready() -> None:
        loader = torch_loader()
        result["ready"] = time.time()
        result["load_seconds"] = loader.seconds
        result["rss_ready_mb"] = rss_mb()
        result["load_error"] = loader.error
        result["status_at_ready"] = window.status_device.text()
        if loader.failed:
            finish(False, loader.error)
        elif args.train:
            train(args.runs)
        else:
            finish(True)

    def train(left: int) -> None:
        from graph.templates import build_template

        panel = window.training_panel
        project = build_template(args.train)
        project.training.update(epochs=args.epochs)
        window.set_document(window.new_document(project))
        began = time.time()
        failures: list[str] = []

        def failed(event) -> None:
            failures.append(str(getattr(event, "message", event)))

        def ended() -> None:
            panel.session.runEnded.disconnect(ended)
            panel.session.failed.disconnect(failed)
            failed_with = failures[0] if failures else None
            gc.collect()
            result["runs"].append({"seconds": time.time() - began, "rss_mb": rss_mb(),
                                   "status": panel.status.text()[:200]})
            if failed_with:
                finish(False, failed_with)
            elif left > 1:
                QTimer.singleShot(0, lambda: train(left - 1))
            else:
                finish(True)

        panel.session.runEnded.connect(ended)
        panel.session.failed.connect(failed)
        if not panel.start():
            panel.session.runEnded.disconnect(ended)
            panel.session.failed.disconnect(failed)
            finish(False, "the run did not start: " + panel.status.text())

    window.firstPainted.connect(shown)  # before the loader starts (it is queued after it)
    window.show()
    QTimer.singleShot(int(args.timeout * 1000), lambda: finish(False, "timed out"))
    app.exec()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
