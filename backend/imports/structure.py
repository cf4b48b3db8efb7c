"""Imported networks structured as blocks along the model's own module hierarchy.

The importers build a flat graph (``building.GraphBuilder``) and record for each node the
dotted path of the module whose ``forward()`` made it (``builder.scopes``: ``"layer1.0"`` for
``layer1.0.conv1`` and for the add written in ``BasicBlock.forward``) and each module's class
(``builder.module_classes``). :func:`structure` turns that flat graph into nested blocks:

- every submodule whose nodes form a region that can be grouped (no path leaves it and comes
  back, connected, at least one input and one output, two nodes or more) becomes a block
  instance named after its attribute (``layer1``; ``basic_block0`` for ``layer1.0``), nested
  as the modules are (``layer1`` -> ``basic_block0`` -> ``conv1``...);
- identical bodies (same inner layers, parameters, wiring and ports) share one
  ``BlockDefinition``, named after the module class (``BasicBlock``, ``BasicBlock_2``...; a
  ``Sequential`` after its attribute: ``Layer1``, ``Downsample``); the layers inside keep the
  module's own attribute names (``conv1``, ``bn1``, ``relu_1`` for a second call);
- a module whose region cannot be a block (interleaved with another, called twice, ...)
  stays flat inside its parent, and anything unexpected leaves the whole graph flat: the
  structuring never fails an import.

The weights are re-keyed to the compiled nested module's state_dict keys
(``layer1_0_conv1.weight`` -> ``layer1.basic_block0.conv1.weight``) and Opaque node names
become their paths (``features/conv2d_norm_activation0/op``), as the import report shows
them. Pure Python over the graph model (no torch): the weights are only re-keyed.
"""
from __future__ import annotations

import keyword
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from graph.blocks import BLOCK_TYPE, BlockDefinition, block_name_problem, free_name
from graph.layers.io import INPUT_KINDS
from graph.layout import auto_layout
from graph.model import RESERVED_NAMES, Edge, Graph, Node, name_problem, new_id
from graph.shapes import TensorType
from graph.validate import Analysis, analyze

log = logging.getLogger(__name__)

# Container classes: their blocks are named after the attribute (layer1 -> Layer1), since
# "Sequential_7" says nothing.
CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})

Value = tuple[str, str]  # (flat node id, output port)


@dataclass
class Structured:
    """The structured network, its re-keyed weights and what was made."""

    graph: Graph
    state: dict[str, Any]
    opaque: list[str]
    paths: dict[str, str]  # flat node name -> its path in the structured graph (a.b.c)
    blocks: int = 0  # block instances, nested ones included
    definitions: int = 0
    flat_modules: list[str] = field(default_factory=list)  # modules left flat, and why


@dataclass(eq=False)
class _Unit:
    """A flat node, or a group of units that becomes a block instance (one module)."""

    key: str  # flat node id, or "module:<path>" for a group
    scope: str  # the module whose forward made it (for a group: the module's caller)
    first: int  # index of its first flat node (the units keep the flat graph's order)
    last: int  # index of its last flat node
    path: str = ""  # a group's module path
    # the modules it also stands for: parents whose only content it is (innermost first)
    aliases: list[str] = field(default_factory=list)
    rename: str = ""  # a layer that is all a module made takes the module's name (cls)
    members: list["_Unit"] = field(default_factory=list)
    flat: set[str] = field(default_factory=set)  # flat node ids inside (a group)
    # filled in when the block is built
    inputs: list[tuple[Value, str]] = field(default_factory=list)  # outer value -> port
    outputs: dict[Value, str] = field(default_factory=dict)  # inner value -> port
    definition: BlockDefinition | None = None
    names: dict[str, str] = field(default_factory=dict)  # flat id -> name inside
    instance_id: str = ""  # its Block node's id where it is placed

    @property
    def is_group(self) -> bool:
        return bool(self.path)


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _ancestors(scope: str) -> list[str]:
    """``a.b.c`` -> a.b.c, a.b, a."""
    out = []
    while scope:
        out.append(scope)
        scope = _parent(scope)
    return out


def _valid_name(name: str) -> str:
    """``name`` made a valid node name (``0`` -> ``n0``, ``input`` -> ``input_``)."""
    name = re.sub(r"\W", "_", name)[:60] or "node"
    if name[0].isdigit():
        name = "n" + name
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        name += "_"
    return name


class _Structurer:
    def __init__(self, flat: Graph, analysis: Analysis, scopes: dict[str, str],
                 classes: dict[str, str], module_inputs: dict[str, list[tuple[str, Value]]],
                 module_outputs: dict[str, list[Value]]) -> None:
        self.flat, self.analysis = flat, analysis
        self.classes, self.module_inputs = classes, module_inputs
        self.module_outputs = module_outputs
        self.output_names: dict[str, list[str]] = {}  # declared by generated block classes
        self.renames: dict[str, dict[str, str]] = {}
        self.nodes = {n.id: n for n in flat.nodes}
        self.index = {n.id: i for i, n in enumerate(flat.nodes)}
        self.units: list[_Unit] = []
        self.owner: dict[str, _Unit] = {}  # flat id -> its top-level unit
        for n in flat.nodes:
            scope = "" if n.type in ("Input", "Output") else scopes.get(n.id, "") or ""
            unit = _Unit(n.id, scope, self.index[n.id], self.index[n.id])
            self.units.append(unit)
            self.owner[n.id] = unit
        self.succ: dict[_Unit, set[_Unit]] = {u: set() for u in self.units}
        self.pred: dict[_Unit, set[_Unit]] = {u: set() for u in self.units}
        self.into: dict[str, list[Edge]] = {n.id: [] for n in flat.nodes}
        self.out_edges: dict[str, list[Edge]] = {n.id: [] for n in flat.nodes}
        for e in flat.edges:
            s, t = self.owner[e.source], self.owner[e.target]
            self.succ[s].add(t)
            self.pred[t].add(s)
            self.into[e.target].append(e)
            self.out_edges[e.source].append(e)
        for edges in self.into.values():
            edges.sort(key=lambda e: (self.index[e.source], e.source_port, e.target_port))
        self.top = set(self.units)
        self.flat_modules: list[str] = []
        self.registry_names: set[str] = set()
        self.by_body: dict[tuple, BlockDefinition] = {}
        self.definitions: list[BlockDefinition] = []
        self.instances = 0

    # ---- deciding the groups ---------------------------------------------------------------
    def group(self) -> None:
        first: dict[str, int] = {}  # module path -> index of its first node
        for u in self.units:
            scope = u.scope
            while scope:
                first[scope] = min(first.get(scope, u.first), u.first)
                scope = _parent(scope)
        self.by_path: dict[str, set[_Unit]] = {p: set() for p in first}  # units within
        for u in self.units:
            for p in _ancestors(u.scope):
                self.by_path[p].add(u)
        for path in sorted(first, key=lambda p: (-p.count("."), first[p])):
            members = sorted(self.by_path[path], key=lambda u: u.first)
            why = self._refusal(members)
            if why is None:
                self._contract(path, members)
            elif len(members) == 1 and members[0].is_group:
                members[0].aliases.append(path)  # `layer4 = Sequential(block)`: layer4
            elif len(members) == 1:
                attr = path.rpartition(".")[2]
                if not attr.isdigit():
                    members[0].rename = _valid_name(attr)
            elif why:
                self.flat_modules.append(f"{path}: {why}")
        self.units = sorted(self.top, key=lambda u: u.first)

    def _refusal(self, members: list[_Unit]) -> str | None:
        """Why these units cannot become one block ("" for a single unit), or None."""
        if len(members) < 2:
            return ""
        if any(not m.is_group and self.nodes[m.key].type in ("Input", "Output")
               for m in members):
            return "it holds an input or output of the network"
        inside = set(members)
        if not any(p not in inside for m in members for p in self.pred[m]):
            return "it uses none of the values computed before it"
        if not any(s not in inside for m in members for s in self.succ[m]):
            return "nothing outside uses what it computes"
        seen, todo = {members[0]}, [members[0]]
        while todo:  # one connected region: a module called twice makes two
            u = todo.pop()
            for v in self.succ[u] | self.pred[u]:
                if v in inside and v not in seen:
                    seen.add(v)
                    todo.append(v)
        if len(seen) != len(inside):
            return "its layers form separate regions (is it called more than once?)"
        # no path leaves the region and comes back into it; the flat nodes are in execution
        # order, so a unit that starts after the region's last node cannot lead back into it
        last = max(m.last for m in members)
        start = {s for m in members for s in self.succ[m] if s not in inside and s.first < last}
        seen, todo = set(start), list(start)
        while todo:
            u = todo.pop()
            for v in self.succ[u]:
                if v in inside:
                    return "its layers are interleaved with layers of other modules"
                if v not in seen and v.first < last:
                    seen.add(v)
                    todo.append(v)
        return None

    def _contract(self, path: str, members: list[_Unit]) -> None:
        members.sort(key=lambda u: u.first)
        group = _Unit("module:" + path, _parent(path), members[0].first,
                      max(m.last for m in members), path=path, members=members)
        for m in members:
            group.flat |= m.flat if m.is_group else {m.key}
        inside = set(members)
        self.succ[group] = {s for m in members for s in self.succ.pop(m)} - inside
        self.pred[group] = {p for m in members for p in self.pred.pop(m)} - inside
        for s in self.succ[group]:
            self.pred[s] = (self.pred[s] - inside) | {group}
        for p in self.pred[group]:
            self.succ[p] = (self.succ[p] - inside) | {group}
        for flat_id in group.flat:
            self.owner[flat_id] = group
        for m in members:
            for p in _ancestors(m.scope):
                self.by_path[p].discard(m)
        for p in _ancestors(group.scope):
            self.by_path[p].add(group)
        self.top -= inside
        self.top.add(group)

    # ---- building the blocks ---------------------------------------------------------------
    def build(self) -> tuple[Graph, dict[str, str]]:
        """The structured network and each flat node's path in it (a.b.c)."""
        root = Graph()
        names: dict[_Unit, str] = {}
        taken: set[str] = set()
        for u in self.units:  # the network's own nodes keep their names
            if not u.is_group:
                names[u] = free_name(taken, u.rename or self.nodes[u.key].name)
                taken.add(names[u])
        for u in self.units:
            if u.is_group:
                self._build_group(u, root)
                names[u] = free_name(taken, self._instance_name(u))
                taken.add(names[u])
        self._fill(root, self.units, names, {})
        auto_layout(root)
        paths: dict[str, str] = {}
        for u in self.units:
            self._record_paths(u, names[u], paths)
        return root, paths

    def _record_paths(self, unit: _Unit, prefix: str, paths: dict[str, str]) -> None:
        if not unit.is_group:
            paths[unit.key] = prefix
            return
        for m in unit.members:
            self._record_paths(m, f"{prefix}.{unit.names[m.key]}", paths)

    def _class_name(self, unit: _Unit) -> str:
        """The block's name: the module's class (of the innermost module that is not a
        container when it stands for several), a container's attribute (layer1 -> Layer1)."""
        chain = [unit.path, *unit.aliases]
        for path in chain:
            cls = self.classes.get(path, "")
            if cls and cls not in CONTAINERS:
                return cls
        for path in chain:
            attr = path.rpartition(".")[2]
            if not attr.isdigit():
                return "".join(p[:1].upper() + p[1:] for p in re.split(r"_+", attr) if p)
        return self.classes.get(unit.path, "") or "Block"

    def _instance_name(self, unit: _Unit) -> str:
        attr = ([unit.path, *unit.aliases][-1]).rpartition(".")[2]
        if attr.isdigit():  # layer1.0 -> basic_block0
            return BlockDefinition.stem(re.sub(r"\W", "", self._class_name(unit)) or
                                        "block") + attr
        return _valid_name(attr)

    def _inner_name(self, unit: _Unit, flat_id: str) -> str:
        """A layer's name inside ``unit``'s block: its own attribute name (conv1)."""
        node = self.nodes[flat_id]
        name = node.name
        prefix = re.sub(r"\W", "_", unit.path) + "_"
        for p in (prefix, "n" + prefix):
            if name.startswith(p) and len(name) > len(p):
                name = name[len(p):]
                break
        name = self.renames.get(unit.path, {}).get(name, name)  # sum_1 -> sum
        if name.isdigit():  # a Sequential's layers: 0 -> conv0
            stem = re.sub(r"\d+$", "", node.spec.default_name) or "layer"
            return _valid_name(stem + name)
        return name if name_problem(name) is None else _valid_name(name)

    def _build_group(self, unit: _Unit, root: Graph) -> None:
        """Build ``unit``'s block (its children first) and find or make its definition."""
        for m in unit.members:
            if m.is_group:
                self._build_group(m, root)
        # the values it reads from outside, in the order of the module's forward() arguments
        consumed: list[Value] = []
        for m in unit.members:
            for value in (self._reads(m)):
                if value[0] not in unit.flat and value not in consumed:
                    consumed.append(value)
        consumed.sort(key=lambda v: (self.index[v[0]], v[1]))
        port_of = self._input_ports(unit, consumed)
        unit.inputs = [(v, port_of[v][0]) for v in sorted(consumed, key=lambda v: port_of[v][1])]
        produced = sorted({(e.source, e.source_port) for f in unit.flat
                           for e in self.out_edges[f] if e.target not in unit.flat},
                          key=lambda v: (self.index[v[0]], v[1]))
        returned = self.module_outputs.get(unit.path) or []
        if all(v in returned for v in produced):  # in the order forward() returns them
            produced.sort(key=returned.index)
        out_names = ["out"] if len(produced) == 1 else [f"out{i + 1}"
                                                        for i in range(len(produced))]
        declared = self.output_names.get(unit.path) or []
        if len(declared) == len(produced) and len(set(declared)) == len(declared) and \
                all(name_problem(n) is None for n in declared) and \
                all(v in returned for v in produced):
            out_names = list(declared)
        unit.outputs = dict(zip(produced, out_names))
        # names inside: ports first, then the layers (their attribute names), then blocks
        taken = {name for _, name in unit.inputs} | set(out_names)
        names: dict[_Unit, str] = {}
        for m in unit.members:
            if not m.is_group:
                names[m] = free_name(taken, m.rename or self._inner_name(unit, m.key))
                taken.add(names[m])
        for m in unit.members:
            if m.is_group:
                names[m] = free_name(taken, self._instance_name(m))
                taken.add(names[m])
        unit.names = {m.key: names[m] for m in unit.members}
        inner = Graph()  # joins the registry when it becomes a definition
        ports_in: dict[Value, str] = {}
        for value, name in unit.inputs:
            node = Node(new_id(), "Input", name, self._input_params(value))
            inner.insert_node(node)
            ports_in[value] = node.id
        self._fill(inner, unit.members, names, ports_in)
        for value, name in unit.outputs.items():
            node = Node(new_id(), "Output", name, {})
            inner.insert_node(node)
            inner.connect(Edge(*self._expose(unit.members, value), node.id, "in"))
        body = _body(inner)
        definition = self.by_body.get(body)
        if definition is None:
            definition = BlockDefinition(self._definition_name(unit), inner)
            auto_layout(inner)
            root.blocks.add(definition)
            self.by_body[body] = definition
            self.definitions.append(definition)
        unit.definition = definition
        self.instances += 1

    def _reads(self, unit: _Unit) -> list[Value]:
        if unit.is_group:
            return [v for v, _ in unit.inputs]
        return [(e.source, e.source_port) for e in self.into[unit.key]]

    def _input_ports(self, unit: _Unit, consumed: list[Value]) -> dict[Value, tuple[str, int]]:
        """Port name and position of each outer value: the forward() argument it was passed
        as when every value is one (``x``; ``input`` -> ``x``), else x, x1, x2... in order."""
        args = self.module_inputs.get(unit.path) or []
        order: dict[Value, tuple[str, int]] = {}
        for i, (name, value) in enumerate(args):
            if value in consumed and value not in order:
                order[value] = (name, i)
        if len(order) != len(consumed):
            order = {v: ("x", i) for i, v in enumerate(consumed)}
            if len(consumed) > 1:
                order = {v: (f"x{i + 1}", i) for i, v in enumerate(consumed)}
            return order
        taken: set[str] = set()
        for value, (name, i) in sorted(order.items(), key=lambda item: item[1][1]):
            name = name if name_problem(name) is None and name not in taken else \
                ("x" if len(order) == 1 else f"x{i + 1}")
            name = free_name(taken, name)
            taken.add(name)
            order[value] = (name, i)
        return order

    def _input_params(self, value: Value) -> dict[str, Any]:
        """An inner Input says what the block is fed where it was imported."""
        info = self.analysis.info.get(value[0])
        t = info.outputs.get(value[1]) if info is not None else None
        if not isinstance(t, TensorType):
            return {}
        if t.dtype == "long":
            return {"kind": "tokens", "shape": t.dims} if len(t.dims) == 1 else {}
        kind = {INPUT_KINDS[k][0]: k for k in ("vector", "sequence", "image")}.get(len(t.dims))
        return {"kind": kind, "shape": t.dims} if kind else {}

    def _expose(self, members: list[_Unit], value: Value) -> Value:
        """(node id, port) at this level that carries the flat ``value``."""
        unit = self.owner_in(members, value[0])
        if unit.is_group:
            assert unit.instance_id
            return unit.instance_id, unit.outputs[value]
        return unit.key, value[1]

    def owner_in(self, members: list[_Unit], flat_id: str) -> _Unit:
        for m in members:
            if (m.is_group and flat_id in m.flat) or m.key == flat_id:
                return m
        raise KeyError(flat_id)

    def _fill(self, graph: Graph, members: list[_Unit], names: dict[_Unit, str],
              ports_in: dict[Value, str]) -> None:
        """Put ``members`` into ``graph`` (layers and block instances) and wire them; values
        from outside come from the Input nodes ``ports_in``."""
        for m in members:
            if m.is_group:
                assert m.definition is not None
                m.instance_id = new_id()
                graph.insert_node(Node(m.instance_id, BLOCK_TYPE, names[m],
                                       {"block": m.definition.name}, (0.0, 0.0), m.definition))
            else:
                node = self.nodes[m.key]
                graph.insert_node(Node(node.id, node.type, names[m], dict(node.params),
                                       node.position, node.block))
        for m in members:
            if m.is_group:
                wires = [(v, m.instance_id, port) for v, port in m.inputs]
            else:
                wires = [((e.source, e.source_port), m.key, e.target_port)
                         for e in self.into[m.key]]
            for value, target, port in wires:
                if value in ports_in:
                    graph.connect(Edge(ports_in[value], "out", target, port))
                else:
                    graph.connect(Edge(*self._expose(members, value), target, port))

    def _definition_name(self, unit: _Unit) -> str:
        base = re.sub(r"\W", "_", self._class_name(unit))[:56].strip("_") or "Block"
        if base[0].isdigit():
            base = "Block" + base
        if block_name_problem(base):
            base += "_"
        name, i = base, 2
        while name in self.registry_names:
            name, i = f"{base}_{i}", i + 1
        self.registry_names.add(name)
        return name


def _body(inner: Graph) -> tuple:
    """What makes two blocks the same: their layers (names, types, parameters), the wiring
    and the ports (an Input's example shape left out: each instance has its own)."""
    names = {n.id: n.name for n in inner.nodes}
    nodes = tuple((n.name, n.type, "" if n.type == "Input" else
                   repr(sorted(n.params.items()))) for n in inner.nodes)
    edges = tuple(sorted((names[e.source], e.source_port, names[e.target], e.target_port)
                         for e in inner.edges))
    return nodes, edges


def structure(flat: Graph, scopes: dict[str, str], classes: dict[str, str],
              state: dict[str, Any], opaque: list[str],
              module_inputs: dict[str, list[tuple[str, Value]]] | None = None,
              module_outputs: dict[str, list[Value]] | None = None,
              output_names: dict[str, list[str]] | None = None,
              renames: dict[str, dict[str, str]] | None = None) -> Structured | None:
    """The flat imported graph as nested blocks along the module hierarchy, or None when
    nothing becomes a block (no scopes, or every module is a single layer). Raises nothing
    the caller must handle beyond falling back to the flat graph (``building.finish``)."""
    if not any(scopes.get(n.id) for n in flat.nodes):
        return None
    analysis = analyze(flat)
    if not analysis.is_valid:
        return None  # verify() reports the flat graph's errors
    s = _Structurer(flat, analysis, scopes, classes, module_inputs or {}, module_outputs or {})
    s.output_names, s.renames = output_names or {}, renames or {}
    s.group()
    if not any(u.is_group or u.rename for u in s.units):
        return None
    graph, paths = s.build()
    checked = analyze(graph)
    outputs = [n for n in flat.nodes if n.type == "Output"]
    if not checked.is_valid or [checked.info[o.id].inputs for o in outputs] != \
            [analysis.info[o.id].inputs for o in outputs]:
        log.warning("structuring the import into blocks made an invalid graph; kept flat:\n%s",
                    checked.summary())
        return None
    by_name = {n.name: paths[n.id] for n in flat.nodes}
    new_state = {}
    for key, value in state.items():
        node, _, rest = key.partition(".")
        new_state[f"{by_name.get(node, node)}.{rest}"] = value
    return Structured(graph, new_state, [by_name.get(o, o).replace(".", "/") for o in opaque],
                      by_name, s.instances, len(s.definitions), s.flat_modules)
