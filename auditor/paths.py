"""The path engine: where traffic from a VPC route table ends, hop by hop across hubs.

It follows a destination through transit gateways and into the next VPC until it ends (a NAT or
internet gateway, an endpoint, a VPC it is local to, a drop, or the edge of what the audit could
read). Pure: reads the Topology only.

AWS semantics followed (cited in the rules that use it):
- VPC route tables: longest-prefix match (net.Topology.lookup).
- Transit gateway route tables: the table associated with the attachment the traffic enters by
  decides; most specific route first, then for one destination static, prefix-list, then
  propagated routes (Transit Gateway guide, "How transit gateways work: Route evaluation order").
  A blackhole route drops the traffic.
- Traffic leaving a transit gateway into a VPC enters through the attachment's network interface
  in one subnet per Availability Zone (the source's zone when the attachment has a subnet there)
  and is routed by that subnet's route table.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from auditor.model import (
    RouteTable,
    Subnet,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from auditor.net import Hop, Network, Topology, _networks, networks, span, text
from auditor.states import ATTACHMENT_LIVE, ATTACHMENT_REMOVED, NAT_LIVE

# How a path ends.
DELIVERED = "delivered"  # the destination is local to the VPC reached (a local route)
NO_ROUTE = "no-route"  # a VPC route table has no route for it: dropped
HUB_NO_ROUTE = "tgw-no-route"  # the transit gateway route table has no route for it: dropped
BLACKHOLE = "blackhole"  # a blackhole route, or a route to something gone: dropped
BOUNDARY = "boundary"  # what comes next was not read by this audit: unknown beyond here
UNDETERMINED = "undetermined"  # AWS picks among tied prefix-list routes at random
LOOP = "loop"
# Any other end is the kind of the target reached: nat-gateway, internet-gateway, vpc-endpoint,
# vpc-peering-connection, vpn-gateway, network-interface, instance, or for transit gateway
# attachments vpn, direct-connect-gateway, connect, ...
DROPPED = frozenset({NO_ROUTE, HUB_NO_ROUTE, BLACKHOLE})

MAX_STEPS = 16
# For one destination, propagated routes rank by what propagates them ("How transit gateways
# work", route evaluation order): VPC, then Direct Connect gateway, Connect, then VPN.
PROPAGATED_RANK = {"vpc": 3, "direct-connect-gateway": 4, "connect": 5, "vpn": 6}


@dataclass(frozen=True)
class Step:
    """One routing decision: which table decided, by which route, and where it pointed."""

    table_id: str
    account_id: str
    region: str
    matched: str  # the route's destination, "" when no route matched
    target: str  # the route's target ("" when no route)
    via: str = ""  # for a transit gateway table: the attachment the traffic entered by
    hub: str = ""  # and its transit gateway

    def as_evidence(self) -> dict[str, str]:
        row = {"table": self.table_id, "route": self.matched or "no route", "target": self.target}
        if self.via:
            row["entered_by"] = self.via
        return row


@dataclass(frozen=True)
class Path:
    """Where one piece of a destination range goes from the table the walk started at."""

    destination: Network
    steps: tuple[Step, ...]
    end: str
    end_id: str
    detail: str = ""

    @property
    def crosses_hub(self) -> bool:
        return any(s.hub for s in self.steps)

    @property
    def transit_gateways(self) -> list[str]:
        return list(dict.fromkeys(s.hub for s in self.steps if s.hub))

    def as_evidence(self) -> dict[str, object]:
        return {
            "destination": text(self.destination),
            "hops": [s.as_evidence() for s in self.steps],
            "ends_at": f"{self.end} {self.end_id}".strip(),
            **({"detail": self.detail} if self.detail else {}),
        }


def paths(topo: Topology) -> Paths:
    """The audit's one path engine (indexes built once)."""
    return topo.memo("paths", lambda: Paths(topo))


class Paths:
    """Indexes over the snapshot's transit gateways, and the walk itself."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        snap = topo.snapshot
        self.attachments = {a.id: a for a in snap.transit_gateway_attachments}
        self.hub_tables = {t.id: t for t in snap.transit_gateway_route_tables}
        self.vpc_attachments: dict[tuple[str, str], TransitGatewayAttachment] = {}
        # A VPC's live attachment wins over a failed or pending one to the same hub.
        for a in sorted(snap.transit_gateway_attachments, key=lambda a: a.state in ATTACHMENT_LIVE):
            if a.resource_type == "vpc" and a.state not in ATTACHMENT_REMOVED:
                self.vpc_attachments[(a.transit_gateway_id, a.resource_id)] = a
        # Associations as the route tables list them; an attachment's own field as fallback.
        self.associated: dict[tuple[str, str], TransitGatewayRouteTable] = {}
        self.tgws_with_tables: set[str] = set()
        for t in snap.transit_gateway_route_tables:
            self.tgws_with_tables.add(t.transit_gateway_id)
            for attachment_id in t.associations:
                self.associated[(t.transit_gateway_id, attachment_id)] = t
        self._routed: dict[str, Routed] = {}
        self._readable: dict[str, bool] = {}
        self._lookups: dict[tuple[str, Network], list[Hop]] = {}
        self._decisions: dict[
            tuple[str, Network, str | None],
            list[tuple[Network, TransitGatewayRoute | None, list[Path]]],
        ] = {}

    # --- transit gateway tables ---

    def association(
        self, tgw_id: str, attachment: TransitGatewayAttachment
    ) -> TransitGatewayRouteTable | None:
        table = self.associated.get((tgw_id, attachment.id))
        if table is None and attachment.association_route_table_id:
            table = self.hub_tables.get(attachment.association_route_table_id)
        return table

    def hub_readable(self, tgw_id: str) -> bool:
        """Whether the audit read this transit gateway's route tables (its owner was audited)."""
        tgw = self.topo.transit_gateways.get(tgw_id)
        if tgw_id in self.tgws_with_tables:
            return True
        return tgw is not None and (tgw.account_id, tgw.region) in self.topo.audited

    def routed(self, table: TransitGatewayRouteTable) -> Routed:
        """The table as disjoint ranges, each with the route that wins it (built once)."""
        cached = self._routed.get(table.id)
        if cached is None:
            cached = self._routed[table.id] = Routed(self.hub_ranges(table))
        return cached

    def hub_ranges(self, table: TransitGatewayRouteTable) -> list[Ranked]:
        """Routes as ranges with AWS's priority: longer prefix, then static, prefix-list, then
        propagated routes by what propagates them (PROPAGATED_RANK)."""
        ranked: list[Ranked] = []
        for route in table.routes:
            if route.destination_prefix_list_id:
                plist = self.topo.prefix_lists.get(route.destination_prefix_list_id)
                nets = networks(plist.cidrs if plist else [])
                rank = 2
            else:
                nets = networks([route.destination_cidr] if route.destination_cidr else [])
                rank = 1 if route.route_type == "static" else self.propagated_rank(route)
            ranked.extend(Ranked(*span(n), -rank, route) for n in nets)
        return ranked

    def propagated_rank(self, route: TransitGatewayRoute) -> int:
        attachment = self.attachments.get(route.attachment_ids[0]) if route.attachment_ids else None
        return PROPAGATED_RANK.get(attachment.resource_type if attachment else "", 9)

    def readable(self, table: TransitGatewayRouteTable) -> bool:
        """Whether the whole table is known: all its routes read, and the CIDRs of every prefix
        list its routes name (else a more specific unread entry might win anywhere)."""
        known = self._readable.get(table.id)
        if known is None:
            known = self._readable[table.id] = table.routes_complete and all(
                r.destination_prefix_list_id in self.topo.prefix_lists
                for r in table.routes
                if r.destination_prefix_list_id
            )
        return known

    def lookup(self, table: RouteTable, destination: Network) -> list[Hop]:
        """Topology.lookup, kept: the tables after a hub are walked once per spoke."""
        key = (table.id, destination)
        hops = self._lookups.get(key)
        if hops is None:
            hops = self._lookups[key] = self.topo.lookup(table, destination)
        return hops

    def hub_lookup(
        self, table: TransitGatewayRouteTable, destination: Network
    ) -> list[tuple[Network, TransitGatewayRoute | None]]:
        """Split `destination` into the pieces the table's routes carry (None: no route)."""
        return [
            (net, route)
            for first, last, route in self.routed(table).clip(span(destination))
            for net in _networks([(destination.version, first, last)], {})
        ]

    # --- the walk ---

    def follow(self, table: RouteTable, destination: Network, az: str | None = None) -> list[Path]:
        """Every piece of `destination` from `table`, each to where it ends."""
        return list(self._from_table(table, destination, (), az, frozenset()))

    def _from_table(
        self,
        table: RouteTable,
        destination: Network,
        steps: tuple[Step, ...],
        az: str | None,
        seen: frozenset[str],
    ) -> Iterator[Path]:
        if table.id in seen or len(steps) >= MAX_STEPS:
            yield Path(destination, steps, LOOP, table.id, "the path comes back to this table")
            return
        seen = seen | {table.id}
        for hop in self.lookup(table, destination):
            route = hop.route
            if route is None:
                step = Step(table.id, table.account_id, table.region, "", "")
                yield Path(hop.destination, (*steps, step), NO_ROUTE, table.id)
                continue
            step = Step(
                table.id, table.account_id, table.region, route.destination, route.target_id
            )
            here = (*steps, step)
            if hop.undetermined:
                tied = ", ".join(f"{r.destination} -> {r.target_id}" for r in hop.candidates)
                yield Path(hop.destination, here, UNDETERMINED, table.id, f"tied routes: {tied}")
            elif route.state == "blackhole":
                yield Path(hop.destination, here, BLACKHOLE, route.target_id, "route is blackhole")
            elif route.target_type == "local":
                yield Path(hop.destination, here, DELIVERED, table.vpc_id)
            elif route.target_type == "transit-gateway":
                yield from self._into_hub(
                    table.vpc_id, route.target_id, hop.destination, here, az, seen
                )
            elif (appliance := self.appliance_table(route.target_id, az)) is not None:
                # A Gateway Load Balancer endpoint hands the traffic to the appliances, which
                # return it to the endpoint: its subnet's route table routes it on.
                yield from self._from_table(appliance, hop.destination, here, az, seen)
            elif route.target_type == "nat-gateway" and not self._nat_alive(route.target_id):
                yield Path(hop.destination, here, BLACKHOLE, route.target_id, "NAT gateway is gone")
            else:
                yield Path(hop.destination, here, route.target_type, route.target_id)

    def appliance_table(self, endpoint_id: str, az: str | None) -> RouteTable | None:
        """The route table of a Gateway Load Balancer endpoint's subnet (in the traffic's zone
        when it has one there); None for any other target or an endpoint not in the snapshot."""
        endpoint = self.topo.endpoints.get(endpoint_id) if endpoint_id.startswith("vpce-") else None
        if endpoint is None or endpoint.endpoint_type.lower() != "gatewayloadbalancer":
            return None
        subnets = [self.topo.subnets[s] for s in endpoint.subnet_ids if s in self.topo.subnets]
        same_zone = [s for s in subnets if az and s.availability_zone == az]
        subnet = next(iter(same_zone or subnets), None)
        return self.topo.table_for_subnet(subnet) if subnet else None

    def _nat_alive(self, nat_id: str) -> bool:
        nat = self.topo.nat_gateways.get(nat_id)
        return nat is None or nat.state in NAT_LIVE

    def _into_hub(
        self,
        vpc_id: str,
        tgw_id: str,
        destination: Network,
        steps: tuple[Step, ...],
        az: str | None,
        seen: frozenset[str],
    ) -> Iterator[Path]:
        attachment = self.vpc_attachments.get((tgw_id, vpc_id))
        if attachment is None:
            if self.hub_readable(tgw_id):
                yield Path(
                    destination, steps, BLACKHOLE, tgw_id, f"{vpc_id} has no attachment to {tgw_id}"
                )
            else:
                yield Path(destination, steps, BOUNDARY, tgw_id, self._why_unread(tgw_id))
            return
        yield from self._through_attachment(tgw_id, attachment, destination, steps, az, seen)

    def _why_unread(self, tgw_id: str) -> str:
        tgw = self.topo.transit_gateways.get(tgw_id)
        owner = f" (owner {tgw.account_id})" if tgw else ""
        return f"the route tables of {tgw_id}{owner} were not read by this audit"

    def _through_attachment(
        self,
        tgw_id: str,
        attachment: TransitGatewayAttachment,
        destination: Network,
        steps: tuple[Step, ...],
        az: str | None,
        seen: frozenset[str],
    ) -> Iterator[Path]:
        if attachment.state not in ATTACHMENT_LIVE:
            yield Path(
                destination,
                steps,
                BLACKHOLE,
                attachment.id,
                f"attachment {attachment.id} is {attachment.state}",
            )
            return
        table = self.association(tgw_id, attachment)
        if table is None:
            if self.hub_readable(tgw_id):
                yield Path(
                    destination,
                    steps,
                    BLACKHOLE,
                    attachment.id,
                    f"attachment {attachment.id} is associated with no route table of {tgw_id}",
                )
            else:
                yield Path(destination, steps, BOUNDARY, tgw_id, self._why_unread(tgw_id))
            return
        if table.id in seen or len(steps) >= MAX_STEPS:
            yield Path(destination, steps, LOOP, table.id, "the path comes back to this table")
            return
        if not self.readable(table):
            step = Step(table.id, table.account_id, table.region, "", "", attachment.id, tgw_id)
            why = "the table's routes, or the prefix lists they name, were not all read"
            yield Path(destination, (*steps, step), BOUNDARY, table.id, why)
            return
        for _, route, tails in self._hub_decisions(tgw_id, table, destination, az):
            step = Step(
                table.id,
                table.account_id,
                table.region,
                route.destination if route else "",
                (", ".join(route.attachment_ids) or "blackhole") if route else "",
                attachment.id,
                tgw_id,
            )
            for tail in tails:
                steps_all = (*steps, step, *tail.steps)
                yield Path(tail.destination, steps_all, tail.end, tail.end_id, tail.detail)

    def _hub_decisions(
        self, tgw_id: str, table: TransitGatewayRouteTable, destination: Network, az: str | None
    ) -> list[tuple[Network, TransitGatewayRoute | None, list[Path]]]:
        """What the hub table does with `destination`, and where each piece goes after it
        (paths relative to the hub step). The same for every VPC whose attachment the table is
        associated with, so worked out once: thousands of spokes share a hub's table."""
        key = (table.id, destination, az)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        decisions = []
        for piece, route in self.hub_lookup(table, destination):
            if route is None:
                tails = [Path(piece, (), HUB_NO_ROUTE, table.id)]
            elif route.state == "blackhole" or not route.attachment_ids:
                tails = [Path(piece, (), BLACKHOLE, table.id, blackhole_detail(route))]
            else:
                seen = frozenset({table.id})
                tails = list(self._out_of_hub(tgw_id, route.attachment_ids[0], piece, (), az, seen))
            decisions.append((piece, route, tails))
        self._decisions[key] = decisions
        return decisions

    def _out_of_hub(
        self,
        tgw_id: str,
        attachment_id: str,
        destination: Network,
        steps: tuple[Step, ...],
        az: str | None,
        seen: frozenset[str],
    ) -> Iterator[Path]:
        attachment = self.attachments.get(attachment_id)
        if attachment is None:
            yield Path(
                destination, steps, BOUNDARY, attachment_id, "attachment not in the snapshot"
            )
            return
        if attachment.state not in ATTACHMENT_LIVE:
            detail = f"attachment {attachment.id} is {attachment.state}"
            yield Path(destination, steps, BLACKHOLE, attachment.id, detail)
            return
        if attachment.resource_type == "peering":
            peer = attachment.peer_transit_gateway_id
            other = attachment.transit_gateway_id if peer == tgw_id else peer
            if other is None:
                yield Path(destination, steps, BOUNDARY, attachment.id, "peer not known")
                return
            yield from self._through_attachment(other, attachment, destination, steps, az, seen)
            return
        if attachment.resource_type != "vpc":
            yield Path(destination, steps, attachment.resource_type, attachment.resource_id)
            return
        subnet = self.entry_subnet(attachment, az)
        table = self.topo.table_for_subnet(subnet) if subnet else None
        if subnet is None or table is None:
            vpc_id = attachment.resource_id
            yield Path(
                destination,
                steps,
                BOUNDARY,
                vpc_id,
                f"{vpc_id} (account {attachment.resource_owner_id}) was not read by this audit",
            )
            return
        yield from self._from_table(table, destination, steps, subnet.availability_zone, seen)

    def entry_subnet(self, attachment: TransitGatewayAttachment, az: str | None) -> Subnet | None:
        """The attachment's subnet in the traffic's zone, else its first known subnet."""
        subnets = [self.topo.subnets[s] for s in attachment.subnet_ids if s in self.topo.subnets]
        same_zone = [s for s in subnets if az and s.availability_zone == az]
        return next(iter(same_zone or subnets), None)

    # --- what rules ask ---

    def carriers(self, ranges: tuple[str, ...]) -> Carriers:
        """The route tables that carry other VPCs' traffic to `ranges` (memoised per ranges)."""
        return self.topo.memo(("carriers", ranges), lambda: self._carriers(networks(ranges)))

    def _tables_inside(self, subnet_id: str, ranges: list[Network]) -> set[str]:
        """The tables traffic entering by this subnet crosses before it leaves the VPC."""
        subnet = self.topo.subnets.get(subnet_id)
        table = self.topo.table_for_subnet(subnet) if subnet else None
        if subnet is None or table is None:
            return set()
        found: set[str] = set()
        for net in ranges:
            for path in self._from_table(table, net, (), subnet.availability_zone, frozenset()):
                for step in path.steps:
                    if step.hub:
                        break
                    found.add(step.table_id)
        return found

    def _carriers(self, ranges: list[Network]) -> Carriers:
        """Tables a hub hands traffic to these ranges to: those of the attachment subnets of
        every VPC attachment a hub route table sends part of them to, and the tables after them
        inside that VPC (a firewall endpoint's subnet); with the subnets that exist only for
        that transit (attachment and Gateway Load Balancer endpoint subnets)."""
        tables: set[str] = set()
        transit_subnets: set[str] = set()
        receiving = {
            attachment_id
            for hub_table in self.hub_tables.values()
            for net in ranges
            for _, _, route in self.routed(hub_table).clip(span(net))
            if route is not None
            for attachment_id in route.attachment_ids
        }
        for attachment in self.vpc_attachments.values():
            if attachment.id not in receiving:
                continue
            transit_subnets.update(attachment.subnet_ids)
            for subnet_id in attachment.subnet_ids:
                tables |= self._tables_inside(subnet_id, ranges)
        for endpoint in self.topo.snapshot.endpoints:
            if endpoint.endpoint_type.lower() == "gatewayloadbalancer":
                transit_subnets.update(endpoint.subnet_ids)
        return Carriers(frozenset(tables), frozenset(transit_subnets))


def blackhole_detail(route: TransitGatewayRoute) -> str:
    if route.attachment_ids:
        return f"route to {', '.join(route.attachment_ids)} is blackhole: its attachment is gone"
    return "static blackhole route: a deliberate block"


class Carriers(NamedTuple):
    """Route tables carrying other VPCs' traffic through a hub, and the subnets that exist only
    for that transit: where a gateway endpoint route would cut those VPCs off."""

    tables: frozenset[str]
    transit_subnets: frozenset[str]


class Ranked(NamedTuple):
    version: int
    first: int
    last: int
    rank: int  # higher wins between routes for the same range
    route: TransitGatewayRoute


class Routed:
    """A route table decided once for the whole address space: disjoint, sorted ranges, each
    with the route that longest-prefix match (then rank) picks. CIDR ranges nest or do not
    meet, so one pass with a stack of enclosing ranges decides it: O(n log n), where cutting
    every lookup at every route boundary would cost O(n^2) on a hub table of 500+ routes."""

    def __init__(self, ranked: list[Ranked]) -> None:
        best: dict[tuple[int, int, int], Ranked] = {}
        for r in ranked:
            key = (r.version, r.first, r.last)
            if key not in best or r.rank > best[key].rank:
                best[key] = r
        self.ranges: list[tuple[int, int, int, TransitGatewayRoute]] = []
        ordered = sorted(best.values(), key=lambda r: (r.version, r.first, -r.last))
        stack: list[Ranked] = []
        cursor = (0, 0)  # (version, next address not yet decided)
        for r in ordered:
            cursor = self._close(stack, (r.version, r.first), cursor)
            if stack and cursor < (r.version, r.first):
                self._emit(stack[-1], cursor[1], r.first - 1)
            cursor = (r.version, r.first)
            stack.append(r)
        self._close(stack, None, cursor)
        self.starts = [(v, first) for v, first, _, _ in self.ranges]

    def _emit(self, r: Ranked, first: int, last: int) -> None:
        if first <= last:
            self.ranges.append((r.version, first, last, r.route))

    def _close(
        self, stack: list[Ranked], upto: tuple[int, int] | None, cursor: tuple[int, int]
    ) -> tuple[int, int]:
        """Emit the tails of the enclosing ranges that end before `upto` (all, when None)."""
        while stack and (upto is None or (stack[-1].version, stack[-1].last) < upto):
            top = stack.pop()
            if cursor[0] == top.version:
                self._emit(top, cursor[1], top.last)
            cursor = (top.version, top.last + 1)
        return cursor

    def clip(
        self, destination: tuple[int, int, int]
    ) -> list[tuple[int, int, TransitGatewayRoute | None]]:
        """(first, last, route) pieces of `destination` in address order; gaps have None."""
        version, lo, hi = destination
        i = max(bisect.bisect_right(self.starts, (version, lo)) - 1, 0)
        pieces: list[tuple[int, int, TransitGatewayRoute | None]] = []
        at = lo
        while i < len(self.ranges):
            v, first, last, route = self.ranges[i]
            i += 1
            if v < version or last < lo:
                continue
            if v > version or first > hi:
                break
            if first > at:
                pieces.append((at, first - 1, None))
            pieces.append((max(first, at), min(last, hi), route))
            at = min(last, hi) + 1
        if at <= hi:
            pieces.append((at, hi, None))
        return pieces
