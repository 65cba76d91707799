"""Transit gateways, attachments and their route tables as the collector reads them.

moto 5.2 differs from AWS here (see shared/moto-notes.md); its server answers in the EC2 API
reference's shapes (auditor.moto_shapes), so the collector is tested against what AWS answers.
Cross-account sharing (AWS RAM) is simulated by handing the participant's backend the owner's
objects (attach_across_accounts).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.core.exceptions import JsonRESTError
from moto.ram.models import ResourceAccessManagerBackend

from auditor.collect import Request, collect
from auditor.collect.ec2 import parse_tgw_attachment, parse_tgw_route
from auditor.collect.merge import merge_views
from auditor.model import Coverage, Snapshot, TransitGatewayAttachment
from auditor.moto_shapes import attach_across_accounts
from tests.faults import Call, Fault, FaultServer
from tests.test_collect import creds

A, B = "123456789012", "222222222222"
USE1, EUW1 = "us-east-1", "eu-west-1"
ROLE = "VpcAuditTestRole"


# moto answers in AWS's shapes while its server runs (auditor.moto_shapes): the `aws` fixture.


@pytest.fixture
def aws_tgw(aws: FaultServer) -> FaultServer:
    return aws


# --- helpers ---------------------------------------------------------------------------------


def ec2(account: str = A) -> Any:
    return boto3.client("ec2", region_name=USE1, **creds(account))


def vpc_with_subnet(client: Any, cidr: str) -> tuple[str, str]:
    vpc = client.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))
    return vpc, subnet["Subnet"]["SubnetId"]


def new_tgw(client: Any, **options: str) -> dict[str, Any]:
    tgw: dict[str, Any] = client.create_transit_gateway(Description="hub", Options=options)[
        "TransitGateway"
    ]
    return tgw


def attach(client: Any, tgw: str, vpc: str, subnet: str, **options: str) -> str:
    return str(
        client.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet], Options=options
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    )


def one(items: list[Any], item_id: str) -> Any:
    found = [i for i in items if i.id == item_id]
    assert len(found) == 1, f"{item_id}: {len(found)} copies"
    return found[0]


def audit(*accounts: str) -> Snapshot:
    if accounts:
        return collect(Request(accounts=accounts, role_name=ROLE, regions=(USE1,)))
    return collect(Request(regions=(USE1,)))


# --- one account -----------------------------------------------------------------------------


def test_hub_with_options_attachments_tables_and_routes(aws_tgw: FaultServer) -> None:
    client = ec2()
    tgw = new_tgw(
        client,
        DnsSupport="enable",
        AutoAcceptSharedAttachments="enable",
        DefaultRouteTableAssociation="disable",
        DefaultRouteTablePropagation="disable",
    )
    tgw_id = tgw["TransitGatewayId"]
    spoke, spoke_subnet = vpc_with_subnet(client, "10.1.0.0/16")
    egress, egress_subnet = vpc_with_subnet(client, "10.2.0.0/16")
    spoke_att = attach(client, tgw_id, spoke, spoke_subnet, DnsSupport="disable")
    egress_att = attach(client, tgw_id, egress, egress_subnet, ApplianceModeSupport="enable")
    table = client.create_transit_gateway_route_table(TransitGatewayId=tgw_id)[
        "TransitGatewayRouteTable"
    ]["TransitGatewayRouteTableId"]
    for att in (spoke_att, egress_att):
        client.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=att
        )
    client.enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=spoke_att
    )
    client.create_transit_gateway_route(
        TransitGatewayRouteTableId=table,
        DestinationCidrBlock="0.0.0.0/0",
        TransitGatewayAttachmentId=egress_att,
    )
    client.create_transit_gateway_route(
        TransitGatewayRouteTableId=table, DestinationCidrBlock="10.9.0.0/16", Blackhole=True
    )

    snap = audit()

    assert [c.status for c in snap.coverage] == ["ok"]
    assert snap.coverage_notes == []
    hub = one(snap.transit_gateways, tgw_id)
    assert (hub.account_id, hub.state, hub.dns_support) == (A, "available", True)
    assert hub.auto_accept_shared_attachments is True
    assert hub.default_route_table_association is False
    assert hub.default_route_table_propagation is False
    assert (
        hub.association_default_route_table_id == tgw["Options"]["AssociationDefaultRouteTableId"]
    )
    assert hub.shared_with == []  # read, and shared with nobody

    spoke_a = one(snap.transit_gateway_attachments, spoke_att)
    assert (spoke_a.account_id, spoke_a.resource_owner_id) == (A, A)
    assert (spoke_a.resource_type, spoke_a.resource_id) == ("vpc", spoke)
    assert spoke_a.subnet_ids == [spoke_subnet]
    assert (spoke_a.dns_support, spoke_a.appliance_mode_support) == (False, False)
    assert spoke_a.association_route_table_id == table
    assert one(snap.transit_gateway_attachments, egress_att).appliance_mode_support is True

    rt = one(snap.transit_gateway_route_tables, table)
    assert (rt.account_id, rt.transit_gateway_id, rt.default_association) == (A, tgw_id, False)
    assert sorted(rt.associations) == sorted([spoke_att, egress_att])
    assert rt.routes_complete
    routes = {r.destination: r for r in rt.routes}
    assert set(routes) == {"0.0.0.0/0", "10.9.0.0/16", "10.1.0.0/16"}
    assert (routes["0.0.0.0/0"].route_type, routes["0.0.0.0/0"].attachment_ids) == (
        "static",
        [egress_att],
    )
    assert (routes["10.9.0.0/16"].state, routes["10.9.0.0/16"].attachment_ids) == ("blackhole", [])
    assert (routes["10.1.0.0/16"].route_type, routes["10.1.0.0/16"].attachment_ids) == (
        "propagated",
        [spoke_att],
    )
    # The default table moto always makes is read like any other.
    default = one(snap.transit_gateway_route_tables, hub.association_default_route_table_id)
    assert default.default_association and default.routes == []


def test_parse_attachment_and_route_shapes_of_the_api_reference() -> None:
    raw = {
        "TransitGatewayAttachmentId": "tgw-attach-1",
        "TransitGatewayId": "tgw-1",
        "TransitGatewayOwnerId": A,
        "ResourceOwnerId": B,
        "ResourceType": "direct-connect-gateway",
        "ResourceId": "dxgw-1",
        "State": "pendingAcceptance",
        "Association": {"TransitGatewayRouteTableId": "tgw-rtb-1", "State": "disassociated"},
    }
    att = parse_tgw_attachment(raw, B, USE1)
    assert (att.account_id, att.resource_owner_id, att.state) == (A, B, "pendingAcceptance")
    assert (att.resource_type, att.resource_id, att.association_route_table_id) == (
        "direct-connect-gateway",
        "dxgw-1",
        None,
    )
    route = parse_tgw_route(
        {
            "PrefixListId": "pl-1",
            "Type": "static",
            "State": "active",
            "TransitGatewayAttachments": [
                {"TransitGatewayAttachmentId": "tgw-attach-2", "ResourceType": "vpn"}
            ],
        }
    )
    assert (route.destination, route.attachment_ids) == ("pl-1", ["tgw-attach-2"])


# --- across accounts -------------------------------------------------------------------------


def share_and_attach_from_b(tgw_id: str, state: str = "available") -> tuple[str, str, str]:
    """A's transit gateway shared with B through RAM, and a VPC of B's attached to it."""
    boto3.client("ram", region_name=USE1).create_resource_share(
        name="hub",
        resourceArns=[f"arn:aws:ec2:{USE1}:{A}:transit-gateway/{tgw_id}"],
        principals=[B],
    )
    vpc, subnet = vpc_with_subnet(ec2(B), "10.20.0.0/16")
    attachment = attach_across_accounts(A, B, USE1, tgw_id, vpc, [subnet], state)
    return attachment, vpc, subnet


def test_cross_account_hub_shared_with_a_spoke_account(aws_tgw: FaultServer) -> None:
    tgw_id = new_tgw(ec2())["TransitGatewayId"]
    att_id, vpc, subnet = share_and_attach_from_b(tgw_id, state="pendingAcceptance")

    snap = audit(A, B)

    assert [c.status for c in snap.coverage] == ["ok", "ok"]
    (hub,) = snap.transit_gateways  # seen by both, merged into the owner's
    assert (hub.id, hub.account_id, hub.shared_with) == (tgw_id, A, [B])
    (att,) = snap.transit_gateway_attachments
    assert (att.id, att.account_id, att.resource_owner_id, att.resource_id) == (att_id, A, B, vpc)
    assert (att.state, att.subnet_ids) == ("pendingAcceptance", [subnet])
    # Route tables only from the owner.
    assert {t.account_id for t in snap.transit_gateway_route_tables} == {A}


def test_a_hub_owned_outside_the_audit_is_a_boundary(aws_tgw: FaultServer) -> None:
    """Auditing only the spoke account: the hub and the attachment are seen, its route tables
    are not read (only the owner may) and whom it is shared with stays unknown."""
    tgw_id = new_tgw(ec2())["TransitGatewayId"]
    att_id, _, _ = share_and_attach_from_b(tgw_id)

    snap = audit(B)

    assert [(c.account_id, c.status) for c in snap.coverage] == [(B, "ok")]
    (hub,) = snap.transit_gateways
    assert (hub.account_id, hub.shared_with) == (A, None)
    assert [a.id for a in snap.transit_gateway_attachments] == [att_id]
    assert snap.transit_gateway_route_tables == []
    assert snap.coverage_notes == []


def test_refused_ram_leaves_sharing_unknown_with_a_note(
    aws_tgw: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgw_id = new_tgw(ec2())["TransitGatewayId"]

    def refuse(*_: Any, **__: Any) -> None:
        # RAM is a REST API, which the server's fault hook does not see: refused in moto.
        raise JsonRESTError("AccessDeniedException", "not allowed")

    monkeypatch.setattr(ResourceAccessManagerBackend, "get_resource_share_associations", refuse)

    snap = audit()

    assert [c.status for c in snap.coverage] == ["ok"]
    assert one(snap.transit_gateways, tgw_id).shared_with is None
    (note,) = snap.coverage_notes
    assert (note.account_id, note.region) == (A, USE1)
    assert "sharing" in note.subject and note.reason.startswith("AccessDeniedException")


# --- route searches that do not fit one answer -----------------------------------------------


def table_with_routes(count: int) -> str:
    client = ec2()
    tgw_id = new_tgw(client)["TransitGatewayId"]
    table = client.create_transit_gateway_route_table(TransitGatewayId=tgw_id)[
        "TransitGatewayRouteTable"
    ]["TransitGatewayRouteTableId"]
    for i in range(count):
        client.create_transit_gateway_route(
            TransitGatewayRouteTableId=table, DestinationCidrBlock=f"10.{i}.0.0/16", Blackhole=True
        )
    return str(table)


def search_page(cidrs: list[str], more: bool, token: str = "") -> Fault:
    """A SearchTransitGatewayRoutes answer in EC2's XML, as the API reference shapes it."""
    routes = "".join(
        f"<item><destinationCidrBlock>{c}</destinationCidrBlock><type>static</type>"
        f"<state>blackhole</state></item>"
        for c in cidrs
    )
    body = (
        '<SearchTransitGatewayRoutesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>r</requestId><routeSet>{routes}</routeSet>"
        f"<additionalRoutesAvailable>{str(more).lower()}</additionalRoutesAvailable>"
        + (f"<nextToken>{token}</nextToken>" if token else "")
        + "</SearchTransitGatewayRoutesResponse>"
    )
    return Fault.page(200, body)


def test_a_search_with_more_routes_is_read_to_the_end(aws_tgw: FaultServer) -> None:
    table = table_with_routes(0)
    asked: list[str] = []

    def pages(call: Call) -> Fault | None:
        if (
            call.action != "SearchTransitGatewayRoutes"
            or call.params.get("TransitGatewayRouteTableId") != table
        ):
            return None
        asked.append(call.params.get("NextToken", ""))
        if not call.params.get("NextToken"):
            return search_page(["10.0.0.0/16"], more=True, token="page-2")
        return search_page(["10.1.0.0/16"], more=False)

    aws_tgw.faults = pages
    snap = audit()

    rt = one(snap.transit_gateway_route_tables, table)
    assert asked == ["", "page-2"]
    assert rt.routes_complete and [r.destination for r in rt.routes] == [
        "10.0.0.0/16",
        "10.1.0.0/16",
    ]
    assert snap.coverage_notes == []


def test_a_truncated_search_is_incomplete_and_noted_never_silent(aws_tgw: FaultServer) -> None:
    table = table_with_routes(0)
    aws_tgw.faults = lambda call: (
        search_page(["10.0.0.0/16"], more=True)
        if call.action == "SearchTransitGatewayRoutes"
        and call.params.get("TransitGatewayRouteTableId") == table
        else None
    )

    snap = audit()

    assert [c.status for c in snap.coverage] == ["ok"]
    rt = one(snap.transit_gateway_route_tables, table)
    assert not rt.routes_complete
    assert [r.destination for r in rt.routes] == ["10.0.0.0/16"]
    (note,) = snap.coverage_notes
    assert (note.account_id, note.region, note.subject) == (A, USE1, f"{table} routes")
    assert "incomplete" in note.reason


def test_both_sides_of_a_peering_between_one_account_s_regions_stay_apart() -> None:
    """A transit gateway peering attachment has one id on both sides; between two regions of
    one account, each side (its own transit gateway and route table) is kept."""
    sides = [
        parse_tgw_attachment(
            {
                "TransitGatewayAttachmentId": "tgw-attach-1",
                "TransitGatewayId": tgw,
                "TransitGatewayOwnerId": A,
                "ResourceType": "peering",
                "State": "available",
                "Association": {"TransitGatewayRouteTableId": table, "State": "associated"},
            },
            A,
            region,
        )
        for tgw, table, region in (("tgw-1", "tgw-rtb-1", USE1), ("tgw-2", "tgw-rtb-2", EUW1))
    ]
    views = [Snapshot(transit_gateway_attachments=[side]) for side in sides]
    for view, region in zip(views, (USE1, EUW1), strict=True):
        view.coverage = [Coverage(A, region, "ok")]
    merged = merge_views(views).transit_gateway_attachments
    assert [(a.region, a.transit_gateway_id, a.association_route_table_id) for a in merged] == [
        (EUW1, "tgw-2", "tgw-rtb-2"),
        (USE1, "tgw-1", "tgw-rtb-1"),
    ]


def test_prefix_lists_named_only_by_hub_routes_are_read(aws_tgw: FaultServer) -> None:
    """A hub route to a customer prefix list: its entries decide the hub's routing, so the
    list is read although no VPC route or security group names it."""
    table = table_with_routes(0)
    plist = ec2().create_managed_prefix_list(
        PrefixListName="corp", MaxEntries=5, AddressFamily="IPv4",
        Entries=[{"Cidr": "10.8.0.0/16"}],
    )["PrefixList"]["PrefixListId"]  # fmt: skip
    body = (
        '<SearchTransitGatewayRoutesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>r</requestId><routeSet><item><prefixListId>{plist}</prefixListId>"
        "<type>static</type><state>blackhole</state></item></routeSet>"
        "<additionalRoutesAvailable>false</additionalRoutesAvailable>"
        "</SearchTransitGatewayRoutesResponse>"
    )
    aws_tgw.faults = lambda call: (
        Fault.page(200, body)
        if call.action == "SearchTransitGatewayRoutes"
        and call.params.get("TransitGatewayRouteTableId") == table
        else None
    )

    snap = audit()

    rt = one(snap.transit_gateway_route_tables, table)
    assert [r.destination_prefix_list_id for r in rt.routes] == [plist]
    assert one(snap.prefix_lists, plist).cidrs == ["10.8.0.0/16"]


def test_peering_attachment_knows_which_side_accepts() -> None:
    """DescribeTransitGatewayPeeringAttachments names the requester and the accepter; each side
    records the other as its peer, and whether it is the accepter itself."""
    from auditor.collect.ec2 import add_attachment_details

    info = {
        "TransitGatewayAttachmentId": "tgw-attach-p",
        "RequesterTgwInfo": {"TransitGatewayId": "tgw-req", "OwnerId": A, "Region": USE1},
        "AccepterTgwInfo": {"TransitGatewayId": "tgw-acc", "OwnerId": B, "Region": EUW1},
    }
    sides = []
    for tgw_id, account, region in (("tgw-req", A, USE1), ("tgw-acc", B, EUW1)):
        side = TransitGatewayAttachment("tgw-attach-p", account, region, tgw_id, "peering")
        add_attachment_details(side, {"peering": {"tgw-attach-p": info}})
        sides.append(side)
    requester, accepter = sides
    assert (requester.peer_account_id, requester.peer_region, requester.accepter_side) == (
        B,
        EUW1,
        False,
    )
    assert (accepter.peer_account_id, accepter.peer_region, accepter.accepter_side) == (
        A,
        USE1,
        True,
    )
