"""The template guide pages: prose per template, numbers generated from the graph."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.docs import EXPLANATIONS, template_page
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze

DOCS = Path(__file__).resolve().parents[2] / "resources" / "docs" / "templates"


def test_every_template_is_explained():
    assert set(EXPLANATIONS) == set(TEMPLATES)


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_a_page_lists_every_layer_with_its_shape_and_the_totals(key):
    page = template_page(key)
    project = build_template(key)
    analysis = analyze(project.graph)
    for node in project.graph.nodes:
        assert f"| `{node.name}` | {node.type} |" in page
    assert f"**Total:** {analysis.total_params:,} parameters" in page
    assert f"editor-{key}.png" in page


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_the_committed_page_is_up_to_date(key):
    """Change a template, run `make docs`: a stale page in the repository fails here."""
    assert (DOCS / f"{key}.md").read_text(encoding="utf-8") == template_page(key)
