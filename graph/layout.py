"""Automatic layered layout of a graph, as practitioners draw networks (Netron, Deep Network
Designer): layers in rows top to bottom (or columns left to right), a sequential network one
straight column, parallel branches side by side, skip connections in a lane beside the path.

The layering and the crossing-minimising order within each layer come from igraph's Sugiyama
layout (its C core lays out 500 nodes in milliseconds). igraph places the vertices of a layer
balanced between their neighbours, so a residual block's main path would zig-zag half a column
at every skip; the coordinates are therefore assigned here: each vertex wants to sit under its
inputs (a fan-out centred below its source), cards weigh much more than the wire lanes of
long edges, and a weighted isotonic regression per layer keeps the order and the gaps.

Card geometry (width, height from its parameter rows) is declared here, so that layouts made
without a screen (templates, imports) match the canvas, which draws cards from these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import igraph

from graph.model import Graph, Node

DIRECTIONS = ("TB", "LR")  # top to bottom (default), left to right
DEFAULT_DIRECTION = "TB"

CARD_WIDTH = 190.0
CARD_HEADER = 26.0
CARD_ROW = 18.0
CARD_PAD = 10.0

# between layers: room for a wire's shape label (and, top to bottom, a card's live strip)
LAYER_GAP = {"TB": 72.0, "LR": 120.0}
CARD_GAP = {"TB": 50.0, "LR": 36.0}    # between cards side by side in one layer
LANE_GAP = 34.0                        # a long edge's lane from a card beside it
LANE_PITCH = 22.0                      # two lanes side by side

_CARD, _LANE = 1.0, 1e-4  # how much a card / a lane wants its place (regression weights)


def card_rows(node: Node, direction: str = DEFAULT_DIRECTION) -> int:
    """Body rows of a card: its key parameters, and (left to right) one row per port. A card
    without parameters is its header alone when ports sit on its top and bottom edges."""
    spec = node.spec
    rows = 2 if node.block is not None else len(spec.key_params)  # a block: contents, totals
    if direction == "LR":
        return max(rows, len(spec.input_ports(node.params)), len(spec.output_ports(node.params)), 1)
    return rows


def card_size(node: Node, direction: str = DEFAULT_DIRECTION) -> tuple[float, float]:
    return CARD_WIDTH, CARD_HEADER + card_rows(node, direction) * CARD_ROW + CARD_PAD


@dataclass
class _Vertex:
    node_id: str | None       # None: a lane of a long edge
    order: float              # igraph's position in the layer (crossings minimised)
    breadth: float            # extent across the layer (width top-to-bottom, height LR)
    ups: list["_Vertex"]
    downs: list["_Vertex"]
    x: float = 0.0


def layered_positions(graph: Graph, direction: str = DEFAULT_DIRECTION
                      ) -> dict[str, tuple[float, float]]:
    """Top-left corner of every card, laid out in layers along ``direction``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"layout direction must be one of {DIRECTIONS}, not {direction!r}")
    nodes = graph.nodes
    if not nodes:
        return {}
    layers = _layers(graph, direction)
    _assign_across(layers, direction)
    sizes = {n.id: card_size(n, direction) for n in nodes}
    depth_of = 1 if direction == "TB" else 0  # the size along the flow
    positions, along = {}, 0.0
    for layer in layers:
        cards = [v for v in layer if v.node_id is not None]
        thickness = max((sizes[v.node_id][depth_of] for v in cards), default=0.0)
        for v in cards:
            w, h = sizes[v.node_id]
            across = float(round(v.x - (w if direction == "TB" else h) / 2))
            positions[v.node_id] = (across, along) if direction == "TB" else (along, across)
        along += thickness + LAYER_GAP[direction]
    return positions


def _layers(graph: Graph, direction: str) -> list[list[_Vertex]]:
    """igraph's layers, with a lane vertex where a long edge crosses a layer."""
    nodes = graph.nodes
    index = {n.id: i for i, n in enumerate(nodes)}
    pairs = sorted({(index[e.source], index[e.target]) for e in graph.edges
                    if e.source in index and e.target in index and e.source != e.target})
    # igraph.Graph(...) imports numpy only to accept arrays (~0.3 s of the editor's start,
    # which needs no numpy: issue 18); its base constructor takes the same list of pairs
    g = igraph.Graph.__new__(igraph.Graph)
    igraph.GraphBase.__init__(g, len(nodes), pairs, True)
    layout = g.layout_sugiyama(maxiter=100)
    depth = len(nodes) and max(int(round(y)) for _, y in layout.coords[:len(nodes)])
    layers: list[list[_Vertex]] = [[] for _ in range(depth + 1)]
    breadth = 0 if direction == "TB" else 1
    vertices = []
    for node, (x, y) in zip(nodes, layout.coords):
        v = _Vertex(node.id, x, card_size(node, direction)[breadth], [], [])
        layers[int(round(y))].append(v)
        vertices.append(v)
    for (s, t), route in zip(pairs, layout.edge_routing):
        chain = [vertices[s]]
        for x, y in route:
            lane = _Vertex(None, x, 0.0, [], [])
            layers[int(round(y))].append(lane)
            chain.append(lane)
        chain.append(vertices[t])
        if int(round(layout.coords[s][1])) > int(round(layout.coords[t][1])):
            chain.reverse()  # an edge igraph turned round to break a loop
        for up, down in zip(chain, chain[1:]):
            up.downs.append(down)
            down.ups.append(up)
    for layer in layers:
        layer.sort(key=lambda v: v.order)
    return [layer for layer in layers if layer]


def _assign_across(layers: list[list[_Vertex]], direction: str) -> None:
    """Coordinates across the flow, layer by layer from the inputs."""
    for layer in layers:
        wanted = [_wanted(v, direction) for v in layer]
        weights = [_CARD if v.node_id is not None else _LANE for v in layer]
        gaps = [_gap(a, b, direction) for a, b in zip(layer, layer[1:])]
        for v, x in zip(layer, _ordered_fit(wanted, weights, gaps)):
            v.x = x


def _wanted(v: _Vertex, direction: str) -> float:
    """Where a vertex would like to be: under its inputs (cards rather than lanes), a fan-out
    spread evenly under its source. A vertex with no inputs wants igraph's place."""
    ups = [u for u in v.ups if u.node_id is not None] or v.ups
    if not ups:
        return v.order * (CARD_WIDTH + CARD_GAP[direction])
    pitch = CARD_WIDTH + CARD_GAP[direction] if direction == "TB" else 120.0
    wants = []
    for u in ups:
        siblings = [d for d in u.downs if d.node_id is not None] or u.downs
        if v in siblings:
            k = siblings.index(v)
            wants.append(u.x + (k - (len(siblings) - 1) / 2) * pitch)
        else:
            wants.append(u.x)  # a lane beside the cards under u: pushed aside by the gaps
    return sum(wants) / len(wants)


def _gap(a: _Vertex, b: _Vertex, direction: str) -> float:
    if a.node_id is not None and b.node_id is not None:
        return (a.breadth + b.breadth) / 2 + CARD_GAP[direction]
    if a.node_id is None and b.node_id is None:
        return LANE_PITCH
    return max(a.breadth, b.breadth) / 2 + LANE_GAP


def _ordered_fit(wanted: list[float], weights: list[float], gaps: list[float]) -> list[float]:
    """The x closest to ``wanted`` (weighted least squares) with x[i+1] - x[i] >= gaps[i]:
    pool-adjacent-violators on x[i] - offset[i], which must not decrease."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for want, w, off in zip(wanted, weights, offsets):
        blocks.append([want - off, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    values = [m for m, _, c in blocks for _ in range(c)]
    return [v + off for v, off in zip(values, offsets)]


def layout_moves(graph: Graph, direction: str = DEFAULT_DIRECTION
                 ) -> dict[str, tuple[float, float]]:
    """The nodes whose layered position differs from where they are (for one MoveNodes)."""
    return {k: v for k, v in layered_positions(graph, direction).items()
            if graph.node(k).position != v}


def flow_direction(graph: Graph) -> str | None:
    """Which way a placed graph's wires run: "LR" when mostly to the right, "TB" when mostly
    down, None when there is nothing to tell (no wires, no positions). A file drawn left to
    right opens on a left-to-right canvas (ports on the sides), whatever the preference."""
    if not has_positions(graph):
        return None
    right = down = 0.0
    for e in graph.edges:
        (sx, sy), (tx, ty) = graph.node(e.source).position, graph.node(e.target).position
        right += max(0.0, tx - sx)
        down += max(0.0, ty - sy)
    if right == down:
        return None
    return "LR" if right > down else "TB"


def has_positions(graph: Graph) -> bool:
    """Whether the nodes were placed (a file without positions has them all at one point)."""
    return len({n.position for n in graph.nodes}) > 1 or len(graph.nodes) <= 1


def auto_layout(graph: Graph, direction: str = DEFAULT_DIRECTION) -> None:
    """Move every node to its layered position (templates, imports, files without positions)."""
    for node_id, pos in layered_positions(graph, direction).items():
        graph.move(node_id, pos)
