"""Report stage: Findings (+ the snapshot's scope and coverage) -> documents.

`build_report` makes the one typed `Report` (auditor/report/document.py) every format renders
from, so the JSON file, the HTML page and any later format can never disagree. The formats are
in `formats/`.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.model import REPORT_SCHEMA_VERSION, SEVERITY_NAMES, Snapshot
from auditor.report.baseline import Baseline, compare
from auditor.report.document import (
    BaselineSummary,
    CoverageCounts,
    Report,
    ResolvedFinding,
    Summary,
)
from auditor.report.formats.html import render_html
from auditor.report.formats.json import render_json

if TYPE_CHECKING:
    from auditor.report.templating import templates
    from auditor.rules import AuditResult

__all__ = [
    "Report",
    "build_report",
    "render_html",
    "render_json",
    "render_rules_markdown",
    "templates",
]


def build_report(
    snapshot: Snapshot,
    result: AuditResult,
    baseline: Baseline | None = None,
    rules_evaluated: Iterable[str] | None = None,
) -> Report:
    """The report; summary counts leave suppressed findings out, the list keeps them.

    With a `baseline` (a previous report), each finding is new or unchanged, `resolved` lists
    what the baseline had and this run no longer finds, and `baseline` holds the counts.
    `rules_evaluated` (default: every registered rule) is the set of rules that ran, so a rule
    with no finding can be told from a rule that was switched off (JUnit's passing suites).
    """
    from auditor.rules import REGISTRY

    findings = [f for f in result.findings if not f.suppressed]
    coverage = Counter(c.status for c in snapshot.coverage)
    by_severity = Counter(str(f.severity) for f in findings)
    summary = Summary(
        total=len(findings),
        by_severity={s: by_severity.get(s, 0) for s in SEVERITY_NAMES},
        by_rule=dict(sorted(Counter(f.rule_id for f in findings).items())),
        by_account=dict(sorted(Counter(f.account_id for f in findings).items())),
        coverage=CoverageCounts(ok=coverage.get("ok", 0), error=coverage.get("error", 0)),
        suppressed=len(result.findings) - len(findings),
    )
    new_ids: frozenset[str] = frozenset()
    resolved: tuple[ResolvedFinding, ...] = ()
    compared: BaselineSummary | None = None
    if baseline is not None:
        new_ids, resolved, compared = compare(result.findings, snapshot.coverage, baseline)
    return Report(
        schema_version=REPORT_SCHEMA_VERSION,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # When AWS was read: differs from generated_at when a saved snapshot is re-audited.
        collected_at=snapshot.collected_at or None,
        tool_version=__version__,
        scope=snapshot.scope,
        coverage=tuple(snapshot.coverage),
        coverage_notes=tuple(snapshot.coverage_notes),
        summary=summary,
        findings=tuple(result.findings),
        expired_suppressions=tuple(result.expired_suppressions),
        rules_evaluated=tuple(sorted(REGISTRY if rules_evaluated is None else rules_evaluated)),
        unmatched_suppressions=tuple(result.unmatched_suppressions),
        baseline=compared,
        resolved=resolved,
        new_ids=new_ids,
    )


def render_rules_markdown(rules: list[dict[str, Any]]) -> str:
    """The rule catalogue as Markdown (Markdown is not HTML: no autoescape)."""
    from auditor.report.templating import templates

    return templates(autoescape=False).get_template("rules.md.j2").render(rules=rules)


def __getattr__(name: str) -> Any:
    """`templates`, imported when first asked for: Jinja is loaded only by a run that renders
    a template (HTML, email, the rule docs). The rules, too, are imported where used: the CLI
    loads this package for --help."""
    if name == "templates":
        return importlib.import_module("auditor.report.templating").templates
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
