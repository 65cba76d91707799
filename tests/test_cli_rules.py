"""The rule catalogue on the command line (`rules RULE_ID`, `--json`), choosing rules for one
run (--rule, --exclude-rule, --min-severity) and the one error style."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.model import NatGateway, Severity
from auditor.rules import REGISTRY
from auditor.rules.base import catalogue
from auditor.serial import dumps
from tests.builders import route, snapshot, subnet, table, vpc


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="vpc-audit", catch_exceptions=False)


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    """A VPC whose main table sends S3 and DynamoDB through a NAT gateway."""
    path = tmp_path / "snap.json"
    path.write_text(
        dumps(
            snapshot(
                NatGateway("nat-1", "111111111111", "us-east-1", "vpc-1"),
                vpc("vpc-1", "10.0.0.0/16"),
                subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
                table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True),
            )
        )
    )
    return path


def audit(snap: Path, *args: str) -> tuple[Result, dict[str, object]]:
    out = snap.parent / "r.json"
    result = run("--from-snapshot", str(snap), "--json", str(out), "-q", *args)
    return result, json.loads(out.read_text()) if out.exists() else {}


def test_rules_rule_id_prints_what_why_fix_and_references() -> None:
    result = run("rules", "s3-egress-via-nat")
    assert result.exit_code == 0
    text = result.output
    assert text.startswith("s3-egress-via-nat (medium, route-table)\n")
    for heading in ("What it checks:", "Why:", "How to fix:", "References:"):
        assert f"\n{heading}\n" in text
    assert "https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html" in text
    assert max(len(line) for line in text.splitlines() if "https://" not in line) <= 88


def test_an_unknown_rule_id_is_a_usage_error_with_a_suggestion() -> None:
    result = run("rules", "s3-egres-via-nat")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Usage: vpc-audit rules [OPTIONS] [RULE_ID]...",
        "vpc-audit: error: unknown rule 's3-egres-via-nat' (did you mean s3-egress-via-nat?)",
    ]


def test_rules_json_lists_every_rule_with_its_metadata() -> None:
    every = json.loads(run("rules", "--json").output)
    assert [r["id"] for r in every] == sorted(REGISTRY)
    assert set(every[0]) == {
        "id", "title", "severity", "resource_type", "what", "why", "fix", "references"
    }  # fmt: skip
    two = json.loads(
        run("rules", "--json", "tgw-dns-support-off", "peering-pending-acceptance").output
    )
    assert [r["id"] for r in two] == ["tgw-dns-support-off", "peering-pending-acceptance"]


def test_rule_glob_runs_only_the_matching_rules(snap: Path) -> None:
    result, report = audit(snap, "--rule", "peering-*", "--rule", "dynamodb-egress-via-nat")
    assert result.exit_code == 1
    evaluated = report["rules_evaluated"]
    assert isinstance(evaluated, list)
    wanted = {r for r in REGISTRY if fnmatchcase(r, "peering-*")} | {"dynamodb-egress-via-nat"}
    assert set(evaluated) == wanted
    assert {f["rule_id"] for f in report["findings"]} == {"dynamodb-egress-via-nat"}  # type: ignore[attr-defined]


def test_exclude_rule_leaves_the_rule_out(snap: Path) -> None:
    _, report = audit(snap, "--exclude-rule", "*-egress-via-nat")
    assert "s3-egress-via-nat" not in report["rules_evaluated"]  # type: ignore[operator]
    assert report["findings"] == []


def test_min_severity_counts_the_policys_own_severities(snap: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nrules:\n  s3-egress-via-nat:\n    severity: high\n")
    _, report = audit(snap, "--min-severity", "high", "--policy", str(policy))
    evaluated = set(report["rules_evaluated"])  # type: ignore[call-overload]
    metas = catalogue()
    assert "s3-egress-via-nat" in evaluated
    assert "dynamodb-egress-via-nat" not in evaluated
    assert all(metas[r].severity >= Severity.HIGH for r in evaluated if r != "s3-egress-via-nat")
    assert {f["rule_id"] for f in report["findings"]} == {"s3-egress-via-nat"}  # type: ignore[attr-defined]


def test_the_command_line_narrows_the_policy_never_widens_it(snap: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nrules:\n  s3-egress-via-nat:\n    enabled: false\n")
    result, _ = audit(snap, "--policy", str(policy), "--rule", "s3-egress-via-nat")
    assert result.exit_code == 2
    assert "vpc-audit: error: the rule selection leaves no rule to run" in result.stderr


def test_a_glob_that_matches_no_rule_fails_before_the_snapshot_is_read(tmp_path: Path) -> None:
    result = run("--from-snapshot", str(tmp_path / "missing.json"), "--rule", "s3-*-typo")
    assert result.exit_code == 2
    assert result.stderr == (
        "vpc-audit: error: --rule 's3-*-typo' matches no rule (`vpc-audit rules` lists them)\n"
    )


def test_rule_options_are_refused_with_shard() -> None:
    result = run("--shard", "0/2", "--snapshot-out", "s.json", "--rule", "peering-*")
    assert result.exit_code == 2
    assert "drop --rule" in result.stderr


def test_one_error_style_usage_line_only_for_usage_errors(tmp_path: Path) -> None:
    usage = run("--fail-on-new")
    assert usage.exit_code == 2
    assert usage.stderr.splitlines() == [
        "Usage: vpc-audit [OPTIONS] [COMMAND] [ARGS]...",
        "vpc-audit: error: --fail-on-new needs --baseline or --state-dir",
    ]
    bad_input = run("--from-snapshot", str(tmp_path / "missing.json"))
    assert bad_input.exit_code == 2
    assert bad_input.stderr.startswith("vpc-audit: error: ")
    assert "Usage:" not in bad_input.stderr
