"""Transit gateways: attachments, hub route tables and the paths through them."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from auditor.model import (
    Finding,
    RouteTable,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from auditor.net import (
    Network,
    Topology,
    _networks,
    collapse,
    intersect,
    network,
    overlaps,
    span,
    subtract,
    text,
)
from auditor.paths import DELIVERED, HUB_NO_ROUTE, NO_ROUTE, Path, Paths, paths
from auditor.rules.base import Found, label, rule, vpc_label
from auditor.rules.commands import ec2
from auditor.rules.routing import create_route_commands
from auditor.states import ATTACHMENT_GONE, ATTACHMENT_LIVE, ATTACHMENT_PENDING_ACCEPTANCE


def attachment_finding(
    found: Found,
    attachment: TransitGatewayAttachment,
    message: str,
    remediation: str,
    evidence: dict[str, object],
    detail: str = "",
    commands: Iterable[str] = (),
) -> Finding:
    return found(
        commands=commands,
        account_id=attachment.account_id,
        region=attachment.region,
        resource_id=attachment.id,
        vpc_id=attachment.resource_id if attachment.resource_type == "vpc" else None,
        message=message,
        remediation=remediation,
        evidence={
            "attachment": label(attachment.id, attachment.tags),
            "transit_gateway": attachment.transit_gateway_id,
            "resource": f"{attachment.resource_type} {attachment.resource_id}".strip(),
            "resource_owner": attachment.resource_owner_id,
            "state": attachment.state,
            **evidence,
        },
        detail=detail,
    )


def hub_finding(
    found: Found,
    tgw: TransitGateway,
    message: str,
    remediation: str,
    evidence: dict[str, object],
    commands: Iterable[str] = (),
) -> Finding:
    """A finding on the transit gateway itself (in its owner's account and region)."""
    return found(
        commands=commands,
        account_id=tgw.account_id,
        region=tgw.region,
        resource_id=tgw.id,
        vpc_id=None,
        message=message,
        remediation=remediation,
        evidence=evidence,
    )


def attachment_owner(attachment: TransitGatewayAttachment) -> str:
    """The account that owns the attached VPC: it modifies the attachment."""
    return attachment.resource_owner_id or attachment.account_id


def attachment_options(attachment: TransitGatewayAttachment, option: str) -> str:
    return ec2(
        attachment_owner(attachment),
        attachment.region,
        "modify-transit-gateway-vpc-attachment",
        *("--transit-gateway-attachment-id", attachment.id, "--options", option),
    )


def hub_options(tgw: TransitGateway, option: str) -> str:
    return ec2(
        tgw.account_id,
        tgw.region,
        "modify-transit-gateway",
        *("--transit-gateway-id", tgw.id, "--options", option),
    )


def describe(topo: Topology, attachment: TransitGatewayAttachment) -> str:
    what = (
        f"VPC {vpc_label(topo, attachment.resource_id)}"
        if attachment.resource_type == "vpc"
        else f"{attachment.resource_type} {attachment.resource_id}".strip()
    )
    return (
        f"attachment {label(attachment.id, attachment.tags)} of {what} to transit gateway "
        f"{attachment.transit_gateway_id}"
    )


def live_vpc_attachments(topo: Topology) -> list[TransitGatewayAttachment]:
    return [
        a
        for a in topo.snapshot.transit_gateway_attachments
        if a.resource_type == "vpc" and a.state in ATTACHMENT_LIVE
    ]


# --- attachments ---


@rule("tgw-attachment-pending-acceptance")
def attachment_pending_acceptance(topo: Topology, found: Found) -> Iterator[Finding]:
    for attachment in topo.snapshot.transit_gateway_attachments:
        if attachment.state != ATTACHMENT_PENDING_ACCEPTANCE:
            continue
        if attachment.resource_type == "peering" and attachment.accepter_side:
            # Seen from the accepter's side: its own transit gateway's owner accepts.
            account, region = attachment.account_id, attachment.region
            command = "accept-transit-gateway-peering-attachment"
            who = f"the owner of transit gateway {attachment.transit_gateway_id} (the accepter)"
        elif attachment.resource_type == "peering":
            account = attachment.peer_account_id or ""
            region = attachment.peer_region or attachment.region
            command = "accept-transit-gateway-peering-attachment"
            who = f"the owner of the peer transit gateway {attachment.peer_transit_gateway_id}"
        else:
            account, region = attachment.account_id, attachment.region
            command = "accept-transit-gateway-vpc-attachment"
            who = "the transit gateway's owner"
        yield attachment_finding(
            found,
            attachment,
            message=(
                f"The {describe(topo, attachment)} is waiting for acceptance: no traffic flows "
                f"through it until {who} (account {account or 'unknown'}) accepts it in {region}. "
                f"A request not accepted within 7 days expires."
            ),
            remediation=(
                f"Account {account or 'of the peer transit gateway'} accepts it in {region} "
                f"(aws ec2 {command}); or rejects it if it is not wanted."
            ),
            evidence={"must_accept": {"account_id": account or None, "region": region}},
            commands=[
                ec2(account, region, command, "--transit-gateway-attachment-id", attachment.id)
            ]
            if account
            else [],
        )


@rule("tgw-attachment-az-missing")
def attachment_az_missing(topo: Topology, found: Found) -> Iterator[Finding]:
    for attachment in live_vpc_attachments(topo):
        zones = {
            topo.subnets[s].availability_zone for s in attachment.subnet_ids if s in topo.subnets
        }
        if not zones or len(zones) < len(attachment.subnet_ids):
            continue  # the attachment's subnets are not all known: its zones are not either
        stranded = [
            subnet
            for subnet in topo.subnets_by_vpc.get(attachment.resource_id, [])
            if subnet.availability_zone not in zones
            and routes_to_hub(topo, subnet.id, attachment.transit_gateway_id)
        ]
        if not stranded:
            continue
        missing = sorted({s.availability_zone for s in stranded})
        yield attachment_finding(
            found,
            attachment,
            message=(
                f"Subnets in {', '.join(missing)} route traffic to transit gateway "
                f"{attachment.transit_gateway_id}, but its {describe(topo, attachment)} has no "
                f"subnet in {'that zone' if len(missing) == 1 else 'those zones'}. Resources in "
                f"an Availability Zone without an attachment subnet cannot reach the transit "
                f"gateway: their traffic to it is dropped."
            ),
            remediation=(
                f"Add a subnet in each missing zone to the attachment: aws ec2 "
                f"modify-transit-gateway-vpc-attachment --transit-gateway-attachment-id "
                f"{attachment.id} --add-subnet-ids <one subnet per zone in {', '.join(missing)}> "
                f"--region {attachment.region}"
            ),
            evidence={
                "attachment_zones": sorted(zones),
                "missing_zones": missing,
                "subnets": [
                    {"id": s.id, "zone": s.availability_zone, "cidr": s.cidr_block}
                    for s in stranded[:50]
                ],
            },
        )


def routes_to_hub(topo: Topology, subnet_id: str, tgw_id: str) -> bool:
    subnet = topo.subnets[subnet_id]
    table = topo.table_for_subnet(subnet)
    return table is not None and any(
        r.target_id == tgw_id and r.state != "blackhole" for r in table.routes
    )


@rule("tgw-dns-support-off")
def dns_support_off(topo: Topology, found: Found) -> Iterator[Finding]:
    by_hub: dict[str, list[TransitGatewayAttachment]] = defaultdict(list)
    for attachment in live_vpc_attachments(topo):
        by_hub[attachment.transit_gateway_id].append(attachment)
    for tgw_id, attachments in sorted(by_hub.items()):
        if len({a.resource_id for a in attachments}) < 2:
            continue  # one VPC: nobody resolves its names through the hub
        tgw = topo.transit_gateways.get(tgw_id)
        vpcs = sorted({a.resource_id for a in attachments})
        if tgw is not None and tgw.dns_support is False:
            yield hub_finding(
                found,
                tgw,
                message=(
                    f"Transit gateway {label(tgw.id, tgw.tags)} has DNS support off while "
                    f"{len(vpcs)} VPCs are attached to it: instances in one VPC resolve the "
                    f"public DNS hostnames of the others to public IPv4 addresses, so that "
                    f"traffic leaves through NAT or internet gateways instead of the hub (or "
                    f"fails)."
                ),
                remediation=f"Turn on DNS support on transit gateway {tgw.id}.",
                evidence={"dns_support": False, "attached_vpcs": vpcs[:50]},
                commands=[hub_options(tgw, "DnsSupport=enable")],
            )
            continue  # the hub's switch is the one to turn on first
        for attachment in attachments:
            if attachment.dns_support is not False:
                continue
            yield attachment_finding(
                found,
                attachment,
                message=(
                    f"The {describe(topo, attachment)} has DNS support off while other VPCs are "
                    f"attached to the hub: public DNS hostnames of instances across the hub "
                    f"resolve to public IPv4 addresses from this VPC, so that traffic leaves "
                    f"through NAT or internet gateways instead of the hub (or fails)."
                ),
                remediation=(
                    f"Turn on DNS support on the attachment (its VPC's owner, account "
                    f"{attachment_owner(attachment)}, modifies it)."
                ),
                evidence={"dns_support": False, "other_vpcs": len(vpcs) - 1},
                commands=[attachment_options(attachment, "DnsSupport=enable")],
            )


@rule("tgw-appliance-mode-off")
def appliance_mode_off(topo: Topology, found: Found) -> Iterator[Finding]:
    for attachment in live_vpc_attachments(topo):
        if attachment.appliance_mode_support is not False:
            continue
        appliances = inspection_targets(topo, attachment)
        if not appliances:
            continue
        yield attachment_finding(
            found,
            attachment,
            message=(
                f"VPC {vpc_label(topo, attachment.resource_id)} inspects traffic (routes to "
                f"{', '.join(appliances[:5])}), but its {describe(topo, attachment)} has appliance "
                f"mode off: the transit gateway may send the two directions of a flow to "
                f"different Availability Zones, so a stateful appliance sees half the flow and "
                f"drops the return traffic."
            ),
            remediation=(
                f"Turn on appliance mode on the attachment (its VPC's owner, account "
                f"{attachment_owner(attachment)}, modifies it)."
            ),
            evidence={"inspection_endpoints": appliances[:20], "appliance_mode_support": False},
            commands=[attachment_options(attachment, "ApplianceModeSupport=enable")],
        )


def inspection_targets(topo: Topology, attachment: TransitGatewayAttachment) -> list[str]:
    """Gateway Load Balancer endpoints (and AWS Network Firewall's, which are service-managed
    GWLB endpoints) that the attachment subnets' tables route to: where traffic from the hub is
    inspected. A VPC inspecting only its own egress elsewhere does not need appliance mode. A
    vpce- target that is not among the VPC owner's endpoints although its account-region was
    read is taken as a firewall endpoint."""
    found_ids: set[str] = set()
    vpc = topo.vpcs.get(attachment.resource_id)
    complete = vpc is not None and (vpc.account_id, vpc.region) in topo.audited
    subnets = [topo.subnets[s] for s in attachment.subnet_ids if s in topo.subnets]
    tables = {t.id: t for s in subnets if (t := topo.table_for_subnet(s)) is not None}
    for table in tables.values():
        for route in table.routes:
            if route.target_type != "vpc-endpoint" or route.state == "blackhole":
                continue
            endpoint = topo.endpoints.get(route.target_id)
            if endpoint is not None:
                if endpoint.endpoint_type.lower() == "gatewayloadbalancer":
                    found_ids.add(endpoint.id)
            elif complete:
                found_ids.add(route.target_id)
    return sorted(found_ids)


@rule("tgw-auto-accept-shared-attachments")
def auto_accept_shared(topo: Topology, found: Found) -> Iterator[Finding]:
    foreign: dict[str, set[str]] = defaultdict(set)
    for attachment in topo.snapshot.transit_gateway_attachments:
        if attachment.resource_owner_id and attachment.resource_owner_id != attachment.account_id:
            foreign[attachment.transit_gateway_id].add(attachment.resource_owner_id)
    for tgw in topo.snapshot.transit_gateways:
        if tgw.auto_accept_shared_attachments is not True:
            continue
        sharing = sorted(set(tgw.shared_with or []) | foreign.get(tgw.id, set()))
        if not sharing:
            continue  # not shared with anyone, as far as the snapshot shows
        yield hub_finding(
            found,
            tgw,
            message=(
                f"Transit gateway {label(tgw.id, tgw.tags)} is shared with other accounts "
                f"({', '.join(sharing[:5])}{'…' if len(sharing) > 5 else ''}) and accepts their "
                f"attachments automatically: any account it is shared with can join a VPC to "
                f"the hub, and with default route table association and propagation on, reach "
                f"the other attached networks, without review."
            ),
            remediation=(
                f"Turn off automatic acceptance on transit gateway {tgw.id}, then accept each "
                f"attachment request you expect."
            ),
            commands=[hub_options(tgw, "AutoAcceptSharedAttachments=disable")],
            evidence={
                "auto_accept_shared_attachments": True,
                "shared_with": sharing[:50],
                "default_route_table_association": tgw.default_route_table_association,
                "default_route_table_propagation": tgw.default_route_table_propagation,
            },
        )


# --- hub route tables ---


@rule("tgw-route-dead-attachment")
def route_dead_attachment(topo: Topology, found: Found) -> Iterator[Finding]:
    attachments = paths(topo).attachments
    for table in topo.snapshot.transit_gateway_route_tables:
        for route in table.routes:
            gone = [
                a
                for a in route.attachment_ids
                if (att := attachments.get(a)) is None or att.state in ATTACHMENT_GONE
            ]
            dead = route.state == "blackhole" and route.attachment_ids
            if not dead and not (gone and len(gone) == len(route.attachment_ids)):
                continue  # a deliberate blackhole has no attachment; a live one carries
            if not dead and any(a not in attachments for a in gone):
                continue  # an active route to an attachment we did not see: not proof
            states = {a: attachments[a].state if a in attachments else "gone" for a in gone}
            yield found(
                account_id=table.account_id,
                region=table.region,
                resource_id=table.id,
                vpc_id=None,
                message=(
                    f"Route {route.destination} in transit gateway route table "
                    f"{label(table.id, table.tags)} points to attachment "
                    f"{', '.join(route.attachment_ids)}, which is gone: the route is a blackhole "
                    f"and the hub drops traffic to {route.destination} from every attachment "
                    f"associated with this table."
                ),
                remediation=(
                    f"Point the route at the attachment that now serves {route.destination}, or "
                    f"remove it: aws ec2 delete-transit-gateway-route --transit-gateway-route-"
                    f"table-id {table.id} {hub_destination_arg(route)} --region {table.region}"
                ),
                evidence={
                    "transit_gateway_route_table": label(table.id, table.tags),
                    "transit_gateway": table.transit_gateway_id,
                    "route": route.destination,
                    "route_type": route.route_type,
                    "state": route.state,
                    "attachments": states or dict.fromkeys(route.attachment_ids, "gone"),
                },
                detail=route.destination,
            )


def hub_destination_arg(route: TransitGatewayRoute) -> str:
    if route.destination_prefix_list_id:
        return f"--destination-prefix-list-id {route.destination_prefix_list_id}"
    return f"--destination-cidr-block {route.destination_cidr}"


# --- paths through the hub ---


def hub_routes(table: RouteTable) -> list[tuple[str, Network]]:
    """The table's live routes to transit gateways, by destination CIDR."""
    return [
        (r.target_id, network(r.destination_cidr or r.destination_ipv6_cidr or ""))
        for r in table.routes
        if r.target_type == "transit-gateway"
        and r.state != "blackhole"
        and (r.destination_cidr or r.destination_ipv6_cidr)
    ]


def entry_table(topo: Topology, table: RouteTable, tgw_id: str) -> TransitGatewayRouteTable | None:
    """The hub route table that routes what this VPC sends to `tgw_id` (the one associated with
    its attachment); None when the attachment or its table is missing or was not read whole."""
    engine = paths(topo)
    attachment = engine.vpc_attachments.get((tgw_id, table.vpc_id))
    if attachment is None or attachment.state not in ATTACHMENT_LIVE:
        return None
    hub_table = engine.association(tgw_id, attachment)
    return hub_table if hub_table is not None and engine.readable(hub_table) else None


class HubVpcs:
    """The address ranges of the VPCs attached to one hub, sorted, to name quickly which of
    them an uncovered range would have reached."""

    def __init__(self, topo: Topology, tgw_id: str) -> None:
        ranges = []
        for attachment in live_vpc_attachments(topo):
            vpc = topo.vpcs.get(attachment.resource_id)
            if attachment.transit_gateway_id != tgw_id or vpc is None:
                continue
            for net in collapse(network(c) for c in vpc.cidr_blocks + vpc.ipv6_cidr_blocks):
                ranges.append((span(net), vpc.id))
        ranges.sort()
        self.spans = [r for r, _ in ranges]
        self.vpc_ids = [v for _, v in ranges]
        self.widest = {
            version: max((b - a for v, a, b in self.spans if v == version), default=0)
            for version in (4, 6)
        }

    def within(self, ranges: list[Network], exclude: str) -> dict[str, list[Network]]:
        found_vpcs: dict[str, list[Network]] = defaultdict(list)
        for net in ranges:
            version, first, last = span(net)
            # VPC ranges starting up to `widest` before this one may still reach into it.
            i = bisect.bisect_left(self.spans, (version, first - self.widest[version], 0))
            while i < len(self.spans) and self.spans[i] < (version, last + 1, 0):
                vpc_range, vpc_id = self.spans[i], self.vpc_ids[i]
                i += 1
                if vpc_range[0] != version or vpc_range[2] < first or vpc_id == exclude:
                    continue
                found_vpcs[vpc_id].extend(intersect([net], [network_of(vpc_range)]))
        return found_vpcs


def network_of(range_: tuple[int, int, int]) -> Network:
    (net,) = _networks([range_], {})
    return net


@rule("tgw-route-missing")
def route_missing(topo: Topology, found: Found) -> Iterator[Finding]:
    engine = paths(topo)
    for table in topo.snapshot.route_tables:
        if not topo.subnets_of_table(table):
            continue
        for tgw_id, destination in hub_routes(table):
            hub_table = entry_table(topo, table, tgw_id)
            if hub_table is None:
                continue  # no attachment, not associated, or not read: other rules, or unknown
            gaps, blackholes = topo.memo(
                ("hub-gaps", hub_table.id, destination),
                partial(hub_gaps, engine, hub_table, destination),
            )
            if not gaps:
                continue
            sent = topo.sends(table, [destination], tgw_id).surely
            uncovered = intersect(gaps, sent)
            if not uncovered:
                continue
            whole = not subtract(sent, uncovered)
            attached = topo.memo(("hub-vpcs", tgw_id), partial(HubVpcs, topo, tgw_id))
            reached = {
                vpc_id: nets
                for vpc_id, nets in attached.within(uncovered, exclude=table.vpc_id).items()
                if routed_back(topo, tgw_id, vpc_id, table.vpc_id)
            }
            if not whole and not reached:
                # The rest of a summary route: no VPC attached to the hub lives there, or only
                # VPCs the hub keeps apart both ways (segmentation by route tables, by design).
                continue
            shown = uncovered if whole else collapse(n for nets in reached.values() for n in nets)
            (path, *_) = engine.follow(table, shown[0])
            yield route_missing_finding(
                found, topo, table, tgw_id, destination, hub_table, shown, reached, blackholes, path
            )


def routed_back(topo: Topology, tgw_id: str, vpc_id: str, source_vpc_id: str) -> bool:
    """Whether the hub routes `vpc_id`'s traffic to the source VPC: the table associated with
    its attachment sends some of the source VPC's range to the source's attachment. Then the
    two are meant to talk, and a missing route the other way is a mistake, not isolation."""
    engine = paths(topo)
    theirs = engine.vpc_attachments.get((tgw_id, vpc_id))
    ours = engine.vpc_attachments.get((tgw_id, source_vpc_id))
    source = topo.vpcs.get(source_vpc_id)
    if theirs is None or ours is None or source is None:
        return False
    back_table = engine.association(tgw_id, theirs)
    if back_table is None:
        return False
    routed = engine.routed(back_table)
    return any(
        route is not None and ours.id in route.attachment_ids
        for cidr in source.cidr_blocks + source.ipv6_cidr_blocks
        for _, _, route in routed.clip(span(network(cidr)))
    )


def hub_gaps(
    engine: Paths, hub_table: TransitGatewayRouteTable, destination: Network
) -> tuple[list[Network], list[str]]:
    """The parts of `destination` the hub table has no route for, and its blackholes there."""
    pieces = engine.hub_lookup(hub_table, destination)
    gaps = [net for net, route in pieces if route is None]
    holes = [text(net) for net, route in pieces if route is not None and route.state == "blackhole"]
    return gaps, holes


def route_missing_finding(
    found: Found,
    topo: Topology,
    table: RouteTable,
    tgw_id: str,
    destination: Network,
    hub_table: TransitGatewayRouteTable,
    shown: list[Network],
    reached: dict[str, list[Network]],
    blackholes: list[str],
    path: Path,
) -> Finding:
    where = (
        f", where {', '.join(vpc_label(topo, v) for v in sorted(reached)[:5])} "
        f"live{'s' if len(reached) == 1 else ''} (the hub routes their traffic to this VPC, so "
        f"they are meant to talk)"
        if reached
        else ""
    )
    return found(
        account_id=table.account_id,
        region=table.region,
        resource_id=table.id,
        vpc_id=table.vpc_id,
        message=(
            f"Route table {label(table.id, table.tags)} in VPC {vpc_label(topo, table.vpc_id)} "
            f"sends {destination} to transit gateway {tgw_id}, but the hub's route table "
            f"{hub_table.id} (associated with this VPC's attachment) has no route for "
            f"{', '.join(map(text, shown[:5]))}{where}: the transit gateway drops that traffic."
        ),
        remediation=(
            f"If this traffic should reach its destination: in account {hub_table.account_id}, "
            f"propagate the destination VPC's attachment into "
            f"{hub_table.id} (aws ec2 enable-transit-gateway-route-table-propagation "
            f"--transit-gateway-route-table-id {hub_table.id} --transit-gateway-attachment-id "
            f"<its attachment> --region {hub_table.region}) or add a static route (aws ec2 "
            f"create-transit-gateway-route --transit-gateway-route-table-id {hub_table.id} "
            f"--destination-cidr-block {shown[0]} --transit-gateway-attachment-id <its "
            f"attachment> --region {hub_table.region}). If the hub keeps these networks apart "
            f"on purpose, narrow the route in {table.id} instead, or drop the traffic with a "
            f"static blackhole route so the intent is explicit."
        ),
        evidence={
            "route": f"{destination} -> {tgw_id}",
            "hub_route_table": hub_table.id,
            "uncovered": [text(n) for n in shown[:20]],
            "vpcs_there": {v: [text(n) for n in nets] for v, nets in sorted(reached.items())},
            "path": path.as_evidence(),
            **(
                {
                    "deliberate_blackholes": blackholes[:10],
                    "note": "static blackhole routes are deliberate blocks: not reported",
                }
                if blackholes
                else {}
            ),
        },
        detail=text(destination),
    )


# --- tgw-missing-return-route ---

# Ends of a way back that never reach the source VPC: dropped, or sent to the internet (a
# reply to a VPC's private address through NAT or an internet gateway goes nowhere).
NO_WAY_BACK = frozenset(
    {NO_ROUTE, HUB_NO_ROUTE, "nat-gateway", "internet-gateway", "egress-only-internet-gateway"}
)
ALL_ADDRESSES = (network("0.0.0.0/0"), network("::/0"))
# Route targets that may carry a reply back some other way (a peering, a VPN, an appliance):
# a reply through them is an asymmetric path, not a missing one.
NOT_BACK_TARGETS = frozenset({"nat-gateway", "internet-gateway", "egress-only-internet-gateway"})


@rule("tgw-missing-return-route")
def missing_return_route(topo: Topology, found: Found) -> Iterator[Finding]:
    """A reaches B through a hub; B's side (B's subnet table, or the hub table associated with
    B's attachment) has no way back to A's subnets.

    Checked per group of source tables that route alike (same hub table, same routes besides
    their own local one): the hub's answer is worked out once per group, B's tables are checked
    against the whole group's sources at once, and only a suspected gap is walked pair by pair
    (which also proves it)."""
    reported: dict[tuple[str, str], Finding] = {}
    for group in source_groups(topo):
        for suspect in suspects(topo, group):
            confirm(found, topo, *suspect, reported)
    yield from reported.values()


@dataclass
class SourceGroup:
    """Tables that send the same destinations to the same hub table, and what they reach."""

    tgw_id: str
    hub_table: TransitGatewayRouteTable
    tables: list[RouteTable]
    targets: dict[str, list[Network]]  # attachment id -> ranges the hub delivers there


def source_groups(topo: Topology) -> list[SourceGroup]:
    engine = paths(topo)
    groups: dict[tuple[str, str, tuple[object, ...]], list[RouteTable]] = defaultdict(list)
    for table in topo.snapshot.route_tables:
        if not topo.subnets_of_table(table):
            continue
        for tgw_id, _ in hub_routes(table):
            hub_table = entry_table(topo, table, tgw_id)
            if hub_table is not None:
                groups[(tgw_id, hub_table.id, routing_signature(topo, table))].append(table)
    result = []
    for (tgw_id, hub_table_id, _), tables in groups.items():
        hub_table = engine.hub_tables[hub_table_id]
        sent = [
            net
            for t, d in hub_routes(tables[0])
            if t == tgw_id
            for net in topo.sends(tables[0], [d], tgw_id).surely
        ]
        # The representative's own VPC is carved out by its local route: add it back, as the
        # group's other tables send it to the hub.
        own = topo.vpcs.get(tables[0].vpc_id)
        if own is not None and len(tables) > 1:
            sent = collapse(sent + [network(c) for c in own.cidr_blocks])
        targets: dict[str, list[Network]] = defaultdict(list)
        for dest in sent:
            for net, route in engine.hub_lookup(hub_table, dest):
                if route is not None and route.state != "blackhole" and route.attachment_ids:
                    targets[route.attachment_ids[0]].append(net)
        result.append(SourceGroup(tgw_id, hub_table, tables, targets))
    return result


def routing_signature(topo: Topology, table: RouteTable) -> tuple[object, ...]:
    """What decides where a table's traffic to other VPCs goes, besides its own local range:
    its hub routes and the other routes that carve into them (more specific and overlapping).
    A broader route (0.0.0.0/0 to the VPC's own NAT gateway beside 10.0.0.0/8 to the hub) does
    not, nor do AWS service prefix-list routes to gateway endpoints (no VPC lives there), so
    tables that differ only there share a group."""
    hub = [d for _, d in hub_routes(table)]
    kept: list[tuple[str, str, str]] = [
        (r.destination, r.target_id, r.state)
        for r in table.routes
        if r.target_type == "transit-gateway"
    ]
    for r in table.routes:
        if r.target_type in ("local", "transit-gateway"):
            continue
        if r.target_type == "vpc-endpoint" and r.destination_prefix_list_id:
            endpoint = topo.endpoints.get(r.target_id)
            if endpoint is not None and endpoint.endpoint_type.lower() == "gateway":
                continue
        carves = any(
            overlaps(n, d) and n.prefixlen > d.prefixlen
            for n in topo.route_networks(r)
            for d in hub
        )
        if carves or (r.destination_prefix_list_id and not topo.route_networks(r)):
            kept.append((r.destination, r.target_id, r.state))
    return tuple(sorted(kept))


class Sources:
    """A group's source ranges, sorted and disjoint, to find those a gap touches by bisection
    instead of subtracting every source from every peer table (quadratic in a full mesh)."""

    def __init__(self, nets: list[Network]) -> None:
        self.nets = nets
        self.spans = [span(n) for n in nets]

    def touching(self, gap: Network) -> list[Network]:
        version, first, last = span(gap)
        i = max(bisect.bisect_right(self.spans, (version, first, first)) - 1, 0)
        hits = []
        while i < len(self.spans) and self.spans[i] < (version, last + 1, 0):
            if self.spans[i][0] == version and self.spans[i][2] >= first:
                hits += intersect([self.nets[i]], [gap])
            i += 1
        return hits


def group_sources(topo: Topology, group: SourceGroup) -> list[Network]:
    return collapse(
        n for t in group.tables for s in topo.subnets_of_table(t) for n in topo.subnet_networks(s)
    )


def suspects(
    topo: Topology, group: SourceGroup
) -> Iterator[tuple[SourceGroup, RouteTable, RouteTable, Network]]:
    """(group, source table, peer table, source range) where the way back may be missing."""
    engine = paths(topo)
    sources = Sources(group_sources(topo, group))
    by_hub_table: dict[str, list[TransitGatewayAttachment]] = defaultdict(list)
    for attachment_id in group.targets:
        attachment = engine.attachments.get(attachment_id)
        if (
            attachment is None
            or attachment.resource_type != "vpc"
            or attachment.state not in ATTACHMENT_LIVE
        ):
            continue  # peered hubs, VPNs, gone attachments: not followed here
        back_table = engine.association(group.tgw_id, attachment)
        if back_table is None or not engine.readable(back_table):
            continue
        by_hub_table[back_table.id].append(attachment)
        # B's side: its tables must send the group's sources somewhere that may lead back.
        for peer_table in topo.tables_by_vpc.get(attachment.resource_id, []):
            if not topo.subnets_of_table(peer_table):
                continue
            for gap in no_way_back(topo, peer_table, sources):
                table = source_table(topo, group, gap)
                if table is not None and table.vpc_id != peer_table.vpc_id:
                    yield group, table, peer_table, gap
    # The hub's side: the table associated with B's attachment must route each source back to
    # the source's own attachment.
    own_sources = (
        {
            table.id: collapse(
                n for s in topo.subnets_of_table(table) for n in topo.subnet_networks(s)
            )
            for table in group.tables
        }
        if by_hub_table
        else {}
    )
    for back_table_id, peers in by_hub_table.items():
        back_table = engine.hub_tables[back_table_id]
        for table in group.tables:
            own = engine.vpc_attachments.get((group.tgw_id, table.vpc_id))
            if own is None:
                continue
            for source in own_sources[table.id]:
                if returns_to(topo, back_table, source, own.id):
                    continue
                answering = next(
                    (
                        t
                        for peer in peers
                        if peer.resource_id != table.vpc_id
                        for t in replies_via_hub(topo, peer.resource_id, source, group.tgw_id)
                    ),
                    None,
                )
                if answering is not None:
                    yield group, table, answering, source


def no_way_back(topo: Topology, table: RouteTable, sources: Sources) -> list[Network]:
    """The parts of `sources` this table drops or sends to the internet: its few gaps (the
    address space no route that may lead back covers), worked out once per table."""

    def build() -> list[Network]:
        maybe_back = [
            n
            for r in table.routes
            if r.state != "blackhole" and r.target_type not in NOT_BACK_TARGETS
            for n in topo.route_networks(r)
        ]
        # A default route that may lead back covers its whole IP version: the common case.
        defaults = {n.version for n in maybe_back if n.prefixlen == 0}
        everything = [net for net in ALL_ADDRESSES if net.version not in defaults]
        cuts = [n for n in maybe_back if n.version not in defaults]
        return subtract(everything, cuts) if cuts else everything

    gaps = topo.memo(("no-way-back", table.id), build)
    return [hit for gap in gaps for hit in sources.touching(gap)]


def returns_to(
    topo: Topology, back_table: TransitGatewayRouteTable, source: Network, attachment_id: str
) -> bool:
    def check() -> bool:
        pieces = paths(topo).routed(back_table).clip(span(source))
        return all(r is not None and attachment_id in r.attachment_ids for _, _, r in pieces)

    return topo.memo(("returns-to", back_table.id, source, attachment_id), check)


def source_table(topo: Topology, group: SourceGroup, gap: Network) -> RouteTable | None:
    for table in group.tables:
        for subnet in topo.subnets_of_table(table):
            if intersect(topo.subnet_networks(subnet), [gap]):
                return table
    return None


def replies_via_hub(
    topo: Topology, vpc_id: str, source: Network, tgw_id: str
) -> Iterator[RouteTable]:
    """The VPC's tables (serving subnets) that send replies to `source` to the hub: where the
    hub's own way back is what decides."""
    for table in topo.tables_by_vpc.get(vpc_id, []):
        if topo.subnets_of_table(table) and any(
            hop.route is not None and hop.route.target_id == tgw_id
            for hop in topo.lookup(table, source)
        ):
            yield table


def confirm(
    found: Found,
    topo: Topology,
    group: SourceGroup,
    table: RouteTable,
    peer_table: RouteTable,
    source: Network,
    reported: dict[tuple[str, str], Finding],
) -> None:
    """Walk the suspected pair both ways: A must reach B's subnets through the hub, and the
    way back from B's table to `source` must end without reaching A."""
    engine = paths(topo)
    # Replies go back in the version the traffic came in: IPv4 to IPv4, IPv6 to IPv6.
    peer_nets = collapse(
        n
        for s in topo.subnets_of_table(peer_table)
        for n in topo.subnet_networks(s)
        if n.version == source.version
    )
    forward = next(
        (
            p
            for net in peer_nets
            for p in engine.follow(table, net)
            if p.end == DELIVERED and p.end_id == peer_table.vpc_id and p.crosses_hub
        ),
        None,
    )
    if forward is None:
        return
    back = engine.follow(peer_table, source)
    broken = [p for p in back if p.end in NO_WAY_BACK]
    if not broken:
        return
    last = broken[0].steps[-1] if broken[0].steps else None
    where = last.table_id if last else peer_table.id
    key = (where, table.vpc_id)
    commands = return_commands(topo, table, broken, forward)
    if key in reported:
        # One finding per place and source VPC; its commands cover every range found missing.
        known = reported[key].remediation_commands
        known += [c for c in commands if c not in known]
        return
    missing = collapse(p.destination for p in broken)
    how = (
        "has no route"
        if broken[0].end in (NO_ROUTE, HUB_NO_ROUTE)
        else f"leads to {broken[0].end} {broken[0].end_id}, which cannot deliver it"
    )
    reported[key] = found(
        account_id=last.account_id if last else peer_table.account_id,
        region=last.region if last else peer_table.region,
        resource_id=where,
        vpc_id=peer_table.vpc_id,
        message=(
            f"VPC {vpc_label(topo, table.vpc_id)} reaches {vpc_label(topo, peer_table.vpc_id)} "
            f"through transit gateway {', '.join(forward.transit_gateways)}, but the way back to "
            f"{', '.join(map(text, missing[:5]))} {how} at {where}: replies are dropped, so "
            f"connections time out although the forward route looks right."
        ),
        remediation=return_fix(broken[0], peer_table, missing, forward),
        commands=commands,
        evidence={
            "forward": forward.as_evidence(),
            "return": [p.as_evidence() for p in broken[:5]],
            "source_table": table.id,
        },
        detail=table.vpc_id,
    )


def return_fix(broken: Path, peer_table: RouteTable, missing: list[Network], forward: Path) -> str:
    last = broken.steps[-1] if broken.steps else None
    ranges = ", ".join(map(text, missing[:5]))
    if last is not None and last.hub:
        return (
            f"In account {last.account_id}: add a route for {ranges} to the attachment of the "
            f"source VPC in {last.table_id} (aws ec2 create-transit-gateway-route), or enable "
            f"propagation of that attachment into the table."
        )
    tgw = forward.transit_gateways[-1] if forward.transit_gateways else "the transit gateway"
    table_id = last.table_id if last else peer_table.id
    account = last.account_id if last else peer_table.account_id
    return f"In account {account}: add a route for {ranges} to {tgw} in {table_id}."


def return_commands(
    topo: Topology, source: RouteTable, broken: list[Path], forward: Path
) -> list[str]:
    """The routes back, where they are exact: every broken way ends at the same table, and the
    one route needed there leads to the source (a hub table: a static route to the source
    VPC's attachment; a VPC table: a route to the hub the traffic came by, whose table
    associated with this VPC's attachment routes the ranges to the source's attachment)."""
    ends = {(p.steps[-1] if p.steps else None, p.end) for p in broken}
    if len(ends) != 1:
        return []
    ((last, end),) = ends
    if last is None:
        return []
    engine = paths(topo)
    missing = collapse(p.destination for p in broken)
    if last.hub:
        own = engine.vpc_attachments.get((last.hub, source.vpc_id))
        if end != HUB_NO_ROUTE or own is None or own.state not in ATTACHMENT_LIVE:
            return []
        return [
            ec2(
                last.account_id,
                last.region,
                "create-transit-gateway-route",
                *("--transit-gateway-route-table-id", last.table_id),
                *("--destination-cidr-block", text(net), "--transit-gateway-attachment-id", own.id),
            )
            for net in missing
        ]
    table = topo.route_tables.get(last.table_id)
    if table is None or not forward.transit_gateways:
        return []
    tgw = forward.transit_gateways[-1]
    theirs = engine.vpc_attachments.get((tgw, table.vpc_id))
    own = engine.vpc_attachments.get((tgw, source.vpc_id))
    back = engine.association(tgw, theirs) if theirs else None
    if own is None or back is None or not engine.readable(back):
        return []
    if not all(returns_to(topo, back, net, own.id) for net in missing):
        return []
    return create_route_commands(topo, table, missing, ("--transit-gateway-id", tgw))


@rule("tgw-hub-not-audited")
def hub_not_audited(topo: Topology, found: Found) -> Iterator[Finding]:
    """Say where paths could not be followed: a VPC routes to a transit gateway whose route
    tables this audit did not read (its owner is outside the audit, or its read failed)."""
    engine = paths(topo)
    seen: set[tuple[str, str]] = set()
    for table in topo.snapshot.route_tables:
        if not topo.subnets_of_table(table):
            continue
        for tgw_id, _ in hub_routes(table):
            key = (table.vpc_id, tgw_id)
            if key in seen or engine.hub_readable(tgw_id):
                continue
            seen.add(key)
            tgw = topo.transit_gateways.get(tgw_id)
            owner = tgw.account_id if tgw else "unknown"
            attachment = engine.vpc_attachments.get((tgw_id, table.vpc_id))
            yield found(
                account_id=table.account_id,
                region=table.region,
                resource_id=attachment.id if attachment else tgw_id,
                vpc_id=table.vpc_id,
                message=(
                    f"VPC {vpc_label(topo, table.vpc_id)} routes traffic to transit gateway "
                    f"{tgw_id} (owner {owner}), whose route tables this audit did not read: where "
                    f"that traffic goes beyond the hub (S3 through another VPC's NAT gateway, "
                    f"missing hub routes, routes back) is unknown, and vpc-audit does not guess."
                ),
                remediation=(
                    f"Add the transit gateway's owner account {owner} to the audit (--account or "
                    f"--org) with the read-only role, or suppress this finding if that account "
                    f"is audited separately."
                ),
                evidence={"transit_gateway": tgw_id, "owner": owner, "route_table": table.id},
            )
