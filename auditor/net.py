"""Routing over a Snapshot: the one place that knows how VPC routing decides.

Indexes are built once per audit (by id, by VPC, by subnet) so rules never loop over all
pairs of resources. Route choice is longest-prefix match, as in a VPC route table.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
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
T = TypeVar("T")


@cache
def network(cidr: str) -> Network:
    """Parsed once per distinct CIDR: audits parse the same few strings many thousand times."""
    return ipaddress.ip_network(cidr, strict=False)


def networks(cidrs: Iterable[str]) -> list[Network]:
    return [network(c) for c in cidrs]


def collapse(nets: Iterable[Network]) -> list[Network]:
    """Merge adjacent and nested networks, per address family."""
    nets = list(nets)  # read twice below: a generator would lose its IPv6 half
    if len(nets) < 2:
        return nets
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def subtract(nets: Iterable[Network], minus: Iterable[Network]) -> list[Network]:
    """Address ranges in `nets` that are in none of `minus`."""
    remaining = collapse(nets)
    for cut in collapse(minus):
        next_round: list[Network] = []
        for net in remaining:
            if net.version != cut.version or not net.overlaps(cut):
                next_round.append(net)
            elif net.subnet_of(cut):  # type: ignore[arg-type]
                continue
            else:
                next_round.extend(net.address_exclude(cut))  # type: ignore[arg-type]
        remaining = next_round
    return collapse(remaining)


def intersect(nets: Iterable[Network], others: Iterable[Network]) -> list[Network]:
    """Address ranges in both lists (two CIDRs overlap only when one contains the other)."""
    others = list(others)
    return collapse(a if inside(a, b) else b for a in nets for b in others if overlaps(a, b))


def overlaps(a: Network, b: Network) -> bool:
    return a.version == b.version and a.overlaps(b)


def inside(inner: Network, outer: Network) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Hop:
    """A piece of a destination range and the route that carries it (None: no route, dropped)."""

    destination: Network
    route: Route | None


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
        propagated one (AWS route priority)."""
        cached = self._candidate_cache.get(table.id)
        if cached is None:
            cached = []
            for route in table.routes:
                rank = 2 if route.destination_prefix_list_id else 1
                if route.origin == "EnableVgwRoutePropagation":
                    rank = 3
                cached.extend(
                    Candidate(
                        net.version,
                        int(net.network_address),
                        int(net.broadcast_address),
                        (net.prefixlen, -rank),
                        route,
                    )
                    for net in self.route_networks(route)
                )
            self._candidate_cache[table.id] = cached
        return cached

    def lookup(self, table: RouteTable, destination: Network) -> list[Hop]:
        """Split `destination` into the pieces that different routes of `table` carry."""
        return _lookup(self._candidates(table), destination)

    def resolve_to(
        self, table: RouteTable, destinations: Iterable[Network], target_id: str
    ) -> list[Network]:
        """The parts of `destinations` that `table` sends to `target_id`."""
        return collapse(
            hop.destination
            for dest in destinations
            for hop in self.lookup(table, dest)
            if hop.route and hop.route.target_id == target_id
        )

    # --- peerings ---

    def side_networks(self, side: PeeringSide) -> list[Network]:
        """A peering side's address space: what AWS reports, plus the VPC's own CIDRs if we have it."""
        cidrs = list(side.cidr_blocks) + list(side.ipv6_cidr_blocks)
        vpc = self.vpcs.get(side.vpc_id)
        if vpc:
            cidrs += vpc.cidr_blocks + vpc.ipv6_cidr_blocks
        return collapse(networks(cidrs))

    def side_audited(self, side: PeeringSide) -> bool:
        return (side.account_id, side.region) in self.audited and side.vpc_id in self.vpcs

    def subnet_networks(self, subnet: Subnet) -> list[Network]:
        return networks(
            ([subnet.cidr_block] if subnet.cidr_block else []) + subnet.ipv6_cidr_blocks
        )


class Candidate(NamedTuple):
    version: int
    start: int
    end: int
    priority: tuple[int, int]
    route: Route


def _lookup(candidates: list[Candidate], destination: Network) -> list[Hop]:
    """Cut the destination at every boundary of a route inside it; each elementary interval is
    then carried by one route (the longest prefix containing it). Integer maths: this runs for
    every table of every audit, and ipaddress objects are slow."""
    lo, hi = int(destination.network_address), int(destination.broadcast_address)
    relevant = [
        c for c in candidates if c.version == destination.version and c.start <= hi and c.end >= lo
    ]
    cuts = {lo, hi + 1}
    for c in relevant:
        cuts.update(x for x in (c.start, c.end + 1) if lo < x <= hi)
    points = sorted(cuts)
    runs: list[tuple[int, int, Route | None]] = []
    for first, after in pairwise(points):
        best, best_key = None, None
        for c in relevant:
            if (
                c.start <= first
                and after - 1 <= c.end
                and (best_key is None or c.priority > best_key)
            ):
                best, best_key = c.route, c.priority
        if runs and runs[-1][2] is best:  # neighbours on the same route: one piece of evidence
            runs[-1] = (runs[-1][0], after - 1, best)
        else:
            runs.append((first, after - 1, best))
    if len(runs) == 1:  # one route carries it all: the common case, no splitting needed
        return [Hop(destination, runs[0][2])]
    address = ipaddress.IPv4Address if destination.version == 4 else ipaddress.IPv6Address
    return [
        Hop(net, route)
        for first, last, route in runs
        for net in ipaddress.summarize_address_range(address(first), address(last))
    ]
