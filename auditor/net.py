"""Routing over a Snapshot: the one place that knows how VPC routing decides.

Indexes are built once per audit (by id, by VPC, by subnet) so rules never loop over all
pairs of resources. Route choice is longest-prefix match, as in a VPC route table.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from functools import cache, cached_property
from itertools import pairwise
from typing import Any, NamedTuple, TypeVar, cast

from auditor.model import (
    Endpoint,
    InternetGateway,
    NatGateway,
    NetworkInterface,
    Peering,
    PeeringSide,
    PrefixList,
    Route,
    RouteTable,
    RuleSettings,
    Snapshot,
    Subnet,
    TransitGateway,
    Vpc,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PREFIX_LIST_RANK = 2  # route kinds on equal prefix length: static 1, prefix list 2, propagated 3
T = TypeVar("T")


@cache
def network(cidr: str) -> Network:
    """Parsed once per distinct CIDR: audits parse the same few strings many thousand times.

    A plain IPv4 CIDR (most of them: every subnet and route) has its address read by the C
    library's strict dotted-quad parser, twice as fast as ipaddress's; ipaddress checks the
    prefix length either way, and parses (or rejects, with its error) anything else."""
    address, _, length = cidr.partition("/")
    if length.isascii() and length.isdigit():
        try:
            packed = socket.inet_pton(socket.AF_INET, address)
            return ipaddress.IPv4Network((int.from_bytes(packed), int(length)), strict=False)
        except (OSError, ValueError):
            pass  # not a plain IPv4 CIDR: ipaddress says what is wrong
    return ipaddress.ip_network(cidr, strict=False)


@cache
def text(net: Network) -> str:
    """A network's CIDR text, made once: evidence names the same few ranges thousands of times."""
    return str(net)


def networks(cidrs: Iterable[str]) -> list[Network]:
    return [network(c) for c in cidrs]


# Set algebra works on integer ranges, (version, first, last): ipaddress objects are slow to
# build and compare, and these run for every table and peering of an audit. Networks are made
# only for the result, and an input network whose range comes out whole is reused as is.
Span = tuple[int, int, int]


def span(net: Network) -> Span:
    # From the prefix length, not net.broadcast_address: that builds (and caches) an address
    # object per network, ten times the cost of this for a network seen once.
    first = int(net.network_address)
    return net.version, first, first | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


def _merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, with overlapping and adjacent ranges joined: every gap left is a real one."""
    merged: list[Span] = []
    for version, first, last in sorted(spans):
        if merged and merged[-1][0] == version and first <= merged[-1][2] + 1:
            if last > merged[-1][2]:
                merged[-1] = (version, merged[-1][1], last)
        else:
            merged.append((version, first, last))
    return merged


def _networks(spans: Iterable[Span], known: dict[Span, Network]) -> list[Network]:
    """The fewest CIDRs covering disjoint, non-adjacent `spans`, in order: the same list
    ipaddress.collapse_addresses gives for those addresses (that decomposition is unique)."""
    nets: list[Network] = []
    for version, first, last in spans:
        net = known.get((version, first, last))
        if net is not None:
            nets.append(net)
            continue
        address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        nets.extend(ipaddress.summarize_address_range(address(first), address(last)))
    return nets


def _known(nets: Iterable[Network]) -> dict[Span, Network]:
    return {span(n): n for n in nets}


def collapse(nets: Iterable[Network]) -> list[Network]:
    """Merge adjacent and nested networks, IPv4 first, each family in address order."""
    nets = list(nets)
    if len(nets) < 2:
        return nets
    known = _known(nets)
    return _networks(_merge(known), known)


def subtract(nets: Iterable[Network], minus: Iterable[Network]) -> list[Network]:
    """Address ranges in `nets` that are in none of `minus`."""
    cuts = _merge(map(span, minus))
    if not cuts:  # the common case of a table with no route back: nothing to cut
        return collapse(nets)
    known = _known(nets)
    remaining: list[Span] = []
    for version, first, last in _merge(known):
        for cut_version, cut_first, cut_last in cuts:
            if cut_version != version or cut_last < first or cut_first > last:
                continue
            if cut_first > first:
                remaining.append((version, first, cut_first - 1))
            first = cut_last + 1
            if first > last:
                break
        if first <= last:
            remaining.append((version, first, last))
    return _networks(remaining, known)


def intersect(nets: Iterable[Network], others: Iterable[Network]) -> list[Network]:
    """Address ranges in both lists."""
    known = _known(nets)
    other_known = _known(others)
    theirs = _merge(other_known)
    both: list[Span] = []
    for version, first, last in _merge(known):
        for other_version, other_first, other_last in theirs:
            if other_version == version and other_first <= last and other_last >= first:
                both.append((version, max(first, other_first), min(last, other_last)))
    return _networks(both, known | other_known)


def overlaps(a: Network, b: Network) -> bool:
    a_version, a_first, a_last = span(a)
    b_version, b_first, b_last = span(b)
    return a_version == b_version and a_first <= b_last and b_first <= a_last


def inside(inner: Network, outer: Network) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


class Hop(NamedTuple):
    """A piece of a destination range and the route that carries it (None: no route, dropped).

    `alternatives` are routes that match the piece exactly as well as `route` (same prefix
    length, same kind) but go to another target. AWS picks one of them at random and keeps
    that choice ("If your route table references multiple prefix lists that have overlapping
    CIDR blocks to different targets, we randomly choose which route takes priority"), so the
    snapshot cannot say which one carries the piece: `route` is only the first in table order.
    (A named tuple: lookups make hundreds of thousands of them.)
    """

    destination: Network
    route: Route | None
    alternatives: tuple[Route, ...] = ()

    @property
    def undetermined(self) -> bool:
        """Whether the carrying route is AWS's random pick among tied routes."""
        return bool(self.alternatives)

    @property
    def candidates(self) -> tuple[Route, ...]:
        """Every route that may carry the piece: `route` and its tied alternatives."""
        return (self.route, *self.alternatives) if self.route else ()


class Sent(NamedTuple):
    """What a table sends to one target: `surely`, and `maybe` where tied routes to different
    targets decide and the snapshot does not say which one AWS picked."""

    surely: list[Network]
    maybe: list[Network]


class Topology:
    """Indexes over one snapshot, and route lookups on them."""

    def __init__(self, snapshot: Snapshot, settings: RuleSettings | None = None) -> None:
        self.snapshot = snapshot
        self.settings = settings or RuleSettings()
        scope = snapshot.scope
        # Accounts and organisations a trust rule accepts: the policy's, plus what was audited.
        self.trusted_accounts = (
            self.settings.trusted_accounts
            | set(scope.accounts)
            | set(scope.organization_accounts)
            | {c.account_id for c in snapshot.coverage}
        )
        self.trusted_organization_ids = self.settings.trusted_organization_ids | (
            {scope.organization_id} if scope.organization_id else set()
        )
        self.vpcs: dict[str, Vpc] = {v.id: v for v in snapshot.vpcs}
        self.subnets: dict[str, Subnet] = {s.id: s for s in snapshot.subnets}
        self.route_tables: dict[str, RouteTable] = {t.id: t for t in snapshot.route_tables}
        self.prefix_lists: dict[str, PrefixList] = {p.id: p for p in snapshot.prefix_lists}
        self.peerings: dict[str, Peering] = {p.id: p for p in snapshot.peerings}
        self.subnets_by_vpc: dict[str, list[Subnet]] = defaultdict(list)
        for subnet in snapshot.subnets:
            self.subnets_by_vpc[subnet.vpc_id].append(subnet)
        self.tables_by_vpc: dict[str, list[RouteTable]] = defaultdict(list)
        self.main_table: dict[str, RouteTable] = {}
        self.explicit_table: dict[str, RouteTable] = {}
        for table in snapshot.route_tables:
            self.tables_by_vpc[table.vpc_id].append(table)
            for assoc in table.associations:
                if assoc.state not in ("associated", "associating"):
                    continue
                if assoc.main:
                    self.main_table[table.vpc_id] = table
                elif assoc.subnet_id:
                    self.explicit_table[assoc.subnet_id] = table
        self.endpoints_by_vpc: dict[str, list[Endpoint]] = defaultdict(list)
        for endpoint in snapshot.endpoints:
            self.endpoints_by_vpc[endpoint.vpc_id].append(endpoint)
        self.prefix_list_by_name: dict[tuple[str, str], PrefixList] = {
            (p.region, p.name): p for p in snapshot.prefix_lists
        }
        self._candidate_cache: dict[str, list[Candidate]] = {}
        self._subnet_networks: dict[str, list[Network]] = {}
        self._side_networks: dict[tuple[str, ...], list[Network]] = {}
        self._memo: dict[Hashable, Any] = {}
        self.audited = {(c.account_id, c.region) for c in snapshot.coverage if c.status == "ok"}

    # --- route targets, built on first use ---

    @cached_property
    def nat_gateways(self) -> dict[str, NatGateway]:
        return {n.id: n for n in self.snapshot.nat_gateways}

    @cached_property
    def internet_gateways(self) -> dict[str, InternetGateway]:
        return {g.id: g for g in self.snapshot.internet_gateways}

    @cached_property
    def endpoints(self) -> dict[str, Endpoint]:
        return {e.id: e for e in self.snapshot.endpoints}

    @cached_property
    def network_interfaces(self) -> dict[str, NetworkInterface]:
        return {n.id: n for n in self.snapshot.network_interfaces}

    @cached_property
    def instance_interfaces(self) -> dict[str, list[NetworkInterface]]:
        """ENIs by the instance they are attached to: the snapshot's only record of instances."""
        index: dict[str, list[NetworkInterface]] = defaultdict(list)
        for eni in self.snapshot.network_interfaces:
            if eni.instance_id:
                index[eni.instance_id].append(eni)
        return index

    @cached_property
    def interface_owners(self) -> dict[str, set[str]]:
        """Accounts owning ENIs in each VPC: more than the VPC owner means RAM-shared subnets."""
        index: dict[str, set[str]] = defaultdict(set)
        for eni in self.snapshot.network_interfaces:
            index[eni.vpc_id].add(eni.account_id)
        return index

    @cached_property
    def transit_gateways(self) -> dict[str, TransitGateway]:
        return {t.id: t for t in self.snapshot.transit_gateways}

    @cached_property
    def _routes_by_target(self) -> dict[str, list[tuple[RouteTable, Route]]]:
        index: dict[str, list[tuple[RouteTable, Route]]] = defaultdict(list)
        for table in self.snapshot.route_tables:
            for route in table.routes:
                if route.target_id:
                    index[route.target_id].append((table, route))
        return index

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A result several rules need, computed once per audit."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def routes_to(self, target_id: str) -> list[tuple[RouteTable, Route]]:
        """Every route in any table that targets `target_id`, with its table."""
        return self._routes_by_target.get(target_id, [])

    def service_prefix_list(self, region: str, service: str) -> PrefixList | None:
        """The AWS-managed prefix list of a gateway-endpoint service (s3, dynamodb) in a region."""
        return self.prefix_list_by_name.get((region, f"com.amazonaws.{region}.{service}"))

    # --- which table serves which subnet ---

    def table_for_subnet(self, subnet: Subnet) -> RouteTable | None:
        return self.explicit_table.get(subnet.id) or self.main_table.get(subnet.vpc_id)

    @cached_property
    def _served(self) -> dict[str, list[Subnet]]:
        served: dict[str, list[Subnet]] = defaultdict(list)
        for subnet in self.snapshot.subnets:
            table = self.table_for_subnet(subnet)
            if table:
                served[table.id].append(subnet)
        return served

    def subnets_of_table(self, table: RouteTable) -> list[Subnet]:
        """Subnets whose traffic this table routes: explicit ones, or implicit ones for the main table."""
        return self._served.get(table.id, [])

    # --- longest-prefix match ---

    def route_networks(self, route: Route) -> list[Network]:
        """The destination ranges of a route; a prefix-list route stands for each of its CIDRs."""
        if route.destination_prefix_list_id:
            plist = self.prefix_lists.get(route.destination_prefix_list_id)
            return networks(plist.cidrs) if plist else []
        cidr = route.destination_cidr or route.destination_ipv6_cidr
        return [network(cidr)] if cidr else []

    def _candidates(self, table: RouteTable) -> list[Candidate]:
        """The table's routes as integer ranges with their priority, built once per table.

        Ties on prefix length: a static CIDR route beats a prefix-list route, which beats a
        propagated one (AWS route priority). Prefix-list routes still tied after that (same
        range, different targets) become one candidate that names the others (see Hop)."""
        cached = self._candidate_cache.get(table.id)
        if cached is None:
            cached = []
            listed = 0
            for route in table.routes:
                rank = PREFIX_LIST_RANK if route.destination_prefix_list_id else 1
                if route.origin == "EnableVgwRoutePropagation":
                    rank = 3
                listed += rank == PREFIX_LIST_RANK
                for net in self.route_networks(route):
                    version, first, last = span(net)
                    cached.append(Candidate(version, first, last, (net.prefixlen, -rank), route))
            if listed > 1:  # only prefix-list routes can tie: most tables have one or none
                cached = _settle_ties(cached)
            self._candidate_cache[table.id] = cached
        return cached

    def lookup(self, table: RouteTable, destination: Network) -> list[Hop]:
        """Split `destination` into the pieces that different routes of `table` carry."""
        runs = _runs(self._candidates(table), span(destination))
        if len(runs) == 1:  # one route carries it all: the common case, no splitting needed
            return [Hop(destination, runs[0][2], runs[0][3])]
        return [
            Hop(net, route, tied)
            for first, last, route, tied in runs
            for net in _networks([(destination.version, first, last)], {})
        ]

    def sends(self, table: RouteTable, destinations: Iterable[Network], target_id: str) -> Sent:
        """The parts of `destinations` that `table` surely sends to `target_id`, and apart from
        them the parts it may send there, where AWS's random pick among tied routes decides."""
        if not any(route.target_id == target_id for route in table.routes):
            return Sent([], [])
        known = _known(destinations)
        surely: list[Span] = []
        maybe: list[Span] = []
        for version, lo, hi in known:
            for first, last, route, tied in _runs(self._candidates(table), (version, lo, hi)):
                if route is None:
                    continue
                if not tied:
                    if route.target_id == target_id:
                        surely.append((version, first, last))
                elif route.target_id == target_id or any(r.target_id == target_id for r in tied):
                    maybe.append((version, first, last))
        return Sent(_networks(_merge(surely), known), _networks(_merge(maybe), known))

    # --- peerings ---

    def side_networks(self, side: PeeringSide) -> list[Network]:
        """A peering side's address space: what AWS reports, plus the VPC's own CIDRs if we have
        it (worked out once per side: the peering rules ask for each many times). Shared: do
        not change the list."""
        cidrs = side.cidr_blocks + side.ipv6_cidr_blocks
        vpc = self.vpcs.get(side.vpc_id)
        if vpc:
            cidrs += vpc.cidr_blocks + vpc.ipv6_cidr_blocks
        key = (side.vpc_id, *cidrs)
        found = self._side_networks.get(key)
        if found is None:
            # Each CIDR once: the VPC's own usually repeat what AWS reported.
            found = self._side_networks[key] = collapse(networks(dict.fromkeys(cidrs)))
        return found

    def side_audited(self, side: PeeringSide) -> bool:
        return (side.account_id, side.region) in self.audited and side.vpc_id in self.vpcs

    def subnet_networks(self, subnet: Subnet) -> list[Network]:
        """The subnet's ranges (made once per subnet: the peering rules ask for each many times).
        The list is shared: callers must not change it."""
        nets = self._subnet_networks.get(subnet.id)
        if nets is None:
            cidrs = ([subnet.cidr_block] if subnet.cidr_block else []) + subnet.ipv6_cidr_blocks
            nets = self._subnet_networks[subnet.id] = networks(cidrs)
        return nets


class Candidate(NamedTuple):
    version: int
    start: int
    end: int
    priority: tuple[int, int]
    route: Route
    tied: tuple[Route, ...] = ()  # same range and priority, other targets: AWS picks one


Run = tuple[int, int, Route | None, tuple[Route, ...]]


def _settle_ties(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per prefix-list range and length: the first in table order, naming the
    others when they go to other targets. Ranges of one prefix length are equal or disjoint, so
    a tie is always the same range; keeping one candidate keeps "the first on a tie" in _runs.

    Only prefix-list routes tie at random (the AWS rule quoted on Hop): a table holds one static
    route per destination CIDR, and propagated routes come from its one virtual private gateway.
    """
    first_of: dict[tuple[int, int, int, tuple[int, int]], int] = {}
    settled: list[Candidate] = []
    for candidate in candidates:
        if candidate.priority[1] != -PREFIX_LIST_RANK:
            settled.append(candidate)
            continue
        key = (candidate.version, candidate.start, candidate.end, candidate.priority)
        at = first_of.get(key)
        if at is None:
            first_of[key] = len(settled)
            settled.append(candidate)
            continue
        kept = settled[at]
        if candidate.route is kept.route or any(r is candidate.route for r in kept.tied):
            continue  # a prefix list naming one CIDR twice: still one route
        settled[at] = kept._replace(tied=(*kept.tied, candidate.route))
    return [_drop_same_target_ties(c) if c.tied else c for c in settled]


def _drop_same_target_ties(candidate: Candidate) -> Candidate:
    """Tied routes that all go where the kept one goes decide nothing: no tie to report."""
    target = candidate.route.target_id
    if all(r.target_id == target for r in candidate.tied):
        return candidate._replace(tied=())
    return candidate


def _runs(candidates: list[Candidate], destination: Span) -> list[Run]:
    """Cut the destination at every boundary of a route inside it; each elementary interval is
    then carried by one candidate (the longest prefix containing it, then the route kind), and
    neighbours on the same route are joined: (first, last, route, tied routes) in address
    order."""
    version, lo, hi = destination
    # The common case first, in one pass: every route that meets the destination holds all of
    # it, and the best of them (the first on equal priority) carries it whole.
    best: Candidate | None = None
    for candidate in candidates:
        if candidate.version != version or candidate.start > hi or candidate.end < lo:
            continue
        if candidate.start > lo or candidate.end < hi:
            break  # a route inside the destination: it is cut below
        if best is None or candidate.priority > best.priority:
            best = candidate
    else:
        return [(lo, hi, best.route, best.tied) if best else (lo, hi, None, ())]
    relevant = [c for c in candidates if c.version == version and c.start <= hi and c.end >= lo]
    cuts = {lo, hi + 1}
    for _, start, end, _, _, _ in relevant:
        if start > lo:
            cuts.add(start)
        if end < hi:
            cuts.add(end + 1)
    points = sorted(cuts)
    runs: list[Run] = []
    for first, after in pairwise(points):
        best_candidate, best_key = None, None
        for candidate in relevant:
            _, start, end, priority, _, _ = candidate
            if start <= first and after - 1 <= end and (best_key is None or priority > best_key):
                best_candidate, best_key = candidate, priority
        route = best_candidate.route if best_candidate else None
        tied = best_candidate.tied if best_candidate else ()
        if runs and runs[-1][2] is route and runs[-1][3] == tied:  # one piece of evidence
            runs[-1] = (runs[-1][0], after - 1, route, tied)
        else:
            runs.append((first, after - 1, route, tied))
    return runs
