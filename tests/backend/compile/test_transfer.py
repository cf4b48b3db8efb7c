"""Transfer learning: torchvision backbones and imported model files as blocks.

Every backbone's declared table (features, parameters per block, MACs) is checked against
torchvision; freezing really stops updates in the trainer (weights and batch-norm statistics);
weights come from a local file the test writes (never a download: downloads are switched off
for the whole module); TorchScript files and LayerForge checkpoints run as frozen or
fine-tunable blocks; the transfer template trains on a generated image folder.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from backend.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph
from backend.data import DataBundle, Split
from backend.errors import CompileError
from backend.compile.backbones import (OFFLINE_ENV, Backbone, PretrainedError,
                                       load_pretrained_weights)
from backend.compile.model_files import ImportedModel, describe_model_file
from backend.training.train import EpochEnd, Failed, Finished, Started, TrainingRun, train
from graph.layers.pretrained import ARCHS
from graph.model import Edge, Graph
from graph.project import Project
from graph.templates import Builder, build_template
from graph.validate import analyze


@pytest.fixture(autouse=True, scope="module")
def few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An empty torch hub cache and downloads off: 'imagenet' weights can only fail here."""
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


# ---- helpers ---------------------------------------------------------------------------------

def backbone_graph(shape: tuple[int, ...] = (3, 32, 32), **params) -> tuple[Graph, object]:
    g = Graph()
    x = g.add_node("Input", name="image", params={"kind": "image", "shape": shape})
    bb = g.add_node("Backbone", name="backbone", params={"weights": "none", **params})
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", bb.id, "in"))
    g.connect(Edge(bb.id, "out", out.id, "in"))
    return g, bb


def transfer_project(folder: Path, shape=(3, 32, 32), classes: int = 3, **backbone) -> Project:
    b = Builder()
    x = b.add("Input", "image", kind="image", shape=shape)
    out = b.chain(x, ("Backbone", "backbone", {"arch": "mobilenet_v3_small", "weights": "none",
                                               **backbone}),
                  ("Linear", "head", {"out_features": classes}))
    b.add("Output", "label", out)
    return b.project("t", "", {"name": "image_folder",
                               "options": {"path": str(folder), "normalize": "imagenet"}},
                     epochs=1, batch_size=16, learning_rate=3e-3, device="cpu")


def run_and_snapshot(run: TrainingRun) -> tuple[dict, dict, list]:
    """Weights when training starts and when it ends, and the events."""
    events, before = [], None
    for event in run.events():
        events.append(event)
        if isinstance(event, Started):
            before = run.snapshot()
    assert not [e for e in events if isinstance(e, Failed)], events[-1]
    assert before is not None
    after = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    return before, after, events


def changed(before: dict, after: dict, prefix: str) -> dict[str, bool]:
    return {k: not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)
            and before[k].is_floating_point()}


def write_image_folder(root: Path, per_class: int = 20, size: int = 64) -> Path:
    """Three classes of coloured shapes on noisy backgrounds, as PNG files."""
    import cv2

    rng = np.random.default_rng(0)
    for label, (name, color) in enumerate((("circle", (40, 40, 220)), ("square", (40, 200, 40)),
                                           ("triangle", (220, 60, 40)))):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
            c = rng.integers(size // 3, 2 * size // 3, 2)
            r = int(rng.integers(size // 6, size // 4))
            if label == 0:
                cv2.circle(img, (int(c[0]), int(c[1])), r, color, -1)
            elif label == 1:
                cv2.rectangle(img, (int(c[0] - r), int(c[1] - r)), (int(c[0] + r), int(c[1] + r)),
                              color, -1)
            else:
                pts = np.array([[c[0], c[1] - r], [c[0] - r, c[1] + r], [c[0] + r, c[1] + r]],
                               dtype=np.int32)
                cv2.fillPoly(img, [pts], color)
            cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("shapes"))


# ---- every architecture against torchvision ---------------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_builds_and_its_table_matches_torchvision(arch: str) -> None:
    table = ARCHS[arch]
    graph, node = backbone_graph((3, 64, 48), arch=arch)
    analysis = analyze(graph)
    assert analysis.is_valid, analysis.summary()
    info = analysis.info[node.id]
    model = compile_graph(graph, analysis).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        out = model(torch.randn(2, 3, 64, 48))
    assert tuple(out.shape) == (2, *info.outputs["out"].dims) == (2, table.features)
    assert flops.get_total_flops() == 2 * 2 * info.macs
    backbone = model.backbone
    assert sum(p.numel() for p in backbone.parameters()) == info.params == table.params
    for i, expected in enumerate(table.block_params):
        assert sum(p.numel() for m in backbone.block_modules(i) for p in m.parameters()) == \
            expected, f"{arch} block {i}"
    # The feature map: C x ceil(H/32) x ceil(W/32), whatever the size.
    graph, node = backbone_graph((3, 33, 70), arch=arch, output="feature_map")
    analysis = analyze(graph)
    with torch.no_grad():
        fmap = compile_graph(graph, analysis).eval()(torch.randn(1, 3, 33, 70))
    assert tuple(fmap.shape[1:]) == analysis.info[node.id].outputs["out"].dims == \
        (table.features, 2, 3)


def test_torchvision_has_the_same_feature_extractor_keys() -> None:
    """A torchvision state_dict (classifier included) loads into the backbone as it is."""
    full = torchvision.models.mobilenet_v3_small().state_dict()
    backbone = Backbone("mobilenet_v3_small")
    backbone.load_features(full, "memory")
    assert torch.equal(backbone.state_dict()["features.0.0.weight"], full["features.0.0.weight"])
    assert set(backbone.state_dict()) == {k for k in full if not k.startswith("classifier.")}


# ---- freezing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,n", [("resnet18", 0), ("resnet18", 2), ("mobilenet_v3_small", 3),
                                    ("efficientnet_b0", 9)])
def test_unfreeze_last_n_makes_exactly_those_blocks_trainable(arch: str, n: int) -> None:
    graph, node = backbone_graph(arch=arch, freeze=True, unfreeze_last=n)
    analysis = analyze(graph)
    backbone = compile_graph(graph, analysis).backbone
    blocks = len(ARCHS[arch].block_params)
    for i in range(blocks):
        flags = {p.requires_grad for m in backbone.block_modules(i) for p in m.parameters()}
        assert flags == {i >= blocks - n}, f"block {i}"
    trainable = sum(p.numel() for p in backbone.parameters() if p.requires_grad)
    assert trainable == analysis.info[node.id].trainable == analysis.total_trainable
    assert trainable == sum(ARCHS[arch].block_params[blocks - n:]) if n else trainable == 0
    backbone.train()  # frozen blocks stay in eval mode; unfrozen ones train
    for i in range(blocks):
        assert {m.training for m in backbone.block_modules(i)} == {i >= blocks - n}


def test_unfrozen_backbone_trains_everything() -> None:
    graph, node = backbone_graph(arch="resnet18", freeze=False, unfreeze_last=1)
    analysis = analyze(graph)
    model = compile_graph(graph, analysis)
    assert all(p.requires_grad for p in model.parameters())
    assert analysis.info[node.id].trainable == analysis.info[node.id].params == \
        ARCHS["resnet18"].params


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local weights file: a full torchvision state_dict, as saved on a connected machine.

    Random weights whose batch-norm statistics were measured on noise images: with the
    statistics of a fresh model (mean 0, var 1) the depthwise layers shrink every signal to
    almost nothing in eval mode, and a frozen backbone would give the head nothing to learn.
    """
    torch.manual_seed(5)
    model = torchvision.models.mobilenet_v3_small()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 64, 64))
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v3_small.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("unfreeze_last", [0, 2])
def test_frozen_weights_stay_fixed_while_the_head_learns(image_folder: Path,
                                                         mobilenet_weights: Path,
                                                         unfreeze_last: int) -> None:
    project = transfer_project(image_folder, weights="file",
                               weights_file=str(mobilenet_weights), unfreeze_last=unfreeze_last)
    run = TrainingRun(project)
    before, after, events = run_and_snapshot(run)
    # The weights file was loaded when the run started.
    saved = torch.load(mobilenet_weights, weights_only=True)
    for key in ("features.0.0.weight", "features.12.1.running_mean"):
        assert torch.equal(before[f"backbone.{key}"], saved[key])
    started = next(e for e in events if isinstance(e, Started))
    trainable = analyze(project.graph).total_trainable
    assert started.trainable_parameters == trainable < started.parameters
    moved = changed(before, after, "backbone.")
    last = [f"backbone.features.{i}." for i in range(13 - unfreeze_last, 13)]
    for key, did in moved.items():
        # frozen: weights and batch-norm statistics untouched; unfrozen blocks learn
        assert did == any(key.startswith(p) for p in last), key
    assert all(changed(before, after, "head.").values())


def test_nothing_to_train_is_a_clear_error(image_folder: Path) -> None:
    b = Builder()
    x = b.add("Input", "image", kind="image", shape=(3, 32, 32))
    bb = b.add("Backbone", "backbone", x, arch="mobilenet_v3_small", weights="none")
    # a head without parameters: 576 features -> 3 class scores (max of each third)
    thirds = b.add("Reshape", "thirds", bb, shape=(3, 192))
    pooled = b.add("MaxPool1d", "pool", thirds, kernel_size=192)
    b.add("Output", "label", b.add("Flatten", "flat", pooled))
    project = b.project("t", "", {"name": "image_folder", "options": {"path": str(image_folder)}},
                        epochs=1, device="cpu", loss="cross_entropy")
    (failed,) = [e for e in train(project) if isinstance(e, Failed)]
    assert "every layer is frozen" in failed.message


# ---- weights files ----------------------------------------------------------------------------

def test_a_wrong_weights_file_names_the_node_and_the_fix(tmp_path: Path,
                                                         image_folder: Path) -> None:
    resnet = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), resnet)
    project = transfer_project(image_folder, weights="file", weights_file=str(resnet))
    (failed,) = [e for e in train(project) if isinstance(e, Failed)]
    assert "Backbone 'backbone'" in failed.message
    assert "do not fit mobilenet_v3_small" in failed.message
    assert "choose a local weights file" in failed.message
    assert failed.node_name == "backbone"  # the canvas can mark it

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a weights file")
    backbone = Backbone("resnet18", weights="file", weights_file=str(garbage))
    with pytest.raises(PretrainedError, match="not a readable weights file"):
        backbone.load_pretrained()
    code = tmp_path / "code.pth"
    torch.save({"w": torch.zeros(1), "f": Path("x")}, code)  # not plain data
    with pytest.raises(PretrainedError, match="refused"):
        Backbone("resnet18", weights="file", weights_file=str(code)).load_pretrained()
    with pytest.raises(PretrainedError, match="not found: choose a local weights file"):
        Backbone("resnet18", weights="file", weights_file=str(tmp_path / "no.pth")) \
            .load_pretrained()


def test_imagenet_weights_offline_say_to_choose_a_local_file() -> None:
    graph, _ = backbone_graph(arch="resnet18", weights="imagenet")
    model = compile_graph(graph)  # building never downloads
    with pytest.raises(PretrainedError) as caught:
        load_pretrained_weights(model)
    message = str(caught.value)
    assert "Backbone 'backbone'" in message and "choose a local weights file" in message
    assert "resnet18" in message


def test_imagenet_weights_come_from_the_torch_hub_cache_without_a_download(
        mobilenet_weights: Path, tmp_path: Path) -> None:
    """What a connected machine leaves in the cache is used as it is (downloads are off)."""
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    url = torchvision.models.get_model_weights("mobilenet_v3_small").DEFAULT.url
    (cache / Path(url).name).write_bytes(mobilenet_weights.read_bytes())
    graph, _ = backbone_graph(arch="mobilenet_v3_small", weights="imagenet")
    model = compile_graph(graph)
    (line,) = load_pretrained_weights(model)
    assert "torchvision ImageNet" in line
    saved = torch.load(mobilenet_weights, weights_only=True)
    assert torch.equal(model.backbone.features[0][0].weight, saved["features.0.0.weight"])


def test_validation_reports_a_missing_weights_file(tmp_path: Path) -> None:
    graph, node = backbone_graph(weights="file", weights_file=str(tmp_path / "gone.pth"))
    (issue,) = analyze(graph).errors
    assert issue.node_id == node.id and "not found" in issue.message
    assert "choose a local weights file" in issue.message
    with pytest.raises(CompileError):
        compile_graph(graph)


# ---- imported models --------------------------------------------------------------------------

def mlp_project() -> Project:
    b = Builder()
    x = b.add("Input", "x", kind="vector", shape=(12,))
    out = b.chain(x, ("Linear", "fc1", {"out_features": 16}), ("BatchNorm1d", "bn"),
                  ("ReLU", "relu"), ("Linear", "fc2", {"out_features": 6}))
    b.add("Output", "y", out)
    return b.project("features", "", {"name": "digits", "options": {}})


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A LayerForge checkpoint (an MLP on 12 features) and a TorchScript file (the digits CNN
    traced), both made here."""
    import warnings

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    project = mlp_project()
    model = compile_graph(project.graph)
    with torch.no_grad():  # non-trivial batch-norm statistics
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    ckpt = folder / "mlp.pt"
    save_checkpoint(ckpt, Checkpoint(project=project, state_dict=model.state_dict(),
                                     normalization={}, task="classification",
                                     class_names=None, epoch=0))
    cnn = compile_graph(build_template("digits-cnn").graph).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.14: jit.trace is deprecated (still loads)
        traced = torch.jit.trace(cnn, torch.randn(2, 1, 16, 16))
    script = folder / "digits_cnn.pt"
    traced.save(str(script))
    return {"checkpoint": ckpt, "torchscript": script}


def test_describe_reads_shapes_and_parameters_from_the_files(model_files) -> None:
    ckpt = describe_model_file(str(model_files["checkpoint"]))
    assert (ckpt.format, ckpt.input_shape, ckpt.output_shape) == ("checkpoint", (12,), (6,))
    assert ckpt.param_count == 12 * 16 + 16 + 32 + 16 * 6 + 6
    ts = describe_model_file(str(model_files["torchscript"]), (1, 16, 16))
    assert (ts.format, ts.input_shape, ts.output_shape) == ("torchscript", (1, 16, 16), (10,))
    assert ts.param_count == analyze(build_template("digits-cnn").graph).total_params
    with pytest.raises(PretrainedError, match="connect the node's input first"):
        describe_model_file(str(model_files["torchscript"]))
    with pytest.raises(PretrainedError, match="does not take"):
        describe_model_file(str(model_files["torchscript"]), (3, 16, 16))


def test_unreadable_model_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PretrainedError, match="not found"):
        describe_model_file(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(PretrainedError, match="neither a TorchScript file nor a LayerForge"):
        describe_model_file(str(junk))
    text = tmp_path / "notes.pt"
    torch.save({"note": "plain data, no network"}, text)
    with pytest.raises(PretrainedError, match="not a LayerForge checkpoint"):
        describe_model_file(str(text))


def imported_project(path: Path, description, fine_tune: bool, shape, classes: int = 3):
    b = Builder()
    kind = "image" if len(shape) == 3 else "vector"
    x = b.add("Input", "x", kind=kind, shape=shape)
    out = b.chain(x, ("ImportedModel", "imported", {"path": str(path), "fine_tune": fine_tune,
                                                    **description.node_params()}),
                  ("Linear", "head", {"out_features": classes}))
    b.add("Output", "y", out)
    return b.project("imported", "", {"name": "digits", "options": {}}, epochs=1,
                     batch_size=16, learning_rate=1e-2, device="cpu")


def random_bundle(shape: tuple[int, ...], classes: int = 3, n: int = 64) -> DataBundle:
    gen = torch.Generator().manual_seed(0)

    def split(k: int) -> Split:
        return Split(torch.randn(k, *shape, generator=gen),
                     torch.randint(0, classes, (k,), generator=gen))

    return DataBundle("random", "classification", split(n), split(16), split(16), shape, (),
                      classes, [str(i) for i in range(classes)], {}, "random")


@pytest.mark.parametrize("kind,shape", [("checkpoint", (12,)), ("torchscript", (1, 16, 16))])
@pytest.mark.parametrize("fine_tune", [False, True])
def test_imported_model_runs_frozen_or_fine_tuned(model_files, kind: str, shape, fine_tune: bool):
    path = model_files[kind]
    description = describe_model_file(str(path), shape)
    project = imported_project(path, description, fine_tune, shape)
    analysis = analyze(project.graph)
    assert analysis.is_valid, analysis.summary()
    node = project.graph.find("imported")
    assert analysis.info[node.id].params == description.param_count
    assert analysis.info[node.id].trainable == (description.param_count if fine_tune else 0)
    run = TrainingRun(project, bundle=random_bundle(shape))
    before, after, _ = run_and_snapshot(run)
    moved = changed(before, after, "imported.")
    if fine_tune:  # every weight learns (a traced model keeps its batch-norm statistics)
        params = {f"imported.{k}" for k, _ in run.model.imported.named_parameters()}
        assert params and all(moved[k] for k in params), moved
    else:  # frozen: weights and batch-norm statistics untouched
        assert moved and not any(moved.values()), moved
    assert all(changed(before, after, "head.").values())
    assert isinstance(run.model.imported, ImportedModel)
    run.model.train()
    assert run.model.imported.inner.training == fine_tune  # frozen: eval mode always


def test_imported_checkpoint_keeps_its_trained_weights(model_files) -> None:
    path = model_files["checkpoint"]
    description = describe_model_file(str(path))
    graph = imported_project(path, description, False, (12,)).graph
    model = compile_graph(graph)
    saved = load_checkpoint(path).state_dict
    assert torch.equal(model.state_dict()["imported.inner.bn.running_mean"],
                       saved["bn.running_mean"])


def test_a_checkpoint_with_a_backbone_keeps_its_trained_backbone(tmp_path: Path) -> None:
    """Importing your own transfer model: its backbone's weights come from the checkpoint, so
    starting a run fetches nothing (downloads are off here: a fetch would fail)."""
    graph, _ = backbone_graph(arch="mobilenet_v3_small", weights="imagenet")
    inner = compile_graph(graph)
    path = tmp_path / "transfer.pt"
    save_checkpoint(path, Checkpoint(Project(graph), inner.state_dict(), {}, "classification",
                                     None, 0))
    description = describe_model_file(str(path))
    assert description.output_shape == (576,)
    model = compile_graph(imported_project(path, description, False, (3, 32, 32)).graph)
    assert load_pretrained_weights(model) == []
    key = "features.0.0.weight"
    assert torch.equal(model.state_dict()[f"imported.inner.backbone.{key}"],
                       inner.state_dict()[f"backbone.{key}"])


def test_imported_model_node_errors(model_files, tmp_path: Path) -> None:
    path = model_files["checkpoint"]
    description = describe_model_file(str(path))
    project = imported_project(path, description, False, (10,))
    (issue,) = analyze(project.graph).errors
    assert "expects (N, 12) but 'x' gives (N, 10)" in issue.message

    graph = Graph()
    node = graph.add_node("ImportedModel", name="imported")
    x = graph.add_node("Input", name="x", params={"kind": "vector", "shape": (12,)})
    graph.connect(Edge(x.id, "out", node.id, "in"))
    graph.add_node("Output", name="y")
    graph.connect(Edge(node.id, "out", graph.find("y").id, "in"))
    assert "no model file chosen" in analyze(graph).summary()
    graph.set_param(node.id, "path", str(tmp_path / "moved.pt"))
    assert "moved.pt not found" in analyze(graph).summary()
    graph.set_param(node.id, "path", str(path))
    assert "has not been read yet: choose it again" in analyze(graph).summary()
    for key, value in description.node_params().items():
        graph.set_param(node.id, key, value)
    assert analyze(graph).is_valid
    graph.set_param(node.id, "output_shape", (7,))  # the file changed since it was read
    with pytest.raises(PretrainedError, match="changed since it was chosen"):
        compile_graph(graph)


# ---- the transfer template --------------------------------------------------------------------

def test_transfer_template_trains_on_an_image_folder(image_folder: Path, mobilenet_weights: Path,
                                                    tmp_path: Path) -> None:
    project = build_template("transfer")
    graph = project.graph
    assert analyze(graph).is_valid
    assert graph.find("backbone").params["freeze"] is True
    graph.set_param(graph.find("image").id, "shape", (3, 64, 64))
    backbone = graph.find("backbone").id
    graph.set_param(backbone, "weights", "file")  # tests never download
    graph.set_param(backbone, "weights_file", str(mobilenet_weights))
    graph.set_param(graph.find("head").id, "out_features", 3)
    project.dataset["options"]["path"] = str(image_folder)
    events = train(project, out_dir=tmp_path, epochs=3, learning_rate=1e-2, device="cpu")
    assert not [e for e in events if isinstance(e, Failed)], events[-1]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].val_loss < math.log(3)  # better than guessing among 3 classes
    finished = next(e for e in events if isinstance(e, Finished))
    ckpt = load_checkpoint(finished.checkpoint)
    assert ckpt.normalization["mean"] == [0.485, 0.456, 0.406]  # ImageNet's, for the backbone
    assert ckpt.class_names == ["circle", "square", "triangle"]


def serve_as(monkeypatch: pytest.MonkeyPatch, url: str, path: Path) -> None:
    """Answer requests for ``url`` with the local file ``path`` (no network)."""
    import urllib.request

    real_urlopen = urllib.request.urlopen

    def urlopen(request, *args, **kwargs):
        asked = request.full_url if hasattr(request, "full_url") else request
        assert asked == url, f"unexpected download of {asked}"
        return real_urlopen(path.as_uri(), *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_imagenet_weights_download_once_with_progress_into_the_hub_cache(
        mobilenet_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import backend.compile.backbones as pretrained
    from backend.data import reporting

    monkeypatch.delenv(OFFLINE_ENV)
    url = torchvision.models.get_model_weights("mobilenet_v3_small").DEFAULT.url
    serve_as(monkeypatch, url, mobilenet_weights)
    # the test's weights are not the published file: take their own hash as the name's
    real = hashlib.sha256(mobilenet_weights.read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(pretrained, "hub_hash_prefix", lambda path: real)
    graph, _ = backbone_graph(arch="mobilenet_v3_small", weights="imagenet")
    model = compile_graph(graph)
    seen = []
    with reporting(seen.append):
        (line,) = load_pretrained_weights(model)
    assert "torchvision ImageNet" in line
    assert seen and seen[-1].done == seen[-1].total == mobilenet_weights.stat().st_size
    assert "ImageNet weights of mobilenet_v3_small" in seen[-1].describe()
    cached = tmp_path / "torch-home" / "hub" / "checkpoints" / Path(url).name
    assert cached.read_bytes() == mobilenet_weights.read_bytes()
    saved = torch.load(mobilenet_weights, weights_only=True)
    assert torch.equal(model.backbone.features[0][0].weight, saved["features.0.0.weight"])


def test_a_corrupt_weights_download_is_refused_and_not_kept(
        mobilenet_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OFFLINE_ENV)
    url = torchvision.models.get_model_weights("mobilenet_v3_small").DEFAULT.url
    serve_as(monkeypatch, url, mobilenet_weights)  # not the file whose hash the name carries
    graph, _ = backbone_graph(arch="mobilenet_v3_small", weights="imagenet")
    with pytest.raises(PretrainedError, match="corrupt.*choose a local weights file"):
        load_pretrained_weights(compile_graph(graph))
    assert not any((tmp_path / "torch-home" / "hub" / "checkpoints").iterdir())
