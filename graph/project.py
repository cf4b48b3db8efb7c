"""Project files: versioned JSON (never pickle) holding the graph, dataset and training settings.

Loading is parse -> migrate -> check -> build: a bad file raises ``ProjectFileError`` with the
reason before any object exists, so a corrupt, truncated or hostile file can never crash the
app or leave a half-built graph. Weights are not stored here (see checkpoints).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from graph.blocks import (BLOCK_TYPE, BlockDefinition, block_name_problem, definition_to_dict,
                          used_definitions)
from graph.errors import GraphEditError, ProjectFileError
from graph.fileio import atomic_write_bytes
from graph.layers import CATALOGUE, LEGACY_TYPES
from graph.layout import auto_layout
from graph.model import Edge, Graph, Node, name_problem
from graph.settings import coerce_training, default_training

FORMAT_VERSION = 3
MAX_BLOCKS = 1_000
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NODES = 50_000
MAX_EDGES = 200_000
MAX_TEXT = 10_000


@dataclass
class Project:
    """Everything a user saves: the network, the dataset choice and the training settings."""

    graph: Graph = field(default_factory=Graph)
    dataset: dict[str, Any] = field(default_factory=lambda: {"name": "digits", "options": {}})
    training: dict[str, Any] = field(default_factory=default_training)
    name: str = "Untitled"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": "layerforge-project", "format_version": FORMAT_VERSION,
                "name": self.name, "description": self.description,
                **self.graph.to_dict(),
                # each block definition once, a nested block before the blocks using it
                "blocks": [definition_to_dict(d) for d in used_definitions(self.graph)],
                "dataset": {"name": self.dataset.get("name", "digits"),
                            "options": dict(self.dataset.get("options", {}))},
                "training": dict(self.training)}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def copy(self) -> "Project":
        return project_from_dict(json.loads(self.dumps()), "<copy>")


def save_project(project: Project, path: str | os.PathLike) -> None:
    """Write the project atomically (temp file, fsync, rename)."""
    atomic_write_bytes(path, (project.dumps() + "\n").encode("utf-8"))


def load_project(path: str | os.PathLike) -> Project:
    """Read a project file; any problem raises ProjectFileError naming the file and reason."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ProjectFileError(f"{path}: the file is {size / 2**20:.0f} MiB; project files "
                                   f"are at most {MAX_FILE_BYTES // 2**20} MiB")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ProjectFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_project(raw, str(path))


def parse_project(raw: bytes | str, source: str = "<memory>") -> Project:
    """Parse JSON text into a Project (see ``load_project``)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectFileError(f"{source}: not a LayerForge project (not UTF-8 text: "
                                   f"{exc.reason} at byte {exc.start})") from None
    if not raw.strip():
        raise ProjectFileError(f"{source}: the file is empty")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProjectFileError(f"{source}: not valid JSON (line {exc.lineno}, column "
                               f"{exc.colno}: {exc.msg}); the file may be truncated or "
                               f"corrupt") from None
    except (RecursionError, ValueError) as exc:
        raise ProjectFileError(f"{source}: not a LayerForge project ({exc})") from None
    return project_from_dict(data, source)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a project file")


def project_from_dict(data: Any, source: str = "<memory>") -> Project:
    """Migrate, check and build. Raises ProjectFileError; never returns a half-built graph."""
    try:
        data = migrate(data, source)
        checked = _check(data, source)
        return _build(checked)
    except ProjectFileError:
        raise
    except (GraphEditError, TypeError, ValueError, KeyError, AttributeError, ArithmeticError,
            RecursionError) as exc:  # a check we did not foresee: still one clear error type
        raise ProjectFileError(f"{source}: not a valid LayerForge project ({exc})") from None


# ---- migration ---------------------------------------------------------------------------

def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (the pre-release layout) wrote edges as "node:port" strings, positions as x/y
    fields and the training settings under "train"."""
    out = {k: v for k, v in data.items() if k not in ("train", "links", "layers")}
    out["nodes"] = []
    for n in _list(data.get("layers", []), "layers"):
        n = _dict(n, "layer")
        node = {k: v for k, v in n.items() if k not in ("x", "y")}
        node["position"] = [n.get("x", 0.0), n.get("y", 0.0)]
        out["nodes"].append(node)
    out["edges"] = []
    for link in _list(data.get("links", []), "links"):
        link = _dict(link, "link")
        src, _, src_port = str(link.get("from", "")).rpartition(":")
        dst, _, dst_port = str(link.get("to", "")).rpartition(":")
        out["edges"].append({"source": src, "source_port": src_port, "target": dst,
                             "target_port": dst_port})
    out["training"] = data.get("train", {})
    out["format_version"] = 2
    return out


def _migrate_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added block definitions ("blocks"); version 2 files have none."""
    return {**data, "blocks": [], "format_version": 3}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2,
                                                                     2: _migrate_2_to_3}


def migrate(data: Any, source: str = "<memory>") -> dict[str, Any]:
    """Bring an older file's data up to FORMAT_VERSION, one version at a time."""
    if not isinstance(data, dict):
        raise ProjectFileError(f"{source}: not a LayerForge project (the top level is a "
                               f"{type(data).__name__}, not an object)")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProjectFileError(f"{source}: not a LayerForge project (no format_version)")
    if version > FORMAT_VERSION:
        raise ProjectFileError(f"{source}: written by a newer LayerForge (format "
                               f"{version}; this one reads up to {FORMAT_VERSION}): update "
                               f"LayerForge to open it")
    if version < 1:
        raise ProjectFileError(f"{source}: unknown format_version {version}")
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version = data["format_version"]
    return data


# ---- checking (no objects are built until everything passed) -----------------------------

def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProjectFileError(f"{what} must be an object, not {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProjectFileError(f"{what} must be a list, not {type(value).__name__}")
    return value


def _text(value: Any, what: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ProjectFileError(f"{what} must be text of at most {MAX_TEXT} characters")
    return value


def _plain_json(value: Any, what: str, depth: int = 0) -> Any:
    """Dataset options: only plain JSON values, shallow."""
    if depth > 4:
        raise ProjectFileError(f"{what} is nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProjectFileError(f"{what} must be a finite number")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _text(value, what)
    if isinstance(value, list):
        return [_plain_json(v, what, depth + 1) for v in value[:10_000]]
    if isinstance(value, dict):
        return {_text(k, what): _plain_json(v, f"{what}.{k}", depth + 1) for k, v in value.items()}
    raise ProjectFileError(f"{what} has an unsupported value")


def _check_nodes(data: dict[str, Any], fail: Callable[[str], ProjectFileError],
                 block_names: set[str], prefix: str) -> tuple[list[Node], list[Edge]]:
    """The nodes and edges of the network, or of one block definition (``prefix`` names it
    in messages); Block nodes may refer to ``block_names`` only (their definitions are linked
    when the project is built)."""
    nodes_in = _list(data.get("nodes"), "nodes")
    edges_in = _list(data.get("edges", []), "edges")
    if len(nodes_in) > MAX_NODES or len(edges_in) > MAX_EDGES:
        raise fail(f"{prefix}too many nodes or edges (at most {MAX_NODES} nodes, {MAX_EDGES} "
                   f"edges)")
    nodes: list[Node] = []
    ids: set[str] = set()
    names: set[str] = set()
    for index, raw in enumerate(nodes_in):
        where = f"{prefix}node {index + 1}"
        raw = _dict(raw, where)
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not 0 < len(node_id) <= 100 or node_id in ids:
            raise fail(f"{where} has a missing, overlong or repeated id")
        type_name = raw.get("type")
        name = raw.get("name")
        pos = raw.get("position", [0.0, 0.0])
        if not (isinstance(pos, list) and len(pos) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e9
                for v in pos)):
            raise fail(f"{prefix}{type_name} '{name}' has an invalid position {pos!r}")
        if type_name == BLOCK_TYPE:
            block = _dict(raw.get("params", {}), f"{where} params").get("block")
            if block not in block_names:
                raise fail(f"{where} is an instance of block {block!r}, which is not defined "
                           f"{'before it ' if prefix else ''}in the file")
            if not isinstance(name, str) or name_problem(name) or name in names:
                raise fail(f"{where} (block {block}) has an invalid or repeated name {name!r}")
            ids.add(node_id)
            names.add(name)
            nodes.append(Node(node_id, BLOCK_TYPE, name, {"block": block},
                              (float(pos[0]), float(pos[1]))))
            continue
        if not isinstance(type_name, str) or \
                LEGACY_TYPES.get(type_name, type_name) not in CATALOGUE:
            raise fail(f"{where} has unknown layer type {type_name!r}; it may come from a "
                       f"newer LayerForge or a plugin that is not installed")
        spec = CATALOGUE[LEGACY_TYPES.get(type_name, type_name)]
        type_version = raw.get("type_version", 1)
        if not isinstance(type_version, int) or type_version > spec.version:
            raise fail(f"{where} ({spec.type}) has type_version {type_version!r}; this "
                       f"LayerForge knows version {spec.version}")
        if not isinstance(name, str) or name_problem(name) or name in names:
            raise fail(f"{where} ({spec.type}) has an invalid or repeated name {name!r}")
        params = spec.defaults()
        for key, value in _dict(raw.get("params", {}), f"{where} params").items():
            param = spec.param_index.get(key)
            if param is None:
                raise fail(f"{where} ({spec.type} '{name}') has unknown parameter {key!r}")
            try:
                params[key] = param.coerce(value)
            except (TypeError, ValueError) as exc:
                raise fail(f"{prefix}{spec.type} '{name}' parameter {key}: {exc}") from None
            if isinstance(params[key], tuple) and len(params[key]) > 64:
                raise fail(f"{prefix}{spec.type} '{name}' parameter {key} is too long")
        ids.add(node_id)
        names.add(name)
        nodes.append(Node(node_id, spec.type, name, params, (float(pos[0]), float(pos[1]))))
    edges: list[Edge] = []
    seen_edges: set[Edge] = set()
    for index, raw in enumerate(edges_in):
        raw = _dict(raw, f"{prefix}edge {index + 1}")
        fields = [raw.get(k) for k in ("source", "source_port", "target", "target_port")]
        if not all(isinstance(v, str) and 0 < len(v) <= 100 for v in fields):
            raise fail(f"{prefix}edge {index + 1} needs source, source_port, target and "
                       f"target_port")
        edge = Edge(*fields)
        if edge.source not in ids or edge.target not in ids:
            raise fail(f"{prefix}edge {index + 1} refers to a node that is not in the file")
        if edge in seen_edges:
            raise fail(f"{prefix}edge {index + 1} appears twice")
        seen_edges.add(edge)
        edges.append(edge)
    return nodes, edges


def _check(data: dict[str, Any], source: str) -> dict[str, Any]:
    def fail(reason: str) -> ProjectFileError:
        return ProjectFileError(f"{source}: {reason}")

    try:
        blocks: list[dict[str, Any]] = []
        raw_blocks = _list(data.get("blocks", []), "blocks")
        if len(raw_blocks) > MAX_BLOCKS:
            raise fail(f"too many block definitions (at most {MAX_BLOCKS})")
        for index, raw in enumerate(raw_blocks):
            raw = _dict(raw, f"block {index + 1}")
            name = raw.get("name")
            if not isinstance(name, str) or block_name_problem(name) or \
                    any(b["name"] == name for b in blocks):
                raise fail(f"block {index + 1} has an invalid or repeated name {name!r}")
            # a block may use only the blocks defined before it: no block contains itself
            nodes, edges = _check_nodes(raw, fail, {b["name"] for b in blocks},
                                        f"block {name}: ")
            blocks.append({"name": name, "nodes": nodes, "edges": edges,
                           "description": _text(raw.get("description"), "block description")})
        nodes_in = _list(data.get("nodes"), "nodes")
        nodes, edges = _check_nodes(data, fail, {b["name"] for b in blocks}, "")
        if sum(len(b["nodes"]) for b in blocks) + len(nodes) > MAX_NODES:
            raise fail(f"too many nodes (at most {MAX_NODES}, blocks included)")
        dataset = _dict(data.get("dataset", {"name": "digits"}), "dataset")
        dataset_name = _text(dataset.get("name"), "dataset name", "digits")
        options = _plain_json(_dict(dataset.get("options", {}), "dataset options"),
                              "dataset options")
        training, problems = coerce_training(_dict(data.get("training", {}), "training"))
        if problems:
            raise fail("; ".join(problems))
        return {"nodes": nodes, "edges": edges, "blocks": blocks,
                "placed": any("position" in raw for raw in nodes_in if isinstance(raw, dict)),
                "dataset": {"name": dataset_name, "options": options}, "training": training,
                "name": _text(data.get("name"), "name", "Untitled"),
                "description": _text(data.get("description"), "description")}
    except ProjectFileError as exc:
        if str(exc).startswith(source):
            raise
        raise fail(str(exc)) from None


def _build(checked: dict[str, Any]) -> Project:
    graph = Graph()

    def fill(g: Graph, nodes: list[Node], edges: list[Edge]) -> None:
        for node in nodes:
            if node.type == "Block":
                node.block = graph.blocks[node.params["block"]]
            g.insert_node(node)
        for edge in edges:
            g.connect(edge)

    for raw in checked["blocks"]:  # nested blocks come first (checked)
        inner = Graph()
        inner.blocks = graph.blocks
        fill(inner, raw["nodes"], raw["edges"])
        graph.blocks.add(BlockDefinition(raw["name"], inner, raw["description"]))
    fill(graph, checked["nodes"], checked["edges"])
    if not checked["placed"]:  # written by hand or by another tool: lay it out
        auto_layout(graph)
    return Project(graph, checked["dataset"], checked["training"], checked["name"],
                   checked["description"])
