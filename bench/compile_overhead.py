"""Training-step time of each compiled template against its hand-written twin (bench/twins.py).

One step = forward + loss + backward + Adam step, batch 64, on the CPU with 2 threads. The
compiled model and its twin start from the same weights and see the same batch; their steps
are interleaved (the order alternating every round) after a warm-up, so drift in machine load
hits both alike; fast steps are timed in blocks of several. Prints JSON: per template the
median step time of each, their ratio (compiled / twin, of the medians), the median of the
per-round ratios, and the largest ratio (target: <= 1.03). A second twin instance runs in the
same rotation (``--no-control`` drops it): its ratio to the first is the noise floor, i.e. how
far apart two identical models measure on this machine.

    .venv/bin/python bench/compile_overhead.py [--steps 100] [--warmup 5] [--templates a,b]
                                               [--no-control]
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from backend.compile.compiler import compile_graph  # noqa: E402
from bench.twins import TWINS, example_input, example_target, loss_fn  # noqa: E402
from graph.templates import TEMPLATES, build_template  # noqa: E402

BATCH = 64
THREADS = 2
TARGET_RATIO = 1.03


def make_step(key: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(key, model(x), y)
        loss.backward()
        optimizer.step()

    return step


def timed(step, reps: int) -> float:
    """Seconds per step over a block of ``reps`` steps."""
    start = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - start) / reps


def residual_cnn_in_blocks():
    """residual-cnn with its stem and both residual blocks grouped into blocks (block-heavy:
    three nested submodules of two block types), and how its state_dict keys map to the
    flat twin's."""
    from graph.blocks import GroupIntoBlock

    graph = build_template("residual-cnn").graph
    prefix = {}
    for name, layers in (("Stem", ["stem", "stem_bn", "stem_relu"]),
                         ("Residual", [f"block1_{n}" for n in ("conv1", "bn1", "relu", "conv2",
                                                                "bn2", "add", "out")]),
                         ("Residual2", [f"block2_{n}" for n in ("conv1", "bn1", "relu",
                                                                 "conv2", "bn2", "add",
                                                                 "out")])):
        command = GroupIntoBlock(graph, [graph.find(n).id for n in layers], name)
        command.do()
        prefix[graph.node(command.block_node_id).name + "."] = ""
    return graph, prefix


# Graphs that are not templates: name -> (build() -> (graph, key prefixes to drop), twin key)
GRAPHS = {"residual-cnn-blocks": (residual_cnn_in_blocks, "residual-cnn")}


def measure(key: str, steps: int, warmup: int, control: bool) -> dict[str, float]:
    prefixes: dict[str, str] = {}
    if key in GRAPHS:
        build, key = GRAPHS[key]
        graph, prefixes = build()
    else:
        graph = build_template(key).graph
    compiled = compile_graph(graph)
    models: dict[str, nn.Module] = {"compiled": compiled, "twin": TWINS[key]()}
    if control:  # a second twin: twin vs twin shows the noise floor of this machine
        models["twin_again"] = TWINS[key]()
    flat = {}
    for name, value in compiled.state_dict().items():
        for prefix, to in prefixes.items():
            if name.startswith(prefix):
                name = to + name[len(prefix):]
        flat[name] = value
    compiled_weights = compiled.state_dict()
    for name, model in models.items():
        model.load_state_dict(compiled_weights if name == "compiled" else flat)
        model.train()
    x, y = example_input(key, BATCH), example_target(key, BATCH)
    runs = {name: make_step(key, model, x, y) for name, model in models.items()}
    per_step = min(timed(runs["twin"], 1) for _ in range(warmup))
    for _ in range(warmup):
        timed(runs["compiled"], 1)
        if control:
            timed(runs["twin_again"], 1)
    # Fast steps are timed in blocks of several, so each sample is >= ~30 ms.
    reps = max(1, round(0.03 / per_step))
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    gc.collect()
    gc.disable()
    try:
        for i in range(steps):
            order = names[i % len(names):] + names[:i % len(names)]  # rotate: cancels drift
            if i % 2:
                order.reverse()
            for name in order:
                times[name].append(timed(runs[name], reps))
    finally:
        gc.enable()
    med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    paired = statistics.median(c / t for c, t in zip(times["compiled"], times["twin"]))
    result = {"compiled_ms": round(med["compiled"], 3), "twin_ms": round(med["twin"], 3),
              "ratio": round(med["compiled"] / med["twin"], 4),
              "paired_ratio": round(paired, 4), "steps_per_sample": reps}
    if control:
        result["control_ratio"] = round(med["twin_again"] / med["twin"], 4)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per model first")
    parser.add_argument("--templates", default=",".join([*TEMPLATES, *GRAPHS]),
                        help="comma-separated template keys (and " + ", ".join(GRAPHS) + ")")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the second twin (twin vs twin = the noise floor)")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    results = {key: measure(key, args.steps, args.warmup, args.control)
               for key in args.templates.split(",")}
    max_ratio = max(r["ratio"] for r in results.values())
    print(json.dumps({
        "benchmark": "compile_overhead",
        "torch": torch.__version__, "python": platform.python_version(),
        "device": "cpu", "threads": THREADS, "batch": BATCH,
        "steps": args.steps, "warmup": args.warmup, "optimizer": "adam",
        "templates": results,
        "max_ratio": max_ratio, "target_max_ratio": TARGET_RATIO,
        **({"control_ratio_range": [min(r["control_ratio"] for r in results.values()),
                                    max(r["control_ratio"] for r in results.values())]}
           if args.control else {}),
        "meets_target": max_ratio <= TARGET_RATIO,
    }, indent=2))


if __name__ == "__main__":
    main()
