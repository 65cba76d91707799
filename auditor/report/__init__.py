"""Report stage: Findings (+ the snapshot's scope and coverage) -> documents.

`build_report` makes the one JSON-able structure every format renders from, so the JSON file,
the HTML page and any later format can never disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import jinja2

from auditor import __version__
from auditor.model import REPORT_SCHEMA_VERSION, Finding, Severity, Snapshot
from auditor.report.baseline import Baseline, compare
from auditor.resources import data_path
from auditor.rules import REGISTRY, AuditResult, cyclic_gc_paused
from auditor.rules.base import catalogue
from auditor.serial import to_jsonable

SEVERITIES = [str(s) for s in sorted(Severity, reverse=True)]


def build_report(
    snapshot: Snapshot,
    result: AuditResult,
    baseline: Baseline | None = None,
    rules_evaluated: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The report document; summary counts leave suppressed findings out, the list keeps them.

    With a `baseline` (a previous report), each finding's `change` is `new` or `unchanged`,
    `resolved` lists what the baseline had and this run no longer finds, and `baseline` holds
    the counts; without one, `change` is null, `resolved` empty and `baseline` null.
    `rules_evaluated` (default: every registered rule) is the set of rules that ran, so a rule
    with no finding can be told from a rule that was switched off (JUnit's passing suites).
    """
    findings = [f for f in result.findings if not f.suppressed]
    coverage = Counter(c.status for c in snapshot.coverage)
    by_severity = Counter(str(f.severity) for f in findings)
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # When AWS was read: differs from generated_at when a saved snapshot is re-audited.
        "collected_at": snapshot.collected_at or None,
        "tool_version": __version__,
        "scope": to_jsonable(snapshot.scope),
        "coverage": to_jsonable(snapshot.coverage),
        "coverage_notes": to_jsonable(snapshot.coverage_notes),
        "summary": {
            "total": len(findings),
            "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "by_rule": dict(sorted(Counter(f.rule_id for f in findings).items())),
            "by_account": dict(sorted(Counter(f.account_id for f in findings).items())),
            "coverage": {"ok": coverage.get("ok", 0), "error": coverage.get("error", 0)},
            "suppressed": len(result.findings) - len(findings),
        },
        "findings": findings_jsonable(result.findings),
        "expired_suppressions": [
            {**to_jsonable(e.suppression), "finding_ids": e.finding_ids}
            for e in result.expired_suppressions
        ],
        "rules_evaluated": sorted(REGISTRY if rules_evaluated is None else rules_evaluated),
        "baseline": None,
        "resolved": [],
    }
    if baseline is not None:
        compare(report, baseline)
    return report


def findings_jsonable(findings: list[Finding]) -> list[dict[str, Any]]:
    """The findings as JSON dicts, `change` unset: a million small dicts and lists at 10k VPCs,
    so the cyclic GC is paused as for the rules (its passes took most of the time)."""
    with cyclic_gc_paused():
        return [{**to_jsonable(f), "change": None} for f in findings]


def render_json(report: dict[str, Any]) -> str:
    """`json.dumps(report, indent=2, ensure_ascii=False)` plus a newline, joined in batches:
    json.dumps lists every small piece before joining them, which took five times the size of
    the text (some 700 MB at 10k VPCs). The cyclic GC is paused as for the rules: the encoder
    makes no cycles, and a full pass over the heap cost a second at 10k VPCs."""
    with cyclic_gc_paused():
        chunks = json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(report)
        pieces = []
        while batch := list(islice(chunks, 65536)):
            pieces.append("".join(batch))
        pieces.append("\n")
        return "".join(pieces)


def templates(autoescape: bool = True) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(data_path("templates")),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: dict[str, Any], snapshot: Snapshot | None = None) -> str:
    """The self-contained HTML report; the snapshot, when given, feeds the topology map.

    The cyclic GC is paused as for the rules: at 10k VPCs its passes over the heap took a third
    of the time, and the few cycles Jinja leaves (some 14k objects) go on its next pass."""
    from auditor.report.topology import build_topology

    rules = {rule_id: meta.as_dict() for rule_id, meta in catalogue().items()}
    with cyclic_gc_paused():
        topology = build_topology(snapshot, report["findings"]) if snapshot is not None else None
        return (
            templates()
            .get_template("report.html.j2")
            .render(report=report, rules=rules, severities=SEVERITIES, topology=topology)
        )


def render_rules_markdown(rules: list[dict[str, Any]]) -> str:
    """The rule catalogue as Markdown (Markdown is not HTML: no autoescape)."""
    return templates(autoescape=False).get_template("rules.md.j2").render(rules=rules)
