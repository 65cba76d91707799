"""VPC peering, judged from both sides at once: acceptance, return routes (missing or partial),
DNS resolution, overlapping CIDRs, routes beyond the peer, unused, lingering and untrusted peerings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from auditor.model import Finding, Peering, PeeringSide, Route, RouteTable, Subnet
from auditor.net import Network, Topology, intersect, overlaps, subtract
from auditor.rules.base import found, label, routes_evidence, rule, vpc_label
from auditor.rules.routing import delete_route_command

ACTIVE = "active"
PENDING = "pending-acceptance"
# Peerings that will never carry traffic again (AWS keeps them listed for a while).
INACTIVE = {"rejected", "failed", "expired", "deleting", "deleted"}


def side_label(topo: Topology, side: PeeringSide) -> str:
    return f"VPC {vpc_label(topo, side.vpc_id)} (account {side.account_id}, {side.region})"


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


def directions(topo: Topology, peering: Peering) -> list[Direction]:
    """Every source table that sends part of the peer's address space into this peering.

    Several rules ask; it is worked out once per audit."""
    return topo.memo(("directions", peering.id), lambda: list(_directions(topo, peering)))


def _directions(topo: Topology, peering: Peering) -> Iterator[Direction]:
    routed_by_table: dict[str, list[Network]] = {}
    tables: dict[str, RouteTable] = {}
    for table, route in topo.routes_to(peering.id):
        routed_by_table.setdefault(table.id, []).extend(topo.route_networks(route))
        tables[table.id] = table
    for source, destination in (peering.sides(), reversed(peering.sides())):
        peer_space = topo.side_networks(destination)
        for table_id, routed in routed_by_table.items():
            table = tables[table_id]
            if table.vpc_id != source.vpc_id or not topo.subnets_of_table(table):
                continue
            forwarded = intersect(topo.resolve_to(table, routed, peering.id), peer_space)
            if forwarded:
                yield Direction(source, destination, table, forwarded)


@dataclass
class ReturnGap:
    """A destination-side table (or none) that does not route the source subnet back."""

    table: RouteTable | None
    serves: list[Subnet]
    not_routed_back: list[Network]

    def table_label(self) -> str:
        return label(self.table.id, self.table.tags) if self.table else "(none)"

    def as_row(self) -> dict[str, object]:
        return {
            "route_table": self.table_label(),
            "serves": [label(s.id, s.tags) for s in self.serves],
            "not_routed_back": [str(n) for n in self.not_routed_back],
        }


@dataclass
class ReturnCheck:
    """For one source subnet of a direction: which destination-side tables route it back."""

    direction: Direction
    subnet: Subnet
    returning: list[RouteTable]
    gaps: list[ReturnGap]


def return_checks(topo: Topology, peering: Peering, way: Direction) -> Iterator[ReturnCheck]:
    """Each source subnet of `way`, checked against the table of every destination subnet we
    forward to. No table returning is peering-missing-return-route; some is
    peering-partial-return-route."""
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
        check = ReturnCheck(way, source, [], [])
        for table, served in tables.values():
            back = topo.resolve_to(table, nets, peering.id) if table else []
            uncovered = subtract(nets, back)
            if uncovered:
                check.gaps.append(ReturnGap(table, served, uncovered))
            elif table:
                check.returning.append(table)
        yield check


def audited_checks(topo: Topology, peering: Peering) -> list[ReturnCheck]:
    """Return checks of an active peering, towards the sides we audited (worked out once)."""
    if peering.status != ACTIVE:
        return []
    return topo.memo(
        ("return-checks", peering.id),
        lambda: [
            check
            for way in directions(topo, peering)
            if topo.side_audited(way.destination)
            for check in return_checks(topo, peering, way)
        ],
    )


@rule("peering-missing-return-route")
def missing_return_route(topo: Topology) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        problems = [c for c in audited_checks(topo, peering) if not c.returning]
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
                        "return_tables_checked": [g.as_row() for g in p.gaps],
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


@rule("peering-partial-return-route")
def partial_return_route(topo: Topology) -> Iterator[Finding]:
    """Source subnets that some destination subnets answer and others cannot."""
    for peering in topo.snapshot.peerings:
        problems = [c for c in audited_checks(topo, peering) if c.returning and c.gaps]
        if not problems:
            continue
        way = problems[0].direction
        pairs: dict[str, tuple[set[str], set[str]]] = {}  # per destination VPC: who, to whom
        for p in problems:
            where = vpc_label(topo, p.direction.destination.vpc_id)
            stranded, sources = pairs.setdefault(where, (set(), set()))
            stranded.update(label(s.id, s.tags) for g in p.gaps for s in g.serves)
            sources.add(label(p.subnet.id, p.subnet.tags))
        lacking = sorted(
            {label(g.table.id, g.table.tags) for p in problems for g in p.gaps if g.table}
        )
        yield found(
            "peering-partial-return-route",
            account_id=way.destination.account_id,
            region=way.destination.region,
            resource_id=peering.id,
            vpc_id=way.destination.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)}: traffic forwarded into the peering "
                f"reaches subnets that route replies back and subnets that do not: "
                + "; ".join(
                    f"in VPC {where}, {', '.join(sorted(stranded))} cannot reply to "
                    f"{', '.join(sorted(sources))}"
                    for where, (stranded, sources) in pairs.items()
                )
                + ". Their route tables have no route back through the peering, so connections "
                "to those subnets fail while connections to their neighbours work."
            ),
            remediation=(
                f"Add a route for the source subnet CIDRs with target {peering.id} to "
                f"{', '.join(lacking) or 'their route tables'} (aws ec2 "
                f"create-route --route-table-id rtb-… --destination-cidr-block CIDR "
                f"--vpc-peering-connection-id {peering.id}), or narrow the forward route to the "
                f"subnets that do route back."
            ),
            evidence={
                "gaps": [
                    {
                        "source_subnet": label(p.subnet.id, p.subnet.tags),
                        "source_cidrs": ", ".join(map(str, topo.subnet_networks(p.subnet))),
                        "forward_route_table": label(p.direction.table.id, p.direction.table.tags),
                        "forwarded": ", ".join(map(str, p.direction.forwarded)),
                        "returning_route_tables": ", ".join(
                            label(t.id, t.tags) for t in p.returning
                        ),
                        "return_route_table": gap.table_label(),
                        "subnets_that_cannot_reply": ", ".join(
                            label(s.id, s.tags) for s in gap.serves
                        ),
                        "not_routed_back": ", ".join(map(str, gap.not_routed_back)),
                    }
                    for p in problems
                    for gap in p.gaps
                ]
            },
        )


@rule("peering-overlapping-cidr")
def overlapping_cidr(topo: Topology) -> Iterator[Finding]:
    """AWS refuses to peer overlapping VPCs; a CIDR associated later makes the overlap unroutable."""
    for peering in topo.snapshot.peerings:
        requester, accepter = peering.sides()
        mine, theirs = topo.side_networks(requester), topo.side_networks(accepter)
        overlap = intersect(mine, theirs)
        if not overlap:
            continue
        ranges = ", ".join(map(str, overlap))
        yield found(
            "peering-overlapping-cidr",
            account_id=requester.account_id,
            region=requester.region,
            resource_id=peering.id,
            vpc_id=requester.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} ({peering.status}) joins "
                f"{side_label(topo, requester)} and {side_label(topo, accepter)}, whose address "
                f"ranges overlap in {ranges}. AWS rejects a peering request between overlapping "
                f"VPCs, and where a CIDR was associated afterwards, traffic to the overlapping "
                f"range stays in the local VPC and can never cross the peering."
            ),
            remediation=(
                f"Renumber one side so the ranges are disjoint: disassociate the overlapping "
                f"secondary CIDR (aws ec2 disassociate-vpc-cidr-block --association-id …) or move "
                f"the workloads to a VPC with a non-overlapping CIDR and peer that instead; "
                f"delete the peering if it is not needed (aws ec2 delete-vpc-peering-connection "
                f"--vpc-peering-connection-id {peering.id} --region {requester.region})."
            ),
            evidence={
                "status": peering.status,
                "overlapping": [str(n) for n in overlap],
                "requester": {**side_evidence(requester), "cidrs": [str(n) for n in mine]},
                "accepter": {**side_evidence(accepter), "cidrs": [str(n) for n in theirs]},
            },
        )


def outside_part(route: Route, outside: list[Network], inside: list[Network]) -> str:
    """The part of a route's destination outside the peer, short: `0.0.0.0/0 except 10.1.0.0/16`."""
    if len(outside) <= 3 or not inside:
        return ", ".join(map(str, outside))
    return f"{route.destination} except {', '.join(map(str, inside))}"


@rule("peering-route-outside-peer")
def route_outside_peer(topo: Topology) -> Iterator[Finding]:
    """Routes through a peering to addresses outside the peer VPC: peering is not transitive."""
    for peering in topo.snapshot.peerings:
        if peering.status in INACTIVE:
            continue  # peering-inactive-lingering: every route to it is wrong
        by_table: dict[str, tuple[RouteTable, list[Route]]] = {}
        for table, route in topo.routes_to(peering.id):
            by_table.setdefault(table.id, (table, []))[1].append(route)
        for table, routes in by_table.values():
            source, peer = peering.sides()
            if table.vpc_id == peer.vpc_id:
                source, peer = peer, source
            peer_space = topo.side_networks(peer)
            if table.vpc_id != source.vpc_id or not peer_space:
                continue
            wrong = [
                (route, outside, intersect(topo.route_networks(route), peer_space))
                for route in routes
                if (outside := subtract(topo.route_networks(route), peer_space))
            ]
            if not wrong:
                continue
            outside_all = ", ".join(outside_part(r, out, inn) for r, out, inn in wrong)
            existing = {r.destination for r in routes}
            commands = [delete_route_command(table, route) for route, _, _ in wrong] + [
                f"aws ec2 create-route --route-table-id {table.id} --destination-"
                f"{'ipv6-' if net.version == 6 else ''}cidr-block {net} "
                f"--vpc-peering-connection-id {peering.id} --region {table.region}"
                for _, _, inside in wrong
                for net in inside
                if str(net) not in existing
            ]
            yield found(
                "peering-route-outside-peer",
                account_id=table.account_id,
                region=table.region,
                resource_id=table.id,
                vpc_id=table.vpc_id,
                detail=peering.id,
                message=(
                    f"Route table {label(table.id, table.tags)} in {side_label(topo, source)} "
                    f"sends {outside_all} into peering {label(peering.id, peering.tags)}, but "
                    f"that is outside {side_label(topo, peer)} "
                    f"({', '.join(map(str, peer_space))}). Peering is not transitive: AWS drops "
                    f"traffic to addresses outside the peer VPC (it is never forwarded through "
                    f"the peer's gateways, VPN or other peerings), so these destinations are "
                    f"unreachable this way."
                ),
                remediation=(
                    f"Keep only the peer VPC's CIDRs on {peering.id} in {table.id}: "
                    + "; ".join(commands)
                    + ". Reach the other destinations through their own peering, a transit "
                    "gateway or a gateway in this VPC."
                ),
                evidence={
                    "route_table": label(table.id, table.tags),
                    "peer_vpc": peer.vpc_id,
                    "peer_cidrs": [str(n) for n in peer_space],
                    "routes": [
                        {
                            "destination": route.destination,
                            "outside_peer": outside_part(route, outside, inside),
                            "inside_peer": ", ".join(map(str, inside)),
                        }
                        for route, outside, inside in wrong
                    ],
                },
            )


@rule("peering-unused")
def unused(topo: Topology) -> Iterator[Finding]:
    """Active peerings no route table on either side sends traffic into."""
    for peering in topo.snapshot.peerings:
        if peering.status != ACTIVE or topo.routes_to(peering.id):
            continue
        if not all(topo.side_audited(s) for s in peering.sides()):
            continue  # the unseen side may route through it
        requester, accepter = peering.sides()
        yield found(
            "peering-unused",
            account_id=requester.account_id,
            region=requester.region,
            resource_id=peering.id,
            vpc_id=requester.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} between {side_label(topo, requester)} "
                f"and {side_label(topo, accepter)} is active, but no route table in either VPC "
                f"has a route through it, so it carries no traffic. An unused peering is access "
                f"waiting to be switched on by one route, and clutter for whoever audits next."
            ),
            remediation=(
                f"If it is not needed: aws ec2 delete-vpc-peering-connection "
                f"--vpc-peering-connection-id {peering.id} --region {requester.region} (account "
                f"{requester.account_id}). If it is, add routes for the peer CIDR on both sides."
            ),
            evidence={
                "status": peering.status,
                "requester": side_evidence(requester),
                "accepter": side_evidence(accepter),
                "route_tables_checked": len(topo.tables_by_vpc.get(requester.vpc_id, []))
                + len(topo.tables_by_vpc.get(accepter.vpc_id, [])),
            },
        )


@rule("peering-inactive-lingering")
def inactive_lingering(topo: Topology) -> Iterator[Finding]:
    """Routes still pointing at a peering that will never carry traffic again."""
    for peering in topo.snapshot.peerings:
        routes = topo.routes_to(peering.id)
        if peering.status not in INACTIVE or not routes:
            continue
        first = routes[0][0]
        tables = sorted({label(t.id, t.tags) for t, _ in routes})
        accounts = {t.account_id for t, _ in routes}
        yield found(
            "peering-inactive-lingering",
            account_id=first.account_id,
            region=first.region,
            resource_id=peering.id,
            vpc_id=first.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} is {peering.status}"
                f"{f' ({peering.status_message})' if peering.status_message else ''}, but "
                f"{len(routes)} route(s) in {', '.join(tables)} still point at it. Traffic to "
                f"those destinations is dropped (blackhole), and the routes hide what the "
                f"tables really do."
            ),
            remediation="; ".join(
                (f"account {t.account_id}: " if len(accounts) > 1 else "")
                + delete_route_command(t, r)
                for t, r in routes
            )
            + ". Or replace each route with a working target (aws ec2 replace-route).",
            evidence={
                "status": peering.status,
                "status_message": peering.status_message,
                "routes": [
                    {
                        "route_table": label(t.id, t.tags),
                        "account_id": t.account_id,
                        "vpc_id": t.vpc_id,
                        "destination": r.destination,
                        "state": r.state,
                    }
                    for t, r in routes
                ],
            },
        )


@rule("peering-untrusted-account")
def untrusted_account(topo: Topology) -> Iterator[Finding]:
    """Peerings that connect our VPCs to accounts outside the organisation and the policy's
    trusted accounts. Judged only when that set is known (--org lists the organisation, or the
    policy names trusted accounts): otherwise every cross-account peering would be "untrusted"."""
    if not (topo.snapshot.scope.organization_accounts or topo.settings.trusted_accounts):
        return
    for peering in topo.snapshot.peerings:
        if peering.status not in (ACTIVE, PENDING, "provisioning"):
            continue
        strangers = [s for s in peering.sides() if s.account_id not in topo.trusted_accounts]
        ours = [s for s in peering.sides() if s.account_id in topo.trusted_accounts]
        if not strangers:
            continue
        home = ours[0] if ours else peering.requester
        outside = "outside the organisation and the audit policy's trusted accounts"
        who = ", ".join(sorted({s.account_id for s in strangers}))
        if peering.status == ACTIVE or home is not peering.accepter:
            act = (
                f"aws ec2 delete-vpc-peering-connection --vpc-peering-connection-id {peering.id} "
                f"--region {home.region}"
            )
        else:
            act = (
                f"aws ec2 reject-vpc-peering-connection --vpc-peering-connection-id {peering.id} "
                f"--region {home.region}"
            )
        yield found(
            "peering-untrusted-account",
            account_id=home.account_id,
            region=home.region,
            resource_id=peering.id,
            vpc_id=home.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} ({peering.status}) connects "
                f"{side_label(topo, home)} with account {who}, which is {outside}. A peering "
                f"lets that account route into this VPC wherever security groups and NACLs allow."
            ),
            remediation=(
                f"If the peering is not wanted, in account {home.account_id}: {act}. If it is, "
                f"add {who} to trusted.accounts in the audit policy (--policy)."
            ),
            evidence={
                "status": peering.status,
                "untrusted_accounts": sorted({s.account_id for s in strangers}),
                "requester": side_evidence(peering.requester),
                "accepter": side_evidence(peering.accepter),
                "organization_accounts_known": bool(topo.snapshot.scope.organization_accounts),
                "policy_trusted_accounts": sorted(topo.settings.trusted_accounts),
            },
        )
