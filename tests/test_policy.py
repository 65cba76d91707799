"""Audit policies: loading (YAML/TOML, strict), severities, enable/disable, trust, suppressions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.errors import InputError
from auditor.model import NatGateway, Snapshot
from auditor.policy import AuditPolicy, load_policy
from auditor.rules import REGISTRY, evaluate
from auditor.serial import dumps
from tests.builders import A, B, peering, route, side, snapshot, subnet, table, vpc

POLICIES = Path(__file__).parent.parent / "policies"
TODAY = dt.date(2026, 11, 27)


def two_findings() -> Snapshot:
    """S3 and DynamoDB through NAT on rtb-1 (VPC tagged Team=data), and a pending peering pcx-1."""
    return snapshot(
        NatGateway("nat-1", A, "us-east-1", "vpc-1"),
        vpc("vpc-1", "10.0.0.0/16", tags={"Team": "data"}),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True),
        vpc("vpc-2", "10.1.0.0/16", account=B),
        peering(
            "pcx-1",
            side("vpc-1", "10.0.0.0/16"),
            side("vpc-2", "10.1.0.0/16", account=B),
            "pending-acceptance",
        ),
    )


def policy_file(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, name: str = "p.yaml") -> AuditPolicy:
    return load_policy(policy_file(tmp_path, text, name), REGISTRY)


@pytest.mark.parametrize("name", ["example-policy.yaml", "example-policy.toml"])
def test_example_policies_load_and_agree(name: str) -> None:
    policy = load_policy(POLICIES / name, REGISTRY)
    assert policy == load_policy(POLICIES / "example-policy.yaml", REGISTRY)
    assert policy.trusted.accounts == ["444455556666"]
    assert policy.suppressions[0].expires == "2027-03-31"
    assert policy.suppressions[0].tag == {"Team": "data-platform"}


def test_no_policy_reports_everything() -> None:
    result = evaluate(two_findings(), today=TODAY)
    assert sorted(f.rule_id for f in result.findings) == [
        "dynamodb-egress-via-nat",
        "peering-pending-acceptance",
        "s3-egress-via-nat",
    ]


def test_disable_and_override_severity(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "rules:\n  s3-egress-via-nat: {enabled: false}\n  dynamodb-egress-via-nat: {enabled: false}\n"
        "  peering-pending-acceptance: {severity: critical}\n",
    )
    (finding,) = evaluate(two_findings(), policy, TODAY).findings
    assert finding.rule_id == "peering-pending-acceptance"
    assert str(finding.severity) == "critical"


@pytest.mark.parametrize(
    "scope",
    [
        "resource: rtb-1",
        "resource: 'rtb-*'",
        f"account: '{A}'",
        "region: us-east-1",
        "tag: {Team: data}",  # the VPC's tag applies to its route table's finding
    ],
)
def test_suppression_scopes_match(tmp_path: Path, scope: str) -> None:
    policy = load(
        tmp_path, f"suppressions:\n  - rule: s3-egress-via-nat\n    reason: accepted\n    {scope}\n"
    )
    findings = {f.rule_id: f for f in evaluate(two_findings(), policy, TODAY).findings}
    assert findings["s3-egress-via-nat"].suppressed is True
    assert findings["s3-egress-via-nat"].suppression_reason == "accepted"
    assert findings["peering-pending-acceptance"].suppressed is False


@pytest.mark.parametrize(
    "scope", ["resource: rtb-2", "account: '999999999999'", "region: eu-west-1", "tag: {Team: web}"]
)
def test_suppression_scopes_that_do_not_match(tmp_path: Path, scope: str) -> None:
    policy = load(tmp_path, f"suppressions:\n  - rule: '*'\n    reason: accepted\n    {scope}\n")
    assert not any(f.suppressed for f in evaluate(two_findings(), policy, TODAY).findings)


def test_expired_suppression_stops_applying_and_is_reported(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "suppressions:\n  - {rule: s3-egress-via-nat, reason: until the rollout, expires: 2026-11-26}\n",
    )
    result = evaluate(two_findings(), policy, TODAY)
    assert not any(f.suppressed for f in result.findings)
    (expired,) = result.expired_suppressions
    assert expired.suppression.expires == "2026-11-26"
    assert len(expired.finding_ids) == 1
    still_valid = evaluate(two_findings(), policy, dt.date(2026, 11, 26))
    assert [f.rule_id for f in still_valid.findings if f.suppressed] == ["s3-egress-via-nat"]


def test_trusted_accounts_reach_the_rules(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "trusted:\n  accounts: ['444455556666']\n  organization_ids: [o-abc1234567]\noptions: {include_empty: true}\n",
    )
    settings = policy.settings()
    assert settings.trusted_accounts == {"444455556666"}
    assert settings.trusted_organization_ids == {"o-abc1234567"}
    assert settings.include_empty is True


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("rulez: {}\n", "p.yaml", "unknown field 'rulez'"),
        (
            "rules:\n  no-such-rule: {enabled: false}\n",
            "p.yaml",
            "rules.no-such-rule: unknown rule id",
        ),
        ("rules:\n  s3-egress-via-nat: {severity: urgent}\n", "p.yaml", "is not a severity"),
        ("rules:\n  s3-egress-via-nat: {enabled: maybe}\n", "p.yaml", "expected true or false"),
        ("suppressions:\n  - {rule: s3-egress-via-nat}\n", "p.yaml", "missing field 'reason'"),
        ("suppressions:\n  - {rule: s3-egress-via-nat, reason: ' '}\n", "p.yaml", "needs a reason"),
        ("suppressions:\n  - {rule: x, reason: r}\n", "p.yaml", "unknown rule id 'x'"),
        (
            "suppressions:\n  - {rule: '*', reason: r, expires: soon}\n",
            "p.yaml",
            "not a YYYY-MM-DD date",
        ),
        ("trusted: {accounts: ['12']}\n", "p.yaml", "not a 12-digit account id"),
        ("version: 2\n", "p.yaml", "version 2 is not supported"),
        ("rules: [\n", "p.yaml", "not valid YAML"),
        ("rules = [\n", "p.toml", "not valid TOML"),
        ("- 1\n", "p.yaml", "must be a mapping"),
        ("rules: {}\nrules: {}\n", "p.yaml", "key 'rules' appears twice"),
        (
            "suppressions:\n  - {rule: '*', reason: r, expires: 2027-13-45}\n",
            "p.yaml",
            "not a usable",
        ),
        ("a: &a [*a]\n", "p.yaml", "not a usable"),
        ("trusted: {organization_ids: [garbage]}\n", "p.yaml", "is not an organisation id"),
        ("{}", "p.json", "must end in .yaml, .yml or .toml"),
    ],
)
def test_bad_policies_are_clear_errors(tmp_path: Path, text: str, name: str, message: str) -> None:
    with pytest.raises(InputError, match=None) as raised:
        load(tmp_path, text, name)
    assert message in str(raised.value)
    assert str(tmp_path / name) in str(raised.value)


def test_cli_policy_error_exits_2_before_any_aws_call(tmp_path: Path) -> None:
    bad = policy_file(tmp_path, "rulez: {}\n")
    result = CliRunner(env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}).invoke(
        main, ["--policy", str(bad), "--region", "us-east-1"]
    )
    assert result.exit_code == 2
    assert "unknown field 'rulez'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_suppressed_findings_stay_in_json_and_leave_the_exit_code(tmp_path: Path) -> None:
    snap = tmp_path / "s.json"
    snap.write_text(dumps(two_findings()))
    policy = policy_file(
        tmp_path,
        "suppressions:\n  - {rule: '*', reason: known and accepted}\n"
        "  - {rule: '*', reason: old, expires: 2020-01-01, resource: nothing}\n",
    )
    result = CliRunner().invoke(
        main,
        [
            "--from-snapshot",
            str(snap),
            "--policy",
            str(policy),
            "--json",
            str(tmp_path / "r.json"),
            "--html",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["total"] == 0
    assert report["summary"]["suppressed"] == len(report["findings"]) == 3
    assert all(
        f["suppressed"] and f["suppression_reason"] == "known and accepted"
        for f in report["findings"]
    )
    assert report["expired_suppressions"][0]["expires"] == "2020-01-01"
    assert "expired on 2020-01-01" in result.stderr
    html = (tmp_path / "r.html").read_text()
    suppressed_section = html[html.index('id="suppressed"') : html.index('id="coverage"')]
    assert "known and accepted" in suppressed_section and "rtb-1" in suppressed_section
    assert "expired" in suppressed_section
