"""The report as typed, frozen objects: what every format renders from.

The model's findings, coverage and scope are held as they are (at 10k VPCs a copy of a million
findings would cost seconds and hundreds of MB); the change since a baseline is the set of new
finding ids beside them, not a field written into each finding. The JSON format turns it into
the document `report.schema.json` describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.model import Coverage, CoverageNote, Finding, Scope

if TYPE_CHECKING:
    from auditor.policy import ExpiredSuppression, Suppression

NEW = "new"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CoverageCounts:
    ok: int
    error: int


@dataclass(frozen=True)
class Summary:
    """Counts of the findings that count: suppressed ones are only counted in `suppressed`."""

    total: int
    by_severity: Mapping[str, int]  # every severity, most severe first
    by_rule: Mapping[str, int]
    by_account: Mapping[str, int]
    coverage: CoverageCounts
    suppressed: int


@dataclass(frozen=True)
class BaselineSummary:
    """The comparison with a previous report; `source` None: a --state-dir's first run."""

    source: str | None
    generated_at: str | None
    new: int
    unchanged: int
    resolved: int
    not_rechecked: int


@dataclass(frozen=True)
class ResolvedFinding:
    """A finding of the baseline that this run no longer finds where it looked."""

    id: str
    rule_id: str
    severity: str
    title: str
    account_id: str
    region: str
    resource_type: str
    resource_id: str


@dataclass(frozen=True)
class Report:
    schema_version: int
    generated_at: str
    collected_at: str | None  # when AWS was read, if known
    tool_version: str
    scope: Scope
    coverage: tuple[Coverage, ...]
    coverage_notes: tuple[CoverageNote, ...]
    summary: Summary
    findings: tuple[Finding, ...]  # suppressed ones included (marked)
    expired_suppressions: tuple[ExpiredSuppression, ...]
    rules_evaluated: tuple[str, ...]
    # Suppressions that hid nothing: the problem was fixed, or the policy has a typo.
    unmatched_suppressions: tuple[Suppression, ...] = ()
    baseline: BaselineSummary | None = None  # None: not compared
    resolved: tuple[ResolvedFinding, ...] = ()
    new_ids: frozenset[str] = frozenset()

    def change(self, finding: Finding) -> str | None:
        """`new` or `unchanged` when compared with a baseline, None when not."""
        if self.baseline is None:
            return None
        return NEW if finding.id in self.new_ids else UNCHANGED

    def active_findings(self) -> list[Finding]:
        """The findings that count: suppressed ones are listed apart."""
        return [f for f in self.findings if not f.suppressed]

    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.id in self.new_ids]
