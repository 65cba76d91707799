"""The HTML report template renders the JSON report readably and safely.

The template is rendered directly with jinja2, configured like the report writer does, from the
view (auditor/report/view.py) of a small hand-built report; the same report is checked against
the JSON Schema.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import jsonschema
import pytest

from auditor.model import NatGateway, Snapshot
from auditor.report.topology import TopologyMap, build_topology
from auditor.report.view import html_view
from tests.builders import R1, R2, A, B, peering, s3_endpoint, side, snapshot, vpc
from tests.hub import hub_estate
from tests.reports import report_of

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
SCHEMA_PATH = ROOT / "auditor" / "report" / "report.schema.json"
SEVERITIES = ["critical", "high", "medium", "low", "info"]

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '" onmouseover="x'


def make_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    report: dict[str, Any],
    rules: dict[str, Any] | None = None,
    topology: TopologyMap | None = None,
) -> str:
    view = html_view(report_of(report), sample_rules() if rules is None else rules, topology)
    return make_env().get_template("report.html.j2").render(view=view)


SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def our_script(html: str) -> str:
    scripts = SCRIPT.findall(html)
    assert len(scripts) == 1, "exactly one script: the filter bar's"
    return str(scripts[0])


def without_script(html: str) -> str:
    return SCRIPT.sub("", html)


class Elements(HTMLParser):
    """Every start tag with its attributes, for checks that a regex would get wrong."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def sample_rules() -> dict[str, Any]:
    return {
        "peering-dns-resolution-disabled": {
            "id": "peering-dns-resolution-disabled",
            "title": "Peering does not resolve private DNS across VPCs",
            "severity": "high",
            "what": "A VPC peering connection lacks DNS resolution from the remote VPC.",
            "why": "Clients resolve public IPs for private hostnames and traffic leaves the VPC.",
            "fix": "Enable AllowDnsResolutionFromRemoteVpc on both sides.",
            "references": [
                "https://docs.aws.amazon.com/vpc/latest/peering/modify-peering-connections.html",
                "javascript:alert(1)",
            ],
        },
        "s3-egress-via-nat": {
            "id": "s3-egress-via-nat",
            "title": "S3 traffic leaves through a NAT gateway",
            "severity": "medium",
            "what": "A route table sends S3 traffic to a NAT gateway, not a gateway endpoint.",
            "why": "NAT data processing is billed per GB; a gateway endpoint for S3 is free.",
            "fix": "Add an S3 gateway endpoint and associate it with the route table.",
            "references": [
                "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html"
            ],
        },
        "unused-rule": {
            "id": "unused-rule",
            "title": "A rule with no findings in this report",
            "severity": "low",
            "what": "",
            "why": "",
            "fix": "",
            "references": [],
        },
    }


def sample_report() -> dict[str, Any]:
    findings = [
        {
            "id": "0a1b2c3d4e5f6789",
            "rule_id": "peering-dns-resolution-disabled",
            "severity": "high",
            "title": "Peering does not resolve private DNS across VPCs",
            "account_id": "123456789012",
            "region": "us-east-1",
            "resource_type": "vpc-peering-connection",
            "resource_id": "pcx-0f1e2d3c4b5a69788",
            "vpc_id": None,
            "message": "Neither side of pcx-0f1e2d3c4b5a69788 resolves private DNS names.",
            "remediation": "Enable DNS resolution from the remote VPC on both sides.",
            "remediation_commands": [
                "# in account 123456789012 (us-east-1)\naws ec2 modify-vpc-peering-connection-"
                "options --vpc-peering-connection-id pcx-0f1e2d3c4b5a69788 --requester-peering-"
                "connection-options '{\"AllowDnsResolutionFromRemoteVpc\":true}' --region us-east-1"
            ],
            "evidence": {
                "status": "active",
                "requester": {
                    "account_id": "123456789012",
                    "vpc_id": "vpc-0aaa1111bbbb2222c",
                    "cidr_blocks": ["10.0.0.0/16", "10.1.0.0/16"],
                    "allow_dns_resolution_from_remote_vpc": False,
                },
                "accepter": {
                    "account_id": "210987654321",
                    "vpc_id": "vpc-0ddd3333eeee4444f",
                    "cidr_blocks": ["172.16.0.0/16"],
                    "allow_dns_resolution_from_remote_vpc": None,
                },
            },
        },
        {
            "id": "9f2c0011aabbccdd",
            "rule_id": "s3-egress-via-nat",
            "severity": "medium",
            "title": "S3 traffic leaves through a NAT gateway",
            "account_id": "123456789012",
            "region": "us-east-1",
            "resource_type": "route-table",
            "resource_id": "rtb-0123456789abcdef0",
            "vpc_id": "vpc-0aaa1111bbbb2222c",
            "message": "Subnets using rtb-0123456789abcdef0 reach S3 through nat-0fedcba987654321.",
            "remediation": "Create an S3 gateway endpoint and associate rtb-0123456789abcdef0.",
            "remediation_commands": [
                "# in account 123456789012 (us-east-1)\naws ec2 create-vpc-endpoint --vpc-id "
                "vpc-0aaa1111bbbb2222c --service-name com.amazonaws.us-east-1.s3 --route-table-ids "
                "rtb-0123456789abcdef0 --region us-east-1"
            ],
            "evidence": {
                "nat_gateway_id": "nat-0fedcba987654321",
                "subnet_ids": ["subnet-0a", "subnet-0b"],
                "routes": [
                    {
                        "destination": "0.0.0.0/0",
                        "target": "nat-0fedcba987654321",
                        "state": "active",
                    },
                    {"destination": "10.0.0.0/16", "target": "local", "state": "active"},
                    {"destination": "pl-63a5400a", "target": "vpce-0abc", "origin": "CreateRoute"},
                ],
                "endpoint_count": 0,
            },
        },
        {
            "id": "fedcba9876543210",
            "rule_id": "s3-egress-via-nat",
            "severity": "medium",
            "title": "S3 traffic leaves through a NAT gateway",
            "account_id": "210987654321",
            "region": "eu-west-1",
            "resource_type": "route-table",
            "resource_id": "rtb-0evil00000000000",
            "vpc_id": "vpc-0ddd3333eeee4444f",
            "message": f"Route table tagged Name={XSS_SCRIPT} sends S3 traffic to a NAT gateway.",
            "remediation": f"Fix the route table named {XSS_ATTR}.",
            "evidence": {
                "tags": {"Name": XSS_SCRIPT, "Owner": XSS_ATTR, "Link": "javascript:alert(1)"},
                "routes": [{"destination": "0.0.0.0/0", "target": XSS_SCRIPT}],
                "notes": [XSS_SCRIPT],
            },
        },
    ]
    return {
        "schema_version": 1,
        "generated_at": "2026-11-27T06:30:00Z",
        "tool_version": "0.1.0",
        "scope": {
            "partition": "aws",
            "accounts": ["123456789012", "210987654321"],
            "regions": ["us-east-1", "eu-west-1"],
        },
        "coverage": [
            {"account_id": "123456789012", "region": "us-east-1", "status": "ok", "error": None},
            {"account_id": "123456789012", "region": "eu-west-1", "status": "ok", "error": None},
            {
                "account_id": "210987654321",
                "region": "us-east-1",
                "status": "error",
                "error": "AccessDenied: not authorized to perform ec2:DescribeRouteTables",
            },
            {"account_id": "210987654321", "region": "eu-west-1", "status": "ok", "error": None},
        ],
        "summary": {
            "total": 3,
            "by_severity": {"critical": 0, "high": 1, "medium": 2, "low": 0, "info": 0},
            "by_rule": {"peering-dns-resolution-disabled": 1, "s3-egress-via-nat": 2},
            "by_account": {"123456789012": 2, "210987654321": 1},
            "coverage": {"ok": 3, "error": 1},
            "suppressed": 0,
        },
        "findings": [
            {"suppressed": False, "suppression_reason": None, "suppression_expires": None, **f}
            for f in findings
        ],
        "expired_suppressions": [],
    }


def all_ok(report: dict[str, Any]) -> dict[str, Any]:
    report = copy.deepcopy(report)
    for entry in report["coverage"]:
        entry["status"], entry["error"] = "ok", None
    report["summary"]["coverage"] = {"ok": len(report["coverage"]), "error": 0}
    return report


def empty_report() -> dict[str, Any]:
    report = all_ok(sample_report())
    report["findings"] = []
    report["summary"].update(
        total=0, by_severity=dict.fromkeys(SEVERITIES, 0), by_rule={}, by_account={}
    )
    return report


@pytest.fixture(scope="module")
def html() -> str:
    return render(sample_report())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- content ---


def test_is_a_single_html5_document(html: str) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.count("<style>") == 1
    assert "vpc-audit report" in html
    assert "2026-11-27T06:30:00Z" in html
    assert "0.1.0" in html


def test_every_finding_is_rendered_with_resource_and_rule_title(html: str) -> None:
    rules = sample_rules()
    for finding in sample_report()["findings"]:
        assert finding["resource_id"] in html
        assert f'id="f-{finding["id"]}"' in html
        assert rules[finding["rule_id"]]["title"] in html


def test_findings_are_grouped_by_rule_in_order_of_first_appearance(html: str) -> None:
    findings = html[html.index('id="findings"') : html.index('id="coverage"')]
    assert findings.count('class="rule-group"') == 2
    peering = findings.index("Peering does not resolve private DNS")
    s3 = findings.index("S3 traffic leaves through a NAT gateway")
    assert peering < s3 < findings.index("rtb-0123456789abcdef0")
    assert "NAT data processing is billed per GB" in findings  # the rule's "why"


def test_all_five_severities_have_a_badge(html: str) -> None:
    for severity in SEVERITIES:
        assert f'class="sev-{severity}' in html


def test_evidence_nested_objects_lists_and_tables(html: str) -> None:
    # lists of objects become a table whose columns are the union of keys
    assert re.search(
        r"<th[^>]*>destination</th><th[^>]*>target</th><th[^>]*>state</th><th[^>]*>origin</th>",
        html,
    )
    assert "pl-63a5400a" in html
    # nested objects become nested definition lists
    assert "allow_dns_resolution_from_remote_vpc" in html
    assert html.count('<dl class="kv">') >= 6
    assert "172.16.0.0/16" in html
    assert "<code>subnet-0a</code>, <code>subnet-0b</code>" in html


def test_evidence_is_collapsed_even_in_a_small_report(html: str) -> None:
    assert html.count('<details class="evidence">') == 3
    assert '<details class="evidence" open>' not in html


def test_rule_missing_from_rules_falls_back_to_finding_title() -> None:
    out = render(sample_report(), rules={})
    assert "S3 traffic leaves through a NAT gateway" in out
    assert "NAT data processing" not in out


# --- coverage ---


def test_coverage_warning_when_an_account_region_failed(html: str) -> None:
    assert "1 of 4 account-regions could not be audited; findings there are unknown" in html
    assert 'href="#coverage"' in html
    assert "AccessDenied: not authorized to perform ec2:DescribeRouteTables" in html


def test_no_coverage_warning_when_all_ok() -> None:
    out = render(all_ok(sample_report()))
    assert "could not be audited" not in out
    assert 'class="warning"' not in out


def test_empty_report_says_no_findings_and_still_shows_coverage() -> None:
    out = render(empty_report())
    assert "No findings" in out
    assert 'id="coverage"' in out
    assert out.count('class="status-ok"') == 4
    assert 'class="finding' not in out


# --- safety ---


def test_report_values_are_escaped(html: str) -> None:
    assert "<script" not in without_script(html).lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS_ATTR not in html
    assert "onmouseover=&#34;x" in html


def test_only_https_rule_references_become_links(html: str) -> None:
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs, "expected in-page and reference links"
    for href in hrefs:
        assert href.startswith(("#", "https://")), href
    assert "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html" in hrefs
    assert not any("javascript:" in href for href in hrefs)


def test_no_external_resources_are_loaded(html: str) -> None:
    lowered = html.lower()
    assert "<link" not in lowered
    assert lowered.count("<script") == 1  # ours, inline
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "@import" not in lowered
    assert " src=" not in lowered
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", lowered)
    assert "@media print" in html


# --- schema ---


def test_sample_report_matches_schema(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(sample_report())
    validator.validate(empty_report())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("findings", 0, "severity"), "urgent"),
        (("findings", 0, "id"), "not-hex"),
        (("coverage", 0, "status"), "partial"),
        (("summary", "total"), -1),
        (("scope", "accounts", 0), "12345"),
    ],
)
def test_invalid_reports_fail_schema(
    validator: jsonschema.Draft202012Validator, path: tuple[str | int, ...], value: object
) -> None:
    report = sample_report()
    target: Any = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(report)


@pytest.mark.parametrize("where", ["top", "finding", "coverage"])
def test_schema_rejects_unknown_properties(
    validator: jsonschema.Draft202012Validator, where: str
) -> None:
    report = sample_report()
    target = {"top": report, "finding": report["findings"][0], "coverage": report["coverage"][0]}
    target[where]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(report)


def test_schema_requires_error_text_for_failed_coverage(
    validator: jsonschema.Draft202012Validator,
) -> None:
    report = sample_report()
    report["coverage"][2]["error"] = None
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(report)


# --- network map, filters, change since last run, scale ---

HOSTILE_NAME = '"/><script>alert(1)</script>'
HOSTILE_ID = 'vpc-"><svg onload=alert(2)>'


def map_estate() -> Snapshot:
    """Two accounts, two regions; one VPC named with markup, one whose id is markup."""
    return snapshot(
        vpc("vpc-a1", "10.0.0.0/16", tags={"Name": "shop-prod"}),
        vpc("vpc-a2", "10.1.0.0/16", tags={"Name": HOSTILE_NAME}),
        vpc(HOSTILE_ID, "10.2.0.0/16", region=R2, tags={"Name": XSS_ATTR}),
        vpc("vpc-b1", "10.9.0.0/16", account=B),
        s3_endpoint("vpce-1", "vpc-a1", "rtb-1"),
        NatGateway("nat-1", A, R1, "vpc-a1"),
        peering("pcx-in", side("vpc-a1"), side("vpc-a2")),
        peering("pcx-out", side("vpc-a2"), side(HOSTILE_ID, region=R2), "pending-acceptance"),
        peering("pcx-far", side("vpc-a1"), side("vpc-zz", account="333333333333")),
    )


def hostile_report() -> dict[str, Any]:
    report = sample_report()
    evil = report["findings"][2]
    evil.update(region=f'eu-west-1"{XSS_SCRIPT}', rule_id=f"rule{XSS_ATTR}", vpc_id=HOSTILE_ID)
    return report


def test_script_is_pinned_by_the_content_security_policy(html: str) -> None:
    digest = hashlib.sha256(our_script(html).encode()).digest()
    source = "sha256-" + base64.b64encode(digest).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert csp is not None
    assert f"script-src '{source}'" in csp.group(1), (
        f"the filter script changed: set SCRIPT_SHA256 = {source!r} in report.html.j2"
    )
    assert "default-src 'none'" in csp.group(1)
    assert "unsafe-inline" not in csp.group(1).split("script-src")[1]


def test_script_holds_no_report_data(html: str) -> None:
    topology = build_topology(map_estate(), report_of(hostile_report()).findings)
    variants = [html, render(empty_report()), render(hostile_report(), topology=topology)]
    assert len({our_script(page) for page in variants}) == 1
    script = our_script(html)
    for value in ("123456789012", "pcx-", "vpc-", "rtb-", "us-east-1"):
        assert value not in script


def test_findings_are_visible_without_javascript(html: str) -> None:
    tags = Elements(html).tags
    hidden = [attrs.get("id") for _, attrs in tags if "hidden" in attrs]
    assert hidden == ["filters"], "only the filter bar waits for the script"
    groups = [
        attrs
        for tag, attrs in tags
        if tag == "details" and "rule-group" in (attrs.get("class") or "")
    ]
    assert len(groups) == 2 and all("open" in g for g in groups)


def test_findings_carry_filter_attributes(html: str) -> None:
    articles = [attrs for tag, attrs in Elements(html).tags if tag == "article"]
    assert [
        (a["data-severity"], a["data-rule"], a["data-account"], a["data-region"]) for a in articles
    ] == [
        ("high", "peering-dns-resolution-disabled", "123456789012", "us-east-1"),
        ("medium", "s3-egress-via-nat", "123456789012", "us-east-1"),
        ("medium", "s3-egress-via-nat", "210987654321", "eu-west-1"),
    ]
    filters = html[
        html.index('id="filters"') : html.index("</select>", html.index('data-key="region"'))
    ]
    assert '<option value="high">high (1)</option>' in filters
    assert '<option value="critical">' not in filters  # only severities that occur
    assert '<option value="s3-egress-via-nat">s3-egress-via-nat (2)</option>' in filters
    assert '<option value="eu-west-1">eu-west-1</option>' in filters
    assert 'id="f-new"' not in filters  # no comparison with a previous run here


def test_hostile_values_stay_text_in_the_map_and_attributes() -> None:
    report = hostile_report()
    out = render(report, topology=build_topology(map_estate(), report_of(report).findings))
    tags = Elements(out).tags
    assert [tag for tag, _ in tags].count("script") == 1
    assert [tag for tag, _ in tags].count("svg") >= 3  # the maps, plus the legend samples
    for tag, attrs in tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "xlink:href"):
                assert value is not None and value.startswith(("#", "https://")), value
    body = without_script(out)
    assert "<script" not in body.lower() and "<svg onload" not in body.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    # The escaped attribute values read back as the raw strings: escaped, not mangled.
    filters = {attrs["data-filter"] for _, attrs in tags if "data-filter" in attrs}
    assert HOSTILE_ID in filters and "vpc-a1" in filters and "pcx-out" in filters
    regions = {attrs.get("data-region") for tag, attrs in tags if tag == "article"}
    assert f'eu-west-1"{XSS_SCRIPT}' in regions
    rules = {attrs.get("data-rule") for tag, attrs in tags if tag == "article"}
    assert f"rule{XSS_ATTR}" in rules
    svg_text = out[out.index('<svg class="topo"') : out.rindex("</svg>")]
    assert "&#34;/&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in svg_text
    assert "vpc-&#34;&gt;&lt;svg onload=alert(2)&gt;" in svg_text


def test_map_draws_each_account_region_with_peers_and_legend() -> None:
    report = sample_report()
    topology = build_topology(map_estate(), report_of(report).findings)
    out = render(report, topology=topology)
    section = out[out.index('<section id="map">') : out.index('<section id="coverage">')]
    assert section.count('<svg class="topo"') == len(topology.groups) == 3
    assert section.count('class="node vpc') == 4
    assert section.count('class="node peer') == 3  # vpc-a2's peer in R2, both sides, and 3333
    assert section.count('<path class="edge') == 4  # pcx-in once, pcx-out in both groups, pcx-far
    assert "S3 gw" in section and ">NAT<" in section
    assert "not in this audit" in section and 'href="#map-' in section
    assert "pending-acceptance" in section
    assert "active peering" in section  # the legend
    assert 'href="#map"' in out  # table of contents


def test_map_section_without_a_snapshot(html: str) -> None:
    section = html[html.index('<section id="map">') : html.index('<section id="coverage">')]
    assert "No network map" in section and "<svg" not in section


def test_group_above_the_cap_is_a_table() -> None:
    report = sample_report()
    topology = build_topology(map_estate(), report_of(report).findings, max_vpcs=1)
    out = render(report, topology=topology)
    assert "more than the 1 a map shows legibly" in out
    assert out.count('<svg class="topo"') == 2  # the two single-VPC groups keep their map
    assert "vpc-table" in out


def test_account_regions_past_the_map_cap_are_listed_not_drawn() -> None:
    report = sample_report()
    topology = build_topology(map_estate(), report_of(report).findings, max_maps=1)
    out = render(report, topology=topology)
    section = out[out.index('<section id="map">') : out.index('<section id="coverage">')]
    assert section.count('<svg class="topo"') == 1
    assert "2 more account-regions, not drawn" in section
    rest = section[section.index("undrawn-table") :]
    assert rest.count('<tr id="map-') == 2  # the anchors peer stubs link to
    assert "a map for each of the 1 with the worst findings" in section


def test_change_since_last_run_badges_and_resolved_section() -> None:
    report = sample_report()
    for finding, change in zip(report["findings"], ["new", "unchanged", "new"], strict=True):
        finding["change"] = change
    report["baseline"] = {
        "source": "last.json",
        "generated_at": "2026-11-26T06:30:00Z",
        "new": 2,
        "unchanged": 1,
        "resolved": 1,
        "not_rechecked": 0,
    }
    report["resolved"] = [
        {
            "id": "1111222233334444",
            "rule_id": "peering-pending-acceptance",
            "severity": "medium",
            "title": f"Gone {XSS_SCRIPT}",
            "account_id": "123456789012",
            "region": "us-east-1",
            "resource_type": "vpc-peering-connection",
            "resource_id": "pcx-gone",
        }
    ]
    out = render(report)
    fix_first, findings = out.split('<section id="findings">')
    assert findings.count('<span class="badge-new"') == 2  # on the cards
    assert fix_first.count('<span class="badge-new"') == 2  # in the "fix first" table
    assert out.count('data-change="new"') == 2 and out.count('data-change="unchanged"') == 1
    assert 'id="f-new"' in out
    assert "2</strong> new" in out and "2026-11-26T06:30:00Z" in out
    resolved = out[out.index('<section id="resolved">') :]
    assert "Resolved since last run" in resolved and "pcx-gone" in resolved
    assert "Gone &lt;script&gt;" in resolved
    assert 'href="#resolved"' in out


def test_reports_without_a_comparison_show_no_change_markers(html: str) -> None:
    assert "badge-new" not in html.split("</style>")[1]
    assert 'id="resolved"' not in html and "Compared with" not in html
    report = sample_report()  # as build_report writes it without a baseline
    for finding in report["findings"]:
        finding["change"] = None
    report.update(baseline=None, resolved=[], rules_evaluated=[])
    out = render(report)
    assert "badge-new" not in out.split("</style>")[1]
    assert 'id="resolved"' not in out and "Compared with" not in out


def large_report(count: int, rules: int) -> dict[str, Any]:
    report = sample_report()
    template = report["findings"][1]
    findings = []
    for i in range(count):
        finding = copy.deepcopy(template)
        finding.update(
            id=f"{i:016x}",
            rule_id=f"rule-{i % rules:02d}",
            severity=SEVERITIES[i % 5],
            resource_id=f"rtb-{i:017x}",
            account_id=f"{100000000000 + i % 300}",
        )
        findings.append(finding)
    report["findings"] = findings
    report["summary"]["total"] = count
    return report


@pytest.mark.parametrize("rules", [8, 28])
def test_large_report_stays_bounded(rules: int) -> None:
    out = render(large_report(30_000, rules), rules={})
    articles = out.count("<article ")
    assert articles <= 2000  # the page budget; the rest are counted, and in the JSON
    assert len(out.encode()) < 6_000_000
    assert out.count('class="more-note"') == rules
    groups = re.findall(r'<details class="rule-group"[^>]*>', out)
    assert len(groups) == rules and not any(" open" in g for g in groups)  # collapsed
    assert '<details class="evidence">' in out and '<details class="evidence" open>' not in out


def test_group_limit_note_counts_what_is_left() -> None:
    out = render(large_report(450, 1), rules={})
    assert out.count("<article ") == 200
    assert "250 more findings of this rule not shown here" in out
    assert "the first 200 of 450" in out


# --- transit gateway hubs and path evidence ---

HUB_ACCOUNT = A  # tests/hub.py: owns tgw-1, the egress VPC and spoke1; spoke2 is in B


def path(destination: str, *hops: tuple[str, ...], ends_at: str) -> dict[str, Any]:
    """A path as auditor/paths.py writes it: hops of (table, route, target[, entered_by])."""
    rows = [
        dict(zip(("table", "route", "target", "entered_by"), hop, strict=False)) for hop in hops
    ]
    return {"destination": destination, "hops": rows, "ends_at": ends_at}


def hub_findings() -> list[dict[str, Any]]:
    """Findings of tests/hub.py's estate: one on an attachment, one on a hub route table with
    its forward and return paths, one on a spoke whose S3 traffic crosses the hub, one on a
    VPC table that has nothing to do with the hub."""
    base = {"account_id": HUB_ACCOUNT, "region": R1, "suppressed": False}
    base |= {"suppression_reason": None, "suppression_expires": None}
    return [
        {
            **base,
            "id": "1000000000000001",
            "rule_id": "tgw-attachment-pending-acceptance",
            "severity": "medium",
            "title": "Transit gateway attachment waiting for acceptance",
            "resource_type": "transit-gateway-attachment",
            "resource_id": "tgw-attach-spoke2",
            "vpc_id": "vpc-spoke2",
            "message": "The attachment of spoke2 to transit gateway tgw-1 waits for acceptance.",
            "remediation": "Accept it in the owner account.",
            "evidence": {"transit_gateway": "tgw-1", "state": "pendingAcceptance"},
        },
        {
            **base,
            "id": "1000000000000002",
            "rule_id": "tgw-missing-return-route",
            "severity": "high",
            "title": "Traffic reaches a VPC through a hub but has no route back",
            "resource_type": "route-table",
            "resource_id": "tgw-rtb-egress",
            "vpc_id": "vpc-egress",
            "message": "spoke2 reaches egress through transit gateway tgw-1; no way back.",
            "remediation": "Add a route back in tgw-rtb-egress.",
            "evidence": {
                "forward": path(
                    "10.100.255.0/28",
                    ("rtb-spoke2", "0.0.0.0/0", "tgw-1"),
                    ("tgw-rtb-spokes", "10.100.0.0/16", "tgw-attach-egress", "tgw-attach-spoke2"),
                    ("rtb-eg-tgw", "10.100.0.0/16", "local"),
                    ends_at="delivered vpc-egress",
                ),
                "return": [
                    path(
                        "10.2.1.0/24",
                        ("rtb-eg-tgw", "10.0.0.0/8", "tgw-1"),
                        ("tgw-rtb-egress", "no route", "", "tgw-attach-egress"),
                        ends_at="tgw-no-route tgw-rtb-egress",
                    )
                ],
                "source_table": "rtb-spoke2",
            },
        },
        {
            **base,
            "id": "1000000000000003",
            "rule_id": "s3-egress-via-nat",
            "severity": "medium",
            "title": "S3 traffic leaves through a NAT gateway",
            "resource_type": "route-table",
            "resource_id": "rtb-spoke1",
            "vpc_id": "vpc-spoke1",
            "message": "S3 traffic from rtb-spoke1 ends at the egress VPC's NAT gateway.",
            "remediation": "Add an S3 gateway endpoint to vpc-spoke1.",
            "evidence": {
                "paths": [
                    path(
                        "pl-63a5400a",
                        ("rtb-spoke1", "0.0.0.0/0", "tgw-1"),
                        ("tgw-rtb-spokes", "0.0.0.0/0", "tgw-attach-egress", "tgw-attach-spoke1"),
                        ("rtb-eg-tgw", "0.0.0.0/0", XSS_SCRIPT),
                        ends_at="nat-gateway nat-eg",
                    )
                ]
            },
        },
        {
            **base,
            "id": "1000000000000004",
            "rule_id": "route-dead-target",
            "severity": "high",
            "title": "Route points at a target that is gone or unusable",
            "resource_type": "route-table",
            "resource_id": "rtb-eg-pub",
            "vpc_id": "vpc-egress",
            "message": "Route table rtb-eg-pub sends 0.0.0.0/0 to igw-eg, which no longer exists.",
            "remediation": "Point the route at a working internet gateway.",
            "evidence": {"destination": "0.0.0.0/0", "target": "igw-eg"},
        },
    ]


def hub_report() -> dict[str, Any]:
    report = all_ok(sample_report())
    findings = hub_findings()
    report["findings"] = findings
    report["scope"]["accounts"] = [A, B]
    report["coverage"] = [
        {"account_id": account, "region": R1, "status": "ok", "error": None} for account in (A, B)
    ]
    report["summary"].update(
        total=len(findings),
        by_severity={"critical": 0, "high": 2, "medium": 2, "low": 0, "info": 0},
        by_rule={f["rule_id"]: 1 for f in findings},
        by_account={A: len(findings)},
        coverage={"ok": 2, "error": 0},
    )
    return report


def hub_snapshot() -> Snapshot:
    """tests/hub.py's estate, spoke2's attachment waiting for acceptance."""
    snap = snapshot(*hub_estate())
    for attachment in snap.transit_gateway_attachments:
        if attachment.id == "tgw-attach-spoke2":
            attachment.state = "pendingAcceptance"
    return snap


def test_hub_report_matches_schema(validator: jsonschema.Draft202012Validator) -> None:
    assert list(validator.iter_errors(hub_report())) == []


def test_path_hops_render_as_numbered_tables() -> None:
    out = render(hub_report())
    tables = re.findall(r'<table class="ev-table hops">.*?</table>', out, re.S)
    assert len(tables) == 3  # forward, return and the S3 path
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", tables[0])
    assert heads == ["Step", "Route table", "Route", "Target", "Entered by"]
    rows = re.findall(r"<tr>(.*?)</tr>", tables[0], re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    dash = '<span class="null">&mdash;</span>'
    assert cells == [
        ["1", "rtb-spoke2", "0.0.0.0/0", "tgw-1", dash],
        ["2", "tgw-rtb-spokes", "10.100.0.0/16", "tgw-attach-egress", "tgw-attach-spoke2"],
        ["3", "rtb-eg-tgw", "10.100.0.0/16", "local", dash],
    ]
    # No route: the empty target is a dash, not "(empty string)"; the path's end follows.
    back = re.findall(r"<tr>(.*?)</tr>", tables[1], re.S)[2]
    assert re.findall(r"<td[^>]*>(.*?)</td>", back) == [
        "2",
        "tgw-rtb-egress",
        "no route",
        dash,
        "tgw-attach-egress",
    ]
    ev = out[out.index('id="f-1000000000000002"') :]
    assert (
        ev.index("10.100.255.0/28")
        < ev.index('class="ev-table hops"')
        < ev.index("delivered vpc-egress")
    )
    # Values stay text.
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in tables[2]
    assert "'table':" not in out and "&#39;table&#39;" not in out  # never a dict's repr


def test_hops_with_unknown_keys_keep_them_in_extra_columns() -> None:
    report = hub_report()
    hops = report["findings"][2]["evidence"]["paths"][0]["hops"]
    hops[0]["alternatives"] = ["vpce-1", "nat-2"]
    out = render(report)
    table = re.findall(r'<table class="ev-table hops">.*?</table>', out, re.S)[2]
    assert re.findall(r"<th[^>]*>([^<]*)</th>", table)[-1] == "alternatives"
    assert "<code>vpce-1</code>, <code>nat-2</code>" in table


def test_map_draws_transit_gateway_hubs_selectable_like_peerings() -> None:
    report = hub_report()
    topology = build_topology(hub_snapshot(), report_of(report).findings)
    out = render(report, topology=topology)
    section = out[out.index('<section id="map">') : out.index('<section id="coverage">')]
    assert section.count('class="node hub') == 2  # in A's map and in B's, owned by A
    assert section.count('<path class="edge hub-edge') == 3
    assert section.count('class="marker hub-marker') == 3
    assert "transit gateway (hub)" in section  # the legend
    assert "1 transit gateway &middot;" in section  # the map headers
    assert f"owner {A} \u00b7 shared" in section
    tags = Elements(section).tags
    filters = [attrs["data-filter"] for _, attrs in tags if "data-filter" in attrs]
    for target in ("tgw-1", "tgw-attach-egress", "tgw-attach-spoke1", "tgw-attach-spoke2"):
        assert target in filters
    # spoke2's attachment is pending (dotted) but its finding, medium, colours it (dashed); the
    # hub nodes carry the hub route table's high finding.
    pending = next(
        attrs["class"]
        for tag, attrs in tags
        if tag == "path"
        and "hub-edge" in (attrs.get("class") or "")
        and "c-medium" in attrs["class"]
    )
    assert "l-dashed" in pending
    hubs = [
        attrs["class"]
        for tag, attrs in tags
        if tag == "g" and "hub" in (attrs.get("class") or "").split()
    ]
    assert hubs == ["node hub sev-high", "node hub sev-high"]
    assert section.count('class="ev-table peer-table attachment-table"') == 2
    assert '<span class="status-pill st-pending">pendingAcceptance</span>' in section
    # The filter script is the same: the CSP hash still holds.
    assert our_script(out) == our_script(render(sample_report()))


def test_peering_maps_carry_no_hub_markup() -> None:
    report = sample_report()
    out = render(report, topology=build_topology(map_estate(), report_of(report).findings))
    section = out[out.index('<section id="map">') : out.index('<section id="coverage">')]
    for text in ("hub", "transit gateway", "attachment"):
        assert text not in section
