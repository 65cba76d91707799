"""The path engine: VPC tables, transit gateway tables and the next VPC, on hand-built estates."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import PrefixList, TransitGatewayAttachment, TransitGatewayRoute
from auditor.net import Topology, collapse, network
from auditor.paths import BLACKHOLE, BOUNDARY, DELIVERED, HUB_NO_ROUTE, UNDETERMINED, Path, paths
from tests.builders import R1, S3_CIDRS, A, B, route, s3_prefix_list, snapshot
from tests.hub import attachment, hub_estate, hub_route, hub_table, tgw, with_inspection


def walk(items: list[object], table_id: str, destination: str, **kw: object) -> list[Path]:
    topo = Topology(snapshot(*items, **kw))  # type: ignore[arg-type]
    return paths(topo).follow(topo.route_tables[table_id], network(destination))


def test_spoke_internet_traffic_crosses_the_hub_to_the_egress_nat() -> None:
    (path,) = walk(hub_estate(), "rtb-spoke1", S3_CIDRS[0])
    assert (path.end, path.end_id) == ("nat-gateway", "nat-eg")
    assert [s.as_evidence() for s in path.steps] == [
        {"table": "rtb-spoke1", "route": "0.0.0.0/0", "target": "tgw-1"},
        {
            "table": "tgw-rtb-spokes",
            "route": "0.0.0.0/0",
            "target": "tgw-attach-egress",
            "entered_by": "tgw-attach-spoke1",
        },
        {"table": "rtb-eg-tgw", "route": "0.0.0.0/0", "target": "nat-eg"},
    ]
    assert path.crosses_hub and path.transit_gateways == ["tgw-1"]


def test_spoke_to_spoke_goes_through_the_egress_vpc_and_back_through_the_hub() -> None:
    # The spokes' table sends 10.2/16 to egress (default route); the egress VPC sends 10/8 back
    # to the hub, where the egress attachment's table has the propagated route to spoke 2.
    (path,) = walk(hub_estate(), "rtb-spoke1", "10.2.1.0/24")
    assert (path.end, path.end_id) == (DELIVERED, "vpc-spoke2")
    assert [s.table_id for s in path.steps] == [
        "rtb-spoke1",
        "tgw-rtb-spokes",
        "rtb-eg-tgw",
        "tgw-rtb-egress",
        "rtb-spoke2",
    ]


def test_gateway_endpoint_route_in_the_spoke_ends_the_path_there() -> None:
    (path,) = walk(hub_estate(), "rtb-spoke2", S3_CIDRS[0])
    assert (path.end, path.end_id) == ("vpc-endpoint", "vpce-spoke2")
    assert not path.crosses_hub


def test_static_route_beats_propagated_for_the_same_destination() -> None:
    items = hub_estate()
    spokes = next(i for i in items if getattr(i, "id", "") == "tgw-rtb-spokes")
    spokes.routes.append(hub_route("10.100.0.0/16", kind="static", state="blackhole"))
    (path,) = walk(items, "rtb-spoke1", "10.100.0.10/32")
    assert path.end == BLACKHOLE
    assert "deliberate" in path.detail


def test_longest_prefix_wins_in_the_hub_table() -> None:
    items = hub_estate()
    spokes = next(i for i in items if getattr(i, "id", "") == "tgw-rtb-spokes")
    spokes.routes.append(hub_route("10.100.0.0/24", "tgw-attach-gone"))
    (path,) = walk(items, "rtb-spoke1", "10.100.0.0/23")[:1]
    assert path.destination == network("10.100.0.0/24")
    assert path.end == BOUNDARY  # the attachment is not in the snapshot


def test_no_route_in_the_hub_table_drops_the_traffic() -> None:
    items = [i for i in hub_estate() if getattr(i, "id", "") != "tgw-rtb-spokes"]
    items.append(hub_table("tgw-rtb-spokes", associations=("tgw-attach-spoke1",)))
    (path,) = walk(items, "rtb-spoke1", "10.2.0.0/16")
    assert (path.end, path.end_id) == (HUB_NO_ROUTE, "tgw-rtb-spokes")


def test_hub_of_an_account_outside_the_audit_is_a_boundary() -> None:
    # Only the owner reads a transit gateway's route tables: without them, say so.
    items = [
        i
        for i in hub_estate()
        if getattr(i, "account_id", "") != A or getattr(i, "id", "").startswith("tgw-attach-spoke2")
    ]
    topo = Topology(snapshot(*items))
    (path,) = paths(topo).follow(topo.route_tables["rtb-spoke2"], network("10.1.0.0/16"))
    assert path.end == BOUNDARY
    assert "not read" in path.detail


def test_truncated_hub_table_is_a_boundary_not_a_missing_route() -> None:
    items = hub_estate()
    spokes = next(i for i in items if getattr(i, "id", "") == "tgw-rtb-spokes")
    spokes.routes = []
    spokes.routes_complete = False
    (path,) = walk(items, "rtb-spoke1", "10.2.0.0/16")
    assert path.end == BOUNDARY


@st.composite
def hub_routes(draw: st.DrawFn) -> list[TransitGatewayRoute]:
    """Random static and propagated routes inside 10.0.0.0/16 (nested, equal and disjoint)."""
    routes = []
    for _ in range(draw(st.integers(0, 12))):
        length = draw(st.integers(16, 28))
        offset = draw(st.integers(0, (1 << (length - 16)) - 1)) << (32 - length)
        cidr = str(ipaddress.ip_network((int(ipaddress.ip_address("10.0.0.0")) + offset, length)))
        kind = draw(st.sampled_from(["static", "propagated"]))
        routes.append(hub_route(cidr, f"tgw-attach-{len(routes)}", kind=kind))
    return routes


@settings(max_examples=300, deadline=None)
@given(hub_routes(), st.integers(16, 30), st.integers(0, 1 << 16))
def test_hub_lookup_picks_the_longest_prefix_then_static_for_every_address(
    routes: list[TransitGatewayRoute], length: int, seed: int
) -> None:
    table = hub_table("tgw-rtb-x", *routes)
    topo = Topology(snapshot(tgw(), table))
    start = int(ipaddress.ip_address("10.0.0.0")) + ((seed << (32 - length)) & 0xFFFF)
    destination = ipaddress.ip_network((start & ~((1 << (32 - length)) - 1), length))
    pieces = paths(topo).hub_lookup(table, destination)
    assert collapse(net for net, _ in pieces) == [destination]  # every address once
    for net, picked in pieces:
        for address in (net.network_address, net.broadcast_address):
            containing = [r for r in routes if address in ipaddress.ip_network(r.destination)]
            best = max(
                containing,
                key=lambda r: (
                    ipaddress.ip_network(r.destination).prefixlen,
                    r.route_type == "static",
                ),
                default=None,
            )
            if best is None:
                assert picked is None
            else:
                assert picked is not None
                assert (picked.destination, picked.route_type) == (
                    best.destination,
                    best.route_type,
                )


def test_tied_prefix_list_routes_end_the_path_undetermined() -> None:
    items = hub_estate()
    spoke = next(i for i in items if getattr(i, "id", "") == "rtb-spoke2")
    spoke.routes.append(route("pl-cust", "tgw-1"))
    items.append(PrefixList("pl-cust", R1, "corp", B, ["52.216.0.0/15"]))
    items.append(s3_prefix_list())
    (path, *_) = walk(items, "rtb-spoke2", "52.216.0.0/15")
    assert path.end == UNDETERMINED
    assert "vpce-spoke2" in path.detail and "tgw-1" in path.detail


def item(items: list[object], id: str) -> Any:
    return next(i for i in items if getattr(i, "id", "") == id)


def test_hub_route_to_an_unknown_prefix_list_makes_the_table_a_boundary() -> None:
    # Its entries could be more specific than any other route: nothing is claimed there.
    items = hub_estate()
    item(items, "tgw-rtb-egress").routes.append(hub_route("pl-unread", "tgw-attach-spoke1"))
    (path,) = walk(items, "rtb-spoke1", "10.2.0.0/16")
    assert path.end == BOUNDARY and "prefix lists" in path.detail


def test_vpc_propagated_route_beats_vpn_propagated_for_the_same_destination() -> None:
    items = hub_estate()
    vpn = TransitGatewayAttachment("tgw-attach-vpn", A, R1, "tgw-1", "vpn", resource_id="vpn-1")
    items.append(vpn)
    spokes = item(items, "tgw-rtb-spokes")
    spokes.routes.insert(0, hub_route("10.2.0.0/16", "tgw-attach-vpn", kind="propagated"))
    spokes.routes.append(hub_route("10.2.0.0/16", "tgw-attach-spoke2", kind="propagated"))
    (path,) = walk(items, "rtb-spoke1", "10.2.1.0/24")
    assert (path.end, path.end_id) == (DELIVERED, "vpc-spoke2")


def test_a_failed_attachment_does_not_shadow_the_live_one() -> None:
    items = hub_estate()
    old = attachment("tgw-attach-old", "vpc-spoke1", "subnet-spoke1-tgw", state="failed")
    items.insert(0, old)
    (path,) = walk(items, "rtb-spoke1", S3_CIDRS[0])
    assert (path.end, path.end_id) == ("nat-gateway", "nat-eg")


def test_gateway_load_balancer_endpoint_is_followed_into_its_subnets_table() -> None:
    # Inspection between the attachment and the NAT gateway: attachment subnets -> firewall
    # endpoint -> (appliances) -> the endpoint's subnet's table -> NAT gateway.
    items = with_inspection(hub_estate())
    (path,) = walk(items, "rtb-spoke1", S3_CIDRS[0])
    assert (path.end, path.end_id) == ("nat-gateway", "nat-eg")
    assert [s.table_id for s in path.steps][-2:] == ["rtb-eg-tgw", "rtb-eg-fw"]
