"""Copy and paste of parts of a graph as plain JSON (works between windows and processes)."""
from __future__ import annotations

import json

from graph.commands import AddNode, Command, Compound, Connect
from graph.errors import GraphEditError
from graph.model import Edge, Graph, new_id

CLIPBOARD_FORMAT = "layerforge-nodes"


def copy_nodes(graph: Graph, node_ids: list[str]) -> str:
    """JSON text of the given nodes and the wires between them."""
    chosen = set(node_ids)
    full = graph.to_dict()
    return json.dumps({
        "format": CLIPBOARD_FORMAT,
        "nodes": [n for n in full["nodes"] if n["id"] in chosen],
        "edges": [e for e in full["edges"] if e["source"] in chosen and e["target"] in chosen],
    })


def _numbered(base: str, i: int) -> str:
    """``base`` + ``i``, with ``base`` cut short so the name stays within 64 characters."""
    return f"{base[:64 - len(str(i))]}{i}"


def paste_command(graph: Graph, text: str, offset: tuple[float, float] = (40.0, 40.0)
                  ) -> tuple[Command, list[str]]:
    """A single undoable command adding the copied nodes (fresh ids, free names, shifted by
    ``offset``) and their wires; returns it with the new node ids. Text that is not a
    LayerForge clipboard raises GraphEditError."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise GraphEditError("the clipboard does not hold LayerForge layers") from None
    if not isinstance(data, dict) or data.get("format") != CLIPBOARD_FORMAT:
        raise GraphEditError("the clipboard does not hold LayerForge layers")
    commands: list[Command] = []
    id_map: dict[str, str] = {}
    taken = {n.name for n in graph.nodes}
    try:
        for raw in data["nodes"]:
            name = raw["name"]
            if name in taken:  # conv1 -> the first free conv<N>
                base, i = name.rstrip("0123456789") or "node", 1
                while _numbered(base, i) in taken:
                    i += 1
                name = _numbered(base, i)
            taken.add(name)
            if raw["id"] in id_map:  # two nodes with one id: which one would a wire mean?
                raise ValueError(f"node id {raw['id']!r} appears twice")
            id_map[raw["id"]] = new_id()
            x, y = raw.get("position", [0, 0])
            commands.append(AddNode(graph, raw["type"], (float(x) + offset[0],
                                                         float(y) + offset[1]),
                                    params=raw.get("params", {}), name=name,
                                    node_id=id_map[raw["id"]]))
        for raw in data["edges"]:
            commands.append(Connect(graph, Edge(id_map[raw["source"]], raw["source_port"],
                                                id_map[raw["target"]], raw["target_port"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise GraphEditError(f"the clipboard's layers are damaged ({exc})") from None
    return Compound(commands, f"Paste {len(id_map)} layer(s)"), list(id_map.values())
