"""The typed report: frozen, built once without touching the findings, and its JSON is the
document the schema describes (the contract of the JSON file)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor import __version__
from auditor.model import Coverage, CoverageNote, Finding, Scope, Severity, Snapshot
from auditor.policy import ExpiredSuppression, Suppression
from auditor.report import build_report
from auditor.report.baseline import Baseline
from auditor.report.formats.json import render_json
from auditor.rules import AuditResult
from auditor.serial import to_jsonable

A, R1 = "111111111111", "us-east-1"
SCHEMA = json.loads(
    (Path(__file__).parent.parent / "auditor/report/report.schema.json").read_text()
)


def finding(n: int, severity: Severity = Severity.HIGH, **fields: Any) -> Finding:
    return Finding(
        rule_id="s3-egress-via-nat",
        severity=severity,
        title="S3 through NAT",
        account_id=A,
        region=R1,
        resource_type="route-table",
        resource_id=f"rtb-{n}",
        vpc_id="vpc-1",
        message=f"rtb-{n} sends S3 traffic to nat-1",
        remediation="Add an S3 gateway endpoint.",
        evidence={"routes": [{"destination": "0.0.0.0/0", "target": "nat-1"}]},
        id=f"{n:016x}",
        **fields,
    )


def inputs() -> tuple[Snapshot, AuditResult, Baseline]:
    """Two findings (one suppressed) in an audited region, a gap, a note, an expired suppression,
    one that matched nothing; a baseline that had finding 1 and two that are gone (one where
    this run did not look)."""
    snapshot = Snapshot(
        collected_at="2026-12-03T05:59:00Z",
        scope=Scope(accounts=[A], regions=[R1, "eu-west-1"]),
        coverage=[Coverage(A, R1, "ok"), Coverage(A, "eu-west-1", "error", "AccessDenied")],
        coverage_notes=[CoverageNote(A, "", "organization", "not allowed")],
    )
    expired = Suppression("sg-open-admin-port", "bastion", "2026-01-01", account=A)
    result = AuditResult(
        [
            finding(1, remediation_commands=["# in account 1 (us-east-1)\naws ec2 x"]),
            finding(2),
            finding(3, Severity.LOW, suppressed=True, suppression_reason="accepted"),
        ],
        [ExpiredSuppression(expired, ["00000000000000ff"])],
        [Suppression("s3-egress-via-nat", "accepted", resource="rtb-l")],
    )
    old = {
        "id": f"{1:016x}",
        "rule_id": "s3-egress-via-nat",
        "severity": "high",
        "title": "S3 through NAT",
        "account_id": A,
        "region": R1,
    }
    gone = {**old, "id": f"{9:016x}", "severity": "MEDIUM", "resource_id": "rtb-9"}
    elsewhere = {**gone, "id": f"{10:016x}", "region": "eu-west-1"}
    findings = {f["id"]: f for f in (old, gone, elsewhere)}
    return snapshot, result, Baseline("last.json", "2026-12-02T06:00:00Z", findings)


def finding_json(n: int, change: str, **fields: Any) -> dict[str, Any]:
    """Finding n as the report dict held it before the typed report."""
    return {
        "rule_id": "s3-egress-via-nat",
        "severity": "high",
        "title": "S3 through NAT",
        "account_id": A,
        "region": R1,
        "resource_type": "route-table",
        "resource_id": f"rtb-{n}",
        "vpc_id": "vpc-1",
        "message": f"rtb-{n} sends S3 traffic to nat-1",
        "remediation": "Add an S3 gateway endpoint.",
        "evidence": {"routes": [{"destination": "0.0.0.0/0", "target": "nat-1"}]},
        "id": f"{n:016x}",
        "suppressed": False,
        "suppression_reason": None,
        "suppression_expires": None,
        "remediation_commands": [],
        **fields,
        "change": change,
    }


def test_json_is_the_previous_dict_form_and_valid_against_the_schema() -> None:
    snapshot, result, baseline = inputs()
    report = build_report(snapshot, result, baseline, ["s3-egress-via-nat", "sg-open-admin-port"])
    expected = {
        "schema_version": 1,
        "generated_at": report.generated_at,
        "collected_at": "2026-12-03T05:59:00Z",
        "tool_version": __version__,
        "scope": {
            "partition": "aws",
            "accounts": [A],
            "regions": [R1, "eu-west-1"],
            "organization_id": None,
            "organization_accounts": [],
        },
        "coverage": [
            {"account_id": A, "region": R1, "status": "ok", "error": None},
            {"account_id": A, "region": "eu-west-1", "status": "error", "error": "AccessDenied"},
        ],
        "coverage_notes": [
            {"account_id": A, "region": "", "subject": "organization", "reason": "not allowed"}
        ],
        "summary": {
            "total": 2,
            "by_severity": {"critical": 0, "high": 2, "medium": 0, "low": 0, "info": 0},
            "by_rule": {"s3-egress-via-nat": 2},
            "by_account": {A: 2},
            "coverage": {"ok": 1, "error": 1},
            "suppressed": 1,
        },
        "findings": [
            finding_json(
                1, "unchanged", remediation_commands=["# in account 1 (us-east-1)\naws ec2 x"]
            ),
            finding_json(2, "new"),
            finding_json(
                3, "unchanged", severity="low", suppressed=True, suppression_reason="accepted"
            ),
        ],
        "expired_suppressions": [
            {
                "rule": "sg-open-admin-port",
                "reason": "bastion",
                "expires": "2026-01-01",
                "account": A,
                "region": None,
                "resource": None,
                "tag": {},
                "finding_ids": ["00000000000000ff"],
            }
        ],
        "unmatched_suppressions": [
            {
                "rule": "s3-egress-via-nat",
                "reason": "accepted",
                "expires": None,
                "account": None,
                "region": None,
                "resource": "rtb-l",
                "tag": {},
            }
        ],
        "rules_evaluated": ["s3-egress-via-nat", "sg-open-admin-port"],
        "baseline": {
            "source": "last.json",
            "generated_at": "2026-12-02T06:00:00Z",
            "new": 1,
            "unchanged": 1,
            "resolved": 1,
            "not_rechecked": 1,
        },
        "resolved": [
            {
                "id": f"{9:016x}",
                "rule_id": "s3-egress-via-nat",
                "severity": "medium",
                "title": "S3 through NAT",
                "account_id": A,
                "region": R1,
                "resource_type": "",
                "resource_id": "rtb-9",
            }
        ],
    }
    text = render_json(report)
    assert text == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    jsonschema.validate(json.loads(text), SCHEMA)


def test_without_a_baseline_change_is_null_and_nothing_is_resolved() -> None:
    snapshot, result, _ = inputs()
    report = build_report(snapshot, result)
    data = json.loads(render_json(report))
    assert {f["change"] for f in data["findings"]} == {None}
    assert (data["baseline"], data["resolved"]) == (None, [])
    assert [report.change(f) for f in report.findings] == [None, None, None]
    jsonschema.validate(data, SCHEMA)


def test_every_finding_field_reaches_the_json() -> None:
    """Findings are written field by field: a field added to Finding needs no format change."""
    snapshot, result, _ = inputs()
    (first, *_) = json.loads(render_json(build_report(snapshot, result)))["findings"]
    assert list(first) == [f.name for f in dataclasses.fields(Finding)] + ["change"]


def test_comparing_changes_neither_the_findings_nor_the_baseline() -> None:
    snapshot, result, baseline = inputs()
    findings_before = copy.deepcopy(to_jsonable(result.findings))
    baseline_before = copy.deepcopy(baseline.findings)
    report = build_report(snapshot, result, baseline)
    assert to_jsonable(result.findings) == findings_before
    assert baseline.findings == baseline_before
    assert all(a is b for a, b in zip(report.findings, result.findings, strict=True))  # no copies
    assert [report.change(f) for f in report.findings] == ["unchanged", "new", "unchanged"]
    assert [f.id for f in report.new_findings()] == [f"{2:016x}"]


def test_the_report_and_its_parts_are_frozen() -> None:
    snapshot, result, baseline = inputs()
    report = build_report(snapshot, result, baseline)
    assert report.baseline is not None
    parts: list[tuple[Any, str]] = [
        (report, "generated_at"),
        (report.summary, "total"),
        (report.summary.coverage, "ok"),
        (report.baseline, "new"),
        (report.resolved[0], "title"),
    ]
    for part, name in parts:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(part, name, None)
    assert isinstance(report.findings, tuple) and isinstance(report.resolved, tuple)
