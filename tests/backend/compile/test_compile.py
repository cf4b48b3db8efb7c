"""The compiler: graph -> torch.fx GraphModule, checked against hand-written twins."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import backend.compile.compiler as compile_module
from backend.compile.compiler import compile_graph, locate_failure
from backend.errors import CompileError
from bench.twins import TWINS, example_input, example_target, forward, loss_fn
from graph.model import Edge, Graph
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze

KEYS = sorted(TEMPLATES)
BATCH = 8


def compiled(key: str) -> torch.fx.GraphModule:
    return compile_graph(build_template(key).graph)


def randomize_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm non-trivial running statistics and affine weights, so that eval
    mode actually exercises them."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def pair(key: str) -> tuple[torch.fx.GraphModule, nn.Module]:
    model = compiled(key)
    randomize_batchnorm(model)
    twin = TWINS[key]()
    twin.load_state_dict(model.state_dict())  # strict: keys must match exactly
    return model, twin


def test_every_template_has_a_twin():
    assert set(TWINS) == set(TEMPLATES)


@pytest.mark.parametrize("key", KEYS)
def test_example_input_matches_the_template_input(key):
    graph = build_template(key).graph
    analysis = analyze(graph)
    (node,) = [n for n in graph.nodes if n.type == "Input"]
    t = analysis.info[node.id].outputs["out"]
    x = example_input(key, 3)
    assert tuple(x.shape) == (3, *t.dims)
    assert x.dtype == {"float": torch.float32, "long": torch.int64}[t.dtype]


@pytest.mark.parametrize("key", KEYS)
def test_twin_loss_is_the_trainers_loss(key):
    """The loss the twins are trained with (tests, benchmark) is the template's own."""
    from backend.tasks import TASKS
    from backend.training.train import LOSSES

    loss_name = build_template(key).training["loss"]
    task = next(t for t in TASKS.values() if loss_name in t.losses)
    model = compiled(key)
    x, y = example_input(key, BATCH), example_target(key, BATCH)
    with torch.no_grad():
        out = forward(key, model, x)  # as the task runs it (the detector's maps too)
        criterion = task.criterion(loss_name) or LOSSES[loss_name]()
        expected = task.loss(criterion, out, y, loss_name)
        torch.testing.assert_close(loss_fn(key, out, y), expected)


@pytest.mark.parametrize("key", KEYS)
def test_compiled_output_equals_twin_in_eval_mode(key):
    model, twin = pair(key)
    model.eval()
    twin.eval()
    x = example_input(key, BATCH)
    with torch.no_grad():
        out, expected = model(x), twin(x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("key", KEYS)
def test_train_mode_gradients_equal_twin(key):
    model, twin = pair(key)
    model.train()
    twin.train()
    x, y = example_input(key, BATCH), example_target(key, BATCH)
    losses = []
    for m in (model, twin):
        torch.manual_seed(7)  # the same dropout masks in both
        loss = loss_fn(key, forward(key, m, x), y)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    twin_params = dict(twin.named_parameters())
    named = list(model.named_parameters())
    assert [n for n, _ in named] == list(twin_params)
    for name, p in named:
        if not p.requires_grad:  # a frozen pretrained layer: no gradient in either
            assert p.grad is None and twin_params[name].grad is None, name
            continue
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, twin_params[name].grad, msg=f"gradient of {name}")
    # Batch statistics were folded into the running ones the same way.
    torch.testing.assert_close(model.state_dict(), twin.state_dict())


@pytest.mark.parametrize("key", KEYS)
def test_state_dict_keys_are_stable_and_named_after_nodes(key):
    graph = build_template(key).graph
    first, second = compile_graph(graph), compile_graph(build_template(key).graph)
    keys = list(first.state_dict())
    assert keys == list(second.state_dict())
    assert keys == list(TWINS[key]().state_dict())
    names = {n.name for n in graph.nodes}
    assert {k.split(".")[0] for k in keys} <= names
    with_weights = {n.name for n in graph.nodes
                    if n.spec.module.startswith(("nn.", "recurrent.", "pretrained.", "ops.", "block"))
                    and analyze(graph).info[n.id].params}
    assert with_weights == {k.split(".")[0] for k in keys if k.endswith(("weight",
                                                                          "weight_ih_l0"))}


def test_state_dict_keys_of_the_digits_cnn():
    keys = list(compiled("digits-cnn").state_dict())
    assert keys[:2] == ["conv1.weight", "conv1.bias"]
    for key in ("bn1.running_mean", "conv3.weight", "fc.weight", "fc.bias"):
        assert key in keys


@pytest.mark.parametrize("key", KEYS)
def test_generated_code_reads_like_hand_written(key):
    graph = build_template(key).graph
    code = compile_graph(graph).code
    inputs = [n.name for n in graph.nodes if n.type == "Input"]
    assert f"def forward(self, {', '.join(inputs)})" in code
    for node in graph.nodes:
        if node.spec.module.startswith(("nn.", "recurrent.")):
            assert f"self.{node.name}(" in code, node.name


def test_generated_code_of_a_skip_connection():
    code = compiled("residual-cnn").code
    assert "block1_add = block1_bn2 + stem_relu" in code
    assert "block2_add = block2_bn2 + widen_relu" in code


def invalid_graph() -> Graph:
    """Linear fed an image without a Flatten, and a layer with nothing connected."""
    g = Graph()
    x = g.add_node("Input", name="image", params={"kind": "image", "shape": (1, 8, 8)})
    fc = g.add_node("Linear", name="fc", params={"out_features": 4})
    out = g.add_node("Output", name="out")
    g.add_node("Conv2d", name="lonely")
    g.connect(Edge(x.id, "out", fc.id, "in"))
    g.connect(Edge(fc.id, "out", out.id, "in"))
    return g


def test_invalid_graph_raises_compile_error_listing_every_error(monkeypatch):
    graph = invalid_graph()
    analysis = analyze(graph)
    assert len(analysis.errors) >= 2
    built = []
    monkeypatch.setattr(compile_module, "build_module",
                        lambda *a: built.append(a) or pytest.fail("build_module was called"))
    original_init = nn.Module.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self))
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "__init__", counting_init)
    with pytest.raises(CompileError) as info:
        compile_graph(graph)
    monkeypatch.undo()
    assert built == [], f"modules were built for an invalid graph: {built}"
    message = str(info.value)
    for issue in analysis.errors:
        assert issue.message in message
    assert "fc" in message and "lonely" in message and "Flatten" in message


def test_layers_that_reach_no_output_are_not_built():
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": (3,)})
    fc = g.add_node("Linear", name="fc", params={"out_features": 2})
    spare = g.add_node("Linear", name="spare", params={"out_features": 5})
    out = g.add_node("Output", name="out")
    for a, b in ((x, fc), (fc, out), (x, spare)):
        g.connect(Edge(a.id, "out", b.id, "in"))
    analysis = analyze(g)
    assert analysis.is_valid and [i.kind for i in analysis.issues] == ["unused"]
    model = compile_graph(g, analysis)
    assert [k.split(".")[0] for k in model.state_dict()] == ["fc", "fc"]
    assert "spare" not in model.code


def test_two_inputs_concat_and_two_outputs():
    g = Graph()
    a = g.add_node("Input", name="a", params={"kind": "vector", "shape": (3,)})
    b = g.add_node("Input", name="b", params={"kind": "vector", "shape": (5,)})
    cat = g.add_node("Concat", name="joined", params={"dim": 1})
    fc = g.add_node("Linear", name="fc", params={"out_features": 4})
    scores = g.add_node("Output", name="scores")
    features = g.add_node("Output", name="features")
    g.connect(Edge(a.id, "out", cat.id, "in1"))
    g.connect(Edge(b.id, "out", cat.id, "in2"))
    g.connect(Edge(cat.id, "out", fc.id, "in"))
    g.connect(Edge(fc.id, "out", scores.id, "in"))
    g.connect(Edge(cat.id, "out", features.id, "in"))
    model = compile_graph(g)
    assert model.meta["signature"].input_names == ("a", "b")
    assert model.meta["signature"].output_names == ("scores", "features")
    assert "def forward(self, a, b)" in model.code
    xa, xb = torch.randn(2, 3), torch.randn(2, 5)
    result = model(xa, xb)
    assert isinstance(result, tuple) and len(result) == 2
    expected_features = torch.cat([xa, xb], 1)
    torch.testing.assert_close(result[1], expected_features)
    torch.testing.assert_close(result[0], F.linear(expected_features, model.fc.weight,
                                                   model.fc.bias))


def recurrent_graph(type_: str, output: str, hidden: int = 5) -> Graph:
    g = Graph()
    x = g.add_node("Input", name="seq", params={"kind": "sequence", "shape": (7, 3)})
    rnn = g.add_node(type_, name="rnn", params={"hidden_size": hidden, "num_layers": 2,
                                                "bidirectional": True, "output": output})
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", rnn.id, "in"))
    g.connect(Edge(rnn.id, "out", out.id, "in"))
    return g


@pytest.mark.parametrize("type_", ["LSTM", "GRU", "RNN"])
def test_bidirectional_last_joins_forward_last_and_backward_first(type_):
    h = 5
    model = compile_graph(recurrent_graph(type_, "last", h))
    plain = getattr(nn, type_)(3, h, num_layers=2, batch_first=True, bidirectional=True)
    plain.load_state_dict({k.removeprefix("rnn."): v for k, v in model.state_dict().items()})
    x = torch.randn(4, 7, 3)
    with torch.no_grad():
        out, _ = plain(x)
        got = model(x)
    expected = torch.cat([out[:, -1, :h], out[:, 0, h:]], -1)
    torch.testing.assert_close(got, expected)
    # The naive "last step" is different: the check above tells them apart.
    assert not torch.allclose(got, out[:, -1])


def test_bidirectional_sequence_is_the_whole_output():
    model = compile_graph(recurrent_graph("LSTM", "sequence"))
    plain = nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)
    plain.load_state_dict({k.removeprefix("rnn."): v for k, v in model.state_dict().items()})
    x = torch.randn(4, 7, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x)[0])


@pytest.mark.parametrize("key,shape,layer", [
    ("hello-mlp", (2, 783), "fc1"),          # the first layer
    ("digits-cnn", (2, 1, 20, 20), "fc"),    # convolutions accept it; the classifier does not
    ("lstm-forecast", (2, 52, 3), "lstm"),   # a recurrent layer (emitted as several fx ops)
])
def test_locate_failure_names_the_layer_that_raises(key, shape, layer):
    model = compiled(key)
    model.eval()
    x = torch.randn(*shape)
    with pytest.raises(RuntimeError):
        model(x)
    found = locate_failure(model, x)
    assert found is not None
    name, exc = found
    assert name == layer
    assert isinstance(exc, RuntimeError)


def test_locate_failure_names_a_merge_op():
    g = Graph()
    a = g.add_node("Input", name="a", params={"kind": "vector", "shape": (3,)})
    b = g.add_node("Input", name="b", params={"kind": "vector", "shape": (3,)})
    act = g.add_node("ReLU", name="act")
    add = g.add_node("Add", name="skip")
    out = g.add_node("Output", name="out")
    g.connect(Edge(a.id, "out", act.id, "in"))
    g.connect(Edge(act.id, "out", add.id, "in1"))
    g.connect(Edge(b.id, "out", add.id, "in2"))
    g.connect(Edge(add.id, "out", out.id, "in"))
    model = compile_graph(g)
    name, exc = locate_failure(model, torch.randn(2, 3), torch.randn(2, 4))
    assert name == "skip" and isinstance(exc, RuntimeError)


@pytest.mark.parametrize("key", KEYS)
def test_locate_failure_finds_nothing_when_forward_works(key):
    model = compiled(key)
    model.eval()
    assert locate_failure(model, example_input(key, 2)) is None
