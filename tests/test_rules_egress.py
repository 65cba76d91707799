"""s3-egress-via-nat on hand-built snapshots."""

from __future__ import annotations

import pytest

from auditor.model import Endpoint, Finding, PrefixList, Route, RouteTable, Snapshot, Subnet
from auditor.rules import run_rules
from tests.builders import (
    R1,
    R2,
    S3_PL,
    A,
    route,
    s3_endpoint,
    s3_prefix_list,
    snapshot,
    subnet,
    table,
    vpc,
)


def cmds(finding: Finding) -> str:
    """The finding's remediation commands, as one text to search."""
    return "\n".join(finding.remediation_commands)


RULE = "s3-egress-via-nat"


def s3_findings(snap: Snapshot) -> list[Finding]:
    return run_rules(snap, only=[RULE])


def private_vpc(
    *tables: object, subnets: tuple[object, ...] | None = None, **kw: object
) -> Snapshot:
    base = [
        vpc("vpc-1", "10.0.0.0/16", tags={"Name": "shop"}),
        *(subnets if subnets is not None else [subnet("subnet-a", "vpc-1", "10.0.1.0/24")]),
    ]
    return snapshot(*base, *tables, **kw)  # type: ignore[arg-type]


def test_explicit_table_through_nat_without_endpoint() -> None:
    snap = private_vpc(
        table("rtb-priv", "vpc-1", route("0.0.0.0/0", "nat-1"), subnets=("subnet-a",)),
        table("rtb-main", "vpc-1", route("10.0.0.0/16", "local"), main=True),
    )
    (finding,) = s3_findings(snap)
    assert finding.resource_id == "rtb-priv"
    assert finding.resource_type == "route-table"
    assert finding.vpc_id == "vpc-1"
    assert finding.evidence["nat_gateways"] == ["nat-1"]
    assert finding.evidence["gateway_endpoints_in_vpc"] == []
    assert "create-vpc-endpoint" in cmds(finding)
    assert "shop (vpc-1)" in finding.message
    assert "per GB" in finding.message or "every GB" in finding.message
    # A bucket policy allowing by the NAT's address would deny the endpoint's requests.
    assert "aws:SourceIp" in finding.remediation and "aws:SourceVpce" in finding.remediation


def test_main_table_with_implicitly_associated_subnet() -> None:
    snap = private_vpc(table("rtb-main", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True))
    (finding,) = s3_findings(snap)
    assert finding.resource_id == "rtb-main"
    assert finding.evidence["main_table"] is True
    assert [s["id"] for s in finding.evidence["subnets"]] == ["subnet-a"]  # type: ignore[union-attr]


def test_main_table_serving_no_subnet_is_not_reported() -> None:
    snap = private_vpc(
        table("rtb-main", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True),
        table("rtb-pub", "vpc-1", route("0.0.0.0/0", "igw-1"), subnets=("subnet-a",)),
    )
    assert s3_findings(snap) == []


def test_endpoint_on_only_some_tables() -> None:
    snap = private_vpc(
        table(
            "rtb-routed",
            "vpc-1",
            route("0.0.0.0/0", "nat-1"),
            route(S3_PL, "vpce-1"),
            subnets=("subnet-a",),
        ),
        table("rtb-batch", "vpc-1", route("0.0.0.0/0", "nat-1"), subnets=("subnet-b",)),
        s3_endpoint("vpce-1", "vpc-1", "rtb-routed"),
        subnets=(
            subnet("subnet-a", "vpc-1", "10.0.1.0/24"),
            subnet("subnet-b", "vpc-1", "10.0.2.0/24"),
        ),
    )
    (finding,) = s3_findings(snap)
    assert finding.resource_id == "rtb-batch"
    assert finding.evidence["gateway_endpoints_in_vpc"] == ["vpce-1"]
    assert "modify-vpc-endpoint --vpc-endpoint-id vpce-1 --add-route-table-ids rtb-batch" in (
        cmds(finding)
    )


def test_public_table_to_internet_gateway_is_healthy() -> None:
    snap = private_vpc(
        table("rtb-pub", "vpc-1", route("0.0.0.0/0", "igw-1"), subnets=("subnet-a",))
    )
    assert s3_findings(snap) == []


def test_more_specific_route_to_igw_wins_over_default_nat_route() -> None:
    # Longest prefix match: S3's ranges fall inside 52.0.0.0/8 and 3.0.0.0/8, which go to the IGW.
    snap = private_vpc(
        table(
            "rtb-priv",
            "vpc-1",
            route("0.0.0.0/0", "nat-1"),
            route("52.0.0.0/8", "igw-1"),
            route("3.0.0.0/8", "igw-1"),
            subnets=("subnet-a",),
        )
    )
    assert s3_findings(snap) == []


def test_more_specific_nat_route_shadows_the_endpoint_route() -> None:
    snap = private_vpc(
        table(
            "rtb-priv",
            "vpc-1",
            route("0.0.0.0/0", "nat-1"),
            route(S3_PL, "vpce-1"),
            route("52.216.0.0/16", "nat-1"),  # more specific than the list's 52.216.0.0/15
            subnets=("subnet-a",),
        ),
        s3_endpoint("vpce-1", "vpc-1", "rtb-priv"),
    )
    (finding,) = s3_findings(snap)
    assert "override" in finding.message
    assert finding.evidence["routes_used"] == [
        {"destination": "52.216.0.0/16", "target": "nat-1", "state": "active"}
    ]


def test_endpoint_route_alone_is_healthy() -> None:
    snap = private_vpc(
        table(
            "rtb-priv",
            "vpc-1",
            route("0.0.0.0/0", "nat-1"),
            route(S3_PL, "vpce-1"),
            subnets=("subnet-a",),
        ),
        s3_endpoint("vpce-1", "vpc-1", "rtb-priv"),
    )
    assert s3_findings(snap) == []


def test_uses_the_tables_own_region_prefix_list() -> None:
    eu = s3_prefix_list(R2)
    snap = snapshot(
        vpc("vpc-eu", "10.9.0.0/16", region=R2),
        subnet("subnet-eu", "vpc-eu", "10.9.1.0/24", region=R2),
        table(
            "rtb-eu",
            "vpc-eu",
            route("0.0.0.0/0", "nat-9"),
            route(eu.id, "vpce-9"),
            subnets=("subnet-eu",),
            region=R2,
        ),
        s3_prefix_list(),
        eu,
    )
    assert s3_findings(snap) == []


def test_dead_nat_routes_are_not_egress_but_dead_targets() -> None:
    snap = private_vpc(
        table(
            "rtb-priv",
            "vpc-1",
            route("0.0.0.0/0", "nat-1", state="blackhole"),
            subnets=("subnet-a",),
        )
    )
    assert s3_findings(snap) == []
    snap.route_tables[0].routes[0].state = "active"
    snap.nat_gateways[0].state = "deleted"  # moto keeps such routes "active"
    assert s3_findings(snap) == []
    assert [f.rule_id for f in run_rules(snap)] == ["route-dead-target"]


def test_a_deleted_gateway_endpoint_is_not_offered_as_the_fix() -> None:
    snap = private_vpc(
        table("rtb-priv", "vpc-1", route("0.0.0.0/0", "nat-1"), subnets=("subnet-a",)),
        s3_endpoint("vpce-old", "vpc-1"),
    )
    snap.endpoints[0].state = "deleted"
    (finding,) = s3_findings(snap)
    assert "create-vpc-endpoint" in cmds(finding)
    assert finding.evidence["gateway_endpoints_in_vpc"] == []


# --- interface endpoints, DNS and missing prefix lists ---


def s3_interface(vpc_id: str = "vpc-1", **extra: object) -> Endpoint:
    return Endpoint(
        "vpce-if",
        A,
        R1,
        vpc_id,
        "Interface",
        f"com.amazonaws.{R1}.s3",
        private_dns_enabled=True,
        **extra,  # type: ignore[arg-type]
    )


def nat_table(*routes: Route) -> RouteTable:
    return table("rtb-priv", "vpc-1", route("0.0.0.0/0", "nat-1"), *routes, subnets=("subnet-a",))


def test_interface_endpoint_private_dns_answers_when_the_vpc_has_dns_support_and_hostnames() -> (
    None
):
    assert s3_findings(private_vpc(nat_table(), s3_interface())) == []


@pytest.mark.parametrize("attribute", ["dns_support", "dns_hostnames"])
def test_interface_endpoint_private_dns_does_not_apply_with_a_vpc_dns_attribute_off(
    attribute: str,
) -> None:
    snap = private_vpc(nat_table(), s3_interface())
    setattr(snap.vpcs[0], attribute, False)
    (finding,) = s3_findings(snap)
    name = {"dns_support": "enableDnsSupport", "dns_hostnames": "enableDnsHostnames"}[attribute]
    assert f"{name} is off" in finding.message
    assert finding.evidence["interface_endpoints_private_dns_ineffective"] == ["vpce-if"]
    # The alternative fix is the VPC's own finding's (vpc-dns-*): named here, not repeated.
    assert f"turn on {name} in vpc-1" in finding.remediation


def test_unknown_vpc_dns_attributes_are_not_taken_as_off() -> None:
    snap = private_vpc(nat_table(), s3_interface())
    snap.vpcs[0].dns_support = snap.vpcs[0].dns_hostnames = None
    assert s3_findings(snap) == []


def test_interface_endpoint_for_all_resolvers_takes_unassociated_tables_off_nat() -> None:
    # PrivateDnsOnlyForInboundResolverEndpoint false: VPC clients resolve S3 to the interface
    # endpoint, so a table the gateway endpoint does not route is not sending S3 through NAT.
    snap = private_vpc(
        nat_table(),
        s3_endpoint("vpce-gw", "vpc-1"),
        s3_interface(private_dns_only_for_inbound_resolver_endpoint=False),
    )
    assert s3_findings(snap) == []


@pytest.mark.parametrize("inbound_only", [True, None])
def test_interface_endpoint_for_inbound_resolver_only_leaves_vpc_clients_on_the_gateway_endpoint(
    inbound_only: bool | None,
) -> None:
    snap = private_vpc(
        nat_table(),
        s3_endpoint("vpce-gw", "vpc-1"),
        s3_interface(private_dns_only_for_inbound_resolver_endpoint=inbound_only),
    )
    (finding,) = s3_findings(snap)
    assert "not associated" in finding.message
    assert finding.evidence["gateway_endpoints_in_vpc"] == ["vpce-gw"]


def without_prefix_lists(snap: Snapshot) -> Snapshot:
    snap.prefix_lists = []
    return snap


def test_without_the_prefix_list_an_endpoint_route_keeps_the_table_off_nat() -> None:
    snap = without_prefix_lists(
        private_vpc(nat_table(route(S3_PL, "vpce-gw")), s3_endpoint("vpce-gw", "vpc-1"))
    )
    assert s3_findings(snap) == []


def test_without_the_prefix_list_the_endpoints_table_association_keeps_the_table_off_nat() -> None:
    snap = without_prefix_lists(
        private_vpc(nat_table(), s3_endpoint("vpce-gw", "vpc-1", "rtb-priv"))
    )
    assert s3_findings(snap) == []


def test_without_the_prefix_list_an_unassociated_table_falls_back_to_the_default_route() -> None:
    snap = without_prefix_lists(private_vpc(nat_table(), s3_endpoint("vpce-gw", "vpc-1", "rtb-x")))
    (finding,) = s3_findings(snap)
    assert "not associated" in finding.message
    assert finding.evidence["prefix_list"] == f"com.amazonaws.{R1}.s3 (not collected)"


def test_a_table_the_endpoint_lists_is_never_called_not_associated() -> None:
    # AWS adds the prefix-list route on association; a snapshot listing the table without the
    # route is inconsistent (e.g. hand-edited), not evidence of a NAT path.
    snap = private_vpc(nat_table(), s3_endpoint("vpce-gw", "vpc-1", "rtb-priv"))
    assert s3_findings(snap) == []


# --- NAT64 ---


def ipv6_only_subnet(dns64: bool | None = True) -> Subnet:
    return Subnet(
        "subnet-v6", A, R1, "vpc-1", ipv6_cidr_blocks=["2600:1f18::/64"], enable_dns64=dns64
    )


def nat64_table(*routes: Route) -> RouteTable:
    return table(
        "rtb-v6",
        "vpc-1",
        route("::/0", "eigw-1"),
        route("64:ff9b::/96", "nat-1"),
        *routes,
        subnets=("subnet-v6",),
    )


@pytest.mark.parametrize("dns64", [True, None])
def test_nat64_sends_ipv6_only_workloads_service_traffic_through_nat(dns64: bool | None) -> None:
    # Even with the gateway endpoint routed: it carries IPv4 only.
    snap = private_vpc(
        nat64_table(route(S3_PL, "vpce-gw")),
        s3_endpoint("vpce-gw", "vpc-1", "rtb-v6"),
        subnets=(ipv6_only_subnet(dns64),),
    )
    (finding,) = s3_findings(snap)
    assert finding.resource_id == "rtb-v6"
    assert "64:ff9b::/96" in finding.message
    assert finding.evidence["nat64_prefix"] == "64:ff9b::/96"
    assert "dualstack" in finding.remediation.lower()


def test_nat64_route_without_dns64_on_an_ipv6_only_subnet_is_not_reported() -> None:
    snap = private_vpc(nat64_table(), subnets=(ipv6_only_subnet(False),))
    assert s3_findings(snap) == []


def test_dual_stack_subnet_with_dns64_on_is_reported_once_per_path() -> None:
    dual = Subnet(
        "subnet-v6",
        A,
        R1,
        "vpc-1",
        cidr_block="10.0.1.0/24",
        ipv6_cidr_blocks=["2600:1f18::/64"],
        enable_dns64=True,
    )
    snap = private_vpc(nat64_table(route("0.0.0.0/0", "nat-1")), subnets=(dual,))
    findings = s3_findings(snap)
    assert len(findings) == 2  # IPv4 to S3 through NAT, and NAT64
    assert len({f.id for f in findings}) == 2
    assert sum("64:ff9b::/96" in f.message for f in findings) == 1


def test_dual_stack_subnet_without_dns64_does_not_use_nat64() -> None:
    dual = Subnet(
        "subnet-v6", A, R1, "vpc-1", cidr_block="10.0.1.0/24", ipv6_cidr_blocks=["2600:1f18::/64"]
    )
    snap = private_vpc(nat64_table(), subnets=(dual,))
    assert s3_findings(snap) == []


# --- NAT instances ---


@pytest.mark.parametrize("target", ["i-0123456789abcdef0", "eni-0123456789abcdef0"])
def test_nat_instance_routes_are_not_reported_no_nat_gateway_charge(target: str) -> None:
    snap = private_vpc(
        table("rtb-priv", "vpc-1", route("0.0.0.0/0", target), subnets=("subnet-a",))
    )
    assert s3_findings(snap) == []
    assert run_rules(snap, only=["dynamodb-egress-via-nat"]) == []


# --- ties AWS settles at random ---


def customer_list(*cidrs: str) -> PrefixList:
    return PrefixList("pl-cust", R1, "corp-egress", A, list(cidrs))


def test_customer_prefix_list_tied_with_the_endpoints_gives_no_verdict() -> None:
    # Both prefix-list routes hold 52.216.0.0/15: AWS picks one at random (VPC user guide,
    # Route priority), so the snapshot cannot say the traffic goes through the NAT gateway.
    snap = private_vpc(
        nat_table(route(S3_PL, "vpce-gw"), route("pl-cust", "nat-1")),
        s3_endpoint("vpce-gw", "vpc-1", "rtb-priv"),
        s3_prefix_list(),
        customer_list("52.216.0.0/15"),
    )
    assert s3_findings(snap) == []


def test_definite_nat_traffic_is_reported_with_the_tied_ranges_named() -> None:
    snap = private_vpc(
        nat_table(route(S3_PL, "vpce-gw"), route("pl-cust", "nat-1"), route("3.5.0.0/20", "nat-1")),
        s3_endpoint("vpce-gw", "vpc-1", "rtb-priv"),
        s3_prefix_list(),
        customer_list("52.216.0.0/15"),
    )
    (finding,) = s3_findings(snap)
    assert finding.evidence["routes_used"] == [
        {"destination": "3.5.0.0/20", "target": "nat-1", "state": "active"}
    ]
    (tied,) = finding.evidence["undetermined"]  # type: ignore[misc]
    assert tied["destination"] == "52.216.0.0/15"
