"""Plain merge fields render without Jinja, and exactly as Jinja renders them."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import Template

from sendpool.content.render import _HTML_ENV, _TEXT_ENV, _Fields, compile_template

TEMPLATES = [
    "Hello {{ first_name }}",
    "{{ first_name }}{{ first_name }} and {{ last }} then {{ first_name }}",
    "braces { stay } {0} {{ first_name }} {x} }}{",
    "{{ missing }} is empty, {{ first_name }} is not",
    "<p>{{ first_name }} & {{ code }}</p>\n",
    "{{ n }} + {{ nothing }} = {{ first_name }}",
]
CTX: dict[str, Any] = {
    "first_name": "Ann <b>&'\"",
    "last": "Lee {1}",
    "code": "{{ not a field }}",
    "n": 42,
    "nothing": None,
}


@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
@pytest.mark.parametrize("source", TEMPLATES)
def test_plain_fields_render_as_jinja_does(source: str, html: bool) -> None:
    compiled = compile_template("body", source, html=html)
    assert isinstance(compiled, _Fields)
    jinja = (_HTML_ENV if html else _TEXT_ENV).from_string(source)
    assert compiled.render(CTX) == jinja.render(CTX)
    assert compiled.render({}) == jinja.render({})


def test_anything_more_than_plain_fields_stays_with_jinja() -> None:
    compiled = compile_template("body", "{{ first_name | upper }}")
    assert isinstance(compiled, Template)
    assert compiled.render(CTX) == "ANN <B>&'\""
