"""The graph model: layer nodes with named ports, port-to-port edges, on networkx.

This is the one model of a network. Views (the canvas, the inspector) subscribe to its events
and never write to it; edits go through the command objects in ``graph.commands``.
"""
from __future__ import annotations

import keyword
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import networkx as nx

from graph.errors import GraphEditError
from graph.layers import LayerSpec, get_spec

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Names that would clash with attributes of a torch module (node names become submodule names).
RESERVED_NAMES = frozenset({
    "forward", "training", "train", "eval", "to", "cpu", "cuda", "type", "float", "double",
    "half", "parameters", "buffers", "modules", "children", "state_dict", "graph", "code",
    "apply", "zero_grad", "register_buffer", "add_module", "named_modules", "requires_grad_",
    "self", "input", "torch", "operator", "getattr", "print",
})


def name_problem(name: str) -> str | None:
    """Why ``name`` can't name a node (it becomes a Python identifier), or None."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return (f"name {name!r} must start with a letter or _ and contain only letters, digits "
                f"and _ (at most 64 characters)")
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        return f"name {name!r} is reserved; choose another"
    return None


def new_id() -> str:
    """A fresh node id (a uuid string: stable across sessions and files)."""
    return str(uuid.uuid4())


@dataclass
class Node:
    """One layer in the graph. ``params`` holds values in canonical form (tuples, not lists)."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    # A block instance (type "Block") shares its definition (graph.blocks.BlockDefinition)
    # with every other instance: its ports, shapes and costs come from the definition.
    block: Any = field(default=None, compare=False, repr=False)

    @property
    def spec(self) -> LayerSpec:
        if self.block is not None:
            return self.block.spec
        return get_spec(self.type)

    @property
    def type_label(self) -> str:
        """The type as a user reads it: Conv2d, or a block's definition name."""
        return self.block.name if self.block is not None else self.type

    def label(self) -> str:
        """How messages refer to the node: Linear 'fc1', block ConvBNAct 'stem'."""
        if self.block is not None:
            return f"block {self.block.name} '{self.name}'"
        return f"{self.type} '{self.name}'"

    def copy(self) -> "Node":
        return Node(self.id, self.type, self.name, dict(self.params), tuple(self.position),
                    self.block)


@dataclass(frozen=True, order=True)
class Edge:
    """A wire from an output port of one node to an input port of another."""

    source: str
    source_port: str
    target: str
    target_port: str


@dataclass(frozen=True)
class GraphEvent:
    """What changed. kind: node_added, node_removed, edge_added, edge_removed, param_changed,
    node_renamed, node_moved, block_changed (``name``: a block definition was added, removed
    or edited inside; ``value``: the inner event)."""

    kind: str
    node_id: str | None = None
    edge: Edge | None = None
    name: str | None = None
    value: Any = None


Listener = Callable[[GraphEvent], None]


class BlockRegistry(dict):
    """The block definitions of one project, by name (graph.blocks.BlockDefinition). The
    network and every definition's inner graph share one registry; a change inside any
    definition reaches the registry's listeners as a ``block_changed`` event naming it."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[Listener] = []
        self._unsubscribe: dict[str, Callable[[], None]] = {}

    def add(self, definition: Any) -> None:
        if definition.name in self:
            raise GraphEditError(f"a block named {definition.name!r} already exists")
        definition.graph.blocks = self
        self[definition.name] = definition
        self._unsubscribe[definition.name] = definition.graph.subscribe(
            lambda event, name=definition.name: self._inner_changed(name, event))
        self._emit(GraphEvent("block_changed", name=definition.name))

    def discard(self, name: str) -> None:
        if name in self:
            self._unsubscribe.pop(name)()
            del self[name]
            self._emit(GraphEvent("block_changed", name=name))

    def unique_name(self, base: str) -> str:
        base = re.sub(r"\d+$", "", base) or "Block"
        if base not in self:
            return base
        i = 2
        while f"{base}{i}" in self:
            i += 1
        return f"{base}{i}"

    def _inner_changed(self, name: str, event: GraphEvent) -> None:
        if event.kind != "block_changed":  # the definition's own edits, not echoes
            self._emit(GraphEvent("block_changed", name=name, value=event))

    def _emit(self, event: GraphEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    def __hash__(self) -> int:  # shared by identity
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


@dataclass(eq=False)
class Graph:
    """A network of layer nodes. Insertion order of nodes is kept (it is the file order)."""

    _nodes: dict[str, Node] = field(default_factory=dict)
    _edges: set[Edge] = field(default_factory=set)
    _nx: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    _listeners: list[Listener] = field(default_factory=list)
    _blocks: BlockRegistry = field(default_factory=BlockRegistry)

    def __post_init__(self) -> None:
        self._blocks.listeners.append(self._block_changed)

    @property
    def blocks(self) -> BlockRegistry:
        """The block definitions this graph's block nodes (and nested blocks) use."""
        return self._blocks

    @blocks.setter
    def blocks(self, registry: BlockRegistry) -> None:
        if registry is self._blocks:
            return
        if self._block_changed in self._blocks.listeners:
            self._blocks.listeners.remove(self._block_changed)
        self._blocks = registry
        registry.listeners.append(self._block_changed)

    def _block_changed(self, event: GraphEvent) -> None:
        """A definition changed: block nodes using it have new ports, shapes or costs."""
        self._emit(event)

    # ---- reading -------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return sorted(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphEditError(f"there is no node with id {node_id!r}") from None

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def has_edge(self, edge: Edge) -> bool:
        return edge in self._edges

    def find(self, name: str) -> Node:
        """The node called ``name``."""
        for n in self._nodes.values():
            if n.name == name:
                return n
        raise GraphEditError(f"there is no node named {name!r}")

    def edges_into(self, node_id: str) -> list[Edge]:
        return sorted(Edge(u, k[0], v, k[1]) for u, v, k in self._nx.in_edges(node_id, keys=True))

    def edges_from(self, node_id: str) -> list[Edge]:
        return sorted(Edge(u, k[0], v, k[1]) for u, v, k in self._nx.out_edges(node_id, keys=True))

    def nx_view(self) -> nx.MultiDiGraph:
        """Read-only networkx view (for layout and graph algorithms)."""
        return self._nx.copy(as_view=True)

    def unique_name(self, base: str) -> str:
        """``base`` followed by the smallest number not yet taken: conv1, conv2, ..."""
        taken = {n.name for n in self._nodes.values()}
        base = re.sub(r"\d+$", "", base) or "node"
        i = 1
        while f"{base}{i}" in taken:
            i += 1
        return f"{base}{i}"

    def __len__(self) -> int:
        return len(self._nodes)

    # ---- events --------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: GraphEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ---- editing (commands call these; views never do) ------------------------------------
    def add_node(self, type_name: str, *, name: str | None = None,
                 params: dict[str, Any] | None = None, position: tuple[float, float] = (0, 0),
                 node_id: str | None = None) -> Node:
        """Create a node of a catalogue type with default parameters overridden by ``params``
        (type "Block" with ``params={"block": name}``: an instance of that definition)."""
        if type_name == "Block":
            block = self._blocks.get((params or {}).get("block"))
            if block is None:
                raise GraphEditError(f"there is no block named {(params or {}).get('block')!r}")
            node = Node(node_id or new_id(), "Block", name or self.unique_name(block.default_name),
                        {"block": block.name}, (float(position[0]), float(position[1])), block)
            self.insert_node(node)
            return node
        spec = get_spec(type_name)
        values = spec.defaults()
        for key, value in (params or {}).items():
            values[key] = self._coerce(spec, key, value)
        node = Node(node_id or new_id(), spec.type, name or self.unique_name(spec.default_name),
                    values, (float(position[0]), float(position[1])))
        self.insert_node(node)
        return node

    def insert_node(self, node: Node) -> None:
        """Put an existing node object (e.g. one being restored by undo) into the graph."""
        if node.id in self._nodes:
            raise GraphEditError(f"a node with id {node.id!r} already exists")
        problem = name_problem(node.name)
        if problem:
            raise GraphEditError(problem)
        if any(n.name == node.name for n in self._nodes.values()):
            raise GraphEditError(f"a node named {node.name!r} already exists")
        self._nodes[node.id] = node
        self._nx.add_node(node.id)
        self._emit(GraphEvent("node_added", node.id))

    def remove_node(self, node_id: str) -> tuple[Node, list[Edge]]:
        """Remove a node and its edges; returns both so the removal can be undone."""
        node = self.node(node_id)
        edges = sorted(set(self.edges_into(node_id)) | set(self.edges_from(node_id)))
        for edge in edges:
            self.disconnect(edge)
        del self._nodes[node_id]
        self._nx.remove_node(node_id)
        self._emit(GraphEvent("node_removed", node_id, value=node))
        return node, edges

    def connection_problem(self, edge: Edge) -> str | None:
        """Why the editor should refuse this wire, in words, or None if it may be made."""
        for end in (edge.source, edge.target):
            if end not in self._nodes:
                return f"there is no node with id {end!r}"
        src, dst = self._nodes[edge.source], self._nodes[edge.target]
        if edge.source == edge.target:
            return f"{src.label()} cannot feed itself"
        if edge.source_port not in [p.name for p in src.spec.output_ports(src.params)]:
            return f"{src.label()} has no output called {edge.source_port!r}"
        if edge.target_port not in [p.name for p in dst.spec.input_ports(dst.params)]:
            return f"{dst.label()} has no input called {edge.target_port!r}"
        if edge in self._edges:
            return "these ports are already connected"
        taken = [e for e in self.edges_into(edge.target) if e.target_port == edge.target_port]
        if taken:
            other = self._nodes[taken[0].source]
            return (f"input {edge.target_port!r} of {dst.label()} is already fed by "
                    f"{other.label()}: disconnect it first")
        if nx.has_path(self._nx, edge.target, edge.source):
            return (f"connecting {src.label()} to {dst.label()} would make a loop; "
                    f"data must flow one way")
        return None

    def connect(self, edge: Edge) -> None:
        """Add an edge between existing ports. Wires a validator would flag (a second wire into
        an input, a loop) are stored as they are, so a file shows its problems instead of
        failing; the editor asks ``connection_problem`` first."""
        for end in (edge.source, edge.target):
            self.node(end)
        if edge in self._edges:
            raise GraphEditError("these ports are already connected")
        self._edges.add(edge)
        self._nx.add_edge(edge.source, edge.target, key=(edge.source_port, edge.target_port))
        self._emit(GraphEvent("edge_added", edge.target, edge=edge))

    def disconnect(self, edge: Edge) -> None:
        if edge not in self._edges:
            raise GraphEditError("these ports are not connected")
        self._edges.remove(edge)
        self._nx.remove_edge(edge.source, edge.target, key=(edge.source_port, edge.target_port))
        self._emit(GraphEvent("edge_removed", edge.target, edge=edge))

    @staticmethod
    def _coerce(spec: LayerSpec, key: str, value: Any) -> Any:
        param = spec.param_index.get(key)
        if param is None:
            raise GraphEditError(f"{spec.type} has no parameter {key!r}")
        try:
            return param.coerce(value)
        except (TypeError, ValueError) as exc:
            raise GraphEditError(f"{spec.type}.{key}: {exc}") from None

    def set_param(self, node_id: str, key: str, value: Any) -> Any:
        """Set one parameter (type-checked; range problems are left for validation to report,
        so a half-typed value never loses the user's input). Returns the old value."""
        node = self.node(node_id)
        value = self._coerce(node.spec, key, value)
        old = node.params[key]
        node.params[key] = value
        self._emit(GraphEvent("param_changed", node_id, name=key, value=value))
        return old

    def rename(self, node_id: str, name: str) -> str:
        node = self.node(node_id)
        problem = name_problem(name)
        if problem:
            raise GraphEditError(problem)
        if any(n.name == name and n.id != node_id for n in self._nodes.values()):
            raise GraphEditError(f"a node named {name!r} already exists")
        old, node.name = node.name, name
        self._emit(GraphEvent("node_renamed", node_id, name=name))
        return old

    def move(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self._emit(GraphEvent("node_moved", node_id, value=node.position))

    # ---- whole-graph ---------------------------------------------------------------------
    def clear(self) -> None:
        for node_id in list(self._nodes):
            self.remove_node(node_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able description (used by project files and the clipboard)."""
        return {
            "nodes": [{"id": n.id, "type": n.type, "type_version": n.spec.version,
                       "name": n.name, "params": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in n.params.items()},
                       "position": list(n.position)} for n in self._nodes.values()],
            "edges": [{"source": e.source, "source_port": e.source_port,
                       "target": e.target, "target_port": e.target_port} for e in self.edges],
        }

    def signature(self, with_blocks: bool = True) -> tuple:
        """Everything that defines the graph (and its block definitions), comparable with ==,
        order-insensitive."""
        nodes = sorted((n.id, n.type, n.name, tuple(sorted(n.params.items())), n.position)
                       for n in self._nodes.values())
        if not with_blocks:
            return tuple(nodes), tuple(self.edges)
        blocks = tuple(sorted((name, d.description, d.graph.signature(with_blocks=False))
                              for name, d in self._blocks.items()))
        return tuple(nodes), tuple(self.edges), blocks

    def copy(self) -> "Graph":
        """A deep copy without listeners."""
        g = Graph()
        g.blocks = self._blocks  # the definitions are shared, not copied
        for n in self._nodes.values():
            g.insert_node(n.copy())
        for e in self._edges:
            g.connect(e)
        return g
