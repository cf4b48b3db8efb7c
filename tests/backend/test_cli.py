"""The ``layerforge`` command line, run in-process: templates, new, validate, train, sample,
and text generation. Training runs use small networks for one or two epochs."""
from __future__ import annotations

import contextlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from app.main import main as app_main
from backend.checkpoint import load_checkpoint
from backend.cli import main
from backend.compile.compiler import compile_graph
from backend.data import load_dataset
from backend.tasks.base import bits
from backend.tasks.language_model import unigram_baseline
from backend.tasks.regression import last_value_baseline
from backend.tasks.generate import sample_text
from graph.project import Project, load_project, save_project
from graph.templates import TEMPLATES, Builder, build_template

TEMPLATE_KEYS = ["hello-mlp", "digits-cnn", "lstm-forecast", "char-gru", "residual-cnn",
                 "transfer", "mobilenet-digits", "vit-digits", "digits-detector"]
TEXT = "".join(f"the quick brown fox {i % 7} jumps over the lazy dog.\n" for i in range(100))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(*argv: str) -> Result:
    """Run the CLI in-process (usable from module-scoped fixtures, unlike capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def metrics(folder: Path) -> tuple[list[dict], dict]:
    lines = (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert "final" in records[-1] and all("final" not in r for r in records[:-1])
    return records[:-1], records[-1]["final"]


def one_line_error(result: Result, *words: str) -> None:
    assert result.code == 1
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for word in words:
        assert word in lines[0]


def text_project(path: Path) -> Project:
    """char-gru, reduced: reads 16 characters of a small file, predicts at every step."""
    project = build_template("char-gru")
    graph = project.graph
    graph.set_param(graph.find("text").id, "shape", (16,))
    graph.set_param(graph.find("embed").id, "embedding_dim", 8)
    graph.set_param(graph.find("gru").id, "hidden_size", 32)
    project.dataset = {"name": "text", "options": {"path": str(path), "targets": "sequence"}}
    project.training.update(batch_size=16, learning_rate=1e-2)
    return project


def small_digits_project(**training) -> Project:
    """The digits at their native 8x8, flattened, into a small MLP: loads and trains fast."""
    b = Builder()
    x = b.add("Input", "image", kind="vector", shape=(64,))
    o = b.chain(x, ("Linear", "fc1", {"out_features": 32}), ("ReLU", "relu"),
                ("Linear", "fc2", {"out_features": 10}))
    b.add("Output", "digit", o)
    return b.project("small digits", "", {"name": "digits", "options": {}}, **training)


# ---- runs shared by several tests --------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    folder = tmp_path_factory.mktemp("mlp")
    assert cli("new", "hello-mlp", "-o", str(folder / "mlp.json")).code == 0
    result = cli("train", str(folder / "mlp.json"), "--epochs", "1", "--out",
                 str(folder / "run"), "--quiet", "--device", "cpu")
    return folder / "run", result


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    folder = tmp_path_factory.mktemp("text")
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    save_project(text_project(corpus), folder / "text.json")
    result = cli("train", str(folder / "text.json"), "--epochs", "2", "--out",
                 str(folder / "run"), "--quiet", "--device", "cpu")
    return folder / "run", corpus, result


# ---- templates, new, validate ------------------------------------------------------------------

def test_templates_lists_all_five(capsys: pytest.CaptureFixture) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == TEMPLATE_KEYS == list(TEMPLATES)
    for key, template in TEMPLATES.items():
        assert template.title in out
    assert "[csv_series]" in out and "[text]" in out


def test_the_app_entry_point_runs_cli_commands(capsys: pytest.CaptureFixture) -> None:
    assert app_main(["templates"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == TEMPLATE_KEYS


def test_no_command_prints_help(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("templates", "new", "validate", "train", "sample"):
        assert command in out


def test_new_writes_a_loadable_project(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "f.json"
    assert main(["new", "digits-cnn", "-o", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    project = load_project(path)
    reference = build_template("digits-cnn")
    assert [(n.name, n.type, n.params) for n in project.graph.nodes] == [
        (n.name, n.type, n.params) for n in reference.graph.nodes]
    assert len(project.graph.edges) == len(reference.graph.edges)
    assert project.training == reference.training and project.dataset == reference.dataset
    compile_graph(project.graph)  # and it builds


def test_new_with_an_unknown_template_lists_the_choices(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["new", "nonesuch", "-o", str(tmp_path / "x.json")])
    assert info.value.code == 2
    assert "hello-mlp" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_validate_prints_the_per_node_table(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "mlp.json"
    save_project(build_template("hello-mlp"), path)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    expected = {
        "image": ("Input", "(N, 784)", "0", "0"),
        "fc1": ("Linear", "(N, 128)", "100,480", "100K"),
        "relu1": ("ReLU", "(N, 128)", "0", None),
        "fc2": ("Linear", "(N, 10)", "1,290", "1.3K"),
        "digit": ("Output", "(N, 10)", "0", "0"),
    }
    for name, (kind, shape, params, macs) in expected.items():
        row = rows[name]
        assert re.search(rf"^{name}\s+{kind}\s+{re.escape(shape)}\s+{params}\s", row), row
        if macs is not None:
            assert row.rstrip().endswith(macs), row
    assert "total: 101,770 parameters, 102K MACs per sample" in out
    assert out.rstrip().endswith("valid")


def test_validate_reports_a_shape_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    b = Builder()
    x = b.add("Input", "image", kind="vector", shape=(784,))
    o = b.chain(x, ("Conv2d", "conv", {}), ("Flatten", "flat"),
                ("Linear", "fc", {"out_features": 10}))
    b.add("Output", "digit", o)
    path = tmp_path / "broken.json"
    save_project(b.project("broken", "", {"name": "digits", "options": {}}), path)

    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert re.search(r"error: \[conv\] Conv2d 'conv' expects .* 'image' gives \(N, 784\)",
                     captured.out), captured.out
    assert "Reshape" in captured.out  # what to do
    assert "1 error(s)" in captured.err
    assert not captured.out.rstrip().endswith("valid")


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("name, content", [
    ("corrupt.json", b"{not json"),
    ("truncated.json", b'{"format": "layerforge-project", "format_version": 2, "nodes": ['),
    ("empty.json", b""),
    ("corrupt.pt", b"PK\x03\x04garbage"),
])
def test_a_bad_file_gives_one_line_and_no_traceback(tmp_path: Path, command: str, name: str,
                                                    content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    args = [command, str(path)] + (["--out", str(tmp_path / "run")] if command == "train" else [])
    one_line_error(cli(*args), name)


def test_a_missing_file_gives_one_line(tmp_path: Path) -> None:
    one_line_error(cli("validate", str(tmp_path / "absent.json")), "absent.json")


def test_validate_opens_the_project_inside_a_checkpoint(mlp_run) -> None:
    folder, _ = mlp_run
    result = cli("validate", str(folder / "best.pt"))
    assert result.code == 0 and "fc1" in result.out and "(N, 10)" in result.out


def test_validate_opens_a_checkpoint_saved_under_another_name(mlp_run, tmp_path: Path) -> None:
    folder, _ = mlp_run
    renamed = tmp_path / "model.bin"
    renamed.write_bytes((folder / "best.pt").read_bytes())
    result = cli("validate", str(renamed))
    assert result.code == 0 and "fc1" in result.out


# ---- import: what -o writes depends on its name --------------------------------------------

SMALL_NET = """
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(4 * 6 * 6, 5))

    def forward(self, x):
        return self.body(x)
"""


def test_import_to_a_json_name_writes_a_project_file_without_weights(tmp_path: Path) -> None:
    source = tmp_path / "net.py"
    source.write_text(SMALL_NET)
    out = tmp_path / "net.json"
    result = cli("import", f"{source}:Net", "-o", str(out), "--input-shape", "3,8,8")
    assert result.code == 0, result.err
    assert "not the imported weights" in result.out
    assert "6 nodes, 1 block (3 nodes at the top)" in result.out
    project = load_project(out)  # a project file, not a checkpoint under a .json name
    # the Sequential `body` comes in as a block holding the four layers
    assert [n.type for n in project.graph.nodes] == ["Input", "Block", "Output"]
    body = project.graph.find("body").block.graph
    assert [n.type for n in body.nodes] == ["Input", "Conv2d", "ReLU", "Flatten", "Linear",
                                            "Output"]
    checked = cli("validate", str(out))
    assert checked.code == 0 and "valid" in checked.out


def test_import_to_a_pt_name_writes_a_checkpoint_with_the_weights(tmp_path: Path) -> None:
    source = tmp_path / "net.py"
    source.write_text(SMALL_NET)
    out = tmp_path / "net.pt"
    assert cli("import", f"{source}:Net", "-o", str(out), "--input-shape", "3,8,8").code == 0
    assert "body.conv0.weight" in load_checkpoint(out).state_dict  # nested: body is a block
    assert cli("validate", str(out)).code == 0


def test_import_to_another_name_is_refused_with_the_two_choices(tmp_path: Path) -> None:
    source = tmp_path / "net.py"
    source.write_text(SMALL_NET)
    result = cli("import", f"{source}:Net", "-o", str(tmp_path / "net.onnx"),
                 "--input-shape", "3,8,8")
    one_line_error(result, "net.onnx")
    assert "net.pt" in result.err and "net.json" in result.err
    assert not (tmp_path / "net.onnx").exists()


# ---- train ---------------------------------------------------------------------------------

def test_train_hello_mlp_writes_checkpoints_and_the_metrics_log(mlp_run) -> None:
    folder, result = mlp_run
    assert result.code == 0, result.err
    assert (folder / "best.pt").is_file() and (folder / "last.pt").is_file()
    epochs, final = metrics(folder)
    assert len(epochs) == 1
    record = epochs[0]
    assert record["epoch"] == 1
    assert {"train_loss", "val_loss", "val_accuracy", "train_accuracy", "lr",
            "seconds"} <= set(record)
    assert 0.5 < record["val_accuracy"] <= 1.0  # one epoch of hello-mlp learns the digits
    assert set(final) >= {"test_loss", "test_accuracy", "best_epoch", "seconds"}
    assert final["best_epoch"] == 1 and math.isfinite(final["test_loss"])
    assert 0.5 < final["test_accuracy"] <= 1.0
    assert "training 'Hello world" in result.out and "101,770 parameters" in result.out
    assert re.search(r"epoch 1/1: train loss \d+\.\d{4}, val loss \d+\.\d{4}, val accuracy "
                     r"\d+\.\d\d%", result.out), result.out
    assert f"test accuracy: {final['test_accuracy'] * 100:.2f}%" in result.out
    assert f"checkpoint: {folder / 'best.pt'}" in result.out
    assert load_checkpoint(folder / "best.pt").task == "classification"


def test_train_a_regression_project_prints_the_last_value_baseline(tmp_path: Path) -> None:
    project = build_template("lstm-forecast")
    project.graph.set_param(project.graph.find("lstm").id, "hidden_size", 8)
    save_project(project, tmp_path / "lstm.json")

    result = cli("train", str(tmp_path / "lstm.json"), "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--quiet", "--device", "cpu")
    assert result.code == 0, result.err
    _, final = metrics(tmp_path / "run")
    bundle = load_dataset(project.dataset, "sequence", (52, 1), seed=project.training["seed"])
    assert final["val_last_value_baseline_mse"] == pytest.approx(last_value_baseline(bundle))
    assert math.isfinite(final["val_mse"]) and "test_mae" in final
    assert (f"validation MSE {final['val_mse']:.5f} vs last-value baseline "
            f"{final['val_last_value_baseline_mse']:.5f}") in result.out


def test_train_a_text_project_prints_bits_per_char_and_a_sample(text_run) -> None:
    folder, corpus, result = text_run
    assert result.code == 0, result.err
    epochs, final = metrics(folder)
    assert len(epochs) == 2
    assert final["val_bits_per_char"] == pytest.approx(
        bits(min(e["val_loss"] for e in epochs)))
    bundle = load_dataset({"name": "text", "options": {"path": str(corpus),
                                                        "targets": "sequence"}}, "tokens", (16,))
    assert final["val_unigram_baseline_bits_per_char"] == pytest.approx(
        bits(unigram_baseline(bundle)))
    assert (f"validation {final['val_bits_per_char']:.3f} bits/char vs unigram baseline "
            f"{final['val_unigram_baseline_bits_per_char']:.3f}") in result.out
    head = "sample (temperature 0.8):\n"
    assert head in result.out
    after = result.out.split(head, 1)[1]
    sample, rest = after[:300], after[300:]
    assert set(sample) <= set(TEXT)
    assert rest.startswith("\ntest loss: ")


def test_train_resumes_from_a_checkpoint(tmp_path: Path) -> None:
    save_project(small_digits_project(batch_size=64), tmp_path / "small.json")
    first = cli("train", str(tmp_path / "small.json"), "--epochs", "1", "--out",
                str(tmp_path / "a"), "--quiet", "--device", "cpu")
    assert first.code == 0, first.err

    second = cli("train", str(tmp_path / "small.json"), "--epochs", "2", "--resume",
                 str(tmp_path / "a" / "last.pt"), "--out", str(tmp_path / "b"), "--quiet",
                 "--device", "cpu")
    assert second.code == 0, second.err
    epochs, _ = metrics(tmp_path / "b")
    assert [e["epoch"] for e in epochs] == [2]
    assert "epoch 2/2" in second.out
    assert load_checkpoint(tmp_path / "b" / "last.pt").epoch == 1


def test_a_failed_training_exits_1_with_the_node_and_the_fix(tmp_path: Path) -> None:
    project = small_digits_project()
    project.graph.set_param(project.graph.find("fc2").id, "out_features", 4)
    save_project(project, tmp_path / "four.json")
    result = cli("train", str(tmp_path / "four.json"), "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--quiet", "--device", "cpu")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.startswith("error (node 'fc2'): ") and "(N, 10)" in result.err


def test_train_refuses_zero_epochs(tmp_path: Path) -> None:
    save_project(small_digits_project(schedule="one_cycle"), tmp_path / "small.json")
    result = cli("train", str(tmp_path / "small.json"), "--epochs", "0", "--out",
                 str(tmp_path / "run"), "--quiet", "--device", "cpu")
    one_line_error(result, "epochs")


# ---- sample --------------------------------------------------------------------------------

def test_sample_generates_text_of_the_requested_length(text_run) -> None:
    folder, _, _ = text_run
    checkpoint = str(folder / "best.pt")
    result = cli("sample", checkpoint, "--prompt", "the ", "--length", "50", "--seed", "1")
    assert result.code == 0, result.err
    assert result.out.startswith("the ") and result.out.endswith("\n")
    generated = result.out[len("the "):-1]
    assert len(generated) == 50 and set(generated) <= set(TEXT)
    again = cli("sample", checkpoint, "--prompt", "the ", "--length", "50", "--seed", "1")
    assert again.out == result.out


def test_sample_at_temperature_zero_ignores_the_seed(text_run) -> None:
    folder, _, _ = text_run
    runs = {cli("sample", str(folder / "best.pt"), "--length", "40", "--temperature", "0",
                "--seed", str(seed)).out for seed in (1, 2, 3)}
    assert len(runs) == 1 and len(runs.pop()) == 41


def test_sample_refuses_a_model_that_is_not_a_text_model(mlp_run) -> None:
    folder, _ = mlp_run
    result = cli("sample", str(folder / "best.pt"))
    assert result.code == 1 and "not a text model" in result.err and not result.out


def test_sample_of_a_bad_checkpoint_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"\x80\x04truncated")
    one_line_error(cli("sample", str(path)), "broken.pt")


# ---- generate.sample_text --------------------------------------------------------------------

VOCAB = "\n abcdefghijklmnopqrstuvwxyz."


def untrained_text_model(output: str) -> torch.nn.Module:
    b = Builder()
    x = b.add("Input", "text", kind="tokens", shape=(8,))
    o = b.chain(x, ("Embedding", "embed", {"num_embeddings": len(VOCAB), "embedding_dim": 8}),
                ("GRU", "gru", {"hidden_size": 16, "output": output}),
                ("Linear", "head", {"out_features": len(VOCAB)}))
    b.add("Output", "next_char", o)
    torch.manual_seed(0)
    model = compile_graph(b.project("t", "", {"name": "text", "options": {}}).graph)
    with torch.no_grad():  # larger weights: the likeliest next character depends on the input
        for p in model.parameters():
            p.mul_(4.0)
    return model


@pytest.mark.parametrize("output", ["sequence", "last"])
def test_sample_text_at_temperature_zero_is_greedy_and_deterministic(output: str) -> None:
    model = untrained_text_model(output)
    texts = {sample_text(model, VOCAB, 8, "the fox", 30, temperature=0.0, seed=s)
             for s in (None, 1, 2)}
    assert len(texts) == 1
    text = texts.pop()
    assert len(text) == 30 and set(text) <= set(VOCAB)
    # the first character is the most likely one after the (left-padded) prompt
    ids = [VOCAB.index(" ")] + [VOCAB.index(c) for c in "the fox"]
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    last = logits[-1] if logits.dim() == 2 else logits
    assert text[0] == VOCAB[int(last.argmax())]


def test_sample_text_with_temperature_follows_the_seed() -> None:
    model = untrained_text_model("sequence")
    a = sample_text(model, VOCAB, 8, "the", 60, temperature=1.0, seed=5)
    assert a == sample_text(model, VOCAB, 8, "the", 60, temperature=1.0, seed=5)
    assert a != sample_text(model, VOCAB, 8, "the", 60, temperature=1.0, seed=6)
    assert len(a) == 60 and set(a) <= set(VOCAB)


def test_sample_text_reads_only_the_last_window_of_a_long_prompt() -> None:
    model = untrained_text_model("last")
    tail = "over the"  # 8 characters: the window
    text = sample_text(model, VOCAB, 8, tail, 20, 0.0)
    assert sample_text(model, VOCAB, 8, "a long prompt ending " + tail, 20, 0.0) == text
    assert sample_text(model, VOCAB, 8, tail + " lazy.", 20, 0.0) != text  # it reads the end
    assert len(set(text)) > 1  # and what it wrote: a stuck context repeats one character
    model.train()
    sample_text(model, VOCAB, 8, tail, 5, 0.0)
    assert model.training  # left as it was found


def test_layers_lists_the_catalogue_as_a_table_and_as_json():
    from graph.layers import CATALOGUE

    table = cli("layers")
    assert table.code == 0
    assert f"{len(CATALOGUE)} layer types" in table.out
    conv = next(line for line in table.out.splitlines() if line.startswith("Conv2d "))
    assert "Convolution" in conv and "out_channels=16" in conv and "kernel_size=3,3" in conv
    concat = next(line for line in table.out.splitlines() if line.startswith("Concat "))
    assert "in1..inK (K = inputs)" in concat

    records = json.loads(cli("layers", "--json").out)
    assert {r["type"] for r in records} == set(CATALOGUE)
    linear = next(r for r in records if r["type"] == "Linear")
    assert "Dense" in linear["aliases"]
    assert linear["params"][0] == {"name": "out_features", "kind": "int", "default": 128,
                                   "help": "Number of output features (neurons).",
                                   "min": 1, "max": 1_000_000}


def test_layers_searches_like_the_palette():
    found = cli("layers", "dense")
    assert found.code == 0 and found.out.splitlines()[1].startswith("Linear ")
    missing = cli("layers", "no-such-layer")
    assert missing.code == 1 and "no layer matches 'no-such-layer'" in missing.err
