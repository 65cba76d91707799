"""Transit gateways: attachments, hub route tables and the paths through them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import partial

from auditor.model import (
    Finding,
    RouteTable,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from auditor.net import Network, Topology, collapse, intersect, network, subtract
from auditor.paths import BLACKHOLE, DELIVERED, HUB_NO_ROUTE, NO_ROUTE, Path, paths
from auditor.rules.base import found, label, rule, vpc_label

PENDING = "pendingAcceptance"
GONE = frozenset({"deleted", "deleting", "failed", "rejected"})
LIVE = frozenset({"available", "modifying"})


def attachment_finding(
    rule_id: str,
    attachment: TransitGatewayAttachment,
    message: str,
    remediation: str,
    evidence: dict[str, object],
    detail: str = "",
) -> Finding:
    return found(
        rule_id,
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
        if a.resource_type == "vpc" and a.state in LIVE
    ]


# --- attachments ---


@rule("tgw-attachment-pending-acceptance")
def attachment_pending_acceptance(topo: Topology) -> Iterator[Finding]:
    for attachment in topo.snapshot.transit_gateway_attachments:
        if attachment.state != PENDING:
            continue
        if attachment.resource_type == "peering":
            account = attachment.peer_account_id or "the peer transit gateway's owner"
            region = attachment.peer_region or attachment.region
            command = "accept-transit-gateway-peering-attachment"
            who = f"the owner of the peer transit gateway {attachment.peer_transit_gateway_id}"
        else:
            account, region = attachment.account_id, attachment.region
            command = "accept-transit-gateway-vpc-attachment"
            who = "the transit gateway's owner"
        yield attachment_finding(
            "tgw-attachment-pending-acceptance",
            attachment,
            message=(
                f"The {describe(topo, attachment)} is waiting for acceptance: no traffic flows "
                f"through it until {who} (account {account}) accepts it in {region}. A request "
                f"not accepted within 7 days expires."
            ),
            remediation=(
                f"In account {account}: aws ec2 {command} --transit-gateway-attachment-id "
                f"{attachment.id} --region {region}; or reject it if it is not wanted."
            ),
            evidence={"must_accept": {"account_id": account, "region": region}},
        )


@rule("tgw-attachment-az-missing")
def attachment_az_missing(topo: Topology) -> Iterator[Finding]:
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
            "tgw-attachment-az-missing",
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
def dns_support_off(topo: Topology) -> Iterator[Finding]:
    by_hub: dict[str, list[TransitGatewayAttachment]] = defaultdict(list)
    for attachment in live_vpc_attachments(topo):
        by_hub[attachment.transit_gateway_id].append(attachment)
    for tgw_id, attachments in sorted(by_hub.items()):
        if len({a.resource_id for a in attachments}) < 2:
            continue  # one VPC: nobody resolves its names through the hub
        tgw = topo.transit_gateways.get(tgw_id)
        vpcs = sorted({a.resource_id for a in attachments})
        if tgw is not None and tgw.dns_support is False:
            yield found(
                "tgw-dns-support-off",
                account_id=tgw.account_id,
                region=tgw.region,
                resource_id=tgw.id,
                vpc_id=None,
                message=(
                    f"Transit gateway {label(tgw.id, tgw.tags)} has DNS support off while "
                    f"{len(vpcs)} VPCs are attached to it: instances in one VPC resolve the "
                    f"public DNS hostnames of the others to public IPv4 addresses, so that "
                    f"traffic leaves through NAT or internet gateways instead of the hub (or "
                    f"fails)."
                ),
                remediation=(
                    f"In account {tgw.account_id}: aws ec2 modify-transit-gateway "
                    f"--transit-gateway-id {tgw.id} --options DnsSupport=enable "
                    f"--region {tgw.region}"
                ),
                evidence={"dns_support": False, "attached_vpcs": vpcs[:50]},
            )
            continue  # the hub's switch is the one to turn on first
        for attachment in attachments:
            if attachment.dns_support is not False:
                continue
            yield attachment_finding(
                "tgw-dns-support-off",
                attachment,
                message=(
                    f"The {describe(topo, attachment)} has DNS support off while other VPCs are "
                    f"attached to the hub: public DNS hostnames of instances across the hub "
                    f"resolve to public IPv4 addresses from this VPC, so that traffic leaves "
                    f"through NAT or internet gateways instead of the hub (or fails)."
                ),
                remediation=(
                    f"In account {attachment.resource_owner_id or attachment.account_id}: aws ec2 "
                    f"modify-transit-gateway-vpc-attachment --transit-gateway-attachment-id "
                    f"{attachment.id} --options DnsSupport=enable --region {attachment.region}"
                ),
                evidence={"dns_support": False, "other_vpcs": len(vpcs) - 1},
            )


@rule("tgw-appliance-mode-off")
def appliance_mode_off(topo: Topology) -> Iterator[Finding]:
    for attachment in live_vpc_attachments(topo):
        if attachment.appliance_mode_support is not False:
            continue
        appliances = inspection_targets(topo, attachment.resource_id)
        if not appliances:
            continue
        yield attachment_finding(
            "tgw-appliance-mode-off",
            attachment,
            message=(
                f"VPC {vpc_label(topo, attachment.resource_id)} inspects traffic (routes to "
                f"{', '.join(appliances[:5])}), but its {describe(topo, attachment)} has appliance "
                f"mode off: the transit gateway may send the two directions of a flow to "
                f"different Availability Zones, so a stateful appliance sees half the flow and "
                f"drops the return traffic."
            ),
            remediation=(
                f"aws ec2 modify-transit-gateway-vpc-attachment --transit-gateway-attachment-id "
                f"{attachment.id} --options ApplianceModeSupport=enable --region "
                f"{attachment.region}"
            ),
            evidence={"inspection_endpoints": appliances[:20], "appliance_mode_support": False},
        )


def inspection_targets(topo: Topology, vpc_id: str) -> list[str]:
    """Gateway Load Balancer endpoints (and AWS Network Firewall's, which are service-managed
    GWLB endpoints) that the VPC's tables route to. A vpce- target that is not among the VPC
    owner's endpoints although its account-region was read is taken as a firewall endpoint."""
    found_ids: set[str] = set()
    vpc = topo.vpcs.get(vpc_id)
    complete = vpc is not None and (vpc.account_id, vpc.region) in topo.audited
    for table in topo.tables_by_vpc.get(vpc_id, []):
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
def auto_accept_shared(topo: Topology) -> Iterator[Finding]:
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
        yield found(
            "tgw-auto-accept-shared-attachments",
            account_id=tgw.account_id,
            region=tgw.region,
            resource_id=tgw.id,
            vpc_id=None,
            message=(
                f"Transit gateway {label(tgw.id, tgw.tags)} is shared with other accounts "
                f"({', '.join(sharing[:5])}{'…' if len(sharing) > 5 else ''}) and accepts their "
                f"attachments automatically: any account it is shared with can join a VPC to "
                f"the hub, and with default route table association and propagation on, reach "
                f"the other attached networks, without review."
            ),
            remediation=(
                f"In account {tgw.account_id}: aws ec2 modify-transit-gateway "
                f"--transit-gateway-id {tgw.id} --options AutoAcceptSharedAttachments=disable "
                f"--region {tgw.region}, then accept each attachment request you expect."
            ),
            evidence={
                "auto_accept_shared_attachments": True,
                "shared_with": sharing[:50],
                "default_route_table_association": tgw.default_route_table_association,
                "default_route_table_propagation": tgw.default_route_table_propagation,
            },
        )


# --- hub route tables ---


def hub_table_finding(
    rule_id: str,
    table: TransitGatewayRouteTable,
    message: str,
    remediation: str,
    evidence: dict[str, object],
    detail: str = "",
) -> Finding:
    return found(
        rule_id,
        account_id=table.account_id,
        region=table.region,
        resource_id=table.id,
        vpc_id=None,
        message=message,
        remediation=remediation,
        evidence={
            "transit_gateway_route_table": label(table.id, table.tags),
            "transit_gateway": table.transit_gateway_id,
            **evidence,
        },
        detail=detail,
    )


@rule("tgw-route-dead-attachment")
def route_dead_attachment(topo: Topology) -> Iterator[Finding]:
    attachments = {a.id: a for a in topo.snapshot.transit_gateway_attachments}
    for table in topo.snapshot.transit_gateway_route_tables:
        for route in table.routes:
            gone = [
                a
                for a in route.attachment_ids
                if (att := attachments.get(a)) is None or att.state in GONE
            ]
            dead = route.state == "blackhole" and route.attachment_ids
            if not dead and not (gone and len(gone) == len(route.attachment_ids)):
                continue  # a deliberate blackhole has no attachment; a live one carries
            if not dead and any(a not in attachments for a in gone):
                continue  # an active route to an attachment we did not see: not proof
            states = {a: attachments[a].state if a in attachments else "gone" for a in gone}
            yield hub_table_finding(
                "tgw-route-dead-attachment",
                table,
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


class VpcIndex:
    """Known VPCs' address ranges, to name what an uncovered range would have reached."""

    def __init__(self, topo: Topology) -> None:
        self.spans = sorted(
            (net, vpc.id)
            for vpc in topo.snapshot.vpcs
            for net in collapse(network(c) for c in vpc.cidr_blocks + vpc.ipv6_cidr_blocks)
        )

    def within(self, ranges: list[Network], exclude: str) -> dict[str, list[Network]]:
        found_vpcs: dict[str, list[Network]] = defaultdict(list)
        for net, vpc_id in self.spans:
            if vpc_id == exclude:
                continue
            overlap = intersect([net], ranges)
            if overlap:
                found_vpcs[vpc_id].extend(overlap)
        return found_vpcs


@rule("tgw-route-missing")
def route_missing(topo: Topology) -> Iterator[Finding]:
    engine = paths(topo)
    known = topo.memo("vpc-index", lambda: VpcIndex(topo))
    for table in topo.snapshot.route_tables:
        if not topo.subnets_of_table(table):
            continue
        for tgw_id, destination in hub_routes(table):
            sent = topo.resolve_to(table, [destination], tgw_id)
            ends = [p for d in sent for p in engine.follow(table, d) if len(p.steps) >= 2]
            dropped = [p for p in ends if p.end == HUB_NO_ROUTE and p.steps[1].hub == tgw_id]
            if not dropped:
                continue
            uncovered = collapse(p.destination for p in dropped)
            whole = not subtract(sent, uncovered)
            reached = known.within(uncovered, exclude=table.vpc_id)
            if not whole and not reached:
                continue  # the rest of a summary route: no known VPC lives there
            hub_table = engine.hub_tables[dropped[0].end_id]
            blackholes = [
                p.destination for p in ends if p.end == BLACKHOLE and p.steps[1].hub == tgw_id
            ]
            shown = uncovered if whole else collapse(n for nets in reached.values() for n in nets)
            yield found(
                "tgw-route-missing",
                account_id=table.account_id,
                region=table.region,
                resource_id=table.id,
                vpc_id=table.vpc_id,
                message=(
                    f"Route table {label(table.id, table.tags)} in VPC "
                    f"{vpc_label(topo, table.vpc_id)} sends {destination} to transit gateway "
                    f"{tgw_id}, but the hub's route table {hub_table.id} (associated with this "
                    f"VPC's attachment) has no route for {', '.join(map(str, shown[:5]))}"
                    + (
                        f", where {', '.join(vpc_label(topo, v) for v in sorted(reached)[:5])} "
                        f"live{'s' if len(reached) == 1 else ''}"
                        if reached
                        else ""
                    )
                    + ": the transit gateway drops that traffic."
                ),
                remediation=(
                    f"In account {hub_table.account_id}: propagate the destination VPC's "
                    f"attachment into {hub_table.id} (aws ec2 enable-transit-gateway-route-table-"
                    f"propagation --transit-gateway-route-table-id {hub_table.id} "
                    f"--transit-gateway-attachment-id <its attachment> --region "
                    f"{hub_table.region}) or add a static route (aws ec2 create-transit-gateway-"
                    f"route --transit-gateway-route-table-id {hub_table.id} "
                    f"--destination-cidr-block {shown[0]} --transit-gateway-attachment-id "
                    f"<its attachment> --region {hub_table.region})."
                ),
                evidence={
                    "route": f"{destination} -> {tgw_id}",
                    "hub_route_table": hub_table.id,
                    "uncovered": [str(n) for n in shown[:20]],
                    "vpcs_there": {
                        v: [str(n) for n in nets] for v, nets in sorted(reached.items())
                    },
                    "path": dropped[0].as_evidence(),
                    **(
                        {
                            "deliberate_blackholes": [str(n) for n in blackholes[:10]],
                            "note": "static blackhole routes are deliberate blocks: not reported",
                        }
                        if blackholes
                        else {}
                    ),
                },
                detail=str(destination),
            )


@rule("tgw-missing-return-route")
def missing_return_route(topo: Topology) -> Iterator[Finding]:
    """A reaches B through a hub; B's side (its subnet tables, or the hub table associated with
    B's attachment) has no live path back to A's subnets."""
    engine = paths(topo)
    reported: set[tuple[str, str]] = set()
    for table in topo.snapshot.route_tables:
        sources = topo.subnets_of_table(table)
        if not sources:
            continue
        source_nets = collapse(n for s in sources for n in topo.subnet_networks(s))
        for _, destination in hub_routes(table):
            for forward in engine.follow(table, destination):
                if forward.end != DELIVERED or not forward.crosses_hub:
                    continue
                if forward.end_id == table.vpc_id:
                    continue
                yield from return_check(topo, table, source_nets, forward, reported)


def return_check(
    topo: Topology,
    table: RouteTable,
    source_nets: list[Network],
    forward: Path,
    reported: set[tuple[str, str]],
) -> Iterator[Finding]:
    engine = paths(topo)
    peer_vpc = forward.end_id
    for peer_table in topo.tables_by_vpc.get(peer_vpc, []):
        served = [
            s
            for s in topo.subnets_of_table(peer_table)
            if intersect(topo.subnet_networks(s), [forward.destination])
        ]
        if not served:
            continue
        for back_to in source_nets:
            back = topo.memo(
                ("tgw-return", peer_table.id, back_to),
                partial(engine.follow, peer_table, back_to, served[0].availability_zone),
            )
            # Dropped for want of a route. Another live way back (a peering, a VPN) is an
            # asymmetric path, not a broken one; a blackhole is deliberate or route-dead-target's;
            # a boundary is unknown.
            broken = [p for p in back if p.end in (NO_ROUTE, HUB_NO_ROUTE)]
            if not broken:
                continue
            where = broken[0].steps[-1].table_id if broken[0].steps else peer_table.id
            key = (where, str(back_to))
            if key in reported:
                continue
            reported.add(key)
            missing = collapse(p.destination for p in broken)
            yield found(
                "tgw-missing-return-route",
                account_id=peer_table.account_id,
                region=peer_table.region,
                resource_id=where,
                vpc_id=peer_vpc,
                message=(
                    f"VPC {vpc_label(topo, table.vpc_id)} reaches {vpc_label(topo, peer_vpc)} "
                    f"through transit gateway {', '.join(forward.transit_gateways)}, but the "
                    f"way back to {', '.join(map(str, missing[:5]))} has no route at {where}: "
                    f"replies are dropped, so connections time out although the forward route "
                    f"looks right."
                ),
                remediation=return_fix(topo, broken[0], peer_table, missing, forward),
                evidence={
                    "forward": forward.as_evidence(),
                    "return": [p.as_evidence() for p in broken[:5]],
                    "source_table": table.id,
                },
                detail=str(back_to),
            )


def return_fix(
    topo: Topology, broken: Path, peer_table: RouteTable, missing: list[Network], forward: Path
) -> str:
    last = broken.steps[-1] if broken.steps else None
    cidr = missing[0]
    if last is not None and last.hub:
        return (
            f"In account {last.account_id}: add a route for {cidr} to the attachment of the "
            f"source VPC in {last.table_id}: aws ec2 create-transit-gateway-route "
            f"--transit-gateway-route-table-id {last.table_id} --destination-cidr-block {cidr} "
            f"--transit-gateway-attachment-id <the source VPC's attachment> --region {last.region} "
            f"(or enable propagation of that attachment into the table)."
        )
    tgw = forward.transit_gateways[-1] if forward.transit_gateways else "<transit gateway>"
    table_id = last.table_id if last else peer_table.id
    return (
        f"In account {peer_table.account_id}: aws ec2 create-route --route-table-id {table_id} "
        f"--destination-cidr-block {cidr} --transit-gateway-id {tgw} --region {peer_table.region}"
    )
