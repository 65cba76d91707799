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
from auditor.report.text import plural, scope_pairs
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
COST_AT_STAKE = 5  # findings of the "cost at stake" list (the HTML summary and the email)
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


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def cost_usd(evidence: Mapping[str, object]) -> float | None:
    """What the finding cost in USD over the last 30 days (the basis of the egress rules'
    `evidence["cost"]["usd"]`), when its rule worked it out; None when unknown."""
    cost = evidence.get("cost")
    return _number(cost.get("usd")) if isinstance(cost, Mapping) else None


def money(usd: float) -> str:
    """Dollars as the report says them: "$0", "$4.50", "$45", "$1,234" (cents under $10)."""
    if usd == 0:
        return "$0"
    return f"${usd:,.0f}" if usd >= 10 else f"${usd:,.2f}"


def cost_text(usd: float) -> str:
    """A known cost as the report says it: over the last 30 days, the basis of the egress rules'
    cost (not "a month")."""
    return f"about {money(usd)} over the last 30 days"


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
    def cost_text(self) -> str | None:
        """The cost said as "about $X over the last 30 days"; None when unknown."""
        usd = self.cost_usd
        return None if usd is None else cost_text(usd)

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


# --- cost at stake (the HTML summary and the email) ---

NO_DATA = "no data in 30 days"  # a row's note where CloudWatch had no data point: 0 bytes
COST_LABEL = "upper bound (the NAT's total processing)"


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def gb_text(gb: float) -> str:
    """GB as the report says them: "0 GB", "0.004 GB", "2.5 GB", "1,024 GB"."""
    if gb == 0:
        return "0 GB"
    if gb >= 100:
        return f"{gb:,.0f} GB"
    return f"{gb:,.1f} GB" if gb >= 1 else f"{gb:.3f} GB"


@dataclass(frozen=True)
class CostLine:
    """A part of a finding's cost: a NAT gateway's processing, or a transit gateway's for one NAT
    gateway's bytes (a row of `evidence["cost"]["nat_gateways"]` or `["transit_gateways"]`)."""

    kind: str  # "NAT gateway" or "transit gateway"
    id: str
    region: str
    nat_gateway: str  # a transit gateway line: the NAT gateway whose bytes it carries; else ""
    gb: float | None  # None: not read
    usd_per_gb: float | None
    usd: float | None  # None: unknown
    note: str  # why unknown, or "no data in 30 days"; "" when none
    shared: int = 0  # how many findings of the list carry the same line, when more than one

    @property
    def key(self) -> tuple[str, str, str]:
        """The same gateway (and, for a hub, the same NAT gateway's bytes): counted once."""
        return (self.kind, self.id, self.nat_gateway)

    @property
    def amount(self) -> str:
        """The line's cost: "$45", "$0 (no data in 30 days)", "cost unknown: <why>"."""
        if self.usd is None:
            return f"cost unknown: {self.why}"
        if self.usd == 0 and self.note:
            return f"$0 ({self.note})"
        return money(self.usd)

    @property
    def why(self) -> str:
        """Why the cost is unknown, as the note says it (without its "unknown: ")."""
        return self.note.removeprefix("unknown: ") or "not worked out"

    @property
    def shared_note(self) -> str:
        return (
            f"(shared by {self.shared} findings: counted once in the total)" if self.shared else ""
        )

    @property
    def measure(self) -> str:
        """What was processed: "1,000 GB at $0.045/GB", "10.0 GB", "" when not read."""
        if self.gb is None:
            return ""
        if self.usd_per_gb is None:
            return gb_text(self.gb)
        return f"{gb_text(self.gb)} at ${self.usd_per_gb:g}/GB"

    @property
    def detail(self) -> str:
        """The whole line: "1,000 GB at $0.045/GB = $45", "0 GB, $0 (no data in 30 days)",
        "10.0 GB, cost unknown: no NAT gateway price …", "cost unknown: not read …"."""
        if not self.measure:
            return self.amount
        if self.usd_per_gb is None:
            return f"{self.measure}, {self.amount}"
        return f"{self.measure} = {self.amount}"


@dataclass(frozen=True)
class CostItem:
    """A finding with a cost, as the "cost at stake" list shows it."""

    finding: FindingView
    anchor: str | None  # its card on the HTML page, when the page shows it
    usd: float | None
    nat_gateways: tuple[CostLine, ...]
    transit_gateways: tuple[CostLine, ...]

    @property
    def lines(self) -> tuple[CostLine, ...]:
        return self.nat_gateways + self.transit_gateways

    @property
    def amount(self) -> str:
        """The finding's cost: "about $X over the last 30 days", "$0 (no data in 30 days)",
        "$0 over the last 30 days" or "cost unknown"."""
        if self.usd is None:
            return "cost unknown"
        if self.usd == 0:
            quiet = self.nat_gateways and all(n.note == NO_DATA for n in self.nat_gateways)
            return f"$0 ({NO_DATA})" if quiet else "$0 over the last 30 days"
        return cost_text(self.usd)

    @property
    def label(self) -> str:
        """What a known, non-zero cost is: "upper bound (the NAT's total processing)"."""
        return COST_LABEL if self.usd else ""


@dataclass(frozen=True)
class PriceSource:
    source: str
    as_of: str


@dataclass(frozen=True)
class CostBlock:
    """The "cost at stake" block: findings with a cost, the costliest first (known costs before
    unknown ones), and a total that counts each NAT gateway and transit gateway line once
    (several findings can share a NAT gateway, and each repeats its whole total)."""

    items: Capped[CostItem]
    known: int  # findings whose cost is known
    known_lines: int  # NAT gateway and transit gateway lines (each once) whose cost is known
    total_usd: float  # the known lines, each counted once
    total_unknown: int  # lines (each counted once) whose cost is unknown: not in the total
    nat_gateways: int  # distinct NAT gateways
    transit_gateways: int  # distinct transit gateway lines
    shared: int  # NAT gateways on more than one finding of the list
    prices: tuple[PriceSource, ...]  # every price used, once per report
    periods: tuple[str, ...]  # the CloudWatch windows, "start to end"
    reasons: tuple[str, ...]  # why costs are unknown, each once

    @property
    def all_unknown(self) -> bool:
        """No finding's cost and no line's is known (e.g. a --no-cost run): the block is then
        one sentence saying why, not a list of "cost unknown"."""
        return self.known == 0 and self.known_lines == 0

    @property
    def total_text(self) -> str:
        """The total: "about $X over the last 30 days"; "at least $X …" when some lines are unknown."""
        if self.total_unknown:
            return f"at least {money(self.total_usd)} over the last 30 days"
        return cost_text(self.total_usd)

    # The block's sentences, said once for the HTML report and both email bodies.

    INTRO = (
        "What the NAT gateways on each path processed over the last 30 days, at their region's "
        "price, the costliest first (unknown costs last). Each is an upper bound of what a "
        "gateway endpoint saves: the NAT's total processing, as CloudWatch does not split it by "
        "destination."
    )

    @property
    def unknown_sentence(self) -> str:
        n = self.items.total
        return (
            f"Cost unknown for {plural(n, 'finding')} that send{'s' if n == 1 else ''} traffic "
            f"through a NAT gateway: {'; '.join(self.reasons)}."
        )

    @property
    def shared_sentence(self) -> str:
        """'' when no NAT gateway serves several findings of the list."""
        if not self.shared:
            return ""
        return (
            f"{plural(self.shared, 'NAT gateway')} serve{'s' if self.shared == 1 else ''} several "
            "findings: each of those findings shows the gateway's whole total."
        )

    @property
    def counted_once(self) -> str:
        """What follows the total in "In all: <total>, each NAT gateway (N) counted once…"."""
        hubs = (
            f" and transit gateway line ({self.transit_gateways})" if self.transit_gateways else ""
        )
        unknown = (
            f"; the cost of {self.total_unknown} of them is unknown" if self.total_unknown else ""
        )
        return f", each NAT gateway ({self.nat_gateways}){hubs} counted once{unknown}."

    @property
    def sources(self) -> str:
        """Where the figures come from: the prices (source and date) and the CloudWatch period."""
        parts = []
        if self.prices:
            parts.append(
                "Prices: " + "; ".join(f"{p.source} (as of {p.as_of})" for p in self.prices) + "."
            )
        if self.periods:
            parts.append(f"CloudWatch period: {', '.join(self.periods)} (UTC).")
        return " ".join(parts)


def _cost_lines(rows: object, kind: str) -> list[CostLine]:
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        return []
    return [
        CostLine(
            kind=kind,
            id=_text(row.get("id")),
            region=_text(row.get("region")),
            nat_gateway=_text(row.get("nat_gateway")) if kind == "transit gateway" else "",
            gb=_number(row.get("gb")),
            usd_per_gb=_number(row.get("usd_per_gb")),
            usd=_number(row.get("usd")),
            note=_text(row.get("note")),
        )
        for row in rows
        if isinstance(row, Mapping)
    ]


def cost_key(item: CostItem) -> tuple[bool, float, int]:
    """The costliest first, unknown costs after known ones, then the highest severity; sorted()
    keeps the report's order last."""
    return (item.usd is None, -(item.usd or 0.0), -Severity.rank(item.finding.severity))


def cost_at_stake(
    findings: Iterable[FindingView], limit: int = COST_AT_STAKE, shown: Iterable[str] = ()
) -> CostBlock | None:
    """The findings whose evidence has a cost (the egress rules'), ranked by it; None when no
    finding has one. `shown`: the ids of the findings whose card the page shows (linked)."""
    on_page = set(shown)
    items: list[CostItem] = []
    prices: dict[tuple[str, str], None] = {}
    periods: dict[str, None] = {}
    for f in findings:
        cost = f.raw_evidence.get("cost")
        if not isinstance(cost, Mapping):
            continue
        for p in cost.get("prices") or ():
            if isinstance(p, Mapping):
                prices[(_text(p.get("source")), str(p.get("as_of") or ""))] = None
        for window in cost.get("period") or ():
            if isinstance(window, str):
                periods[window.replace("/", " to ")] = None
        items.append(
            CostItem(
                finding=f,
                anchor=f"f-{f.id}" if f.id in on_page else None,
                usd=_number(cost.get("usd")),
                nat_gateways=tuple(_cost_lines(cost.get("nat_gateways"), "NAT gateway")),
                transit_gateways=tuple(
                    _cost_lines(cost.get("transit_gateways"), "transit gateway")
                ),
            )
        )
    if not items:
        return None
    # Each line once: the first finding's row for it (every finding repeats the same total).
    carriers: dict[tuple[str, str, str], int] = {}
    distinct: dict[tuple[str, str, str], CostLine] = {}
    for item in items:
        for line in {line.key: line for line in item.lines}.values():
            carriers[line.key] = carriers.get(line.key, 0) + 1
            distinct.setdefault(line.key, line)

    def shared(line: CostLine) -> int:
        n = carriers[line.key]
        return n if n > 1 else 0

    items = [
        replace(
            item,
            nat_gateways=tuple(replace(n, shared=shared(n)) for n in item.nat_gateways),
            transit_gateways=tuple(replace(t, shared=shared(t)) for t in item.transit_gateways),
        )
        for item in items
    ]
    total = sum(line.usd or 0.0 for line in distinct.values())
    # A cost without its lines (not the rules' shape) cannot be shared: counted as it is.
    total += sum(item.usd or 0.0 for item in items if not item.lines)
    unknown = [line for line in distinct.values() if line.usd is None]
    return CostBlock(
        items=capped(sorted(items, key=cost_key), limit),
        known=sum(item.usd is not None for item in items),
        known_lines=len(distinct) - len(unknown),
        total_usd=round(total, 2),
        total_unknown=len(unknown) + sum(item.usd is None for item in items if not item.lines),
        nat_gateways=sum(kind == "NAT gateway" for kind, _, _ in distinct),
        transit_gateways=sum(kind == "transit gateway" for kind, _, _ in distinct),
        shared=sum(n > 1 and key[0] == "NAT gateway" for key, n in carriers.items()),
        prices=tuple(PriceSource(source, as_of) for source, as_of in prices if source),
        periods=tuple(sorted(periods)),
        reasons=tuple(dict.fromkeys(line.why for line in unknown)),
    )


def report_cost(report: Report, limit: int = COST_AT_STAKE) -> CostBlock | None:
    """`cost_at_stake` of the report's findings that count (the email's: it links nothing)."""
    costed = [
        finding_view(f, report.change(f))
        for f in report.active_findings()
        if isinstance(f.evidence.get("cost"), Mapping)
    ]
    return cost_at_stake(costed, limit)


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
    cost: CostBlock | None = None  # "cost at stake"; None: no finding has a cost

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


def comparison(baseline: BaselineSummary | None, new: int) -> Comparison | None:
    """What the run says of the previous one (the HTML report and the email alike); None when
    it was not compared with one."""
    if baseline is None:
        return None
    return Comparison(
        baseline_at=baseline.generated_at or None,
        first_run=not baseline.generated_at and baseline.source is None,
        new=new,
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
        comparison=comparison(report.baseline, sum(f.is_new for f in findings)),
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
        cost=cost_at_stake(
            findings, COST_AT_STAKE, (f.id for g in groups for f in g.findings.shown)
        ),
    )
