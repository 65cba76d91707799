"""Findings first (issue 17): the "fix first" table and its order, each distinct command once,
the rules that passed, and suppressions that matched nothing (HTML, JSON, email, stderr)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from auditor.cli import main
from auditor.report.email_body import Attachment, EmailContext, render_email_text
from auditor.report.view import (
    FIX_FIRST,
    finding_view,
    fix_first_key,
    html_view,
    number_commands,
)
from auditor.serial import dumps
from tests.reports import finding_data, report_data, report_of
from tests.test_policy import policy_file, two_findings
from tests.test_report_template import SCHEMA_PATH, make_env

SCHEMA = json.loads(SCHEMA_PATH.read_text())
ENDPOINT = "# in account 111111111111 (us-east-1)\naws ec2 create-vpc-endpoint --vpc-id vpc-1"


def finding(n: int, severity: str = "medium", **fields: Any) -> dict[str, Any]:
    return finding_data(id=f"{n:016x}", severity=severity, resource_id=f"rtb-{n}", **fields)


def cost(usd: object) -> dict[str, Any]:
    return {"cost": {"usd": usd, "basis": "30 days"}}


def render(data: dict[str, Any], rules: dict[str, Any] | None = None) -> str:
    view = html_view(report_of(data), rules or {})
    return make_env().get_template("report.html.j2").render(view=view)


def test_fix_first_orders_by_severity_then_known_cost_then_new() -> None:
    data = report_data(
        finding(1, "low", evidence=cost(9000)),
        finding(2, evidence=cost(12.5)),
        finding(3),
        finding(4, evidence=cost(480)),
        finding(5, change="new"),
        finding(6, evidence=cost("a lot")),  # not a number: unknown
        finding(7, "high"),
        finding(8, "high", suppressed=True),
        baseline={
            "source": None,
            "generated_at": None,
            "new": 1,
            "unchanged": 6,
            "resolved": 0,
            "not_rechecked": 0,
        },
    )
    rows = html_view(report_of(data), {}).fix_first
    order = [row.finding.resource_id for row in rows.shown]
    assert order == ["rtb-7", "rtb-4", "rtb-2", "rtb-5", "rtb-3", "rtb-6", "rtb-1"]
    assert rows.total == 7  # the suppressed one is not to fix


def test_fix_first_key_ignores_a_cost_that_is_not_a_number() -> None:
    def key(evidence: dict[str, Any]) -> tuple[int, float, bool]:
        return fix_first_key(
            finding_view(report_of(report_data(finding(1, **evidence))).findings[0], None)
        )

    assert key({"evidence": cost(True)}) == key({}) == key({"evidence": {"cost": 3}})
    assert key({"evidence": cost(3)}) < key({})


def test_fix_first_is_capped_and_links_only_to_cards_on_the_page() -> None:
    data = report_data(*(finding(n, "high") for n in range(FIX_FIRST + 5)))
    view = html_view(report_of(data), {})
    assert len(view.fix_first.shown) == FIX_FIRST and view.fix_first.more == 5
    assert view.fix_first.shown[0].anchor == f"f-{0:016x}"
    large = html_view(report_of(report_data(*(finding(n) for n in range(450)))), {})
    assert all(row.anchor for row in large.fix_first.shown)  # the first of the group are shown


def test_a_shared_command_is_shown_once_and_pointed_to_after() -> None:
    data = report_data(
        finding(1, remediation_commands=[ENDPOINT]),
        finding(2, remediation_commands=[ENDPOINT, "# in account 1 (r)\naws ec2 other"]),
    )
    first, second = number_commands(
        (finding_view(f, None) for f in report_of(data).findings), "cmd"
    )
    assert [(c.anchor, c.repeat) for c in first.commands] == [("cmd-1", False)]
    assert [(c.anchor, c.repeat, c.first_resource) for c in second.commands] == [
        ("cmd-1", True, "rtb-1"),
        ("cmd-2", False, "rtb-2"),
    ]
    html = render(data)
    fix, cards = html.split('<section id="findings">')
    for part, prefix in ((fix, "fix-cmd"), (cards, "cmd")):
        assert (
            part.count("<pre><code># in account 111111111111 (us-east-1)\naws ec2 create-vpc") == 1
        )
        assert f'<a href="#{prefix}-1">above</a>' in part
        assert f'<div class="cmd" id="{prefix}-1">' in part


def test_commands_are_escaped_text_in_their_own_block() -> None:
    evil = "# in account 1 (r)\naws ec2 x --name '</code></pre><script>alert(1)</script>'"
    html = render(report_data(finding(1, remediation_commands=[evil])))
    assert "<script>alert(1)" not in html.split("</style>")[1].split("<script>\n")[0]
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sections_come_in_the_issue_order() -> None:
    data = report_data(finding(1), rules_evaluated=["r", "quiet-rule"])
    data["expired_suppressions"] = []
    html = render(data, {"quiet-rule": {"title": "Nothing to see", "severity": "low"}})
    order = ["summary", "fix-first", "findings", "map", "coverage", "passed"]
    at = [html.index(f'<section id="{name}">') for name in order]
    assert at == sorted(at)
    passed = html[at[-1] :]
    assert "quiet-rule" in passed and "Nothing to see" in passed
    assert "1 of the 2 rules that ran found nothing" in passed
    assert "<code>r</code>" not in passed


def test_no_passed_section_when_the_report_does_not_say_which_rules_ran() -> None:
    html = render(report_data(finding(1)))
    assert 'id="passed"' not in html and 'href="#passed"' not in html


def test_no_fix_first_table_without_findings() -> None:
    html = render(report_data(rules_evaluated=["r"]))
    assert 'id="fix-first"' not in html
    assert "Every audited account-region passed every rule." in html
    assert "1 of the 1 rule that ran found nothing" in html


UNMATCHED = {
    "rule": "s3-egress-via-nat",
    "reason": "accepted <b>",
    "expires": None,
    "account": None,
    "region": None,
    "resource": "rtb-l",
    "tag": {"env": "dev"},
}


def test_unmatched_suppressions_are_a_warning_near_the_expired_ones() -> None:
    data = report_data(finding(1), unmatched_suppressions=[UNMATCHED])
    jsonschema.validate(data, SCHEMA)
    html = render(data)
    section = html[html.index('<section id="suppressed">') : html.index('<section id="map">')]
    assert "1 suppression matched no finding: fixed, or a typo in the policy?" in section
    assert "resource=<code>rtb-l</code> tag:env=<code>dev</code>" in section
    assert "accepted &lt;b&gt;" in section and "no expiry" in section
    assert 'href="#suppressed"' in html
    text = render_email_text(
        EmailContext(report_of(data), "prod", Attachment("attached", ("r.html",)))
    )
    assert "1 suppression(s) of the audit policy matched no finding" in text


def test_a_typo_in_a_suppression_is_warned_on_stderr_even_with_q(tmp_path: Path) -> None:
    snap = tmp_path / "s.json"
    snap.write_text(dumps(two_findings()))
    policy = policy_file(
        tmp_path,
        "suppressions:\n  - {rule: s3-egress-via-nat, reason: known, resource: rtb-l}\n"
        "  - {rule: '*', reason: old, account: '999999999999'}\n",
    )
    args = [
        "--from-snapshot",
        str(snap),
        "--policy",
        str(policy),
        "--json",
        str(tmp_path / "r.json"),
    ]
    result = CliRunner().invoke(main, [*args, "-q"])
    assert result.exit_code == 1, result.stderr
    assert (
        "vpc-audit: warning: suppression for s3-egress-via-nat (resource=rtb-l) matched no "
        "finding: fixed, or a typo in the policy?\n"
    ) in result.stderr
    assert "suppression for * (account=999999999999) matched no finding" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert [s["resource"] for s in report["unmatched_suppressions"]] == ["rtb-l", None]
    silent = CliRunner().invoke(main, [*args, "-qq"])
    assert silent.exit_code == 1 and silent.stderr == ""
