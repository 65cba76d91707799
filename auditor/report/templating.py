"""The Jinja environment every template-rendered output (HTML, email, rule docs) shares."""

from __future__ import annotations

import jinja2

from auditor.resources import data_path


def templates(autoescape: bool = True) -> jinja2.Environment:
    """StrictUndefined: a misspelt variable fails the render instead of printing nothing."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(data_path("templates")),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
