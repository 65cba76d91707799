"""The terminal's findings table: the worst first, one line each within the width, capped."""

from __future__ import annotations

import click

from auditor.model import Finding, Severity
from auditor.report.terminal import findings_table


def finding(
    severity: Severity, rule: str = "s3-egress-via-nat", n: int = 0, **extra: object
) -> Finding:
    return Finding(
        rule_id=rule,
        severity=severity,
        title="t",
        account_id="111111111111",
        region="us-east-1",
        resource_type="route-table",
        resource_id=f"rtb-{n:04d}",
        vpc_id="vpc-1",
        message="S3 traffic from 3 subnets leaves through nat-0abc instead of a gateway endpoint",
        remediation="",
        **extra,  # type: ignore[arg-type]
    )


def test_worst_first_with_a_header_and_every_line_within_the_width() -> None:
    lines = findings_table(
        [finding(Severity.LOW, n=1), finding(Severity.HIGH, "peering-missing-return-route", 2)],
        width=100,
    )
    assert lines[0].split() == ["SEVERITY", "RULE", "RESOURCE", "ACCOUNT/REGION", "MESSAGE"]
    assert lines[1].startswith("high      peering-missing-return-route  rtb-0002  ")
    assert lines[2].startswith("low       s3-egress-via-nat             rtb-0001  ")
    assert all(len(line) <= 100 for line in lines)
    assert lines[1].endswith("…")  # the message was cut to fit


def test_capped_with_how_many_more_the_report_holds() -> None:
    lines = findings_table([finding(Severity.MEDIUM, n=i) for i in range(20)], limit=15)
    assert len(lines) == 1 + 15 + 1
    assert lines[-1] == "… 5 more in the report"


def test_suppressed_findings_are_left_out_and_nothing_found_prints_nothing() -> None:
    assert findings_table([finding(Severity.HIGH, suppressed=True)]) == []
    assert findings_table([]) == []


def test_colour_only_on_the_severity_cell_and_only_when_asked() -> None:
    plain = findings_table([finding(Severity.HIGH)])
    coloured = findings_table([finding(Severity.HIGH)], colour=True)
    assert "\x1b[" not in "".join(plain)
    assert coloured[1].startswith("\x1b[31mhigh    \x1b[0m")
    assert click.unstyle(coloured[1]) == plain[1]


def test_long_ids_are_cut_not_the_columns_pushed() -> None:
    long_rule = finding(Severity.HIGH, "r" * 60)
    (header, row) = findings_table([long_rule], width=120)
    assert header.index("RESOURCE") == row.index("rtb-0000")
    assert "r" * 33 + "…" in row
