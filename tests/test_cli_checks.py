"""Mistakes caught before any AWS call, and what a run says when it cannot help: region typos,
unwritable outputs, a report given as a snapshot, a run that audited nothing, warnings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.cli.console import ConsoleFormatter
from auditor.model import Coverage
from auditor.serial import dumps
from tests.builders import snapshot, vpc

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: a call would fail, slowly, with retries


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED_PORT)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="vpc-audit", catch_exceptions=False)


def test_a_region_typo_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    result = run("--region", "us-east-1", "--region", "us-east-9", "--html", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "vpc-audit: error: Invalid value for --region: 'us-east-9' is not an AWS region "
        "(did you mean us-east-2?; a region newer than this botocore needs a newer botocore)"
    )
    assert not (tmp_path / "r").exists()


def test_regions_of_every_partition_are_known() -> None:
    for region in ("eu-central-2", "cn-north-1", "us-gov-west-1", "il-central-1"):
        result = run("--region", region, "--html", "/nonexistent-dir/r.html")
        assert "not an AWS region" not in result.stderr, region
        assert "no directory /nonexistent-dir" in result.stderr  # the next check still ran


def test_a_ses_region_typo_is_caught_too() -> None:
    args = ["--email-to", "a@example.com", "--email-from", "b@example.com"]
    result = run("--region", "us-east-1", *args, "--ses-region", "eu-west-9")
    assert result.exit_code == 2
    assert "--ses-region: 'eu-west-9' is not an AWS region (did you mean eu-west-" in result.stderr


@pytest.mark.parametrize(
    ("flag", "where", "message"),
    [
        ("--html", "nodir/r.html", "--html nodir/r.html: no directory nodir"),
        ("--json", "nodir/r.json", "--json nodir/r.json: no directory nodir"),
        ("--snapshot-out", "nodir/s.json", "--snapshot-out nodir/s.json: no directory nodir"),
        ("--csv", ".", "--csv .: is a directory"),
    ],
)
def test_outputs_that_cannot_be_written_fail_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, where: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("--region", "us-east-1", flag, where)
    assert result.exit_code == 2
    assert result.stderr == f"vpc-audit: error: {message}\n"


def test_a_read_only_output_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root in CI, where every directory is writable: the permission is asked as
    # the real check asks it.
    monkeypatch.setattr("os.access", lambda path, mode: Path(path) != tmp_path)
    result = run("--region", "us-east-1", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"vpc-audit: error: --json {tmp_path / 'r.json'}: directory {tmp_path} is not writable\n"
    )


def test_a_report_given_as_a_snapshot_says_so(tmp_path: Path) -> None:
    snap = tmp_path / "s.json"
    snap.write_text(dumps(snapshot(vpc("vpc-1", "10.0.0.0/16"))))
    report = tmp_path / "r.json"
    assert run("--from-snapshot", str(snap), "--json", str(report), "-q").exit_code == 0
    result = run("--from-snapshot", str(report))
    assert result.exit_code == 2
    assert result.stderr == (
        f"vpc-audit: error: {report}: this is a vpc-audit report, not a snapshot: "
        "--from-snapshot reads a file written by --snapshot-out (a report can be given to "
        "--baseline)\n"
    )


def test_a_run_that_audited_nothing_keeps_the_last_report(tmp_path: Path) -> None:
    snap = snapshot()
    snap.coverage = [
        Coverage("111111111111", region, "error", "EndpointConnectionError: cannot connect")
        for region in ("us-east-1", "eu-west-1")
    ]
    path = tmp_path / "s.json"
    path.write_text(dumps(snap))
    html = tmp_path / "report.html"
    html.write_text("last night's report")
    result = run("--from-snapshot", str(path), "--html", str(html))
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "vpc-audit: error: no account-region could be audited (2 tried); reports not written:",
        "  111111111111/us-east-1: EndpointConnectionError: cannot connect",
        "  111111111111/eu-west-1: EndpointConnectionError: cannot connect",
    ]
    assert html.read_text() == "last night's report"


def test_accounts_without_role_name_warn_of_the_administrator_role() -> None:
    result = run("--account", "222222222222", "--region", "us-east-1", "--html", "/nodir/r")
    assert result.stderr.splitlines()[0] == (
        "vpc-audit: warning: no --role-name: using OrganizationAccountAccessRole, AWS "
        "Organizations' administrator role, in each account; name a read-only audit role (or "
        "this one) with --role-name"
    )
    named = run(
        "--account", "222222222222", "--role-name", "Audit", "--region", "us-east-1",
        "--html", "/nodir/r",
    )  # fmt: skip
    assert "warning" not in named.stderr


def test_log_warnings_print_in_vpc_audits_style_without_the_logger_name() -> None:
    formatter = ConsoleFormatter("%(levelname)s %(name)s: %(message)s")

    def line(level: int) -> str:
        record = logging.LogRecord(
            "auditor.collect.sessions", level, __file__, 1, "x %s", ("y",), None
        )
        return formatter.format(record)

    assert line(logging.WARNING) == "vpc-audit: warning: x y"
    assert line(logging.ERROR) == "vpc-audit: error: x y"
    assert line(logging.INFO) == "INFO auditor.collect.sessions: x y"  # -v detail keeps it


def test_reach_checks_region_names_too() -> None:
    result = run("reach", "subnet-1", "subnet-2", "--port", "443", "--region", "us-east-9")
    assert result.exit_code == 2
    assert result.stderr.startswith("vpc-audit: error: Invalid value for --region: 'us-east-9'")
    assert "internal error" not in result.stderr


def test_qq_silences_the_administrator_role_warning_too() -> None:
    result = run("--account", "222222222222", "--region", "us-east-1", "--html", "/nodir/r", "-qq")
    assert result.exit_code == 2
    assert result.stderr == "vpc-audit: error: --html /nodir/r: no directory /nodir\n"
