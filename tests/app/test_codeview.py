"""The code view: readable, real PyTorch code for a valid graph; errors as comments."""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import Qt
from torch import nn

from app.document import Document
from app.editor.codeview import CodeView, PythonHighlighter
from backend.compile.compiler import compile_graph
from graph.commands import SetParam
from graph.model import Graph
from graph.project import Project
from graph.templates import TEMPLATES, build_template


def make_view(qtbot, document) -> CodeView:
    view = CodeView(document)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    return view


def test_shows_the_network_class(qtbot):
    document = Document(build_template("digits-cnn"))
    view = make_view(qtbot, document)
    code = view.text()
    assert "import torch" in code and "from torch import nn" in code
    assert "class Network(nn.Module):" in code
    assert "self.conv1 = nn.Conv2d(1, 32, kernel_size=(3, 3)" in code
    assert "self.fc = nn.Linear(in_features=1024, out_features=10, bias=True)" in code
    assert "    def forward(self, image):" in code
    assert "        conv1 = self.conv1(image)" in code
    assert "        return fc" in code
    assert code.index("self.conv1 =") < code.index("self.conv2 =") < code.index("self.fc =")
    assert "= None" not in code  # fx's early frees are left out
    compile(code, "<code view>", "exec")  # valid Python
    assert view.editor.isReadOnly()
    assert isinstance(view.highlighter, PythonHighlighter)


def exec_network(code: str) -> nn.Module:
    namespace = {"torch": torch, "nn": nn}
    exec(code, namespace)  # noqa: S102 - the code this app generated
    return namespace["Network"]()


def test_shown_code_is_the_compiled_model(qtbot):
    for key in TEMPLATES:
        document = Document(build_template(key))
        view = make_view(qtbot, document)
        model = compile_graph(document.graph, document.analysis)
        network = exec_network(view.text())
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in network.state_dict().items()} == expected, key
        network.load_state_dict(model.state_dict())
        model.eval()
        network.eval()
        if key == "digits-cnn":
            x = torch.randn(2, 1, 16, 16)
            assert torch.allclose(network(x), model(x))


def test_invalid_graph_shows_errors_as_comments(qtbot):
    graph = Graph()
    graph.add_node("Input", name="image")
    graph.add_node("Linear", name="fc1")
    document = Document(Project(graph))
    view = make_view(qtbot, document)
    lines = view.text().splitlines()
    assert lines[0] == "# The network has errors, so it cannot be compiled:"
    assert all(line.startswith("#") for line in lines)
    assert any("Linear 'fc1' has nothing connected to its input 'in'" in line for line in lines)
    assert any("no Output node" in line for line in lines)


def test_updates_after_an_edit(qtbot):
    document = Document(build_template("digits-cnn"))
    view = make_view(qtbot, document)
    conv1 = document.graph.find("conv1")
    document.push(SetParam(document.graph, conv1.id, "out_channels", 8))
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 8," in view.text(), timeout=3000)
    assert "self.conv2 = nn.Conv2d(8, 32," in view.text()
    document.push(SetParam(document.graph, conv1.id, "out_channels", 0))  # invalid
    qtbot.waitUntil(lambda: view.text().startswith("# The network has errors"), timeout=3000)
    assert "out_channels must be at least 1" in view.text()


def test_hidden_view_waits_until_shown(qtbot):
    document = Document(build_template("digits-cnn"))
    view = make_view(qtbot, document)
    view.hide()
    conv1 = document.graph.find("conv1")
    document.push(SetParam(document.graph, conv1.id, "out_channels", 12))
    document.refresh_analysis()
    qtbot.wait(400)
    assert "nn.Conv2d(1, 32," in view.text()  # not recompiled while hidden
    assert view.stale
    view.show()
    assert "nn.Conv2d(1, 12," in view.text()


def test_compiler_failure_is_shown_not_raised(qtbot, monkeypatch):
    import backend.compile.compiler

    def broken(graph, analysis=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(backend.compile.compiler, "compile_graph", broken)
    document = Document(build_template("hello-mlp"))
    view = make_view(qtbot, document)
    assert view.text().startswith("# The network could not be compiled:")
    assert "RuntimeError: boom" in view.text()


def test_modules_whose_repr_is_not_a_constructor_still_rebuild(qtbot):
    from graph.model import Edge

    graph = Graph()
    seq = graph.add_node("Input", name="seq", params={"kind": "sequence", "shape": (10, 8)})
    enc = graph.add_node("TransformerEncoderLayer", name="enc",
                         params={"nhead": 2, "activation": "gelu", "norm_first": True})
    lstm = graph.add_node("LSTM", name="lstm", params={"bidirectional": True, "num_layers": 2,
                                                       "dropout": 0.2, "output": "last"})
    out = graph.add_node("Output", name="y")
    for a, b in ((seq, enc), (enc, lstm), (lstm, out)):
        graph.connect(Edge(a.id, "out", b.id, "in"))
    document = Document(Project(graph))
    view = make_view(qtbot, document)
    assert "self.enc = nn.TransformerEncoderLayer(d_model=8, nhead=2" in view.text()
    model = compile_graph(document.graph, document.analysis)
    network = exec_network(view.text())
    network.load_state_dict(model.state_dict())  # strict: same keys and shapes
    model.eval()
    network.eval()
    x = torch.randn(3, 10, 8)
    assert torch.allclose(network(x), model(x), atol=1e-6)


def test_highlighter_colours_keywords_and_comments(qtbot):
    document = Document(build_template("hello-mlp"))
    view = make_view(qtbot, document)
    doc = view.editor.document()

    def colour_at(line_start: str, column: int):
        block = doc.firstBlock()
        while block.isValid() and not block.text().startswith(line_start):
            block = block.next()
        assert block.isValid(), line_start
        for fmt in block.layout().formats():
            if fmt.start <= column < fmt.start + fmt.length:
                return fmt.format.foreground().color().name()
        return None

    comment = colour_at("# Generated", 0)
    keyword = colour_at("class Network", 0)
    class_name = colour_at("class Network", len("class "))
    assert None not in (comment, keyword, class_name)
    assert len({comment, keyword, class_name}) == 3
    assert colour_at("class Network", len("class Network(")) != keyword  # "nn" is not a keyword


def test_copy_puts_the_current_code_on_the_clipboard(qtbot):
    from PySide6.QtWidgets import QApplication

    document = Document(build_template("hello-mlp"))
    view = make_view(qtbot, document)
    fc1 = document.graph.find("fc1")
    document.push(SetParam(document.graph, fc1.id, "out_features", 77))  # still pending
    qtbot.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert "out_features=77" in copied and copied == view.text()
    assert view.note.text() == "Copied to the clipboard."


def test_save_as_writes_a_python_file_that_defines_the_network(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    document = Document(build_template("digits-cnn"))
    view = make_view(qtbot, document)
    suggested = []

    def ask(parent, title, start, filters):
        suggested.append(start)
        return str(tmp_path / "my_net"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(ask))
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    target = tmp_path / "my_net.py"
    assert target.read_text(encoding="utf-8") == view.text()
    assert suggested[0].endswith(".py") and ":" not in Path(suggested[0]).name
    net = exec_network(target.read_text(encoding="utf-8"))
    assert isinstance(net, nn.Module)
    assert str(target) in view.note.text()


def test_save_as_into_a_folder_that_cannot_be_written_says_so(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    view = make_view(qtbot, Document(build_template("hello-mlp")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda *a: (str(tmp_path / "missing" / "net.py"), "")))
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(
        lambda parent, title, text, *a: warned.append(text)))
    assert view.save_as() is None
    assert warned and "net.py" in warned[0] and "Choose another folder" in warned[0]
