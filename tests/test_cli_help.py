"""--help lists each command's options in groups by purpose, each option in exactly one."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.report.formats import FORMATS

AUDIT_GROUPS = [
    "What to audit",
    "Outputs",
    "Rules and exit code",
    "Scheduled runs and email",
    "Performance and sharding",
    "Diagnostics",
    "Other options",
]
MERGE_GROUPS = ["Outputs", "Rules and exit code", "Scheduled runs and email", "Diagnostics"]


def sections(*args: str) -> dict[str, list[str]]:
    """The help's option sections: heading -> the long (else short) flags listed under it."""
    text = CliRunner().invoke(main, [*args, "--help"], terminal_width=200).output
    found: dict[str, list[str]] = {}
    heading = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            heading = line[:-1].split(" (")[0]
            found[heading] = []
        elif heading and (flag := re.match(r"^  (?:(-\w),? ?)?(--[\w-]+)?", line)):
            name = flag.group(2) or flag.group(1)
            if name:
                found[heading].append(name)
    return found


def test_audit_help_groups_options_by_purpose_in_order() -> None:
    found = sections()
    assert [h for h in found if h in AUDIT_GROUPS] == AUDIT_GROUPS
    assert "--profile" in found["What to audit"]
    assert "--from-snapshot" in found["What to audit"]
    assert [fmt.option for fmt in FORMATS] == [f for f in found["Outputs"] if f != "--snapshot-out"]
    assert "--smtp-host" in found["Scheduled runs and email"]
    assert found["Performance and sharding"] == ["--workers", "--processes", "--shard"]
    assert found["Diagnostics"] == ["--verbose", "--quiet", "--debug"]
    assert set(found["Other options"]) == {"--version", "--help"}


@pytest.mark.parametrize("args", [(), ("merge",)])
def test_every_option_is_listed_once(args: tuple[str, ...]) -> None:
    command: click.Command = main if not args else main.commands[args[0]]
    listed = [flag for flags in sections(*args).values() for flag in flags]
    declared = [
        next((o for o in p.opts if o.startswith("--")), p.opts[0])
        for p in command.get_params(click.Context(command))
        if isinstance(p, click.Option)
    ]
    assert sorted(listed) == sorted(declared)


def test_merge_takes_outputs_rules_schedule_and_diagnostics_but_no_scope() -> None:
    found = sections("merge")
    assert [h for h in found if h in AUDIT_GROUPS] == [*MERGE_GROUPS, "Other options"]
    assert "--profile" not in [f for flags in found.values() for f in flags]
    assert "--workers" not in [f for flags in found.values() for f in flags]
    assert "--snapshot-out" in found["Outputs"]


def test_reach_quiet_says_what_it_leaves_out_there() -> None:
    """reach has no count line or findings table: its -q help says what it does drop."""
    text = CliRunner().invoke(main, ["reach", "--help"], terminal_width=200).output
    assert sections("reach")["Diagnostics"] == ["--verbose", "--quiet", "--debug"]
    assert "no progress and no warnings" in text
    assert "findings table" not in text and "count line" not in text
