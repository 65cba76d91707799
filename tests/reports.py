"""Hand-built reports for the format and view tests: written in their JSON form (the schema's
shape, readable and checkable against it), turned into the typed Report the formats take."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from auditor.model import Coverage, CoverageNote, Finding, Scope
from auditor.policy import ExpiredSuppression, Suppression
from auditor.report.document import (
    BaselineSummary,
    CoverageCounts,
    Report,
    ResolvedFinding,
    Summary,
)
from auditor.serial import from_jsonable


def finding_of(data: Mapping[str, Any]) -> Finding:
    """A Finding from its JSON form (`change` is the report's, not the finding's)."""
    return from_jsonable(Finding, {k: v for k, v in data.items() if k != "change"})


def report_of(data: Mapping[str, Any]) -> Report:
    """The Report whose JSON is `data` (absent optional parts: not compared, no notes)."""
    summary = data["summary"]
    baseline = data.get("baseline")
    return Report(
        schema_version=data["schema_version"],
        generated_at=data["generated_at"],
        collected_at=data.get("collected_at"),
        tool_version=data["tool_version"],
        scope=from_jsonable(Scope, data["scope"]),
        coverage=tuple(from_jsonable(Coverage, c) for c in data["coverage"]),
        coverage_notes=tuple(
            from_jsonable(CoverageNote, n) for n in data.get("coverage_notes") or ()
        ),
        summary=Summary(
            total=summary["total"],
            by_severity=summary["by_severity"],
            by_rule=summary["by_rule"],
            by_account=summary["by_account"],
            coverage=CoverageCounts(**summary["coverage"]),
            suppressed=summary["suppressed"],
        ),
        findings=tuple(finding_of(f) for f in data["findings"]),
        expired_suppressions=tuple(
            ExpiredSuppression(
                from_jsonable(Suppression, {k: v for k, v in e.items() if k != "finding_ids"}),
                e["finding_ids"],
            )
            for e in data["expired_suppressions"]
        ),
        rules_evaluated=tuple(data.get("rules_evaluated") or ()),
        unmatched_suppressions=tuple(
            from_jsonable(Suppression, s) for s in data.get("unmatched_suppressions") or ()
        ),
        baseline=BaselineSummary(**baseline) if baseline else None,
        resolved=tuple(ResolvedFinding(**r) for r in data.get("resolved") or ()),
        new_ids=frozenset(f["id"] for f in data["findings"] if f.get("change") == "new"),
    )


def finding_data(**fields: Any) -> dict[str, Any]:
    """A finding's JSON form: a low finding on a route table unless `fields` say otherwise."""
    return {
        "id": "1" * 16,
        "rule_id": "r",
        "severity": "low",
        "title": "t",
        "account_id": "111111111111",
        "region": "us-east-1",
        "resource_type": "route-table",
        "resource_id": "rtb-1",
        "vpc_id": None,
        "message": "m",
        "remediation": "",
        "evidence": {},
        "suppressed": False,
        "suppression_reason": None,
        "suppression_expires": None,
        "change": None,
        **fields,
    }


def report_data(*findings: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A report's JSON form holding `findings`, its summary counted from them."""
    active = [f for f in findings if not f["suppressed"]]
    severities = ("critical", "high", "medium", "low", "info")
    return {
        "schema_version": 1,
        "generated_at": "2026-01-01T00:00:00Z",
        "collected_at": None,
        "tool_version": "0",
        "scope": {"partition": "aws", "accounts": [], "regions": []},
        "coverage": [],
        "coverage_notes": [],
        "summary": {
            "total": len(active),
            "by_severity": {s: sum(f["severity"] == s for f in active) for s in severities},
            "by_rule": dict(Counter(f["rule_id"] for f in active)),
            "by_account": dict(Counter(f["account_id"] for f in active)),
            "coverage": {"ok": 0, "error": 0},
            "suppressed": len(findings) - len(active),
        },
        "findings": list(findings),
        "expired_suppressions": [],
        "unmatched_suppressions": [],
        "rules_evaluated": [],
        "baseline": None,
        "resolved": [],
        **fields,
    }
