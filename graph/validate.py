"""Shape inference and validation in one walk over the graph.

Every problem is reported against the node (and port) it belongs to, in words a user
understands, naming both ends of a bad edge. A graph with any error never reaches torch.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from graph.errors import ShapeError
from graph.model import Edge, Graph, Node, name_problem
from graph.shapes import TensorType


@dataclass(frozen=True)
class Issue:
    """One problem. ``node_id`` is None for whole-graph problems (no Input, no Output)."""

    message: str
    node_id: str | None = None
    port: str | None = None
    kind: str = "error"  # unconnected, cycle, duplicate_input, shape, param, name, missing_port,
    #                       no_input, no_output, unused
    severity: str = "error"  # or "warning" (does not block training)
    other_node_id: str | None = None  # the node at the other end of a bad edge


@dataclass
class NodeInfo:
    """What analysis found out about one node."""

    inputs: dict[str, TensorType] = field(default_factory=dict)   # by input port
    outputs: dict[str, TensorType] = field(default_factory=dict)  # by output port
    params: int = 0
    macs: int = 0
    trainable: int = 0  # of ``params``, those training updates (fewer for frozen layers)


@dataclass
class Analysis:
    """Result of ``analyze``: per-node shapes and costs, every issue, totals."""

    info: dict[str, NodeInfo]
    issues: list[Issue]
    order: list[str]  # topological order of the nodes that could be ordered

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def is_valid(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(i.params for i in self.info.values())

    @property
    def total_trainable(self) -> int:
        """Parameters training updates (frozen pretrained layers excluded)."""
        return sum(i.trainable for i in self.info.values())

    @property
    def total_macs(self) -> int:
        return sum(i.macs for i in self.info.values())

    def issues_for(self, node_id: str) -> list[Issue]:
        return [i for i in self.issues if i.node_id == node_id]

    def edge_type(self, edge: Edge) -> TensorType | None:
        """The tensor type a wire carries (None if unknown because of an upstream error)."""
        info = self.info.get(edge.source)
        return info.outputs.get(edge.source_port) if info else None

    def summary(self) -> str:
        """All errors, one per line."""
        return "\n".join(i.message for i in self.errors)


def analyze(graph: Graph, input_types: dict[str, TensorType] | None = None) -> Analysis:
    """Infer every tensor shape, parameter count and MAC count; collect every issue.

    ``input_types`` gives Input nodes (by id) the type they carry instead of the one their
    kind and shape say: a block's inner graph, analysed for one of its instances."""
    issues: list[Issue] = []
    info = {n.id: NodeInfo() for n in graph.nodes}
    nodes = {n.id: n for n in graph.nodes}
    param_ok = {n.id: _check_node(n, issues) for n in graph.nodes}

    # Wires: into a port that does not exist, or two wires into one input.
    feeds: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for e in graph.edges:
        src, dst = nodes[e.source], nodes[e.target]
        if e.source_port not in [p.name for p in src.spec.output_ports(src.params)]:
            issues.append(Issue(f"{src.label()} has no output {e.source_port!r}; remove this "
                                f"connection to {dst.label()}", e.source, e.source_port,
                                "missing_port", other_node_id=e.target))
            continue
        if e.target_port not in [p.name for p in dst.spec.input_ports(dst.params)]:
            issues.append(Issue(f"{dst.label()} has no input {e.target_port!r} (it has "
                                f"{len(dst.spec.input_ports(dst.params))} inputs now); remove "
                                f"the connection from {src.label()}", e.target, e.target_port,
                                "missing_port", other_node_id=e.source))
            continue
        feeds[(e.target, e.target_port)].append(e)
    for (target, port), edges in feeds.items():
        if len(edges) > 1:
            names = " and ".join(nodes[e.source].label() for e in edges)
            issues.append(Issue(f"input {port!r} of {nodes[target].label()} is connected to "
                                f"{names}; an input takes one connection: remove all but one "
                                f"(or join them with an Add or Concat)", target, port,
                                "duplicate_input", other_node_id=edges[1].source))

    # Loops.
    cyclic: set[str] = set()
    view = graph.nx_view()
    for component in nx.strongly_connected_components(view):
        if len(component) > 1 or any(view.has_edge(n, n) for n in component):
            cyclic |= component
            names = ", ".join(sorted(nodes[n].label() for n in component))
            for n in component:
                issues.append(Issue(f"{nodes[n].label()} is part of a loop ({names}); data must "
                                    f"flow one way: remove one of these connections", n,
                                    kind="cycle"))

    if not any(n.type == "Input" for n in graph.nodes):
        issues.append(Issue("the network has no Input node: add one from the palette "
                            "(Input/Output)", kind="no_input"))
    if not any(n.type == "Output" for n in graph.nodes):
        issues.append(Issue("the network has no Output node: add one and connect the last "
                            "layer to it", kind="no_output"))

    # A plain DiGraph copy in the same node/edge order: sorting through a subgraph view of the
    # multigraph costs ~10x more (every lookup goes through the view's filters).
    acyclic = nx.DiGraph()
    acyclic.add_nodes_from(n for n in view if n not in cyclic)
    acyclic.add_edges_from((a, b) for a, b in view.edges() if a not in cyclic and b not in cyclic)
    order = list(nx.topological_sort(acyclic))
    given = input_types or {}
    for node_id in order:
        if node_id in given:
            info[node_id].outputs = {"out": given[node_id]}
            continue
        _infer_node(nodes[node_id], graph, nodes, info, feeds, param_ok[node_id], issues)

    _flag_unused(graph, nodes, issues)
    return Analysis(info, issues, order)


def _check_node(node: Node, issues: list[Issue]) -> bool:
    """Name and parameter problems of one node; True when its parameters are usable."""
    problem = name_problem(node.name)
    if problem:
        issues.append(Issue(f"{node.type} {node.name!r}: {problem}", node.id, kind="name"))
    ok = True
    for spec in node.spec.params:
        problem = spec.problem(node.params.get(spec.name, spec.default))
        if problem:
            issues.append(Issue(f"{node.label()}: {problem}", node.id, kind="param"))
            ok = False
    return ok


def _infer_node(node: Node, graph: Graph, nodes: dict[str, Node], info: dict[str, NodeInfo],
                feeds: dict[tuple[str, str], list[Edge]], param_ok: bool,
                issues: list[Issue]) -> None:
    spec = node.spec
    ports = spec.input_ports(node.params)
    inputs: list[TensorType] = []
    sources: list[Node] = []
    complete = True
    for port in ports:
        edges = feeds.get((node.id, port.name), [])
        if not edges:
            hint = "connect a layer's output to it" if node.type != "Output" else \
                "connect the last layer to it"
            issues.append(Issue(f"{node.label()} has nothing connected to its input "
                                f"{port.name!r}: {hint}", node.id, port.name, "unconnected"))
            complete = False
            continue
        src = nodes[edges[0].source]
        t = info[src.id].outputs.get(edges[0].source_port)
        if t is None:
            complete = False  # upstream problem, already reported there
            continue
        inputs.append(t)
        sources.append(src)
        info[node.id].inputs[port.name] = t
    if not complete or not param_ok:
        return
    try:
        outs = spec.infer_checked(inputs, node.params)
    except ShapeError as exc:
        issues.append(_shape_issue(node, ports, sources, inputs, exc))
        return
    info[node.id].outputs = {p.name: t for p, t in zip(spec.output_ports(node.params), outs)}
    try:
        info[node.id].params, info[node.id].macs = spec.cost(inputs, outs, node.params)
        info[node.id].trainable = info[node.id].params if spec.trainable is None else \
            spec.trainable(inputs, outs, node.params)
    except (ValueError, TypeError, ZeroDivisionError, IndexError) as exc:  # pragma: no cover
        issues.append(Issue(f"{node.label()}: cannot count parameters ({exc})", node.id))


def _shape_issue(node: Node, ports, sources: list[Node], inputs: list[TensorType],
                 exc: ShapeError) -> Issue:
    if exc.port is not None and exc.expected and exc.port < len(sources):
        src, got = sources[exc.port], inputs[exc.port]
        message = f"{node.label()} expects {exc.expected} but '{src.name}' gives {got}"
        if node.spec.variadic and exc.port > 0 and sources[0].id != src.id:
            message = (f"{node.label()} expects {exc.expected} (what '{sources[0].name}' gives) "
                       f"but '{src.name}' gives {got}")
        if exc.fix:
            message += f": {exc.fix}"
        return Issue(message, node.id, ports[exc.port].name, "shape", other_node_id=src.id)
    port = ports[exc.port].name if exc.port is not None and exc.port < len(ports) else None
    return Issue(f"{node.label()}: {exc}", node.id, port, "shape")


def _flag_unused(graph: Graph, nodes: dict[str, Node], issues: list[Issue]) -> None:
    """Warn about layers whose result never reaches an Output (they would not be trained)."""
    outputs = [n.id for n in graph.nodes if n.type == "Output"]
    if not outputs:
        return
    reaching: set[str] = set(outputs)
    view = graph.nx_view()
    for o in outputs:
        reaching |= nx.ancestors(view, o)
    for node_id, node in nodes.items():
        if node_id not in reaching:
            issues.append(Issue(f"{node.label()} does not lead to any Output, so it has no "
                                f"effect: connect it or delete it", node_id, kind="unused",
                                severity="warning"))
