"""Distributed data-parallel training: two CPU processes with gloo, launched as torchrun does."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backend.training import distributed
from backend.training.distributed import World
from graph.project import save_project
from graph.templates import build_template

ROOT = Path(__file__).resolve().parents[3]

# One rank of a run: trains hello-mlp for two epochs and saves its final weights and losses.
RANK_SCRIPT = """
import json, sys, torch
from backend.training import train as tr
from graph.templates import build_template
out = sys.argv[1]
project = build_template("hello-mlp")
project.training.update(epochs=2, batch_size=64, learning_rate=0.01)
run = tr.TrainingRun(project, out_dir=out + "/run", monitor_interval=None)
losses, failed = [], None
for event in run.events():
    if isinstance(event, tr.EpochEnd):
        losses.append(event.train_loss)
    elif isinstance(event, tr.Failed):
        failed = event.message
rank = run.world.rank
torch.save(run.model.state_dict(), f"{out}/weights{rank}.pt")
json.dump({"losses": losses, "failed": failed, "world": run.world.size},
          open(f"{out}/rank{rank}.json", "w"))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_end_with_identical_weights_and_a_falling_loss(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT))
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                                      cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, output

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for report in reports:
        assert report["failed"] is None and report["world"] == 2
        assert report["losses"][-1] < report["losses"][0]  # it learns
    assert reports[0]["losses"] == reports[1]["losses"]  # metrics reduced across ranks
    w0, w1 = (torch.load(tmp_path / f"weights{r}.pt") for r in range(2))
    assert w0.keys() == w1.keys()
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
    # only rank 0 writes checkpoints
    assert (tmp_path / "run" / "best.pt").exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt", "last.pt"]


def test_the_cli_runs_unchanged_under_torchrun(tmp_path):
    project = build_template("hello-mlp")
    project.training.update(epochs=1)
    save_project(project, tmp_path / "mlp.json")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "backend.cli", "train", str(tmp_path / "mlp.json"), "--out",
         str(tmp_path / "out")], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("epoch 1/1") == 1  # rank 1 prints nothing
    assert (tmp_path / "out" / "best.pt").exists()
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert "final" in json.loads(lines[-1])


def test_shard_gives_each_rank_an_equal_disjoint_share():
    order = torch.randperm(103)
    shares = [distributed.shard(order, World(r, 4, r)) for r in range(4)]
    assert {len(s) for s in shares} == {25}
    joined = torch.cat(shares)
    assert len(set(joined.tolist())) == 100
    assert distributed.shard(order, distributed.SINGLE) is order


def test_a_world_without_torchrun_is_one_process(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.world_from_env() == distributed.SINGLE
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(Exception, match="torchrun"):
        distributed.world_from_env()


def test_the_launch_script_is_valid_bash_that_runs_torchrun_on_the_project(tmp_path):
    text = distributed.launch_script(str(tmp_path / "my net.json"), epochs=3)
    script = tmp_path / "launch.sh"
    script.write_text(text)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "torchrun" in text and '"my net.json"' in text and "--epochs 3" in text
    assert "--standalone" in text and "--node-rank" in text  # one machine and a cluster
