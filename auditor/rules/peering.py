"""VPC peerings, judged from both sides at once.

Acceptance, return routes (missing, partial or by another path), DNS resolution, overlapping
CIDRs, routes beyond the peer, routes AWS picks at random, unused, lingering and untrusted
peerings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from auditor.model import Finding, Peering, PeeringSide, Route, RouteTable, Subnet
from auditor.net import (
    Hop,
    Network,
    Topology,
    collapse,
    intersect,
    overlaps,
    subtract,
    text,
)
from auditor.paths import BLACKHOLE, DELIVERED, HUB_NO_ROUTE, NO_ROUTE, paths
from auditor.rules.base import Found, label, routes_evidence, rule, vpc_label
from auditor.rules.commands import cidr_option, ec2
from auditor.rules.routing import (
    NAMES,
    create_route_commands,
    dead_reason,
    delete_route_command,
)
from auditor.states import (
    PEERING_ACTIVE,
    PEERING_INACTIVE,
    PEERING_LIVE_OR_COMING,
    PEERING_OFFERED_OR_ACTIVE,
    PEERING_PENDING_ACCEPTANCE,
)


def side_label(topo: Topology, side: PeeringSide) -> str:
    return f"VPC {vpc_label(topo, side.vpc_id)} (account {side.account_id}, {side.region})"


def role_of(peering: Peering, side: PeeringSide) -> str:
    return "requester" if side is peering.requester else "accepter"


@rule("peering-pending-acceptance")
def pending_acceptance(topo: Topology, found: Found) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != PEERING_PENDING_ACCEPTANCE:
            continue
        accepter, requester = peering.accepter, peering.requester
        expires = (
            f" The request expires at {peering.expiration_time}."
            if peering.expiration_time
            else " The request expires 7 days after it was made."
        )
        yield found(
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
                f"Account {accepter.account_id} accepts the request in {accepter.region}, then "
                f"both sides add routes; or delete the request if it is not wanted."
            ),
            commands=[
                ec2(
                    accepter.account_id,
                    accepter.region,
                    "accept-vpc-peering-connection",
                    *("--vpc-peering-connection-id", peering.id),
                )
            ],
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
    """Traffic one side's route table sends into the peering, towards the other side:
    `forwarded` surely, `undetermined` only if AWS picked the peering's route among tied ones."""

    source: PeeringSide
    destination: PeeringSide
    table: RouteTable
    forwarded: list[Network]
    undetermined: list[Network] = field(default_factory=list)


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
            sent = topo.sends(table, routed, peering.id)
            forwarded = intersect(sent.surely, peer_space)
            undetermined = intersect(sent.maybe, peer_space) if sent.maybe else []
            if forwarded or undetermined:
                yield Direction(source, destination, table, forwarded, undetermined)


# How a destination-side table treats replies to a piece of a source subnet.
RETURNED = "returned"  # back through this peering
DROPPED = "dropped"  # no route, or a route that cannot bring them to the source
DETOUR = "detour"  # another path that may reach the source: asymmetric, not followed
HUB_FOLLOWED = "through the hub back to the source VPC"
UNDETERMINED = "undetermined"  # tied routes with different verdicts: AWS picked one
INTERNET = {"internet-gateway", "egress-only-internet-gateway"}
APPLIANCES = {"network-interface", "instance", "vpc-endpoint"}
KIND_NAMES = {**NAMES, "vpn-gateway": "virtual private gateway"}


class Reply(NamedTuple):
    """Where one destination-side table sends replies to one piece of a source subnet."""

    piece: Network
    verdict: str
    route: Route | None
    why: str
    alternatives: tuple[Route, ...] = ()

    @property
    def routes(self) -> tuple[Route, ...]:
        """The route that carries the piece and any tied with it."""
        return tuple(r for r in (self.route, *self.alternatives) if r)


def reply_verdict(
    topo: Topology, table: RouteTable, peering: Peering, piece: Network, route: Route | None
) -> tuple[str, str]:
    """(verdict, why) for replies to `piece` that `table` sends by `route`.

    Peerings do no reverse path check (VPC peering guide, "Update your route tables": no
    unicast reverse path forwarding) and security groups are stateful, so a reply that leaves
    by another live path can still reach the source: asymmetric, not dropped."""
    if route is None:
        return DROPPED, "no route"
    target, where = route.target_id, f"route {route.destination} to {route.target_id}"
    if target == peering.id:
        return RETURNED, f"{where}: back through the peering"
    dead = dead_reason(topo, table, route)
    if dead:
        return DROPPED, f"{where}: {dead[0]}"
    kind = route.target_type
    if kind == "local":
        return DROPPED, f"the address is local to {table.vpc_id}: the replies stay in that VPC"
    if kind == "vpc-peering-connection":
        return DROPPED, f"{where}: another peering, which delivers only to its own peer VPC"
    if kind == "nat-gateway":
        return DROPPED, (
            f"{where}: a NAT gateway replaces the replies' source address, so they never "
            f"arrive as replies"
        )
    if kind in INTERNET and piece.version == 4 and piece.is_private:
        return DROPPED, f"{where}: the internet does not route private IPv4 addresses"
    if kind == "transit-gateway":
        return through_hub(topo, table, peering, piece, route)
    via, _ = other_path(route)
    return DETOUR, f"{where}: {via}"


def through_hub(
    topo: Topology, table: RouteTable, peering: Peering, piece: Network, route: Route
) -> tuple[str, str]:
    """Replies sent to a transit gateway, followed through the hub: dropped when the hub (or
    the VPC it leads to) has no route for them, asymmetric when they reach the source VPC, and
    not followed further (asymmetric, said so) where the hub's tables were not read."""
    where = f"route {route.destination} to {route.target_id}"
    source = (
        peering.requester.vpc_id
        if table.vpc_id == peering.accepter.vpc_id
        else peering.accepter.vpc_id
    )
    ends = paths(topo).follow(table, piece)
    dropped = [p for p in ends if p.end in (NO_ROUTE, HUB_NO_ROUTE, BLACKHOLE)]
    if dropped:
        last = dropped[0].steps[-1]
        return DROPPED, (
            f"{where}: the hub drops them ({dropped[0].end} at {last.table_id}"
            f"{': ' + dropped[0].detail if dropped[0].detail else ''})"
        )
    if ends and all(p.end == DELIVERED and p.end_id == source for p in ends):
        hops = " -> ".join(s.table_id for s in ends[0].steps)
        return DETOUR, f"{where}: {HUB_FOLLOWED} ({hops})"
    via, _ = other_path(route)
    return DETOUR, f"{where}: {via}"


def other_path(route: Route) -> tuple[str, str]:
    """The path a reply leaves by, and why the audit cannot say where it ends."""
    kind, target = route.target_type, route.target_id
    if kind == "transit-gateway":
        return f"transit gateway {target}", (
            f"The path was not followed beyond transit gateway {target}: whether its route "
            f"tables bring the replies to the source VPC is not checked."
        )
    if kind == "vpn-gateway":
        return f"virtual private gateway {target} (VPN or Direct Connect)", (
            f"Whether the network behind {target} routes the replies to the source VPC is "
            f"outside the audit."
        )
    if kind in APPLIANCES:
        return f"appliance ({KIND_NAMES[kind]} {target})", (
            f"Where {target} forwards the replies is not in the snapshot."
        )
    if kind in INTERNET:
        return f"{kind} {target}, across the internet to the source's IPv6 address", (
            "The path across the internet was not followed."
        )
    return f"{KIND_NAMES.get(kind, kind)} {target}", f"The path beyond {target} was not followed."


def judge(topo: Topology, table: RouteTable, peering: Peering, hop: Hop) -> Reply:
    """A hop's verdict; on a tie AWS settles at random, only if every tied route agrees."""
    verdict, why = reply_verdict(topo, table, peering, hop.destination, hop.route)
    if not hop.undetermined:
        return Reply(hop.destination, verdict, hop.route, why)
    verdicts = {reply_verdict(topo, table, peering, hop.destination, r)[0] for r in hop.candidates}
    if len(verdicts) == 1:
        return Reply(hop.destination, verdict, hop.route, why, hop.alternatives)
    return Reply(hop.destination, UNDETERMINED, hop.route, tie_text(hop), hop.alternatives)


def tie_text(hop: Hop) -> str:
    routes = " or ".join(f"route {r.destination} to {r.target_id}" for r in hop.candidates)
    return f"{routes}: tied routes, AWS picked one at random and the snapshot does not say which"


def replies(
    topo: Topology, table: RouteTable | None, peering: Peering, nets: list[Network]
) -> list[Reply]:
    """Replies to `nets` as `table` routes them, piece by piece."""
    if table is None:
        return [Reply(n, DROPPED, None, "no route table serves the subnet") for n in nets]
    sent = topo.sends(table, nets, peering.id)
    out = [Reply(n, RETURNED, None, "") for n in sent.surely]
    elsewhere = subtract(nets, sent.surely + sent.maybe) if sent.surely or sent.maybe else nets
    for piece in [*sent.maybe, *elsewhere]:
        out.extend(judge(topo, table, peering, hop) for hop in topo.lookup(table, piece))
    return out


@dataclass
class ReturnGap:
    """A destination-side table (or none) that drops replies to part of a source subnet."""

    table: RouteTable | None
    serves: list[Subnet]
    not_routed_back: list[Network]
    why: list[str] = field(default_factory=list)

    def table_label(self) -> str:
        return label(self.table.id, self.table.tags) if self.table else "(none)"

    def as_row(self) -> dict[str, object]:
        return {
            "route_table": self.table_label(),
            "serves": [label(s.id, s.tags) for s in self.serves],
            "not_routed_back": [text(n) for n in self.not_routed_back],
            "replies": self.why,
        }


@dataclass
class Detour:
    """Replies to part of a source subnet that leave a destination-side table by another path."""

    table: RouteTable
    serves: list[Subnet]
    pieces: list[Network]
    route: Route
    why: str = ""

    @property
    def via(self) -> str:
        return other_path(self.route)[0]

    @property
    def not_followed(self) -> str:
        """What the audit could not follow; for a hub it followed, what it found instead."""
        if HUB_FOLLOWED in self.why:
            return f"The replies were followed {self.why.split(': ', 1)[1]}."
        return other_path(self.route)[1]


@dataclass
class Undecided:
    """Part of a range whose fate depends on which of tied routes AWS picked."""

    table: RouteTable
    pieces: list[Network]
    routes: tuple[Route, ...]
    decides: str

    def as_row(self) -> dict[str, object]:
        return {
            "route_table": label(self.table.id, self.table.tags),
            "ranges": [text(n) for n in self.pieces],
            "tied_routes": routes_evidence(self.routes),
            "decides": self.decides,
        }


@dataclass
class ReturnCheck:
    """For one source subnet of a direction: what each destination-side table does with the
    replies. `answering` tables drop none of them; `returning` ones send all back through the
    peering."""

    direction: Direction
    subnet: Subnet
    returning: list[RouteTable] = field(default_factory=list)
    answering: list[RouteTable] = field(default_factory=list)
    gaps: list[ReturnGap] = field(default_factory=list)
    detours: list[Detour] = field(default_factory=list)
    undecided: list[Undecided] = field(default_factory=list)

    def add(self, table: RouteTable | None, served: list[Subnet], found: list[Reply]) -> None:
        verdicts = {r.verdict for r in found}
        if DROPPED in verdicts:
            dropped = [r for r in found if r.verdict == DROPPED]
            why = list(dict.fromkeys(r.why for r in dropped))
            self.gaps.append(ReturnGap(table, served, collapse(r.piece for r in dropped), why))
        elif table:
            self.answering.append(table)
            if verdicts <= {RETURNED}:
                self.returning.append(table)
        if table is None or not verdicts & {DETOUR, UNDETERMINED}:
            return
        for group in grouped(r for r in found if r.verdict == DETOUR):
            pieces = collapse(r.piece for r in group)
            route = group[0].routes[0]
            self.detours.append(Detour(table, served, pieces, route, group[0].why))
        for group in grouped(r for r in found if r.verdict == UNDETERMINED):
            whom = label(self.subnet.id, self.subnet.tags)
            decides = (
                f"whether replies to {whom} come back through the peering, leave by another "
                f"path or are dropped"
            )
            pieces = collapse(r.piece for r in group)
            self.undecided.append(Undecided(table, pieces, group[0].routes, decides))


def grouped(found: Iterable[Reply]) -> list[list[Reply]]:
    """Replies by the route (and tied routes) that carry them, in table order."""
    groups: dict[tuple[int, ...], list[Reply]] = {}
    for reply in found:
        key = tuple(id(r) for r in reply.routes)
        groups.setdefault(key, []).append(reply)
    return list(groups.values())


def return_checks(topo: Topology, peering: Peering, way: Direction) -> Iterator[ReturnCheck]:
    """Each source subnet of `way`, checked against the table of every destination subnet we
    surely forward to. A table that drops replies is a gap: no table answering is
    peering-missing-return-route, some is peering-partial-return-route; replies that leave by
    another path are peering-asymmetric-return."""
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
    sources = [
        (source, nets)
        for source in topo.subnets_of_table(way.table)
        if (nets := [n for n in topo.subnet_networks(source) if n.version in families])
    ]
    # Most tables send every source subnet's replies back through the peering: asked once for
    # all of them, and piece by piece only for the tables that do not.
    every = collapse(n for _, nets in sources for n in nets)
    whole = {
        key
        for key, (table, _) in tables.items()
        if table and all_returned(topo, table, peering, every)
    }
    for source, nets in sources:
        check = ReturnCheck(way, source)
        for key, (table, served) in tables.items():
            if key in whole:
                check.add(table, served, [Reply(n, RETURNED, None, "") for n in nets])
            else:
                check.add(table, served, replies(topo, table, peering, nets))
        yield check


def all_returned(topo: Topology, table: RouteTable, peering: Peering, nets: list[Network]) -> bool:
    """Whether `table` surely sends every address of `nets` back through the peering."""
    sent = topo.sends(table, nets, peering.id)
    return not sent.maybe and not subtract(nets, sent.surely)


def audited_checks(topo: Topology, peering: Peering) -> list[ReturnCheck]:
    """Return checks of an active peering, towards the sides we audited (worked out once)."""
    if peering.status != PEERING_ACTIVE:
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


def undetermined_rows(checks: list[ReturnCheck]) -> dict[str, object]:
    """Evidence of what the audit could not decide, for findings that name other problems."""
    rows = [u.as_row() for c in checks for u in c.undecided]
    return {"undetermined": rows} if rows else {}


def return_route_commands(topo: Topology, peering: Peering, checks: list[ReturnCheck]) -> list[str]:
    """`create-route` through the peering for the ranges each destination-side table drops,
    where that is exact (routing.create_route_commands)."""
    target = ("--vpc-peering-connection-id", peering.id)
    return [
        command
        for check in checks
        for gap in check.gaps
        if gap.table is not None
        for command in create_route_commands(topo, gap.table, gap.not_routed_back, target)
    ]


@rule("peering-missing-return-route")
def missing_return_route(topo: Topology, found: Found) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        checks = audited_checks(topo, peering)
        problems = [c for c in checks if c.gaps and not c.answering]
        if not problems:
            continue
        first = problems[0].direction
        lacking = sorted({label(p.direction.destination.vpc_id) for p in problems})
        subnets = [label(p.subnet.id, p.subnet.tags) for p in problems]
        yield found(
            account_id=first.destination.account_id,
            region=first.destination.region,
            resource_id=peering.id,
            vpc_id=first.destination.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)}: route table "
                f"{label(first.table.id, first.table.tags)} in {side_label(topo, first.source)} "
                f"sends {', '.join(map(text, first.forwarded))} into the peering, but on the other "
                f"side no route table routes {len(problems)} source subnet(s) back, through the "
                f"peering or any other path that could reach them "
                f"({', '.join(subnets[:5])}{'…' if len(subnets) > 5 else ''}). The replies are "
                f"dropped (no route, or a route to a target that cannot deliver them), so "
                f"connections from these subnets fail."
            ),
            remediation=(
                f"In {', '.join(lacking)}: add a route for each source subnet's CIDR (or the "
                f"source VPC's CIDR) with target {peering.id} to the route tables of the "
                f"destination subnets, or remove the forward route if the path is not wanted."
            ),
            commands=return_route_commands(topo, peering, problems),
            evidence={
                "gaps": [
                    {
                        "from_vpc": side_label(topo, p.direction.source),
                        "forward_route_table": label(p.direction.table.id, p.direction.table.tags),
                        "forward_routes": routes_evidence(
                            r for r in p.direction.table.routes if r.target_id == peering.id
                        ),
                        "forwarded": [text(n) for n in p.direction.forwarded],
                        "source_subnet": label(p.subnet.id, p.subnet.tags),
                        "source_cidrs": [text(n) for n in topo.subnet_networks(p.subnet)],
                        "to_vpc": side_label(topo, p.direction.destination),
                        "return_tables_checked": [g.as_row() for g in p.gaps],
                    }
                    for p in problems
                ],
                **undetermined_rows(problems),
            },
        )


@rule("peering-asymmetric-return")
def asymmetric_return(topo: Topology, found: Found) -> Iterator[Finding]:
    """Replies that leave the peer VPC by another path (a transit gateway, a virtual private
    gateway, an appliance): asymmetric, which works only if that path reaches the source."""
    for peering in topo.snapshot.peerings:
        problems = [c for c in audited_checks(topo, peering) if c.detours]
        if not problems:
            continue
        way = problems[0].direction
        first = problems[0].detours[0]
        subnets = sorted({label(p.subnet.id, p.subnet.tags) for p in problems})
        paths = sorted({d.route.target_id for p in problems for d in p.detours})
        yield found(
            account_id=way.destination.account_id,
            region=way.destination.region,
            resource_id=peering.id,
            vpc_id=way.destination.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)}: traffic from "
                f"{', '.join(subnets[:5])}{'…' if len(subnets) > 5 else ''} in "
                f"{side_label(topo, way.source)} arrives through the peering, but route table "
                f"{label(first.table.id, first.table.tags)} in {side_label(topo, way.destination)} "
                f"sends the replies ({', '.join(map(text, first.pieces))}) to {first.via} (route "
                f"{first.route.destination}). The connection is asymmetric, not broken: peerings "
                f"do no reverse path check and security groups are stateful, so it works if "
                f"that path delivers the replies to the source VPC and the source subnet's "
                f"network ACL lets them in; a stateful firewall that sees only one direction "
                f"drops them. {first.not_followed}"
            ),
            remediation=(
                f"If the replies should come back through the peering: add a route for the "
                f"source subnet's CIDR with target {peering.id} to "
                f"{', '.join(sorted({label(d.table.id, d.table.tags) for p in problems for d in p.detours}))} "
                f"(more specific than the route to {', '.join(paths)}). If the asymmetry is "
                f"intended, check that {', '.join(paths)} routes the source range back to "
                f"{way.source.vpc_id}."
            ),
            evidence={
                "replies": [
                    {
                        "from_vpc": side_label(topo, p.direction.source),
                        "source_subnet": label(p.subnet.id, p.subnet.tags),
                        "source_cidrs": [text(n) for n in topo.subnet_networks(p.subnet)],
                        "forward_route_table": label(p.direction.table.id, p.direction.table.tags),
                        "to_vpc": side_label(topo, p.direction.destination),
                        "return_route_table": label(d.table.id, d.table.tags),
                        "serves": [label(s.id, s.tags) for s in d.serves],
                        "reply_ranges": [text(n) for n in d.pieces],
                        "reply_route": routes_evidence([d.route])[0],
                        "leaves_by": d.via,
                        "not_followed": d.not_followed,
                    }
                    for p in problems
                    for d in p.detours
                ],
                **undetermined_rows(problems),
            },
        )


@rule("peering-peer-not-audited")
def peer_not_audited(topo: Topology, found: Found) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != PEERING_ACTIVE:
            continue
        unseen = {
            (way.destination.account_id, way.destination.region): way
            for way in directions(topo, peering)
            if way.forwarded and not topo.side_audited(way.destination)
        }
        if not unseen:
            continue
        way = next(iter(unseen.values()))
        scope = ", ".join(f"account {a} in {r}" for a, r in sorted(unseen))
        yield found(
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
                "forwarded": [text(n) for n in way.forwarded],
                "not_audited": [{"account_id": a, "region": r} for a, r in sorted(unseen)],
            },
        )


@rule("peering-dns-resolution-off")
def dns_resolution_off(topo: Topology, found: Found) -> Iterator[Finding]:
    for peering in topo.snapshot.peerings:
        if peering.status != PEERING_ACTIVE:
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
        # Each owner sets its own side's option, in its own region.
        commands = [
            ec2(
                s.account_id,
                s.region,
                "modify-vpc-peering-connection-options",
                *("--vpc-peering-connection-id", peering.id),
                f"--{role_of(peering, s)}-peering-connection-options",
                "AllowDnsResolutionFromRemoteVpc=true",
            )
            for s in off
        ]
        yield found(
            account_id=off[0].account_id,
            region=off[0].region,
            resource_id=peering.id,
            vpc_id=off[0].vpc_id,
            message=f"Peering {label(peering.id, peering.tags)}: " + "; ".join(problems) + ".",
            remediation=(
                "Turn on AllowDnsResolutionFromRemoteVpc on the "
                + " and ".join(f"{role_of(peering, s)} side (account {s.account_id})" for s in off)
                + ". Both VPCs need enableDnsSupport and enableDnsHostnames on."
            ),
            commands=commands,
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
def partial_return_route(topo: Topology, found: Found) -> Iterator[Finding]:
    """Source subnets that some destination subnets answer and others cannot."""
    for peering in topo.snapshot.peerings:
        problems = [c for c in audited_checks(topo, peering) if c.answering and c.gaps]
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
                + ". Their route tables have no route back through the peering or any other path "
                "that could reach the source, so connections to those subnets fail while "
                "connections to their neighbours work."
            ),
            remediation=(
                f"Add a route for the source subnet CIDRs with target {peering.id} to "
                f"{', '.join(lacking) or 'their route tables'}, or narrow the forward route to "
                f"the subnets that do route back."
            ),
            commands=return_route_commands(topo, peering, problems),
            evidence={
                "gaps": [
                    {
                        "source_subnet": label(p.subnet.id, p.subnet.tags),
                        "source_cidrs": ", ".join(map(text, topo.subnet_networks(p.subnet))),
                        "forward_route_table": label(p.direction.table.id, p.direction.table.tags),
                        "forwarded": ", ".join(map(text, p.direction.forwarded)),
                        "returning_route_tables": ", ".join(
                            label(t.id, t.tags) for t in p.returning
                        ),
                        "return_route_table": gap.table_label(),
                        "subnets_that_cannot_reply": ", ".join(
                            label(s.id, s.tags) for s in gap.serves
                        ),
                        "not_routed_back": ", ".join(map(text, gap.not_routed_back)),
                        "replies": "; ".join(gap.why),
                        **answering_another_way(p),
                    }
                    for p in problems
                    for gap in p.gaps
                ],
                **undetermined_rows(problems),
            },
        )


def answering_another_way(check: ReturnCheck) -> dict[str, str]:
    """Tables that answer the source without every reply coming back through the peering."""
    others = [t for t in check.answering if t not in check.returning]
    if not others:
        return {}
    return {"answering_another_way": ", ".join(label(t.id, t.tags) for t in others)}


@rule("peering-overlapping-cidr")
def overlapping_cidr(topo: Topology, found: Found) -> Iterator[Finding]:
    """Overlapping address ranges on a peering that carries or could carry traffic.

    AWS does not allow it ("You cannot create a VPC peering connection between VPCs that have
    matching or overlapping IPv4 or IPv6 CIDR blocks"; such a request ends as `failed`), so a
    failed, rejected, expired or deleted peering with overlap is history, not a finding."""
    for peering in topo.snapshot.peerings:
        if peering.status not in PEERING_LIVE_OR_COMING:
            continue
        requester, accepter = peering.sides()
        mine, theirs = topo.side_networks(requester), topo.side_networks(accepter)
        overlap = intersect(mine, theirs)
        if not overlap:
            continue
        ranges = ", ".join(map(text, overlap))
        yield found(
            account_id=requester.account_id,
            region=requester.region,
            resource_id=peering.id,
            vpc_id=requester.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)} ({peering.status}) joins "
                f"{side_label(topo, requester)} and {side_label(topo, accepter)}, and the "
                f"snapshot shows their address ranges overlapping in {ranges}. AWS does not "
                f"allow a peering between VPCs with matching or overlapping CIDR blocks (a "
                f"request between them fails), so {overlap_consequence(peering.status)}"
            ),
            remediation=(
                f"Check the CIDR blocks each side lists (evidence): if one is really associated, "
                f"renumber one side so the ranges are disjoint (disassociate the overlapping "
                f"secondary CIDR: aws ec2 disassociate-vpc-cidr-block --association-id …, or move "
                f"the workloads to a VPC with a non-overlapping CIDR and peer that instead); "
                f"delete the peering if it is not needed (aws ec2 delete-vpc-peering-connection "
                f"--vpc-peering-connection-id {peering.id} --region {requester.region})."
            ),
            evidence={
                "status": peering.status,
                "overlapping": [text(n) for n in overlap],
                "requester": {**side_evidence(requester), "cidrs": [text(n) for n in mine]},
                "accepter": {**side_evidence(accepter), "cidrs": [text(n) for n in theirs]},
                "cidrs_reported_by_the_peering": {
                    "requester": side_evidence(requester)["cidrs"],
                    "accepter": side_evidence(accepter)["cidrs"],
                },
            },
        )


def overlap_consequence(status: str) -> str:
    """What an overlap means for a peering in this status, without claiming AWS allowed it."""
    if status == PEERING_ACTIVE:
        return (
            "the overlap contradicts what AWS allows and one of the listed blocks may be stale; "
            "where both VPCs really hold addresses in it, each VPC's local route keeps that "
            "traffic at home and it never crosses the peering."
        )
    return (
        "expect AWS to refuse this request: the peering will not become active while the "
        "ranges overlap."
    )


@dataclass
class OutsideRoute:
    """What one route through a peering carries, by longest-prefix match in its own table."""

    route: Route
    carried: list[Network]  # surely carried by this route
    outside: list[Network]  # of that, outside the peer VPC
    inside: list[Network]  # what the table sends to the peer VPC within the route's range
    overridden: list[Network]  # the route's range that other routes take (more specific)
    ties: list[Hop]  # pieces outside the peer it carries only if AWS picked it among tied routes

    def outside_text(self, peer_space: list[Network]) -> str:
        """The part outside the peer, short: `0.0.0.0/0 except 10.0.0.0/16, 10.1.0.0/16`."""
        if len(self.outside) <= 3:
            return ", ".join(map(text, self.outside))
        not_outside = [
            *self.overridden,
            *(h.destination for h in self.ties),
            *intersect(self.carried, peer_space),
        ]
        excluded = sorted(not_outside, key=lambda n: (n.version, int(n.network_address)))
        return f"{self.route.destination} except {', '.join(map(text, excluded))}"


@dataclass
class OutsideCheck:
    """One source-side table's routes through a peering that reach beyond the peer VPC."""

    table: RouteTable
    source: PeeringSide
    peer: PeeringSide
    peer_space: list[Network]
    routes: list[OutsideRoute]


def outside_checks(topo: Topology, peering: Peering) -> list[OutsideCheck]:
    """Every table's routes through the peering whose traffic may go beyond the peer (worked
    out once per audit: peering-route-outside-peer and peering-route-undetermined ask)."""
    return topo.memo(("outside", peering.id), lambda: list(_outside_checks(topo, peering)))


def _outside_checks(topo: Topology, peering: Peering) -> Iterator[OutsideCheck]:
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
        judged = [
            checked
            for route in routes
            if (checked := outside_route(topo, table, route, peering, peer_space))
        ]
        if judged:
            yield OutsideCheck(table, source, peer, peer_space, judged)


def outside_route(
    topo: Topology, table: RouteTable, route: Route, peering: Peering, peer_space: list[Network]
) -> OutsideRoute | None:
    """The route's own traffic beyond the peer, by longest-prefix match: a part that more
    specific routes to other targets take never enters the peering (VPC user guide, Route
    priority). None when nothing of it can go beyond the peer."""
    nets = topo.route_networks(route)
    if not subtract(nets, peer_space):
        return None  # wholly inside the peer: no lookups needed (the common case)
    hops = [hop for net in nets for hop in topo.lookup(table, net)]
    carried = [h.destination for h in hops if h.route is route and not h.undetermined]
    ties = [h for h in hops if h.undetermined and any(r is route for r in h.candidates)]
    ties = [h for h in ties if subtract([h.destination], peer_space)]
    outside = subtract(carried, peer_space)
    if not outside and not ties:
        return None
    return OutsideRoute(
        route,
        carried,
        outside,
        intersect(topo.sends(table, nets, peering.id).surely, peer_space),
        subtract(nets, carried + [h.destination for h in ties]),
        ties,
    )


@rule("peering-route-outside-peer")
def route_outside_peer(topo: Topology, found: Found) -> Iterator[Finding]:
    """Routes through a peering to addresses outside the peer VPC: peering is not transitive."""
    for peering in topo.snapshot.peerings:
        if peering.status in PEERING_INACTIVE:
            continue  # peering-inactive-lingering: every route to it is wrong
        for check in outside_checks(topo, peering):
            table, source, peer, peer_space = (
                check.table,
                check.source,
                check.peer,
                check.peer_space,
            )
            wrong = [o for o in check.routes if o.outside]
            if not wrong:
                continue  # only ties AWS settles at random: peering-route-undetermined
            outside_all = ", ".join(o.outside_text(peer_space) for o in wrong)
            existing = {r.destination for r in table.routes if r.target_id == peering.id}
            # Delete each wrong route, then route the peer's part of it through the peering again.
            commands = [delete_route_command(table, o.route) for o in wrong] + [
                ec2(
                    table.account_id,
                    table.region,
                    "create-route",
                    *("--route-table-id", table.id, cidr_option(net), text(net)),
                    *("--vpc-peering-connection-id", peering.id),
                )
                for net in dict.fromkeys(net for o in wrong for net in o.inside)
                if text(net) not in existing
            ]
            yield found(
                account_id=table.account_id,
                region=table.region,
                resource_id=table.id,
                vpc_id=table.vpc_id,
                detail=peering.id,
                message=(
                    f"Route table {label(table.id, table.tags)} in {side_label(topo, source)} "
                    f"sends {outside_all} into peering {label(peering.id, peering.tags)}, but "
                    f"that is outside {side_label(topo, peer)} "
                    f"({', '.join(map(text, peer_space))}). Peering is not transitive: AWS drops "
                    f"traffic to addresses outside the peer VPC (it is never forwarded through "
                    f"the peer's gateways, VPN or other peerings), so these destinations are "
                    f"unreachable this way."
                ),
                remediation=(
                    f"Keep only the peer VPC's CIDRs on {peering.id} in {table.id}: replace each "
                    f"wrong route by routes for the peer's part of it. Reach the other "
                    f"destinations through their own peering, a transit gateway or a gateway in "
                    f"this VPC."
                ),
                commands=commands,
                evidence={
                    "route_table": label(table.id, table.tags),
                    "peer_vpc": peer.vpc_id,
                    "peer_cidrs": [text(n) for n in peer_space],
                    "routes": [outside_row(o, peer_space) for o in wrong],
                },
            )


def outside_row(outside: OutsideRoute, peer_space: list[Network]) -> dict[str, object]:
    row: dict[str, object] = {
        "destination": outside.route.destination,
        "outside_peer": outside.outside_text(peer_space),
        "inside_peer": ", ".join(map(text, outside.inside)),
    }
    if outside.overridden:
        row["taken_by_more_specific_routes"] = ", ".join(map(text, outside.overridden))
    if outside.ties:
        row["undetermined"] = ", ".join(text(h.destination) for h in outside.ties)
    return row


@rule("peering-route-undetermined")
def route_undetermined(topo: Topology, found: Found) -> Iterator[Finding]:
    """Peering traffic whose route AWS picked at random among tied prefix-list routes: the
    snapshot does not say which, so the audit gives no verdict on it."""
    for peering in topo.snapshot.peerings:
        if peering.status in PEERING_INACTIVE:
            continue
        rows = undecided(topo, peering)
        if not rows:
            continue
        first = rows[0].table
        yield found(
            account_id=first.account_id,
            region=first.region,
            resource_id=peering.id,
            vpc_id=first.vpc_id,
            message=(
                f"Peering {label(peering.id, peering.tags)}: in route table "
                f"{label(first.id, first.tags)}, "
                f"{', '.join(map(text, rows[0].pieces))} matches tied routes to different targets "
                f"({', '.join(f'{r.destination} to {r.target_id}' for r in rows[0].routes)}). AWS "
                f"picks one of such prefix-list routes at random and keeps it, and the snapshot "
                f"does not say which, so the audit cannot tell {rows[0].decides}"
                + (
                    f" ({len(rows) - 1} more such range(s) in the evidence)."
                    if len(rows) > 1
                    else "."
                )
            ),
            remediation=(
                "Make the routing deterministic: remove the overlapping entries from all but one "
                "of the prefix lists, or add a static route for the range (a static route beats "
                "prefix-list routes of the same length) to the target you intend."
            ),
            evidence={"undetermined": [row.as_row() for row in rows]},
        )


def undecided(topo: Topology, peering: Peering) -> list[Undecided]:
    """Every range of this peering's traffic that a tie decides: forward, return and beyond."""
    rows: list[Undecided] = []
    for way in directions(topo, peering):
        for piece in way.undetermined:
            for hop in topo.lookup(way.table, piece):
                rows.append(
                    Undecided(
                        way.table,
                        [hop.destination],
                        hop.candidates,
                        f"whether traffic to {hop.destination} enters the peering towards "
                        f"{side_label(topo, way.destination)}",
                    )
                )
    rows += [u for check in audited_checks(topo, peering) for u in check.undecided]
    for check in outside_checks(topo, peering):
        for outside in check.routes:
            for hop in outside.ties:
                rows.append(
                    Undecided(
                        check.table,
                        subtract([hop.destination], check.peer_space),
                        hop.candidates,
                        f"whether traffic to {hop.destination} goes into the peering (where it "
                        f"is dropped: it is outside the peer VPC)",
                    )
                )
    return rows


@rule("peering-unused")
def unused(topo: Topology, found: Found) -> Iterator[Finding]:
    """Active peerings no route table on either side sends traffic into."""
    for peering in topo.snapshot.peerings:
        if peering.status != PEERING_ACTIVE or topo.routes_to(peering.id):
            continue
        if not all(topo.side_audited(s) for s in peering.sides()):
            continue  # the unseen side may route through it
        requester, accepter = peering.sides()
        yield found(
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
def inactive_lingering(topo: Topology, found: Found) -> Iterator[Finding]:
    """Routes still pointing at a peering that will never carry traffic again."""
    for peering in topo.snapshot.peerings:
        routes = topo.routes_to(peering.id)
        if peering.status not in PEERING_INACTIVE or not routes:
            continue
        first = routes[0][0]
        tables = sorted({label(t.id, t.tags) for t, _ in routes})
        accounts = {t.account_id for t, _ in routes}
        yield found(
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
            remediation=(
                f"Delete each route (in account{'s' if len(accounts) > 1 else ''} "
                f"{', '.join(sorted(accounts))}), or replace it with a working target (aws ec2 "
                f"replace-route). A route that other routes of its table overlap gets no command: "
                f"deleting it would send its traffic their way."
            ),
            commands=[delete_route_command(t, r) for t, r in routes if alone(topo, t, r)],
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


def alone(topo: Topology, table: RouteTable, route: Route) -> bool:
    """No other route of the table overlaps this one: deleting it changes where no traffic
    goes (it is dropped either way)."""
    mine = topo.route_networks(route)
    others = [n for r in table.routes if r is not route for n in topo.route_networks(r)]
    return bool(mine) and not any(overlaps(a, b) for a in mine for b in others)


@rule("peering-untrusted-account")
def untrusted_account(topo: Topology, found: Found) -> Iterator[Finding]:
    """Peerings that connect our VPCs to accounts outside the organisation and the policy's
    trusted accounts. Judged only when that set is known (--org lists the organisation, or the
    policy names trusted accounts): otherwise every cross-account peering would be "untrusted"."""
    if not (topo.snapshot.scope.organization_accounts or topo.settings.trusted_accounts):
        return
    for peering in topo.snapshot.peerings:
        if peering.status not in PEERING_OFFERED_OR_ACTIVE:
            continue
        strangers = [s for s in peering.sides() if s.account_id not in topo.trusted_accounts]
        ours = [s for s in peering.sides() if s.account_id in topo.trusted_accounts]
        if not strangers:
            continue
        home = ours[0] if ours else peering.requester
        outside = "outside the organisation and the audit policy's trusted accounts"
        who = ", ".join(sorted({s.account_id for s in strangers}))
        if peering.status == PEERING_ACTIVE or home is not peering.accepter:
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
