"""What the HTML report shows, shaped in Python so that its template only lays values out.

Grouping, order, page budgets and "N more", counts, fallbacks and which evidence is a table are
decided here, where they can be unit-tested (tests/test_report_view.py) and type-checked. The
report is read in `html_view` and the row builders it hands parts to. The email
(auditor/report/email_body.py) uses the same helpers.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from auditor.model import SEVERITY_NAMES, Coverage, CoverageNote, Finding, Severity
from auditor.report.document import BaselineSummary, Report, ResolvedFinding
from auditor.report.text import scope_pairs
from auditor.serial import to_jsonable

if TYPE_CHECKING:
    from auditor.policy import ExpiredSuppression, Suppression
    from auditor.report.topology import TopologyMap

T = TypeVar("T")

# Scale: rule groups collapse above COLLAPSE_ABOVE findings. A rule group shows its first
# findings (highest severity first) and counts the rest, which stay in the JSON: up to
# GROUP_LIMIT each, fewer when there are many rules, so that the page holds about PAGE_BUDGET
# findings (never fewer than GROUP_FLOOR per rule).
COLLAPSE_ABOVE = 100
GROUP_LIMIT = 200
GROUP_FLOOR = 50
PAGE_BUDGET = 2000
TABLE_LIMIT = 500  # rows of the resolved and suppressed tables
FIX_FIRST = 10  # rows of the "fix first" table
MAPS_OPEN_UP_TO = 12  # account-regions: their maps start open
EVIDENCE_DEPTH = 8  # deeper evidence is shown as its raw text
INLINE_LIST_UP_TO = 6  # scalars: comma-separated up to this many, else a bullet list

# A path's hops (auditor/paths.py) in this order, with readable headings; keys it does not
# know get a column after these.
HOP_COLUMNS = {
    "table": "Route table",
    "route": "Route",
    "target": "Target",
    "entered_by": "Entered by",
}


# --- shared helpers (the HTML and the email) ---


@dataclass(frozen=True)
class Capped(Generic[T]):
    """The first items of a list and how many are left out (said as "N more")."""

    shown: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def capped(items: Sequence[T], limit: int) -> Capped[T]:
    return Capped(tuple(items[:limit]), len(items))


@dataclass(frozen=True)
class CoverageRow:
    """An account-region the run tried to read; `error` is None when it was read."""

    account_id: str
    region: str
    status: str
    error: str | None

    @property
    def failed(self) -> bool:
        return self.status == "error"


@dataclass(frozen=True)
class NoteRow:
    """Something not readable in an audited account-region; `region` None: all regions."""

    account_id: str
    region: str | None
    subject: str
    reason: str


def coverage_rows(coverage: Iterable[Coverage]) -> list[CoverageRow]:
    """Failed account-regions first (they are what a reader must act on), else in order."""
    rows = [CoverageRow(c.account_id, c.region, c.status, c.error) for c in coverage]
    return [r for r in rows if r.failed] + [r for r in rows if not r.failed]


def note_rows(notes: Iterable[CoverageNote]) -> list[NoteRow]:
    return [NoteRow(n.account_id, n.region, n.subject, n.reason) for n in notes]


@dataclass(frozen=True)
class ResolvedRow:
    """A finding of the previous run that is gone."""

    severity: str | None
    rule_id: str
    resource_id: str
    account_id: str
    region: str
    title: str


def resolved_rows(resolved: Iterable[ResolvedFinding]) -> list[ResolvedRow]:
    return [
        ResolvedRow(r.severity, r.rule_id, r.resource_id, r.account_id, r.region, r.title)
        for r in resolved
    ]


def cost_usd(evidence: Mapping[str, object]) -> float | None:
    """What the finding costs a month in USD, when its rule worked it out
    (`evidence["cost"]["usd"]`); None when unknown."""
    cost = evidence.get("cost")
    usd = cost.get("usd") if isinstance(cost, Mapping) else None
    return float(usd) if isinstance(usd, int | float) and not isinstance(usd, bool) else None


def fix_first_key(f: FindingView) -> tuple[int, float, bool]:
    """The order to fix in: highest severity first, then the costliest when a cost is known
    (unknown costs after known ones), then new ones; sorted() keeps the report's order last."""
    return (-Severity.rank(f.severity), -(f.cost_usd or 0.0), not f.is_new)


def top_findings(report: Report, limit: int) -> Capped[FindingView]:
    """The findings that count, in the order to fix them (`fix_first_key`)."""
    ranked = sorted(
        (finding_view(f, report.change(f)) for f in report.active_findings()),
        key=fix_first_key,
    )
    return capped(ranked, limit)


# --- evidence: arbitrary JSON as nested tables, lists and text ---


@dataclass(frozen=True)
class Text:
    """A scalar; `style` picks its markup: plain, code, null, bool, num, pre or deep."""

    text: str
    style: str = "plain"
    kind: ClassVar[str] = "text"


@dataclass(frozen=True)
class Pairs:
    """An object: a definition list."""

    items: tuple[tuple[str, Evidence], ...]
    kind: ClassVar[str] = "pairs"


@dataclass(frozen=True)
class Table:
    """Objects as rows (columns: their keys, first seen first; None: no value), or a path's
    hops (`hops`: numbered steps under readable headings)."""

    headings: tuple[str, ...]
    rows: tuple[tuple[Evidence | None, ...], ...]
    hops: bool = False
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Items:
    """A list: comma-separated when `inline`, else bullets."""

    items: tuple[Evidence, ...]
    inline: bool
    kind: ClassVar[str] = "items"


Evidence = Text | Pairs | Table | Items


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | Mapping)


def scalar(value: Any) -> Text:
    if value is None:
        return Text("null", "null")
    if isinstance(value, bool):
        return Text("true" if value else "false", "bool")
    if isinstance(value, int | float):
        return Text(str(value), "num")
    if isinstance(value, str) and "\n" in value:
        return Text(value, "pre")
    if value == "":
        return Text("(empty string)", "null")
    return Text(str(value))


def _is_hops(value: Any) -> bool:
    return _is_list(value) and bool(value) and all(isinstance(h, Mapping) for h in value)


def _flat(rows: list[Any]) -> bool:
    """A table only when every cell is flat; nested rows read better as definition lists."""
    for row in rows:
        if isinstance(row, Mapping):
            for cell in row.values():
                if isinstance(cell, Mapping):
                    return False
                if _is_list(cell) and any(isinstance(c, Mapping) for c in cell):
                    return False
    return True


def _columns(rows: Iterable[Mapping[str, Any]], first: Iterable[str] = ()) -> list[str]:
    keys = dict.fromkeys(first)
    for row in rows:
        keys.update(dict.fromkeys(row))
    return list(keys)


def hop_table(hops: list[Mapping[str, Any]], depth: int) -> Table:
    """One numbered row per route table the traffic meets; a missing or empty value is None."""
    keys = _columns(hops, HOP_COLUMNS)
    return Table(
        headings=tuple(HOP_COLUMNS.get(k, k) for k in keys),
        rows=tuple(
            tuple(
                None if row.get(k) is None or row.get(k) == "" else evidence(row[k], depth + 1)
                for k in keys
            )
            for row in hops
        ),
        hops=True,
    )


def evidence(value: Any, depth: int = 0) -> Evidence:
    """Objects become definition lists (a path's "hops" a hop table), lists of flat objects
    tables, up to six scalars a comma-separated line, other lists bullet lists."""
    if depth > EVIDENCE_DEPTH:
        return Text(str(value), "deep")
    if isinstance(value, Mapping):
        if not value:
            return Text("(empty)", "null")
        return Pairs(
            tuple(
                (
                    str(key),
                    hop_table(item, depth + 1)
                    if key == "hops" and _is_hops(item)
                    else evidence(item, depth + 1),
                )
                for key, item in value.items()
            )
        )
    if not _is_list(value):
        return scalar(value)
    items = list(value)
    if not items:
        return Text("(none)", "null")
    if all(isinstance(row, Mapping) for row in items) and _flat(items):
        keys = _columns(items)
        return Table(
            headings=tuple(keys),
            rows=tuple(
                tuple(evidence(row[k], depth + 1) if k in row else None for k in keys)
                for row in items
            ),
        )
    if len(items) <= INLINE_LIST_UP_TO and not any(
        _is_list(i) or isinstance(i, Mapping) for i in items
    ):
        return Items(
            tuple(Text(i, "code") if isinstance(i, str) else scalar(i) for i in items), True
        )
    return Items(
        tuple(Text(i, "code") if isinstance(i, str) else evidence(i, depth + 1) for i in items),
        False,
    )


# --- the HTML report ---


@dataclass(frozen=True)
class Command:
    """A remediation command on the page. A grouped command fixes several findings: it is shown
    in full once, and where it comes again (`repeat`) the page points back to it."""

    text: str  # the '# in account …' line and the command: what the copy button copies
    anchor: str  # "cmd-<n>" or "fix-cmd-<n>": built from a counter, never from data
    repeat: bool
    first_resource: str  # the resource of the finding it is shown with in full


@dataclass(frozen=True)
class FindingView:
    """One finding as the report and the email show it."""

    id: str
    rule_id: str
    severity: str
    title: str
    account_id: str
    region: str
    resource_type: str
    resource_id: str
    vpc_id: str | None
    message: str
    remediation: str
    change: str  # "new", "unchanged" or "" when not compared
    suppression_reason: str | None
    until: str  # when its suppression expires, or "no expiry"
    raw_evidence: Mapping[str, object]
    remediation_commands: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()  # as the page shows them (`number_commands`)
    show_title: bool = True  # False in a rule group whose title says the same

    @property
    def cost_usd(self) -> float | None:
        return cost_usd(self.raw_evidence)

    @property
    def is_new(self) -> bool:
        return self.change == "new"

    @cached_property
    def evidence(self) -> Evidence | None:
        """Shaped when first shown, as the JSON has it: most findings of a large report never
        are."""
        return evidence(to_jsonable(self.raw_evidence)) if self.raw_evidence else None


def finding_view(f: Finding, change: str | None) -> FindingView:
    return FindingView(
        id=f.id,
        rule_id=f.rule_id,
        severity=str(f.severity),
        title=f.title,
        account_id=f.account_id,
        region=f.region,
        resource_type=f.resource_type,
        resource_id=f.resource_id,
        vpc_id=f.vpc_id,
        message=f.message,
        remediation=f.remediation,
        change=change or "",
        suppression_reason=f.suppression_reason,
        until=f.suppression_expires or "no expiry",
        raw_evidence=f.evidence,
        remediation_commands=tuple(f.remediation_commands),
    )


def number_commands(
    findings: Iterable[FindingView], prefix: str, seen: dict[str, Command] | None = None
) -> list[FindingView]:
    """The findings with their `commands`: each distinct command in full the first time, a
    repeat after (several findings share a grouped command; run twice, it would fail or make a
    second endpoint). `seen`: the commands shown before, carried from list to list."""
    seen = {} if seen is None else seen
    out = []
    for f in findings:
        commands = []
        for text in f.remediation_commands:
            first = seen.get(text)
            if first is None:
                first = Command(text, f"{prefix}-{len(seen) + 1}", False, f.resource_id)
                seen[text] = first
                commands.append(first)
            else:
                commands.append(replace(first, repeat=True))
        out.append(replace(f, commands=tuple(commands)))
    return out


@dataclass(frozen=True)
class Reference:
    text: str
    link: bool  # only https:// references become links


@dataclass(frozen=True)
class RuleGroup:
    """A rule's findings on the page: the first `limit`, and how many more are in the JSON."""

    anchor: str  # "rule-<n>": built from a counter, never from data
    rule_id: str
    title: str  # the rule's, else its first finding's
    severity: str
    what: str
    why: str
    references: tuple[Reference, ...]
    findings: Capped[FindingView]
    limit: int
    open: bool


@dataclass(frozen=True)
class RuleRow:
    """A line of the summary's by-rule table; title and severity are None when unknown."""

    rule_id: str
    anchor: str | None  # its group on the page, if it has findings
    title: str | None
    severity: str | None
    count: int


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    findings: int
    failed: int  # account-regions that could not be audited


@dataclass(frozen=True)
class Option:
    """A choice in the filter bar, with its count when it has one."""

    value: str
    count: int | None = None


@dataclass(frozen=True)
class ExpiredRow:
    rule: str
    scope: tuple[tuple[str, str], ...]  # ("account", "1234…"), ("tag:env", "dev")
    reason: str
    expires: str
    findings: int


@dataclass(frozen=True)
class UnmatchedRow:
    """A suppression that hid nothing: the problem was fixed, or the policy has a typo."""

    rule: str
    scope: tuple[tuple[str, str], ...]
    reason: str
    expires: str | None


@dataclass(frozen=True)
class FixRow:
    """A line of the "fix first" table: a finding and its commands (repeats point back)."""

    finding: FindingView
    anchor: str | None  # its card in the findings, when the page shows it


@dataclass(frozen=True)
class PassedRule:
    """A rule that ran and found nothing; title and severity None when not in the catalogue."""

    rule_id: str
    title: str | None
    severity: str | None


@dataclass(frozen=True)
class Comparison:
    """The change line: set when the run was compared with a previous one."""

    baseline_at: str | None  # when the previous report was written
    first_run: bool  # a --state-dir's first run: no previous report
    new: int
    resolved: int
    not_rechecked: int


@dataclass(frozen=True)
class HtmlView:
    """Everything the report template shows, ready to lay out."""

    generated_at: str
    collected_at: str | None  # when the snapshot was read, if not at generation
    tool_version: str
    schema_version: int
    partition: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    severities: tuple[str, ...]
    severity_counts: tuple[Option, ...]
    total: int  # findings in the summary, suppressed ones left out
    comparison: Comparison | None
    fix_first: Capped[FixRow]
    groups: tuple[RuleGroup, ...]
    rule_rows: tuple[RuleRow, ...]
    account_rows: tuple[AccountRow, ...]
    filter_severities: tuple[Option, ...]
    filter_rules: tuple[Option, ...]
    filter_accounts: tuple[str, ...]
    filter_regions: tuple[str, ...]
    resolved: Capped[ResolvedRow]
    suppressed: Capped[FindingView]
    expired: tuple[ExpiredRow, ...]
    unmatched: tuple[UnmatchedRow, ...]
    coverage: tuple[CoverageRow, ...]  # failed account-regions first
    coverage_failed: int
    coverage_notes: tuple[NoteRow, ...]
    topology: TopologyMap | None
    maps_open: bool
    rules_evaluated: int  # 0: the report does not say which rules ran
    passed: tuple[PassedRule, ...]  # rules that ran and found nothing

    @property
    def coverage_ok(self) -> int:
        return len(self.coverage) - self.coverage_failed


def group_limit(rule_count: int) -> int:
    """Findings shown per rule group: the page budget shared out, within floor and limit."""
    return min(GROUP_LIMIT, max(GROUP_FLOOR, PAGE_BUDGET // max(rule_count, 1)))


def rule_groups(
    findings: Iterable[FindingView], rules: Mapping[str, Mapping[str, Any]]
) -> list[RuleGroup]:
    """Findings by rule, rules in order of first appearance, findings in the report's order."""
    by_rule: dict[str, list[FindingView]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    total = sum(len(group) for group in by_rule.values())
    limit = group_limit(len(by_rule))
    groups = []
    seen: dict[str, Command] = {}
    for n, (rule_id, group) in enumerate(by_rule.items(), start=1):
        rule = rules.get(rule_id) or {}
        title = rule.get("title") or group[0].title
        shown = number_commands(
            (replace(f, show_title=f.title != title) for f in group[:limit]), "cmd", seen
        )
        groups.append(
            RuleGroup(
                anchor=f"rule-{n}",
                rule_id=rule_id,
                title=title,
                severity=rule.get("severity") or group[0].severity,
                what=rule.get("what") or "",
                why=rule.get("why") or "",
                references=tuple(
                    Reference(str(ref), isinstance(ref, str) and ref.startswith("https://"))
                    for ref in rule.get("references") or ()
                ),
                findings=Capped(tuple(shown), len(group)),
                limit=limit,
                open=total <= COLLAPSE_ABOVE,
            )
        )
    return groups


def _rule_rows(
    groups: list[RuleGroup], by_rule: Mapping[str, int], rules: Mapping[str, Mapping[str, Any]]
) -> list[RuleRow]:
    """Rules with findings in page order, then the summary's others (e.g. suppressed ones)."""
    rows = [
        RuleRow(g.rule_id, g.anchor, g.title, g.severity, by_rule.get(g.rule_id, 0)) for g in groups
    ]
    seen = {g.rule_id for g in groups}
    for rule_id, count in by_rule.items():
        if rule_id not in seen:
            rule = rules.get(rule_id) or {}
            rows.append(
                RuleRow(
                    rule_id, None, rule.get("title") or None, rule.get("severity") or None, count
                )
            )
    return rows


def _expired_row(e: ExpiredSuppression) -> ExpiredRow:
    s = e.suppression
    return ExpiredRow(s.rule, tuple(scope_pairs(s)), s.reason, s.expires or "", len(e.finding_ids))


def _unmatched_row(s: Suppression) -> UnmatchedRow:
    return UnmatchedRow(s.rule, tuple(scope_pairs(s)), s.reason, s.expires)


def fix_first(findings: Sequence[FindingView], groups: Iterable[RuleGroup]) -> Capped[FixRow]:
    """The first findings to fix (`fix_first_key`), each linked to its card when the page shows
    it; the table numbers its commands apart from the findings' (it comes first)."""
    top = number_commands(heapq.nsmallest(FIX_FIRST, findings, key=fix_first_key), "fix-cmd")
    shown = {f.id for g in groups for f in g.findings.shown}
    rows = [FixRow(f, f"f-{f.id}" if f.id in shown else None) for f in top]
    return Capped(tuple(rows), len(findings))


def passed_rules(report: Report, rules: Mapping[str, Mapping[str, Any]]) -> list[PassedRule]:
    """Rules that ran and found nothing (a suppressed finding is still a finding)."""
    found = {f.rule_id for f in report.findings}
    return [
        PassedRule(
            rule_id,
            (rules.get(rule_id) or {}).get("title") or None,
            (rules.get(rule_id) or {}).get("severity") or None,
        )
        for rule_id in report.rules_evaluated
        if rule_id not in found
    ]


def _comparison(baseline: BaselineSummary | None, findings: list[FindingView]) -> Comparison | None:
    """None when the run was not compared with a previous one."""
    if baseline is None:
        return None
    return Comparison(
        baseline_at=baseline.generated_at or None,
        first_run=not baseline.generated_at and baseline.source is None,
        new=sum(f.is_new for f in findings),
        resolved=baseline.resolved,
        not_rechecked=baseline.not_rechecked,
    )


def html_view(
    report: Report,
    rules: Mapping[str, Mapping[str, Any]],
    topology: TopologyMap | None = None,
) -> HtmlView:
    """The report as the page shows it; `rules` (rule id -> its catalogue entry) may lack rules."""
    findings = [finding_view(f, report.change(f)) for f in report.active_findings()]
    suppressed = [finding_view(f, report.change(f)) for f in report.findings if f.suppressed]
    summary = report.summary
    groups = rule_groups(findings, rules)
    coverage = coverage_rows(report.coverage)
    failed = [c.account_id for c in coverage if c.failed]
    accounts = report.scope.accounts
    resolved = resolved_rows(report.resolved)
    collected_at = report.collected_at
    generated_at = report.generated_at
    return HtmlView(
        generated_at=generated_at,
        collected_at=collected_at
        if collected_at and collected_at[:16] != generated_at[:16]
        else None,
        tool_version=report.tool_version,
        schema_version=report.schema_version,
        partition=report.scope.partition,
        accounts=tuple(accounts),
        regions=tuple(report.scope.regions),
        severities=SEVERITY_NAMES,
        severity_counts=tuple(Option(s, summary.by_severity.get(s, 0)) for s in SEVERITY_NAMES),
        total=summary.total,
        comparison=_comparison(report.baseline, findings),
        fix_first=fix_first(findings, groups),
        groups=tuple(groups),
        rule_rows=tuple(_rule_rows(groups, summary.by_rule, rules)),
        account_rows=tuple(
            AccountRow(a, summary.by_account.get(a, 0), failed.count(a))
            for a in [*accounts, *(a for a in summary.by_account if a not in accounts)]
        ),
        filter_severities=tuple(
            Option(s, n) for s in SEVERITY_NAMES if (n := summary.by_severity.get(s, 0))
        ),
        filter_rules=tuple(Option(g.rule_id, g.findings.total) for g in groups),
        filter_accounts=tuple(sorted({f.account_id for f in findings})),
        filter_regions=tuple(sorted({f.region for f in findings})),
        resolved=capped(resolved, TABLE_LIMIT),
        suppressed=capped(suppressed, TABLE_LIMIT),
        expired=tuple(_expired_row(e) for e in report.expired_suppressions),
        unmatched=tuple(_unmatched_row(s) for s in report.unmatched_suppressions),
        coverage=tuple(coverage),
        coverage_failed=len(failed),
        coverage_notes=tuple(note_rows(report.coverage_notes)),
        topology=topology,
        maps_open=topology is not None and len(topology.groups) <= MAPS_OPEN_UP_TO,
        rules_evaluated=len(report.rules_evaluated),
        passed=tuple(passed_rules(report, rules)),
    )
