"""Checkpoints: a round trip restores the editable project and its weights; opening a file
never runs code from it; a damaged or foreign file gives one CheckpointError naming it."""
from __future__ import annotations

import os
import pickle
import shlex
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph
from backend.errors import CheckpointError
from graph.project import Project, save_project
from graph.templates import Builder, build_template


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_project() -> Project:
    b = Builder()
    x = b.add("Input", "x", kind="vector", shape=(8,))
    o = b.chain(x, ("Linear", "fc1", {"out_features": 4}), ("ReLU", "relu"),
                ("Linear", "fc2", {"out_features": 3}))
    b.add("Output", "y", o)
    return b.project("tiny", "three classes", {"name": "digits", "options": {"size": 8}},
                     epochs=7, learning_rate=0.02)


def sample_input(project: Project, n: int) -> torch.Tensor:
    node = next(n for n in project.graph.nodes if n.type == "Input")
    shape = (n, *node.params["shape"])
    return torch.randint(0, 96, shape) if node.params["kind"] == "tokens" else torch.randn(shape)


def trained_like(project: Project) -> tuple[torch.nn.Module, Checkpoint]:
    """A model with non-default weights (and BatchNorm statistics) and its checkpoint."""
    torch.manual_seed(0)
    model = compile_graph(project.graph)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        for name, buf in model.named_buffers():
            if buf.is_floating_point():
                buf.add_(torch.rand_like(buf))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    model(sample_input(project, 4)).float().sum().backward()
    opt.step()
    ckpt = Checkpoint(
        project=project, state_dict=model.state_dict(),
        normalization={"kind": "image", "mean": [0.5], "std": [0.25], "size": [16, 16]},
        task="classification", class_names=[str(i) for i in range(10)], epoch=4,
        metrics={"loss": 0.25, "accuracy": 0.9}, optimizer=opt.state_dict(),
        scheduler={"last_epoch": 4, "base_lrs": [0.02]},
        history=[{"epoch": 0, "val_loss": 0.5}, {"epoch": 1, "val_loss": 0.25}])
    return model, ckpt


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Checkpoint]:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    _, ckpt = trained_like(tiny_project())
    save_checkpoint(path, ckpt)
    return path, ckpt


# ---- round trip ----------------------------------------------------------------------------

@pytest.mark.parametrize("template", ["digits-cnn", "char-gru"])
def test_round_trip_restores_the_project_and_the_weights(tmp_path: Path, template: str) -> None:
    project = build_template(template)
    model, ckpt = trained_like(project)
    path = tmp_path / "model.pt"
    save_checkpoint(path, ckpt)
    assert not list(tmp_path.glob("*.tmp*")) and [p.name for p in tmp_path.iterdir()] == [
        "model.pt"]  # written atomically: no temp file left behind

    loaded = load_checkpoint(path)
    assert loaded.project.graph.signature() == project.graph.signature()
    assert loaded.project.training == project.training
    assert loaded.project.dataset == project.dataset
    assert (loaded.project.name, loaded.project.description) == (project.name,
                                                                  project.description)
    assert (loaded.task, loaded.class_names, loaded.epoch) == ("classification",
                                                               ckpt.class_names, 4)
    assert loaded.normalization == ckpt.normalization
    assert loaded.metrics == ckpt.metrics and loaded.history == ckpt.history
    assert loaded.scheduler == ckpt.scheduler
    assert loaded.optimizer is not None
    assert loaded.optimizer["param_groups"] == ckpt.optimizer["param_groups"]

    rebuilt = compile_graph(loaded.project.graph)
    rebuilt.load_state_dict(loaded.state_dict)  # strict: every key, every shape
    model.eval(), rebuilt.eval()
    x = sample_input(project, 3)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_the_optimizer_state_round_trips_so_training_can_resume(
        saved: tuple[Path, Checkpoint]) -> None:
    path, ckpt = saved
    loaded = load_checkpoint(path)
    model = compile_graph(loaded.project.graph)
    model.load_state_dict(loaded.state_dict)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    opt.load_state_dict(loaded.optimizer)
    for key, state in ckpt.optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(loaded.optimizer["state"][key][name]),
                               torch.as_tensor(value))


def test_a_checkpoint_opens_in_the_project_the_cli_reads(saved: tuple[Path, Checkpoint]) -> None:
    path, ckpt = saved
    loaded = load_checkpoint(str(path))  # str or Path alike
    assert loaded.project.dataset == {"name": "digits", "options": {"size": 8}}
    assert loaded.project.training["epochs"] == 7


# ---- opening never runs code ---------------------------------------------------------------

class RunsCode:
    """Unpickling this runs a shell command (what a hostile 'checkpoint' would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_the_code_payload_is_real(tmp_path: Path) -> None:
    """Control for the tests below: plain unpickling of the payload does run the command."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(RunsCode(marker)))
    assert marker.exists()


@pytest.mark.parametrize("how", ["torch.save", "raw pickle", "inside a real checkpoint"])
def test_a_file_with_code_is_refused_without_running_it(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save({"format": "layerforge-checkpoint", "version": 1,
                    "payload": RunsCode(marker)}, path)
    elif how == "raw pickle":
        path.write_bytes(pickle.dumps(RunsCode(marker)))
    else:
        _, ckpt = trained_like(tiny_project())
        ckpt.metrics = {"loss": RunsCode(marker)}  # type: ignore[dict-item]
        torch.save({"format": "layerforge-checkpoint", "version": 1,
                    "project": ckpt.project.to_dict(), "state_dict": ckpt.state_dict,
                    "metrics": ckpt.metrics, "task": "classification", "epoch": 0}, path)

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "evil.pt" in str(info.value) and "code" in str(info.value)
    assert not marker.exists(), "opening the checkpoint ran code from it"


# ---- damaged and foreign files -------------------------------------------------------------

def test_a_truncated_file_is_refused_naming_it(tmp_path: Path,
                                               saved: tuple[Path, Checkpoint]) -> None:
    data = saved[0].read_bytes()
    path = tmp_path / "cut.pt"
    for length in (1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        path.write_bytes(data[:length])
        with pytest.raises(CheckpointError, match="cut.pt"):
            load_checkpoint(path)


@pytest.mark.parametrize("content, name", [
    (b"", "empty.pt"),
    (b"\x00" * 4096, "zeros.pt"),
    (b"not a checkpoint at all\n", "text.pt"),
    (b"PK\x03\x04" + b"\xff" * 200, "badzip.pt"),
])
def test_a_corrupt_or_empty_file_is_refused_naming_it(tmp_path: Path, content: bytes,
                                                      name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=name):
        load_checkpoint(path)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nowhere.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")


def test_a_plain_state_dict_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(compile_graph(tiny_project().graph).state_dict(), path)
    with pytest.raises(CheckpointError, match="weights.pt") as info:
        load_checkpoint(path)
    reason = str(info.value).replace(str(path), "")
    assert "not a LayerForge checkpoint" in reason and "state_dict" in reason


def test_a_project_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    save_project(tiny_project(), path)
    with pytest.raises(CheckpointError, match="project.json"):
        load_checkpoint(path)


def rewrite(path: Path, source: Path, **changes) -> None:
    payload = torch.load(source, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_a_newer_checkpoint_says_to_update(tmp_path: Path,
                                           saved: tuple[Path, Checkpoint]) -> None:
    path = tmp_path / "future.pt"
    rewrite(path, saved[0], version=99)
    with pytest.raises(CheckpointError, match="future.pt.*newer"):
        load_checkpoint(path)


@pytest.mark.parametrize("changes", [
    {"project": {"format_version": 2, "nodes": "lots"}},
    {"project": None},
    {"state_dict": {"fc1.weight": [1.0, 2.0]}},
    {"state_dict": None},
])
def test_damaged_contents_are_refused_naming_the_file(tmp_path: Path,
                                                      saved: tuple[Path, Checkpoint],
                                                      changes: dict) -> None:
    path = tmp_path / "damaged.pt"
    rewrite(path, saved[0], **changes)
    with pytest.raises(CheckpointError, match="damaged.pt"):
        load_checkpoint(path)


def test_a_file_missing_from_the_archive_is_refused(tmp_path: Path,
                                                    saved: tuple[Path, Checkpoint]) -> None:
    path = tmp_path / "gutted.pt"
    with zipfile.ZipFile(saved[0]) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith("data.pkl"):
                dst.writestr(item, src.read(item))
    with pytest.raises(CheckpointError, match="gutted.pt"):
        load_checkpoint(path)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_a_damaged_byte_never_raises_anything_but_checkpoint_error(
        tmp_path: Path, saved: tuple[Path, Checkpoint], position: int, value: int) -> None:
    data = bytearray(saved[0].read_bytes())
    data[position % len(data)] ^= value
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(data))
    try:
        load_checkpoint(path)  # a flip inside tensor data may go unnoticed: no checksum
    except CheckpointError as exc:
        assert "flipped.pt" in str(exc)
