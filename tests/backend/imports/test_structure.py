"""Imported networks come in structured as blocks along the model's own module hierarchy
(backend/imports/structure.py): ``layer1.0`` becomes a block, identical bodies share one
definition, the weights follow the nested state_dict keys, and a module whose layers cannot be
grouped stays flat without failing the import."""
from __future__ import annotations

import textwrap

import pytest
import torch
import torchvision
from torch import nn

import backend.imports.building as building
from backend.checkpoint import load_checkpoint, save_checkpoint
from backend.compile.codegen import generate_code
from backend.compile.compiler import compile_graph
from backend.imports.torch_fx import import_module, import_python, load_python_model
from graph.blocks import GroupIntoBlock
from graph.project import parse_project
from graph.templates import build_template
from graph.validate import analyze

NESTED = '''
import torch
from torch import nn


class ConvBN(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, features):
        return self.act(self.bn(self.conv(features)))


class Stage(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.blocks = nn.Sequential(ConvBN(channels), ConvBN(channels))
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        y = self.proj(self.blocks(x))
        return y + x


class Gate(nn.Module):
    """Two inputs, passed in the other order than they are computed."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, context, x):
        g = torch.sigmoid(self.fc(context))
        return x * g


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.stages = nn.Sequential(Stage(8), Stage(8))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.context = nn.Linear(8, 8)
        self.gate = Gate()
        self.fc = nn.Linear(8, 4)

    def forward(self, image):
        v = self.head(self.stages(self.stem(image)))
        c = torch.tanh(self.context(v))
        return self.fc(self.gate(c, v))


class Shared(nn.Module):
    """``block`` is called twice with another layer between: its two calls interleave."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
        self.middle = nn.Linear(6, 6)
        self.inner = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6))

    def forward(self, x):
        y = self.block(self.inner(x))
        return self.block(self.middle(y))


class TwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return torch.sigmoid(self.b(h)), h  # the ports follow the return order


class Cumulate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return torch.cumsum(self.fc(x), dim=1)  # no layer: an Opaque node inside the block


class WithOpaque(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Cumulate()
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.inner(x))


class Fork(nn.Module):
    """A module returning two values: a block with two outputs."""

    def __init__(self):
        super().__init__()
        self.split = TwoOut()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        g, h = self.split(x)
        return self.fc(h * g)
'''


@pytest.fixture(scope="module")
def nested_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "nested.py"
    path.write_text(NESTED)
    return path


def names(graph):
    return [n.name for n in graph.nodes]


def layers(graph, prefix=""):
    """{dotted path: node} of every layer, through the block instances."""
    out = {}
    for node in graph.nodes:
        if node.block is not None:
            out.update(layers(node.block.graph, f"{prefix}{node.name}."))
        elif node.type not in ("Input", "Output") or not prefix:
            out[f"{prefix}{node.name}"] = node
    return out


def check_weights_and_file(result, original, *inputs):
    """The weights load strictly into the compiled nested module, the outputs match the
    original's, and the project file keeps the structure."""
    graph = result.project.graph
    model = compile_graph(graph).eval()
    assert set(model.state_dict()) == set(result.state_dict)
    model.load_state_dict(result.state_dict)
    with torch.no_grad():
        got, want = model(*inputs), original(*inputs)
    assert (got - want).abs().max().item() <= 1e-5
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5
    again = parse_project(result.project.dumps())
    assert again.dumps() == result.project.dumps()
    assert again.graph.signature() == graph.signature()
    assert analyze(again.graph).is_valid


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    original = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    with torch.no_grad():
        for m in original.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return original, import_module(original, [(3, 64, 64)])


def test_resnet18_comes_in_as_stages_of_shared_blocks(resnet18, tmp_path):
    original, result = resnet18
    graph = result.project.graph
    assert names(graph) == ["x", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                            "layer3", "layer4", "avgpool", "flatten", "fc", "output"]
    layer1 = graph.find("layer1").block
    assert layer1.name == "Layer1"
    assert names(layer1.graph) == ["x", "basic_block0", "basic_block1", "out"]
    first, second = (layer1.graph.find(n).block for n in ("basic_block0", "basic_block1"))
    assert first is second and first.name == "BasicBlock"  # identical bodies: one definition
    assert names(first.graph) == ["x", "conv1", "bn1", "relu", "conv2", "bn2", "add", "relu_1",
                                  "out"]
    layer2 = graph.find("layer2").block
    down, plain = (layer2.graph.find(n).block for n in ("basic_block0", "basic_block1"))
    assert down is not plain and down.name.startswith("BasicBlock_")
    assert down.graph.find("downsample").block.name == "Downsample"
    # 4 stages, 8 basic blocks, 3 downsamples: 15 instances; layer1's blocks share one
    instances = [n for n in layers_and_blocks(graph) if n.block is not None]
    assert len(instances) == 15 and len({n.block for n in instances}) == 14
    assert len(layers(graph)) == 71  # every node of the flat import
    assert torch.equal(result.state_dict["layer2.basic_block0.downsample.conv0.weight"],
                       original.state_dict()["layer2.0.downsample.0.weight"])
    assert torch.equal(result.state_dict["layer3.basic_block1.conv2.weight"],
                       original.state_dict()["layer3.1.conv2.weight"])
    check_weights_and_file(result, original, torch.randn(2, 3, 64, 64))
    save_checkpoint(tmp_path / "r.pt", result.checkpoint())
    loaded = load_checkpoint(tmp_path / "r.pt")
    assert loaded.project.graph.signature() == graph.signature()
    compile_graph(loaded.project.graph).load_state_dict(loaded.state_dict)


def layers_and_blocks(graph):
    for node in graph.nodes:
        yield node
        if node.block is not None:
            yield from layers_and_blocks(node.block.graph)


def test_nested_sequentials_become_nested_blocks_named_after_the_code(nested_file):
    original = load_python_model(nested_file, "Net")
    result = import_module(original, [(3, 8, 8)])
    graph = result.project.graph
    assert names(graph) == ["image", "stem", "stages", "head", "context", "c", "gate", "fc",
                            "output"]
    stages = graph.find("stages").block
    assert stages.name == "Stages" and names(stages.graph) == ["x", "stage0", "stage1", "out"]
    stage = stages.graph.find("stage0").block
    assert stages.graph.find("stage1").block is stage and stage.name == "Stage"
    assert names(stage.graph) == ["x", "blocks", "proj", "add", "out"]
    blocks = stage.graph.find("blocks").block
    assert names(blocks.graph) == ["x", "conv_bn0", "conv_bn1", "out"]
    conv_bn = blocks.graph.find("conv_bn0").block
    assert blocks.graph.find("conv_bn1").block is conv_bn and conv_bn.name == "ConvBN"
    # ports are named after forward()'s arguments, in its order
    assert names(conv_bn.graph) == ["features", "conv", "bn", "act", "out"]
    gate = graph.find("gate").block
    assert gate.name == "Gate" and names(gate.graph) == ["context", "x", "fc", "g", "mul",
                                                         "out"]
    wires = {(e.target_port, graph.node(e.source).name) for e in graph.edges_into(
        graph.find("gate").id)}
    assert wires == {("context", "c"), ("x", "head")}
    assert "stages.stage1.blocks.conv_bn0.bn.running_var" in result.state_dict
    assert graph.find("head").block.name == "Head"
    check_weights_and_file(result, original, torch.randn(2, 3, 8, 8))


def test_interleaved_module_stays_flat_and_a_two_output_module_is_a_block(nested_file):
    result = import_python(nested_file, "Shared", (6,))
    graph = result.project.graph
    # block's two calls are separate regions with `middle` between: flat; inner is a block
    assert graph.find("inner").block.name == "Inner"
    assert {"block_0", "block_1", "block_0_1", "block_1_1", "middle"} <= set(names(graph))
    assert all(graph.find(n).block is None for n in ("block_0", "block_0_1"))
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5

    original = load_python_model(nested_file, "Fork")
    result = import_module(original, [(6,)])
    graph = result.project.graph
    split = graph.find("split").block
    assert split.name == "TwoOut" and [p.name for p in split.spec.outputs] == ["out1", "out2"]
    fed = {split.graph.node(e.target).name: split.graph.node(e.source).type
           for e in split.graph.edges if split.graph.node(e.target).type == "Output"}
    assert fed == {"out1": "Sigmoid", "out2": "ReLU"}
    check_weights_and_file(result, original, torch.randn(2, 6))


def test_structuring_never_fails_an_import(nested_file, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in structuring")

    monkeypatch.setattr(building, "structure", broken)
    result = import_python(nested_file, "Net", (3, 8, 8))
    graph = result.project.graph
    assert not graph.blocks and "stages_0_blocks_0_conv" in names(graph)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5


def residual_with_nested_blocks():
    graph = build_template("residual-cnn").graph
    block1 = ["block1_conv1", "block1_bn1", "block1_relu", "block1_conv2", "block1_bn2",
              "block1_add", "block1_out"]
    GroupIntoBlock(graph, [graph.find(n).id for n in block1], "Residual").do()
    GroupIntoBlock(graph, [graph.find(n).id for n in ("residual1", "pool1")], "Stage").do()
    return graph


def definitions(graph):
    """Each definition's name and inner layers, wiring by name (ports included)."""
    out = {}
    for d in graph.blocks.values():
        ids = {n.id: n.name for n in d.graph.nodes}
        out[d.name] = (sorted((n.name, n.type, tuple(sorted(n.params.items())))
                              for n in d.graph.nodes if n.type != "Input"),
                       [n.name for n in d.input_nodes()], [n.name for n in d.output_nodes()],
                       sorted((ids[e.source], e.source_port, ids[e.target], e.target_port)
                              for e in d.graph.edges))
    return out


def block_with_named_ports():
    """A block whose outputs are not out1/out2 and whose Add is named after a builtin (fx
    renames its variable): the generated class says both (LAYERFORGE_OUTPUTS/_NAMES)."""
    from graph.blocks import BlockDefinition
    from graph.model import Edge, Graph

    def wire(g, a, b, port="in"):
        g.connect(Edge(a.id, "out", b.id, port))

    inner = Graph()
    x = inner.add_node("Input", name="x", params={"kind": "vector", "shape": (6,)})
    fc = inner.add_node("Linear", name="fc", params={"out_features": 6})
    act = inner.add_node("Tanh", name="act")
    total = inner.add_node("Add", name="sum")
    gate = inner.add_node("Sigmoid", name="gate")
    for a, b in ((x, fc), (fc, act), (act, gate)):
        wire(inner, a, b)
    wire(inner, fc, total, "in1")
    wire(inner, act, total, "in2")
    for name, src in (("gated", gate), ("features", total)):  # not in creation order
        wire(inner, src, inner.add_node("Output", name=name))
    graph = Graph()
    graph.blocks.add(BlockDefinition("Pair", inner))
    image = graph.add_node("Input", name="v", params={"kind": "vector", "shape": (6,)})
    pair = graph.add_node("Block", name="pair", params={"block": "Pair"})
    mix = graph.add_node("Multiply", name="mix")
    wire(graph, image, pair, "x")
    graph.connect(Edge(pair.id, "features", mix.id, "in1"))
    graph.connect(Edge(pair.id, "gated", mix.id, "in2"))
    wire(graph, mix, graph.add_node("Output", name="y"))
    return graph


@pytest.mark.parametrize("make", [residual_with_nested_blocks, block_with_named_ports,
                                  lambda: build_template("mobilenet-digits").graph])
def test_round_trip_of_a_block_graph_through_generated_code(make, tmp_path):
    from tests.backend.imports.test_importer import same_function, signature

    graph = make()
    path = tmp_path / "network.py"
    path.write_text(generate_code(graph, analyze(graph), "blocks"))
    result = import_python(path, "Network")
    imported = result.project.graph
    shape = {d: (sorted(names(d_graph)), ports, wires) for d, (_, ports, _, wires), d_graph in
             ((d, v, graph.blocks[d].graph) for d, v in definitions(graph).items())}
    assert {d: (sorted(names(imported.blocks[d].graph)), ports, wires) for d, (_, ports, _, wires)
            in definitions(imported).items()} == shape  # the same blocks, layers and wiring
    if any(n.type == "DepthwiseConv2d" for n in layers(graph).values()):
        pytest.xfail("DepthwiseConv2d's code is an nn.Conv2d with groups: imported as Conv2d")
    assert signature(imported) == signature(graph)
    assert definitions(imported) == definitions(graph)
    assert result.opaque == [] and result.max_abs_diff <= 1e-5
    x = torch.randn(2, *next(n for n in graph.nodes if n.type == "Input").params["shape"])
    same_function(graph, imported, x)  # the same state_dict keys, strictly


def test_an_imported_network_round_trips_through_its_generated_code(resnet18, tmp_path):
    """Import -> Code view -> import gives the same blocks, names and weights' keys."""
    from tests.backend.imports.test_importer import same_function, signature

    graph = resnet18[1].project.graph
    path = tmp_path / "network.py"
    path.write_text(generate_code(graph, analyze(graph), "resnet18"))
    result = import_python(path, "Network")
    imported = result.project.graph
    assert signature(imported) == signature(graph)
    assert definitions(imported) == definitions(graph)
    assert result.max_abs_diff <= 1e-5
    same_function(graph, imported, torch.randn(2, 3, 64, 64))


def test_opaque_nodes_inside_blocks_are_named_by_their_path(nested_file):
    """Paths as the import report (app/import_report.py) writes them: block/.../node."""
    original = load_python_model(nested_file, "WithOpaque")
    result = import_module(original, [(6,)])
    graph = result.project.graph
    inner = graph.find("inner").block
    assert inner.name == "Cumulate" and names(inner.graph) == ["x", "fc", "cumsum", "out"]
    assert result.opaque == ["inner/cumsum"]
    assert "inner.cumsum.c0" not in result.state_dict  # an op without weights
    check_weights_and_file(result, original, torch.randn(2, 6))
