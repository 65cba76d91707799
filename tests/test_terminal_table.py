"""The terminal's findings table: the worst first, one line each within the width, capped;
shown after a run, kept to the count line by -q, nothing by -qq, coloured only on a terminal."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.cli.console import show_findings
from auditor.model import Finding, NatGateway, Severity
from auditor.report.terminal import findings_table
from auditor.serial import dumps
from tests.builders import route, snapshot, subnet, table, vpc


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
        width=140,
    )
    assert lines[0].split() == ["SEVERITY", "RULE", "RESOURCE", "ACCOUNT/REGION", "MESSAGE"]
    assert lines[1].startswith("high      peering-missing-return-route  rtb-0002  ")
    assert lines[2].startswith("low       s3-egress-via-nat             rtb-0001  ")
    assert all(len(line) <= 140 for line in lines)
    assert lines[1].endswith("…")  # the message was cut to fit


def test_capped_with_how_many_more_the_report_holds() -> None:
    lines = findings_table([finding(Severity.MEDIUM, n=i) for i in range(20)], limit=15)
    assert len(lines) == 1 + 2 * 15 + 1  # at 100 columns, each message on its own line
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


def test_a_narrow_terminal_puts_each_message_on_an_indented_line() -> None:
    lines = findings_table([finding(Severity.HIGH)], width=80)
    assert lines[0].split() == ["SEVERITY", "RULE", "RESOURCE", "ACCOUNT/REGION"]
    assert lines[2] == " " * 10 + finding(Severity.HIGH).message[:69] + "…"
    assert all(len(line) <= 80 for line in lines)


def test_long_ids_are_cut_not_the_columns_pushed() -> None:
    long_rule = finding(Severity.HIGH, "r" * 60)
    (header, row) = findings_table([long_rule], width=120)
    assert header.index("RESOURCE") == row.index("rtb-0000")
    assert "r" * 33 + "…" in row


# --- on the command line ------------------------------------------------------------------


def offline_run(tmp_path: Path, *flags: str) -> Result:
    snap = tmp_path / "s.json"
    snap.write_text(
        dumps(
            snapshot(
                NatGateway("nat-1", "111111111111", "us-east-1", "vpc-1"),
                vpc("vpc-1", "10.0.0.0/16"),
                subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
                table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True),
            )
        )
    )
    args = ["--from-snapshot", str(snap), "--json", str(tmp_path / "r.json"), *flags]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_a_run_shows_the_table_then_the_count_line(tmp_path: Path) -> None:
    lines = offline_run(tmp_path).stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("SEVERITY  RULE"))
    rules = {
        line.split()[1] for line in lines[header + 1 : header + 5 : 2]
    }  # message lines between
    assert rules == {"s3-egress-via-nat", "dynamodb-egress-via-nat"}
    assert lines[-1].startswith("2 finding(s) (2 medium) in 1 account-region(s)")


def test_q_keeps_only_the_count_line_and_qq_nothing(tmp_path: Path) -> None:
    assert offline_run(tmp_path, "-q").stderr.splitlines() == [
        "2 finding(s) (2 medium) in 1 account-region(s)"
    ]
    assert offline_run(tmp_path, "-qq").stderr == ""


@pytest.mark.parametrize(("no_color", "coloured"), [("", True), ("1", False)])
def test_colour_on_a_terminal_unless_no_color(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_color: str,
    coloured: bool,
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    show_findings([finding(Severity.HIGH)])
    assert ("\x1b[" in capsys.readouterr().err) is coloured
