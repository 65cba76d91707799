"""Peering rules on hand-built snapshots: acceptance, return routes, DNS, peer not audited."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.collect import merge_views
from auditor.collect.ec2 import RegionView
from auditor.model import Finding, Snapshot
from auditor.rules import run_rules
from tests.builders import R1, R2, A, B, peering, route, side, snapshot, subnet, table, vpc

PCX = "pcx-1"


def findings(snap: Snapshot, rule_id: str) -> list[Finding]:
    return run_rules(snap, only=[rule_id])


def two_vpcs(
    *tables: Any,
    status: str = "active",
    b_account: str = A,
    b_region: str = R1,
    unaudited: tuple[tuple[str, str], ...] = (),
    dns: tuple[bool | None, bool | None] = (True, True),
    extra: tuple[Any, ...] = (),
) -> Snapshot:
    """VPC a (10.0/16, subnet 10.0.1/24) peered with VPC b (10.1/16, subnets 10.1.1/24, 10.1.2/24)."""
    return snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        subnet("subnet-a1", "vpc-a", "10.0.1.0/24", tags={"Name": "app-1"}),
        vpc("vpc-b", "10.1.0.0/16", account=b_account, region=b_region),
        subnet("subnet-b1", "vpc-b", "10.1.1.0/24", account=b_account, region=b_region),
        subnet("subnet-b2", "vpc-b", "10.1.2.0/24", account=b_account, region=b_region),
        peering(
            PCX,
            side("vpc-a", "10.0.0.0/16", dns=dns[0]),
            side("vpc-b", "10.1.0.0/16", account=b_account, region=b_region, dns=dns[1]),
            status=status,
        ),
        *tables,
        *extra,
        unaudited=unaudited,
    )


def a_table(*routes: Any) -> Any:
    return table("rtb-a", "vpc-a", route("10.0.0.0/16", "local"), *routes, main=True)


def b_table(*routes: Any, account: str = A, region: str = R1, **kw: Any) -> Any:
    kw.setdefault("main", True)
    return table(
        "rtb-b",
        "vpc-b",
        route("10.1.0.0/16", "local"),
        *routes,
        account=account,
        region=region,
        **kw,
    )


# --- peering-missing-return-route ---

RETURN = "peering-missing-return-route"


def test_forward_route_without_return_route() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table())
    (finding,) = findings(snap, RETURN)
    assert finding.resource_id == PCX
    assert finding.resource_type == "vpc-peering-connection"
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert gap["source_subnet"] == "app-1 (subnet-a1)"
    assert gap["forwarded"] == ["10.1.0.0/16"]
    assert gap["return_tables_checked"][0]["not_routed_back"] == ["10.0.1.0/24"]
    assert finding.account_id == A and finding.vpc_id == "vpc-b"


def test_symmetric_routes_are_healthy() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.0.0/16", PCX)))
    assert findings(snap, RETURN) == []


def test_return_route_for_just_the_source_subnet_is_enough() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.1.0/24", PCX)))
    assert findings(snap, RETURN) == []


def test_more_specific_route_shadows_the_broad_return_route() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", PCX), route("10.0.1.0/25", "nat-1")),
    )
    (finding,) = findings(snap, RETURN)
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert gap["return_tables_checked"][0]["not_routed_back"] == ["10.0.1.0/25"]


def test_return_from_only_some_destination_subnets_is_enough_here() -> None:
    # subnet-b1 has its own table with the return route; subnet-b2 stays on the main table without.
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(),
        table("rtb-b1", "vpc-b", route("10.0.0.0/16", PCX), subnets=("subnet-b1",)),
    )
    assert findings(snap, RETURN) == []


def test_forward_route_to_one_subnet_is_checked_against_that_subnets_table() -> None:
    # a forwards only to 10.1.2.0/24 (subnet-b2, main table, no return) although b1's table
    # would return; and b1 forwards all of vpc-a, but a's table only routes 10.1.2/24 back.
    snap = two_vpcs(
        a_table(route("10.1.2.0/24", PCX)),
        b_table(),
        table("rtb-b1", "vpc-b", route("10.0.0.0/16", PCX), subnets=("subnet-b1",)),
    )
    (finding,) = findings(snap, RETURN)
    gaps = {g["source_subnet"]: g for g in finding.evidence["gaps"]}  # type: ignore[attr-defined]
    assert set(gaps) == {"app-1 (subnet-a1)", "subnet-b1"}
    assert gaps["app-1 (subnet-a1)"]["forwarded"] == ["10.1.2.0/24"]
    assert gaps["subnet-b1"]["forwarded"] == ["10.0.0.0/16"]


def test_return_route_via_main_table_implicit_association() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", PCX)),  # main table: serves b1 and b2 implicitly
    )
    assert findings(snap, RETURN) == []


@pytest.mark.parametrize(("account", "region"), [(B, R1), (A, R2), (B, R2)])
def test_cross_account_and_cross_region_peerings(account: str, region: str) -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(account=account, region=region),
        b_account=account,
        b_region=region,
    )
    (finding,) = findings(snap, RETURN)
    assert (finding.account_id, finding.region) == (account, region)
    assert findings(snap, "peering-peer-not-audited") == []


def test_gaps_in_both_directions_are_one_finding() -> None:
    # a1 -> b1 has no return on b1's table; b1 -> a2 has no return on a2's table.
    snap = two_vpcs(
        a_table(route("10.1.1.0/24", PCX)),
        b_table(),
        extra=(
            subnet("subnet-a2", "vpc-a", "10.0.2.0/24"),
            table("rtb-a2", "vpc-a", route("10.0.0.0/16", "local"), subnets=("subnet-a2",)),
            table("rtb-b1", "vpc-b", route("10.0.2.0/24", PCX), subnets=("subnet-b1",)),
        ),
    )
    (finding,) = findings(snap, RETURN)
    gaps = {g["source_subnet"]: g for g in finding.evidence["gaps"]}  # type: ignore[attr-defined]
    assert set(gaps) == {"app-1 (subnet-a1)", "subnet-b1"}
    assert gaps["subnet-b1"]["return_tables_checked"][0]["route_table"] == "rtb-a2"


def test_pending_peering_is_not_a_missing_route() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(), status="pending-acceptance")
    assert findings(snap, RETURN) == []
    assert [f.rule_id for f in run_rules(snap)] == ["peering-pending-acceptance"]


def test_route_table_serving_no_subnet_is_ignored() -> None:
    snap = two_vpcs(
        table("rtb-a", "vpc-a", route("10.1.0.0/16", PCX)),  # not main, no subnets
        table("rtb-amain", "vpc-a", route("10.0.0.0/16", "local"), main=True),
        b_table(),
    )
    assert findings(snap, RETURN) == []


def test_route_outside_peer_cidr_is_not_a_missing_return() -> None:
    snap = two_vpcs(a_table(route("192.168.0.0/16", PCX)), b_table())
    assert findings(snap, RETURN) == []


# --- peering-peer-not-audited ---


def test_peer_not_audited_is_info_not_a_missing_route() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_account=B,
        b_region=R2,
        unaudited=((B, R2),),
    )
    # Only what the audited side saw: drop the peer's VPC, subnets and tables.
    snap.vpcs = [v for v in snap.vpcs if v.account_id == A]
    snap.subnets = [s for s in snap.subnets if s.account_id == A]
    assert findings(snap, RETURN) == []
    (finding,) = findings(snap, "peering-peer-not-audited")
    assert str(finding.severity) == "info"
    assert finding.evidence["not_audited"] == [{"account_id": B, "region": R2}]
    assert f"--account {B}" in finding.remediation and f"--region {R2}" in finding.remediation


# --- peering-pending-acceptance ---

PENDING = "peering-pending-acceptance"


def test_pending_acceptance_names_who_must_accept() -> None:
    snap = two_vpcs(status="pending-acceptance", b_account=B, b_region=R2)
    snap.peerings[0].expiration_time = "2026-12-01T10:00:00+00:00"
    (finding,) = findings(snap, PENDING)
    assert (finding.account_id, finding.region, finding.vpc_id) == (B, R2, "vpc-b")
    assert finding.evidence["must_accept"] == {"account_id": B, "region": R2, "vpc_id": "vpc-b"}
    assert "2026-12-01T10:00:00+00:00" in finding.message
    assert f"--vpc-peering-connection-id {PCX} --region {R2}" in finding.remediation


@pytest.mark.parametrize("status", ["active", "rejected", "deleted", "expired", "failed"])
def test_other_statuses_are_not_pending(status: str) -> None:
    assert findings(two_vpcs(status=status), PENDING) == []


# --- peering-dns-resolution-off ---

DNS = "peering-dns-resolution-off"


def test_dns_off_on_accepter_side_names_that_account() -> None:
    snap = two_vpcs(b_account=B, dns=(True, False))
    (finding,) = findings(snap, DNS)
    assert finding.account_id == B
    assert "accepter side" in finding.message and "requester side" not in finding.message
    assert "--accepter-peering-connection-options" in finding.remediation
    assert finding.evidence["accepter"]["AllowDnsResolutionFromRemoteVpc"] is False  # type: ignore[index]


def test_dns_on_both_sides_is_healthy() -> None:
    assert findings(two_vpcs(dns=(True, True)), DNS) == []


def test_dns_unknown_is_not_claimed_off() -> None:
    assert findings(two_vpcs(dns=(None, True)), DNS) == []


def test_dns_off_on_pending_peering_is_not_reported() -> None:
    assert findings(two_vpcs(status="pending-acceptance", dns=(False, False)), DNS) == []


def test_vpc_dns_attributes_off_are_flagged() -> None:
    snap = two_vpcs(dns=(False, True))
    snap.vpcs[1].dns_hostnames = False
    (finding,) = findings(snap, DNS)
    assert "has no effect" in finding.message
    assert finding.evidence["vpc_dns_attributes"]["vpc-b"]["enableDnsHostnames"] is False  # type: ignore[index]


# --- one finding per peering, however many views saw it ---


def test_peering_seen_from_both_accounts_is_reported_once() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(), b_account=B, dns=(False, False))
    seen_by_a = RegionView(peerings=[snap.peerings[0]])
    twin = two_vpcs(b_account=B, dns=(False, False)).peerings[0]
    seen_by_b = RegionView(peerings=[twin])
    snap.peerings = merge_views([seen_by_a, seen_by_b]).peerings
    assert len(snap.peerings) == 1
    rules = [f.rule_id for f in run_rules(snap)]
    assert sorted(rules) == [DNS, RETURN]
