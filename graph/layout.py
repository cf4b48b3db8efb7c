"""Automatic left-to-right layout of a graph (layers in columns by depth).

Long chains fold into bands of at most ``wrap`` columns, read left to right then top to
bottom, so a 16-layer CNN fits a window at a readable zoom instead of one thin strip.
"""
from __future__ import annotations

import networkx as nx

from graph.model import Graph

COLUMN_WIDTH = 300.0
ROW_HEIGHT = 130.0
BAND_GAP = 90.0


def auto_wrap(columns: int) -> int:
    """Columns per band that make a chain of ``columns`` layers roughly as wide as a canvas
    is (about 1.6:1 with these column and band sizes); short chains stay on one line."""
    if columns <= 4:
        return max(columns, 1)
    return max(3, round((1.2 * columns) ** 0.5))


def layer_depths(graph: Graph) -> dict[str, int]:
    """Column of each node: one right of its deepest input (loops are laid out as a unit)."""
    view = graph.nx_view()
    if not nx.is_directed_acyclic_graph(view):
        condensed = nx.condensation(view)
        members = condensed.graph["mapping"]
        depth_of_scc = _depths(condensed)
        return {n: depth_of_scc[members[n]] for n in members}
    return _depths(view)


def layered_positions(graph: Graph, wrap: int | None = None) -> dict[str, tuple[float, float]]:
    """Positions by depth; rows centred within a column; with ``wrap``, columns fold into
    bands of ``wrap`` columns stacked downwards."""
    depth = layer_depths(graph)
    columns: dict[int, list[str]] = {}
    for node in graph.nodes:  # file order keeps rows stable
        columns.setdefault(depth.get(node.id, 0), []).append(node.id)
    if not columns:
        return {}
    wrap = wrap if wrap and wrap > 0 else max(columns) + 1
    bands = (max(columns) // wrap) + 1
    band_rows = [max((len(ids) for c, ids in columns.items() if c // wrap == b), default=1)
                 for b in range(bands)]
    band_top, y = [], 0.0
    for rows in band_rows:
        band_top.append(y)
        y += rows * ROW_HEIGHT + BAND_GAP
    positions = {}
    for col, ids in columns.items():
        band = col // wrap
        centre = band_top[band] + (band_rows[band] - 1) * ROW_HEIGHT / 2
        top = centre - (len(ids) - 1) * ROW_HEIGHT / 2
        for row, node_id in enumerate(ids):
            positions[node_id] = ((col % wrap) * COLUMN_WIDTH, top + row * ROW_HEIGHT)
    shift = (band_rows[0] - 1) * ROW_HEIGHT / 2  # the first band is centred on y = 0
    return {k: (x, y - shift) for k, (x, y) in positions.items()}


def auto_wrap_for(graph: Graph) -> int:
    """``auto_wrap`` for this graph's number of columns."""
    return auto_wrap(max(layer_depths(graph).values(), default=0) + 1)


def _depths(dag) -> dict:
    depth: dict = {}
    for node in nx.topological_sort(dag):
        preds = list(dag.predecessors(node))
        depth[node] = max((depth[p] + 1 for p in preds), default=0)
    return depth


def auto_layout(graph: Graph) -> None:
    """Move every node to its layered position (templates, files without positions)."""
    for node_id, pos in layered_positions(graph, auto_wrap_for(graph)).items():
        graph.move(node_id, pos)
