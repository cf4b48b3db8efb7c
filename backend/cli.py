"""The ``layerforge`` command line: templates, new, validate, train, sample.

    layerforge templates
    layerforge new digits-cnn -o digits.json
    layerforge validate digits.json
    layerforge train digits.json --epochs 5 --out runs/digits
    layerforge sample runs/text/best.pt --temperature 0.8
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from graph.errors import LayerForgeError
from graph.project import Project, load_project, save_project
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze


def _open(path: str) -> Project:
    """A project file, or the project inside a checkpoint."""
    if Path(path).suffix in (".pt", ".pth", ".ckpt"):
        from backend.checkpoint import load_checkpoint
        return load_checkpoint(path).project
    return load_project(path)


def cmd_templates(args: argparse.Namespace) -> int:
    for key, template in TEMPLATES.items():
        project = template.build()
        print(f"{key:15s} {template.title}  [{project.dataset['name']}]")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    project = build_template(args.template)
    save_project(project, args.output)
    print(f"wrote {args.output}: {project.name}")
    return 0


def human(n: int) -> str:
    """1234567 -> 1.23M."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def cmd_validate(args: argparse.Namespace) -> int:
    project = _open(args.file)
    analysis = analyze(project.graph)
    order = analysis.order + [n.id for n in project.graph.nodes if n.id not in analysis.order]
    rows = [("node", "type", "output shape", "params", "MACs")]
    for node_id in order:
        node, info = project.graph.node(node_id), analysis.info[node_id]
        shapes = info.outputs or ({"in": info.inputs["in"]} if node.type == "Output" and
                                  "in" in info.inputs else {})
        shape = ", ".join(str(t) for t in shapes.values()) or "?"
        rows.append((node.name, node.type, shape, f"{info.params:,}", human(info.macs)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 3 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ntotal: {analysis.total_params:,} parameters, {human(analysis.total_macs)} MACs "
          f"per sample")
    for issue in analysis.issues:
        where = project.graph.node(issue.node_id).name if issue.node_id else "network"
        print(f"{issue.severity}: [{where}] {issue.message}")
    if not analysis.is_valid:
        print(f"\n{len(analysis.errors)} error(s): the network cannot be trained until they "
              f"are fixed", file=sys.stderr)
        return 1
    print("valid")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from backend import train as tr
    from backend.evaluate import bits, last_value_baseline, unigram_baseline
    from backend.generate import sample_text

    project = _open(args.file)
    out = Path(args.out or Path("runs") / f"{Path(args.file).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    run = tr.TrainingRun(project, out_dir=out, epochs=args.epochs, device=args.device,
                         resume_from=args.resume, tensorboard_dir=args.tensorboard)
    log_path = out / "metrics.jsonl"
    bar = None
    code = 0
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log_file:
        for event in run.events():
            if isinstance(event, tr.Started):
                print(f"training {project.name!r} on {event.device}: {event.parameters:,} "
                      f"parameters, {event.train_samples:,} training samples, "
                      f"{event.epochs} epochs")
                bar = tqdm(total=(event.epochs - event.start_epoch) * event.batches_per_epoch,
                           unit="batch", dynamic_ncols=True, disable=args.quiet)
            elif isinstance(event, tr.BatchEnd) and bar is not None:
                bar.update(1)
                if event.batch % 10 == 0:
                    bar.set_postfix(epoch=event.epoch + 1, loss=f"{event.loss:.4f}",
                                    refresh=False)
            elif isinstance(event, tr.EpochEnd):
                record = {"epoch": event.epoch + 1, "train_loss": event.train_loss,
                          "val_loss": event.val_loss, f"val_{event.metric}": event.val_metric,
                          "lr": event.lr, "seconds": round(event.seconds, 3)}
                if not math.isnan(event.train_metric):
                    record[f"train_{event.metric}"] = event.train_metric
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                message = (f"epoch {event.epoch + 1}/{event.epochs}: train loss "
                           f"{event.train_loss:.4f}, val loss {event.val_loss:.4f}, val "
                           f"{event.metric} {_metric(event.metric, event.val_metric)}")
                (bar.write if bar else print)(message)
            elif isinstance(event, tr.Failed):
                if bar:
                    bar.close()
                where = f" (node '{event.node_name}')" if event.node_name else ""
                print(f"error{where}: {event.message}", file=sys.stderr)
                if event.checkpoint:
                    print(f"last good checkpoint kept: {event.checkpoint}", file=sys.stderr)
                code = 1
            elif isinstance(event, tr.Finished):
                if bar:
                    bar.close()
                final = {"test_" + k: v for k, v in event.test.items()}
                final.update({"best_epoch": event.best_epoch + 1,
                              "seconds": round(time.perf_counter() - started, 2)})
                bundle = run.bundle
                if bundle is not None and bundle.task == "regression":
                    final["val_mse"] = event.best_val_loss
                    final["val_last_value_baseline_mse"] = last_value_baseline(bundle)
                    print(f"validation MSE {event.best_val_loss:.5f} vs last-value baseline "
                          f"{final['val_last_value_baseline_mse']:.5f} (normalised units)")
                if bundle is not None and bundle.task == "language_model":
                    final["val_bits_per_char"] = bits(event.best_val_loss)
                    final["val_unigram_baseline_bits_per_char"] = bits(unigram_baseline(bundle))
                    print(f"validation {final['val_bits_per_char']:.3f} bits/char vs unigram "
                          f"baseline {final['val_unigram_baseline_bits_per_char']:.3f}")
                    vocab = bundle.normalization["vocab"]
                    print("sample (temperature 0.8):")
                    print(sample_text(run.model, vocab, bundle.sample_shape[0], "def ", 300,
                                      0.8, seed=0, device=next(run.model.parameters()).device))
                for key, value in event.test.items():
                    print(f"test {key}: {_metric(key, value)}")
                print(f"checkpoint: {event.checkpoint}\nmetrics log: {log_path}")
                log_file.write(json.dumps({"final": final}) + "\n")
    return code


def _metric(name: str, value: float) -> str:
    return f"{value * 100:.2f}%" if name == "accuracy" else f"{value:.4f}"


def cmd_sample(args: argparse.Namespace) -> int:
    from backend.checkpoint import load_checkpoint
    from backend.compile import compile_graph
    from backend.generate import sample_text

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.task != "language_model":
        print(f"{args.checkpoint}: not a text model (task {ckpt.task!r})", file=sys.stderr)
        return 1
    model = compile_graph(ckpt.project.graph)
    model.load_state_dict(ckpt.state_dict)
    vocab = ckpt.normalization["vocab"]
    window = next(n for n in ckpt.project.graph.nodes if n.type == "Input").params["shape"][0]
    print(args.prompt + sample_text(model, vocab, window, args.prompt, args.length,
                                    args.temperature, seed=args.seed))
    return 0


COMMANDS = ("templates", "new", "validate", "train", "sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerforge", description="Build, train and export "
                                     "neural networks. Without a command, opens the editor.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("templates", help="list the built-in example networks")
    p.set_defaults(func=cmd_templates)
    p = sub.add_parser("new", help="create a project from a template")
    p.add_argument("template", choices=list(TEMPLATES))
    p.add_argument("-o", "--output", required=True, help="project file to write (.json)")
    p.set_defaults(func=cmd_new)
    p = sub.add_parser("validate", help="check a network: shapes, parameters, MACs, errors")
    p.add_argument("file", help="project file (.json) or checkpoint (.pt)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("train", help="train a project headless")
    p.add_argument("file", help="project file (.json) or checkpoint (.pt)")
    p.add_argument("--epochs", type=int, help="override the project's epochs")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="where to train")
    p.add_argument("--out", help="folder for checkpoints and the metrics log "
                   "(default runs/NAME-TIME)")
    p.add_argument("--resume", help="checkpoint to continue from")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR", help="also log the run for TensorBoard "
                   "(needs the tensorboard package)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("sample", help="generate text from a trained text model")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default="")
    p.add_argument("--length", type=int, default=400)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a CLI command; user errors print one clear line and exit 1 (never a traceback)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except LayerForgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
