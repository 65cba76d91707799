"""Traffic to AWS services that leaves through a NAT gateway instead of a gateway endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model import Finding, Route
from auditor.net import Topology, network, networks
from auditor.rules.base import endpoint_live, found, label, routes_evidence, rule, vpc_label

# Used when the region's service prefix list was not collected: S3 and DynamoDB addresses are
# public, so the route for "the internet" is the route they take.
ANYWHERE = "0.0.0.0/0"


@rule("s3-egress-via-nat")
def s3_egress_via_nat(topo: Topology) -> Iterator[Finding]:
    yield from service_egress_via_nat(topo, "s3-egress-via-nat", "s3", "S3")


@rule("dynamodb-egress-via-nat")
def dynamodb_egress_via_nat(topo: Topology) -> Iterator[Finding]:
    yield from service_egress_via_nat(topo, "dynamodb-egress-via-nat", "dynamodb", "DynamoDB")


def carries(topo: Topology, route: Route) -> bool:
    """A NAT route that really passes traffic (and bills it): dead ones are route-dead-target's."""
    nat = topo.nat_gateways.get(route.target_id)
    return route.state != "blackhole" and nat is not None and nat.state == "available"


def service_egress_via_nat(
    topo: Topology, rule_id: str, service: str, display: str
) -> Iterator[Finding]:
    """Tables serving subnets whose route for the service's addresses ends at a NAT gateway."""
    for table in topo.snapshot.route_tables:
        subnets = topo.subnets_of_table(table)
        if not subnets or not any(r.target_type == "nat-gateway" for r in table.routes):
            continue  # no NAT route, no NAT hop: spares the lookups (a third of tables at scale)
        plist = topo.service_prefix_list(table.region, service)
        destinations = networks(plist.cidrs) if plist and plist.cidrs else [network(ANYWHERE)]
        nat_hops = [
            hop
            for dest in destinations
            for hop in topo.lookup(table, dest)
            if hop.route and hop.route.target_type == "nat-gateway" and carries(topo, hop.route)
        ]
        if not nat_hops:
            continue
        service_name = f"com.amazonaws.{table.region}.{service}"
        in_vpc = [
            e for e in topo.endpoints_by_vpc.get(table.vpc_id, []) if e.service_name == service_name
        ]
        endpoints = [e for e in in_vpc if e.endpoint_type.lower() == "gateway" and endpoint_live(e)]
        if not endpoints and any(
            e.endpoint_type.lower() == "interface"
            and e.private_dns_enabled
            and e.state.lower() == "available"
            for e in in_vpc
        ):
            # Private DNS of an interface endpoint answers for the service's name in the VPC.
            # With a gateway endpoint too, DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint
            # (not in the snapshot) decides where VPC traffic goes: such tables are still judged.
            continue
        has_endpoint_route = plist is not None and any(
            r.destination_prefix_list_id == plist.id for r in table.routes
        )
        nat_ids = sorted({hop.route.target_id for hop in nat_hops if hop.route})
        vpc_name = vpc_label(topo, table.vpc_id)
        table_label = label(table.id, table.tags)
        if has_endpoint_route:
            cause = (
                f"more specific routes override the {display} gateway endpoint's prefix-list route"
            )
            fix = (
                f"Remove or narrow the routes in {table_label} that send parts of {display}'s "
                f"address ranges to {', '.join(nat_ids)}."
            )
        elif endpoints:
            ids = ", ".join(e.id for e in endpoints)
            cause = f"the VPC has a gateway endpoint for {display} ({ids}) but this table is not associated with it"
            fix = (
                f"Associate {table.id} with the endpoint: aws ec2 modify-vpc-endpoint "
                f"--vpc-endpoint-id {endpoints[0].id} --add-route-table-ids {table.id} "
                f"--region {table.region}"
            )
        else:
            cause = f"the VPC has no {display} gateway endpoint"
            fix = (
                f"Create a {display} gateway endpoint in {table.vpc_id} and associate this table: "
                f"aws ec2 create-vpc-endpoint --vpc-id {table.vpc_id} --service-name {service_name} "
                f"--route-table-ids {table.id} --region {table.region}"
            )
        yield found(
            rule_id,
            account_id=table.account_id,
            region=table.region,
            resource_id=table.id,
            vpc_id=table.vpc_id,
            message=(
                f"Route table {table_label} in VPC {vpc_name} sends {display} traffic from "
                f"{len(subnets)} subnet(s) through NAT gateway {', '.join(nat_ids)}, because "
                f"{cause}. NAT gateways charge for every GB they process; a gateway endpoint "
                f"carries {display} traffic free of that charge and keeps it off the NAT path."
            ),
            remediation=fix,
            evidence={
                "route_table": table_label,
                "main_table": any(a.main for a in table.associations),
                "subnets": [
                    {"id": s.id, "name": s.tags.get("Name", ""), "cidr": s.cidr_block}
                    for s in subnets
                ],
                "nat_gateways": nat_ids,
                "routes_used": routes_evidence(hop.route for hop in nat_hops if hop.route),
                "prefix_list": plist.id if plist else f"{service_name} (not collected)",
                "gateway_endpoints_in_vpc": [e.id for e in endpoints],
            },
        )
