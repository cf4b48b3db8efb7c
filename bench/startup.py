"""How fast the editor starts and what it holds (issue 18); prints JSON.

    .venv/bin/python bench/startup.py [--launches 5] [--runs 3] [--template digits-cnn]

Each launch is a fresh process (``python -m app.startup_probe``, offscreen, a scratch home)
timed from the parent's clock: seconds until the window is shown, until PyTorch is ready
(loaded on a background thread), and the resident memory at both. One more launch trains
``--template`` ``--runs`` times (1 epoch each) from the Training tab and reports the memory
after each run, and the growth per extra run. The load average is printed with the figures:
on the shared 2-core machines timings move with it. Bytecode is cached between launches
(PYTHONPYCACHEPREFIX in a temporary folder; a first launch warms it), as an installed app's.
Targets: window < 1.2 s median on 2 cores; RSS at window < 250 MB; < 50 MB per extra run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# Compiled bytecode is kept here between launches, as an installed app has it (the
# development machines set PYTHONDONTWRITEBYTECODE: every launch compiled ~70 modules, ~0.4 s)
PYCACHE = Path(tempfile.gettempdir()) / "layerforge-bench-pycache"


def launch(*args: str, timeout: float = 900) -> tuple[float, dict]:
    """One fresh editor process: (the parent's launch time, its JSON result)."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=f"{home}/.config",
                   XDG_DATA_HOME=f"{home}/.local/share", QT_QPA_PLATFORM="offscreen",
                   PYTHONPYCACHEPREFIX=str(PYCACHE))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        began = time.time()
        done = subprocess.run([sys.executable, "-m", "app.startup_probe", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the probe printed nothing (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return began, json.loads(lines[-1])


def figures(values: list[float], digits: int = 3) -> dict:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "all": [round(v, digits) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--template", default="digits-cnn")
    parser.add_argument("--no-runs", action="store_true", help="only the launches")
    args = parser.parse_args()

    load_before = os.getloadavg()
    launch()  # writes the bytecode cache; not counted
    shown, ready, rss_shown, rss_ready, torch_at_shown, cpu = [], [], [], [], [], []
    for _ in range(args.launches):
        began, result = launch()
        if not result.get("ok"):
            raise RuntimeError(f"launch failed: {result.get('why')}")
        shown.append(result["shown"] - began)
        cpu.append(result["cpu_at_shown"])
        ready.append(result["ready"] - began)
        rss_shown.append(result["rss_shown_mb"])
        rss_ready.append(result["rss_ready_mb"])
        torch_at_shown.append(result["torch_at_shown"])
    report: dict = {
        "launches": args.launches, "cpus": os.cpu_count(), "bytecode": "cached",
        "window_shown_s": figures(shown),
        # CPU seconds the process used until then: about the wall time on an idle machine
        "window_shown_cpu_s": figures(cpu), "torch_ready_s": figures(ready),
        "rss_at_window_mb": figures(rss_shown, 1), "rss_torch_ready_mb": figures(rss_ready, 1),
        "torch_imported_at_window": any(torch_at_shown),
    }
    if not args.no_runs:
        _, result = launch("--train", args.template, "--runs", str(args.runs),
                           "--epochs", "1")
        runs = result.get("runs", [])
        rss = [r["rss_mb"] for r in runs]
        report["runs"] = {
            "template": args.template, "epochs_each": 1, "ok": result.get("ok"),
            "why": result.get("why", ""),
            "rss_after_each_mb": [round(r, 1) for r in rss],
            "seconds_each": [round(r["seconds"], 1) for r in runs],
            "growth_per_extra_run_mb": round((rss[-1] - rss[0]) / (len(rss) - 1), 1)
            if len(rss) > 1 else None,
        }
    report["load_average"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
