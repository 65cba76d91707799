"""The findings as a compact table for a terminal: the worst first, one line each, capped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from auditor.model import Finding, Severity

STYLES: dict[Severity, dict[str, Any]] = {
    Severity.CRITICAL: {"fg": "red", "bold": True},
    Severity.HIGH: {"fg": "red"},
    Severity.MEDIUM: {"fg": "yellow"},
    Severity.LOW: {"fg": "cyan"},
    Severity.INFO: {"dim": True},
}
HEADER = ("SEVERITY", "RULE", "RESOURCE", "ACCOUNT/REGION", "MESSAGE")
MAX_WIDTHS = (8, 34, 26, 30)  # the message takes what is left of the line
MIN_MESSAGE = 40  # narrower than that, the message goes on a line of its own
INDENT = " " * 10


def findings_table(
    findings: Sequence[Finding], width: int = 100, limit: int = 15, colour: bool = False
) -> list[str]:
    """Severity, rule, resource, account/region and the message cut to fit `width` (on a
    second, indented line where the columns leave it too little room); at most `limit`
    findings, then how many more the report holds. Suppressed findings are left out, as from
    the counts; no lines at all when nothing was found."""
    shown = sorted((f for f in findings if not f.suppressed), key=lambda f: -f.severity)
    if not shown:
        return []
    rows = [
        (str(f.severity), f.rule_id, f.resource_id, f"{f.account_id}/{f.region}", f.message)
        for f in shown[:limit]
    ]
    widths = [min(cap, max(len(r[i]) for r in (HEADER, *rows))) for i, cap in enumerate(MAX_WIDTHS)]
    room = width - sum(widths) - 2 * len(widths)
    stacked = room < MIN_MESSAGE
    lines = [layout(HEADER[:4] if stacked else HEADER, widths, room)]
    for finding, row in zip(shown, rows, strict=False):
        message = " ".join(row[-1].split())
        line = layout(row[:4] if stacked else row, widths, room)
        if colour:  # only the severity cell: the rest stays readable in any theme
            cell = line[: widths[0]]
            line = click.style(cell, **STYLES[finding.severity]) + line[widths[0] :]
        lines.append(line)
        if stacked:
            lines.append(INDENT + cut(message, max(MIN_MESSAGE, width - len(INDENT))))
    if len(shown) > limit:
        lines.append(f"… {len(shown) - limit} more in the report")
    return lines


def layout(row: Sequence[str], widths: Sequence[int], message_width: int) -> str:
    cells = [cut(text, w).ljust(w) for text, w in zip(row[:4], widths, strict=False)]
    if len(row) > 4:
        cells.append(cut(" ".join(row[4].split()), message_width))
    return "  ".join(cells).rstrip()


def cut(text: str, width: int) -> str:
    """`text` in `width` characters, an ellipsis marking what was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
