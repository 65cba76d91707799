"""Traffic to AWS services that leaves through a NAT gateway instead of a gateway endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model import (
    Endpoint,
    Finding,
    NatGateway,
    PrefixList,
    Prices,
    Route,
    RouteTable,
    Subnet,
)
from auditor.net import Hop, Topology, networks, text
from auditor.paths import Path, paths
from auditor.rules.base import Found, endpoint_live, label, routes_evidence, rule, vpc_label
from auditor.rules.commands import ec2

# Used when the region's service prefix list was not collected: S3 and DynamoDB addresses are
# public, so the route for "the internet" is the route they take.
ANYWHERE = "0.0.0.0/0"
# The NAT64 well-known prefix: DNS64 answers IPv4-only names (S3's and DynamoDB's default
# endpoints) with addresses in it, and a route sends them to a NAT gateway for translation.
NAT64_PREFIX = "64:ff9b::/96"
# Route targets behind which a NAT gateway can be: the NAT itself, or a transit gateway hub
# that sends the traffic on to an egress VPC.
EGRESS_TARGETS = frozenset({"nat-gateway", "transit-gateway"})
GB = 2**30  # AWS bills data by the GB of 2^30 bytes
# AWS's gateway endpoint considerations: requests through the endpoint come from private
# addresses, so a policy allowing the NAT gateway's public address then denies them.
SOURCE_IP_CAVEAT = (
    "Before switching, check bucket or table policies that allow by the NAT gateway's public "
    "address (aws:SourceIp): through the endpoint the requests come from private addresses and "
    "are then denied; allow by aws:SourceVpce or aws:SourceVpc instead."
)
NOT_READ = "unknown: not read (--no-cost, cloudwatch:GetMetricData refused or incomplete, or an older snapshot)"
COST_LABEL = (
    "upper bound of what a gateway endpoint saves: the NAT's total processing, CloudWatch does "
    "not split it by destination"
)


@rule("s3-egress-via-nat")
def s3_egress_via_nat(topo: Topology, found: Found) -> Iterator[Finding]:
    yield from service_egress_via_nat(topo, found, "s3", "S3")


@rule("dynamodb-egress-via-nat")
def dynamodb_egress_via_nat(topo: Topology, found: Found) -> Iterator[Finding]:
    yield from service_egress_via_nat(topo, found, "dynamodb", "DynamoDB")


def an(display: str) -> str:
    """The service's name with its article, as it is said: "an S3", "a DynamoDB"."""
    return f"{'an' if display[0] in 'AEFHILMNORSX' else 'a'} {display}"


def carries(topo: Topology, route: Route) -> bool:
    """A NAT route that really passes traffic (and bills it): dead ones are route-dead-target's."""
    nat = topo.nat_gateways.get(route.target_id)
    return route.state != "blackhole" and nat is not None and nat.state == "available"


def service_hops(topo: Topology, table: RouteTable, destinations: list[str]) -> list[Hop]:
    """How the table routes the service's ranges, piece by piece (longest-prefix match)."""
    return [hop for dest in networks(destinations) for hop in topo.lookup(table, dest)]


def to_nat(topo: Topology, hop: Hop) -> bool:
    """A piece the table surely sends to a working NAT gateway. A piece AWS settles at random
    among tied prefix-list routes (e.g. a customer list holding S3 ranges to a NAT gateway beside
    the endpoint's) is not counted: `undetermined_hops` names those."""
    route = hop.route
    return (
        route is not None
        and not hop.undetermined
        and route.target_type == "nat-gateway"
        and carries(topo, route)
    )


def nat_hops(topo: Topology, table: RouteTable, destinations: list[str]) -> list[Hop]:
    return [hop for hop in service_hops(topo, table, destinations) if to_nat(topo, hop)]


def undetermined_hops(topo: Topology, table: RouteTable, destinations: list[str]) -> list[Hop]:
    """Pieces where one of the tied routes AWS picks among goes to a NAT gateway (ties need
    two prefix-list routes in the table)."""
    if sum(1 for r in table.routes if r.destination_prefix_list_id) < 2:
        return []
    return [
        hop
        for dest in networks(destinations)
        for hop in topo.lookup(table, dest)
        if hop.undetermined and any(r.target_type == "nat-gateway" for r in hop.candidates)
    ]


def service_egress_via_nat(
    topo: Topology, found: Found, service: str, display: str
) -> Iterator[Finding]:
    """Tables serving subnets whose route for the service's addresses ends at a NAT gateway."""
    for table in topo.snapshot.route_tables:
        subnets = topo.subnets_of_table(table)
        if not subnets or not any(r.target_type in EGRESS_TARGETS for r in table.routes):
            continue  # no NAT or hub route: spares the lookups (a third of tables at scale)
        check = ServiceCheck(topo, table, service, display)
        yield from check.ipv4(found, subnets)
        yield from check.nat64(found, subnets)


class ServiceCheck:
    """One table and one service: the VPC's endpoints for it and how the table reaches it."""

    def __init__(self, topo: Topology, table: RouteTable, service: str, display: str) -> None:
        self.topo, self.table, self.display = topo, table, display
        self.service_name = f"com.amazonaws.{table.region}.{service}"
        self.plist: PrefixList | None = topo.service_prefix_list(table.region, service)
        in_vpc = [
            e
            for e in topo.endpoints_by_vpc.get(table.vpc_id, [])
            if e.service_name == self.service_name
        ]
        self.gateways = [
            e for e in in_vpc if e.endpoint_type.lower() == "gateway" and endpoint_live(e)
        ]
        self.interfaces = [
            e
            for e in in_vpc
            if e.endpoint_type.lower() == "interface"
            and e.private_dns_enabled
            and e.state.lower() == "available"
        ]

    def gateway_routed(self) -> list[Endpoint]:
        """Gateway endpoints that route this table: it is in their list, or has their route."""
        targets = {r.target_id for r in self.table.routes}
        return [e for e in self.gateways if self.table.id in e.route_table_ids or e.id in targets]

    def private_dns_blocked_by(self) -> list[str]:
        """The VPC DNS attributes that are off: private DNS names of interface endpoints need
        both enableDnsSupport and enableDnsHostnames. Unknown (None) is not taken as off."""
        vpc = self.topo.vpcs.get(self.table.vpc_id)
        if vpc is None:
            return []
        flags = (("enableDnsSupport", vpc.dns_support), ("enableDnsHostnames", vpc.dns_hostnames))
        return [name for name, value in flags if value is False]

    def interface_answers(self) -> Endpoint | None:
        """An interface endpoint whose private DNS takes the VPC's requests for the service.

        With a gateway endpoint in the VPC too, only an interface endpoint whose
        PrivateDnsOnlyForInboundResolverEndpoint is false answers VPC clients (true, the
        default there, leaves them on the gateway endpoint; unknown is not taken as false)."""
        if self.private_dns_blocked_by():
            return None
        for endpoint in self.interfaces:
            if (
                not self.gateways
                or endpoint.private_dns_only_for_inbound_resolver_endpoint is False
            ):
                return endpoint
        return None

    def carried_for_others(self, ranges: list[str]) -> list[str] | None:
        """None when the table carries only its own subnets' traffic; else the subnets that
        exist only for other VPCs' traffic through a hub (attachment, firewall endpoint). A
        gateway endpoint cannot be used from outside its VPC, and its prefix-list route in such
        a table would cut those VPCs off from the service."""
        carriers = paths(self.topo).carriers(tuple(ranges))
        if self.table.id not in carriers.tables:
            return None
        return [
            s.id for s in self.topo.subnets_of_table(self.table) if s.id in carriers.transit_subnets
        ]

    def hub_nat_paths(self, ranges: list[str]) -> list[tuple[Route, Path]]:
        """The table's routes to a transit gateway for these ranges (the service's, where the
        table sends them to the hub), each with the path from there that ends at a working NAT
        gateway in another VPC."""
        table = self.table
        hub_routes = {
            (r.destination, r.target_id): r
            for r in table.routes
            if r.target_type == "transit-gateway"
        }
        if not hub_routes:
            return []
        engine = paths(self.topo)
        found_paths = []
        for dest in networks(ranges):
            for path in engine.follow(table, dest):
                first = path.steps[0]
                route = hub_routes.get((first.matched, first.target))
                nat = self.topo.nat_gateways.get(path.end_id)
                if route and path.end == "nat-gateway" and nat and nat.state == "available":
                    found_paths.append((route, path))
        return found_paths

    def nat_place(self, nat_id: str) -> str:
        nat = self.topo.nat_gateways.get(nat_id)
        if nat is None:
            return nat_id
        return f"{nat_id} in VPC {vpc_label(self.topo, nat.vpc_id)} (account {nat.account_id})"

    def ipv4(self, found: Found, subnets: list[Subnet]) -> Iterator[Finding]:
        table, display = self.table, self.display
        ranges = self.plist.cidrs if self.plist else []
        endpoint_route = self.plist is not None and any(
            r.destination_prefix_list_id == self.plist.id for r in table.routes
        )
        if not ranges and self.gateway_routed():
            # Without the service's ranges, a table the endpoint routes is taken at its word:
            # its prefix-list route is more specific than any default route.
            return
        if not endpoint_route and any(table.id in e.route_table_ids for e in self.gateways):
            # AWS adds the endpoint's route when it associates a table: a snapshot that lists
            # the association without the route is inconsistent, not proof of a NAT path.
            return
        transit = self.carried_for_others(ranges or [ANYWHERE])
        if transit is not None:
            subnets = [s for s in subnets if s.id not in transit]
            if not subnets:
                return  # only other VPCs' traffic passes here: their endpoints, not one here
        every = service_hops(self.topo, table, ranges or [ANYWHERE])
        hops = [hop for hop in every if to_nat(self.topo, hop)]
        hub_paths = self.hub_nat_paths(
            [
                text(h.destination)
                for h in every
                if h.route and h.route.target_type == "transit-gateway"
            ]
        )
        if not (hops or hub_paths) or self.interface_answers():
            return
        table_label = label(table.id, table.tags)
        dns_off = self.private_dns_blocked_by()
        commands: list[str] = []
        if endpoint_route:
            cause = (
                f"more specific routes override the {display} gateway endpoint's prefix-list route"
            )
            overriding = {h.route.target_id for h in hops if h.route}
            overriding |= {r.target_id for r, _ in hub_paths}
            fix = (
                f"Remove or narrow the routes in {table_label} that send parts of {display}'s "
                f"address ranges to {', '.join(sorted(overriding))}."
            )
        elif self.gateways:
            ids = ", ".join(e.id for e in self.gateways)
            cause = f"the VPC has a gateway endpoint for {display} ({ids}) but this table is not associated with it"
            fix = f"Associate {table.id} with the endpoint {ids} (aws ec2 modify-vpc-endpoint)."
            if len(self.gateways) == 1:  # with two, which one is the user's choice
                commands = [self.add_table_command(self.gateways[0])]
        else:
            cause = f"the VPC has no {display} gateway endpoint"
            fix = (
                f"Create {an(display)} gateway endpoint in {table.vpc_id} and associate this "
                f"table (aws ec2 create-vpc-endpoint: the command names every table of the VPC "
                f"that needs it)."
            )
            commands = [self.create_command()]
        if transit:
            # The table also carries other VPCs' traffic: an endpoint route here would catch
            # theirs too, and a gateway endpoint cannot be used from outside its VPC.
            commands = []
            fix = (
                f"First give the workload subnets ({', '.join(s.id for s in subnets)}) a route "
                f"table of their own, apart from the subnets that carry other VPCs' traffic "
                f"through the hub ({', '.join(transit)}): {table_label} also routes theirs, and "
                f"{an(display)} gateway endpoint route in it would send their {display} traffic "
                f"to an endpoint they cannot use. Then add the endpoint to the new table only. "
                f"Do not associate {table.id} itself with a gateway endpoint."
            )
        if self.interfaces and dns_off:
            ids = ", ".join(e.id for e in self.interfaces)
            cause += (
                f"; the VPC's {display} interface endpoint ({ids}) has private DNS on, but "
                f"{' and '.join(dns_off)} {'is' if len(dns_off) == 1 else 'are'} off in the VPC, so "
                f"its private DNS names do not apply and {display}'s public names resolve to "
                f"public addresses"
            )
            fix += (
                f" Or turn on {' and '.join(dns_off)} in {table.vpc_id} so the interface "
                f"endpoint answers (the VPC's vpc-dns-* finding has the command)."
            )
        saving = (
            f"a gateway endpoint carries {display} traffic free of that charge and keeps it off "
            f"the NAT path."
        )
        if hub_paths:
            saving = (
                f"on the way the transit gateway charges for every GB too. A gateway endpoint in "
                f"this VPC carries {display} traffic free of both charges (a gateway endpoint "
                f"cannot be used from another VPC, so the egress VPC's cannot help)."
            )
        yield self.finding(
            found,
            subnets,
            [h.route for h in hops if h.route],
            cause,
            fix,
            saving,
            hub_ways=tuple(hub_paths),
            commands=commands,
            evidence={
                **({"carries_other_vpcs_traffic_via": transit} if transit else {}),
                **undetermined_evidence(self.topo, table, ranges or [ANYWHERE]),
                "prefix_list": self.plist.id
                if self.plist
                else f"{self.service_name} (not collected)",
                "gateway_endpoints_in_vpc": [e.id for e in self.gateways],
                **(
                    {"interface_endpoints_private_dns_ineffective": [e.id for e in self.interfaces]}
                    if self.interfaces and dns_off
                    else {}
                ),
            },
        )

    def nat64(self, found: Found, subnets: list[Subnet]) -> Iterator[Finding]:
        """IPv6 workloads reach IPv4-only service names through DNS64 and NAT64: gateway
        endpoints carry IPv4 only, so that traffic pays NAT processing whatever the VPC has."""
        translated = [
            s
            for s in subnets
            if s.enable_dns64 is True
            or (s.enable_dns64 is None and s.cidr_block is None and s.ipv6_cidr_blocks)
        ]
        hops = nat_hops(self.topo, self.table, [NAT64_PREFIX]) if translated else []
        if not hops or self.interface_answers():
            # An interface endpoint answering for the service may publish IPv6 (dualstack)
            # records, which need no NAT64; the snapshot does not say which: no verdict.
            return
        display, table = self.display, self.table
        cause = (
            f"the table routes the NAT64 prefix {NAT64_PREFIX} to the NAT gateway and DNS64 "
            f"answers {display}'s IPv4-only names with addresses in it; gateway endpoints carry "
            f"IPv4 traffic only, so this traffic does not use them"
        )
        fix = (
            f"Have clients in these subnets use {display}'s dual-stack endpoints (e.g. "
            f"AWS_USE_DUALSTACK_ENDPOINT=true in the SDKs and CLI), whose IPv6 addresses need no "
            f"translation, or create {an(display)} interface endpoint with IPv6 (dualstack) DNS "
            f"records: aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --vpc-id "
            f"{table.vpc_id} --service-name {self.service_name} --ip-address-type dualstack "
            f"--dns-options DnsRecordIpType=dualstack --subnet-ids … --region {table.region}"
        )
        yield self.finding(
            found,
            translated,
            [h.route for h in hops if h.route],
            cause,
            fix,
            "NAT64 translation is NAT processing like any other.",
            evidence={"nat64_prefix": NAT64_PREFIX, "path": "DNS64 + NAT64 (IPv6)"},
            detail="nat64",
        )

    def finding(
        self,
        found: Found,
        subnets: list[Subnet],
        direct: list[Route],
        cause: str,
        fix: str,
        saving: str,
        evidence: dict[str, object],
        detail: str = "",
        hub_ways: tuple[tuple[Route, Path], ...] = (),
        commands: list[str] | None = None,
    ) -> Finding:
        """`direct`: the table's routes straight to a NAT gateway; `hub_ways`: its routes to a
        transit gateway, each with the path from there to a NAT gateway in another VPC."""
        table = self.table
        hub = [path for _, path in hub_ways]
        nat_ids = sorted({r.target_id for r in direct} | {p.end_id for p in hub})
        where = f"NAT gateway {', '.join(sorted({r.target_id for r in direct}))}" if direct else ""
        if hub:
            tgws = ", ".join(dict.fromkeys(t for p in hub for t in p.transit_gateways))
            remote = ", ".join(sorted({self.nat_place(p.end_id) for p in hub}))
            via = f"transit gateway {tgws} to NAT gateway {remote}"
            where = f"{where} and through {via}" if where else via
        table_label = label(table.id, table.tags)
        return found(
            account_id=table.account_id,
            region=table.region,
            resource_id=table.id,
            vpc_id=table.vpc_id,
            message=(
                f"Route table {table_label} in VPC {vpc_label(self.topo, table.vpc_id)} sends "
                f"{self.display} traffic from {len(subnets)} subnet(s) through {where}, because "
                f"{cause}. NAT gateways charge for every GB they process; {saving}"
            ),
            remediation=f"{fix} {SOURCE_IP_CAVEAT}",
            evidence={
                "route_table": table_label,
                "main_table": any(a.main for a in table.associations),
                "subnets": [
                    {"id": s.id, "name": s.tags.get("Name", ""), "cidr": s.cidr_block}
                    for s in subnets
                ],
                "nat_gateways": nat_ids,
                "routes_used": routes_evidence(direct + [r for r, _ in hub_ways]),
                **({"paths": path_evidence(hub)} if hub else {}),
                **evidence,
                "cost": cost_evidence(self.topo, nat_ids, hub),
            },
            detail=detail,
            commands=commands or (),
        )

    def create_command(self) -> str:
        """A gateway endpoint for this table (group_commands adds the VPC's other tables)."""
        table = self.table
        return ec2(
            table.account_id,
            table.region,
            "create-vpc-endpoint",
            *("--vpc-endpoint-type", "Gateway", "--vpc-id", table.vpc_id),
            *("--service-name", self.service_name, "--route-table-ids", table.id),
        )

    def add_table_command(self, endpoint: Endpoint) -> str:
        return ec2(
            endpoint.account_id,
            endpoint.region,
            "modify-vpc-endpoint",
            *("--vpc-endpoint-id", endpoint.id, "--add-route-table-ids", self.table.id),
        )


def undetermined_evidence(
    topo: Topology, table: RouteTable, destinations: list[str]
) -> dict[str, object]:
    """Ranges whose route AWS picks at random among tied prefix-list routes: no verdict there."""
    hops = undetermined_hops(topo, table, destinations)
    if not hops:
        return {}
    return {
        "undetermined": [
            {
                "destination": str(hop.destination),
                "tied_routes": [f"{r.destination} -> {r.target_id}" for r in hop.candidates],
            }
            for hop in hops[:10]
        ],
        "undetermined_note": (
            "AWS picks one of tied prefix-list routes at random (VPC user guide, Route priority): "
            "not counted as NAT traffic"
        ),
    }


def path_evidence(hub: list[Path], limit: int = 5) -> list[dict[str, object]]:
    """Paths as evidence, one per distinct route through the network (the service's ranges
    usually all take the same one), with the ranges that take it."""
    grouped: dict[tuple[object, ...], list[Path]] = {}
    for path in hub:
        grouped.setdefault((path.steps, path.end, path.end_id), []).append(path)
    rows = []
    for same in list(grouped.values())[:limit]:
        row = same[0].as_evidence()
        row["destination"] = ", ".join(text(p.destination) for p in same)
        rows.append(row)
    return rows


def price(prices: tuple[Prices, ...], kind: str, region: str) -> tuple[float, Prices] | None:
    """The first price for the region (the policy's, then the shipped table), with its source."""
    for table in prices:
        found = getattr(table, kind).get(region)
        if found is not None:
            return float(found), table
    return None


def cost_evidence(topo: Topology, nat_ids: list[str], hub: list[Path]) -> dict[str, object]:
    """What the NAT gateways on the path processed over the collected period and what that
    cost, plus the transit gateway's processing where the path crosses a hub. `usd` is None
    (unknown) when any part is: bytes not read, or no price for a region."""
    used: dict[int, Prices] = {}
    lines: list[tuple[dict[str, object], float | None]] = []
    for nat_id in nat_ids:
        nat = topo.nat_gateways.get(nat_id)
        region = nat.region if nat else ""
        row: dict[str, object] = {"id": nat_id, "region": region, "bytes": None}
        lines.append(charge(topo, row, nat, "nat_gateway_per_gb", region, used))
    # AWS charges a GB once on its way into a transit gateway from a VPC (not again from a
    # peering attachment), so each NAT's bytes pay the first hub of the path, once.
    hubs = []
    for tgw_id, nat_id in dict.fromkeys((p.transit_gateways[0], p.end_id) for p in hub):
        nat = topo.nat_gateways.get(nat_id)
        tgw = topo.transit_gateways.get(tgw_id)
        region = tgw.region if tgw else nat.region if nat else ""
        row = {"id": tgw_id, "region": region, "nat_gateway": nat_id}
        hubs.append(charge(topo, row, nat, "transit_gateway_per_gb", region, used))
    costs = [usd for _, usd in lines + hubs]
    periods = sorted(
        {
            f"{n.data_processed.start}/{n.data_processed.end}"
            for i in nat_ids
            if (n := topo.nat_gateways.get(i)) and n.data_processed
        }
    )
    return {
        "usd": None if None in costs else round(sum(c or 0.0 for c in costs), 2),
        "basis": "30 days",
        "period": periods,
        "label": COST_LABEL,
        "nat_gateways": [row for row, _ in lines],
        **({"transit_gateways": [row for row, _ in hubs]} if hubs else {}),
        "prices": [{"source": p.source, "as_of": p.as_of} for p in used.values()],
    }


def charge(
    topo: Topology,
    row: dict[str, object],
    nat: NatGateway | None,
    kind: str,
    region: str,
    used: dict[int, Prices],
) -> tuple[dict[str, object], float | None]:
    """One line of the cost: the NAT gateway's bytes at the region's `kind` price, into `row`
    with a note where something is missing; and its USD (None: unknown). Records the price's
    source in `used`."""
    data = nat.data_processed if nat else None
    if data is None:
        row |= {"usd": None, "note": NOT_READ}
        return row, None
    if "bytes" in row:
        row["bytes"] = data.bytes
    row["gb"] = round(data.bytes / GB, 3)
    if data.data_points == 0:
        row["note"] = "no data in 30 days"
    if data.bytes == 0:
        row["usd"] = 0.0  # whatever the price
        return row, 0.0
    found = price(topo.settings.prices, kind, region)
    if found is None:
        what = "NAT gateway" if kind.startswith("nat") else "transit gateway"
        row |= {"usd": None, "note": f"no {what} price for {region}: set it in the audit policy"}
        return row, None
    per_gb, source = found
    used[id(source)] = source
    usd = round(data.bytes / GB * per_gb, 2)
    row |= {"usd_per_gb": per_gb, "usd": usd}
    return row, usd
