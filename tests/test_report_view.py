"""The report's view model: what the HTML page and the email show, decided in Python.

Small hand-built reports; the templates' output is checked in test_report_template.py.
"""

from __future__ import annotations

from typing import Any

from auditor.report.view import (
    Items,
    Pairs,
    Table,
    Text,
    capped,
    evidence,
    group_limit,
    html_view,
    top_findings,
)
from tests.reports import report_of


def finding(
    n: int, rule_id: str = "rule-a", severity: str = "high", **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"{n:016x}",
        "rule_id": rule_id,
        "severity": severity,
        "title": f"Title of {rule_id}",
        "account_id": "111111111111",
        "region": "us-east-1",
        "resource_type": "route-table",
        "resource_id": f"rtb-{n}",
        "vpc_id": None,
        "message": "m",
        "remediation": "r",
        "evidence": {},
        "suppressed": False,
        "suppression_reason": None,
        "suppression_expires": None,
        "change": None,
        **extra,
    }


def report(*findings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    active = [f for f in findings if not f["suppressed"]]
    by_rule: dict[str, int] = {}
    for f in active:
        by_rule[f["rule_id"]] = by_rule.get(f["rule_id"], 0) + 1
    return {
        "schema_version": 1,
        "generated_at": "2026-11-27T06:30:00Z",
        "tool_version": "0.1.0",
        "scope": {"partition": "aws", "accounts": ["111111111111"], "regions": ["us-east-1"]},
        "coverage": [
            {"account_id": "111111111111", "region": "us-east-1", "status": "ok", "error": None},
            {"account_id": "222222222222", "region": "*", "status": "error", "error": "denied"},
        ],
        "summary": {
            "total": len(active),
            "by_severity": {"high": len(active)},
            "by_rule": by_rule,
            "by_account": {"111111111111": len(active)},
            "coverage": {"ok": 1, "error": 1},
            "suppressed": len(findings) - len(active),
        },
        "findings": list(findings),
        "expired_suppressions": [],
        **extra,
    }


RESOLVED_FIELDS = (
    "id",
    "rule_id",
    "severity",
    "title",
    "account_id",
    "region",
    "resource_type",
    "resource_id",
)
RULES = {"rule-b": {"title": "Rule B", "severity": "low", "references": ["https://x", "y"]}}


def test_groups_follow_first_appearance_and_keep_the_report_order() -> None:
    view = html_view(
        report_of(report(finding(1, "rule-b"), finding(2), finding(3, "rule-b"))), RULES
    )
    assert [g.rule_id for g in view.groups] == ["rule-b", "rule-a"]
    assert [g.anchor for g in view.groups] == ["rule-1", "rule-2"]
    assert [f.id for f in view.groups[0].findings.shown] == [f"{1:016x}", f"{3:016x}"]
    b, a = view.groups
    # The catalogue's title and severity, else the first finding's.
    assert (b.title, b.severity, a.title, a.severity) == (
        "Rule B",
        "low",
        "Title of rule-a",
        "high",
    )
    assert [(r.text, r.link) for r in b.references] == [("https://x", True), ("y", False)]
    # A finding repeats its title only where it differs from its group's.
    assert [f.show_title for f in b.findings.shown] == [True, True]
    assert [f.show_title for f in a.findings.shown] == [False]
    assert [(o.value, o.count) for o in view.filter_rules] == [("rule-b", 2), ("rule-a", 1)]


def test_summary_rows_list_rules_with_findings_first_then_the_others() -> None:
    suppressed = finding(9, "rule-c", suppressed=True, suppression_reason="ok")
    data = report(finding(1), suppressed)
    data["summary"]["by_rule"]["rule-c"] = 0
    view = html_view(report_of(data), RULES)
    rows = [(r.rule_id, r.anchor, r.title) for r in view.rule_rows]
    assert rows == [("rule-a", "rule-1", "Title of rule-a"), ("rule-c", None, None)]
    assert [f.id for f in view.suppressed.shown] == [f"{9:016x}"]
    assert view.suppressed.shown[0].until == "no expiry"


def test_page_budget_shares_out_findings_per_rule_within_floor_and_limit() -> None:
    assert [group_limit(n) for n in (0, 1, 10, 28, 100)] == [200, 200, 200, 71, 50]


def test_a_large_group_shows_its_first_findings_and_counts_the_rest() -> None:
    view = html_view(report_of(report(*(finding(n) for n in range(450)))), {})
    (group,) = view.groups
    assert (len(group.findings.shown), group.findings.more, group.limit) == (200, 250, 200)
    assert not group.open  # collapsed above 100
    small = html_view(report_of(report(finding(1))), {})
    assert small.groups[0].open and small.groups[0].findings.more == 0


def test_capped_counts_what_is_left_out() -> None:
    assert (capped([1, 2, 3], 2).shown, capped([1, 2, 3], 2).more) == ((1, 2), 1)
    assert capped([], 5).more == 0


def test_coverage_lists_failures_first_and_counts_them_per_account() -> None:
    view = html_view(report_of(report(finding(1))), {})
    assert [c.failed for c in view.coverage] == [True, False]
    assert (view.coverage_ok, view.coverage_failed) == (1, 1)
    rows = [(r.account_id, r.findings, r.failed) for r in view.account_rows]
    assert rows == [("111111111111", 1, 0)]


FIRST_RUN = {
    "source": None,
    "generated_at": None,
    "new": 1,
    "unchanged": 0,
    "resolved": 1,
    "not_rechecked": 0,
}


def test_comparison_only_when_compared() -> None:
    assert html_view(report_of(report(finding(1))), {}).comparison is None
    gone = {k: v for k, v in finding(2).items() if k in RESOLVED_FIELDS}
    data = report(finding(1, change="new"), baseline=FIRST_RUN, resolved=[gone])
    view = html_view(report_of(data), {})
    assert view.comparison is not None
    assert (view.comparison.first_run, view.comparison.new, view.comparison.resolved) == (
        True,
        1,
        1,
    )
    assert view.resolved.shown[0].resource_id == "rtb-2"


def test_hops_of_a_path_become_a_numbered_table_with_extra_columns() -> None:
    path = {
        "destination": "10.0.0.0/8",
        "hops": [
            {"table": "rtb-1", "route": "0.0.0.0/0", "target": "tgw-1"},
            {"table": "tgw-rtb", "route": "no route", "target": "", "via": "x"},
        ],
    }
    shaped = evidence(path)
    assert isinstance(shaped, Pairs)
    hops = dict(shaped.items)["hops"]
    assert isinstance(hops, Table) and hops.hops
    assert hops.headings == ("Route table", "Route", "Target", "Entered by", "via")
    first, second = hops.rows
    assert first == (Text("rtb-1"), Text("0.0.0.0/0"), Text("tgw-1"), None, None)
    assert second[2] is None and second[4] == Text("x")  # empty and missing: a dash


def test_evidence_shapes() -> None:
    assert evidence([{"a": 1}, {"b": "x"}]) == Table(
        ("a", "b"), ((Text("1", "num"), None), (None, Text("x"))), hops=False
    )
    nested = evidence([{"a": {"b": 1}}])  # a nested row reads better as a definition list
    assert isinstance(nested, Items) and not nested.inline
    assert evidence(["x", None]) == Items((Text("x", "code"), Text("null", "null")), True)
    assert evidence(list(range(7))) == Items(tuple(Text(str(n), "num") for n in range(7)), False)
    assert evidence({}) == Text("(empty)", "null") and evidence([]) == Text("(none)", "null")
    assert evidence("a\nb") == Text("a\nb", "pre") and evidence(True) == Text("true", "bool")


def test_evidence_deeper_than_eight_levels_is_its_raw_text() -> None:
    deep: Any = "end"
    for _ in range(10):
        deep = {"k": deep}
    node = evidence(deep)
    for _ in range(9):
        assert isinstance(node, Pairs)
        node = node.items[0][1]
    assert node == Text("{'k': 'end'}", "deep")


def test_top_findings_rank_by_severity_then_new_and_skip_suppressed() -> None:
    findings = [
        finding(1, severity="low"),
        finding(2, severity="high"),
        finding(3, severity="high", change="new"),
        finding(4, severity="critical", suppressed=True),
    ]
    top = top_findings(report_of(report(*findings, baseline=FIRST_RUN)), 2)
    assert [f.id[-1] for f in top.shown] == ["3", "2"] and top.more == 1
