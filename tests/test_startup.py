"""Start-up: what a run may not need is not imported (boto3, the email stack, Jinja).

Each case runs the CLI in a fresh interpreter, so that no other test's imports count, and
lists the modules it must not have loaded (benchmarks/startup.py measures the time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.serial import dumps
from tests.builders import route, snapshot, subnet, table, vpc

ROOT = Path(__file__).resolve().parent.parent

AWS = ("boto3", "botocore", "s3transfer")
# smtplib and the email package (the message, its policies and headers), css_inline and the
# email templates' module: only a run that sends the report email needs them.
EMAIL = ("smtplib", "email", "css_inline", "auditor.report.email_body")
JINJA = ("jinja2", "markupsafe", "auditor.report.templating")

PROBE = """
import json, sys
from auditor.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
tops = {name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(set(sys.modules) | tops)), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    """The modules a CLI run in a fresh interpreter has loaded (and their top-level packages)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["merge", "--help"], ["rules"]])
def test_help_and_rules_load_neither_aws_nor_email_nor_jinja(args: list[str]) -> None:
    modules = loaded_by(*args)
    assert modules & {*AWS, *EMAIL, *JINJA} == set()


def test_an_offline_audit_loads_neither_aws_nor_email(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(
        dumps(
            snapshot(
                vpc("vpc-1", "10.0.0.0/16"),
                subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
                table("rtb-1", "vpc-1", route("0.0.0.0/0", "igw-1"), subnets=("subnet-1",)),
            )
        )
    )
    out = tmp_path / "report.json"
    modules = loaded_by("--from-snapshot", str(snap), "--json", str(out), "-q")
    assert out.exists()
    assert modules & {*AWS, *EMAIL} == set()
    # JSON only: nothing renders a template either.
    assert modules & set(JINJA) == set()


def test_the_probe_sees_what_a_run_does_load(tmp_path: Path) -> None:
    """The check above is not vacuous: the HTML report does load Jinja, in the same probe."""
    snap = tmp_path / "snap.json"
    snap.write_text(dumps(snapshot(vpc("vpc-1", "10.0.0.0/16"))))
    modules = loaded_by("--from-snapshot", str(snap), "--html", str(tmp_path / "r.html"), "-q")
    assert "jinja2" in modules and "auditor.rules" in modules
