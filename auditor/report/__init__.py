"""Report stage: Findings (+ the snapshot's scope and coverage) -> documents.

`build_report` makes the one JSON-able structure every format renders from, so the JSON file,
the HTML page and any later format can never disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import jinja2

from auditor import __version__
from auditor.model import REPORT_SCHEMA_VERSION, Severity, Snapshot
from auditor.report.baseline import Baseline, compare
from auditor.resources import data_path
from auditor.rules import REGISTRY, AuditResult
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
        "summary": {
            "total": len(findings),
            "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "by_rule": dict(sorted(Counter(f.rule_id for f in findings).items())),
            "by_account": dict(sorted(Counter(f.account_id for f in findings).items())),
            "coverage": {"ok": coverage.get("ok", 0), "error": coverage.get("error", 0)},
            "suppressed": len(result.findings) - len(findings),
        },
        "findings": [{**to_jsonable(f), "change": None} for f in result.findings],
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


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


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
    """The self-contained HTML report; the snapshot, when given, feeds the topology map."""
    from auditor.report.topology import build_topology

    rules = {rule_id: meta.as_dict() for rule_id, meta in catalogue().items()}
    topology = build_topology(snapshot, report["findings"]) if snapshot is not None else None
    return (
        templates()
        .get_template("report.html.j2")
        .render(report=report, rules=rules, severities=SEVERITIES, topology=topology)
    )


def render_rules_markdown(rules: list[dict[str, Any]]) -> str:
    """The rule catalogue as Markdown (Markdown is not HTML: no autoescape)."""
    return templates(autoescape=False).get_template("rules.md.j2").render(rules=rules)
