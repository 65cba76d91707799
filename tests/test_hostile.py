"""Hostile values (tags, names, policies are attacker-controlled) and secrets, in every output."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.collect import sessions
from auditor.deliver.email import build_message
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from auditor.model import NatGateway
from auditor.serial import dumps
from tests.builders import A, B, peering, route, side, snapshot, subnet, table, vpc
from tests.faults import FaultServer
from tests.reports import report_of

LONG = "L" * 20_000
SCRIPT = '<script>alert(1)</script>" onmouseover="alert(2)'
IMG = "'><img src=x onerror=alert(3)>"
TEMPLATE = "{{ 7*7 }}{% if true %}JINJA{% endif %}"
INTL = "Zürich-東京-مرحبا-\u202egnp.exe"
HEADER = "x\r\nBcc: victim@example.com"


def hostile_snapshot(path: Path) -> Path:
    """Every value a rule puts in a message or evidence is hostile: names from tags."""
    snap = snapshot(
        NatGateway("nat-1", A, "us-east-1", "vpc-1"),
        vpc("vpc-1", "10.0.0.0/16", tags={"Name": SCRIPT}),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24", tags={"Name": TEMPLATE + IMG}),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True, tags={"Name": LONG + INTL}),
        vpc("vpc-2", "10.1.0.0/16", account=B, tags={"Name": HEADER}),
        peering(
            "pcx-1",
            side("vpc-1", "10.0.0.0/16"),
            side("vpc-2", "10.1.0.0/16", account=B),
            "pending-acceptance",
            tags={"Name": "javascript:alert(4)"},
        ),
    )
    path.write_text(dumps(snap))
    return path


@pytest.fixture
def outputs(tmp_path: Path) -> dict[str, str]:
    snap = hostile_snapshot(tmp_path / "s.json")
    formats = ["json", "html", "csv", "junit", "markdown", "asff"]
    args = ["--from-snapshot", str(snap), "-q"]
    for name in formats:
        args += [f"--{name}", str(tmp_path / f"out.{name}")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.stderr
    # newline="": keep the \r\n inside values as written (CSV quotes them).
    return {
        name: (tmp_path / f"out.{name}").open(encoding="utf-8", newline="").read()
        for name in formats
    }


def test_html_escapes_everything_and_runs_no_template(outputs: dict[str, str]) -> None:
    html = outputs["html"]
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'onmouseover="alert(2)' not in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html and "href='javascript:" not in html
    assert "{{ 7*7 }}{% if true %}JINJA{% endif %}" in html  # shown, never evaluated
    assert LONG in html  # kept whole, not a crash or a cut
    assert "Zürich-東京-مرحبا" in html
    assert "javascript:alert(4)" in html  # as text only


def test_machine_formats_stay_well_formed(outputs: dict[str, str]) -> None:
    report = json.loads(outputs["json"])
    assert any(SCRIPT in f["message"] for f in report["findings"])
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    # Quotes, commas and newlines inside values survive the CSV round trip intact.
    assert {r["message"] for r in rows} == {f["message"] for f in report["findings"]}
    ET.fromstring(outputs["junit"])  # parses: the values were escaped
    asff = json.loads(outputs["asff"])
    assert asff and all(f["AwsAccountId"] in {A, B} for f in asff)
    assert "<script>alert(1)</script>" not in outputs["markdown"]


def test_email_neutralises_hostile_values(outputs: dict[str, str]) -> None:
    message = build_message(
        report_of(json.loads(outputs["json"])),
        sender="vpc-audit@example.com",
        recipients=["ops@example.com"],
        scope=HEADER,
        html_report=outputs["html"],
    )
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Bcc"] is None
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    body = html_part.get_content()
    assert "<script>alert(1)" not in body and "<img src=x" not in body


def test_secrets_never_reach_output_logs_or_reports(
    aws: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)
    base_secret = "base-secret-K3y-do-not-print"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", base_secret)
    issued: list[str] = []
    create = sessions.RefreshableCredentials.create_from_metadata

    def remember(metadata: dict[str, Any], **kwargs: Any) -> Any:
        issued.extend([metadata["secret_key"], metadata["token"]])
        return create(metadata=metadata, **kwargs)

    monkeypatch.setattr(sessions.RefreshableCredentials, "create_from_metadata", remember)
    args = ["-vv", "--role-name", DEMO_ROLE, "--snapshot-out", str(tmp_path / "snap.json")]
    args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    for account in DEMO_ACCOUNTS:
        args += ["--account", account]
    for region in DEMO_REGIONS:
        args += ["--region", region]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 5), result.stderr
    assert len(issued) == 2  # one assumed role (the base account is read directly)
    written = "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    for secret in [base_secret, *issued]:
        assert secret not in result.stdout + result.stderr
        assert secret not in written
