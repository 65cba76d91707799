"""Change since the last run: --baseline FILE, --state-dir DIR and --fail-on-new, on two
offline runs of hand-built snapshots with a change between them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.model import NatGateway, SecurityGroup, SecurityGroupRule, Snapshot
from auditor.serial import dumps
from tests.builders import R1, A, B, route, snapshot, subnet, table, vpc

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "auditor" / "report" / "report.schema.json").read_text()
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def nat_vpc(n: int, account: str = A) -> list[Any]:
    """A VPC whose main table sends S3 and DynamoDB through NAT: two medium findings."""
    return [
        NatGateway(f"nat-{n}", account, R1, f"vpc-{n}"),
        vpc(f"vpc-{n}", f"10.{n}.0.0/16", account=account),
        subnet(f"subnet-{n}", f"vpc-{n}", f"10.{n}.1.0/24", account=account),
        table(f"rtb-{n}", f"vpc-{n}", route("0.0.0.0/0", f"nat-{n}"), main=True, account=account),
    ]


def open_ssh(vpc_id: str = "vpc-1") -> SecurityGroup:
    """A group open to the world on port 22: one high finding."""
    return SecurityGroup(
        "sg-1",
        A,
        R1,
        vpc_id,
        name="admin",
        ingress=[SecurityGroupRule("tcp", 22, 22, ["0.0.0.0/0"])],
    )


def save(path: Path, snap: Snapshot) -> Path:
    for entry in snap.coverage:
        if entry.status != "ok":
            entry.error = "AccessDenied on DescribeVpcs"
    path.write_text(dumps(snap))
    return path


def audit(snap: Path, out: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    result = run("--from-snapshot", str(snap), "--json", str(out), *args)
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    return result, report


def changes(report: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    return {(f["rule_id"], f["resource_id"]): f["change"] for f in report["findings"]}


def test_without_a_baseline_nothing_is_marked(tmp_path: Path) -> None:
    _, report = audit(save(tmp_path / "s.json", snapshot(*nat_vpc(1))), tmp_path / "r.json")
    assert set(changes(report).values()) == {None}
    assert report["baseline"] is None and report["resolved"] == []


def test_baseline_marks_new_unchanged_and_resolved(tmp_path: Path) -> None:
    # Run 1: VPC 1 and VPC 2 send S3/DynamoDB through NAT.
    first = save(tmp_path / "s1.json", snapshot(*nat_vpc(1), *nat_vpc(2)))
    _, before = audit(first, tmp_path / "r1.json")
    # Between the runs: VPC 2 got its endpoints (gone), an SSH port was opened in VPC 1.
    second = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), open_ssh()))
    result, after = audit(second, tmp_path / "r2.json", "--baseline", str(tmp_path / "r1.json"))
    assert result.exit_code == 1
    assert changes(after) == {
        ("s3-egress-via-nat", "rtb-1"): "unchanged",
        ("dynamodb-egress-via-nat", "rtb-1"): "unchanged",
        ("sg-open-admin-port", "sg-1"): "new",
    }
    assert {(r["rule_id"], r["resource_id"]) for r in after["resolved"]} == {
        ("s3-egress-via-nat", "rtb-2"),
        ("dynamodb-egress-via-nat", "rtb-2"),
    }
    resolved = after["resolved"][0]
    old = next(f for f in before["findings"] if f["id"] == resolved["id"])
    for key in ("rule_id", "title", "severity", "account_id", "region", "resource_id"):
        assert resolved[key] == old[key]
    assert after["baseline"] == {
        "source": str(tmp_path / "r1.json"),
        "generated_at": before["generated_at"],
        "new": 1,
        "unchanged": 2,
        "resolved": 2,
        "not_rechecked": 0,
    }
    assert "1 new, 2 resolved since" in result.stderr


def test_state_dir_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = save(tmp_path / "s1.json", snapshot(*nat_vpc(1)))
    result, report = audit(first, tmp_path / "r1.json", "--state-dir", str(state))
    assert result.exit_code == 1
    # First run: the state directory is created; everything is new against the empty state.
    assert set(changes(report).values()) == {"new"}
    assert report["baseline"]["source"] is None and report["baseline"]["new"] == 2
    assert "(first run)" in result.stderr
    kept = json.loads((state / "last-report.json").read_text())
    assert kept["findings"] == report["findings"]

    second = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), *nat_vpc(3)))
    result, report = audit(second, tmp_path / "r2.json", "--state-dir", str(state))
    assert result.exit_code == 1
    assert changes(report) == {
        ("s3-egress-via-nat", "rtb-1"): "unchanged",
        ("dynamodb-egress-via-nat", "rtb-1"): "unchanged",
        ("s3-egress-via-nat", "rtb-3"): "new",
        ("dynamodb-egress-via-nat", "rtb-3"): "new",
    }
    assert report["baseline"]["source"] == str(state / "last-report.json")

    # Third run, same estate: nothing new; the state now holds run 2.
    result, report = audit(second, tmp_path / "r3.json", "--state-dir", str(state))
    assert set(changes(report).values()) == {"unchanged"}
    assert [p.name for p in state.iterdir()] == ["last-report.json"]  # no temp files left


@pytest.mark.parametrize(
    ("fail_on", "second", "code"),
    [
        ("low", "same", 0),  # findings, but none new
        ("medium", "new-nat", 1),  # new medium findings
        ("high", "new-nat", 0),  # new, but below --fail-on
        ("high", "new-ssh", 1),  # a new high finding
        ("none", "new-ssh", 0),
    ],
)
def test_fail_on_new(tmp_path: Path, fail_on: str, second: str, code: int) -> None:
    first = save(tmp_path / "s1.json", snapshot(*nat_vpc(1)))
    audit(first, tmp_path / "r1.json")
    extra = {"same": [], "new-nat": nat_vpc(2), "new-ssh": [open_ssh()]}[second]
    snap = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), *extra))
    result, _ = audit(
        snap,
        tmp_path / "r2.json",
        "--baseline",
        str(tmp_path / "r1.json"),
        "--fail-on-new",
        "--fail-on",
        fail_on,
    )
    assert result.exit_code == code, result.stderr


def test_suppressed_findings_are_never_new(tmp_path: Path) -> None:
    audit(save(tmp_path / "s1.json", snapshot(*nat_vpc(1))), tmp_path / "r1.json")
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nsuppressions:\n  - rule: sg-open-admin-port\n    reason: bastion host\n"
    )
    snap = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), open_ssh()))
    result, report = audit(
        snap,
        tmp_path / "r2.json",
        "--baseline",
        str(tmp_path / "r1.json"),
        "--policy",
        str(policy),
        "--fail-on-new",
    )
    assert result.exit_code == 0
    ssh = next(f for f in report["findings"] if f["rule_id"] == "sg-open-admin-port")
    assert ssh["suppressed"] and ssh["change"] == "unchanged"
    assert report["baseline"]["new"] == 0


def test_findings_where_this_run_could_not_look_are_not_resolved(tmp_path: Path) -> None:
    audit(save(tmp_path / "s1.json", snapshot(*nat_vpc(1), *nat_vpc(2, B))), tmp_path / "r1.json")
    # Account B could not be read this time: its findings are not resolved, only not rechecked.
    snap = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), unaudited=((B, R1),)))
    _, report = audit(snap, tmp_path / "r2.json", "--baseline", str(tmp_path / "r1.json"))
    assert report["resolved"] == []
    assert report["baseline"]["not_rechecked"] == 2


def test_findings_where_the_baseline_could_not_look_are_not_new(tmp_path: Path) -> None:
    snap = save(tmp_path / "s1.json", snapshot(*nat_vpc(1), unaudited=((B, R1),)))
    audit(snap, tmp_path / "r1.json")
    # Account B is readable again: its findings were unknown, not absent, last time.
    snap = save(tmp_path / "s2.json", snapshot(*nat_vpc(1), *nat_vpc(2, B)))
    _, report = audit(snap, tmp_path / "r2.json", "--baseline", str(tmp_path / "r1.json"))
    assert set(changes(report).values()) == {"unchanged"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "not a vpc-audit baseline report"),
        ('{"schema_version": 1, "coverage": []}', "not a vpc-audit baseline report"),
        (
            '{"schema_version": 2, "generated_at": "x", "findings": []}',
            "schema_version 2 is not supported",
        ),
        ('{"schema_version": 1, "generated_at": "x", "findings": {}}', "findings is not a list"),
        (
            '{"schema_version": 1, "generated_at": "x", "findings": [{"rule_id": "r"}]}',
            "findings[0].id is missing",
        ),
    ],
)
def test_bad_baseline_is_a_one_line_usage_error(tmp_path: Path, content: str, message: str) -> None:
    snap = save(tmp_path / "s.json", snapshot(*nat_vpc(1)))
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    result = run("--from-snapshot", str(snap), "--baseline", str(bad), "--json", "-")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr and str(bad) in result.stderr
    assert result.stdout == ""  # checked before anything is audited


def test_bad_state_file_is_a_usage_error(tmp_path: Path) -> None:
    snap = save(tmp_path / "s.json", snapshot(*nat_vpc(1)))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "last-report.json").write_text(dumps(snapshot()))  # a snapshot
    result = run("--from-snapshot", str(snap), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert str(tmp_path / "state" / "last-report.json") in result.stderr


def test_missing_baseline_file(tmp_path: Path) -> None:
    snap = save(tmp_path / "s.json", snapshot(*nat_vpc(1)))
    result = run("--from-snapshot", str(snap), "--baseline", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "cannot read baseline report" in result.stderr


def test_fail_on_new_needs_a_baseline() -> None:
    result = run("--fail-on-new")
    assert result.exit_code == 2
    assert "--fail-on-new needs --baseline or --state-dir" in result.stderr


def test_state_is_not_saved_when_the_run_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = run("--from-snapshot", str(bad), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert not (tmp_path / "state" / "last-report.json").exists()
