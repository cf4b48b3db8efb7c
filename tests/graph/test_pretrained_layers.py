"""Backbone and ImportedModel specs without torch: shapes, parameter and trainable counts,
readable errors, the transfer template, and file parameters in the JSON project file."""
from __future__ import annotations

from math import ceil
from pathlib import Path

import pytest

from graph.commands import SetParam
from graph.layers import CATALOGUE, get_spec
from graph.layers.base import ParamSpec
from graph.layers.pretrained import ARCHS, backbone_trainable
from graph.model import Edge, Graph
from graph.project import Project, parse_project
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze


def chain(shape, type_name: str, params: dict, kind: str = "image"):
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": kind, "shape": shape})
    node = g.add_node(type_name, name="layer", params=params)
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", node.id, "in"))
    g.connect(Edge(node.id, "out", out.id, "in"))
    return g, node


def test_pretrained_layers_are_in_the_catalogue() -> None:
    assert CATALOGUE["Backbone"].category == CATALOGUE["ImportedModel"].category == "Pretrained"
    assert CATALOGUE["Backbone"].module == "pretrained.Backbone"


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_backbone_shapes_and_counts_per_arch(arch: str) -> None:
    table = ARCHS[arch]
    g, node = chain((3, 96, 80), "Backbone", {"arch": arch, "weights": "none"})
    a = analyze(g)
    assert a.is_valid, a.summary()
    info = a.info[node.id]
    assert info.outputs["out"].dims == (table.features,)
    assert info.params == sum(table.block_params) and info.trainable == 0  # frozen by default
    assert info.macs == table.macs_for(96, 80) > table.macs_for(64, 64)
    g.set_param(node.id, "output", "feature_map")
    assert analyze(g).info[node.id].outputs["out"].dims == (table.features, 3, 3)
    g.set_param(node.id, "freeze", False)
    assert analyze(g).info[node.id].trainable == info.params


def test_feature_map_size_rounds_up_five_halvings() -> None:
    for h, w in ((32, 32), (33, 63), (224, 224), (100, 37)):
        g, node = chain((3, h, w), "Backbone", {"weights": "none", "output": "feature_map"})
        assert analyze(g).info[node.id].outputs["out"].dims == (512, ceil(h / 32), ceil(w / 32))


def test_trainable_counts_follow_unfreeze_last() -> None:
    params = {"arch": "resnet18", "freeze": True, "unfreeze_last": 0}
    assert backbone_trainable(params) == 0
    blocks = ARCHS["resnet18"].block_params
    assert backbone_trainable({**params, "unfreeze_last": 1}) == blocks[-1]  # layer4
    assert backbone_trainable({**params, "unfreeze_last": 5}) == sum(blocks)
    assert backbone_trainable({**params, "freeze": False}) == sum(blocks)


@pytest.mark.parametrize("shape,params,words", [
    ((1, 64, 64), {}, "set the Input to 3 channels"),
    ((3, 16, 64), {}, "at least 32×32 pixels"),
    ((3, 64, 64), {"arch": "resnet18", "unfreeze_last": 6}, "resnet18 has 5 blocks"),
    ((3, 64, 64), {"weights": "file"}, "no weights file chosen: choose a local weights file"),
    ((3, 64, 64), {"weights": "file", "weights_file": "/no/such/w.pth"},
     "/no/such/w.pth not found: choose a local weights file"),
])
def test_backbone_errors_say_what_to_do(shape, params, words: str) -> None:
    g, node = chain(shape, "Backbone", {"weights": "none", **params})
    (issue,) = analyze(g).errors
    assert issue.node_id == node.id and words in issue.message, issue.message


def test_backbone_on_a_flat_vector_is_refused() -> None:
    g, _ = chain((3072,), "Backbone", {"weights": "none"}, kind="vector")
    (issue,) = analyze(g).errors
    assert "expects (N, 3, H, W) but 'x' gives (N, 3072)" in issue.message


def test_a_weights_file_that_exists_is_accepted(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"")  # validation only checks that it is there; training reads it
    g, _ = chain((3, 64, 64), "Backbone", {"weights": "file", "weights_file": str(weights)})
    assert analyze(g).is_valid


def described(path: Path) -> dict:
    return {"path": str(path), "format": "checkpoint", "input_shape": (12,),
            "output_shape": (6,), "param_count": 322}


def test_imported_model_shapes_come_from_its_recorded_params(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    g, node = chain((12,), "ImportedModel", described(model), kind="vector")
    a = analyze(g)
    assert a.is_valid, a.summary()
    info = a.info[node.id]
    assert info.outputs["out"].dims == (6,) and (info.params, info.trainable) == (322, 0)
    g.set_param(node.id, "fine_tune", True)
    assert analyze(g).info[node.id].trainable == 322
    g2, _ = chain((1, 3, 4), "ImportedModel", described(model))
    assert "expects (N, 12) but 'x' gives (N, 1, 3, 4)" in analyze(g2).summary()


def test_imported_model_without_a_file_says_to_choose_one(tmp_path: Path) -> None:
    g, node = chain((12,), "ImportedModel", {}, kind="vector")
    assert "no model file chosen: choose a TorchScript file or a LayerForge checkpoint" in \
        analyze(g).summary()
    g.set_param(node.id, "path", str(tmp_path / "gone.pt"))
    assert "gone.pt not found" in analyze(g).summary()


def test_file_parameters_are_plain_strings() -> None:
    spec = get_spec("Backbone").param_index["weights_file"]
    assert spec.kind == "file" and spec.file_filter and spec.coerce("a/b.pth") == "a/b.pth"
    assert spec.problem(3) is not None
    derived = [p.name for p in get_spec("ImportedModel").params if p.derived]
    assert derived == ["format", "input_shape", "output_shape", "param_count"]
    with pytest.raises(AssertionError):
        ParamSpec("x", "path", "")  # unknown kinds are refused


def test_project_file_keeps_file_params_as_json(tmp_path: Path) -> None:
    g, node = chain((3, 64, 64), "Backbone", {"weights": "file",
                                              "weights_file": str(tmp_path / "ü w.pth")})
    project = Project(g)
    text = project.dumps()
    assert '"weights_file"' in text
    loaded = parse_project(text, "p.json")
    assert loaded.graph.node(node.id).params == g.node(node.id).params


def test_set_param_on_a_file_parameter_undoes(tmp_path: Path) -> None:
    g, node = chain((12,), "ImportedModel", {}, kind="vector")
    cmd = SetParam(g, node.id, "path", str(tmp_path / "a.pt"))
    cmd.do()
    assert g.node(node.id).params["path"].endswith("a.pt")
    cmd.undo()
    assert g.node(node.id).params["path"] == ""


def test_transfer_template_is_a_frozen_backbone_and_a_new_head() -> None:
    assert "transfer" in TEMPLATES
    project = build_template("transfer")
    a = analyze(project.graph)
    assert a.is_valid, a.summary()
    backbone, head = project.graph.find("backbone"), project.graph.find("head")
    assert backbone.params["freeze"] and backbone.params["weights"] == "imagenet"
    assert a.info[backbone.id].trainable == 0
    assert a.total_trainable == a.info[head.id].params == 576 * 2 + 2 < a.total_params
    assert project.dataset["name"] == "image_folder"
    assert project.dataset["options"]["normalize"] == "imagenet"
