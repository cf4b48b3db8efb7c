"""The ``layerforge`` command line: templates, new, validate, train, sweep, sample, infer, export.

    layerforge templates
    layerforge layers [conv] [--json]
    layerforge new digits-cnn -o digits.json
    layerforge validate digits.json
    layerforge train digits.json --epochs 5 --out runs/digits
    torchrun --standalone --nproc-per-node 2 -m backend.cli train digits.json
    layerforge sweep digits.json --set learning_rate=0.001,0.01 --set conv1.out_channels=8,16
    layerforge sample runs/text/best.pt --temperature 0.8
    layerforge infer runs/digits/best.pt --source 0 --invert --threshold
    layerforge export runs/digits/best.pt --format onnx -o digits.onnx
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from backend.export.formats import FORMATS as EXPORT_FORMATS
from graph.blocks import walk_nodes
from graph.errors import LayerForgeError
from graph.formatting import format_macs
from graph.project import Project, load_project, save_project
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def _is_checkpoint(path: str) -> bool:
    """A checkpoint by its name, or by its bytes (torch files are zip archives: "PK\\3\\4"),
    so a checkpoint saved under another name still opens."""
    if Path(path).suffix.lower() in CHECKPOINT_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False  # load_project names the problem


def _open(path: str) -> Project:
    """A project file, the project inside a checkpoint, or a built-in template by its name
    (``layerforge train digits-detector``) when no such file exists."""
    if path in TEMPLATES and not Path(path).exists():
        return build_template(path)
    if _is_checkpoint(path):
        from backend.checkpoint import load_checkpoint
        return load_checkpoint(path).project
    return load_project(path)


def cmd_templates(args: argparse.Namespace) -> int:
    for key, template in TEMPLATES.items():
        project = template.build()
        print(f"{key:15s} {template.title}  [{project.dataset['name']}]")
    return 0


def _ports(spec, kind: str) -> str:
    """A layer's input or output ports in words: fixed names, or how many a parameter gives."""
    defaults = spec.defaults()
    if kind == "inputs" and spec.variadic:
        return "in1..inK (K = inputs)"
    if kind == "outputs" and spec.output_count:
        return f"out1..outK (K = {spec.output_count})"
    ports = spec.input_ports(defaults) if kind == "inputs" else spec.output_ports(defaults)
    text = ", ".join(p.name for p in ports) or "-"
    return text + (" (by settings)" if kind == "outputs" and spec.output_rule else "")


def _plain(value) -> str:
    """A parameter default as a user would type it on the command line (3,3; true; 0.5)."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _layer_record(spec) -> dict:
    return {"type": spec.type, "category": spec.category, "description": spec.description,
            "aliases": list(spec.aliases), "inputs": _ports(spec, "inputs"),
            "outputs": _ports(spec, "outputs"),
            "params": [{"name": p.name, "kind": p.kind, "default": p.default, "help": p.help,
                        **({"min": p.min} if p.min is not None else {}),
                        **({"max": p.max} if p.max is not None else {}),
                        **({"choices": list(p.choices)} if p.choices else {})}
                       for p in spec.params if not p.derived]}


def cmd_layers(args: argparse.Namespace) -> int:
    from graph.layers import CATALOGUE, by_category
    from graph.layers.search import search

    wanted = set(search(" ".join(args.search))) if args.search else set(CATALOGUE)
    specs = [spec for _, group in by_category() for spec in group if spec.type in wanted]
    if args.json:
        print(json.dumps([_layer_record(s) for s in specs], indent=1, default=list))
        return 0
    if not specs:
        print(f"no layer matches {' '.join(args.search)!r}", file=sys.stderr)
        return 1
    rows = [("type", "category", "inputs", "outputs", "parameters")]
    rows += [(s.type, s.category, _ports(s, "inputs"), _ports(s, "outputs"),
              ", ".join(f"{p.name}={_plain(p.default)}" for p in s.params
                        if not p.derived) or "-") for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
    print(f"\n{len(specs)} layer types" + ("" if args.search else
                                          f" in {len({s.category for s in specs})} categories"))
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    project = build_template(args.template)
    save_project(project, args.output)
    print(f"wrote {args.output}: {project.name}")
    return 0


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
        rows.append((node.name, node.type, shape, f"{info.params:,}", format_macs(info.macs)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 3 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ntotal: {analysis.total_params:,} parameters, {format_macs(analysis.total_macs)} MACs "
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

    from backend.tasks import format_metric, get_task
    from backend.training import train as tr
    from backend.training.distributed import world_from_env

    world = world_from_env()  # under torchrun: only rank 0 prints and writes
    if not world.is_main:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
        args.quiet = True
    project = _open(args.file)
    out = Path(args.out or Path("runs") / f"{Path(args.file).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
    run = tr.TrainingRun(project, out_dir=out, epochs=args.epochs, device=args.device,
                         resume_from=args.resume, tensorboard_dir=args.tensorboard)
    log_path = out / "metrics.jsonl"
    bar = None
    code = 0
    started = time.perf_counter()
    with open(log_path if world.is_main else os.devnull, "w", encoding="utf-8") as log_file:
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
                           f"{event.metric} {format_metric(event.metric, event.val_metric)}")
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
                if bundle is not None and run.model is not None:
                    figures, lines = get_task(bundle.task).run_summary(
                        run.model, bundle, event.best_val_loss)
                    final.update(figures)
                    for line in lines:
                        print(line)
                for key, value in event.test.items():
                    print(f"test {key}: {format_metric(key, value)}")
                print(f"checkpoint: {event.checkpoint}\nmetrics log: {log_path}")
                log_file.write(json.dumps({"final": final}) + "\n")
    return code


def cmd_sweep(args: argparse.Namespace) -> int:
    from backend.training import sweep as sw
    from backend.training import train as tr

    project = _open(args.file)
    axes = [sw.parse_axis(text) for text in args.set]
    sw.check_axes(project, axes)
    points = sw.random_points(axes, args.random, args.seed) if args.random else sw.grid(axes)
    out = Path(args.out or Path("runs") / f"{Path(args.file).stem}-sweep-"
                                          f"{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"sweep of {project.name!r}: {len(points)} trials into {out}")

    def progress(index: int, event) -> None:
        if isinstance(event, tr.EpochEnd) and not args.quiet:
            print(f"  trial {index + 1}: epoch {event.epoch + 1}/{event.epochs} val loss "
                  f"{event.val_loss:.4f}", flush=True)

    sweep = sw.Sweep(project, points, out, epochs=args.epochs, on_event=progress)
    for trial in sweep.trials():
        values = ", ".join(f"{k}={v}" for k, v in trial.values.items())
        result = f"error: {trial.error}" if trial.error else \
            f"val loss {trial.val_loss:.4f}, val {trial.metric} {trial.val_metric:.4f}"
        print(f"trial {trial.index + 1}/{len(points)} [{values}]: {result}", flush=True)
    best = sweep.best()
    print(f"results: {out / 'results.csv'}")
    if best is None:
        print("error: every trial failed", file=sys.stderr)
        return 1
    print(f"best: trial {best.index + 1} ({', '.join(f'{k}={v}' for k, v in best.values.items())})"
          f" val loss {best.val_loss:.4f} -> {best.checkpoint}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from backend.checkpoint import load_checkpoint
    from backend.compile.compiler import compile_graph
    from backend.tasks import get_task
    from backend.tasks.generate import sample_text

    ckpt = load_checkpoint(args.checkpoint)
    if not get_task(ckpt.task).generates_text:
        print(f"{args.checkpoint}: not a text model (task {ckpt.task!r})", file=sys.stderr)
        return 1
    model = compile_graph(ckpt.project.graph)
    model.load_state_dict(ckpt.state_dict)
    vocab = ckpt.normalization["vocab"]
    window = next(n for n in ckpt.project.graph.nodes if n.type == "Input").params["shape"][0]
    print(args.prompt + sample_text(model, vocab, window, args.prompt, args.length,
                                    args.temperature, seed=args.seed))
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    """Run a trained image classifier on a camera, video, image or folder; print each frame's
    top classes and the frame rate (the Test tab's twin: same preprocessing, same model)."""
    from backend.live.capture import ImageSource, open_source
    from backend.live.infer import PreprocessOptions, load_predictor, predict_stream

    roi = None
    if args.roi:
        try:
            roi = tuple(float(v) for v in args.roi.split(","))
        except ValueError:
            roi = ()
        if len(roi) != 4 or not all(0.0 <= v <= 1.0 for v in roi):
            print("error: --roi takes x,y,w,h as fractions of the frame, e.g. "
                  "0.25,0.1,0.5,0.8", file=sys.stderr)
            return 2
    options = PreprocessOptions(roi=roi, mirror=args.mirror, invert=args.invert,
                                threshold=args.threshold, crop=args.crop)
    import torch

    from backend.live.capture import quiet_opencv

    torch.set_num_threads(max(1, args.threads))  # one sample at a time: more threads only spin
    quiet_opencv()
    predictor = load_predictor(args.model, options)
    predictor.top_k = args.top
    source = open_source(args.source)
    print(f"model {args.model}: {len(predictor.info.class_names)} classes, input "
          f"{predictor.info.input_kind} {tuple(predictor.info.input_shape)}; source "
          f"{source.name}")
    frames, started, latencies = 0, time.perf_counter(), []
    for frame, pred in predict_stream(predictor, source, args.max_frames):
        frames += 1
        latencies.append(pred.latency_ms)
        where = ""
        if isinstance(source, ImageSource):
            where = f" {source.current_file(frame.index).name}"
        tops = " | ".join(f"{name} {prob * 100:5.1f}%" for name, prob in pred.topk)
        if not args.quiet:
            print(f"frame {frame.index}{where}: {tops}  ({pred.latency_ms:.2f} ms)", flush=True)
    seconds = time.perf_counter() - started
    fps = frames / seconds if seconds > 0 else 0.0
    latencies.sort()
    median = latencies[len(latencies) // 2] if latencies else 0.0
    print(f"{frames} frames in {seconds:.2f} s: {fps:.1f} FPS, median latency {median:.2f} ms")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a checkpoint (onnx, torchscript, pt2, int8, python, script, ...), verify the
    written file against the live model and print the report."""
    from backend.export.exporter import export_model

    if Path(args.model).suffix.lower() == ".json":
        print(f"error: {args.model} is a project without trained weights; train it first "
              f"(layerforge train {args.model}) and export the checkpoint it saves",
              file=sys.stderr)
        return 1
    report = export_model(args.model, args.format, args.output, opset=args.opset,
                          dynamic_batch=not args.static_batch)
    print("\n".join(report.lines()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a PyTorch class (model.py:ClassName, traced with torch.fx) or an ONNX file as
    an editable graph and write it with its weights as a LayerForge checkpoint."""
    from backend.checkpoint import save_checkpoint
    from backend.imports import import_model, parse_shape

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".json", *CHECKPOINT_SUFFIXES):
        raise LayerForgeError(f"{args.output}: write the import as a checkpoint (-o "
                              f"{Path(args.output).stem}.pt: the graph with its weights) or as a "
                              f"project file (-o {Path(args.output).stem}.json: the graph only)")
    shape = parse_shape(args.input_shape) if args.input_shape else None
    result = import_model(args.model, shape)
    if suffix == ".json":
        save_project(result.project, args.output)
        result.notes.append(f"{args.output} is a project file: it holds the graph but not the "
                            f"imported weights (write -o {Path(args.output).stem}.pt to keep "
                            f"them); training starts from new random weights")
    else:
        save_checkpoint(args.output, result.checkpoint())
    nodes = [node for _, node in walk_nodes(result.project.graph)]
    blocks = sum(1 for node in nodes if node.block is not None)
    print(f"imported {result.project.name}: {len(nodes) - blocks} nodes, {blocks} "
          f"block{'' if blocks == 1 else 's'} ({len(result.project.graph.nodes)} nodes at the "
          f"top), {len(result.opaque)} opaque ({', '.join(result.opaque[:8]) or 'none'})")
    for note in result.notes:
        print(f"note: {note}")
    if result.max_abs_diff is not None:
        print(f"checked: outputs match the original within {result.max_abs_diff:.2e}")
    print(f"wrote {args.output}")
    return 0


COMMANDS = ("templates", "layers", "new", "validate", "train", "sweep", "sample", "infer", "export",
            "import")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerforge", description="Build, train and export "
                                     "neural networks. Without a command, opens the editor.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("templates", help="list the built-in example networks")
    p.set_defaults(func=cmd_templates)
    p = sub.add_parser("layers", help="the layer catalogue: type, category, ports, parameters")
    p.add_argument("search", nargs="*", help="only layers matching these words (e.g. conv)")
    p.add_argument("--json", action="store_true", help="machine-readable, with help texts")
    p.set_defaults(func=cmd_layers)
    p = sub.add_parser("new", help="create a project from a template")
    p.add_argument("template", choices=list(TEMPLATES))
    p.add_argument("-o", "--output", required=True, help="project file to write (.json)")
    p.set_defaults(func=cmd_new)
    p = sub.add_parser("validate", help="check a network: shapes, parameters, MACs, errors")
    p.add_argument("file", help="project file (.json) or checkpoint (.pt)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("train", help="train a project headless")
    p.add_argument("file", help="project file (.json), checkpoint (.pt) or template name")
    p.add_argument("--epochs", type=int, help="override the project's epochs")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="where to train")
    p.add_argument("--out", help="folder for checkpoints and the metrics log "
                   "(default runs/NAME-TIME)")
    p.add_argument("--resume", help="checkpoint to continue from")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR", help="also log the run for TensorBoard "
                   "(needs the tensorboard package)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("sweep", help="grid or random search over settings and layer parameters")
    p.add_argument("file", help="project file (.json) or checkpoint (.pt)")
    p.add_argument("--set", "--grid", dest="set", action="append", required=True,
                   metavar="NAME=V1,V2",
                   help="an axis: a training setting (learning_rate=0.001,0.01) or a layer "
                        "parameter (conv1.out_channels=8,16); repeat for more axes")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="run N random combinations instead of the whole grid")
    p.add_argument("--seed", type=int, default=0, help="seed of the random search")
    p.add_argument("--epochs", type=int, help="override the project's epochs for every trial")
    p.add_argument("--out", help="folder for the trials and results (default "
                   "runs/NAME-sweep-TIME)")
    p.add_argument("--quiet", action="store_true", help="one line per trial")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("sample", help="generate text from a trained text model")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default="")
    p.add_argument("--length", type=int, default=400)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("infer", help="run a trained image classifier on a camera, video, "
                       "image or folder and print its predictions and FPS")
    p.add_argument("model", help="checkpoint (.pt) or exported TorchScript file")
    p.add_argument("--source", default="0", help="camera index (0), video file, image file, "
                   "folder of images, or 'synthetic' (default 0)")
    p.add_argument("--top", type=int, default=3, help="classes to print per frame")
    p.add_argument("--roi", help="region x,y,w,h as fractions of the frame (default: all)")
    p.add_argument("--crop", choices=["center", "resize"], default="center",
                   help="centre square crop (default) or squash the region to the input size")
    p.add_argument("--mirror", action="store_true", help="flip left-right, like the preview")
    p.add_argument("--invert", action="store_true", help="dark ink on light paper -> "
                   "bright on dark (as the digits datasets are)")
    p.add_argument("--threshold", action="store_true", help="keep only the ink (Otsu)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest "
                   "for one frame at a time on small models)")
    p.add_argument("--quiet", action="store_true", help="only the summary line")
    p.set_defaults(func=cmd_infer)
    p = sub.add_parser("export", help="export a trained checkpoint for deployment and verify "
                       "the written file")
    p.add_argument("model", help="checkpoint (.pt) saved by training")
    p.add_argument("--format", "-f", required=True, choices=list(EXPORT_FORMATS),
                   help="; ".join(f"{k}: {v.description}" for k, v in
                                   EXPORT_FORMATS.items()))
    p.add_argument("-o", "--output", required=True, help="file to write (the format's "
                   "suffix is added when it has none)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--static-batch", action="store_true", help="ONNX/pt2: fix the batch size "
                   "instead of a dynamic batch axis")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("import", help="open a PyTorch model (model.py:ClassName) or an ONNX "
                       "file as an editable graph, saved with its weights as a checkpoint")
    p.add_argument("model", help="model.py:ClassName or model.onnx")
    p.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt: graph and "
                   "weights) or project file (.json: the graph only)")
    p.add_argument("--input-shape", help="one sample's shape without the batch, e.g. "
                   "3,224,224 (default: from the model when it says)")
    p.set_defaults(func=cmd_import)
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


if __name__ == "__main__":  # torchrun ... -m backend.cli train FILE
    sys.exit(main())
