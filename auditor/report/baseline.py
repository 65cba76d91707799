"""Change since the last run: compare this run's findings with a previous JSON report.

Findings are matched by their stable fingerprint (`Finding.id`: rule id + resource id + detail),
never by text, so a renamed tag or a reworded message does not make a finding "new".

* `new`: not in the baseline and not suppressed now. A finding in an account-region that the
  baseline could not read is not called new either (the baseline cannot tell), nor is a
  suppressed one: both are marked `unchanged`.
* `resolved`: in the baseline (and not suppressed there) but not found now, in an account-region
  that this run did read. A baseline finding whose account-region was not audited this time
  (a coverage gap, or a narrower scope) is `not_rechecked`, not resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.model import REPORT_SCHEMA_VERSION, Coverage, Finding, Severity
from auditor.report.document import BaselineSummary, ResolvedFinding
from auditor.serial import read_versioned

STATE_FILE = "last-report.json"

# What a baseline finding must carry for the comparison and the `resolved` list.
REQUIRED_FINDING_FIELDS = ("id", "rule_id", "severity", "title", "account_id", "region")


@dataclass(frozen=True)
class Baseline:
    """A previous report's findings, by id. `source` is None for an empty state (first run)."""

    source: str | None
    generated_at: str | None
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def empty(cls) -> Baseline:
        """The state of a --state-dir that has no report yet: everything found is new."""
        return cls(None, None)


def load_baseline(path: Path) -> Baseline:
    """Read a previous JSON report; anything wrong with it is a one-line InputError naming it."""
    data = read_versioned(path, "baseline report", "findings", (REPORT_SCHEMA_VERSION,))
    generated_at = data.get("generated_at")
    if not isinstance(generated_at, str):
        raise InputError(f"{path}: malformed baseline report: generated_at is not a string")
    findings = data["findings"]
    if not isinstance(findings, list):
        raise InputError(f"{path}: malformed baseline report: findings is not a list")
    by_id: dict[str, dict[str, Any]] = {}
    for index, finding in enumerate(findings):
        where = f"findings[{index}]"
        if not isinstance(finding, dict):
            raise InputError(f"{path}: malformed baseline report: {where} is not an object")
        for name in REQUIRED_FINDING_FIELDS:
            if not isinstance(finding.get(name), str):
                raise InputError(
                    f"{path}: malformed baseline report: {where}.{name} is missing or not a string"
                )
        if finding["severity"].upper() not in Severity.__members__:
            raise InputError(
                f"{path}: malformed baseline report: {where}.severity "
                f"{finding['severity']!r} is unknown"
            )
        by_id[finding["id"]] = finding
    return Baseline(str(path), generated_at, by_id, coverage_gaps(data.get("coverage"), path))


def coverage_gaps(coverage: Any, path: Path) -> frozenset[tuple[str, str]]:
    if coverage is None:
        return frozenset()
    if not isinstance(coverage, list) or not all(isinstance(c, dict) for c in coverage):
        raise InputError(f"{path}: malformed baseline report: coverage is not a list of objects")
    return frozenset(
        (str(c.get("account_id")), str(c.get("region")))
        for c in coverage
        if c.get("status") != "ok"
    )


def load_state(state_dir: Path) -> Baseline:
    """The last report kept in --state-dir, or an empty baseline on the first run."""
    path = state_dir / STATE_FILE
    if not path.exists():
        if state_dir.exists() and not state_dir.is_dir():
            raise InputError(f"{state_dir}: --state-dir is not a directory")
        return Baseline.empty()
    return load_baseline(path)


def compare(
    findings: Sequence[Finding], coverage: Sequence[Coverage], baseline: Baseline
) -> tuple[frozenset[str], tuple[ResolvedFinding, ...], BaselineSummary]:
    """This run's findings against the baseline: the ids of the new ones, what is resolved, and
    the counts. The findings are not changed: the report is built once, from these parts."""
    audited = {(c.account_id, c.region) for c in coverage if c.status == "ok"}
    current = {f.id for f in findings}
    new: set[str] = set()
    unchanged = 0
    for finding in findings:
        unreadable_before = (finding.account_id, finding.region) in baseline.gaps or (
            finding.account_id,
            "*",
        ) in baseline.gaps
        if finding.id in baseline.findings or finding.suppressed or unreadable_before:
            unchanged += not finding.suppressed
        else:
            new.add(finding.id)
    resolved = []
    not_rechecked = 0
    for old in baseline.findings.values():
        if old["id"] in current or old.get("suppressed") is True:
            continue
        if (old["account_id"], old["region"]) not in audited:
            not_rechecked += 1
            continue
        resolved.append(
            ResolvedFinding(
                id=old["id"],
                rule_id=old["rule_id"],
                severity=old["severity"].lower(),
                title=old["title"],
                account_id=old["account_id"],
                region=old["region"],
                resource_type=str(old.get("resource_type") or ""),
                resource_id=str(old.get("resource_id") or ""),
            )
        )
    resolved.sort(key=lambda r: (-Severity.parse(r.severity), r.rule_id, r.account_id, r.region))
    summary = BaselineSummary(
        source=baseline.source,
        generated_at=baseline.generated_at,
        new=len(new),
        unchanged=unchanged,
        resolved=len(resolved),
        not_rechecked=not_rechecked,
    )
    return frozenset(new), tuple(resolved), summary
