"""CSV: one row per finding, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any

from auditor.report.document import Report
from auditor.report.formats.base import Format, RenderContext

CSV_COLUMNS = [
    "id",
    "severity",
    "rule_id",
    "title",
    "account_id",
    "region",
    "resource_type",
    "resource_id",
    "vpc_id",
    "change",
    "suppressed",
    "suppression_reason",
    "message",
    "remediation",
    "remediation_commands",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (a formula) gets a ' prefix. A list
    (the commands) is one cell, an entry a line: CSV quoting keeps the line breaks."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "\n".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def render_csv(report: Report) -> str:
    """One row per finding (suppressed ones included, marked), in the report's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for finding in report.findings:
        change = report.change(finding)
        writer.writerow(
            [
                csv_cell(change if column == "change" else getattr(finding, column))
                for column in CSV_COLUMNS
            ]
        )
    return out.getvalue()


def render(report: Report, _context: RenderContext) -> str:
    return render_csv(report)


FORMAT = Format(
    name="csv",
    what="CSV report",
    help="Write the findings as CSV, one row per finding.",
    render=render,
    order=30,
)
