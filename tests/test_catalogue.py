"""The rule catalogue: every rule has complete metadata, the docs are generated from it and current."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main
from auditor.rules import REGISTRY, all_rules
from auditor.rules.base import catalogue

DOCS = Path(__file__).parent.parent / "docs" / "rules.md"


def test_every_registered_rule_has_metadata_and_every_metadata_file_a_rule() -> None:
    assert set(REGISTRY) == set(catalogue())


def test_metadata_is_complete_and_well_formed() -> None:
    for meta in all_rules():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", meta.id), meta.id
        assert meta.title and not meta.title.endswith("."), meta.id
        for text in (meta.what, meta.why, meta.fix):
            assert len(text) > 40, meta.id
        assert meta.references, meta.id
        assert all(ref.startswith("https://docs.aws.amazon.com/") for ref in meta.references), (
            meta.id
        )
        assert re.fullmatch(r"[a-z0-9-]+", meta.resource_type), meta.id


def test_docs_rules_md_is_current() -> None:
    generated = CliRunner().invoke(main, ["rules", "--markdown"]).stdout
    assert DOCS.read_text() == generated, "regenerate: vpc-audit rules --markdown > docs/rules.md"
    for meta in all_rules():
        section = generated[generated.index(f"## {meta.id}\n") :]
        for heading in (
            "### What it checks",
            "### Why it matters",
            "### How to fix",
            "### Reported",
            "### Not reported",
        ):
            assert heading in section


def test_rules_command_lists_every_rule() -> None:
    listing = CliRunner().invoke(main, ["rules"]).stdout.splitlines()
    assert [line.split()[0] for line in listing] == sorted(REGISTRY)
    assert all(line.split()[1] in {"info", "low", "medium", "high", "critical"} for line in listing)
