"""Blocks: a sub-network used as one node (Sony NNC's units, MATLAB's network layers).

A ``BlockDefinition`` is a named inner graph whose Input nodes are the block's inputs and whose
Output nodes are its outputs (their names are the port names, in node order). Every instance
(a node of type "Block") shares its definition, so editing the definition changes every
instance; each instance still has its own weights (it compiles to its own submodule).

The definitions of a project live in its graph's ``blocks`` registry (shared with the inner
graphs, so blocks nest). Grouping, ungrouping and adding an instance are commands here, each
one undo step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from graph.commands import Command
from graph.errors import GraphEditError, ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec
from graph.model import Edge, Graph, GraphEvent, Node, new_id
from graph.shapes import TensorType

BLOCK_TYPE = "Block"
BLOCK_CATEGORY = "Blocks"
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def block_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a block (it becomes a Python class name), or None."""
    if not isinstance(name, str) or not _CLASS_NAME.match(name):
        return (f"block name {name!r} must start with a letter or _ and contain only letters, "
                f"digits and _ (at most 64 characters)")
    if name in ("Network", "Block", "Module"):
        return f"block name {name!r} is reserved; choose another"
    return None


@dataclass(eq=False)
class BlockDefinition:
    """A named sub-network. ``graph``'s Input/Output nodes are the block's ports."""

    name: str
    graph: Graph
    description: str = ""
    _version: int = field(default=0, init=False, repr=False)
    _spec: LayerSpec | None = field(default=None, init=False, repr=False)
    _inner: dict[tuple, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        problem = block_name_problem(self.name)
        if problem:
            raise GraphEditError(problem)
        self.graph.subscribe(self._changed)

    def _changed(self, event: GraphEvent) -> None:
        self._version += 1
        self._spec = None
        self._inner.clear()

    # ---- ports -----------------------------------------------------------------------------
    def input_nodes(self) -> list[Node]:
        return [n for n in self.graph.nodes if n.type == "Input"]

    def output_nodes(self) -> list[Node]:
        return [n for n in self.graph.nodes if n.type == "Output"]

    @property
    def default_name(self) -> str:
        """Instance names: ConvBNAct -> conv_bn_act1."""
        return self.stem(self.name)

    @staticmethod
    def stem(name: str) -> str:
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
        return re.sub(r"[^a-z0-9_]", "_", re.sub(r"\d+$", "", snake)) or "block"

    @property
    def spec(self) -> LayerSpec:
        """The declaration an instance is drawn, checked and compiled from (rebuilt after
        every edit of the definition)."""
        if self._spec is None:
            ins = tuple(PortSpec(n.name, "block input") for n in self.input_nodes())
            outs = tuple(PortSpec(n.name, "block output") for n in self.output_nodes())
            self._spec = LayerSpec(
                type=BLOCK_TYPE, category=BLOCK_CATEGORY,
                description=self.description or f"The block {self.name}: "
                f"{len(self.graph) - len(ins) - len(outs)} layers used as one.",
                params=(ParamSpec("block", "text", self.name, "The block definition this "
                                  "node is an instance of.", derived=True),),
                infer=self._infer, module="block", cost=self._cost,
                trainable=self._trainable, inputs=ins, outputs=outs,
                default_name=self.default_name)
        return self._spec

    # ---- shapes and costs ------------------------------------------------------------------
    def analysis_for(self, inputs: list[TensorType]):
        """The inner graph's analysis when its inputs carry these types (cached)."""
        from graph.validate import analyze

        key = tuple(inputs)
        if key not in self._inner:
            nodes = self.input_nodes()
            self._inner[key] = analyze(self.graph, {n.id: t for n, t in zip(nodes, inputs)})
        return self._inner[key]

    def _infer(self, inputs: list[TensorType], params: dict[str, Any]) -> list[TensorType]:
        if not self.input_nodes() or not self.output_nodes():
            raise ShapeError(f"the block {self.name} needs at least one Input and one Output "
                             f"inside: open it and add them")
        analysis = self.analysis_for(inputs)
        if not analysis.is_valid:
            first = analysis.errors[0]
            more = len(analysis.errors) - 1
            raise ShapeError(f"inside block {self.name}: {first.message}"
                             + (f" (and {more} more problem{'s' if more > 1 else ''}; open "
                                f"the block to see them)" if more else
                                " (open the block to fix it)"))
        outs = []
        for node in self.output_nodes():
            (t,) = analysis.info[node.id].inputs.values()
            outs.append(t)
        return outs

    def _cost(self, ins: list[TensorType], outs: list[TensorType], p: dict[str, Any]):
        info = self.analysis_for(ins).info.values()
        return sum(i.params for i in info), sum(i.macs for i in info)

    def _trainable(self, ins: list[TensorType], outs: list[TensorType], p: dict[str, Any]):
        return sum(i.trainable for i in self.analysis_for(ins).info.values())

    def instances(self, graph: Graph) -> list[Node]:
        """The nodes of ``graph`` that are instances of this definition."""
        return [n for n in graph.nodes if n.block is self]

    def copy(self, name: str | None = None) -> "BlockDefinition":
        """An independent definition with the same contents (a library block dropped into a
        project is copied, so editing it there leaves the library alone)."""
        inner = Graph()
        inner.blocks = self.graph.blocks
        for n in self.graph.nodes:
            inner.insert_node(n.copy())
        for e in self.graph.edges:
            inner.connect(e)
        return BlockDefinition(name or self.name, inner, self.description)


# ---- serialisation (project files, the user's library) ----------------------------------------

def walk_nodes(graph: Graph, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Every node at any depth with its path (``layer1_0/conv1``); a block's Input/Output
    nodes are its ports and are left out."""
    for node in graph.nodes:
        if prefix and node.type in ("Input", "Output"):
            continue
        path = f"{prefix}{node.name}"
        yield path, node
        if node.block is not None:
            yield from walk_nodes(node.block.graph, path + "/")


def definition_to_dict(definition: BlockDefinition) -> dict[str, Any]:
    return {"name": definition.name, "description": definition.description,
            **definition.graph.to_dict()}


def used_definitions(graph: Graph) -> list[BlockDefinition]:
    """Every definition ``graph`` needs, nested ones before the blocks that use them."""
    order: list[BlockDefinition] = []

    def visit(g: Graph, path: tuple[str, ...]) -> None:
        for node in g.nodes:
            d = node.block
            if d is None or d in order:
                continue
            if d.name in path:
                raise GraphEditError(f"block {d.name} contains itself")
            visit(d.graph, path + (d.name,))
            order.append(d)

    visit(graph, ())
    for d in graph.blocks.values():  # defined but not used (yet): kept in the file too
        if d not in order:
            visit(d.graph, (d.name,))
            order.append(d)
    return order


# ---- editing ---------------------------------------------------------------------------------

def _centre(nodes: list[Node]) -> tuple[float, float]:
    xs = [n.position[0] for n in nodes]
    ys = [n.position[1] for n in nodes]
    return (sum(xs) / len(xs), sum(ys) / len(ys))


def _port_names(count: int, base: str) -> list[str]:
    return [base] if count == 1 else [f"{base}{i + 1}" for i in range(count)]


@dataclass
class GroupIntoBlock(Command):
    """Selected nodes become one block node: a new definition holding them, wired where they
    were. Refuses Input/Output nodes and empty selections."""

    graph: Graph
    node_ids: list[str]
    name: str | None = None
    block_node_id: str = field(default_factory=new_id)
    _definition: BlockDefinition | None = None
    _removed: list[tuple[Node, list[Edge]]] = field(default_factory=list)
    _wires: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        chosen = [self.graph.node(i) for i in self.node_ids]
        if not chosen:
            raise GraphEditError("select the layers to group first")
        io = [n for n in chosen if n.type in ("Input", "Output")]
        if io:
            raise GraphEditError(f"{io[0].label()} cannot go into a block: a block's inputs "
                                 f"and outputs are its ports; leave it out of the selection")
        self.name = self.name or self.graph.blocks.unique_name("MyBlock")
        problem = block_name_problem(self.name)
        if problem:
            raise GraphEditError(problem)
        if self.name in self.graph.blocks:
            raise GraphEditError(f"a block named {self.name!r} already exists")
        self.text = f"Group {len(chosen)} layer{'s' if len(chosen) != 1 else ''} into " \
                    f"block {self.name}"

    def _build(self) -> None:
        chosen = {i: self.graph.node(i) for i in self.node_ids}
        inner = Graph()
        inner.blocks = self.graph.blocks
        for node in chosen.values():
            inner.insert_node(node.copy())
        incoming = sorted({(e.source, e.source_port) for i in chosen
                           for e in self.graph.edges_into(i) if e.source not in chosen},
                          key=lambda sp: self._order(sp[0]))
        outgoing = sorted({(e.source, e.source_port) for i in chosen
                           for e in self.graph.edges_from(i) if e.target not in chosen},
                          key=lambda sp: self._order(sp[0]))
        centre = _centre(list(chosen.values()))
        in_names = dict(zip(incoming, _port_names(len(incoming), "x")))
        out_names = dict(zip(outgoing, _port_names(len(outgoing), "out")))
        for (src, port), name in in_names.items():
            targets = [e for i in chosen for e in self.graph.edges_into(i)
                       if (e.source, e.source_port) == (src, port)]
            top = min(chosen[e.target].position[1] for e in targets)
            x = inner.add_node("Input", name=inner_free(inner, name),
                               params=self._input_params(src, port),
                               position=(chosen[targets[0].target].position[0], top - 100))
            for e in targets:
                inner.connect(Edge(x.id, "out", e.target, e.target_port))
            self._wires += [Edge(src, port, self.block_node_id, x.name)]
        for (src, port), name in out_names.items():
            y = inner.add_node("Output", name=inner_free(inner, name),
                               position=(chosen[src].position[0], chosen[src].position[1] + 100))
            inner.connect(Edge(src, port, y.id, "in"))
            for i in chosen:
                for e in self.graph.edges_from(i):
                    if (e.source, e.source_port) == (src, port) and e.target not in chosen:
                        self._wires.append(Edge(self.block_node_id, y.name, e.target,
                                                e.target_port))
        for e in {e for i in chosen for e in self.graph.edges_from(i) if e.target in chosen}:
            inner.connect(e)
        assert self.name is not None
        self._definition = BlockDefinition(self.name, inner)
        self._position = centre

    def _input_params(self, src: str, port: str) -> dict[str, Any]:
        """An inner Input says what the block is fed where it was made (when an Input kind
        can say it); the instances' own shapes are what counts."""
        from graph.layers.io import INPUT_KINDS
        from graph.validate import analyze

        t = analyze(self.graph).info[src].outputs.get(port)
        if t is None:
            return {}
        if t.dtype == "long":
            return {"kind": "tokens", "shape": t.dims} if len(t.dims) == 1 else {}
        kind = {INPUT_KINDS[k][0]: k for k in ("vector", "sequence", "image")}.get(len(t.dims))
        return {"kind": kind, "shape": t.dims} if kind else {}

    def _order(self, node_id: str) -> int:
        return [n.id for n in self.graph.nodes].index(node_id)

    def do(self) -> None:
        if self._definition is None:
            self._build()
        self.graph.blocks.add(self._definition)
        self._removed = [self.graph.remove_node(i) for i in self.node_ids]
        assert self._definition is not None
        node = Node(self.block_node_id, BLOCK_TYPE,
                    self.graph.unique_name(self._definition.default_name),
                    {"block": self._definition.name}, self._position, self._definition)
        self.graph.insert_node(node)
        for edge in self._wires:
            self.graph.connect(edge)

    def undo(self) -> None:
        self.graph.remove_node(self.block_node_id)
        for node, _ in self._removed:
            self.graph.insert_node(node)
        for _, edges in self._removed:
            for edge in edges:
                if not self.graph.has_edge(edge):
                    self.graph.connect(edge)
        assert self._definition is not None
        self.graph.blocks.discard(self._definition.name)

    @property
    def definition(self) -> BlockDefinition:
        assert self._definition is not None
        return self._definition


def inner_free(graph: Graph, name: str) -> str:
    """``name`` if no node of ``graph`` has it, else the first free ``name<N>``."""
    return free_name({n.name for n in graph.nodes}, name)


@dataclass
class Ungroup(Command):
    """A block node is replaced by a copy of its layers, wired where the block was. The
    definition stays (other instances, the palette) unless nothing uses it any more."""

    graph: Graph
    node_id: str
    _node: Node | None = None
    _edges: list[Edge] = field(default_factory=list)
    _added: list[Node] = field(default_factory=list)
    _wires: list[Edge] = field(default_factory=list)
    _dropped: BlockDefinition | None = None

    def __post_init__(self) -> None:
        node = self.graph.node(self.node_id)
        if node.block is None:
            raise GraphEditError(f"{node.label()} is not a block")
        self.text = f"Ungroup {node.label()}"

    def _plan(self, node: Node) -> None:
        definition = node.block
        inner = definition.graph
        layers = [n for n in inner.nodes if n.type not in ("Input", "Output")]
        cx, cy = _centre(layers) if layers else (0.0, 0.0)
        taken = {n.name for n in self.graph.nodes} - {node.name}
        ids: dict[str, str] = {}
        for n in layers:
            name = n.name
            if name in taken:
                name = f"{node.name}_{n.name}"[:64]
                name = free_name(taken, name)
            taken.add(name)
            ids[n.id] = new_id()
            self._added.append(Node(ids[n.id], n.type, name, dict(n.params),
                                    (n.position[0] - cx + node.position[0],
                                     n.position[1] - cy + node.position[1]), n.block))
        outer_in = {e.target_port: e for e in self.graph.edges_into(node.id)}
        outer_out = self.graph.edges_from(node.id)
        ports_in = {n.id: n.name for n in inner.nodes if n.type == "Input"}
        ports_out = {n.name: n.id for n in inner.nodes if n.type == "Output"}
        for e in inner.edges:
            if e.source in ids and e.target in ids:
                self._wires.append(Edge(ids[e.source], e.source_port, ids[e.target],
                                        e.target_port))
            elif e.source in ports_in and e.target in ids and ports_in[e.source] in outer_in:
                src = outer_in[ports_in[e.source]]
                self._wires.append(Edge(src.source, src.source_port, ids[e.target],
                                        e.target_port))
        for e in outer_out:
            feeding = [f for f in inner.edges_into(ports_out[e.source_port])]
            for f in feeding:
                if f.source in ids:
                    self._wires.append(Edge(ids[f.source], f.source_port, e.target,
                                            e.target_port))
                elif f.source in ports_in and ports_in[f.source] in outer_in:  # pass-through
                    src = outer_in[ports_in[f.source]]
                    self._wires.append(Edge(src.source, src.source_port, e.target,
                                            e.target_port))

    def do(self) -> None:
        node = self.graph.node(self.node_id)
        if self._node is None:
            self._plan(node)
        self._node, self._edges = self.graph.remove_node(self.node_id)
        for n in self._added:
            self.graph.insert_node(n.copy())
        for e in self._wires:
            if not self.graph.has_edge(e):
                self.graph.connect(e)
        definition = self._node.block
        if not any(n.block is definition for n in _all_nodes(self.graph)):
            self._dropped = definition
            self.graph.blocks.discard(definition.name)

    @property
    def added_ids(self) -> list[str]:
        """The ids of the layers that took the block's place."""
        return [n.id for n in self._added]

    def undo(self) -> None:
        for n in self._added:
            self.graph.remove_node(n.id)
        if self._dropped is not None:
            self.graph.blocks.add(self._dropped)
            self._dropped = None
        assert self._node is not None
        self.graph.insert_node(self._node)
        for e in self._edges:
            self.graph.connect(e)


def free_name(taken: set[str], name: str) -> str:
    """``name`` if it is not taken, else the first free ``name<N>`` (N from 2)."""
    if name not in taken:
        return name
    i = 2
    while f"{name}{i}" in taken:
        i += 1
    return f"{name}{i}"


def _contains(definition: BlockDefinition, graph: Graph) -> bool:
    """Whether ``graph`` is ``definition``'s inner graph or that of a block inside it."""
    if definition.graph is graph:
        return True
    return any(n.block is not None and _contains(n.block, graph) for n in definition.graph.nodes)


def _all_nodes(graph: Graph) -> list[Node]:
    """The nodes of the network and of every definition in its registry."""
    nodes = list(graph.nodes)
    for d in graph.blocks.values():
        nodes += d.graph.nodes
    return nodes


@dataclass
class AddBlock(Command):
    """Add an instance of a block: a definition of this project, or one from the library
    (copied into the project first; an identical definition already there is reused)."""

    graph: Graph
    definition: BlockDefinition
    position: tuple[float, float] = (0.0, 0.0)
    node_id: str = field(default_factory=new_id)
    _registered: BlockDefinition | None = None
    _nested: list[BlockDefinition] = field(default_factory=list)  # copied in with it
    _name: str | None = None

    def __post_init__(self) -> None:
        self.text = f"Add block {self.definition.name}"
        if _contains(self.definition, self.graph):
            raise GraphEditError(f"the block {self.definition.name} cannot contain itself: "
                                 f"go back to the network (or another block) to add it")

    def _resolve(self) -> BlockDefinition:
        blocks = self.graph.blocks
        mine = blocks.get(self.definition.name)
        if mine is self.definition:
            return mine
        if mine is not None and definition_to_dict(mine) == definition_to_dict(self.definition):
            return mine
        name = self.definition.name if mine is None else blocks.unique_name(self.definition.name)
        copy = self.definition.copy(name)
        self._adopt_nested(copy)
        copy.graph.blocks = blocks
        self._registered = copy
        return copy

    def _adopt_nested(self, definition: BlockDefinition) -> None:
        """The blocks inside a library block come into the project too (inner ones first);
        one the project already has with the same contents is used as it is."""
        blocks = self.graph.blocks
        for node in definition.graph.nodes:
            inner = node.block
            if inner is None or blocks.get(inner.name) is inner or inner in self._nested:
                continue
            mine = blocks.get(inner.name) or next(
                (d for d in self._nested if d.name == inner.name), None)
            if mine is not None and definition_to_dict(mine) == definition_to_dict(inner):
                node.block = mine
                continue
            taken = set(blocks) | {d.name for d in self._nested}
            name = inner.name
            i = 2
            while name in taken:
                name, i = f"{inner.name}{i}", i + 1
            copy = inner.copy(name)
            self._adopt_nested(copy)
            self._nested.append(copy)
            node.block = copy
            node.params["block"] = name

    def do(self) -> None:
        if self._registered is None:
            definition = self._resolve()
        else:
            definition = self._registered
        for nested in self._nested:
            self.graph.blocks.add(nested)
        if self._registered is not None:
            self.graph.blocks.add(self._registered)
        self._name = self._name or self.graph.unique_name(definition.default_name)
        self.graph.insert_node(Node(self.node_id, BLOCK_TYPE, self._name,
                                    {"block": definition.name},
                                    (float(self.position[0]), float(self.position[1])),
                                    definition))

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)
        if self._registered is not None:
            self.graph.blocks.discard(self._registered.name)
        for nested in reversed(self._nested):
            self.graph.blocks.discard(nested.name)


@dataclass
class RenameBlock(Command):
    """Rename a definition (every instance follows)."""

    graph: Graph
    old: str
    new: str
    _renamed: list[tuple[Graph, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        problem = block_name_problem(self.new)
        if problem:
            raise GraphEditError(problem)
        if self.new in self.graph.blocks and self.new != self.old:
            raise GraphEditError(f"a block named {self.new!r} already exists")
        self.text = f"Rename block {self.old} to {self.new}"

    def _rename(self, old: str, new: str) -> None:
        blocks = self.graph.blocks
        definition = blocks[old]
        users = [n for n in _all_nodes(self.graph) if n.block is definition]
        blocks.discard(old)
        definition.name = new
        definition._spec = None
        blocks.add(definition)
        for n in users:
            n.params["block"] = new

    def do(self) -> None:
        self._rename(self.old, self.new)
        # instances still named after the old name (my_block1) follow it (basic_block1)
        definition = self.graph.blocks[self.new]
        old_stem = BlockDefinition.stem(self.old)
        self._renamed = []
        for g in [self.graph, *(d.graph for d in self.graph.blocks.values())]:
            for n in definition.instances(g):
                digits = n.name[len(old_stem):]
                if n.name.startswith(old_stem) and digits.isdigit():
                    new = g.unique_name(definition.default_name)
                    self._renamed.append((g, n.id, n.name, new))
                    g.rename(n.id, new)

    def undo(self) -> None:
        for g, node_id, old, _ in reversed(self._renamed):
            g.rename(node_id, old)
        self._rename(self.new, self.old)
