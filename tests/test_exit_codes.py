"""Exit codes exactly as the README's table says, one case per documented cause (the email's 6,
Ctrl-C's 130 and SIGTERM's 143 are tested with their features: test_email, test_faults,
test_processes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.cli.exits import EXIT_CODES_HELP
from auditor.model import Coverage, NatGateway
from auditor.serial import dumps
from tests.builders import route, snapshot, subnet, table, vpc

README = Path(__file__).parent.parent / "README.md"
CLOSED_PORT = "http://127.0.0.1:9"


def readme_table() -> list[str]:
    section = README.read_text().split("## Exit codes", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block
    return block.group(1).splitlines()


def test_readme_and_help_give_the_same_table() -> None:
    help_table = [line.strip() for line in EXIT_CODES_HELP.splitlines()[2:] if line.strip()]
    assert readme_table() == help_table
    assert "Exit codes:" in CliRunner().invoke(main, ["--help"]).output


def write(tmp_path: Path, findings: bool, gap: bool = False, only_gaps: bool = False) -> Path:
    target = "nat-1" if findings else "local"
    snap = snapshot(
        NatGateway("nat-1", "111111111111", "us-east-1", "vpc-1"),
        vpc("vpc-1", "10.0.0.0/16"),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", target), main=True),
    )
    failed = Coverage("222222222222", "eu-west-1", "error", "AccessDenied: sts:AssumeRole")
    if only_gaps:
        snap.coverage = [failed]
    elif gap:
        snap.coverage.append(failed)
    path = tmp_path / "s.json"
    path.write_text(dumps(snap))
    return path


def code(tmp_path: Path, *args: str) -> int:
    runner = CliRunner(env={"AWS_ENDPOINT_URL": CLOSED_PORT})
    out = ["--json", str(tmp_path / "r.json"), "-q"]
    return runner.invoke(main, [*args, *out], catch_exceptions=False).exit_code


@pytest.mark.parametrize(
    ("cause", "args", "expected"),
    [
        ("audit complete, no finding", lambda p: ["--from-snapshot", str(write(p, False))], 0),
        ("findings below --fail-on", lambda p: ["--from-snapshot", str(write(p, True)), "--fail-on", "high"], 0),
        ("findings at or above --fail-on", lambda p: ["--from-snapshot", str(write(p, True))], 1),
        ("unknown option", lambda p: ["--no-such-option"], 2),
        ("option combination", lambda p: ["--fail-on-new"], 2),
        ("region name", lambda p: ["--region", "us-esat-1"], 2),
        ("output path", lambda p: ["--region", "us-east-1", "--html", str(p / "no" / "r.html")], 2),
        ("unknown rule", lambda p: ["--from-snapshot", str(write(p, True)), "--rule", "nope"], 2),
        ("malformed snapshot", lambda p: ["--from-snapshot", str(p / "missing.json")], 2),
        ("malformed policy", lambda p: ["--from-snapshot", str(write(p, True)), "--policy", str(p / "missing.yaml")], 2),
        ("unknown AWS profile", lambda p: ["--profile", "no-such-profile", "--region", "us-east-1"], 3),
        ("no account-region read", lambda p: ["--from-snapshot", str(write(p, True, only_gaps=True))], 3),
        ("some account-regions not audited", lambda p: ["--from-snapshot", str(write(p, False, gap=True))], 4),
        ("both 1 and 4", lambda p: ["--from-snapshot", str(write(p, True, gap=True))], 5),
    ],
)  # fmt: skip
def test_exit_code_of_each_documented_cause(
    tmp_path: Path, cause: str, args: object, expected: int
) -> None:
    assert callable(args)
    assert code(tmp_path, *args(tmp_path)) == expected, cause


def test_the_readme_names_each_tested_code() -> None:
    codes = {int(line.split()[0]) for line in readme_table() if line[:1].isdigit()}
    assert codes == {0, 1, 2, 3, 4, 5, 6, 130}  # 143 shares 130's line
