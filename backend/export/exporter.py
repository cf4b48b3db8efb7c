"""Export a trained network in the formats deployment uses, and verify each file on the spot.

``export_model(checkpoint, "onnx", "net.onnx")`` writes the file, loads it back the way a user
would (``torch.jit.load``, ``torch.export.load``, ``onnxruntime``, importing the ``.py``, ...),
runs it on real samples of the dataset (random inputs of the Input shape when the data cannot
be loaded) and returns an :class:`ExportReport`: size, parameters, the largest difference from
the live fp32 model and the CPU latency per sample; for int8 also the size ratio and the test
accuracy of fp32 and int8 side by side.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import math
import os
import pprint
import re
import statistics
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from backend.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from backend.compile.codegen import class_source
from backend.compile.compiler import compile_graph
from backend.data import DataBundle, load_dataset
from backend.errors import CheckpointError, ExportError
from backend.export.formats import FORMATS, ExportFormat, default_path
from backend.tasks import Task, format_metric, get_task
from graph.errors import LayerForgeError
from graph.fileio import atomic_write
from graph.formatting import format_bytes
from graph.project import Project

log = logging.getLogger(__name__)

META_NAME = "layerforge.json"  # the extra file inside TorchScript/.pt2 exports
SAMPLES = 8                     # real samples compared between the file and the live model
CALIBRATION = 256               # training samples that calibrate static int8 quantisation


@dataclass
class ExportReport:
    """What an export wrote and how it verified."""

    format: str
    files: list[str]
    size_bytes: int
    parameters: int
    max_abs_diff: float            # vs the live fp32 model, on ``samples``
    latency_ms: float              # CPU, batch 1, median of a few runs of the reloaded file
    samples: str                   # what the comparison ran on
    size_ratio: float | None = None        # int8: file size / fp32 TorchScript size
    metric: str | None = None              # int8: "accuracy" (or "mae" for regression)
    metric_fp32: float | None = None       # int8: test split, fp32
    metric_int8: float | None = None       # int8: test split, int8
    method: str = ""                       # how it was made (e.g. the quantisation method)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as short human-readable lines (CLI and logs)."""
        out = [f"{self.format}: wrote {', '.join(self.files)}",
               f"size {format_bytes(self.size_bytes)}, {self.parameters:,} parameters",
               f"max |difference| vs the live model: {self.max_abs_diff:.3g} ({self.samples})",
               f"CPU latency: {self.latency_ms:.3f} ms per sample (batch 1, median)"]
        if self.method:
            out.append(f"method: {self.method}")
        if self.size_ratio is not None:
            out.append(f"size: {self.size_ratio * 100:.1f}% of fp32")
        if self.metric_fp32 is not None and self.metric_int8 is not None:
            out.append(f"test {self.metric}: fp32 {_metric_text(self.metric, self.metric_fp32)}"
                       f", int8 {_metric_text(self.metric, self.metric_int8)}")
        out += [f"note: {n}" for n in self.notes]
        return out


def _metric_text(name: str | None, value: float) -> str:
    return format_metric(name or "", value)


# ---- the source ------------------------------------------------------------------------

@dataclass
class _Source:
    ckpt: Checkpoint
    model: nn.Module               # the live fp32 model, eval mode
    kind: str                      # Input kind
    shape: tuple[int, ...]         # Input per-sample shape
    input_name: str
    output_name: str
    bundle: DataBundle | None
    x: torch.Tensor                # sample inputs (N, *shape)
    samples: str

    def meta(self, **extra: Any) -> dict[str, Any]:
        """The plain-data record shipped inside exports (Test tab and predict.py read it)."""
        ckpt = self.ckpt
        record = {"format": "layerforge-export", "version": 1, "name": ckpt.project.name,
                  "task": ckpt.task, **get_task(ckpt.task).export_metadata(),
                  "class_names": ckpt.class_names,
                  "normalization": ckpt.normalization,
                  "input": {"name": self.input_name, "kind": self.kind,
                            "shape": list(self.shape),
                            "dtype": "int64" if self.kind == "tokens" else "float32"},
                  "output": {"name": self.output_name}}
        record.update(extra)
        return record


def _as_checkpoint(source: Any) -> Checkpoint:
    if isinstance(source, Checkpoint):
        return source
    if isinstance(source, (str, os.PathLike)):
        try:
            return load_checkpoint(source)
        except LayerForgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch.load's errors on a truncated file vary
            raise CheckpointError(f"{source}: not a readable LayerForge checkpoint "
                                  f"({type(exc).__name__}); it may be corrupt or truncated"
                                  ) from None
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Project):
        project, state = source
        return Checkpoint(project=project, state_dict=dict(state), normalization={}, task="",
                          class_names=None, epoch=0)
    raise TypeError(f"export source must be a Checkpoint, a checkpoint path or "
                    f"(project, state_dict), not {type(source).__name__}")


def _prepare(source: Any, fmt: str, bundle: DataBundle | None, load_data: bool) -> _Source:
    ckpt = _as_checkpoint(source)
    graph = ckpt.project.graph
    inputs = [n for n in graph.nodes if n.type == "Input"]
    outputs = [n for n in graph.nodes if n.type == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"{fmt} export: the network has {len(inputs)} Input and "
                          f"{len(outputs)} Output nodes; exports need exactly one of each",
                          fmt)
    try:
        model = compile_graph(graph)
    except LayerForgeError as exc:
        raise ExportError(f"{fmt} export: {exc}", fmt) from None
    missing, unexpected = _key_mismatch(model, ckpt.state_dict)
    if missing or unexpected:
        raise ExportError(f"{fmt} export: the weights do not fit this network (missing "
                          f"{', '.join(missing[:4]) or 'none'}; unexpected "
                          f"{', '.join(unexpected[:4]) or 'none'}): export the checkpoint "
                          f"saved by this network's training", fmt)
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise ExportError(f"{fmt} export: the weights do not fit this network ({exc}); "
                          f"export the checkpoint saved by this network's training",
                          fmt) from None
    model.eval()
    kind, shape = inputs[0].params["kind"], tuple(int(d) for d in inputs[0].params["shape"])
    if bundle is None and load_data and ckpt.project.dataset:
        try:
            bundle = load_dataset(ckpt.project.dataset, kind, shape,
                                  seed=int(ckpt.project.training.get("seed", 0)))
        except LayerForgeError as exc:  # offline, moved file...: random inputs still verify
            log.info("export: dataset not available (%s); verifying on random inputs", exc)
    if bundle is not None and tuple(bundle.sample_shape) == shape and len(bundle.test):
        if not ckpt.normalization:  # (project, weights) source: the data says how to preprocess
            ckpt = copy.copy(ckpt)
            ckpt.normalization, ckpt.task = bundle.normalization, bundle.task
            ckpt.class_names = bundle.class_names
        x = bundle.test.x[:SAMPLES].clone()
        samples = f"{len(x)} test samples of '{bundle.name}'"
    else:
        bundle = None
        gen = torch.Generator().manual_seed(0)
        if kind == "tokens":
            high = _vocab_size(model)
            x = torch.randint(0, high, (SAMPLES, *shape), generator=gen)
        else:
            x = torch.randn((SAMPLES, *shape), generator=gen)
        samples = f"{SAMPLES} random inputs"
    return _Source(ckpt, model, kind, shape, inputs[0].name, outputs[0].name, bundle, x,
                   samples)


def _key_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list, list]:
    want = set(model.state_dict())
    return sorted(want - set(state)), sorted(set(state) - want)


def _vocab_size(model: nn.Module) -> int:
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    return min(sizes) if sizes else 2


# ---- helpers -----------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """torch 2.14 deprecates torch.jit.*; TorchScript is still what libtorch and tch-rs load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated")
        warnings.filterwarnings("ignore", message=r"The TorchScript type system")
        yield


@contextlib.contextmanager
def _written(path: Path, fmt: str) -> Iterator[Path]:
    """A temp path beside ``path`` that replaces it only when the writer succeeded."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise ExportError(f"{fmt} export: cannot write {path} ({_why(path, exc)}); choose "
                          f"another file or folder", fmt) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _write(path: Path, fmt: str, write: Callable[[Any], None]) -> None:
    try:
        atomic_write(path, write)
    except OSError as exc:
        raise ExportError(f"{fmt} export: cannot write {path} ({_why(path, exc)}); choose "
                          f"another file or folder", fmt) from None


def _why(path: Path, exc: OSError) -> str:
    """The reason a write failed, in words (a parent that is a file reads as 'File exists')."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"{blocker} is a file, not a folder"
    return exc.strerror or str(exc)


def _node_in(text: str, src: _Source) -> str | None:
    """The layer an exporter's error message mentions as a whole word, if any (longest name
    first; Input/Output nodes are never what an exporter fails on)."""
    names = sorted((n.name for n in src.ckpt.project.graph.nodes
                    if n.type not in ("Input", "Output")), key=len, reverse=True)
    return next((n for n in names if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text)), None)


def _failure(fmt: str, src: _Source, exc: BaseException, what: str) -> ExportError:
    text = f"{type(exc).__name__}: {exc}"
    node = _node_in(str(exc), src)
    where = f" at node '{node}'" if node else ""
    first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
    return ExportError(f"{FORMATS[fmt].title} export failed{where}: {first}. {what}", fmt, node)


def _latency(run: Callable[[Any], Any], x1: Any, runs: int = 15) -> float:
    """Median milliseconds of ``run(x1)`` over a few runs, after three warm-up calls."""
    with torch.no_grad():
        for _ in range(3):  # TorchScript's profiling executor optimises on the 2nd-3rd call
            run(x1)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run(x1)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _diff(a: Any, b: torch.Tensor) -> float:
    a = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).float()
    if tuple(a.shape) != tuple(b.shape):
        return math.inf
    return float((a - b.float()).abs().max()) if a.numel() else 0.0


def _reference(src: _Source) -> torch.Tensor:
    with torch.no_grad():
        return src.model(src.x).detach()


def _check(fmt: str, diff: float, tolerance: float = 1e-4) -> None:
    if not diff <= tolerance:
        raise ExportError(f"{FORMATS[fmt].title} export: the written file gives different "
                          f"outputs from the trained network (max difference {diff:.3g}); the "
                          f"file was kept for inspection but should not be used", fmt)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _script(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """TorchScript by scripting (keeps any batch size); tracing if scripting fails."""
    with _quiet_jit():
        try:
            return torch.jit.script(model)
        except Exception as exc:  # noqa: BLE001 - fall back to tracing, checked afterwards
            log.info("torch.jit.script failed (%s); tracing instead", exc)
            return torch.jit.trace(model, example, check_trace=False)


def _jit_bytes(module: torch.jit.ScriptModule, meta: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with _quiet_jit():
        torch.jit.save(module, buffer, _extra_files={META_NAME: json.dumps(meta)})
    return buffer.getvalue()


def _jit_load(path: Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    extra = {META_NAME: ""}
    with _quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[META_NAME] or "{}")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``layerforge.json`` record of a TorchScript/int8 export (normalization, class
    names, task, input kind and shape); raises ExportError for other files."""
    try:
        _, meta = _jit_load(Path(path))
    except (RuntimeError, ValueError, OSError) as exc:
        raise ExportError(f"{path}: not a TorchScript file exported by LayerForge "
                          f"({type(exc).__name__})", "torchscript") from None
    if not meta:
        raise ExportError(f"{path}: a TorchScript file without LayerForge's record of its "
                          f"preprocessing; export it again from LayerForge", "torchscript")
    return meta


# ---- formats -----------------------------------------------------------------------------

def _export_state_dict(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    state = {k: v.detach().cpu().clone() for k, v in src.model.state_dict().items()}
    _write(path, "state_dict", lambda f: torch.save(state, f))
    fresh = compile_graph(src.ckpt.project.graph)
    fresh.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    fresh.eval()
    with torch.no_grad():
        diff = _diff(fresh(src.x), _reference(src))
    _check("state_dict", diff)
    return _report("state_dict", src, [path], diff, _latency(fresh, src.x[:1]))


def _export_checkpoint(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    ckpt = copy.copy(src.ckpt)
    ckpt.state_dict = src.model.state_dict()
    try:
        save_checkpoint(path, ckpt)
    except OSError as exc:
        raise ExportError(f"checkpoint export: cannot write {path} ({_why(path, exc)}); "
                          f"choose another file or folder", "checkpoint") from None
    reopened = load_checkpoint(path)
    fresh = compile_graph(reopened.project.graph)
    fresh.load_state_dict(reopened.state_dict)
    fresh.eval()
    with torch.no_grad():
        diff = _diff(fresh(src.x), _reference(src))
    _check("checkpoint", diff)
    return _report("checkpoint", src, [path], diff, _latency(fresh, src.x[:1]))


def _export_torchscript(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    try:
        scripted = _script(src.model, src.x[:2])
    except Exception as exc:  # noqa: BLE001 - any exporter failure becomes one clear error
        raise _failure("torchscript", src, exc, "Try the pt2 or onnx format") from None
    data = _jit_bytes(scripted, src.meta())
    _write(path, "torchscript", lambda f: f.write(data))
    loaded, meta = _jit_load(path)
    if meta.get("input", {}).get("shape") != list(src.shape):
        raise ExportError(f"TorchScript export: {path} lost its {META_NAME} record",
                          "torchscript")
    with torch.no_grad():
        diff = _diff(loaded(src.x), _reference(src))
    _check("torchscript", diff)
    return _report("torchscript", src, [path], diff, _latency(loaded, src.x[:1]))


def _batch_dim() -> Any:
    return torch.export.Dim("batch", min=1, max=65536)


def _export_pt2(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    dynamic = ({0: _batch_dim()},) if opts.get("dynamic_batch", True) else None
    try:
        with warnings.catch_warnings():
            # nn.LSTM/GRU re-assign _flat_weights while exporting: harmless, not for the user
            warnings.filterwarnings("ignore", message=r"The tensor attributes")
            warnings.filterwarnings("ignore", category=FutureWarning)  # torch-internal
            program = torch.export.export(src.model, (src.x[:2],), dynamic_shapes=dynamic)
    except Exception as exc:  # noqa: BLE001
        raise _failure("pt2", src, exc, "Try the torchscript or onnx format") from None
    extra = {META_NAME: json.dumps(src.meta())}
    _write(path, "pt2", lambda f: torch.export.save(program, f, extra_files=extra))
    loaded = torch.export.load(str(path)).module()
    x = src.x if dynamic else src.x[:2]
    with torch.no_grad():
        diff = _diff(loaded(x), _reference(src)[:len(x)])
    _check("pt2", diff)
    return _report("pt2", src, [path], diff,
                   _latency(loaded, src.x[:1] if dynamic else src.x[:2]) / (1 if dynamic else 2))


def _export_onnx(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    import onnxruntime as ort

    opset = int(opts.get("opset") or 18)
    dynamic_batch = bool(opts.get("dynamic_batch", True))
    example = (src.x[:2],)
    notes: list[str] = []
    with _written(path, "onnx") as tmp:
        try:
            _onnx_dynamo(src, example, tmp, opset, dynamic_batch)
            method = f"dynamo exporter, opset {opset}"
        except Exception as exc:  # noqa: BLE001 - try the TorchScript-based exporter once
            log.info("ONNX dynamo export failed (%s); trying dynamo=False", exc)
            try:
                _onnx_legacy(src, example, tmp, opset, dynamic_batch)
            except Exception:  # noqa: BLE001 - report the documented exporter's failure
                raise _failure("onnx", src, exc, f"torch {torch.__version__} cannot express "
                               f"this layer in ONNX opset {opset}; try another opset, or the "
                               f"torchscript/pt2 format") from None
            method = f"TorchScript-based exporter (dynamo=False), opset {opset}"
            notes.append(f"the dynamo exporter failed ({type(exc).__name__}); the older "
                         f"exporter worked and was verified")
        _onnx_add_metadata(tmp, src.meta())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = src.x if dynamic_batch else src.x[:2]
    feed = x.numpy()
    diff = _diff(session.run(None, {name: feed})[0], _reference(src)[:len(x)])
    _check("onnx", diff)
    one = feed[:1] if dynamic_batch else feed[:2]
    latency = _latency(lambda a: session.run(None, {name: a}), one) / len(one)
    report = _report("onnx", src, [path], diff, latency)
    report.method = method + (", dynamic batch" if dynamic_batch else ", batch of 2")
    report.notes += notes
    return report


def _onnx_dynamo(src: _Source, example: tuple, path: Path, opset: int, dynamic: bool) -> None:
    dynamic_shapes = ({0: _batch_dim()},) if dynamic else None
    with warnings.catch_warnings(), _silenced_logs("torch.onnx", "onnxscript"), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message=r"The tensor attributes")
        warnings.filterwarnings("ignore", category=FutureWarning)  # torch-internal deprecations
        program = torch.onnx.export(src.model, example, dynamo=True, opset_version=opset,
                                    dynamic_shapes=dynamic_shapes,
                                    input_names=[src.input_name],
                                    output_names=[src.output_name], verbose=False)
        program.save(str(path))


def _onnx_legacy(src: _Source, example: tuple, path: Path, opset: int, dynamic: bool) -> None:
    axes = {src.input_name: {0: "batch"}, src.output_name: {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(src.model, example, str(path), dynamo=False, opset_version=opset,
                          input_names=[src.input_name], output_names=[src.output_name],
                          dynamic_axes=axes)


def _onnx_add_metadata(path: Path, meta: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "layerforge", json.dumps(meta)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _silenced_logs(*names: str) -> Iterator[None]:
    """The ONNX exporter logs its progress at INFO/WARNING; the report says what matters."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def python_source(src_model: nn.Module, title: str, weights_name: str,
                  meta: dict[str, Any]) -> str:
    """The Python export: the Network class, its metadata and a ``load()`` that reads the
    weights file beside it (only torch needed)."""
    code = class_source(src_model, title)
    return code + f'''

# How the network was trained: preprocessing, task, classes, Input kind and shape.
META = {pprint.pformat(meta, width=92, sort_dicts=False)}


def load(weights=None, device="cpu"):
    """The trained network in eval mode, with the weights saved beside this file."""
    import os

    path = weights or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   {weights_name!r})
    model = Network()
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device).eval()
'''


def _weights_path(path: Path) -> Path:
    return path.with_name(path.stem + ".weights.pt")


def _import_file(path: Path) -> Any:
    """Import a .py file as a fresh module (not added to sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"_layerforge_export_{uuid.uuid4().hex}",
                                                  path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export_python(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    if path.suffix != ".py":  # Python imports only .py files: say so instead of failing later
        raise ExportError(f"python export: {path.name} must end in .py (e.g. "
                          f"{path.stem}.py) so that Python can import it", "python")
    weights = _weights_path(path)
    code = python_source(src.model, src.ckpt.project.name, weights.name, src.meta())
    state = {k: v.detach().cpu().clone() for k, v in src.model.state_dict().items()}
    _write(weights, "python", lambda f: torch.save(state, f))
    _write(path, "python", lambda f: f.write(code.encode("utf-8")))
    try:
        loaded = _import_file(path).load()
    except Exception as exc:  # noqa: BLE001 - generated code that fails is our bug: say so
        raise _failure("python", src, exc, "The generated code does not load; please report "
                       "this, and use the torchscript format meanwhile") from None
    with torch.no_grad():
        diff = _diff(loaded(src.x), _reference(src))
    _check("python", diff)
    return _report("python", src, [path, weights], diff, _latency(loaded, src.x[:1]))


def _export_script(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    model_path = path.with_name(path.stem + ".model.pt")
    if src.kind == "tokens" and src.ckpt.normalization.get("kind") != "text":
        raise ExportError("inference script: a token model needs the vocabulary of its text "
                          "dataset; export a checkpoint saved by training", "script")
    try:
        scripted = _script(src.model, src.x[:2])
    except Exception as exc:  # noqa: BLE001
        raise _failure("script", src, exc, "Use the python format and your own script "
                       "instead") from None
    data = _jit_bytes(scripted, src.meta())
    template = (Path(__file__).with_name("predict_script.py")).read_text(encoding="utf-8")
    script = template.replace('MODEL = "model.pt"', f"MODEL = {model_path.name!r}", 1)
    _write(model_path, "script", lambda f: f.write(data))
    _write(path, "script", lambda f: f.write(script.encode("utf-8")))
    with tempfile.TemporaryDirectory(prefix="layerforge-export-") as tmp:
        sample = _sample_file(src, Path(tmp))
        try:
            module = _import_file(path)
            model, meta = module.load_model(str(model_path))
            x = module.preprocess(str(sample), meta)
        except SystemExit as exc:  # the script's own one-line errors must not end the app
            raise ExportError(f"inference script: predict.py refused its own sample: {exc}",
                              "script") from None
        notes = []
        if src.bundle is not None:
            # the script's preprocessing of the raw file vs the dataset's own sample
            gap = _diff(x, src.x[:1])
            notes.append(f"predict.py preprocesses a raw sample to within {gap:.2g} of the "
                         f"training pipeline")
            if not gap <= _preprocess_tolerance(src):
                raise ExportError(f"inference script: its preprocessing differs from training "
                                  f"by {gap:.3g}; please report this", "script")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            module.main([str(sample), "--json"])
        printed = json.loads(out.getvalue())
        with torch.no_grad():
            diff = _diff(torch.tensor(printed["output"]), src.model(x))
        _check("script", diff)
    report = _report("script", src, [path, model_path], diff, _latency(model, x))
    report.samples = "predict.py run on a raw sample file vs the live model"
    report.notes += notes
    if printed["prediction"]:
        report.notes.append(f"prediction on the sample: {printed['prediction'][0]}")
    return report


def _preprocess_tolerance(src: _Source) -> float:
    norm = src.ckpt.normalization
    if norm.get("kind") == "image":  # the sample file holds 8-bit pixels
        return 0.51 / 255 / min(norm["std"]) + 1e-4
    return 1e-4


def _sample_file(src: _Source, folder: Path) -> Path:
    """A raw input file (PNG, CSV, text) holding the first sample, for predict.py."""
    norm = src.ckpt.normalization if src.bundle is not None else {}
    x = src.x[0]
    kind = norm.get("kind")
    if kind == "image":
        import cv2

        c, (h, w) = norm["channels"], norm["size"]
        img = x.reshape(c, h, w) * torch.tensor(norm["std"]).view(-1, 1, 1) \
            + torch.tensor(norm["mean"]).view(-1, 1, 1)
        low, high = norm.get("value_range", [0.0, 1.0])
        img = ((img - low) / (high - low)).clamp(0, 1).mul(255).round().to(torch.uint8)
        pixels = img.permute(1, 2, 0).numpy()
        pixels = pixels[:, :, 0] if c == 1 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        path = folder / "sample.png"
        if not cv2.imwrite(str(path), pixels):
            raise ExportError(f"inference script: could not write a sample image in {folder}",
                              "script")
        return path
    if kind == "series":
        raw = x.double().numpy() * np.asarray(norm["std"]) + np.asarray(norm["mean"])
        path = folder / "sample.csv"
        lines = [",".join(norm["columns"])] + [",".join(repr(float(v)) for v in row)
                                               for row in raw]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    if kind == "text":
        path = folder / "sample.txt"
        path.write_text("".join(norm["vocab"][int(i)] for i in x), encoding="utf-8")
        return path
    path = folder / "sample.csv"
    if "mean" in norm and "std" in norm:
        x = x * torch.tensor(norm["std"]) + torch.tensor(norm["mean"])
    path.write_text(",".join(repr(float(v)) for v in x.reshape(-1)), encoding="utf-8")
    return path


# ---- int8 --------------------------------------------------------------------------------

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DYNAMIC = {nn.Linear, nn.LSTM, nn.GRU, nn.RNN}


def quantize(model: nn.Module, calibration: torch.Tensor) -> tuple[nn.Module, str]:
    """An int8 copy of ``model``: FX graph mode static post-training quantisation (weights and
    activations int8, batch norm folded) calibrated on ``calibration`` when the network has
    convolutions; dynamic quantisation of Linear/LSTM/GRU/RNN weights otherwise."""
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic

    engine = torch.backends.quantized.engine
    model = copy.deepcopy(model).eval()
    if any(isinstance(m, _CONV) for m in model.modules()):
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prepared = prepare_fx(model, get_default_qconfig_mapping(engine),
                                      (calibration[:2],))
                with torch.no_grad():
                    for start in range(0, len(calibration), 64):
                        prepared(calibration[start:start + 64])
                return convert_fx(prepared), (f"static post-training quantisation ({engine}), "
                                              f"calibrated on {len(calibration)} samples")
        except Exception as exc:  # noqa: BLE001 - a layer FX cannot quantise: dynamic below
            log.info("static quantisation failed (%s); using dynamic quantisation", exc)
    kinds = {type(m) for m in model.modules()} & _DYNAMIC
    if not kinds:
        raise ExportError("int8 export: this network has no Linear, LSTM, GRU, RNN or "
                          "convolution layers to quantise; export it as torchscript instead",
                          "int8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(model, kinds, dtype=torch.qint8)
    names = "/".join(sorted(k.__name__ for k in kinds))
    return quantized, f"dynamic quantisation of {names} weights ({engine})"


def _metric(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
            task: Task) -> tuple[str, float]:
    """The task's metric (accuracy, per step for language models; mean absolute error...)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), 256):
            s, c = task.metric_sums(run(x[start:start + 256]).float(), y[start:start + 256])
            total += s
            count += c
    return task.metric.name, total / max(count, 1)


def _export_int8(src: _Source, path: Path, opts: dict[str, Any]) -> ExportReport:
    if src.bundle is not None:
        calibration = src.bundle.train.x[:int(opts.get("calibration") or CALIBRATION)]
    else:
        calibration = src.x
    try:
        quantized, method = quantize(src.model, calibration)
        with _quiet_jit():
            scripted = torch.jit.freeze(_script(quantized, src.x[:2]).eval())
            fp32 = torch.jit.freeze(_script(src.model, src.x[:2]).eval())
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _failure("int8", src, exc, "Export fp32 torchscript instead") from None
    meta = src.meta(quantized=method)
    data = _jit_bytes(scripted, meta)
    fp32_size = len(_jit_bytes(fp32, meta))
    _write(path, "int8", lambda f: f.write(data))
    loaded, _ = _jit_load(path)
    with torch.no_grad():
        diff = _diff(loaded(src.x), _reference(src))
    if not math.isfinite(diff):
        raise ExportError(f"int8 export: the quantised model gives outputs of another shape "
                          f"or non-finite values ({diff}); export fp32 instead", "int8")
    report = _report("int8", src, [path], diff, _latency(loaded, src.x[:1]))
    report.method = method
    report.size_ratio = report.size_bytes / fp32_size
    if src.bundle is None:
        report.notes.append("calibrated and compared on random inputs: the dataset could not "
                            "be loaded, so no accuracy is given")
    else:
        task = get_task(src.ckpt.task or src.bundle.task)
        test = src.bundle.test
        report.metric, report.metric_fp32 = _metric(src.model, test.x, test.y, task)
        _, report.metric_int8 = _metric(loaded, test.x, test.y, task)
    report.notes.append("fp32 size reference: the same network as frozen fp32 TorchScript "
                        f"({format_bytes(fp32_size)})")
    return report


# ---- entry point -------------------------------------------------------------------------

_EXPORTERS: dict[str, Callable[[_Source, Path, dict[str, Any]], ExportReport]] = {
    "state_dict": _export_state_dict,
    "checkpoint": _export_checkpoint,
    "torchscript": _export_torchscript,
    "pt2": _export_pt2,
    "onnx": _export_onnx,
    "python": _export_python,
    "int8": _export_int8,
    "script": _export_script,
}


def _report(fmt: str, src: _Source, files: list[Path], diff: float,
            latency: float) -> ExportReport:
    return ExportReport(format=fmt, files=[str(f) for f in files],
                        size_bytes=sum(f.stat().st_size for f in files),
                        parameters=_params(src.model), max_abs_diff=diff, latency_ms=latency,
                        samples=src.samples)


def export_model(source: Checkpoint | str | os.PathLike | tuple[Project, dict],
                 fmt: str, path: str | os.PathLike, *, opset: int = 18,
                 dynamic_batch: bool = True, bundle: DataBundle | None = None,
                 load_data: bool = True, calibration: int = CALIBRATION) -> ExportReport:
    """Write ``source`` (a Checkpoint, a checkpoint path or (project, state_dict)) as ``fmt``
    to ``path``, reload the file the way a user would and compare it with the live model.

    ``bundle``: the dataset, if already loaded (else it is loaded from the project unless
    ``load_data`` is False; random inputs are used when it cannot be). Every user-caused
    failure raises ExportError naming the format and the node or file.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}",
                          str(fmt))
    if fmt == "onnx" and not 7 <= int(opset) <= 23:
        raise ExportError(f"ONNX opset {opset} is not supported; use 18 (default) or another "
                          f"opset between 7 and 23", fmt)
    path = Path(path)
    if fmt == "script" and (path.is_dir() or not path.suffix):
        path = path / "predict.py"  # a folder: predict.py and its model go in it
    if not path.suffix:
        path = path.with_suffix(FORMATS[fmt].suffix)
    if path.is_dir():
        raise ExportError(f"{fmt} export: {path} is a folder; give a file name", fmt)
    src = _prepare(source, fmt, bundle, load_data)
    started = time.perf_counter()
    try:
        report = _EXPORTERS[fmt](src, path, {"opset": opset, "dynamic_batch": dynamic_batch,
                                             "calibration": calibration})
    except ExportError:
        raise
    except LayerForgeError as exc:
        raise ExportError(f"{FORMATS[fmt].title} export: {exc}", fmt) from None
    except OSError as exc:
        raise ExportError(f"{FORMATS[fmt].title} export: {exc.filename or path}: "
                          f"{exc.strerror or exc}; choose another file or folder", fmt) from None
    log.info("exported %s to %s in %.1f s", fmt, path, time.perf_counter() - started)
    return report


__all__ = ["FORMATS", "ExportFormat", "ExportReport", "export_model", "default_path",
           "read_metadata", "quantize", "python_source", "META_NAME"]
