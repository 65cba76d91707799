"""Rules through transit gateway hubs, on the hand-built hub-and-spoke estate of tests/hub.py."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.model import (
    Endpoint,
    Finding,
    RouteTableAssociation,
    Severity,
    Snapshot,
    TransitGatewayAttachment,
)
from auditor.rules import run_rules
from tests.builders import R1, S3_PL, A, B, route, snapshot, subnet, table, vpc
from tests.hub import (
    AZ_A,
    AZ_B,
    attachment,
    hub_estate,
    hub_route,
    hub_table,
    spoke,
    tgw,
    with_inspection,
)


def cmds(finding: Finding) -> str:
    """The finding's remediation commands, as one text to search."""
    return "\n".join(finding.remediation_commands)


def findings(snap: Snapshot, rule_id: str) -> list[Finding]:
    return run_rules(snap, only=[rule_id])


# --- S3 and DynamoDB through the hub's egress VPC ---


def test_spoke_s3_traffic_through_the_hub_to_the_egress_nat_is_reported_on_the_spoke() -> None:
    (finding,) = findings(snapshot(*hub_estate()), "s3-egress-via-nat")
    assert finding.resource_id == "rtb-spoke1"
    assert finding.vpc_id == "vpc-spoke1"
    assert "transit gateway tgw-1 to NAT gateway nat-eg in VPC egress (vpc-egress)" in (
        finding.message
    )
    assert finding.evidence["nat_gateways"] == ["nat-eg"]
    (path,) = finding.evidence["paths"]  # type: ignore[misc]
    assert path["destination"] == "52.216.0.0/15, 3.5.0.0/19"  # both S3 ranges, one way
    assert [hop["table"] for hop in path["hops"]] == ["rtb-spoke1", "tgw-rtb-spokes", "rtb-eg-tgw"]
    # The fix is in the spoke: a gateway endpoint there is free and removes both charges.
    assert "create-vpc-endpoint --vpc-endpoint-type Gateway --vpc-id vpc-spoke1" in cmds(finding)
    assert "--route-table-ids rtb-spoke1" in cmds(finding)


def test_dynamodb_follows_the_hub_too() -> None:
    # Spoke 2's endpoint is S3's only: its DynamoDB traffic takes the hub as well.
    reported = findings(snapshot(*hub_estate()), "dynamodb-egress-via-nat")
    assert [f.resource_id for f in reported] == ["rtb-spoke1", "rtb-spoke2"]
    assert all(f.evidence["nat_gateways"] == ["nat-eg"] for f in reported)


def test_spoke_with_its_own_gateway_endpoint_is_quiet() -> None:
    reported = {f.resource_id for f in findings(snapshot(*hub_estate()), "s3-egress-via-nat")}
    assert "rtb-spoke2" not in reported


def test_egress_vpc_attachment_table_is_never_told_to_add_a_gateway_endpoint() -> None:
    # A gateway endpoint cannot be used from outside its VPC, and its route would cut every
    # spoke's S3 off: the attachment subnets' table must stay quiet.
    reported = {f.resource_id for f in run_rules(snapshot(*hub_estate()))}
    assert "rtb-eg-tgw" not in reported


def test_egress_vpc_table_shared_with_workloads_is_reported_without_breaking_the_spokes() -> None:
    # Its own workloads pay NAT for S3, but an endpoint route in this table would also catch
    # the spokes' S3 traffic arriving by the attachment subnet: the fix splits the table first.
    items = hub_estate()
    items.append(subnet("subnet-eg-app", "vpc-egress", "10.100.1.0/24", availability_zone=AZ_A))
    eg_table = next(i for i in items if getattr(i, "id", "") == "rtb-eg-tgw")
    eg_table.associations.append(RouteTableAssociation("rtbassoc-app", subnet_id="subnet-eg-app"))
    (finding,) = [
        f for f in findings(snapshot(*items), "s3-egress-via-nat") if f.resource_id == "rtb-eg-tgw"
    ]
    assert [s["id"] for s in finding.evidence["subnets"]] == ["subnet-eg-app"]  # type: ignore[union-attr]
    assert finding.evidence["carries_other_vpcs_traffic_via"] == ["subnet-eg-tgw"]
    assert "--route-table-ids rtb-eg-tgw" not in finding.remediation
    assert "route table of their own" in finding.remediation


def test_inspection_between_attachment_and_nat_is_followed_and_the_firewall_table_is_quiet() -> (
    None
):
    # AWS's centralised egress with inspection: attachment subnets -> firewall endpoint ->
    # firewall subnet's table -> NAT gateway. The spoke pays, the firewall table carries others'.
    items = with_inspection(hub_estate())
    reported = {f.resource_id for f in findings(snapshot(*items), "s3-egress-via-nat")}
    assert reported == {"rtb-spoke1"}


def test_spoke_with_its_attachment_in_an_app_subnet_is_still_judged() -> None:
    # The hub sends nothing but spoke 1's own range to its attachment: its table carries only
    # its own traffic, and its own NAT gateway route is a finding like any other.
    items = hub_estate()
    spoke_table = item(items, "rtb-spoke1")
    spoke_table.routes[1] = route("0.0.0.0/0", "nat-own")
    item(items, "tgw-attach-spoke1").subnet_ids = ["subnet-spoke1-app"]
    reported = {f.resource_id for f in findings(snapshot(*items), "s3-egress-via-nat")}
    assert "rtb-spoke1" in reported


def test_hub_owned_outside_the_audit_is_not_guessed() -> None:
    # Spoke 2's account alone, without its endpoint: the hub's tables were not read.
    items = [
        i
        for i in hub_estate(spoke2_endpoints=False)
        if getattr(i, "account_id", "") != A or getattr(i, "id", "") == "tgw-attach-spoke2"
    ]
    assert findings(snapshot(*items), "s3-egress-via-nat") == []


def test_estate_without_transit_gateway_data_is_unchanged() -> None:
    # An older snapshot: routes to tgw-1 but no attachments or hub tables.
    items = [
        i
        for i in hub_estate()
        if type(i).__name__
        not in ("TransitGateway", "TransitGatewayAttachment", "TransitGatewayRouteTable")
    ]
    reported = {f.resource_id for f in findings(snapshot(*items), "s3-egress-via-nat")}
    assert reported == {"rtb-eg-tgw"}  # as before: the egress table itself routes to the NAT


def item(items: list[Any], id: str) -> Any:
    return next(i for i in items if getattr(i, "id", "") == id)


# --- tgw-attachment-pending-acceptance ---


def test_vpc_attachment_waiting_for_the_hub_owner_is_reported_naming_who_accepts() -> None:
    items = hub_estate()
    item(items, "tgw-attach-spoke2").state = "pendingAcceptance"
    (finding,) = findings(snapshot(*items), "tgw-attachment-pending-acceptance")
    assert finding.resource_id == "tgw-attach-spoke2"
    assert finding.evidence["must_accept"] == {"account_id": A, "region": R1}
    assert f"# in account {A} ({R1})\naws ec2 accept-transit-gateway-vpc-attachment" in cmds(
        finding
    )


def test_peering_attachment_waits_for_the_peer_transit_gateways_owner() -> None:
    peering = TransitGatewayAttachment(
        "tgw-attach-peer",
        A,
        R1,
        "tgw-1",
        "peering",
        resource_id="tgw-2",
        resource_owner_id=B,
        state="pendingAcceptance",
        peer_transit_gateway_id="tgw-2",
        peer_account_id=B,
        peer_region="eu-west-1",
        accepter_side=False,
    )
    (finding,) = findings(snapshot(*hub_estate(), peering), "tgw-attachment-pending-acceptance")
    assert finding.evidence["must_accept"] == {"account_id": B, "region": "eu-west-1"}
    assert "accept-transit-gateway-peering-attachment" in finding.remediation


def test_peering_attachment_seen_from_the_accepter_names_the_accepter() -> None:
    # The accepter's own read: its transit gateway is this side, the requester the peer.
    seen_by_accepter = TransitGatewayAttachment(
        "tgw-attach-peer",
        B,
        "eu-west-1",
        "tgw-2",
        "peering",
        state="pendingAcceptance",
        peer_transit_gateway_id="tgw-1",
        peer_account_id=A,
        peer_region=R1,
        accepter_side=True,
    )
    (finding,) = findings(snapshot(seen_by_accepter), "tgw-attachment-pending-acceptance")
    assert finding.evidence["must_accept"] == {"account_id": B, "region": "eu-west-1"}
    assert f"# in account {B} (eu-west-1)" in cmds(finding)


def test_available_attachments_are_not_pending() -> None:
    assert findings(snapshot(*hub_estate()), "tgw-attachment-pending-acceptance") == []


# --- tgw-attachment-az-missing ---


def test_subnet_in_a_zone_without_attachment_subnet_cannot_reach_the_hub() -> None:
    items = hub_estate()
    items.append(subnet("subnet-spoke1-b", "vpc-spoke1", "10.1.2.0/24", availability_zone=AZ_B))
    item(items, "rtb-spoke1").associations.append(
        RouteTableAssociation("rtbassoc-b", subnet_id="subnet-spoke1-b")
    )
    (finding,) = findings(snapshot(*items), "tgw-attachment-az-missing")
    assert finding.resource_id == "tgw-attach-spoke1"
    assert finding.evidence["missing_zones"] == [AZ_B]
    assert [s["id"] for s in finding.evidence["subnets"]] == ["subnet-spoke1-b"]  # type: ignore[union-attr]


def test_subnet_in_another_zone_that_does_not_route_to_the_hub_is_fine() -> None:
    items = hub_estate()
    items.append(subnet("subnet-spoke1-b", "vpc-spoke1", "10.1.2.0/24", availability_zone=AZ_B))
    items.append(
        table(
            "rtb-spoke1-b",
            "vpc-spoke1",
            route("10.1.0.0/16", "local"),
            subnets=("subnet-spoke1-b",),
        )
    )
    assert findings(snapshot(*items), "tgw-attachment-az-missing") == []


# --- tgw-dns-support-off ---


def test_dns_support_off_on_the_hub_is_reported_once_on_the_hub() -> None:
    items = hub_estate()
    item(items, "tgw-1").dns_support = False
    item(items, "tgw-attach-spoke1").dns_support = False
    (finding,) = findings(snapshot(*items), "tgw-dns-support-off")
    assert finding.resource_id == "tgw-1"
    assert "DnsSupport=enable" in cmds(finding)


def test_dns_support_off_on_one_attachment_is_reported_on_it() -> None:
    items = hub_estate()
    item(items, "tgw-attach-spoke2").dns_support = False
    (finding,) = findings(snapshot(*items), "tgw-dns-support-off")
    assert finding.resource_id == "tgw-attach-spoke2"
    assert f"# in account {B} ({R1})" in cmds(finding)


def test_dns_support_off_with_one_vpc_attached_is_not_a_finding() -> None:
    items = [tgw(dns_support=False), *spoke("solo", "10.9.0.0/16")]
    assert findings(snapshot(*items), "tgw-dns-support-off") == []


# --- tgw-appliance-mode-off ---


def inspection_vpc(appliance_mode: bool | None) -> list[Any]:
    items = hub_estate()
    item(items, "rtb-eg-tgw").routes[1] = route("0.0.0.0/0", "vpce-fw1")
    items.append(
        Endpoint(
            "vpce-fw1", A, R1, "vpc-egress", "GatewayLoadBalancer", "com.amazonaws.vpce.x.svc-1"
        )
    )
    item(items, "tgw-attach-egress").appliance_mode_support = appliance_mode
    return items


def test_inspection_vpc_without_appliance_mode_is_reported() -> None:
    (finding,) = findings(snapshot(*inspection_vpc(False)), "tgw-appliance-mode-off")
    assert finding.resource_id == "tgw-attach-egress"
    assert finding.evidence["inspection_endpoints"] == ["vpce-fw1"]


@pytest.mark.parametrize("mode", [True, None])
def test_appliance_mode_on_or_unknown_is_not_reported(mode: bool | None) -> None:
    assert findings(snapshot(*inspection_vpc(mode)), "tgw-appliance-mode-off") == []


def test_network_firewall_endpoint_not_listed_by_the_owner_counts_as_inspection() -> None:
    items = [i for i in inspection_vpc(False) if getattr(i, "id", "") != "vpce-fw1"]
    (finding,) = findings(snapshot(*items), "tgw-appliance-mode-off")
    assert finding.evidence["inspection_endpoints"] == ["vpce-fw1"]


def test_vpc_routing_only_to_a_gateway_endpoint_does_not_inspect() -> None:
    assert findings(snapshot(*hub_estate()), "tgw-appliance-mode-off") == []


# --- tgw-auto-accept-shared-attachments ---


def test_auto_accept_on_a_hub_with_other_accounts_attachments_is_reported() -> None:
    items = hub_estate()
    item(items, "tgw-1").auto_accept_shared_attachments = True
    (finding,) = findings(snapshot(*items), "tgw-auto-accept-shared-attachments")
    assert finding.resource_id == "tgw-1"
    assert finding.evidence["shared_with"] == [B]


def test_auto_accept_on_a_hub_shared_with_nobody_is_quiet() -> None:
    items = [tgw(auto_accept_shared_attachments=True), *spoke("solo", "10.9.0.0/16")]
    assert findings(snapshot(*items), "tgw-auto-accept-shared-attachments") == []


def test_auto_accept_on_a_hub_shared_through_ram_is_reported_before_anyone_joins() -> None:
    items = [
        tgw(auto_accept_shared_attachments=True, shared_with=["o-abc123"]),
        *spoke("solo", "10.9.0.0/16"),
    ]
    (finding,) = findings(snapshot(*items), "tgw-auto-accept-shared-attachments")
    assert finding.evidence["shared_with"] == ["o-abc123"]


# --- tgw-route-dead-attachment ---


def test_blackhole_route_to_a_deleted_attachment_is_reported() -> None:
    items = hub_estate()
    item(items, "tgw-rtb-spokes").routes.append(
        hub_route("10.50.0.0/16", "tgw-attach-old", state="blackhole")
    )
    (finding,) = findings(snapshot(*items), "tgw-route-dead-attachment")
    assert finding.resource_id == "tgw-rtb-spokes"
    assert "delete-transit-gateway-route" in finding.remediation
    assert "--destination-cidr-block 10.50.0.0/16" in finding.remediation


def test_deliberate_static_blackhole_is_not_reported() -> None:
    items = hub_estate()
    item(items, "tgw-rtb-spokes").routes.append(hub_route("10.50.0.0/16", state="blackhole"))
    assert findings(snapshot(*items), "tgw-route-dead-attachment") == []


def test_active_route_to_an_attachment_the_snapshot_shows_deleted_is_reported() -> None:
    items = hub_estate()
    item(items, "tgw-attach-spoke2").state = "deleted"
    (finding,) = findings(snapshot(*items), "tgw-route-dead-attachment")
    assert finding.evidence["attachments"] == {"tgw-attach-spoke2": "deleted"}


# --- tgw-route-missing ---


def test_hub_table_without_a_route_to_a_known_vpc_is_reported() -> None:
    items = hub_estate()
    # The egress table loses its propagated route to spoke 2; spoke 1 reaches 10.2/16 through
    # the egress VPC, whose 10/8 route sends it back to the hub.
    item(items, "tgw-rtb-egress").routes.pop()
    reported = findings(snapshot(*items), "tgw-route-missing")
    (finding,) = [f for f in reported if f.resource_id == "rtb-eg-tgw"]
    assert finding.evidence["uncovered"] == ["10.2.0.0/16"]
    assert list(finding.evidence["vpcs_there"]) == ["vpc-spoke2"]  # type: ignore[call-overload]


def test_summary_route_remainder_where_no_vpc_lives_is_not_a_finding() -> None:
    # The egress VPC sends 10/8 to the hub; its table covers 10.1/16 and 10.2/16 only.
    assert findings(snapshot(*hub_estate()), "tgw-route-missing") == []


def test_whole_destination_uncovered_is_reported_even_without_a_known_vpc() -> None:
    items = hub_estate()
    item(items, "rtb-spoke1").routes.append(route("172.16.0.0/16", "tgw-1"))
    item(items, "tgw-rtb-spokes").routes[0] = hub_route("10.0.0.0/8", "tgw-attach-egress")
    reported = [f for f in findings(snapshot(*items), "tgw-route-missing")]
    assert {(f.resource_id, f.evidence["route"]) for f in reported} >= {
        ("rtb-spoke1", "172.16.0.0/16 -> tgw-1")
    }


def test_deliberate_blackhole_is_named_not_reported() -> None:
    items = hub_estate()
    item(items, "tgw-rtb-spokes").routes[0] = hub_route("0.0.0.0/0", state="blackhole")
    item(items, "tgw-rtb-spokes").routes.append(hub_route("10.2.0.0/16", "tgw-attach-spoke2"))
    assert findings(snapshot(*items), "tgw-route-missing") == []


# --- tgw-missing-return-route ---


def test_spoke_table_without_the_route_back_is_reported_on_that_table() -> None:
    items = hub_estate()
    # Spoke 2 sends only its own range and S3 locally: nothing back to the hub.
    item(items, "rtb-spoke2").routes = [route("10.2.0.0/16", "local"), route(S3_PL, "vpce-spoke2")]
    reported = findings(snapshot(*items), "tgw-missing-return-route")
    assert {f.resource_id for f in reported} == {"rtb-spoke2"}
    finding = reported[0]
    assert "create-route --route-table-id rtb-spoke2" in cmds(finding)
    assert "--transit-gateway-id tgw-1" in cmds(finding)


def test_hub_table_without_the_route_back_is_reported_on_the_hub_table() -> None:
    items = hub_estate()
    # Spoke 1 reaches the egress VPC (10.100/16), whose return to 10.1/16 enters the hub by the
    # egress attachment; its table loses the route to spoke 1.
    item(items, "tgw-rtb-egress").routes.pop(0)
    reported = findings(snapshot(*items), "tgw-missing-return-route")
    assert "tgw-rtb-egress" in {f.resource_id for f in reported}
    hub = next(f for f in reported if f.resource_id == "tgw-rtb-egress")
    assert (
        "create-transit-gateway-route --transit-gateway-route-table-id tgw-rtb-egress "
        "--destination-cidr-block 10.1.1.0/24 --transit-gateway-attachment-id tgw-attach-spoke1"
    ) in cmds(hub)


def test_healthy_hub_has_every_way_back() -> None:
    assert findings(snapshot(*hub_estate()), "tgw-missing-return-route") == []


def test_return_through_another_live_path_is_asymmetric_not_missing() -> None:
    items = hub_estate()
    item(items, "rtb-spoke2").routes = [
        route("10.2.0.0/16", "local"),
        route("10.1.0.0/16", "pcx-1"),  # spoke 1 is answered through a peering
        route("10.100.0.0/16", "tgw-1"),
        route(S3_PL, "vpce-spoke2"),
    ]
    assert findings(snapshot(*items), "tgw-missing-return-route") == []


def test_return_leaving_the_audit_is_not_claimed() -> None:
    items = [i for i in hub_estate() if getattr(i, "account_id", "") != B]
    items.append(attachment("tgw-attach-spoke2", "vpc-spoke2", "subnet-spoke2-tgw", owner=B))
    assert findings(snapshot(*items), "tgw-missing-return-route") == []


def test_estates_without_transit_gateways_have_no_hub_findings() -> None:
    snap = snapshot(
        vpc("vpc-1", "10.0.0.0/16"),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
        table(
            "rtb-1", "vpc-1", route("10.0.0.0/16", "local"), route("0.0.0.0/0", "nat-1"), main=True
        ),
    )
    assert [f for f in run_rules(snap) if f.rule_id.startswith("tgw-")] == []


def test_hub_of_an_unaudited_owner_is_said_once_per_vpc_not_guessed() -> None:
    # Account B sees the shared hub and its own attachment; the owner A is not audited.
    kept = ("tgw-1", "tgw-attach-spoke2")
    items = [
        i
        for i in hub_estate(spoke2_endpoints=False)
        if getattr(i, "account_id", "") != A or getattr(i, "id", "") in kept
    ]
    (finding,) = findings(snapshot(*items, unaudited=((A, R1),)), "tgw-hub-not-audited")
    assert (finding.resource_id, finding.vpc_id) == ("tgw-attach-spoke2", "vpc-spoke2")
    assert finding.severity == Severity.INFO
    assert f"owner {A}" in finding.message


def test_audited_hub_needs_no_note() -> None:
    assert findings(snapshot(*hub_estate()), "tgw-hub-not-audited") == []


def test_hub_side_break_is_found_through_the_table_that_replies_via_the_hub() -> None:
    # The egress VPC's first table answers spoke 1 through a peering; the attachment subnets'
    # table answers through the hub, whose egress table has lost the route to spoke 1.
    items = hub_estate()
    items.insert(0, subnet("subnet-eg-peer", "vpc-egress", "10.100.2.0/24", availability_zone=AZ_A))
    items.insert(
        0,
        table(
            "rtb-eg-peer",
            "vpc-egress",
            route("10.100.0.0/16", "local"),
            route("10.1.0.0/16", "pcx-9"),
            subnets=("subnet-eg-peer",),
        ),
    )
    item(items, "tgw-rtb-egress").routes.pop(0)
    reported = {f.resource_id for f in findings(snapshot(*items), "tgw-missing-return-route")}
    assert "tgw-rtb-egress" in reported


def segmented_hub(*, prod_routes_back: bool) -> list[Any]:
    """Development (spoke 1) and production (spoke 2) on one hub, each with its own hub route
    table reaching only the shared services (egress) VPC: AWS's documented way to keep them
    apart. Both spokes send 10.0.0.0/8 to the hub."""
    items = [i for i in hub_estate() if getattr(i, "id", "") != "tgw-rtb-spokes"]
    for name in ("spoke1", "spoke2"):
        item(items, f"rtb-{name}").routes[1] = route("10.0.0.0/8", "tgw-1")
    items.append(
        hub_table(
            "tgw-rtb-dev",
            hub_route("10.100.0.0/16", "tgw-attach-egress"),
            associations=("tgw-attach-spoke1",),
        )
    )
    prod = [hub_route("10.100.0.0/16", "tgw-attach-egress")]
    if prod_routes_back:
        prod.append(hub_route("10.1.0.0/16", "tgw-attach-spoke1"))
    items.append(hub_table("tgw-rtb-prod", *prod, associations=("tgw-attach-spoke2",)))
    return items


def test_route_table_segmentation_is_isolation_by_design_not_a_missing_route() -> None:
    assert findings(snapshot(*segmented_hub(prod_routes_back=False)), "tgw-route-missing") == []


def test_a_missing_route_one_way_where_the_other_way_is_routed_is_reported() -> None:
    reported = findings(snapshot(*segmented_hub(prod_routes_back=True)), "tgw-route-missing")
    (finding,) = [f for f in reported if f.resource_id == "rtb-spoke1"]
    assert list(finding.evidence["vpcs_there"]) == ["vpc-spoke2"]  # type: ignore[call-overload]
    assert "meant to talk" in finding.message


def test_a_spoke_inspecting_only_its_own_egress_needs_no_appliance_mode() -> None:
    # The firewall sits in spoke 1's app table, not in the table of its attachment subnet.
    items = hub_estate()
    items.append(subnet("subnet-spoke1-fw", "vpc-spoke1", "10.1.3.0/28", availability_zone=AZ_A))
    items.append(
        Endpoint(
            "vpce-own-fw", A, R1, "vpc-spoke1", "GatewayLoadBalancer", "com.amazonaws.vpce.x",
            subnet_ids=["subnet-spoke1-fw"],
        )
    )  # fmt: skip
    item(items, "rtb-spoke1").associations = [
        a for a in item(items, "rtb-spoke1").associations if a.subnet_id != "subnet-spoke1-app"
    ]
    items.append(
        table(
            "rtb-spoke1-app",
            "vpc-spoke1",
            route("10.1.0.0/16", "local"),
            route("0.0.0.0/0", "vpce-own-fw"),
            subnets=("subnet-spoke1-app",),
        )
    )
    assert findings(snapshot(*items), "tgw-appliance-mode-off") == []


def test_dual_stack_source_is_answered_in_its_own_ip_version() -> None:
    # Spoke 1 also has an IPv6 range, but nobody routes IPv6 through the hub: no IPv6 reply is
    # owed, and nothing is reported for it.
    items = hub_estate()
    item(items, "subnet-spoke1-app").ipv6_cidr_blocks = ["2600:1::/64"]
    assert findings(snapshot(*items), "tgw-missing-return-route") == []
