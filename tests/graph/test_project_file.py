"""Project files: round trips, atomic saves, migration, and loading hostile bytes.

Whatever bytes are opened, the only allowed outcomes are a sane Project or ProjectFileError.
"""
from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import graph.fileio
import graph.project
from graph.errors import ProjectFileError
from graph.fileio import atomic_write
from graph.layers import CATALOGUE
from graph.model import Edge, Graph
from graph.project import (FORMAT_VERSION, Project, load_project, parse_project,
                           project_from_dict, save_project)
from graph.settings import default_training
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze


# ---- helpers --------------------------------------------------------------------------------

def small_project() -> Project:
    """Input(vector 4) -> fc (Linear 3) -> drop (Dropout) -> out, with custom settings."""
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": "vector", "shape": [4]}, position=(0, 0))
    fc = g.add_node("Linear", name="fc", params={"out_features": 3}, position=(240, 10.5))
    drop = g.add_node("Dropout", name="drop", params={"p": 0.25}, position=(480, 0))
    out = g.add_node("Output", name="out", position=(720, 0))
    for a, b in ((x, fc), (fc, drop), (drop, out)):
        g.connect(Edge(a.id, "out", b.id, "in"))
    training = default_training()
    training.update(epochs=7, learning_rate=0.02, optimizer="sgd", flip=True)
    return Project(g, {"name": "csv_series", "options": {"path": "a.csv", "window": [3, 4],
                                                         "nested": {"k": None}}},
                   training, "Small", "A small network.\nTwo lines.")


def assert_sane(project: Project) -> None:
    """What the rest of LayerForge relies on after a load."""
    g = project.graph
    ids = [n.id for n in g.nodes]
    assert len(ids) == len(set(ids))
    names = [n.name for n in g.nodes]
    assert len(names) == len(set(names))
    for e in g.edges:
        assert g.has_node(e.source) and g.has_node(e.target), e
    view = g.nx_view()
    assert set(view.nodes) == set(ids)
    assert view.number_of_edges() == len(g.edges)
    assert all(n.type in CATALOGUE or n.block is not None for n in g.nodes)
    # what was loaded can be saved and loads back the same
    again = parse_project(project.dumps())
    assert again.graph.signature() == g.signature()
    assert again.training == project.training and again.dataset == project.dataset


def open_bytes(raw: bytes) -> Project | None:
    """parse_project, allowing only a sane Project or ProjectFileError."""
    try:
        project = parse_project(raw)
    except ProjectFileError as exc:
        assert str(exc).startswith("<memory>: "), str(exc)
        return None
    assert_sane(project)
    return project


TEMPLATE_KEYS = sorted(TEMPLATES)
TEMPLATE_TEXT = {k: build_template(k).dumps().encode("utf-8") for k in TEMPLATE_KEYS}
TEMPLATE_DATA = {k: json.loads(v) for k, v in TEMPLATE_TEXT.items()}


# ---- round trips ------------------------------------------------------------------------

def test_save_and_load_round_trip(tmp_path):
    project = small_project()
    path = tmp_path / "net.json"
    save_project(project, path)
    text = path.read_text("utf-8")
    assert text.endswith("\n") and json.loads(text)["format_version"] == FORMAT_VERSION
    loaded = load_project(path)
    assert loaded.graph.signature() == project.graph.signature()
    assert [n.name for n in loaded.graph.nodes] == ["x", "fc", "drop", "out"]  # file order
    assert loaded.dataset == project.dataset
    assert loaded.training == project.training
    assert loaded.training["epochs"] == 7 and loaded.training["optimizer"] == "sgd"
    assert (loaded.name, loaded.description) == ("Small", "A small network.\nTwo lines.")
    assert loaded.graph.find("fc").position == (240.0, 10.5)
    copied = project.copy()
    assert copied.graph.signature() == project.graph.signature() and copied is not project


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_templates_round_trip(key, tmp_path):
    project = build_template(key)
    save_project(project, tmp_path / "t.json")
    loaded = load_project(tmp_path / "t.json")
    assert loaded.graph.signature() == project.graph.signature()
    assert loaded.training == project.training and loaded.dataset == project.dataset
    assert analyze(loaded.graph).is_valid


def test_a_file_without_positions_is_laid_out_and_one_with_positions_kept(tmp_path):
    from graph.layout import layered_positions

    project = build_template("residual-cnn")
    data = json.loads(project.dumps())
    for node in data["nodes"]:
        del node["position"]  # a file written by hand or by another tool
    loaded = project_from_dict(data)
    assert {n.id: n.position for n in loaded.graph.nodes} == layered_positions(loaded.graph)
    assert len({n.position for n in loaded.graph.nodes}) == len(loaded.graph.nodes)
    data = json.loads(project.dumps())
    data["nodes"][0]["position"] = [-777.0, 555.0]  # the user's placement stays
    kept = project_from_dict(data)
    assert kept.graph.nodes[0].position == (-777.0, 555.0)


def test_file_is_plain_json_with_the_documented_fields():
    data = json.loads(small_project().dumps())
    assert data["format"] == "layerforge-project"
    assert set(data) == {"format", "format_version", "name", "description", "nodes", "edges",
                         "blocks", "dataset", "training"}
    assert data["blocks"] == []  # no block definitions in this network
    node = data["nodes"][1]
    assert set(node) == {"id", "type", "type_version", "name", "params", "position"}
    assert node["params"] == {"out_features": 3, "bias": True}
    assert set(data["edges"][0]) == {"source", "source_port", "target", "target_port"}


def test_out_of_range_values_and_problem_wires_load_as_saved():
    """A file shows its problems instead of failing to open."""
    project = small_project()
    g = project.graph
    g.set_param(g.find("fc").id, "out_features", 0)
    extra = g.add_node("ReLU", name="extra")
    g.connect(Edge(g.find("x").id, "out", extra.id, "in"))
    g.connect(Edge(g.find("fc").id, "out", extra.id, "in"))  # two wires into one input
    loaded = parse_project(project.dumps())
    assert loaded.graph.signature() == g.signature()
    kinds = sorted(i.kind for i in analyze(loaded.graph).issues)
    assert kinds == ["duplicate_input", "param", "unused"]


# ---- atomic saves -----------------------------------------------------------------------

def test_failing_save_leaves_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    save_project(small_project(), path)
    old = path.read_bytes()
    changed = small_project()
    changed.name = "Changed"

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(graph.fileio.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        save_project(changed, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["net.json"]
    monkeypatch.undo()
    save_project(changed, path)
    assert load_project(path).name == "Changed" and os.listdir(tmp_path) == ["net.json"]


def test_writer_failing_halfway_leaves_old_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old contents")

    def half_then_fail(f):
        f.write(b"new con")
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["data.bin"]

    def interrupted(f):
        f.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_bytes() == b"old contents" and os.listdir(tmp_path) == ["data.bin"]


def test_failing_rename_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    save_project(small_project(), path)
    old = path.read_bytes()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(graph.fileio.os, "replace", refuse)
    with pytest.raises(PermissionError):
        save_project(small_project(), path)
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["net.json"]


def test_save_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "net.json"
    save_project(small_project(), path)
    assert load_project(path).name == "Small"


# ---- reading errors -----------------------------------------------------------------------

def test_load_errors_name_the_file(tmp_path, monkeypatch):
    missing = tmp_path / "missing.json"
    with pytest.raises(ProjectFileError, match="missing.json: cannot read the file"):
        load_project(missing)
    with pytest.raises(ProjectFileError, match="cannot read the file"):
        load_project(tmp_path)  # a folder
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"  \n")
    with pytest.raises(ProjectFileError, match="empty.json: the file is empty"):
        load_project(empty)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 2000)
    monkeypatch.setattr(graph.project, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ProjectFileError, match="big.json: the file is 0 MiB; project files are "
                                               "at most 0 MiB"):
        load_project(big)


@pytest.mark.parametrize("raw,words", [
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b'{"format_version": 2, "nodes": [',
     "not valid JSON (line 1, column 33: Expecting value); the file may be truncated"),
    (b"[1, 2]", "the top level is a list, not an object"),
    (b'{"nodes": []}', "no format_version"),
    (b'{"format_version": "2", "nodes": []}', "no format_version"),
    (b'{"format_version": 0, "nodes": []}', "unknown format_version 0"),
    (b'{"format_version": 2}', "nodes must be a list, not NoneType"),
    (b'{"format_version": 2, "nodes": [], "training": {"epochs": NaN}}', "NaN is not allowed"),
    (b'{"format_version": 2, "nodes": [], "training": {"speed": 1}}',
     "unknown training setting 'speed'"),
    (b'{"format_version": 2, "nodes": [], "training": {"epochs": 0}}',
     "training setting epochs must be at least 1 (is 0)"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "Warp", "name": "w"}]}',
     "node 1 has unknown layer type 'Warp'; it may come from a newer LayerForge"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "Linear", "name": "w",'
     b' "type_version": 9}]}', "node 1 (Linear) has type_version 9; this LayerForge knows "
                               "version 1"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "Linear", "name": "w", '
     b'"params": {"units": 3}}]}', "node 1 (Linear 'w') has unknown parameter 'units'"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "Linear", "name": "w", '
     b'"params": {"bias": "yes"}}]}', "Linear 'w' parameter bias: expected true or false"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "Linear", "name": "forward"}]}',
     "invalid or repeated name 'forward'"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "ReLU", "name": "r"}, '
     b'{"id": "a", "type": "ReLU", "name": "s"}]}', "node 2 has a missing, overlong or repeated"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "ReLU", "name": "r", '
     b'"position": [0, 1e12]}]}', "ReLU 'r' has an invalid position"),
    (b'{"format_version": 2, "nodes": [{"id": "a", "type": "ReLU", "name": "r"}], '
     b'"edges": [{"source": "a", "source_port": "out", "target": "b", "target_port": "in"}]}',
     "edge 1 refers to a node that is not in the file"),
    (b'{"format_version": 2, "nodes": [], "edges": [{"source": "a"}]}',
     "edge 1 needs source, source_port, target and target_port"),
    (b'{"format_version": 2, "nodes": [], "dataset": {"options": {"a": {"b": {"c": {"d": '
     b'{"e": {"f": 1}}}}}}}}', "dataset options.a.b.c.d.e is nested too deeply"),
    (b'{"format_version": 2, "nodes": [], "name": 5}', "name must be text"),
])
def test_bad_files_are_refused_with_a_reason(raw, words):
    with pytest.raises(ProjectFileError) as info:
        parse_project(raw, "net.json")
    assert str(info.value).startswith("net.json: ")
    assert words in str(info.value)


def test_duplicate_edge_is_refused():
    data = json.loads(small_project().dumps())
    data["edges"].append(dict(data["edges"][0]))
    with pytest.raises(ProjectFileError, match="edge 4 appears twice"):
        project_from_dict(data, "net.json")


def test_newer_format_version_is_refused():
    data = json.loads(small_project().dumps())
    data["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ProjectFileError) as info:
        parse_project(json.dumps(data), "future.json")
    assert str(info.value) == (f"future.json: written by a newer LayerForge (format "
                               f"{FORMAT_VERSION + 1}; this one reads up to {FORMAT_VERSION}): "
                               f"update LayerForge to open it")


# ---- migration and legacy names -----------------------------------------------------------

def test_migration_from_format_version_1():
    v1 = {
        "format_version": 1,
        "name": "Old network",
        "layers": [
            {"id": "in-1", "type": "Input", "name": "pixels",
             "params": {"kind": "vector", "shape": [64]}, "x": 10, "y": -20},
            {"id": "d-1", "type": "Dense", "name": "hidden", "params": {"out_features": 32},
             "x": 250.5, "y": 0},
            {"id": "a-1", "type": "Swish", "name": "act"},  # no x/y: placed at the origin
            {"id": "c-1", "type": "Concatenate", "name": "both", "x": 300, "y": 90},
            {"id": "o-1", "type": "Output", "name": "scores", "x": 500, "y": 0},
        ],
        "links": [
            {"from": "in-1:out", "to": "d-1:in"},
            {"from": "d-1:out", "to": "a-1:in"},
            {"from": "a-1:out", "to": "c-1:in1"},
            {"from": "in-1:out", "to": "c-1:in2"},
            {"from": "c-1:out", "to": "o-1:in"},
        ],
        "train": {"epochs": 3, "optimizer": "sgd"},
        "dataset": {"name": "digits"},
    }
    project = project_from_dict(copy.deepcopy(v1), "old.json")
    g = project.graph
    assert [(n.id, n.type, n.name) for n in g.nodes] == [
        ("in-1", "Input", "pixels"), ("d-1", "Linear", "hidden"), ("a-1", "SiLU", "act"),
        ("c-1", "Concat", "both"), ("o-1", "Output", "scores")]
    assert g.node("in-1").position == (10.0, -20.0)
    assert g.node("d-1").position == (250.5, 0.0)
    assert g.node("a-1").position == (0.0, 0.0)
    assert g.node("d-1").params == {"out_features": 32, "bias": True}
    assert g.edges_into("c-1") == [Edge("a-1", "out", "c-1", "in1"),
                                   Edge("in-1", "out", "c-1", "in2")]
    assert len(g.edges) == 5
    assert project.training["epochs"] == 3 and project.training["optimizer"] == "sgd"
    assert project.training["batch_size"] == default_training()["batch_size"]
    assert project.name == "Old network" and project.dataset == {"name": "digits",
                                                                 "options": {}}
    a = analyze(g)
    assert a.is_valid, a.summary()
    assert a.info["c-1"].outputs["out"].shape == ("N", 96)
    # saved again it is a current file, and loads to the same graph
    saved = json.loads(project.dumps())
    assert saved["format_version"] == FORMAT_VERSION and "layers" not in saved
    assert parse_project(project.dumps()).graph.signature() == g.signature()
    # a broken v1 file is still refused with the project's own error
    bad = copy.deepcopy(v1)
    bad["links"] = "in-1:out->d-1:in"
    with pytest.raises(ProjectFileError, match="links must be a list"):
        project_from_dict(bad, "old.json")
    bad = copy.deepcopy(v1)
    bad["links"].append({"from": "in-1:out", "to": "nowhere:in"})
    with pytest.raises(ProjectFileError, match="refers to a node that is not in the file"):
        project_from_dict(bad, "old.json")


def test_legacy_type_name_loads_as_current_type():
    data = json.loads(small_project().dumps())
    data["nodes"][1]["type"] = "Dense"
    project = parse_project(json.dumps(data))
    fc = project.graph.find("fc")
    assert fc.type == "Linear" and fc.params["out_features"] == 3
    assert json.loads(project.dumps())["nodes"][1]["type"] == "Linear"
    assert analyze(project.graph).is_valid


# ---- hostile values, one at a time --------------------------------------------------------

HOSTILE = {
    "inf": "1e999", "-inf": "-1e999", "nan": "NaN", "huge-int": "1" + "0" * 400,
    "too-many-digits": "1" + "0" * 5000, "deep": "[" * 100_000 + "]" * 100_000,
}
TARGETS = {
    "int-param": ("nodes", 1, "params", "out_features"),
    "float-param": ("nodes", 2, "params", "p"),
    "ints-param": ("nodes", 0, "params", "shape", 0),
    "position": ("nodes", 1, "position", 0),
    "type_version": ("nodes", 1, "type_version"),
    "training-int": ("training", "epochs"),
    "training-float": ("training", "learning_rate"),
    "format_version": ("format_version",),
    "dataset-option": ("dataset", "options", "window", 0),
    "edge-port": ("edges", 0, "target_port"),
}
SENTINEL = "\x00hostile\x00"


def with_raw_value(data, path, raw: str) -> bytes:
    """The JSON text of ``data`` with the value at ``path`` replaced by raw JSON text."""
    data = copy.deepcopy(data)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = SENTINEL
    return json.dumps(data).replace(json.dumps(SENTINEL), raw).encode("utf-8")


@pytest.mark.parametrize("target,value", [
    (t, v) for t in TARGETS for v in HOSTILE])
def test_hostile_value_gives_project_or_project_file_error(target, value):
    raw = with_raw_value(json.loads(small_project().dumps()), TARGETS[target], HOSTILE[value])
    project = open_bytes(raw)
    if value in ("nan", "too-many-digits", "deep"):
        assert project is None  # refused while parsing, wherever it is
    if project is not None and target == "int-param":
        assert project.graph.find("fc").params["out_features"] == 10 ** 400  # stored as is
        assert "out_features must be at most" in analyze(project.graph).summary()


def test_infinite_int_parameter_is_a_project_file_error():
    raw = with_raw_value(json.loads(small_project().dumps()), TARGETS["int-param"], "1e999")
    with pytest.raises(ProjectFileError):
        parse_project(raw)


def test_deeply_nested_file_is_refused():
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        with pytest.raises(ProjectFileError, match="not a LayerForge project|not valid JSON"):
            parse_project(raw)


def test_huge_node_and_edge_counts_are_refused_before_building():
    data = {"format_version": 2, "nodes": [{}] * (graph.project.MAX_NODES + 1)}
    with pytest.raises(ProjectFileError, match="too many nodes or edges"):
        project_from_dict(data)


# ---- fuzzing ------------------------------------------------------------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate, Phase.shrink),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@st.composite
def mutated_bytes(draw) -> bytes:
    """A template file with a few byte-level edits: truncation, flips, insertions, deletions,
    and same-class swaps (digit for digit, letter for letter) that keep the JSON valid."""
    data = bytearray(TEMPLATE_TEXT[draw(st.sampled_from(TEMPLATE_KEYS))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "syntax", "digit",
                                   "digit", "letter", "letter"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[i:]
        elif op == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "syntax":
            data[i] = draw(st.sampled_from(b'{}[]",:-.eE0 '))
        else:
            alphabet = b"0123456789" if op == "digit" else \
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
            spots = [j for j, c in enumerate(data) if c in alphabet]
            if spots:
                j = spots[i % len(spots)]
                data[j] = draw(st.sampled_from(alphabet))
    return bytes(data)


@settings(FUZZ, max_examples=2000)
@given(raw=mutated_bytes())
def test_fuzz_byte_mutations(raw):
    open_bytes(raw)


def all_paths(tree, prefix=()) -> list[tuple]:
    paths = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            paths += all_paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            paths += all_paths(v, (*prefix, i))
    return paths


def get_at(tree, path):
    for step in path:
        tree = tree[step]
    return tree


# Values that get past the first checks (real ids, ports, type and parameter names), so
# mutations reach the deeper ones.
WORDS = sorted({*CATALOGUE, "Dense", "out", "in", "in1", "in2", "in3", "", "x" * 101,
                *(p.name for s in CATALOGUE.values() for p in s.params),
                *(k for k in default_training())})
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 64, 2 ** 64)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=6) | st.sampled_from(WORDS), inner, max_size=4),
    max_leaves=8)


@st.composite
def mutated_tree(draw):
    key = draw(st.sampled_from(TEMPLATE_KEYS))
    data = copy.deepcopy(TEMPLATE_DATA[key])
    ids = [n["id"] for n in data["nodes"]]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "replace", "wrong_type", "delete", "add_key",
                                   "dup_node", "dup_edge", "swap", "id"]))
        paths = [p for p in all_paths(data) if p]
        if not paths or not isinstance(data, dict):
            break
        path = draw(st.sampled_from(paths))
        parent, leaf = get_at(data, path[:-1]), path[-1]
        if op == "replace":
            parent[leaf] = draw(plain_json)
        elif op == "wrong_type":
            old = parent[leaf]
            parent[leaf] = draw(plain_json.filter(lambda v: type(v) is not type(old)))
        elif op == "delete":
            del parent[leaf]
        elif op == "add_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(WORDS))] = draw(plain_json)
        elif op == "dup_node" and isinstance(data.get("nodes"), list) and data["nodes"]:
            node = copy.deepcopy(draw(st.sampled_from(data["nodes"])))
            if isinstance(node, dict) and draw(st.booleans()):
                node["id"] = draw(st.sampled_from(ids)) + "-copy"
            data["nodes"].insert(draw(st.integers(0, len(data["nodes"]))), node)
        elif op == "dup_edge" and isinstance(data.get("edges"), list) and data["edges"]:
            edge = copy.deepcopy(draw(st.sampled_from(data["edges"])))
            if isinstance(edge, dict) and draw(st.booleans()):
                edge[draw(st.sampled_from(["source", "target"]))] = draw(st.sampled_from(ids))
            data["edges"].append(edge)
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            other_parent = get_at(data, other[:-1])
            parent[leaf], other_parent[other[-1]] = other_parent[other[-1]], parent[leaf]
        elif op == "id":
            parent[leaf] = draw(st.sampled_from(ids))
    return json.dumps(data).encode("utf-8")


@settings(FUZZ, max_examples=2000)
@given(raw=mutated_tree())
def test_fuzz_json_tree_mutations(raw):
    open_bytes(raw)


HOSTILE_TEXT = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" + "0" * 400,
                "-" + "9" * 400, "1" + "0" * 5000, "1e308", "-0.0", "5e-324", "[" * 100_000,
                "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
                '"' + "x" * 20_000 + '"', '"\\ud800"', '"\\u0000"', "[]", "{}", "null",
                "true", "2147483648", "18446744073709551616", "1.5", "-1", "0"]


@st.composite
def hostile_text(draw) -> bytes:
    key = draw(st.sampled_from(TEMPLATE_KEYS))
    data = copy.deepcopy(TEMPLATE_DATA[key])
    raws = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in all_paths(data) if p]))
        get_at(data, path[:-1])[path[-1]] = f"{SENTINEL}{len(raws)}"
        raws.append(draw(st.sampled_from(HOSTILE_TEXT)))
    text = json.dumps(data)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"{SENTINEL}{i}"), raw)
    if draw(st.integers(0, 9)) == 0:
        depth = draw(st.sampled_from([10, 1000, 100_000]))
        text = "[" * depth + text + "]" * depth
    return text.encode("utf-8")


@settings(FUZZ, max_examples=1000, phases=(Phase.explicit, Phase.generate))
@given(raw=hostile_text())
def test_fuzz_hostile_values(raw):
    open_bytes(raw)
