"""Rules through transit gateway hubs, on the hand-built hub-and-spoke estate of tests/hub.py."""

from __future__ import annotations

from auditor.model import Finding, RouteTableAssociation, Snapshot
from auditor.rules import run_rules
from tests.builders import A, snapshot, subnet
from tests.hub import AZ_A, hub_estate


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
    assert "create-vpc-endpoint --vpc-id vpc-spoke1" in finding.remediation
    assert "--route-table-ids rtb-spoke1" in finding.remediation


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


def test_egress_vpc_table_with_its_own_workloads_is_judged() -> None:
    items = hub_estate()
    items.append(subnet("subnet-eg-app", "vpc-egress", "10.100.1.0/24", availability_zone=AZ_A))
    eg_table = next(i for i in items if getattr(i, "id", "") == "rtb-eg-tgw")
    eg_table.associations[0].subnet_id = "subnet-eg-tgw"
    eg_table.associations.append(RouteTableAssociation("rtbassoc-app", subnet_id="subnet-eg-app"))
    reported = {f.resource_id for f in findings(snapshot(*items), "s3-egress-via-nat")}
    assert "rtb-eg-tgw" in reported


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
