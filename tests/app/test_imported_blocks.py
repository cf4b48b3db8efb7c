"""An imported network opens in the editor as its stages (blocks along the module hierarchy,
backend/imports/structure.py): the canvas shows them, and each opens to show its inside."""
from __future__ import annotations

import torchvision

from app.document import Document
from backend.checkpoint import save_checkpoint
from backend.imports.torch_fx import import_module


def test_an_imported_resnet_opens_as_stages_that_open_to_their_blocks(gui, tmp_path):
    result = import_module(torchvision.models.resnet18(weights=None), [(3, 32, 32)])
    path = tmp_path / "resnet18.pt"
    save_checkpoint(path, result.checkpoint())
    document = Document.open(path)
    window = gui.window(document)
    graph = document.graph
    assert document.analysis.is_valid
    assert set(window.scene.node_items) == {n.id for n in graph.nodes}
    assert window.scene.node_items[graph.find("layer1").id].type_name == "Layer1"
    stage = graph.find("layer2").block
    document.open_block(stage)
    gui.settle(window)
    inner = document.shown_graph
    assert set(window.scene.node_items) == {n.id for n in inner.nodes}
    first = inner.find("basic_block0")
    edge = inner.edges_from(first.id)[0]
    assert window.scene.edge_items[edge].label == "(N, 128, 4, 4)"
    document.open_block(first.block)
    gui.settle(window)
    names = {n.name for n in document.shown_graph.nodes}
    assert {"conv1", "bn1", "downsample", "add"} <= names and document.shown_analysis.is_valid
    document.close_block(2)
    gui.settle(window)
    assert set(window.scene.node_items) == {n.id for n in graph.nodes}
