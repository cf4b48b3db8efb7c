"""Exports: every format of every template reloads the way a user would and reproduces the live
model; int8 keeps the trained digits CNN's accuracy at a third of its size; the CLI command.

Fidelity tests use untrained but seeded weights (they are about the file, not the accuracy);
the int8/checkpoint/CLI tests share one digits CNN trained for three epochs.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.checkpoint import Checkpoint, load_checkpoint
from backend.cli import main as cli_main
from backend.compile.compiler import compile_graph
from backend.data import load_dataset
from backend.errors import ExportError
from backend.export.exporter import FORMATS, export_model, read_metadata
from backend.training.train import Finished, TrainingRun, input_of
from graph.templates import TEMPLATES, build_template

FP32_FORMATS = ["torchscript", "onnx", "pt2", "python", "script", "state_dict", "checkpoint"]
# The five templates of the export brief get every format; the transfer template (a 0.9M
# parameter MobileNetV3 backbone, added later) is covered by the fresh-process Python test.
BRIEF_TEMPLATES = ["hello-mlp", "digits-cnn", "lstm-forecast", "char-gru", "residual-cnn"]
CASES = [(k, f) for k in BRIEF_TEMPLATES for f in FP32_FORMATS]
ROOT = Path(__file__).resolve().parents[3]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Sources:
    """Per template: a checkpoint with seeded untrained weights and its dataset (or None when
    the dataset is not available offline: then exports verify on random inputs)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Checkpoint, object]] = {}
        self._bundles: dict[str, object] = {}

    def __call__(self, key: str) -> tuple[Checkpoint, object]:
        if key not in self._cache:
            project = build_template(key)
            torch.manual_seed(0)
            model = compile_graph(project.graph)
            kind, shape = input_of(project)
            tag = json.dumps([project.dataset, kind, shape])
            if tag not in self._bundles:
                try:
                    self._bundles[tag] = load_dataset(project.dataset, kind, shape, seed=0)
                except Exception:  # noqa: BLE001 - e.g. an image folder not set: random inputs
                    self._bundles[tag] = None
            bundle = self._bundles[tag]
            ckpt = Checkpoint(project, model.state_dict(),
                              bundle.normalization if bundle else {},
                              bundle.task if bundle else "",
                              bundle.class_names if bundle else None, 0)
            self._cache[key] = (ckpt, bundle)
        return self._cache[key]


@pytest.fixture(scope="module")
def sources() -> Sources:
    return Sources()


def live(ckpt: Checkpoint, x: torch.Tensor) -> torch.Tensor:
    model = compile_graph(ckpt.project.graph)
    model.load_state_dict(ckpt.state_dict)
    with torch.no_grad():
        return model.eval()(x)


def samples(ckpt: Checkpoint, bundle) -> torch.Tensor:
    if bundle is not None:
        return bundle.test.x[:5]
    kind, shape = input_of(ckpt.project)
    return torch.randn(5, *shape) if kind != "tokens" else torch.randint(0, 10, (5, *shape))


def reload_outputs(fmt: str, files: list[str], x: torch.Tensor, ckpt: Checkpoint):
    """Run the written file as a user would, independently of the exporter's own check."""
    if fmt == "torchscript":
        with pytest.warns(FutureWarning):  # torch 2.14 deprecates TorchScript: still loads
            model = torch.jit.load(files[0])
        return model(x)
    if fmt == "pt2":
        return torch.export.load(files[0]).module()(x)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(files[0], providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    if fmt in ("state_dict", "checkpoint"):
        state = torch.load(files[0], map_location="cpu", weights_only=True)
        graph = ckpt.project.graph
        if fmt == "checkpoint":
            reopened = load_checkpoint(files[0])
            graph, state = reopened.project.graph, reopened.state_dict
        model = compile_graph(graph)
        model.load_state_dict(state)
        return model.eval()(x)
    if fmt == "python":
        spec = importlib.util.spec_from_file_location("exported_net", files[0])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.load()(x)
    if fmt == "script":  # the model file predict.py loads
        with pytest.warns(FutureWarning):
            model = torch.jit.load(files[1])
        return model(x)
    raise AssertionError(fmt)


@pytest.mark.parametrize("key, fmt", CASES)
def test_every_format_reproduces_the_live_model(sources, tmp_path, key, fmt):
    ckpt, bundle = sources(key)
    report = export_model(ckpt, fmt, tmp_path / key, bundle=bundle, load_data=False)
    assert report.format == fmt
    assert all(Path(f).is_file() for f in report.files)
    assert report.size_bytes == sum(Path(f).stat().st_size for f in report.files)
    assert report.parameters == sum(v.numel() for v in compile_graph(
        ckpt.project.graph).parameters())
    assert report.max_abs_diff <= 1e-5
    assert report.latency_ms > 0
    x = samples(ckpt, bundle)
    with torch.no_grad():
        got = reload_outputs(fmt, report.files, x, ckpt)
    assert (got.float() - live(ckpt, x)).abs().max() <= 1e-5
    if fmt == "onnx":
        check_onnx(report.files[0], ckpt, opset=18)


def check_onnx(path: str, ckpt: Checkpoint, opset: int) -> None:
    """The chosen opset, a symbolic batch axis and LayerForge's record in the metadata."""
    import onnx

    model = onnx.load(path)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    meta = json.loads({p.key: p.value for p in model.metadata_props}["layerforge"])
    assert meta["class_names"] == ckpt.class_names


def test_int8_of_every_template_loads_without_our_code(sources, tmp_path):
    """Each int8 file runs in a plain python that has only torch, close to the fp32 outputs."""
    expected, files = {}, []
    for key in BRIEF_TEMPLATES:
        ckpt, bundle = sources(key)
        report = export_model(ckpt, "int8", tmp_path / key, bundle=bundle, load_data=False,
                              calibration=64)
        assert report.size_ratio is not None and report.size_ratio < 0.5, report.lines()
        x = samples(ckpt, bundle)
        torch.save(x, tmp_path / f"{key}.x.pt")
        expected[key] = live(ckpt, x)
        files.append(report.files[0])
    script = ("import sys, torch\n"
              "for path in sys.argv[1:]:\n"
              "    m = torch.jit.load(path)\n"
              "    x = torch.load(path.replace('.pt', '.x.pt'))\n"
              "    torch.save(m(x), path.replace('.pt', '.y.pt'))\n")
    subprocess.run([sys.executable, "-W", "ignore", "-c", script, *files], check=True,
                   cwd=tmp_path)
    for key, want in expected.items():
        got = torch.load(tmp_path / f"{key}.y.pt")
        assert got.shape == want.shape, key
        # int8 is not exact; it must stay close to the fp32 outputs
        assert (got - want).abs().max() <= 0.1 * want.abs().max() + 1e-3, key


def test_python_export_runs_in_a_fresh_process(sources, tmp_path):
    """Each template's generated .py + weights, imported by a plain python with only torch."""
    expected = {}
    for key in TEMPLATES:
        ckpt, bundle = sources(key)
        export_model(ckpt, "python", tmp_path / key / "net.py", bundle=bundle, load_data=False)
        x = samples(ckpt, bundle)
        torch.save(x, tmp_path / key / "x.pt")
        expected[key] = live(ckpt, x)
    script = ("import importlib.util, sys, torch\n"
              "for folder in sys.argv[1:]:\n"
              "    spec = importlib.util.spec_from_file_location('net', folder + '/net.py')\n"
              "    net = importlib.util.module_from_spec(spec)\n"
              "    spec.loader.exec_module(net)\n"
              "    model = net.Network()\n"
              "    model.load_state_dict(torch.load(folder + '/net.weights.pt'))\n"
              "    with torch.no_grad():\n"
              "        torch.save(model.eval()(torch.load(folder + '/x.pt')), folder + '/y.pt')\n"
              "    assert net.load().training is False\n")
    subprocess.run([sys.executable, "-c", script, *(str(tmp_path / k) for k in TEMPLATES)],
                   check=True, cwd=tmp_path, env={"PYTHONPATH": "", "PATH": "/usr/bin:/bin"})
    for key, want in expected.items():
        assert (torch.load(tmp_path / key / "y.pt") - want).abs().max() <= 1e-5, key


def test_predict_script_applies_the_training_preprocessing(sources, tmp_path):
    """predict.py run as a program on a PNG gives the live model's outputs, and its
    preprocessing of the raw pixels matches the dataset's sample."""
    import cv2

    ckpt, bundle = sources("digits-cnn")
    report = export_model(ckpt, "script", tmp_path / "predict.py", bundle=bundle)
    norm = ckpt.normalization
    sample = bundle.test.x[3]
    pixels = (sample * norm["std"][0] + norm["mean"][0]).clamp(0, 1).mul(255).round()
    cv2.imwrite(str(tmp_path / "digit.png"), pixels[0].to(torch.uint8).numpy())
    done = subprocess.run([sys.executable, str(tmp_path / "predict.py"),
                           str(tmp_path / "digit.png"), "--json"], check=True,
                          capture_output=True, text=True, cwd=ROOT)
    printed = json.loads(done.stdout)
    spec = importlib.util.spec_from_file_location("predict", report.files[0])
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    _, meta = predict.load_model(report.files[1])
    x = predict.preprocess(str(tmp_path / "digit.png"), meta)
    assert (x[0] - sample).abs().max() <= 0.51 / 255 / norm["std"][0] + 1e-5
    assert (torch.tensor(printed["output"]) - live(ckpt, x)).abs().max() <= 1e-5
    top = int(live(ckpt, x).argmax())
    assert printed["prediction"][0].startswith(f"{ckpt.class_names[top]}:")


def test_torchscript_carries_the_preprocessing_record(sources, tmp_path):
    ckpt, bundle = sources("digits-cnn")
    report = export_model(ckpt, "torchscript", tmp_path / "net.pt", bundle=bundle)
    meta = read_metadata(report.files[0])
    assert meta["normalization"] == ckpt.normalization
    assert meta["class_names"] == ckpt.class_names and meta["task"] == "classification"
    assert meta["input"] == {"name": "image", "kind": "image", "shape": [1, 16, 16],
                             "dtype": "float32"}
    ckpt, bundle = sources("char-gru")
    report = export_model(ckpt, "torchscript", tmp_path / "text.pt", bundle=bundle)
    assert read_metadata(report.files[0])["input"]["dtype"] == "int64"


# ---- errors ------------------------------------------------------------------------------

def test_exporter_failure_names_format_and_node(sources, tmp_path, monkeypatch):
    ckpt, bundle = sources("digits-cnn")

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator in conv2: no ONNX symbol")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(ExportError) as info:
        export_model(ckpt, "onnx", tmp_path / "net.onnx", bundle=bundle)
    assert info.value.format == "onnx" and info.value.node_name == "conv2"
    assert "ONNX export failed at node 'conv2'" in str(info.value)
    assert "torchscript/pt2" in str(info.value)  # says what to do
    assert not (tmp_path / "net.onnx").exists()  # no half-written file left


def test_unwritable_destination_is_a_clear_error(sources, tmp_path):
    ckpt, bundle = sources("hello-mlp")
    (tmp_path / "file").write_text("not a folder")
    for fmt in ("torchscript", "onnx", "python"):
        with pytest.raises(ExportError, match=f"{fmt} export: cannot write .*file is a file, "
                                              f"not a folder"):
            export_model(ckpt, fmt, tmp_path / "file" / "net", bundle=bundle)


def test_bad_requests_are_export_errors(sources, tmp_path):
    ckpt, bundle = sources("hello-mlp")
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(ckpt, "tflite", tmp_path / "x", bundle=bundle)
    with pytest.raises(ExportError, match="opset 3"):
        export_model(ckpt, "onnx", tmp_path / "x", bundle=bundle, opset=3)
    wrong = Checkpoint(ckpt.project, {"fc1.weight": torch.zeros(1)}, {}, "", None, 0)
    with pytest.raises(ExportError, match="weights do not fit"):
        export_model(wrong, "torchscript", tmp_path / "x", load_data=False)
    assert set(FORMATS) == {"torchscript", "onnx", "pt2", "int8", "python", "script",
                            "state_dict", "checkpoint"}


# ---- a trained digits CNN ----------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits-cnn trained for three epochs (about 98% test accuracy): (best.pt, bundle)."""
    project = build_template("digits-cnn")
    bundle = load_dataset(project.dataset, "image", (1, 16, 16), seed=project.training["seed"])
    out = tmp_path_factory.mktemp("digits")
    events = list(TrainingRun(project, out_dir=out, bundle=bundle, epochs=3).events())
    assert isinstance(events[-1], Finished), events[-1]
    return out / "best.pt", bundle


def test_int8_digits_cnn_keeps_accuracy_at_a_third_of_the_size(trained, tmp_path):
    best, bundle = trained
    report = export_model(best, "int8", tmp_path / "digits.int8.pt", bundle=bundle)
    assert report.metric == "accuracy"
    assert report.metric_fp32 > 0.9
    assert abs(report.metric_fp32 - report.metric_int8) <= 0.01, report.lines()
    assert report.size_ratio <= 0.35, report.lines()
    fp32 = export_model(best, "torchscript", tmp_path / "digits.pt", bundle=bundle)
    assert report.size_bytes <= 0.35 * fp32.size_bytes  # also vs the plain TorchScript export
    assert "static post-training quantisation" in report.method


def test_checkpoint_export_reopens_with_the_same_predictions(trained, tmp_path):
    best, bundle = trained
    original = load_checkpoint(best)
    report = export_model(best, "checkpoint", tmp_path / "copy.pt", bundle=bundle)
    reopened = load_checkpoint(report.files[0])
    assert reopened.project.to_dict() == original.project.to_dict()
    assert reopened.normalization == original.normalization
    assert reopened.class_names == original.class_names
    a, b = compile_graph(original.project.graph), compile_graph(reopened.project.graph)
    a.load_state_dict(original.state_dict)
    b.load_state_dict(reopened.state_dict)
    with torch.no_grad():
        pa, pb = a.eval()(bundle.test.x), b.eval()(bundle.test.x)
    assert torch.equal(pa.argmax(-1), pb.argmax(-1)) and torch.equal(pa, pb)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_export_prints_the_report(trained, tmp_path):
    best, _ = trained
    code, out, err = run_cli("export", str(best), "--format", "onnx", "-o",
                             str(tmp_path / "digits"), "--opset", "17")
    assert code == 0, err
    check_onnx(str(tmp_path / "digits.onnx"), load_checkpoint(best), opset=17)
    assert "38,570 parameters" in out and "max |difference|" in out
    assert "ms per sample" in out and "kB" in out


def test_cli_export_of_a_bad_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    code, out, err = run_cli("export", str(bad), "--format", "torchscript", "-o",
                             str(tmp_path / "x.pt"))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "broken.pt" in err
    assert not (tmp_path / "x.pt").exists()
    code, _, err = run_cli("export", str(tmp_path / "missing.pt"), "-f", "onnx", "-o", "x")
    assert code == 1 and "no such file" in err and len(err.strip().splitlines()) == 1
    bad.write_bytes(b"junk")  # too short even for torch's header: still one line
    code, _, err = run_cli("export", str(bad), "-f", "python", "-o", str(tmp_path / "n.py"))
    assert code == 1 and err.startswith(f"error: {bad}: not a readable LayerForge checkpoint")
    assert len(err.strip().splitlines()) == 1


def test_random_inputs_when_the_dataset_is_unavailable(tmp_path):
    project = build_template("digits-cnn")
    project.dataset = {"name": "image_folder", "options": {"path": str(tmp_path / "none")}}
    model = compile_graph(project.graph)
    report = export_model((project, model.state_dict()), "torchscript", tmp_path / "n.pt")
    assert report.samples == "8 random inputs" and report.max_abs_diff <= 1e-5
    assert np.isfinite(report.latency_ms)


def test_a_python_export_not_named_py_is_refused_with_the_fix(tmp_path, capsys):
    from backend.cli import main as cli
    from backend.checkpoint import Checkpoint, save_checkpoint
    from backend.compile.compiler import compile_graph

    project = build_template("hello-mlp")
    ckpt = Checkpoint(project=project, state_dict=compile_graph(project.graph).state_dict(),
                      normalization={}, task="classification", class_names=None, epoch=0)
    save_checkpoint(tmp_path / "m.pt", ckpt)
    code = cli(["export", str(tmp_path / "m.pt"), "-f", "python", "-o",
                str(tmp_path / "net.python")])
    err = capsys.readouterr().err
    assert code == 1 and "must end in .py" in err and "net.py" in err
    assert not (tmp_path / "net.python").exists()
