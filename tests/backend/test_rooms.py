"""backend/ is in rooms whose imports go one way (the layers contract in pyproject.toml checks
the rooms); here: no two modules of backend/ import each other round a circle, lazily or not."""
from __future__ import annotations

import grimp
import networkx as nx


def test_no_import_circle_between_modules_of_backend():
    graph = grimp.build_graph("backend")
    imports = nx.DiGraph()
    for module in graph.modules:
        imports.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            imports.add_edge(module, imported)
    circles = [" -> ".join(cycle + cycle[:1]) for cycle in nx.simple_cycles(imports)]
    assert not circles, "import circles:\n" + "\n".join(sorted(circles))


def test_the_rooms_exist_as_packages():
    graph = grimp.build_graph("backend")
    rooms = {"backend.compile", "backend.data", "backend.tasks", "backend.training",
             "backend.live", "backend.export", "backend.imports"}
    assert rooms <= set(graph.modules)
    assert all(graph.find_children(room) for room in rooms)
