"""Cost at stake (issue 16): the egress findings' `evidence["cost"]` in the HTML report's summary
and in both email bodies, ranked by it, each NAT gateway and transit gateway line counted once.

The findings come from the real egress rules on hand-built snapshots whose NAT gateways carry
`data_processed` (as tests/test_cost.py builds them), priced with the shipped table."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any

from auditor.model import Snapshot
from auditor.policy import shipped_prices
from auditor.report import build_report, render_html
from auditor.report.document import Report
from auditor.report.email_body import (
    Attachment,
    EmailContext,
    render_email_html,
    render_email_text,
)
from auditor.report.view import (
    COST_AT_STAKE,
    CostBlock,
    CostLine,
    cost_at_stake,
    finding_view,
    html_view,
    money,
    report_cost,
)
from auditor.rules import AuditResult, run_rules
from tests.builders import route, snapshot, subnet, table, vpc
from tests.hub import hub_estate
from tests.test_cost import TABLE, processed

S3 = "s3-egress-via-nat"
NOWHERE = "xx-nowhere-1"  # a region the price table does not have
NOT_READ = "cost unknown: not read (--no-cost, cloudwatch:GetMetricData refused or incomplete, or an older snapshot)"
LABEL = "upper bound (the NAT's total processing)"
SOURCE = shipped_prices().source
AS_OF = shipped_prices().as_of


def private(n: int, nat: str, *tables: str, region: str = "us-east-1") -> list[Any]:
    """VPC vpc-<n> whose tables (one subnet each) send everything to `nat`."""
    items: list[Any] = [vpc(f"vpc-{n}", f"10.{n}.0.0/16", region=region)]
    for i, name in enumerate(tables):
        items += [
            subnet(f"subnet-{name}", f"vpc-{n}", f"10.{n}.{i}.0/24", region=region),
            table(
                f"rtb-{name}",
                f"vpc-{n}",
                route("0.0.0.0/0", nat),
                subnets=(f"subnet-{name}",),
                region=region,
            ),
        ]
    return items


def report(snap: Snapshot, rules: tuple[str, ...] = (S3,)) -> Report:
    findings = run_rules(snap, only=list(rules), settings=TABLE)
    return build_report(snap, AuditResult(findings), rules_evaluated=rules)


def estate() -> Snapshot:
    """Six S3 findings: nat-1 ($9, 200 GB) shared by two tables, nat-2 ($45, 1,000 GB), nat-3
    with no data in 30 days ($0), nat-4 not read (unknown), nat-5 in a region without a price
    (unknown). Listed so that the report's order is not the cost order."""
    snap = snapshot(
        *private(4, "nat-4", "4"),
        *private(1, "nat-1", "1a", "1b"),
        *private(3, "nat-3", "3"),
        *private(5, "nat-5", "5", region=NOWHERE),
        *private(2, "nat-2", "2"),
    )
    for nat, gb in (("nat-1", 200), ("nat-2", 1000), ("nat-5", 10)):
        processed(snap, nat, gb)
    return processed(snap, "nat-3", 0, points=0)


def email(rep: Report) -> tuple[str, str]:
    context = EmailContext(rep, "prod", Attachment("attached", ("report.html",)))
    return render_email_html(context), render_email_text(context)


def text_of(markup: str) -> str:
    """What a reader sees: tags dropped, entities decoded, white space collapsed."""
    blocks = re.sub(r"</?(?:li|div|p|td|th|tr|ul|ol|h\d|br)\b[^>]*>", " ", markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", blocks)).split())


def html_block(page: str) -> str:
    """The summary's "Cost at stake" block, as text ('' when the page has none)."""
    found = re.search(
        r'<div class="cost-at-stake"[^>]*>\s*<h3>Cost at stake</h3>(.*?)</div>\s*(?=</section>)',
        page,
        re.S,
    )
    return text_of(found.group(1)) if found else ""


def email_html_block(body: str) -> str:
    found = re.search(r"<h2[^>]*>Cost at stake</h2>(.*?)<h2[^>]*>Top findings", body, re.S)
    return text_of(found.group(1)) if found else ""


def email_text_block(body: str) -> str:
    found = re.search(r"\nCOST AT STAKE\n(.*?)\n\nTOP FINDINGS", body, re.S)
    return " ".join(found.group(1).split()) if found else ""


def blocks(rep: Report, snap: Snapshot | None = None) -> dict[str, str]:
    body_html, body_text = email(rep)
    return {
        "html": html_block(render_html(rep, snap)),
        "email html": email_html_block(body_html),
        "email text": email_text_block(body_text),
    }


def order(block: str, names: list[str]) -> list[str]:
    """`names` in the order the block first names them."""
    return sorted(names, key=lambda n: block.index(n))


# --- the view ---------------------------------------------------------------------------------


def test_the_view_ranks_by_cost_known_first_and_counts_a_shared_nat_once() -> None:
    rep = report(estate())
    block = report_cost(rep)
    assert isinstance(block, CostBlock)
    ranked = [i.finding.resource_id for i in block.items.shown]
    # $45, $9 twice (the report's order between them), $0, then the unknown ones.
    assert ranked == ["rtb-2", "rtb-1a", "rtb-1b", "rtb-3", "rtb-4"]
    assert [i.usd for i in block.items.shown] == [45.0, 9.0, 9.0, 0.0, None]
    assert (block.items.total, block.items.more) == (6, 1)
    assert block.known == 4
    # Each NAT gateway once: 45 + 9 + 0, not 45 + 9 + 9; two NAT gateways of unknown cost.
    assert (block.total_usd, block.total_unknown, block.nat_gateways) == (54.0, 2, 5)
    assert block.total_text == "at least $54 over the last 30 days"
    assert block.shared == 1
    shared = {line.id: line.shared for i in block.items.shown for line in i.lines}
    assert shared == {"nat-2": 0, "nat-1": 2, "nat-3": 0, "nat-4": 0}
    assert [(p.source, p.as_of) for p in block.prices] == [(SOURCE, AS_OF)]
    assert block.periods == ("2026-11-04T19:00:00Z to 2026-12-04T19:00:00Z",)
    assert not block.all_unknown


def test_the_view_words_each_line() -> None:
    block = report_cost(report(estate()), limit=10)
    assert block is not None
    by_table = {i.finding.resource_id: i for i in block.items.shown}
    assert by_table["rtb-2"].amount == "about $45 over the last 30 days"
    assert by_table["rtb-2"].label == LABEL
    (nat2,) = by_table["rtb-2"].lines
    assert (nat2.kind, nat2.id, nat2.region) == ("NAT gateway", "nat-2", "us-east-1")
    assert nat2.detail == "1,000 GB at $0.045/GB = $45"
    assert by_table["rtb-1a"].amount == "about $9.00 over the last 30 days"
    assert by_table["rtb-3"].amount == "$0 (no data in 30 days)"
    assert by_table["rtb-3"].label == ""  # nothing to bound
    assert by_table["rtb-3"].lines[0].detail == "0 GB, $0 (no data in 30 days)"
    assert by_table["rtb-4"].amount == "cost unknown"
    assert by_table["rtb-4"].lines[0].detail == NOT_READ
    assert by_table["rtb-5"].lines[0].detail == (
        f"10.0 GB, cost unknown: no NAT gateway price for {NOWHERE}: set it in the audit policy"
    )
    assert block.reasons == (
        NOT_READ.removeprefix("cost unknown: "),
        f"no NAT gateway price for {NOWHERE}: set it in the audit policy",
    )


def test_money_and_lines_are_said_plainly() -> None:
    assert [money(v) for v in (0, 0.5, 4.5, 9.994, 45, 1234.4)] == [
        "$0",
        "$0.50",
        "$4.50",
        "$9.99",
        "$45",
        "$1,234",
    ]
    line = CostLine("NAT gateway", "nat-1", "us-east-1", "", 0.0, None, 0.0, "")
    assert line.detail == "0 GB, $0"  # bytes 0 with data points: no price needed, no note
    assert CostLine("NAT gateway", "nat-1", "", "", 0.004, 0.045, 0.0, "").measure == (
        "0.004 GB at $0.045/GB"
    )


def test_a_finding_view_without_cost_lines_still_counts_in_the_total() -> None:
    """A cost without the rules' rows (hand-written evidence): ranked and totalled as it is."""
    rep = report(estate())
    views = [finding_view(f, None) for f in rep.active_findings()]
    bare = [
        finding_view(f, None) for f in rep.active_findings() if f.resource_id in ("rtb-2", "rtb-3")
    ]
    stripped = [replace(v, raw_evidence={"cost": {"usd": v.cost_usd}}) for v in bare]
    block = cost_at_stake(stripped)
    assert block is not None and block.total_usd == 45.0 and block.total_unknown == 0
    assert cost_at_stake([v for v in views if "cost" not in v.raw_evidence]) is None


# --- the three renderings ---------------------------------------------------------------------


def test_html_and_both_emails_rank_and_word_the_cost() -> None:
    snap = estate()
    rep = report(snap)
    for where, block in blocks(rep, snap).items():
        assert block, where
        # Ranked: known costs, costliest first, then unknown; capped at COST_AT_STAKE.
        assert order(block, ["rtb-2", "rtb-1a", "rtb-1b", "rtb-3", "rtb-4"]) == [
            "rtb-2",
            "rtb-1a",
            "rtb-1b",
            "rtb-3",
            "rtb-4",
        ], where
        assert "rtb-5" not in block, where  # the sixth: beyond the cap
        assert "and 1 more finding" in block, where
        # What and where.
        assert "vpc-2" in block and "111111111111" in block and "us-east-1" in block, where
        assert S3 in block, where
        # Known, labelled; zero with no data; unknown with the row's note.
        assert f"about $45 over the last 30 days, {LABEL}" in block, where
        assert "NAT gateway nat-2 (us-east-1): 1,000 GB at $0.045/GB = $45" in block, where
        assert "NAT gateway nat-1 (us-east-1): 200 GB at $0.045/GB = $9.00" in block, where
        assert "$0 (no data in 30 days)" in block, where
        assert "cost unknown" in block and NOT_READ in block, where
        assert "a month" not in block, where
        # The shared NAT gateway said where it happens, counted once in the total.
        assert block.count("shared by 2 findings: counted once in the total") == 2, where
        assert "at least $54 over the last 30 days" in block, where
        assert "$63" not in block, where
        # The prices' source and date once, not per finding.
        assert block.count(SOURCE) == 1 and block.count(f"as of {AS_OF}") == 1, where


def test_the_fix_first_table_says_the_last_30_days_not_a_month() -> None:
    snap = estate()
    page = render_html(report(snap), snap)
    fix = text_of(page.split('<section id="fix-first">')[1].split("</section>")[0])
    assert "about $45 over the last 30 days" in fix
    assert "a month" not in page


def test_a_hub_path_shows_its_transit_gateway_line_counted_once() -> None:
    """Two spokes reach the egress VPC's NAT gateway through the hub: both findings repeat the
    NAT's and the hub's whole total, the block's total has each once."""
    snap = processed(snapshot(*hub_estate(spoke2_endpoints=False)), "nat-eg", 2000)
    rep = report(snap)
    assert len(rep.active_findings()) == 2
    for where, block in blocks(rep, snap).items():
        assert "about $130 over the last 30 days" in block, where  # 90 + 40 on each finding
        assert (
            "transit gateway tgw-1 (us-east-1), carrying nat-eg's traffic: "
            "2,000 GB at $0.02/GB = $40 (shared by 2 findings: counted once in the total)"
        ) in block, where
        assert "In all: about $130 over the last 30 days" in block, where
        assert "transit gateway line (1) counted once" in block, where
        assert "$260" not in block, where


def test_a_long_list_is_capped_and_says_how_many_more() -> None:
    snap = snapshot(*(item for n in range(12) for item in private(n, f"nat-{n}", f"t{n}")))
    for n in range(12):
        processed(snap, f"nat-{n}", 100 * (n + 1))
    rep = report(snap)
    block = report_cost(rep)
    assert block is not None and len(block.items.shown) == COST_AT_STAKE == 5
    assert [i.finding.resource_id for i in block.items.shown] == [
        "rtb-t11",
        "rtb-t10",
        "rtb-t9",
        "rtb-t8",
        "rtb-t7",
    ]
    # The total still has all twelve NAT gateways: 100 GB x (1 + ... + 12) at $0.045.
    assert block.total_usd == 351.0 and block.nat_gateways == 12
    for where, text in blocks(rep, snap).items():
        assert "and 7 more finding" in text, where
        assert "rtb-t6 " not in text and "rtb-t0 " not in text, where
        assert "In all: about $351 over the last 30 days" in text, where
    view = html_view(rep, {})
    assert view.cost is not None and view.cost.items.more == 7
    # The HTML links each shown finding to its card.
    assert [i.anchor for i in view.cost.items.shown] == [
        f"f-{i.finding.id}" for i in view.cost.items.shown
    ]


def test_no_block_without_cost_evidence() -> None:
    """Findings of other rules carry no cost: no block, no heading, anywhere."""
    snap = estate()
    rep = report(snap, ("route-dead-target",))
    assert report_cost(rep) is None and html_view(rep, {}).cost is None
    page = render_html(rep, snap)
    body_html, body_text = email(rep)
    assert "<h3>Cost at stake</h3>" not in page and 'id="cost-at-stake"' not in page
    assert html_block(page) == ""
    assert "Cost at stake" not in body_html and "COST AT STAKE" not in body_text


def test_a_run_without_any_known_cost_says_why_in_one_sentence() -> None:
    """The decision for a --no-cost run (or a refused GetMetricData, or an older snapshot): the
    findings still carry cost evidence, all unknown. Listing each as "cost unknown" would say
    nothing; the block is one sentence giving how many and why, without list, total or prices."""
    snap = snapshot(*private(1, "nat-1", "1a", "1b"), *private(2, "nat-2", "2"))  # nothing read
    rep = report(snap)
    block = report_cost(rep)
    assert block is not None and block.all_unknown and block.known == 0
    for where, text in blocks(rep, snap).items():
        assert text.startswith("Cost unknown for 3 finding"), where
        assert text.endswith(
            "traffic through a NAT gateway: not read (--no-cost, cloudwatch:GetMetricData "
            "refused or incomplete, or an older snapshot)."
        ), where
        assert "rtb-" not in text and "In all" not in text and "Prices" not in text, where


def test_one_known_cost_among_unknown_ones_shows_the_list() -> None:
    """Not all unknown: the list, the known cost first, the unknown ones after with their note."""
    snap = snapshot(*private(1, "nat-1", "1"), *private(2, "nat-2", "2"))
    processed(snap, "nat-2", 10)
    rep = report(snap)
    for where, text in blocks(rep, snap).items():
        assert order(text, ["rtb-1", "rtb-2"]) == ["rtb-2", "rtb-1"], where
        assert "about $0.45 over the last 30 days" in text and NOT_READ in text, where
        assert "In all: at least $0.45 over the last 30 days" in text, where
