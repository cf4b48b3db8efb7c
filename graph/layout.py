"""Automatic left-to-right layout of a graph (layers in columns by depth)."""
from __future__ import annotations

import networkx as nx

from graph.model import Graph

COLUMN_WIDTH = 240.0
ROW_HEIGHT = 150.0


def layered_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """Positions placing every node one column right of its deepest input, rows centred."""
    view = graph.nx_view()
    if not nx.is_directed_acyclic_graph(view):
        view = nx.condensation(view)  # loops: lay out the strongly connected parts instead
        members = view.graph["mapping"]
        depth_of_scc = _depths(view)
        depth = {n: depth_of_scc[members[n]] for n in members}
    else:
        depth = _depths(view)
    columns: dict[int, list[str]] = {}
    for node in graph.nodes:  # file order keeps rows stable
        columns.setdefault(depth.get(node.id, 0), []).append(node.id)
    positions = {}
    for col, ids in columns.items():
        top = -(len(ids) - 1) * ROW_HEIGHT / 2
        for row, node_id in enumerate(ids):
            positions[node_id] = (col * COLUMN_WIDTH, top + row * ROW_HEIGHT)
    return positions


def _depths(dag) -> dict:
    depth: dict = {}
    for node in nx.topological_sort(dag):
        preds = list(dag.predecessors(node))
        depth[node] = max((depth[p] + 1 for p in preds), default=0)
    return depth


def auto_layout(graph: Graph) -> None:
    """Move every node to its layered position (for files and templates without positions)."""
    for node_id, pos in layered_positions(graph).items():
        graph.move(node_id, pos)
