"""The output formats' registry: every module here with a `FORMAT` is an output format.

The CLI makes its options, its outputs record, the shard clash list, `merge`'s options and the
render loop from `FORMATS`, so a new format is one module (see README, Architecture). Format
modules import from leaf modules (`base`, `auditor.report.text`, `auditor.report.templating`),
never from `auditor.report` itself, which imports them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.report.document import Report
from auditor.report.formats.asff import render_asff
from auditor.report.formats.base import Format, RenderContext
from auditor.report.formats.csv import render_csv
from auditor.report.formats.junit import render_junit
from auditor.report.formats.markdown import md_text, render_markdown
from auditor.report.text import header_safe, scope_label, since_text

if TYPE_CHECKING:
    from auditor.report.email_body import (
        Attachment,
        EmailContext,
        email_subject,
        render_email_html,
        render_email_text,
    )

# The email's names are imported when first asked for: the email body needs css_inline and
# Jinja, which a run that sends no email never loads.
EMAIL_NAMES = frozenset(
    {"Attachment", "EmailContext", "email_subject", "render_email_html", "render_email_text"}
)


def __getattr__(name: str) -> Any:
    if name in EMAIL_NAMES:
        return getattr(importlib.import_module("auditor.report.email_body"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Named here for the modules and tests that import them from `auditor.report.formats`.
__all__ = [
    "FORMATS",
    "Attachment",
    "EmailContext",
    "Format",
    "RenderContext",
    "Renderings",
    "by_name",
    "email_subject",
    "header_safe",
    "md_text",
    "render_asff",
    "render_csv",
    "render_email_html",
    "render_email_text",
    "render_junit",
    "render_markdown",
    "scope_label",
    "since_text",
]


def discover() -> tuple[Format, ...]:
    """Every `FORMAT` of this package's modules, in their `order`."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        fmt = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FORMAT", None)
        if isinstance(fmt, Format):
            found.append(fmt)
    return tuple(sorted(found, key=lambda f: f.order))


FORMATS = discover()


def by_name(name: str) -> Format:
    return next(f for f in FORMATS if f.name == name)


class Renderings:
    """Each format rendered once at most, and only when something asks for it: at 10k VPCs the
    JSON alone takes 4 s and 139 MB, so a run that writes only HTML never makes it.

    Texts named in `keep` are held for a later use (the state file, the email); the others are
    let go once returned, so two large reports are not held at once."""

    def __init__(self, report: Report, context: RenderContext, keep: Iterable[str] = ()) -> None:
        self.report = report
        self.context = context
        self.keep = set(keep)
        self.texts: dict[str, str] = {}

    def text(self, name: str) -> str:
        if name in self.texts:
            return self.texts[name]
        text = by_name(name).render(self.report, self.context)
        if name in self.keep:
            self.texts[name] = text
        return text
