"""Routes whose targets are gone or unusable."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model import Finding, Route, RouteTable
from auditor.net import Network, Topology, networks, overlaps, text
from auditor.rules.base import Found, label, rule, vpc_label
from auditor.rules.commands import cidr_option, ec2
from auditor.states import ENDPOINT_LIVE, NAT_LIVE, PEERING_ACTIVE, TGW_LIVE

# Target kinds the snapshot holds, by how a message names them.
NAMES = {
    "nat-gateway": "NAT gateway",
    "vpc-endpoint": "VPC endpoint",
    "transit-gateway": "transit gateway",
    "internet-gateway": "internet gateway",
    "network-interface": "network interface",
    "instance": "instance",
    "vpc-peering-connection": "peering",
}
PROPAGATED = "EnableVgwRoutePropagation"


def delete_route_command(table: RouteTable, route: Route) -> str:
    """The command that removes exactly this route (its destination field names it)."""
    if route.destination_prefix_list_id:
        where = ("--destination-prefix-list-id", route.destination_prefix_list_id)
    elif route.destination_ipv6_cidr:
        where = ("--destination-ipv6-cidr-block", route.destination_ipv6_cidr)
    else:
        where = ("--destination-cidr-block", route.destination_cidr or "")
    return ec2(table.account_id, table.region, "delete-route", "--route-table-id", table.id, *where)


def create_route_commands(
    topo: Topology, table: RouteTable, nets: list[Network], target: tuple[str, str]
) -> list[str]:
    """`create-route` for each of `nets` to `target` (its option and id), all or none: none when
    the table already has a route for one of those very ranges (create-route would fail;
    replacing it is the user's call) or one lies in the table's own VPC (the local route), so
    that a finding never carries half a fix."""
    vpc = topo.vpcs.get(table.vpc_id)
    if vpc is None or not nets:
        return []
    taken = {r.destination for r in table.routes}
    own = networks(vpc.cidr_blocks + vpc.ipv6_cidr_blocks)
    if any(text(net) in taken or any(overlaps(net, n) for n in own) for net in nets):
        return []
    return [
        ec2(
            table.account_id,
            table.region,
            "create-route",
            *("--route-table-id", table.id, cidr_option(net), text(net), *target),
        )
        for net in nets
    ]


def absence_is_proof(topo: Topology, table: RouteTable) -> bool:
    """Whether a target id missing from the snapshot is really gone, not just unseen.

    The VPC owner (who owns the table) owns its gateways, endpoints and peerings and sees every
    ENI in its subnets; accounts with ENIs in RAM-shared subnets must have been audited too.
    """
    owners = {table.account_id} | topo.interface_owners.get(table.vpc_id, set())
    return all((account, table.region) in topo.audited for account in owners)


def target_state(
    topo: Topology, table: RouteTable, kind: str, target: str
) -> tuple[bool, str] | None:
    """(usable, state) of a route target the snapshot holds; None when it holds no such id."""
    if kind == "nat-gateway" and (nat := topo.nat_gateways.get(target)):
        return nat.state in NAT_LIVE, nat.state
    if kind == "vpc-endpoint" and (endpoint := topo.endpoints.get(target)):
        return endpoint.state.lower() in ENDPOINT_LIVE, endpoint.state
    if kind == "transit-gateway" and (tgw := topo.transit_gateways.get(target)):
        return tgw.state in TGW_LIVE, tgw.state
    if kind == "internet-gateway" and (igw := topo.internet_gateways.get(target)):
        if table.vpc_id in igw.vpc_ids:
            return True, "attached"
        elsewhere = f"attached to {', '.join(igw.vpc_ids)}" if igw.vpc_ids else "detached"
        return False, f"{elsewhere}, not attached to {table.vpc_id}"
    if kind == "network-interface" and (eni := topo.network_interfaces.get(target)):
        if eni.status == "available":
            return False, "not attached to anything (status available)"
        return True, eni.status
    if kind == "instance" and target in topo.instance_interfaces:
        return True, "has network interfaces"
    if kind == "vpc-peering-connection" and (peering := topo.peerings.get(target)):
        return peering.status == PEERING_ACTIVE, peering.status
    return None


def dead_reason(topo: Topology, table: RouteTable, route: Route) -> tuple[str, str] | None:
    """(why the route's target cannot carry traffic, the target's state), or None when it can
    or we cannot tell. The route's own state is not trusted alone: a route to a deleted NAT
    gateway may still read `active`."""
    kind, target = route.target_type, route.target_id
    if kind == "local":
        return None
    peering = topo.peerings.get(target)
    if kind == "vpc-peering-connection" and peering and peering.status != "active":
        return None  # peering-pending-acceptance and peering-inactive-lingering report these
    seen = target_state(topo, table, kind, target) if kind in NAMES else None
    if route.state == "blackhole":
        return "the route is a blackhole (its target is gone or unusable)", (
            seen[1] if seen else "unknown"
        )
    if seen:
        usable, state = seen
        return None if usable else (f"{NAMES[kind]} {target} is {state}", state)
    if kind not in NAMES or kind == "transit-gateway":
        # Kinds the snapshot does not collect prove nothing by absence; nor does a transit
        # gateway, whose owner (often another account, through RAM) the route does not name.
        # Its VPC attachment would (DescribeTransitGatewayVpcAttachments): not collected.
        return None
    if not absence_is_proof(topo, table):
        return None
    return f"{NAMES[kind]} {target} no longer exists", "absent"


@rule("route-dead-target")
def dead_target(topo: Topology, found: Found) -> Iterator[Finding]:
    for table in topo.snapshot.route_tables:
        for route in table.routes:
            verdict = dead_reason(topo, table, route)
            if verdict is None:
                continue
            reason, state = verdict
            subnets = topo.subnets_of_table(table)
            if subnets:
                names = [label(s.id, s.tags) for s in subnets]
                impact = (
                    f"traffic from {len(subnets)} subnet(s) ({', '.join(names[:5])}"
                    f"{'…' if len(names) > 5 else ''}) to {route.destination} is dropped"
                )
            else:
                impact = "the table serves no subnet today, but any subnet associated with it loses that path"
            if route.origin == PROPAGATED:
                fix = (
                    f"This route is propagated by {route.target_id}: fix its VPN or Direct Connect "
                    f"side, or stop propagation: aws ec2 disable-vgw-route-propagation "
                    f"--route-table-id {table.id} --gateway-id {route.target_id} --region {table.region}"
                )
            else:
                # Which target is right, or whether to delete the route, is the user's call:
                # no command.
                fix = (
                    f"Point the route {route.destination} in {table.id} at a working target "
                    f"(aws ec2 replace-route with the same destination), or remove it (aws ec2 "
                    f"delete-route)."
                )
            yield found(
                account_id=table.account_id,
                region=table.region,
                resource_id=table.id,
                vpc_id=table.vpc_id,
                detail=route.destination,
                message=(
                    f"Route table {label(table.id, table.tags)} in VPC "
                    f"{vpc_label(topo, table.vpc_id)} sends {route.destination} to "
                    f"{route.target_id}, but {reason}: {impact}."
                ),
                remediation=fix,
                evidence={
                    "route_table": label(table.id, table.tags),
                    "destination": route.destination,
                    "target": route.target_id,
                    "target_type": route.target_type,
                    "route_state": route.state,
                    "target_state": state,
                    "subnets": [label(s.id, s.tags) for s in subnets],
                },
            )
