"""VPC peering: acceptance, return routes and DNS resolution, judged from both sides at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from auditor.model import Finding, Peering, PeeringSide, RouteTable, Subnet
from auditor.net import Network, Topology, intersect, overlaps, subtract
from auditor.rules.base import found, label, routes_evidence, rule

ACTIVE = "active"
PENDING = "pending-acceptance"


def side_label(topo: Topology, side: PeeringSide) -> str:
    vpc = topo.vpcs.get(side.vpc_id)
    return f"VPC {label(side.vpc_id, vpc.tags if vpc else None)} (account {side.account_id}, {side.region})"


def role_of(peering: Peering, side: PeeringSide) -> str:
    return "requester" if side is peering.requester else "accepter"


@rule("peering-pending-acceptance")
def pending_acceptance(topo: Topology) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != PENDING:
            continue
        accepter, requester = peering.accepter, peering.requester
        expires = (
            f" The request expires at {peering.expiration_time}."
            if peering.expiration_time
            else " The request expires 7 days after it was made."
        )
        yield found(
            "peering-pending-acceptance",
            account_id=accepter.account_id,
            region=accepter.region,
            resource_id=peering.id,
            vpc_id=accepter.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} from {side_label(topo, requester)} to "
                f"{side_label(topo, accepter)} is waiting for acceptance; no traffic can flow until "
                f"account {accepter.account_id} accepts it in {accepter.region}.{expires}"
            ),
            remediation=(
                f"In account {accepter.account_id}: aws ec2 accept-vpc-peering-connection "
                f"--vpc-peering-connection-id {peering.id} --region {accepter.region}, then add "
                f"routes on both sides; or delete the request if it is not wanted."
            ),
            evidence={
                "status": peering.status,
                "requester": side_evidence(requester),
                "accepter": side_evidence(accepter),
                "must_accept": {
                    "account_id": accepter.account_id,
                    "region": accepter.region,
                    "vpc_id": accepter.vpc_id,
                },
                "expiration_time": peering.expiration_time,
            },
        )


def side_evidence(side: PeeringSide) -> dict[str, object]:
    return {
        "account_id": side.account_id,
        "region": side.region,
        "vpc_id": side.vpc_id,
        "cidrs": side.cidr_blocks + side.ipv6_cidr_blocks,
    }


@dataclass
class Direction:
    """Traffic one side's route table sends into the peering, towards the other side."""

    source: PeeringSide
    destination: PeeringSide
    table: RouteTable
    forwarded: list[Network]


def directions(topo: Topology, peering: Peering) -> Iterator[Direction]:
    """Every source table that sends part of the peer's address space into this peering."""
    for source, destination in (peering.sides(), reversed(peering.sides())):
        peer_space = topo.side_networks(destination)
        for table in topo.tables_by_vpc.get(source.vpc_id, []):
            if not topo.subnets_of_table(table):
                continue
            routed = [
                net
                for route in table.routes
                if route.target_id == peering.id
                for net in topo.route_networks(route)
            ]
            forwarded = intersect(topo.resolve_to(table, routed, peering.id), peer_space)
            if forwarded:
                yield Direction(source, destination, table, forwarded)


@dataclass
class MissingReturn:
    direction: Direction
    subnet: Subnet
    checked: list[dict[str, object]]


def missing_returns(topo: Topology, peering: Peering, way: Direction) -> Iterator[MissingReturn]:
    """Source subnets that no destination-side table (serving a subnet we forward to) routes back."""
    targets = [
        s
        for s in topo.subnets_by_vpc.get(way.destination.vpc_id, [])
        if any(overlaps(n, f) for n in topo.subnet_networks(s) for f in way.forwarded)
    ]
    tables: dict[str, tuple[RouteTable | None, list[Subnet]]] = {}
    for subnet in targets:
        table = topo.table_for_subnet(subnet)
        tables.setdefault(table.id if table else "", (table, []))[1].append(subnet)
    if not tables:
        return
    families = {f.version for f in way.forwarded}
    for source in topo.subnets_of_table(way.table):
        nets = [n for n in topo.subnet_networks(source) if n.version in families]
        if not nets:
            continue
        checked: list[dict[str, object]] = []
        for table, served in tables.values():
            back = topo.resolve_to(table, nets, peering.id) if table else []
            uncovered = subtract(nets, back)
            if not uncovered:
                break
            checked.append(
                {
                    "route_table": label(table.id, table.tags) if table else "(none)",
                    "serves": [label(s.id, s.tags) for s in served],
                    "not_routed_back": [str(n) for n in uncovered],
                }
            )
        else:
            yield MissingReturn(way, source, checked)


@rule("peering-missing-return-route")
def missing_return_route(topo: Topology) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != ACTIVE:
            continue
        problems = [
            gap
            for way in directions(topo, peering)
            if topo.side_audited(way.destination)
            for gap in missing_returns(topo, peering, way)
        ]
        if not problems:
            continue
        first = problems[0].direction
        lacking = sorted({label(p.direction.destination.vpc_id) for p in problems})
        subnets = [label(p.subnet.id, p.subnet.tags) for p in problems]
        yield found(
            "peering-missing-return-route",
            account_id=first.destination.account_id,
            region=first.destination.region,
            resource_id=peering.id,
            vpc_id=first.destination.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)}: route table "
                f"{label(first.table.id, first.table.tags)} in {side_label(topo, first.source)} "
                f"sends {', '.join(map(str, first.forwarded))} into the peering, but no route table "
                f"on the other side routes {len(problems)} source subnet(s) back through it "
                f"({', '.join(subnets[:5])}{'…' if len(subnets) > 5 else ''}). Replies take "
                f"another path or are dropped, so connections from these subnets fail."
            ),
            remediation=(
                f"In {', '.join(lacking)}: add a route for each source subnet's CIDR (or the "
                f"source VPC's CIDR) with target {peering.id} to the route tables of the "
                f"destination subnets, or remove the forward route if the path is not wanted."
            ),
            evidence={
                "gaps": [
                    {
                        "from_vpc": side_label(topo, p.direction.source),
                        "forward_route_table": label(p.direction.table.id, p.direction.table.tags),
                        "forward_routes": routes_evidence(
                            r for r in p.direction.table.routes if r.target_id == peering.id
                        ),
                        "forwarded": [str(n) for n in p.direction.forwarded],
                        "source_subnet": label(p.subnet.id, p.subnet.tags),
                        "source_cidrs": [str(n) for n in topo.subnet_networks(p.subnet)],
                        "to_vpc": side_label(topo, p.direction.destination),
                        "return_tables_checked": p.checked,
                    }
                    for p in problems
                ]
            },
        )


@rule("peering-peer-not-audited")
def peer_not_audited(topo: Topology) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != ACTIVE:
            continue
        unseen = {
            (way.destination.account_id, way.destination.region): way
            for way in directions(topo, peering)
            if not topo.side_audited(way.destination)
        }
        if not unseen:
            continue
        way = next(iter(unseen.values()))
        scope = ", ".join(f"account {a} in {r}" for a, r in sorted(unseen))
        yield found(
            "peering-peer-not-audited",
            account_id=way.source.account_id,
            region=way.source.region,
            resource_id=peering.id,
            vpc_id=way.source.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} carries traffic from "
                f"{side_label(topo, way.source)} to {side_label(topo, way.destination)}, but "
                f"{scope} was not audited, so its return routes cannot be checked."
            ),
            remediation=(
                f"Add {scope} to the audit (--account {way.destination.account_id} with "
                f"--role-name, or --org; --region {way.destination.region})."
            ),
            evidence={
                "forward_route_table": label(way.table.id, way.table.tags),
                "forwarded": [str(n) for n in way.forwarded],
                "not_audited": [{"account_id": a, "region": r} for a, r in sorted(unseen)],
            },
        )


@rule("peering-dns-resolution-off")
def dns_resolution_off(topo: Topology) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != ACTIVE:
            continue
        problems = []
        for side, other in (peering.sides(), reversed(peering.sides())):
            role = role_of(peering, side)
            if side.allow_dns_resolution_from_remote_vpc is False:
                problems.append(
                    f"{role} side: AllowDnsResolutionFromRemoteVpc is off, so instances in "
                    f"{other.vpc_id} resolve public DNS names of hosts in {side.vpc_id} to public "
                    f"IPs and that traffic leaves through NAT or an internet gateway instead of "
                    f"the peering; account {side.account_id} must turn it on in {side.region}"
                )
        if not problems:
            continue
        vpc_dns = {}
        for side in peering.sides():
            vpc = topo.vpcs.get(side.vpc_id)
            if vpc:
                vpc_dns[side.vpc_id] = {
                    "enableDnsSupport": vpc.dns_support,
                    "enableDnsHostnames": vpc.dns_hostnames,
                }
                if vpc.dns_support is False or vpc.dns_hostnames is False:
                    problems.append(
                        f"VPC {label(vpc.id, vpc.tags)} has enableDnsSupport or "
                        f"enableDnsHostnames off, so the peering DNS option has no effect until "
                        f"both are on"
                    )
        off = [s for s in peering.sides() if s.allow_dns_resolution_from_remote_vpc is False]
        commands = [
            f"account {s.account_id}: aws ec2 modify-vpc-peering-connection-options "
            f"--vpc-peering-connection-id {peering.id} --{role_of(peering, s)}-peering-connection-options "
            f"AllowDnsResolutionFromRemoteVpc=true --region {s.region}"
            for s in off
        ]
        yield found(
            "peering-dns-resolution-off",
            account_id=off[0].account_id,
            region=off[0].region,
            resource_id=peering.id,
            vpc_id=off[0].vpc_id,
            message=f"Peering {label(peering.id, peering.tags)}: " + "; ".join(problems) + ".",
            remediation="; ".join(commands)
            + ". Both VPCs need enableDnsSupport and enableDnsHostnames on.",
            evidence={
                "requester": {
                    **side_evidence(peering.requester),
                    "AllowDnsResolutionFromRemoteVpc": peering.requester.allow_dns_resolution_from_remote_vpc,
                },
                "accepter": {
                    **side_evidence(peering.accepter),
                    "AllowDnsResolutionFromRemoteVpc": peering.accepter.allow_dns_resolution_from_remote_vpc,
                },
                "vpc_dns_attributes": vpc_dns,
            },
        )
