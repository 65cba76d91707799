"""The JSON report: the Report as the document `report.schema.json` describes (the contract
other tools read), indented. Only this format makes the JSON dicts: a run that writes HTML
alone never builds a million of them."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

from auditor.report.document import Report
from auditor.report.formats.base import Format, RenderContext
from auditor.serial import to_jsonable


def report_jsonable(report: Report) -> dict[str, Any]:
    """The report as JSON values, keys in the schema's order. Findings are written field by
    field (`to_jsonable`), so a field added to `Finding` reaches the JSON as it is."""
    from auditor.rules import cyclic_gc_paused  # here: the registry imports every format

    # A million small dicts and lists at 10k VPCs: the cyclic GC is paused as for the rules
    # (its passes took most of the time).
    with cyclic_gc_paused():
        findings = [{**to_jsonable(f), "change": report.change(f)} for f in report.findings]
    return {
        "schema_version": report.schema_version,
        "generated_at": report.generated_at,
        "collected_at": report.collected_at,
        "tool_version": report.tool_version,
        "scope": to_jsonable(report.scope),
        "coverage": to_jsonable(report.coverage),
        "coverage_notes": to_jsonable(report.coverage_notes),
        "summary": to_jsonable(report.summary),
        "findings": findings,
        "expired_suppressions": [
            {**to_jsonable(e.suppression), "finding_ids": e.finding_ids}
            for e in report.expired_suppressions
        ],
        "unmatched_suppressions": to_jsonable(report.unmatched_suppressions),
        "rules_evaluated": list(report.rules_evaluated),
        "baseline": to_jsonable(report.baseline),
        "resolved": to_jsonable(report.resolved),
    }


def json_text(value: Any) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)` plus a newline, joined in batches:
    json.dumps lists every small piece before joining them, which took five times the size of
    the text (some 700 MB at 10k VPCs). The cyclic GC is paused as for the rules: the encoder
    makes no cycles, and a full pass over the heap cost a second at 10k VPCs."""
    from auditor.rules import cyclic_gc_paused

    with cyclic_gc_paused():
        chunks = json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(value)
        pieces = []
        while batch := list(islice(chunks, 65536)):
            pieces.append("".join(batch))
        pieces.append("\n")
        return "".join(pieces)


def render_json(report: Report) -> str:
    return json_text(report_jsonable(report))


def render(report: Report, _context: RenderContext) -> str:
    return render_json(report)


FORMAT = Format(
    name="json",
    what="JSON report",
    help="Write the JSON report to FILE ('-' for stdout).",
    render=render,
    order=10,
)
