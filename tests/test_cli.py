"""The command line end to end: moto server, two accounts by assume-role, two regions; offline runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from auditor.model import NatGateway, Snapshot
from auditor.rules import REGISTRY
from auditor.serial import dumps
from tests.builders import route, snapshot, subnet, table, vpc
from tests.faults import FaultServer

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "auditor" / "report" / "report.schema.json").read_text()
)
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: any AWS call from an offline run fails


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def audit_args(out: Path) -> list[str]:
    args = ["--role-name", DEMO_ROLE]
    for account in DEMO_ACCOUNTS:
        args += ["--account", account]
    for region in DEMO_REGIONS:
        args += ["--region", region]
    return [*args, "--json", str(out / "r.json"), "--html", str(out / "r.html")]


MISSION = {
    "s3-egress-via-nat",
    "peering-pending-acceptance",
    "peering-missing-return-route",
    "peering-dns-resolution-off",
    "peering-peer-not-audited",
}


def found(report: dict[str, Any], rules: set[str] = MISSION) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["resource_id"]) for f in report["findings"] if f["rule_id"] in rules}


def test_audit_of_two_accounts_and_two_regions(aws: FaultServer, tmp_path: Path) -> None:
    ids = seed_estate(aws.url)
    result = run(*audit_args(tmp_path), "--snapshot-out", str(tmp_path / "snap.json"))
    assert result.exit_code == 1, result.stderr  # a high finding, default --fail-on low
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert found(report) == {
        ("s3-egress-via-nat", ids["rtb_prod_private"]),
        ("s3-egress-via-nat", ids["rtb_staging_batch"]),
        ("s3-egress-via-nat", ids["rtb_payments_private"]),  # through the hub's egress VPC
        ("peering-pending-acceptance", ids["pcx_pending"]),
        ("peering-missing-return-route", ids["pcx_eu"]),
        ("peering-dns-resolution-off", ids["pcx_eu"]),
        ("peering-peer-not-audited", ids["pcx_vendor"]),
    }
    assert {(c["account_id"], c["region"], c["status"]) for c in report["coverage"]} == {
        (a, r, "ok") for a in DEMO_ACCOUNTS for r in DEMO_REGIONS
    }
    pending = next(f for f in report["findings"] if f["rule_id"] == "peering-pending-acceptance")
    assert pending["account_id"] == DEMO_ACCOUNTS[1]  # the accepter must act
    assert "shop-prod-private" in (tmp_path / "r.html").read_text()
    assert "wrote HTML report" in result.stderr

    # The saved snapshot re-audits offline to the same findings, without touching AWS.
    offline = CliRunner(env={"AWS_ENDPOINT_URL": CLOSED_PORT}).invoke(
        main, ["--from-snapshot", str(tmp_path / "snap.json"), "--json", "-", "-qq"]
    )
    assert offline.exit_code == 1, offline.stderr
    everything = {f["rule_id"] for f in report["findings"]}
    assert found(json.loads(offline.stdout), everything) == found(report, everything)
    assert offline.stderr == ""


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`vpc-audit demo` as a user runs it: its own process, no AWS settings in the environment."""
    return subprocess.run(
        [sys.executable, "-m", "auditor", "demo", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"},
    )


def test_demo_command_writes_both_reports(tmp_path: Path) -> None:
    completed = run_demo(tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads((tmp_path / "vpc-audit-demo.json").read_text())
    assert set(report["summary"]["by_rule"]) >= MISSION
    # The hub-and-spoke part has a case of every transit gateway rule.
    assert {r for r in REGISTRY if r.startswith("tgw-")} <= set(report["summary"]["by_rule"])
    hub_egress = [
        f
        for f in report["findings"]
        if f["rule_id"] == "s3-egress-via-nat" and "transit gateway" in f["message"]
    ]
    assert len(hub_egress) == 1 and "create-vpc-endpoint" in hub_egress[0]["remediation"]
    # The demo's NAT gateways processed traffic (CloudWatch, seeded): costs to rank by.
    costs = {
        f["resource_id"]: f["evidence"]["cost"]["usd"]
        for f in report["findings"]
        if f["rule_id"] == "s3-egress-via-nat"
    }
    assert 63.0 in costs.values()  # shop-prod: 1,400 GB at $0.045
    assert hub_egress[0]["evidence"]["cost"]["usd"] == 40.3  # egress-hub: 620 GB x (0.045 + 0.02)
    assert 0.0 in costs.values()  # shop-staging: no data in 30 days
    html = (tmp_path / "vpc-audit-demo.html").read_text()
    assert "Cost at stake" in html and "about $63 over the last 30 days" in html
    assert (tmp_path / "vpc-audit-demo.html").stat().st_size > 1000
    assert str(tmp_path / "vpc-audit-demo.html") in completed.stderr


def test_demo_quiet_prints_only_errors(tmp_path: Path) -> None:
    completed = run_demo(tmp_path, "-q")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == "" and completed.stdout == ""
    assert (tmp_path / "vpc-audit-demo.json").exists()


# --- offline runs on hand-built snapshots ---


def write_snapshot(path: Path, **tags: str) -> Path:
    """A VPC whose main table sends S3 and DynamoDB through a NAT gateway (two medium findings)."""
    snap = snapshot(
        NatGateway("nat-1", "111111111111", "us-east-1", "vpc-1"),
        vpc("vpc-1", "10.0.0.0/16", tags=tags),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24", tags=tags),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True, tags=tags),
    )
    path.write_text(dumps(snap))
    return path


def test_hostile_name_tag_is_escaped_in_html(tmp_path: Path) -> None:
    evil = '<script>alert(1)</script>" onmouseover="x'
    snap = write_snapshot(tmp_path / "s.json", Name=evil)
    result = run("--from-snapshot", str(snap), "--html", str(tmp_path / "r.html"), "-q")
    assert result.exit_code == 1
    html = (tmp_path / "r.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert '" onmouseover="x' not in html


def test_default_output_is_html_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    monkeypatch.chdir(tmp_path)
    result = run("--from-snapshot", str(snap))
    assert (tmp_path / "vpc-audit-report.html").exists()
    assert str(tmp_path / "vpc-audit-report.html") in result.stderr


@pytest.mark.parametrize(
    ("fail_on", "gap", "code"),
    [
        ("low", False, 1),
        ("high", False, 0),
        ("none", False, 0),
        ("high", True, 4),
        ("low", True, 5),
    ],
)
def test_exit_codes(tmp_path: Path, fail_on: str, gap: bool, code: int) -> None:
    path = write_snapshot(tmp_path / "s.json")  # one medium finding
    if gap:
        data = json.loads(path.read_text())
        data["coverage"].append(
            {"account_id": "999999999999", "region": "us-east-1", "status": "error", "error": "x"}
        )
        path.write_text(json.dumps(data))
    result = run(
        "--from-snapshot", str(path), "--json", str(tmp_path / "r.json"), "--fail-on", fail_on
    )
    assert result.exit_code == code
    if gap:
        assert "999999999999/us-east-1: x" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        (
            '{"schema_version": 99, "coverage": []}',
            "schema_version 99 is not supported (this vpc-audit reads versions 1, 2 and 3)",
        ),
        ('{"schema_version": 1, "coverage": [], "vpcs": [{"id": 3}]}', "vpcs[0]"),
        ("[]", "not a vpc-audit snapshot"),
        (
            '{"schema_version": 1, "coverage": [], "vpcs": [{"id": "vpc-1", "account_id": "1",'
            ' "region": "r", "cidr_blocks": ["10.0.0.0/16", "not-a-cidr"]}]}',
            "$.vpcs[0].cidr_blocks[1]: 'not-a-cidr' is not a CIDR block",
        ),
        (
            '{"schema_version": 1, "coverage": [{"account_id": "1", "region": "r",'
            ' "status": "maybe"}]}',
            "$.coverage[0].status: 'maybe' is not one of ok, error",
        ),
        (
            '{"schema_version": 3, "coverage": [], "nat_gateways": [{"id": "nat-1",'
            ' "account_id": "1", "region": "r", "vpc_id": "v", "data_processed":'
            ' {"bytes": -5, "start": "a", "end": "b"}}]}',
            "$.nat_gateways[0].data_processed.bytes: -5 is not a count of bytes",
        ),
    ],
)
def test_bad_snapshot_is_one_line_usage_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run("--from-snapshot", str(path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_snapshot_file(tmp_path: Path) -> None:
    result = run("--from-snapshot", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "cannot read snapshot" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role-name", "R"], "--role-name needs --account or --org"),
        (["--org", "--account", "123456789012"], "either --org or --account"),
        (["--account", "12345"], "not a 12-digit AWS account id"),
        (["--from-snapshot", "x.json", "--profile", "p"], "drop --profile"),
        (["--from-snapshot", "x.json", "--no-cost"], "drop --no-cost"),
        (["--fail-on", "urgent"], "urgent"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unknown_profile_is_a_clear_error() -> None:
    result = run("--profile", "no-such-profile")
    assert result.exit_code == 3  # README: 3, the audit could not run (credentials, profile)
    assert "unknown AWS profile 'no-such-profile'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run("--region", "us-east-1")
    assert result.exit_code == 3
    assert "no AWS credentials found" in result.stderr


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ("credential_process = /bin/false", {}, "CredentialRetrievalError"),
        ("", {"AWS_SECRET_ACCESS_KEY": None}, "PartialCredentialsError"),
    ],
)
def test_failing_base_credentials_are_a_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    env: dict[str, str | None],
    message: str,
) -> None:
    """botocore resolves the credentials when the first client is made: a credential_process
    (aws-vault, granted, saml2aws) that fails is one line, as a refused call is."""
    profile = tmp_path / "config"
    profile.write_text(f"[profile broken]\nregion = us-east-1\n{config}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profile))
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
    args = ["--profile", "broken"] if config else []
    if config:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run(*args, "--region", "us-east-1")
    assert result.exit_code == 3
    assert "vpc-audit: error: cannot identify the base credentials" in result.stderr
    assert message in result.stderr
    assert "internal error" not in result.stderr


def test_help_documents_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for line in ("0  audit complete", "1  findings at or above", "4  some account-regions"):
        assert line in result.stdout


def test_nothing_in_scope_is_an_error_not_a_clean_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("auditor.cli.collect", lambda request, progress: Snapshot())
    result = run("--org")
    assert result.exit_code == 3
    assert "nothing to audit" in result.stderr


# --- the scheduled-job examples ---

EXAMPLES = Path(__file__).parent.parent / "examples"


def nightly_args() -> list[str]:
    """The vpc-audit arguments of examples/vpc-audit-nightly.sh (the `exec vpc-audit` line)."""
    script = (EXAMPLES / "vpc-audit-nightly.sh").read_text().replace("\\\n", " ")
    (line,) = [x for x in script.splitlines() if x.startswith("exec vpc-audit ")]
    return shlex.split(line)[2:]


def test_scheduled_examples_run_one_valid_command() -> None:
    args = nightly_args()
    # click parses it as the CLI would (choices, flags), without running the audit.
    with main.make_context("vpc-audit", list(args)) as ctx:
        params = ctx.params
    assert params["state_dir"] == Path("/var/lib/vpc-audit")
    assert params["email_on"] == "new" and params["fail_on_new"]
    assert params["email_to"] == ("ops@example.com",)
    # Every scheduler runs that script.
    assert "/usr/local/bin/vpc-audit-nightly" in (EXAMPLES / "cron" / "vpc-audit").read_text()
    service = (EXAMPLES / "systemd" / "vpc-audit.service").read_text()
    assert "ExecStart=/usr/local/bin/vpc-audit-nightly" in service
    assert "StateDirectory=vpc-audit" in service
    assert "OnCalendar=" in (EXAMPLES / "systemd" / "vpc-audit.timer").read_text()
    dockerfile = (EXAMPLES / "container" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/local/bin/vpc-audit-nightly"]' in dockerfile
    task = json.loads((EXAMPLES / "container" / "task-definition.json").read_text())
    (container,) = task["containerDefinitions"]
    assert container["mountPoints"][0]["containerPath"] == str(params["state_dir"])
    schedule = json.loads((EXAMPLES / "container" / "schedule.json").read_text())
    assert (
        schedule["Target"]["EcsParameters"]["TaskDefinitionArn"]
        .split("/")[-1]
        .startswith(task["family"] + ":")
    )


def test_nightly_command_runs_end_to_end(tmp_path: Path) -> None:
    """The example's options, pointed at a snapshot and local paths, work together."""
    snap = write_snapshot(tmp_path / "s.json")
    args = nightly_args()
    # Offline: no AWS scope and no email (tests/test_email.py sends them); local paths.
    aws_and_mail = ("--profile", "--role-name", "--ses-region", "--email-to", "--email-from")
    for option in (*aws_and_mail, "--email-on"):
        at = args.index(option)
        del args[at : at + 2]
    args.remove("--org")
    args = [a.replace("/var/lib/vpc-audit", str(tmp_path)) for a in args]
    first = run("--from-snapshot", str(snap), *args)
    second = run("--from-snapshot", str(snap), *args)
    assert (first.exit_code, second.exit_code) == (0, 0)  # medium findings: below --fail-on high
    assert (tmp_path / "last-report.json").exists() and (tmp_path / "report.html").exists()


def test_reaudited_snapshot_says_when_aws_was_read(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path / "s.json")
    data = json.loads(path.read_text())
    data["collected_at"] = "2026-01-02T03:04:05Z"
    path.write_text(json.dumps(data))
    run(
        "--from-snapshot",
        str(path),
        "--json",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert json.loads((tmp_path / "r.json").read_text())["collected_at"] == "2026-01-02T03:04:05Z"
    assert "AWS read at" in (tmp_path / "r.html").read_text()


def test_empty_snapshot_is_nothing_to_audit(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"schema_version": 1, "coverage": []}')
    result = run("--from-snapshot", str(path))
    assert result.exit_code == 3
    assert "holds no account-region" in result.stderr
