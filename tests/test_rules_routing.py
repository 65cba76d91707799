"""route-dead-target on hand-built snapshots, and the routing/peering rules end to end in moto."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from auditor.collect import Request, collect
from auditor.model import (
    Endpoint,
    Finding,
    InternetGateway,
    NatGateway,
    NetworkInterface,
    Snapshot,
    TransitGateway,
)
from auditor.rules import run_rules
from tests.builders import R1, A, B, peering, route, side, snapshot, subnet, table, vpc
from tests.faults import FaultServer

DEAD = "route-dead-target"


def dead(snap: Snapshot) -> list[Finding]:
    return run_rules(snap, only=[DEAD])


def one_vpc(*routes: Any, extra: tuple[Any, ...] = (), **kw: Any) -> Snapshot:
    """vpc-a (10.0/16) with subnet-a1 on table rtb-a (main), which holds `routes`."""
    return snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        subnet("subnet-a1", "vpc-a", "10.0.1.0/24", tags={"Name": "app-1"}),
        table(
            "rtb-a",
            "vpc-a",
            route("10.0.0.0/16", "local"),
            *routes,
            main=True,
            tags={"Name": "private"},
        ),
        *extra,
        **kw,
    )


def nat(state: str = "available", account: str = A) -> NatGateway:
    return NatGateway("nat-1", account, R1, "vpc-a", "subnet-a1", state=state)


# --- NAT gateways ---


def test_route_to_deleted_nat_gateway_is_dead_although_the_route_says_active() -> None:
    (finding,) = dead(one_vpc(route("0.0.0.0/0", "nat-1"), extra=(nat("deleted"),)))
    assert (finding.resource_type, finding.resource_id, finding.vpc_id) == (
        "route-table",
        "rtb-a",
        "vpc-a",
    )
    assert str(finding.severity) == "high"
    assert finding.evidence["route_state"] == "active"
    assert finding.evidence["target_state"] == "deleted"
    assert finding.evidence["subnets"] == ["app-1 (subnet-a1)"]
    assert "NAT gateway nat-1 is deleted" in finding.message
    assert "private (rtb-a)" in finding.message and "app-1 (subnet-a1)" in finding.message
    # Repair or delete is the user's call: prose, no command.
    assert "replace-route" in finding.remediation and "delete-route" in finding.remediation
    assert finding.remediation_commands == []


@pytest.mark.parametrize("state", ["available", "pending"])
def test_route_to_available_or_pending_nat_gateway_is_fine(state: str) -> None:
    assert dead(one_vpc(route("0.0.0.0/0", "nat-1"), extra=(nat(state),))) == []


@pytest.mark.parametrize("state", ["failed", "deleting"])
def test_route_to_failed_or_deleting_nat_gateway_is_dead(state: str) -> None:
    (finding,) = dead(one_vpc(route("0.0.0.0/0", "nat-1"), extra=(nat(state),)))
    assert finding.evidence["target_state"] == state


def test_route_to_nat_gateway_missing_from_an_audited_account_is_dead() -> None:
    snap = one_vpc(route("0.0.0.0/0", "nat-gone"))
    snap.nat_gateways = []  # whatever the builders add: this one is gone
    (finding,) = dead(snap)
    assert finding.evidence["target_state"] == "absent"
    assert "no longer exists" in finding.message


def test_route_to_nat_gateway_in_an_unaudited_account_is_not_claimed_dead() -> None:
    # The table was seen (e.g. by a participant of the shared VPC) but its owner's
    # account-region could not be read, so the NAT gateway's absence proves nothing.
    snap = one_vpc(route("0.0.0.0/0", "nat-elsewhere"), unaudited=((A, R1),))
    snap.nat_gateways = []
    assert dead(snap) == []


def test_missing_target_in_a_vpc_shared_with_an_unaudited_account_is_not_claimed_dead() -> None:
    participant_eni = NetworkInterface("eni-b", B, R1, "vpc-a", "subnet-a1")
    snap = one_vpc(
        route("192.168.0.0/16", "eni-unknown"),
        route("172.16.0.0/12", "i-unknown"),
        extra=(participant_eni,),
        unaudited=((B, R1),),
    )
    assert dead(snap) == []
    snap.coverage[-1].status = "ok"  # once the participant is audited, absence is proof
    assert {f.evidence["target"] for f in dead(snap)} == {"eni-unknown", "i-unknown"}


# --- blackhole, local, several routes ---


def test_blackhole_route_is_dead_whatever_its_target() -> None:
    (finding,) = dead(one_vpc(route("172.16.0.0/12", "vgw-1", state="blackhole")))
    assert finding.evidence["route_state"] == "blackhole"
    assert "blackhole" in finding.message


def test_local_route_is_never_dead() -> None:
    snap = one_vpc()
    snap.route_tables[0].routes[0].state = "blackhole"
    assert dead(snap) == []


def test_each_dead_route_of_a_table_is_its_own_finding() -> None:
    snap = one_vpc(route("0.0.0.0/0", "nat-1"), route("::/0", "nat-1"), extra=(nat("deleted"),))
    findings = dead(snap)
    assert sorted(f.evidence["destination"] for f in findings) == ["0.0.0.0/0", "::/0"]  # type: ignore[type-var]
    assert len({f.id for f in findings}) == 2
    assert any("route ::/0 in rtb-a" in f.remediation for f in findings)


def test_table_serving_no_subnet_is_still_reported() -> None:
    snap = one_vpc(extra=(table("rtb-spare", "vpc-a", route("0.0.0.0/0", "nat-1")), nat("deleted")))
    (finding,) = dead(snap)
    assert finding.resource_id == "rtb-spare" and finding.evidence["subnets"] == []


def test_propagated_dead_route_is_fixed_by_propagation_not_delete_route() -> None:
    snap = one_vpc(
        route("192.168.0.0/16", "vgw-1", state="blackhole", origin="EnableVgwRoutePropagation")
    )
    (finding,) = dead(snap)
    assert "disable-vgw-route-propagation" in finding.remediation
    assert "delete-route" not in finding.remediation


# --- internet gateways, endpoints, transit gateways, ENIs, instances ---


def test_internet_gateway_attached_elsewhere_or_detached_is_dead() -> None:
    for attached in (["vpc-other"], []):
        igw = InternetGateway("igw-1", A, R1, vpc_ids=attached)
        (finding,) = dead(one_vpc(route("0.0.0.0/0", "igw-1"), extra=(igw,)))
        assert "not attached to vpc-a" in finding.message
    igw = InternetGateway("igw-1", A, R1, vpc_ids=["vpc-a"])
    assert dead(one_vpc(route("0.0.0.0/0", "igw-1"), extra=(igw,))) == []


def test_gateway_endpoint_missing_or_not_available_is_dead() -> None:
    def endpoint(state: str) -> Endpoint:
        return Endpoint("vpce-1", A, R1, "vpc-a", "Gateway", "com.amazonaws.us-east-1.s3", state)

    assert dead(one_vpc(route("pl-63a5400a", "vpce-1"), extra=(endpoint("available"),))) == []
    (finding,) = dead(one_vpc(route("pl-63a5400a", "vpce-1"), extra=(endpoint("Deleted"),)))
    assert "route pl-63a5400a in rtb-a" in finding.remediation
    (finding,) = dead(one_vpc(route("pl-63a5400a", "vpce-1")))
    assert finding.evidence["target_state"] == "absent"


def test_transit_gateway_absent_is_not_claimed_but_deleted_is_dead() -> None:
    # A transit gateway shared through RAM belongs to another account: absence proves nothing.
    assert dead(one_vpc(route("10.8.0.0/13", "tgw-1"))) == []
    tgw = TransitGateway("tgw-1", B, R1, state="deleted")
    (finding,) = dead(one_vpc(route("10.8.0.0/13", "tgw-1"), extra=(tgw,)))
    assert finding.evidence["target_state"] == "deleted"
    available = TransitGateway("tgw-1", B, R1)
    assert dead(one_vpc(route("10.8.0.0/13", "tgw-1"), extra=(available,))) == []


def test_route_to_detached_network_interface_is_dead() -> None:
    eni = NetworkInterface("eni-1", A, R1, "vpc-a", "subnet-a1", status="available")
    (finding,) = dead(one_vpc(route("192.168.0.0/16", "eni-1"), extra=(eni,)))
    assert "not attached" in finding.message
    eni.status = "in-use"
    assert dead(one_vpc(route("192.168.0.0/16", "eni-1"), extra=(eni,))) == []


def test_instance_route_is_alive_while_the_instance_has_an_eni() -> None:
    eni = NetworkInterface("eni-1", A, R1, "vpc-a", "subnet-a1", instance_id="i-1")
    assert dead(one_vpc(route("0.0.0.0/0", "i-1"), extra=(eni,))) == []
    (finding,) = dead(one_vpc(route("0.0.0.0/0", "i-1")))
    assert finding.evidence["target_type"] == "instance"


# --- peerings: gone here, inactive ones belong to peering-inactive-lingering ---


def test_route_to_peering_gone_from_an_audited_account_is_dead() -> None:
    (finding,) = dead(one_vpc(route("10.1.0.0/16", "pcx-gone")))
    assert finding.evidence["target_type"] == "vpc-peering-connection"


def test_route_to_deleted_peering_is_lingering_not_dead_target() -> None:
    pcx = peering("pcx-1", side("vpc-a", "10.0.0.0/16"), side("vpc-b", "10.1.0.0/16"), "deleted")
    snap = one_vpc(route("10.1.0.0/16", "pcx-1"), extra=(pcx,))
    assert dead(snap) == []
    both = run_rules(snap, only=[DEAD, "peering-inactive-lingering"])
    assert [f.rule_id for f in both] == ["peering-inactive-lingering"]


def test_blackhole_route_to_active_peering_is_dead() -> None:
    pcx = peering("pcx-1", side("vpc-a", "10.0.0.0/16"), side("vpc-b", "10.1.0.0/16"))
    assert dead(one_vpc(route("10.1.0.0/16", "pcx-1"), extra=(pcx,))) == []
    (finding,) = dead(one_vpc(route("10.1.0.0/16", "pcx-1", state="blackhole"), extra=(pcx,)))
    assert finding.evidence["target_state"] == "active"


# --- end to end in moto ---


def ec2_client() -> Any:
    return boto3.client("ec2", region_name="us-east-1")


def audit(*rule_ids: str) -> list[Finding]:
    return run_rules(collect(Request(regions=("us-east-1",))), only=list(rule_ids))


def test_deleted_nat_gateway_in_moto(aws: FaultServer) -> None:
    ec2 = ec2_client()
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat_id = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"
    ]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet_id)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    assert audit(DEAD) == []

    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    (finding,) = audit(DEAD)
    assert (finding.resource_id, finding.evidence["target"]) == (rtb, nat_id)
    assert finding.evidence["route_state"] == "active"  # moto, like a lagging AWS, says active
    assert finding.evidence["target_state"] == "deleted"


def test_default_route_through_a_peering_and_a_deleted_peering_in_moto(aws: FaultServer) -> None:
    ec2 = ec2_client()
    a = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    c = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    ab = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    ac = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c)["VpcPeeringConnection"]
    for pcx in (ab, ac):
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    ab_id, ac_id = ab["VpcPeeringConnectionId"], ac["VpcPeeringConnectionId"]
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", VpcPeeringConnectionId=ab_id
    )
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.2.0.0/16", VpcPeeringConnectionId=ac_id
    )
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=ac_id)

    findings = audit("peering-route-outside-peer", "peering-inactive-lingering", DEAD)
    by_rule = {f.rule_id: f for f in findings}
    assert set(by_rule) == {"peering-route-outside-peer", "peering-inactive-lingering"}
    outside = by_rule["peering-route-outside-peer"]
    assert outside.resource_id == rtb
    routes = outside.evidence["routes"]
    assert isinstance(routes, list)
    (row,) = routes
    assert row["destination"] == "0.0.0.0/0" and row["inside_peer"] == "10.1.0.0/16"
    lingering = by_rule["peering-inactive-lingering"]
    assert lingering.resource_id == ac_id
    assert lingering.evidence["routes"][0]["destination"] == "10.2.0.0/16"  # type: ignore[index]
