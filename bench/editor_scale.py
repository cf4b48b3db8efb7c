"""How the editor copes with a big graph (offscreen). Prints JSON.

- open: building a Document + scene for a generated 500-node graph, laying it out and
  validating it (target < 1 s)
- edit: one parameter edit, re-validated and redrawn (target < 50 ms), with the whole graph in
  view (text is not drawn that small) and at the smallest zoom that draws text
- pan: frames per second while panning the whole graph in view
- layout: the layered layout alone, of the 500-node graph and of torchvision's ResNeXt-50
  imported through torch.fx (177 nodes; target < 0.5 s each)
- wires: for every template as the canvas draws it, wire crossings and wires passing under a
  card that is not one of their ends (target 0 under cards)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.document import Document  # noqa: E402
from app.editor.scene import DETAIL_ZOOM, EdgeItem, GraphScene, NodeItem  # noqa: E402
from app.editor.view import GraphView  # noqa: E402
from app.editor.wires import outline  # noqa: E402
from graph.commands import SetParam  # noqa: E402
from graph.layout import DIRECTIONS, auto_layout, layered_positions  # noqa: E402
from graph.model import Edge, Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.templates import TEMPLATES, build_template  # noqa: E402


def big_graph(n_nodes: int = 500) -> Graph:
    """Input -> repeated (Linear, ReLU, Dropout, Add-skip) blocks -> Output: n_nodes nodes."""
    g = Graph()
    prev = g.add_node("Input", params={"kind": "vector", "shape": [64]})
    while len(g) < n_nodes - 1:
        fc = g.add_node("Linear", params={"out_features": 64})
        act = g.add_node("ReLU")
        add = g.add_node("Add")
        g.connect(Edge(prev.id, "out", fc.id, "in"))
        g.connect(Edge(fc.id, "out", act.id, "in"))
        g.connect(Edge(act.id, "out", add.id, "in1"))
        g.connect(Edge(prev.id, "out", add.id, "in2"))
        prev = add
    out = g.add_node("Output")
    g.connect(Edge(prev.id, "out", out.id, "in"))
    return g


def layout_seconds(graph: Graph, rounds: int = 5) -> float:
    """Median time of one layered layout of ``graph``."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        layered_positions(graph)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def imported_resnext() -> Graph:
    import torchvision

    from backend.imports.torch_fx import import_module

    model = torchvision.models.resnext50_32x4d(weights=None)  # random weights: no download
    return import_module(model, [(3, 224, 224)], check=False).project.graph


def wire_report(scene: GraphScene) -> dict[str, int]:
    """Crossings between wires that share no card, and wires drawn over a card other than
    their own two ends (what a reader cannot follow)."""
    wires = [i for i in scene.items() if isinstance(i, EdgeItem)]
    cards = [i for i in scene.items() if isinstance(i, NodeItem)]
    under = 0
    for wire in wires:
        ends = (wire.source.node_item, wire.target.node_item)
        path = outline(wire.path())
        if any(path.intersects(c.sceneBoundingRect().adjusted(4, 4, -4, -4))
               for c in cards if c not in ends):
            under += 1
    crossings = 0
    for i, a in enumerate(wires):
        a_ends = {a.source.node_item, a.target.node_item}
        for b in wires[i + 1:]:
            if a_ends & {b.source.node_item, b.target.node_item}:
                continue  # wires of one card meet at it
            if outline(a.path()).intersects(outline(b.path())):
                crossings += 1
    return {"wires": len(wires), "crossings": crossings, "under_cards": under}


def template_wires() -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for direction in DIRECTIONS:
        for key in TEMPLATES:
            project = build_template(key)
            for node_id, pos in layered_positions(project.graph, direction).items():
                project.graph.move(node_id, pos)
            document = Document(project)
            scene = GraphScene(document, direction=direction)
            out.setdefault(direction, {})[key] = wire_report(scene)
            document.close()
    return out


def main() -> None:
    app = QApplication.instance() or QApplication([])
    graph = big_graph()
    started = time.perf_counter()
    auto_layout(graph)
    document = Document(Project(graph))
    scene = GraphScene(document)
    view = GraphView(scene)
    view.resize(1600, 1000)
    view.show()
    view.zoom_to_fit()
    app.processEvents()
    open_s = time.perf_counter() - started

    linear = next(n for n in graph.nodes if n.type == "Linear")

    def edit_times(rounds: int = 20) -> list[float]:
        """Each round: one parameter edit, re-validated, the whole viewport repainted."""
        times = []
        for i in range(rounds):
            t0 = time.perf_counter()
            document.push(SetParam(graph, linear.id, "out_features", 64 + (i % 2)))
            document.refresh_analysis()
            view.viewport().repaint()
            times.append(time.perf_counter() - t0)
        return times

    edits = edit_times()
    # The same at the smallest zoom that still draws text (cards' titles and parameters,
    # wires' shape labels), the view filled with the graph: the costliest paint there is.
    fit_zoom = view.zoom
    view.set_zoom(DETAIL_ZOOM)
    view.centerOn(scene.node_items[linear.id])
    app.processEvents()
    edits_text = edit_times()
    view.set_zoom(fit_zoom)
    view.zoom_to_fit()
    app.processEvents()

    frames = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        view.pan(15, 0 if frames % 2 else 3)
        view.viewport().repaint()
        frames += 1
    fps = frames / (time.perf_counter() - t0)
    resnext = imported_resnext()
    wires = template_wires()
    resnext_doc = Document(Project(resnext))
    wires["TB"]["imported resnext50_32x4d"] = wire_report(GraphScene(resnext_doc))
    print(json.dumps({
        "layout_500_nodes_s": round(layout_seconds(graph), 4),
        "layout_resnext50_s": round(layout_seconds(resnext), 4),
        "resnext50_nodes": len(resnext), "target_layout_s": 0.5,
        "template_wires": wires,
        "wires_under_cards_total": sum(r["under_cards"] for d in wires.values()
                                       for r in d.values()),
        "nodes": len(graph), "edges": len(graph.edges),
        "open_layout_validate_s": round(open_s, 3), "target_open_s": 1.0,
        "param_edit_ms_median": round(statistics.median(edits) * 1000, 1),
        "param_edit_ms_max": round(max(edits) * 1000, 1),
        "param_edit_ms_median_at_text_zoom": round(statistics.median(edits_text) * 1000, 1),
        "text_zoom": DETAIL_ZOOM, "target_edit_ms": 50,
        "pan_fps": round(fps, 1), "zoom": round(view.zoom, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
