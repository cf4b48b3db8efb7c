"""The blank network File > New offers first: an empty project, kept out of the trainable
templates that the CLI, docs, benchmarks and tests go through."""
from __future__ import annotations

import pytest

from graph.project import project_from_dict
from graph.templates import BLANK, GALLERY, TEMPLATES, build_template
from graph.validate import analyze


def test_gallery_is_the_blank_network_then_every_template():
    assert list(GALLERY) == [BLANK.key, *TEMPLATES]
    assert BLANK.key not in TEMPLATES


def test_blank_network_is_an_empty_project_that_says_what_to_add():
    project = build_template("blank")
    assert project.graph.nodes == [] and project.graph.edges == []
    assert project.description
    kinds = {issue.kind for issue in analyze(project.graph).issues}
    assert "no_input" in kinds  # the status line tells a new user to add an Input
    again = project_from_dict(project.to_dict())
    assert again.graph.nodes == [] and again.name == project.name


def test_unknown_template_names_the_blank_network_too():
    with pytest.raises(KeyError, match="blank"):
        build_template("nope")
