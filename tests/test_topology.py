"""The network map's layout model: grouping, peer stubs, edge colours, the cap, determinism."""

from __future__ import annotations

import copy
import hashlib
import itertools
import random
from dataclasses import replace
from typing import Any

import pytest

from auditor.model import (
    Endpoint,
    Finding,
    InternetGateway,
    NatGateway,
    Snapshot,
    TransitGatewayAttachment,
    Vpc,
)
from auditor.report.topology import Edge, Group, HubEdge, Node, TopologyMap, build_topology
from tests.builders import R1, R2, A, B, peering, s3_endpoint, side, snapshot, vpc
from tests.hub import attachment, hub_estate, spoke, tgw
from tests.reports import finding_of

C = "333333333333"


def finding(resource_id: str, severity: str, *, vpc_id: str | None = None, **extra: Any) -> Finding:
    """A finding on a VPC or a peering (by its id), in no region unless `extra` says."""
    resource_type = "vpc-peering-connection" if resource_id.startswith("pcx-") else "vpc"
    return finding_of(
        {
            "id": hashlib.sha256(f"{resource_id}|{severity}".encode()).hexdigest()[:16],
            "rule_id": "some-rule",
            "severity": severity,
            "title": "",
            "account_id": "",
            "region": "",
            "resource_type": resource_type,
            "resource_id": resource_id,
            "vpc_id": vpc_id
            if vpc_id is not None
            else (resource_id if resource_type == "vpc" else None),
            "message": "",
            "remediation": "",
            "suppressed": False,
            **extra,
        }
    )


def estate() -> Snapshot:
    return snapshot(
        vpc("vpc-hub", "10.0.0.0/16", tags={"Name": "hub"}),
        vpc("vpc-app", "10.1.0.0/16", "10.2.0.0/16", tags={"Name": "app"}),
        vpc("vpc-idle", "10.3.0.0/16"),
        Vpc("vpc-default", A, R1, ["172.31.0.0/16"], is_default=True),
        vpc("vpc-eu", "10.50.0.0/16", region=R2, tags={"Name": "eu"}),
        Vpc("vpc-default-eu", A, R2, ["172.31.0.0/16"], is_default=True),
        vpc("vpc-b", "10.9.0.0/16", account=B, tags={"Name": "partner"}),
        s3_endpoint("vpce-s3", "vpc-hub", "rtb-1"),
        Endpoint("vpce-ddb", A, R1, "vpc-hub", "Gateway", "com.amazonaws.us-east-1.dynamodb"),
        *(
            Endpoint(f"vpce-if{i}", A, R1, "vpc-app", "Interface", "com.amazonaws.ssm")
            for i in range(3)
        ),
        Endpoint("vpce-gone", A, R1, "vpc-app", "Interface", "com.amazonaws.sts", state="deleted"),
        NatGateway("nat-1", A, R1, "vpc-hub"),
        NatGateway("nat-2", A, R1, "vpc-hub"),
        NatGateway("nat-old", A, R1, "vpc-app", state="deleted"),
        NatGateway("nat-3", A, R1, "vpc-app"),
        InternetGateway("igw-1", A, R1, ["vpc-hub"]),
        peering("pcx-inner", side("vpc-hub"), side("vpc-app")),
        peering("pcx-region", side("vpc-hub"), side("vpc-eu", region=R2)),
        peering("pcx-partner", side("vpc-b", account=B), side("vpc-app"), "pending-acceptance"),
        peering("pcx-stranger", side("vpc-app"), side("vpc-x", account=C)),
        peering("pcx-stranger2", side("vpc-hub"), side("vpc-x", account=C), "deleted"),
    )


FINDINGS = [
    finding("pcx-inner", "high", vpc_id="vpc-hub"),
    finding("pcx-inner", "low", vpc_id="vpc-app"),
    finding("pcx-region", "low", vpc_id="vpc-hub"),
    finding("pcx-stranger", "critical", vpc_id="vpc-app"),
    finding("pcx-partner", "medium", vpc_id="vpc-app", suppressed=True),
    finding("vpc-app", "medium"),
    finding("vpc-app", "low"),
    finding("vpc-default-eu", "info"),
]


@pytest.fixture(scope="module")
def topo() -> TopologyMap:
    return build_topology(estate(), FINDINGS)


def group(topo: TopologyMap, account: str, region: str) -> Group:
    return next(g for g in topo.groups if (g.account_id, g.region) == (account, region))


def node(g: Group, key: str) -> Node:
    return next(n for n in g.nodes if n.key == key)


def edge(g: Group, peering_id: str) -> Edge:
    return next(e for e in g.edges if e.peering_id == peering_id)


def test_one_group_per_account_region_in_order(topo: TopologyMap) -> None:
    assert [(g.anchor, g.account_id, g.region) for g in topo.groups] == [
        ("map-1", A, R2),
        ("map-2", A, R1),
        ("map-3", B, R1),
    ]
    assert topo.vpc_count == 7
    assert topo.peering_count == 5
    home = group(topo, A, R1)
    assert home.vpc_count == 4
    assert {n.key for n in home.vpc_nodes} == {"vpc-hub", "vpc-app", "vpc-idle"}


def test_idle_default_vpcs_are_counted_not_drawn(topo: TopologyMap) -> None:
    assert group(topo, A, R1).collapsed_defaults == 1  # no finding, no peering
    eu = group(topo, A, R2)
    assert eu.collapsed_defaults == 0  # it has a finding: drawn
    assert node(eu, "vpc-default-eu").is_default
    assert node(eu, "vpc-default-eu").subtitle == "default VPC"


def test_peerings_leaving_the_group_end_at_peer_stubs(topo: TopologyMap) -> None:
    home = group(topo, A, R1)
    stubs = {n.key: n for n in home.peer_nodes}
    assert set(stubs) == {
        f"peer:{A}:{R2}:vpc-eu",
        f"peer:{B}:{R1}:vpc-b",
        f"peer:{C}:{R1}:vpc-x",  # one stub for the two peerings to the same stranger
    }
    eu = stubs[f"peer:{A}:{R2}:vpc-eu"]
    assert (eu.title, eu.audited, eu.link) == ("eu", True, "map-1")
    assert eu.lines == ("vpc-eu", f"{A} \u00b7 {R2}", "audited: select to see its map")
    stranger = stubs[f"peer:{C}:{R1}:vpc-x"]
    assert (stranger.title, stranger.audited, stranger.link) == ("vpc-x", False, None)
    assert stranger.lines[-1] == "not in this audit"
    # The far group draws the same peering back to a stub of this side.
    assert {n.key for n in group(topo, A, R2).peer_nodes} == {f"peer:{A}:{R1}:vpc-hub"}
    assert edge(group(topo, B, R1), "pcx-partner").target == f"peer:{A}:{R1}:vpc-app"


def test_a_peering_inside_a_group_is_one_edge_between_its_vpcs(topo: TopologyMap) -> None:
    home = group(topo, A, R1)
    inner = [e for e in home.edges if e.peering_id == "pcx-inner"]
    assert len(inner) == 1
    assert {inner[0].source, inner[0].target} == {"vpc-hub", "vpc-app"}
    assert [e.number for e in home.edges] == list(range(1, len(home.edges) + 1))
    assert home.peering_count == 5


@pytest.mark.parametrize(
    ("peering_id", "colour", "line", "severity", "count"),
    [
        ("pcx-inner", "high", "dashed", "high", 2),  # worst finding >= medium: its colour
        ("pcx-region", "status-active", "solid", "low", 1),  # low only: status colour
        ("pcx-stranger", "critical", "dashed", "critical", 1),
        ("pcx-partner", "status-pending", "dotted", None, 0),  # the finding is suppressed
        ("pcx-stranger2", "status-other", "dotted", None, 0),
    ],
)
def test_edge_colour_follows_findings_then_status(
    topo: TopologyMap, peering_id: str, colour: str, line: str, severity: str | None, count: int
) -> None:
    found = edge(group(topo, A, R1), peering_id)
    assert (found.colour, found.line, found.severity, found.findings) == (
        colour,
        line,
        severity,
        count,
    )


def test_marker_names_a_status_that_is_not_active(topo: TopologyMap) -> None:
    home = group(topo, A, R1)
    assert edge(home, "pcx-inner").marker_text == str(edge(home, "pcx-inner").number)
    pending = edge(home, "pcx-partner")
    assert pending.marker_text in (str(pending.number), f"{pending.number} pending-acceptance")
    assert pending.status_class == "pending"
    assert "pcx-partner (pending-acceptance)" in pending.tooltip
    assert "partner (vpc-b) (account 222222222222, us-east-1)" in pending.target_label + (
        pending.source_label
    )


def test_vpc_boxes_show_endpoints_nat_and_findings(topo: TopologyMap) -> None:
    home = group(topo, A, R1)
    hub, app, idle = node(home, "vpc-hub"), node(home, "vpc-app"), node(home, "vpc-idle")
    assert [c.text for c in hub.chips] == ["DynamoDB gw", "S3 gw", "NAT \u00d72", "IGW"]
    assert [c.text for c in app.chips] == ["3 interface endpoints", "NAT"]
    assert idle.chips == ()
    assert (hub.title, hub.subtitle, hub.detail) == ("hub", "vpc-hub", "10.0.0.0/16")
    assert app.detail == "10.1.0.0/16 +1"
    assert (idle.title, idle.subtitle) == ("vpc-idle", "no Name tag")
    # Peering findings belong to edges; the VPC's own findings to the box.
    assert (app.findings, app.severity, app.severity_counts) == (
        2,
        "medium",
        (("medium", 1), ("low", 1)),
    )
    assert (hub.findings, hub.severity) == (0, None)
    for chip in hub.chips:  # chips stay inside their box
        assert hub.x < chip.x and chip.x + chip.width < hub.x + hub.width
        assert hub.y < chip.y and chip.y + 18 < hub.y + hub.height


def test_boxes_do_not_overlap_and_edges_touch_their_boxes(topo: TopologyMap) -> None:
    for g in topo.groups:
        assert g.width > 0 and g.height > 0
        for a, b in itertools.combinations(g.nodes, 2):
            apart = (
                a.x + a.width <= b.x
                or b.x + b.width <= a.x
                or a.y + a.height <= b.y
                or b.y + b.height <= a.y
            )
            assert apart, (a.key, b.key)
        for n in g.nodes:
            assert n.x >= 0 and n.x + n.width <= g.width and n.y >= 0 and n.y + n.height <= g.height
        boxes = {n.key: n for n in g.nodes}
        for e in g.edges:
            for (x, y), key in (((e.x1, e.y1), e.source), ((e.x2, e.y2), e.target)):
                box = boxes[key]
                on_x = abs(x - box.x) < 0.2 or abs(x - box.x - box.width) < 0.2
                on_y = abs(y - box.y) < 0.2 or abs(y - box.y - box.height) < 0.2
                inside = (
                    box.x - 0.2 <= x <= box.x + box.width + 0.2
                    and box.y - 0.2 <= y <= box.y + box.height + 0.2
                )
                assert inside and (on_x or on_y), (e.peering_id, key)
            assert 0 <= e.mx <= g.width and 0 <= e.my <= g.height


def test_peered_vpcs_are_placed_next_to_each_other() -> None:
    spokes = [vpc(f"vpc-s{i}", f"10.{i}.0.0/16") for i in range(8)]
    lonely = [vpc(f"vpc-l{i}", f"10.{100 + i}.0.0/16") for i in range(7)]
    links = [peering(f"pcx-{i}", side("vpc-hub"), side(f"vpc-s{i}")) for i in range(8)]
    topo = build_topology(snapshot(vpc("vpc-hub", "10.200.0.0/16"), *spokes, *lonely, *links), [])
    (g,) = topo.groups
    boxes = {n.key: n for n in g.nodes}
    hub = boxes["vpc-hub"]
    pitch_x, pitch_y = hub.width + 48, hub.height + 56
    for i in range(8):
        spoke = boxes[f"vpc-s{i}"]
        assert abs(spoke.x - hub.x) <= pitch_x and abs(spoke.y - hub.y) <= pitch_y  # a neighbour
    assert hub.y > 0 and hub.x > 0  # the hub is not in a corner


def test_duplicate_views_of_one_peering_are_merged() -> None:
    seen_twice = [
        peering("pcx-1", side("vpc-a"), side("vpc-b", account=B)),
        peering("pcx-1", side("vpc-a"), side("vpc-b", account=B)),
    ]
    topo = build_topology(
        snapshot(vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.1.0.0/16", account=B), *seen_twice),
        [],
    )
    assert topo.peering_count == 1
    assert [len(g.edges) for g in topo.groups] == [1, 1]


def test_group_above_the_cap_becomes_rows_worst_first() -> None:
    vpcs = [vpc(f"vpc-{i:02d}", f"10.{i}.0.0/16", tags={"Name": f"team-{i:02d}"}) for i in range(5)]
    findings = [finding("vpc-03", "high"), finding("vpc-01", "low"), finding("vpc-01", "low")]
    topo = build_topology(
        snapshot(*vpcs, peering("pcx-1", side("vpc-00"), side("vpc-01"))), findings, max_vpcs=4
    )
    (g,) = topo.groups
    assert g.too_large and g.nodes == () and g.edges == ()
    assert [r.vpc_id for r in g.rows] == ["vpc-03", "vpc-01", "vpc-00", "vpc-02", "vpc-04"]
    first, second, third = g.rows[:3]
    assert (first.findings, first.severity, first.name) == (1, "high", "team-03")
    assert (second.findings, second.peerings, third.peerings) == (2, 1, 1)
    assert topo.max_vpcs == 4
    assert not build_topology(snapshot(*vpcs), [], max_vpcs=5).groups[0].too_large


def test_layout_is_deterministic_whatever_the_input_order() -> None:
    first = build_topology(estate(), FINDINGS)
    shuffled = copy.deepcopy(estate())
    rng = random.Random(7)
    for name in ("vpcs", "peerings", "endpoints", "nat_gateways"):
        rng.shuffle(getattr(shuffled, name))
    findings = list(FINDINGS)
    rng.shuffle(findings)
    assert build_topology(shuffled, findings) == first
    assert build_topology(estate(), FINDINGS) == first


def test_labels_are_plain_text_left_for_the_template_to_escape() -> None:
    evil = '"/><script>alert(1)</script>'
    topo = build_topology(snapshot(vpc("vpc-1", "10.0.0.0/16", tags={"Name": evil})), [])
    (n,) = topo.groups[0].nodes
    assert n.title == evil[:24] + "\u2026"  # shortened, never escaped or marked up here
    assert evil in n.tooltip


def test_empty_snapshot_has_no_groups() -> None:
    topo = build_topology(Snapshot(), [])
    assert topo.groups == () and topo.vpc_count == 0 and topo.peering_count == 0


def test_many_peers_elsewhere_also_turn_the_map_into_a_table() -> None:
    strangers = [peering(f"pcx-{i}", side("vpc-1"), side(f"vpc-x{i}", account=C)) for i in range(5)]
    topo = build_topology(snapshot(vpc("vpc-1", "10.0.0.0/16"), *strangers), [], max_vpcs=2)
    (g,) = topo.groups
    assert g.too_large and [(r.vpc_id, r.peerings) for r in g.rows] == [("vpc-1", 5)]
    assert (
        not build_topology(snapshot(vpc("vpc-1", "10.0.0.0/16"), *strangers), [], max_vpcs=3)
        .groups[0]
        .too_large
    )


def test_past_the_map_cap_the_worst_account_regions_are_drawn_the_rest_listed() -> None:
    """An organisation has thousands of account-regions: a page draws max_maps of them, those
    with the worst findings, and lists the others (anchors kept, so peer links still land)."""
    regions = ["r-a", "r-b", "r-c", "r-d"]
    vpcs = [vpc(f"vpc-{r}", f"10.{i}.0.0/16", region=r) for i, r in enumerate(regions)]
    findings = [
        finding("vpc-r-b", "low"),
        finding("vpc-r-c", "high"),
        finding("vpc-r-d", "low"),
        finding("vpc-r-d", "low"),
    ]
    topo = build_topology(snapshot(*vpcs), findings, max_maps=2)
    assert [g.region for g in topo.drawn] == ["r-c", "r-d"]  # high first, then 2 lows over 1
    assert [g.region for g in topo.undrawn] == ["r-a", "r-b"]
    assert all(g.nodes == () and g.rows == () for g in topo.undrawn)
    assert [g.anchor for g in topo.groups] == ["map-1", "map-2", "map-3", "map-4"]
    assert (topo.undrawn[1].findings, topo.undrawn[1].severity) == (1, "low")
    assert len(build_topology(snapshot(*vpcs), findings, max_maps=4).drawn) == 4


# --- transit gateways ---


def hub_snapshot(**states: str) -> Snapshot:
    """tests/hub.py's estate (tgw-1 owned by A; egress and spoke1 in A, spoke2 in B), with
    attachment states overridden by attachment id."""
    snap = snapshot(*hub_estate())
    for a in snap.transit_gateway_attachments:
        a.state = states.get(a.id, a.state)
    return snap


def hub_finding(resource_id: str, severity: str, vpc_id: str | None = None) -> Finding:
    return finding(resource_id, severity, vpc_id=vpc_id, region=R1, resource_type="transit")


def hub_edge(g: Group, attachment_id: str) -> HubEdge:
    return next(e for e in g.hub_edges if e.attachment_id == attachment_id)


def assert_drawn_apart(g: Group) -> None:
    """Boxes do not overlap, stay on the canvas, and every line starts and ends on its boxes."""
    for a, b in itertools.combinations(g.nodes, 2):
        assert (
            a.x + a.width <= b.x
            or b.x + b.width <= a.x
            or a.y + a.height <= b.y
            or b.y + b.height <= a.y
        ), (a.key, b.key)
    boxes = {n.key: n for n in g.nodes}
    for line in [*g.edges, *g.hub_edges]:
        for (x, y), key in (((line.x1, line.y1), line.source), ((line.x2, line.y2), line.target)):
            box = boxes[key]
            on_x = abs(x - box.x) < 0.2 or abs(x - box.x - box.width) < 0.2
            on_y = abs(y - box.y) < 0.2 or abs(y - box.y - box.height) < 0.2
            assert on_x or on_y, key
        assert 0 <= line.mx <= g.width and 0 <= line.my <= g.height


def test_each_account_region_draws_the_hub_its_vpcs_attach_to() -> None:
    topo = build_topology(hub_snapshot(), [])
    assert topo.transit_gateway_count == 1
    home, partner = group(topo, A, R1), group(topo, B, R1)
    for g, attached in ((home, {"vpc-egress", "vpc-spoke1"}), (partner, {"vpc-spoke2"})):
        (hub,) = g.hub_nodes
        assert (hub.key, hub.kind, hub.transit_gateway_id, hub.title) == (
            "hub:tgw-1",
            "hub",
            "tgw-1",
            "tgw-1",
        )
        assert g.transit_gateway_count == 1
        # One line per attached VPC of the group, from its box to the hub.
        assert sorted(e.source for e in g.hub_edges) == sorted(attached)
        assert {e.target for e in g.hub_edges} == {"hub:tgw-1"}
        assert all(e.status_class == "active" and e.line == "solid" for e in g.hub_edges)
        assert_drawn_apart(g)
    # Owner and attachment count; the owner is another account for B's map, still drawn there.
    assert node(home, "hub:tgw-1").lines == ("transit gateway", f"owner {A}", "3 attachments")
    assert node(partner, "hub:tgw-1").lines[1] == f"owner {A} \u00b7 shared"
    assert "shared with this one" in node(partner, "hub:tgw-1").tooltip
    edge_ = hub_edge(partner, "tgw-attach-spoke2")
    assert (edge_.number, edge_.source_label, edge_.target_label) == (
        1,
        "spoke2 (vpc-spoke2)",
        "tgw-1",
    )
    # Hubs sit next to their VPCs.
    hub = node(home, "hub:tgw-1")
    for vpc_id in ("vpc-egress", "vpc-spoke1"):
        spoke = node(home, vpc_id)
        assert abs(spoke.x - hub.x) <= hub.width + 48 and abs(spoke.y - hub.y) <= spoke.height + 56


def test_attachment_lines_are_numbered_after_the_peerings() -> None:
    snap = hub_snapshot()
    snap.peerings.append(peering("pcx-1", side("vpc-spoke1"), side("vpc-egress")))
    home = group(build_topology(snap, []), A, R1)
    assert [e.number for e in home.edges] == [1]
    assert [(e.number, e.attachment_id) for e in home.hub_edges] == [
        (2, "tgw-attach-egress"),
        (3, "tgw-attach-spoke1"),
    ]
    assert home.peering_count == 1
    assert_drawn_apart(home)


@pytest.mark.parametrize(
    ("state", "status_class", "colour"),
    [
        ("pendingAcceptance", "pending", "status-pending"),
        ("deleted", "other", "status-other"),
        ("failed", "other", "status-other"),
        ("modifying", "active", "status-active"),
    ],
)
def test_attachment_state_shows_on_its_line_like_a_peering_status(
    state: str, status_class: str, colour: str
) -> None:
    topo = build_topology(hub_snapshot(**{"tgw-attach-spoke2": state}), [])
    line = hub_edge(group(topo, B, R1), "tgw-attach-spoke2")
    assert (line.state, line.status_class, line.colour) == (state, status_class, colour)
    assert line.line == ("solid" if status_class == "active" else "dotted")
    assert f"tgw-attach-spoke2 ({state})" in line.tooltip
    assert line.marker_text in (str(line.number), f"{line.number} {state}")


def test_gone_attachments_are_not_counted_on_the_hub() -> None:
    topo = build_topology(hub_snapshot(**{"tgw-attach-spoke2": "deleted"}), [])
    assert node(group(topo, A, R1), "hub:tgw-1").lines[-1] == "2 attachments"
    assert len(group(topo, B, R1).hub_edges) == 1  # still drawn, as a gone peering is


def test_findings_on_the_hub_colour_its_lines_and_node_not_the_vpc_boxes() -> None:
    findings = [
        hub_finding("tgw-attach-spoke1", "medium", vpc_id="vpc-spoke1"),
        hub_finding("tgw-attach-spoke1", "low", vpc_id="vpc-spoke1"),
        hub_finding("tgw-attach-egress", "low", vpc_id="vpc-egress"),
        hub_finding("tgw-rtb-egress", "high", vpc_id="vpc-egress"),  # a hub route table
        hub_finding("tgw-1", "medium"),  # the transit gateway
        replace(hub_finding("tgw-attach-spoke2", "critical", vpc_id="vpc-spoke2"), suppressed=True),
        finding("rtb-spoke1", "medium", vpc_id="vpc-spoke1", region=R1),  # a VPC's own table
    ]
    topo = build_topology(hub_snapshot(), findings)
    home, partner = group(topo, A, R1), group(topo, B, R1)
    spoke1 = hub_edge(home, "tgw-attach-spoke1")
    assert (spoke1.colour, spoke1.line, spoke1.severity, spoke1.findings) == (
        "medium",
        "dashed",
        "medium",
        2,
    )
    egress = hub_edge(home, "tgw-attach-egress")
    assert (egress.colour, egress.line, egress.findings) == ("status-active", "solid", 1)
    assert hub_edge(partner, "tgw-attach-spoke2").findings == 0  # suppressed
    for g in (home, partner):  # the gateway's and its route tables' findings, in every map
        hub = node(g, "hub:tgw-1")
        assert (hub.findings, hub.severity, hub.severity_counts) == (
            2,
            "high",
            (("high", 1), ("medium", 1)),
        )
    assert (node(home, "vpc-spoke1").findings, node(home, "vpc-egress").findings) == (1, 0)
    assert (home.findings, home.severity) == (6, "high")
    assert (partner.findings, partner.severity) == (2, "high")


def test_findings_on_attachments_not_drawn_go_to_the_hub_node() -> None:
    """A VPN attachment, or a VPC attachment whose VPC is not in the audit, has no line."""
    snap = hub_snapshot()
    snap.transit_gateway_attachments.append(
        TransitGatewayAttachment("tgw-attach-vpn", A, R1, "tgw-1", "vpn", "vpn-1")
    )
    snap.transit_gateway_attachments.append(attachment("tgw-attach-far", "vpc-far", owner=C))
    findings = [hub_finding("tgw-attach-vpn", "high"), hub_finding("tgw-attach-far", "low")]
    home = group(build_topology(snap, findings), A, R1)
    hub = node(home, "hub:tgw-1")
    assert (hub.findings, hub.severity, hub.lines[-1]) == (2, "high", "5 attachments")
    assert "(4 vpc, 1 vpn)" in hub.tooltip
    assert len(home.hub_edges) == 2


def test_a_hub_owned_outside_the_audit_is_drawn_with_its_owner() -> None:
    """Only the spoke's account is audited: the gateway itself was not read; its attachment
    names the owner."""
    snap = snapshot(*spoke("spoke2", "10.2.0.0/16", B))
    home = group(build_topology(snap, []), B, R1)
    (hub,) = home.hub_nodes
    assert (hub.title, hub.account_id, hub.audited) == ("tgw-1", A, False)
    assert hub.lines == ("transit gateway", f"owner {A} \u00b7 shared", "1 attachment")
    assert hub.tooltip.endswith("not read by this audit: drawn from its attachments")


def test_a_named_hub_shows_its_name_and_id() -> None:
    snap = hub_snapshot()
    snap.transit_gateways[0].tags = {"Name": "core-hub"}
    hub = node(group(build_topology(snap, []), A, R1), "hub:tgw-1")
    assert (hub.title, hub.lines[0]) == ("core-hub", "tgw-1")
    assert hub_edge(group(build_topology(snap, []), B, R1), "tgw-attach-spoke2").target_label == (
        "core-hub (tgw-1)"
    )


def test_an_attached_default_vpc_is_drawn() -> None:
    snap = snapshot(
        Vpc("vpc-default", A, R1, ["172.31.0.0/16"], is_default=True),
        tgw(),
        attachment("tgw-attach-d", "vpc-default"),
    )
    (g,) = build_topology(snap, []).groups
    assert g.collapsed_defaults == 0
    assert [n.key for n in g.vpc_nodes] == ["vpc-default"] and len(g.hub_edges) == 1


def test_estates_without_hubs_are_drawn_as_before(topo: TopologyMap) -> None:
    """A transit gateway no audited VPC is attached to changes nothing on the map."""
    snap = estate()
    snap.transit_gateways.append(tgw("tgw-elsewhere"))
    snap.transit_gateway_attachments.append(
        attachment("tgw-attach-x", "vpc-not-audited", tgw_id="tgw-elsewhere")
    )
    assert build_topology(snap, FINDINGS) == topo
    assert topo.transit_gateway_count == 0
    assert all(g.hub_nodes == () and g.hub_edges == () for g in topo.groups)
    assert all(g.transit_gateway_count == 0 for g in topo.groups)


def test_hub_layout_is_deterministic_whatever_the_input_order() -> None:
    findings = [hub_finding("tgw-attach-spoke1", "high", vpc_id="vpc-spoke1")]
    first = build_topology(hub_snapshot(), findings)
    shuffled = hub_snapshot()
    rng = random.Random(3)
    for name in ("vpcs", "transit_gateway_attachments", "transit_gateway_route_tables"):
        rng.shuffle(getattr(shuffled, name))
    # A second view of the same attachment (seen from the VPC owner's account) is merged.
    shuffled.transit_gateway_attachments.append(
        copy.deepcopy(shuffled.transit_gateway_attachments[0])
    )
    assert build_topology(shuffled, findings) == first


def test_a_hub_with_many_spokes_stays_legible() -> None:
    spokes = [item for i in range(9) for item in spoke(f"s{i}", f"10.{i + 1}.0.0/16")]
    topo = build_topology(snapshot(tgw(), *spokes), [])
    (g,) = topo.groups
    assert len(g.hub_edges) == 9 and len(g.hub_nodes) == 1
    assert [e.number for e in g.hub_edges] == list(range(1, 10))
    assert_drawn_apart(g)
    hub = node(g, "hub:tgw-1")
    assert hub.x > 16 and hub.y > 16  # in the middle of its spokes, not in a corner


def test_hubs_count_towards_the_map_cap_and_show_in_table_rows() -> None:
    snap = snapshot(tgw(), *spoke("s1", "10.1.0.0/16"), *spoke("s2", "10.2.0.0/16"))
    for tgw_id in ("tgw-3", "tgw-2"):
        snap.transit_gateways.append(tgw(tgw_id))
        snap.transit_gateway_attachments.append(
            attachment(f"tgw-attach-{tgw_id[4:]}", "vpc-s1", tgw_id=tgw_id)
        )
    (g,) = build_topology(snap, [], max_vpcs=2).groups  # 2 VPCs + 3 hubs: over twice the cap
    assert g.too_large and g.hub_edges == () and g.transit_gateway_count == 3
    assert [(r.vpc_id, r.features) for r in g.rows] == [
        ("vpc-s1", ("TGW tgw-1", "TGW tgw-2", "TGW tgw-3")),
        ("vpc-s2", ("TGW tgw-1",)),
    ]
    (g,) = build_topology(snap, [], max_vpcs=3).groups
    assert not g.too_large and len(g.hub_nodes) == 3 and len(g.hub_edges) == 4
    assert_drawn_apart(g)


def test_hub_findings_rank_account_regions_for_the_map_cap() -> None:
    findings = [hub_finding("tgw-attach-spoke2", "high", vpc_id="vpc-spoke2")]
    topo = build_topology(hub_snapshot(), findings, max_maps=1)
    assert [(g.account_id, g.findings) for g in topo.drawn] == [(B, 1)]
