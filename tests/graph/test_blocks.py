"""Blocks: group layers into one node, use it twice, edit it once, ungroup, save and reopen."""
from __future__ import annotations

import json

import pytest

from graph.blocks import AddBlock, GroupIntoBlock, RenameBlock, Ungroup, used_definitions
from graph.commands import SetParam
from graph.errors import GraphEditError, ProjectFileError
from graph.model import Edge, Graph
from graph.project import FORMAT_VERSION, Project, parse_project, project_from_dict
from graph.templates import build_template
from graph.validate import analyze

BLOCK1 = ["block1_conv1", "block1_bn1", "block1_relu", "block1_conv2", "block1_bn2",
          "block1_add", "block1_out"]


def residual_project():
    return build_template("residual-cnn")


def ids(graph: Graph, names: list[str]) -> list[str]:
    return [graph.find(n).id for n in names]


def outputs(graph: Graph) -> dict[str, tuple]:
    analysis = analyze(graph)
    assert analysis.is_valid, analysis.summary()
    return {n.name: analysis.info[n.id].inputs["in"].dims for n in graph.nodes
            if n.type == "Output"}


def test_grouping_keeps_the_network_and_undo_restores_it():
    project = residual_project()
    g = project.graph
    before, shapes, params = g.signature(), outputs(g), analyze(g).total_params
    command = GroupIntoBlock(g, ids(g, BLOCK1), "Residual")
    command.do()
    block = g.node(command.block_node_id)
    assert block.type == "Block" and block.type_label == "Residual"
    assert block.label() == "block Residual 'residual1'"
    assert [p.name for p in block.spec.input_ports(block.params)] == ["x"]
    assert [p.name for p in block.spec.output_ports(block.params)] == ["out"]
    assert not any(n.name in BLOCK1 for n in g.nodes)
    assert outputs(g) == shapes and analyze(g).total_params == params
    inner = g.blocks["Residual"].graph
    assert {n.name for n in inner.nodes} == set(BLOCK1) | {"x", "out"}
    command.undo()
    assert g.signature() == before and not g.blocks
    command.do()  # redo
    assert g.node(command.block_node_id).block is g.blocks["Residual"]


def test_grouping_refuses_inputs_outputs_and_nothing():
    g = residual_project().graph
    with pytest.raises(GraphEditError, match="Input 'image' cannot go into a block"):
        GroupIntoBlock(g, ids(g, ["image", "stem"]))
    with pytest.raises(GraphEditError, match="select the layers"):
        GroupIntoBlock(g, [])
    with pytest.raises(GraphEditError, match="must start with a letter"):
        GroupIntoBlock(g, ids(g, ["stem"]), "2fast")


def test_ungroup_puts_the_layers_back_and_undo_brings_the_block_back():
    g = residual_project().graph
    shapes, params = outputs(g), analyze(g).total_params
    group = GroupIntoBlock(g, ids(g, BLOCK1), "Residual")
    group.do()
    grouped = g.signature()
    ungroup = Ungroup(g, group.block_node_id)
    ungroup.do()
    assert {n.name for n in g.nodes} >= set(BLOCK1)
    assert outputs(g) == shapes and analyze(g).total_params == params
    assert "Residual" not in g.blocks  # nothing uses it any more
    ungroup.undo()
    assert g.signature() == grouped


def test_two_instances_share_one_definition_and_an_edit_inside_changes_both():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "image", "shape": (3, 16, 16)})
    a = g.add_node("Conv2d", name="conv", params={"out_channels": 8, "padding": (1, 1)})
    r = g.add_node("ReLU", name="act")
    out = g.add_node("Output", name="y")
    for s, t in ((x, a), (a, r), (r, out)):
        g.connect(Edge(s.id, "out", t.id, "in"))
    group = GroupIntoBlock(g, [a.id, r.id], "ConvAct")
    group.do()
    first = g.node(group.block_node_id)
    second_cmd = AddBlock(g, g.blocks["ConvAct"], (0, 300))
    second_cmd.do()
    second = g.node(second_cmd.node_id)
    assert second.block is first.block and second.name == "conv_act2"
    g.disconnect(Edge(first.id, "out", out.id, "in"))
    g.connect(Edge(first.id, "out", second.id, "x"))
    g.connect(Edge(second.id, "out", out.id, "in"))
    analysis = analyze(g)
    assert analysis.info[second.id].inputs["x"].dims == (8, 16, 16)
    assert analysis.info[first.id].params == analysis.info[second.id].params - 8 * 5 * 9
    inner = g.blocks["ConvAct"].graph
    events = []
    g.subscribe(events.append)
    edit = SetParam(inner, inner.find("conv").id, "out_channels", 4)
    edit.do()
    assert [e.kind for e in events] == ["block_changed"] and events[0].name == "ConvAct"
    assert outputs(g) == {"y": (4, 16, 16)}
    edit.undo()
    assert outputs(g) == {"y": (8, 16, 16)}


def test_a_shape_error_inside_names_the_block_and_the_inner_node():
    g = residual_project().graph
    group = GroupIntoBlock(g, ids(g, BLOCK1), "Residual")
    group.do()
    inner = g.blocks["Residual"].graph
    inner.set_param(inner.find("block1_conv2").id, "out_channels", 16)
    errors = analyze(g).errors
    assert len(errors) == 1
    assert errors[0].node_id == group.block_node_id
    assert "block Residual 'residual1'" in errors[0].message
    assert "inside block Residual: Add 'block1_add'" in errors[0].message


def test_a_block_with_two_outputs_has_two_ports_each_with_its_shape():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": (6,)})
    a = g.add_node("Linear", name="a", params={"out_features": 3})
    b = g.add_node("Linear", name="b", params={"out_features": 5})
    oa, ob = g.add_node("Output", name="ya"), g.add_node("Output", name="yb")
    for s, t in ((x, a), (x, b), (a, oa), (b, ob)):
        g.connect(Edge(s.id, "out", t.id, "in"))
    group = GroupIntoBlock(g, [a.id, b.id], "TwoHeads")
    group.do()
    node = g.node(group.block_node_id)
    assert [p.name for p in node.spec.output_ports(node.params)] == ["out1", "out2"]
    analysis = analyze(g)
    assert analysis.info[node.id].outputs == {"out1": analysis.info[node.id].outputs["out1"],
                                              "out2": analysis.info[node.id].outputs["out2"]}
    assert outputs(g) == {"ya": (3,), "yb": (5,)}


def test_project_file_stores_each_definition_once_and_reopens_it():
    project = residual_project()
    g = project.graph
    GroupIntoBlock(g, ids(g, BLOCK1), "Residual").do()
    AddBlock(g, g.blocks["Residual"], (500, 0)).do()  # a second, unconnected instance
    data = json.loads(project.dumps())
    assert data["format_version"] == FORMAT_VERSION
    assert [b["name"] for b in data["blocks"]] == ["Residual"]
    assert [n["params"] for n in data["nodes"] if n["type"] == "Block"] == \
        [{"block": "Residual"}] * 2
    loaded = parse_project(project.dumps())
    assert loaded.graph.signature() == g.signature()
    a, b = [n for n in loaded.graph.nodes if n.type == "Block"]
    assert a.block is b.block is loaded.graph.blocks["Residual"]


def test_nested_blocks_are_written_inner_first_and_reopen():
    project = residual_project()
    g = project.graph
    GroupIntoBlock(g, ids(g, ["block1_conv1", "block1_bn1", "block1_relu"]), "ConvBNAct").do()
    outer = GroupIntoBlock(g, ids(g, ["conv_bn_act1", "block1_conv2", "block1_bn2",
                                      "block1_add", "block1_out"]), "Residual")
    outer.do()
    assert [d.name for d in used_definitions(g)] == ["ConvBNAct", "Residual"]
    shapes = outputs(g)
    loaded = parse_project(project.dumps())
    assert outputs(loaded.graph) == shapes
    assert loaded.graph.signature() == g.signature()


@pytest.mark.parametrize("change,reason", [
    (lambda d: d["nodes"].append({"id": "z", "type": "Block", "name": "ghost",
                                  "params": {"block": "Nowhere"}}),
     "is an instance of block 'Nowhere', which is not defined in the file"),
    (lambda d: d["blocks"][0]["nodes"].append(
        {"id": "z", "type": "Block", "name": "again", "params": {"block": "Residual"}}),
     "block Residual: node 10 is an instance of block 'Residual', which is not defined "
     "before it in the file"),
    (lambda d: d["blocks"].append(dict(d["blocks"][0])), "repeated name 'Residual'"),
    (lambda d: d["blocks"][0].update(name="no spaces"), "invalid or repeated name"),
])
def test_bad_block_definitions_are_refused_with_a_reason(change, reason):
    project = residual_project()
    g = project.graph
    GroupIntoBlock(g, ids(g, BLOCK1), "Residual").do()
    data = json.loads(project.dumps())
    change(data)
    with pytest.raises(ProjectFileError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        project_from_dict(data, "bad.json")


def test_a_version_2_file_opens_with_no_blocks():
    data = json.loads(residual_project().dumps())
    del data["blocks"]
    data["format_version"] = 2
    loaded = project_from_dict(data)
    assert not loaded.graph.blocks and analyze(loaded.graph).is_valid


def test_adding_a_library_block_copies_it_and_reuses_an_identical_one():
    library = residual_project().graph
    GroupIntoBlock(library, ids(library, BLOCK1), "Residual").do()
    definition = library.blocks["Residual"]
    g = residual_project().graph
    first = AddBlock(g, definition, (0, 0))
    first.do()
    mine = g.blocks["Residual"]
    assert mine is not definition and mine.graph.signature(False) == \
        definition.graph.signature(False)
    AddBlock(g, definition, (0, 200)).do()  # identical: the project's copy is used again
    assert list(g.blocks) == ["Residual"]
    inner = mine.graph
    inner.set_param(inner.find("block1_conv1").id, "out_channels", 8)  # now it differs
    third = AddBlock(g, definition, (0, 400))
    third.do()
    assert list(g.blocks) == ["Residual", "Residual2"]
    assert g.node(third.node_id).block.name == "Residual2"
    third.undo()
    assert list(g.blocks) == ["Residual"]
    first.undo()


def test_renaming_a_block_renames_every_instance():
    g = residual_project().graph
    group = GroupIntoBlock(g, ids(g, BLOCK1), "Residual")
    group.do()
    rename = RenameBlock(g, "Residual", "BasicBlock")
    rename.do()
    node = g.node(group.block_node_id)
    assert node.params["block"] == "BasicBlock" and node.type_label == "BasicBlock"
    assert node.name == "basic_block1"  # it had the old name's default name: it follows
    assert list(g.blocks) == ["BasicBlock"]
    rename.undo()
    assert list(g.blocks) == ["Residual"] and node.params["block"] == "Residual"
    assert node.name == "residual1"
    with pytest.raises(GraphEditError, match="reserved"):
        RenameBlock(g, "Residual", "Network")


def test_built_in_blocks_are_valid_and_a_nested_one_comes_in_with_its_parts():
    from graph.block_library import built_in_blocks

    blocks = {d.name: d for d in built_in_blocks()}
    assert {"ConvBNAct", "ResidualBasic", "ResidualBottleneck", "Inception", "DenseBlock",
            "Fire", "SqueezeExcitation", "MBConv", "TransformerEncoderBlock",
            "PatchEmbedding"} <= set(blocks)
    for definition in blocks.values():
        assert analyze(definition.graph).is_valid, definition.name
    g = residual_project().graph
    add = AddBlock(g, blocks["MBConv"], (0, 0))
    add.do()
    assert list(g.blocks) == ["SqueezeExcitation", "MBConv"]
    inner_se = g.blocks["MBConv"].graph.find("se")
    assert inner_se.block is g.blocks["SqueezeExcitation"]  # the project's copy, not the library's
    assert inner_se.block is not blocks["SqueezeExcitation"]
    saved = parse_project(Project(g).dumps())
    assert list(saved.graph.blocks) == ["SqueezeExcitation", "MBConv"]
    add.undo()
    assert not g.blocks


def test_a_block_cannot_be_added_inside_itself():
    g = residual_project().graph
    GroupIntoBlock(g, ids(g, BLOCK1), "Residual").do()
    definition = g.blocks["Residual"]
    with pytest.raises(GraphEditError, match="cannot contain itself"):
        AddBlock(definition.graph, definition)
