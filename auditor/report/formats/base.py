"""The interface each output format implements: its option, its words, its render function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditor.model import Snapshot
from auditor.report.document import Report


@dataclass(frozen=True)
class RenderContext:
    """What a format may need besides the report: the snapshot (the HTML's network map) and
    the scope in a few words (the Markdown heading). Neither is in the report itself."""

    snapshot: Snapshot | None = None
    scope: str = ""


Render = Callable[[Report, RenderContext], str]


@dataclass(frozen=True)
class Format:
    """One output format. The CLI makes `--<name> FILE` from it (in `audit` and `merge`),
    writes `render(report, context)` there atomically (or to stdout for '-') and says
    `wrote <what>: PATH`. `order` places the option in --help and the write among the others.
    """

    name: str
    what: str
    help: str
    render: Render
    order: int

    @property
    def option(self) -> str:
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        """The click parameter's name, e.g. `csv_path`."""
        return f"{self.name}_path"
