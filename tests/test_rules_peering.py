"""Peering rules on hand-built snapshots: acceptance, return routes, DNS, peer not audited."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.collect.ec2 import RegionView
from auditor.collect.merge import merge_views
from auditor.model import (
    Finding,
    NetworkInterface,
    PrefixList,
    RuleSettings,
    Severity,
    Snapshot,
    TransitGateway,
)
from auditor.rules import run_rules
from tests.builders import R1, R2, A, B, peering, route, side, snapshot, subnet, table, vpc
from tests.hub import hub_estate


def cmds(finding: Finding) -> str:
    """The finding's remediation commands, as one text to search."""
    return "\n".join(finding.remediation_commands)


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


def test_a_subnet_outside_the_forwarded_ranges_is_not_a_destination() -> None:
    """An IPv6-only subnet of the peer VPC (its IPv6 block not listed on the VPC, as a
    disassociating block can be) is not reached by an IPv4 peering route, so its table owes no
    route back: no partial-return finding for it."""
    v6_only = subnet("subnet-b6", "vpc-b", "", ipv6_cidr_blocks=["2600:1f18::/64"])
    v6_table = table("rtb-b6", "vpc-b", route("10.1.0.0/16", "local"), subnets=("subnet-b6",))
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", PCX)),
        v6_table,
        extra=(v6_only,),
    )
    assert findings(snap, "peering-partial-return-route") == []
    assert findings(snap, RETURN) == []


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
    assert f"--vpc-peering-connection-id {PCX} --region {R2}" in cmds(finding)


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
    assert "--accepter-peering-connection-options" in cmds(finding)
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


# --- peering-overlapping-cidr ---

OVERLAP = "peering-overlapping-cidr"


def test_secondary_cidr_associated_later_overlaps() -> None:
    # The peering only reports b's primary CIDR; the VPC itself has the overlapping secondary.
    snap = two_vpcs()
    snap.vpcs[1].cidr_blocks.append("10.0.128.0/17")
    (finding,) = findings(snap, OVERLAP)
    assert finding.evidence["overlapping"] == ["10.0.128.0/17"]
    assert finding.resource_type == "vpc-peering-connection"
    assert str(finding.severity) == "high"
    assert "10.0.128.0/17" in finding.message


def test_disjoint_vpcs_do_not_overlap() -> None:
    assert findings(two_vpcs(), OVERLAP) == []


@pytest.mark.parametrize(
    "status", ["initiating-request", "pending-acceptance", "provisioning", "active"]
)
def test_overlap_on_a_peering_that_carries_or_could_carry_traffic(status: str) -> None:
    snap = two_vpcs(status=status)
    snap.peerings[0].accepter.cidr_blocks = ["10.0.0.0/8"]
    (finding,) = findings(snap, OVERLAP)
    assert finding.evidence["overlapping"] == ["10.0.0.0/16"]
    assert status in finding.message


def test_ipv6_overlap() -> None:
    snap = two_vpcs()
    snap.vpcs[0].ipv6_cidr_blocks = ["2600:1f18:1:100::/56"]
    snap.vpcs[1].ipv6_cidr_blocks = ["2600:1f18:1:100::/64"]
    (finding,) = findings(snap, OVERLAP)
    assert finding.evidence["overlapping"] == ["2600:1f18:1:100::/64"]


# --- peering-route-outside-peer ---

OUTSIDE = "peering-route-outside-peer"


def test_default_route_through_a_peering() -> None:
    snap = two_vpcs(a_table(route("0.0.0.0/0", PCX)), b_table())
    (finding,) = findings(snap, OUTSIDE)
    assert (finding.resource_type, finding.resource_id, finding.vpc_id) == (
        "route-table",
        "rtb-a",
        "vpc-a",
    )
    (row,) = finding.evidence["routes"]  # type: ignore[misc]
    assert row["destination"] == "0.0.0.0/0"
    # a's own 10.0.0.0/16 matches the more specific local route and never enters the peering
    assert row["outside_peer"] == "0.0.0.0/0 except 10.0.0.0/16, 10.1.0.0/16"
    assert "sends 0.0.0.0/0 except 10.0.0.0/16, 10.1.0.0/16 into peering" in finding.message
    assert row["taken_by_more_specific_routes"] == "10.0.0.0/16"
    assert row["inside_peer"] == "10.1.0.0/16"
    assert "--destination-cidr-block 0.0.0.0/0" in cmds(finding)
    assert (
        f"create-route --route-table-id rtb-a --destination-cidr-block 10.1.0.0/16 "
        f"--vpc-peering-connection-id {PCX}" in cmds(finding)
    )


def test_ipv6_default_route_through_a_peering() -> None:
    snap = two_vpcs(a_table(route("::/0", PCX)), b_table())
    (finding,) = findings(snap, OUTSIDE)
    assert finding.evidence["routes"][0]["outside_peer"] == "::/0"  # type: ignore[index]
    assert "create-route" not in finding.remediation  # nothing of ::/0 lies inside the peer


def test_routes_inside_the_peer_are_fine() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.1.0/24", PCX)))
    assert findings(snap, OUTSIDE) == []


def test_partly_outside_route_and_prefix_list_route_report_the_outside_part() -> None:
    plist = PrefixList("pl-corp", R1, "corp", A, ["10.1.5.0/24", "192.168.0.0/24"])
    snap = two_vpcs(
        a_table(route("10.0.0.0/14", PCX), route("pl-corp", PCX)), b_table(), extra=(plist,)
    )
    (finding,) = findings(snap, OUTSIDE)
    rows = {r["destination"]: r for r in finding.evidence["routes"]}  # type: ignore[attr-defined]
    # 10.0.0.0/16 is a's own range: the local route, more specific, keeps it at home
    assert rows["10.0.0.0/14"]["outside_peer"] == "10.2.0.0/15"
    assert rows["pl-corp"]["outside_peer"] == "192.168.0.0/24"


def test_route_from_the_accepter_side_is_checked_against_the_requester() -> None:
    snap = two_vpcs(a_table(), b_table(route("10.0.0.0/8", PCX), account=B), b_account=B)
    (finding,) = findings(snap, OUTSIDE)
    assert (finding.resource_id, finding.account_id) == ("rtb-b", B)
    assert finding.evidence["peer_cidrs"] == ["10.0.0.0/16"]


def test_inactive_peering_routes_are_left_to_lingering() -> None:
    snap = two_vpcs(a_table(route("0.0.0.0/0", PCX)), b_table(), status="deleted")
    assert findings(snap, OUTSIDE) == []


# --- peering-partial-return-route ---

PARTIAL = "peering-partial-return-route"


def partial_snapshot(account: str = A, region: str = R1, **kw: Any) -> Snapshot:
    """a forwards all of b; b1's own table routes a back, b2 (main table) does not."""
    return two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(account=account, region=region),
        table(
            "rtb-b1",
            "vpc-b",
            route("10.1.0.0/16", "local"),
            route("10.0.0.0/16", PCX),
            subnets=("subnet-b1",),
            account=account,
            region=region,
        ),
        b_account=account,
        b_region=region,
        **kw,
    )


@pytest.mark.parametrize(("account", "region"), [(A, R1), (B, R1), (A, R2), (B, R2)])
def test_one_destination_subnet_returns_another_does_not(account: str, region: str) -> None:
    snap = partial_snapshot(account, region)
    (finding,) = findings(snap, PARTIAL)
    assert (finding.resource_id, finding.account_id, finding.region) == (PCX, account, region)
    assert str(finding.severity) == "low"
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert gap["subnets_that_cannot_reply"] == "subnet-b2"
    assert gap["returning_route_tables"] == "rtb-b1"
    assert gap["return_route_table"] == "rtb-b"
    assert gap["not_routed_back"] == "10.0.1.0/24"
    assert "subnet-b2" in finding.message and "subnet-b1" not in finding.message
    assert "rtb-b" in finding.remediation
    assert findings(snap, RETURN) == []  # the coarse rule deliberately stays quiet


def test_all_destination_subnets_returning_is_healthy() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.0.0/16", PCX)))
    assert findings(snap, PARTIAL) == []


def test_no_destination_subnet_returning_is_the_missing_return_rule() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table())
    assert findings(snap, PARTIAL) == []
    assert len(findings(snap, RETURN)) == 1


def test_narrow_forward_route_to_the_returning_subnet_is_healthy() -> None:
    snap = partial_snapshot()
    snap.route_tables[0].routes[1].destination_cidr = "10.1.1.0/24"
    assert findings(snap, PARTIAL) == []


def test_partial_return_towards_an_unaudited_peer_is_not_claimed() -> None:
    snap = partial_snapshot(B, R2, unaudited=((B, R2),))
    assert findings(snap, PARTIAL) == []


# --- peering-unused ---

UNUSED = "peering-unused"


def test_active_peering_without_routes_is_unused() -> None:
    (finding,) = findings(two_vpcs(a_table(), b_table()), UNUSED)
    assert finding.resource_id == PCX and str(finding.severity) == "low"
    assert f"delete-vpc-peering-connection --vpc-peering-connection-id {PCX}" in (
        finding.remediation
    )


def test_peering_used_on_only_one_side_is_not_unused() -> None:
    assert findings(two_vpcs(a_table(), b_table(route("10.0.0.0/16", PCX))), UNUSED) == []


def test_route_in_a_table_serving_no_subnet_counts_as_use() -> None:
    spare = table("rtb-spare", "vpc-a", route("10.1.0.0/16", PCX))
    assert findings(two_vpcs(a_table(), b_table(), extra=(spare,)), UNUSED) == []


def test_unaudited_side_may_use_it() -> None:
    snap = two_vpcs(a_table(), b_account=B, b_region=R2, unaudited=((B, R2),))
    snap.vpcs = [v for v in snap.vpcs if v.account_id == A]
    assert findings(snap, UNUSED) == []


@pytest.mark.parametrize("status", ["pending-acceptance", "deleted"])
def test_only_active_peerings_can_be_unused(status: str) -> None:
    assert findings(two_vpcs(a_table(), b_table(), status=status), UNUSED) == []


# --- peering-inactive-lingering ---

LINGER = "peering-inactive-lingering"


@pytest.mark.parametrize("status", ["deleted", "rejected", "failed", "expired"])
def test_routes_to_an_inactive_peering_linger(status: str) -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", PCX), account=B),
        b_account=B,
        status=status,
    )
    (finding,) = findings(snap, LINGER)
    assert finding.resource_id == PCX and str(finding.severity) == "medium"
    rows = finding.evidence["routes"]
    assert [(r["route_table"], r["destination"]) for r in rows] == [  # type: ignore[attr-defined]
        ("rtb-a", "10.1.0.0/16"),
        ("rtb-b", "10.0.0.0/16"),
    ]
    assert "rtb-a" in finding.message and "rtb-b" in finding.message
    assert (
        f"# in account {B} ({R1})\naws ec2 delete-route --route-table-id rtb-b "
        f"--destination-cidr-block 10.0.0.0/16" in cmds(finding)
    )


def test_deleted_peering_without_routes_is_not_lingering() -> None:
    assert findings(two_vpcs(a_table(), b_table(), status="deleted"), LINGER) == []


def test_active_peering_with_routes_is_not_lingering() -> None:
    assert findings(two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table()), LINGER) == []


# --- peering-untrusted-account ---

UNTRUSTED = "peering-untrusted-account"
C = "333333333333"


def vendor_peering(status: str = "active") -> Snapshot:
    """vpc-a (account A, in an organisation of A and B) peered with a VPC of account C."""
    snap = snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        peering(PCX, side("vpc-a", "10.0.0.0/16"), side("vpc-c", "10.9.0.0/16", account=C), status),
    )
    snap.scope.organization_accounts = [A, B]
    return snap


def test_peering_with_an_account_outside_the_organisation() -> None:
    (finding,) = findings(vendor_peering(), UNTRUSTED)
    assert (finding.account_id, finding.vpc_id) == (A, "vpc-a")
    assert finding.evidence["untrusted_accounts"] == [C]
    assert "outside the organisation" in finding.message
    assert "audit policy" in finding.remediation
    assert f"delete-vpc-peering-connection --vpc-peering-connection-id {PCX}" in (
        finding.remediation
    )


def test_pending_request_to_us_from_a_stranger_can_be_rejected() -> None:
    snap = vendor_peering("pending-acceptance")
    snap.peerings[0].requester, snap.peerings[0].accepter = (
        snap.peerings[0].accepter,
        snap.peerings[0].requester,
    )
    (finding,) = findings(snap, UNTRUSTED)
    assert "reject-vpc-peering-connection" in finding.remediation


def test_not_judged_when_neither_the_organisation_nor_trusted_accounts_are_known() -> None:
    snap = vendor_peering()
    snap.scope.organization_accounts = []
    assert findings(snap, UNTRUSTED) == []
    settings = RuleSettings(trusted_accounts=frozenset({B}))
    (finding,) = run_rules(snap, only=[UNTRUSTED], settings=settings)
    assert finding.evidence["untrusted_accounts"] == [C]


def test_trusted_account_from_the_policy_is_not_reported() -> None:
    settings = RuleSettings(trusted_accounts=frozenset({C}))
    assert run_rules(vendor_peering(), only=[UNTRUSTED], settings=settings) == []


def test_organisation_member_is_trusted_and_outsiders_are_named_as_such() -> None:
    snap = vendor_peering()
    snap.scope.organization_accounts = [A, C]
    assert findings(snap, UNTRUSTED) == []
    snap.scope.organization_accounts = [A]
    (finding,) = findings(snap, UNTRUSTED)
    assert "outside the organisation" in finding.message


def test_peering_between_audited_accounts_is_trusted() -> None:
    assert findings(two_vpcs(b_account=B), UNTRUSTED) == []


@pytest.mark.parametrize("status", ["rejected", "deleted", "failed"])
def test_dead_peering_with_a_stranger_is_not_reported(status: str) -> None:
    assert findings(vendor_peering(status), UNTRUSTED) == []


def test_ipv6_return_route_is_seen() -> None:
    # Regression: collapse() of a generator dropped IPv6, so IPv6 return routes looked missing.
    snap = two_vpcs(
        a_table(route("2600:1f18:b::/56", PCX)),
        b_table(route("2600:1f18:a::/56", PCX)),
    )
    snap.vpcs[0].ipv6_cidr_blocks = ["2600:1f18:a::/56"]
    snap.vpcs[1].ipv6_cidr_blocks = ["2600:1f18:b::/56"]
    snap.subnets[0].ipv6_cidr_blocks = ["2600:1f18:a::/64"]
    snap.subnets[1].ipv6_cidr_blocks = ["2600:1f18:b::/64"]
    assert findings(snap, RETURN) == []
    assert findings(snap, OUTSIDE) == []
    snap.route_tables[1].routes.pop()  # drop b's return route
    (finding,) = findings(snap, RETURN)
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert gap["return_tables_checked"][0]["not_routed_back"] == ["2600:1f18:a::/64"]


# --- overlap on a peering that can no longer carry traffic ---
# VPC peering guide, limitations: "You cannot create a VPC peering connection between VPCs that
# have matching or overlapping IPv4 or IPv6 CIDR blocks"; CreateVpcPeeringConnection: such a
# request "has a status of failed".


@pytest.mark.parametrize("status", ["failed", "rejected", "expired", "deleting", "deleted"])
def test_rejected_peering_with_overlap_is_history_not_a_finding(status: str) -> None:
    snap = two_vpcs(status=status)
    snap.peerings[0].accepter.cidr_blocks = ["10.0.0.0/8"]
    assert findings(snap, OVERLAP) == []


@pytest.mark.parametrize("status", ["active", "pending-acceptance"])
def test_overlap_message_never_claims_aws_allowed_the_overlap(status: str) -> None:
    snap = two_vpcs(status=status)
    snap.vpcs[1].cidr_blocks.append("10.0.128.0/17")
    (finding,) = findings(snap, OVERLAP)
    assert "AWS does not allow a peering between VPCs with matching or overlapping" in (
        finding.message
    )
    assert "associated afterwards" not in finding.message
    assert "where a CIDR was associated" not in finding.message
    assert finding.evidence["cidrs_reported_by_the_peering"] == {
        "requester": ["10.0.0.0/16"],
        "accepter": ["10.1.0.0/16"],
    }


# --- replies that leave by another path: asymmetric, not broken ---
# VPC peering guide, "Update your route tables": AWS does not support unicast reverse path
# forwarding in VPC peering connections; security groups are stateful.

ASYM = "peering-asymmetric-return"


def test_reply_through_a_transit_gateway_is_asymmetric_not_a_missing_route() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.0.0/8", "tgw-1")))
    assert findings(snap, RETURN) == []
    assert findings(snap, PARTIAL) == []
    (finding,) = findings(snap, ASYM)
    assert str(finding.severity) == "low"
    assert (finding.resource_id, finding.vpc_id) == (PCX, "vpc-b")
    (row,) = finding.evidence["replies"]  # type: ignore[misc]
    assert row["reply_route"] == {"destination": "10.0.0.0/8", "target": "tgw-1", "state": "active"}
    assert row["reply_ranges"] == ["10.0.1.0/24"]
    assert row["return_route_table"] == "rtb-b"
    assert row["leaves_by"] == "transit gateway tgw-1"
    assert "not followed beyond transit gateway tgw-1" in row["not_followed"]
    assert "not followed beyond transit gateway tgw-1" in finding.message
    assert "tgw-1" in finding.message and "asymmetric, not broken" in finding.message
    assert f"target {PCX} to rtb-b" in finding.remediation


def test_reply_through_a_virtual_private_gateway_is_asymmetric() -> None:
    propagated = route("10.0.0.0/16", "vgw-1", origin="EnableVgwRoutePropagation")
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(propagated))
    assert findings(snap, RETURN) == []
    (finding,) = findings(snap, ASYM)
    (row,) = finding.evidence["replies"]  # type: ignore[misc]
    assert row["leaves_by"] == "virtual private gateway vgw-1 (VPN or Direct Connect)"


def test_reply_through_an_appliance_is_asymmetric_and_not_followed() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", "eni-firewall")),
        extra=(NetworkInterface("eni-firewall", A, R1, "vpc-b", "subnet-b1", status="in-use"),),
    )
    assert findings(snap, RETURN) == []
    (finding,) = findings(snap, ASYM)
    (row,) = finding.evidence["replies"]  # type: ignore[misc]
    assert row["leaves_by"] == "appliance (network interface eni-firewall)"
    assert "not in the snapshot" in row["not_followed"]


def test_reply_to_a_deleted_transit_gateway_is_a_black_hole() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/8", "tgw-1")),
        extra=(TransitGateway("tgw-1", A, R1, state="deleted"),),
    )
    assert findings(snap, ASYM) == []
    (finding,) = findings(snap, RETURN)
    assert str(finding.severity) == "high"
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    (checked,) = gap["return_tables_checked"]
    assert checked["not_routed_back"] == ["10.0.1.0/24"]
    assert checked["replies"] == ["route 10.0.0.0/8 to tgw-1: transit gateway tgw-1 is deleted"]


def test_blackhole_route_to_a_transit_gateway_is_a_black_hole() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/8", "tgw-1", state="blackhole")),
    )
    assert findings(snap, ASYM) == []
    assert len(findings(snap, RETURN)) == 1


def test_reply_through_a_nat_gateway_stays_a_missing_route() -> None:
    snap = two_vpcs(a_table(route("10.1.0.0/16", PCX)), b_table(route("10.0.0.0/8", "nat-1")))
    assert findings(snap, ASYM) == []
    (finding,) = findings(snap, RETURN)
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert "NAT gateway" in gap["return_tables_checked"][0]["replies"][0]


def test_subnet_answering_through_a_hub_beside_one_that_drops_is_partial() -> None:
    # b1's table sends replies to the hub (asymmetric); b2 (main table) has no route at all.
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(),
        table(
            "rtb-b1",
            "vpc-b",
            route("10.1.0.0/16", "local"),
            route("10.0.0.0/8", "tgw-1"),
            subnets=("subnet-b1",),
        ),
    )
    assert findings(snap, RETURN) == []
    (partial,) = findings(snap, PARTIAL)
    (gap,) = partial.evidence["gaps"]  # type: ignore[misc]
    assert gap["subnets_that_cannot_reply"] == "subnet-b2"
    assert gap["answering_another_way"] == "rtb-b1"
    assert gap["returning_route_tables"] == ""
    (asym,) = findings(snap, ASYM)
    assert asym.evidence["replies"][0]["serves"] == ["subnet-b1"]  # type: ignore[index]


# --- longest-prefix match on routes through a peering ---
# VPC user guide, "Route priority": the most specific route that matches the traffic decides.


def test_broad_peering_route_fully_overridden_sends_nothing_into_the_peering() -> None:
    snap = two_vpcs(
        a_table(
            route("0.0.0.0/0", PCX),
            route("0.0.0.0/1", "igw-1"),
            route("128.0.0.0/1", "igw-1"),
            route("10.1.0.0/16", PCX),
        ),
        b_table(route("10.0.0.0/16", PCX)),
    )
    assert findings(snap, OUTSIDE) == []


def test_partially_overridden_peering_route_names_only_what_still_goes_there() -> None:
    snap = two_vpcs(
        a_table(route("0.0.0.0/0", PCX), route("0.0.0.0/1", "igw-1"), route("10.1.0.0/16", PCX)),
        b_table(route("10.0.0.0/16", PCX)),
    )
    (finding,) = findings(snap, OUTSIDE)
    (row,) = finding.evidence["routes"]  # type: ignore[misc]
    assert row["outside_peer"] == "128.0.0.0/1"
    assert row["taken_by_more_specific_routes"] == "0.0.0.0/1"
    assert "sends 128.0.0.0/1 into peering" in finding.message
    assert "create-route" not in finding.remediation  # 10.1.0.0/16 has its own route already


# --- ties AWS settles at random ---
# VPC user guide, "Route priority", prefix lists: "If your route table references multiple
# prefix lists that have overlapping CIDR blocks to different targets, we randomly choose which
# route takes priority. Thereafter, the same route always takes priority."

UNDETERMINED = "peering-route-undetermined"


def plist(id: str, *cidrs: str) -> PrefixList:
    return PrefixList(id, R1, id, A, list(cidrs))


def test_forward_route_tied_with_a_hub_route_gives_no_verdict_on_the_return() -> None:
    snap = two_vpcs(
        a_table(route("pl-peer", PCX), route("pl-hub", "tgw-1")),
        b_table(),  # no route back: a verdict would be high if the peering surely won
        extra=(plist("pl-peer", "10.1.0.0/16"), plist("pl-hub", "10.1.0.0/16")),
    )
    assert findings(snap, RETURN) == []
    (finding,) = findings(snap, UNDETERMINED)
    assert str(finding.severity) == "low"
    (row,) = finding.evidence["undetermined"]  # type: ignore[misc]
    assert row["route_table"] == "rtb-a" and row["ranges"] == ["10.1.0.0/16"]
    assert [r["target"] for r in row["tied_routes"]] == [PCX, "tgw-1"]
    assert "enters the peering" in row["decides"]
    assert "at random" in finding.message


def test_return_route_tied_between_the_peering_and_a_nat_gateway_gives_no_verdict() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("pl-back", PCX), route("pl-out", "nat-1")),
        extra=(plist("pl-back", "10.0.0.0/16"), plist("pl-out", "10.0.0.0/16")),
    )
    assert findings(snap, RETURN) == []
    assert findings(snap, PARTIAL) == []
    assert findings(snap, ASYM) == []
    (finding,) = findings(snap, UNDETERMINED)
    rows = {r["decides"].split(" ")[1]: r for r in finding.evidence["undetermined"]}  # type: ignore[attr-defined]
    assert rows["replies"]["route_table"] == "rtb-b"
    assert rows["replies"]["ranges"] == ["10.0.1.0/24"]
    assert (
        "replies to app-1 (subnet-a1) come back through the peering" in (rows["replies"]["decides"])
    )
    # b's own traffic to a is just as undecided: the same tie decides whether it enters
    assert rows["traffic"]["ranges"] == ["10.0.0.0/16"]


def test_tie_between_two_dead_ends_is_still_a_black_hole() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("pl-x", "nat-1"), route("pl-y", "nat-2")),
        extra=(plist("pl-x", "10.0.0.0/16"), plist("pl-y", "10.0.0.0/16")),
    )
    assert findings(snap, UNDETERMINED) == []
    assert len(findings(snap, RETURN)) == 1  # either route drops the replies


def test_route_beyond_the_peer_tied_with_another_target_gives_no_verdict() -> None:
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX), route("pl-wide", PCX), route("pl-web", "igw-1")),
        b_table(route("10.0.0.0/16", PCX)),
        extra=(plist("pl-wide", "192.168.0.0/24"), plist("pl-web", "192.168.0.0/24")),
    )
    assert findings(snap, OUTSIDE) == []
    (finding,) = findings(snap, UNDETERMINED)
    (row,) = finding.evidence["undetermined"]  # type: ignore[misc]
    assert row["ranges"] == ["192.168.0.0/24"] and "outside the peer VPC" in row["decides"]


def test_definite_gap_reports_the_undetermined_neighbour_in_its_evidence() -> None:
    # Replies to 10.0.1.0/25 have no route; replies to 10.0.1.128/25 depend on a tie.
    snap = two_vpcs(
        a_table(route("10.1.0.0/16", PCX)),
        b_table(route("pl-back", PCX), route("pl-out", "nat-1")),
        extra=(plist("pl-back", "10.0.1.128/25"), plist("pl-out", "10.0.1.128/25")),
    )
    (finding,) = findings(snap, RETURN)
    (gap,) = finding.evidence["gaps"]  # type: ignore[misc]
    assert gap["return_tables_checked"][0]["not_routed_back"] == ["10.0.1.0/25"]
    (row,) = finding.evidence["undetermined"]  # type: ignore[misc]
    assert row["ranges"] == ["10.0.1.128/25"]


# --- replies through a transit gateway hub the audit can read ---


def peered_spokes(*, hub_brings_back: bool) -> Snapshot:
    """Spoke 1 reaches spoke 2 through a peering; spoke 2 answers through the hub, whose
    egress table routes spoke 1's range back (or, without it, drops the replies)."""
    items = hub_estate()
    pcx = peering(
        "pcx-12", side("vpc-spoke1", "10.1.0.0/16"), side("vpc-spoke2", "10.2.0.0/16", account=B)
    )
    spoke1 = next(i for i in items if getattr(i, "id", "") == "rtb-spoke1")
    spoke1.routes.append(route("10.2.0.0/16", "pcx-12"))
    if not hub_brings_back:
        egress = next(i for i in items if getattr(i, "id", "") == "tgw-rtb-egress")
        egress.routes.pop(0)
    return snapshot(*items, pcx)


def test_reply_through_a_hub_that_brings_it_back_is_asymmetric_and_followed() -> None:
    snap = peered_spokes(hub_brings_back=True)
    assert findings(snap, RETURN) == []
    (finding,) = findings(snap, ASYM)
    rows = finding.evidence["replies"]  # one per source subnet of spoke 1
    for row in rows:  # type: ignore[attr-defined]
        assert "followed through the hub back to the source VPC" in row["not_followed"]
        assert "tgw-rtb-egress" in row["not_followed"]


def test_reply_through_a_hub_that_drops_it_is_a_missing_return_route() -> None:
    snap = peered_spokes(hub_brings_back=False)
    assert findings(snap, ASYM) == []
    (finding,) = findings(snap, RETURN)
    assert finding.severity == Severity.HIGH
    assert "the hub drops them" in str(finding.evidence)
