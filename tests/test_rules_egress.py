"""s3-egress-via-nat on hand-built snapshots."""

from __future__ import annotations

from auditor.model import Finding, Snapshot
from auditor.rules import run_rules
from tests.builders import (
    R2,
    S3_PL,
    route,
    s3_endpoint,
    s3_prefix_list,
    snapshot,
    subnet,
    table,
    vpc,
)

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
    assert "create-vpc-endpoint" in finding.remediation
    assert "shop (vpc-1)" in finding.message
    assert "per GB" in finding.message or "every GB" in finding.message


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
        finding.remediation
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
    assert "create-vpc-endpoint" in finding.remediation
    assert finding.evidence["gateway_endpoints_in_vpc"] == []
