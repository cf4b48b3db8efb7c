"""Edits as command objects: each has ``do()`` and ``undo()`` calling only the Graph API.

The GUI wraps each in a QUndoCommand (redo -> do); the CLI and tests use them directly. A
command records what it needs to undo during ``do()``, so do/undo/do reproduces the same graph
(same ids, names, edges).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.errors import GraphEditError
from graph.model import Edge, Graph, Node, new_id


class Command:
    """Base class: ``text`` is what Edit > Undo shows."""

    text = ""

    def do(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError


@dataclass
class AddNode(Command):
    graph: Graph
    type_name: str
    position: tuple[float, float] = (0.0, 0.0)
    params: dict[str, Any] | None = None
    name: str | None = None
    node_id: str = field(default_factory=new_id)
    _node: Node | None = None

    def __post_init__(self) -> None:
        self.text = f"Add {self.type_name}"

    def do(self) -> None:
        if self._node is None:
            node = self.graph.add_node(self.type_name, name=self.name, params=self.params,
                                       position=self.position, node_id=self.node_id)
            self._node = node.copy()  # a snapshot: later edits change the live node only
        else:
            self.graph.insert_node(self._node.copy())

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


@dataclass
class RemoveNode(Command):
    """Removes a node and its wires; undo restores both."""

    graph: Graph
    node_id: str
    _node: Node | None = None
    _edges: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.text = f"Delete {self.graph.node(self.node_id).label()}"

    def do(self) -> None:
        node, self._edges = self.graph.remove_node(self.node_id)
        self._node = node.copy()

    def undo(self) -> None:
        assert self._node is not None
        self.graph.insert_node(self._node.copy())
        for edge in self._edges:
            self.graph.connect(edge)


@dataclass
class Connect(Command):
    """Wires an output to an input; refuses (GraphEditError with the reason) bad wires."""

    graph: Graph
    edge: Edge

    def __post_init__(self) -> None:
        # Checked now when both ends exist (the editor wants the refusal up front); inside a
        # Compound (paste) the ends may only appear when earlier commands run, so do() checks.
        if self.graph.has_node(self.edge.source) and self.graph.has_node(self.edge.target):
            self._check()
            self.text = (f"Connect {self.graph.node(self.edge.source).name} -> "
                         f"{self.graph.node(self.edge.target).name}")
        else:
            self.text = "Connect"

    def _check(self) -> None:
        problem = self.graph.connection_problem(self.edge)
        if problem:
            raise GraphEditError(problem)

    def do(self) -> None:
        self._check()
        self.graph.connect(self.edge)

    def undo(self) -> None:
        self.graph.disconnect(self.edge)


@dataclass
class Disconnect(Command):
    graph: Graph
    edge: Edge

    def __post_init__(self) -> None:
        if not self.graph.has_edge(self.edge):
            raise GraphEditError("these ports are not connected")
        self.text = "Disconnect"

    def do(self) -> None:
        self.graph.disconnect(self.edge)

    def undo(self) -> None:
        self.graph.connect(self.edge)


@dataclass
class SetParam(Command):
    graph: Graph
    node_id: str
    key: str
    value: Any
    _old: Any = None

    def __post_init__(self) -> None:
        node = self.graph.node(self.node_id)
        self._old = node.params.get(self.key)
        self.text = f"Set {node.name}.{self.key}"

    def do(self) -> None:
        self._old = self.graph.set_param(self.node_id, self.key, self.value)

    def undo(self) -> None:
        self.graph.set_param(self.node_id, self.key, self._old)


@dataclass
class Rename(Command):
    graph: Graph
    node_id: str
    name: str
    _old: str = ""

    def __post_init__(self) -> None:
        self.text = f"Rename to {self.name}"

    def do(self) -> None:
        self._old = self.graph.rename(self.node_id, self.name)

    def undo(self) -> None:
        self.graph.rename(self.node_id, self._old)


@dataclass
class MoveNodes(Command):
    """Moves nodes to new positions (one command per drag)."""

    graph: Graph
    positions: dict[str, tuple[float, float]]
    _old: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._old = {nid: self.graph.node(nid).position for nid in self.positions}
        self.text = "Move" if len(self.positions) != 1 else \
            f"Move {self.graph.node(next(iter(self.positions))).name}"

    def do(self) -> None:
        for nid in self.positions:  # all or nothing: a missing node must not leave half a move
            self.graph.node(nid)
        for nid, pos in self.positions.items():
            self.graph.move(nid, pos)

    def undo(self) -> None:
        for nid, pos in self._old.items():
            self.graph.move(nid, pos)


@dataclass
class Compound(Command):
    """Several commands as one undo step (paste, duplicate, delete selection)."""

    commands: list[Command]
    text: str = "Edit"

    def do(self) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.do()
                done.append(command)
        except Exception:
            for command in reversed(done):  # all or nothing
                command.undo()
            raise

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()


@dataclass
class SetTraining(Command):
    """Change one training setting of a project (learning rate, epochs, ...)."""

    project: Any  # graph.project.Project (not imported: project imports this module's users)
    key: str
    value: Any
    _old: Any = None

    def __post_init__(self) -> None:
        from graph.settings import TRAINING_INDEX

        spec = TRAINING_INDEX.get(self.key)
        if spec is None:
            raise GraphEditError(f"unknown training setting {self.key!r}")
        problem = spec.problem(self.value)
        if problem:
            raise GraphEditError(problem)
        self.value = spec.coerce(self.value)
        self.text = f"Set {self.key}"

    def do(self) -> None:
        self._old = self.project.training.get(self.key)
        self.project.training[self.key] = self.value

    def undo(self) -> None:
        self.project.training[self.key] = self._old


@dataclass
class SetDataset(Command):
    """Choose the project's dataset: {"name": ..., "options": {...}}."""

    project: Any
    dataset: dict[str, Any]
    _old: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        name = self.dataset.get("name") if isinstance(self.dataset, dict) else None
        if not isinstance(name, str) or not isinstance(self.dataset.get("options", {}), dict):
            raise GraphEditError("a dataset needs a name and an options object")
        self.dataset = {"name": name, "options": dict(self.dataset.get("options", {}))}
        self.text = f"Use dataset {name}"

    def do(self) -> None:
        self._old = self.project.dataset
        self.project.dataset = self.dataset

    def undo(self) -> None:
        assert self._old is not None
        self.project.dataset = self._old
