"""Read one account-region into a Snapshot (only its resource lists filled), and parse the replies.

The calls come in rounds: first one paginated describe per resource type (a fixed number,
whatever the size of the estate), then the few calls that need a first-round answer: the DNS
flags of each VPC (DescribeVpcAttribute, two per VPC: the API takes one VPC and one attribute),
who may connect to each endpoint service the account owns that accepts connections without
approval, stale security groups of each VPC whose group rules reference a group of an account
this audit does not read, and the entries of each referenced prefix list that is not an AWS
service list. None of these four APIs takes more than one resource at a time.
The calls of one round do not depend on each other; `run` decides how many go at once.

Parsing only translates AWS's shapes into the model; judging belongs to the rules.
No server-side filters: several endpoints ignore or lack them, so we fetch all and keep all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import botocore.exceptions
from botocore.parsers import ResponseParserError

from auditor.collect.sessions import error_code
from auditor.model import (
    Endpoint,
    EndpointService,
    FlowLog,
    GroupReference,
    InternetGateway,
    NatGateway,
    NetworkInterface,
    Peering,
    PeeringSide,
    PrefixList,
    Route,
    RouteTable,
    RouteTableAssociation,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    StaleGroupCheck,
    Subnet,
    TransitGateway,
    Vpc,
)

Raw = dict[str, Any]
T = TypeVar("T")
# Runs independent calls and returns their results in order; raises the first (in order) error.
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]

# What one account saw in one region is a Snapshot with only its resource lists filled; the
# old name stays for callers that build views by hand.
RegionView = Snapshot

# Route target keys in the order that names a route's target best (an instance route also
# carries its ENI; the instance is the better name).
ROUTE_TARGETS = (
    ("NatGatewayId", "nat-gateway"),
    ("VpcPeeringConnectionId", "vpc-peering-connection"),
    ("TransitGatewayId", "transit-gateway"),
    ("EgressOnlyInternetGatewayId", "egress-only-internet-gateway"),
    ("LocalGatewayId", "local-gateway"),
    ("CarrierGatewayId", "carrier-gateway"),
    ("CoreNetworkArn", "core-network"),
    ("InstanceId", "instance"),
    ("NetworkInterfaceId", "network-interface"),
    ("GatewayId", "gateway"),
)
GATEWAY_PREFIXES = {
    "igw-": "internet-gateway",
    "vgw-": "vpn-gateway",
    "vpce-": "vpc-endpoint",
}
# Services whose AWS-managed prefix lists the rules always need, referenced or not.
MANAGED_SERVICES = ("s3", "dynamodb")
# Errors that mean "DescribeStaleSecurityGroups is not offered or not permitted here".
STALE_UNAVAILABLE = (NotImplementedError, ResponseParserError, botocore.exceptions.ClientError)


def run_in_order(calls: Sequence[Callable[[], T]]) -> list[T]:
    return [call() for call in calls]


def paginate(ec2: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Raw]:
    for page in ec2.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def fetch(ec2: Any, operation: str, key: str, **kwargs: Any) -> list[Raw]:
    return list(paginate(ec2, operation, key, **kwargs))


def read_region(
    ec2: Any,
    account_id: str,
    region: str,
    *,
    run: Runner = run_in_order,
    service_lists: Callable[[], Sequence[PrefixList] | None] | None = None,
    audited: Collection[str] = (),
) -> Snapshot:
    """All networking state visible to `account_id` in `region`; raises on any failed call.

    `audited`: the accounts this audit reads (whose security groups the rules see).

    `service_lists` gives the region's AWS service prefix lists (DescribePrefixLists, the same
    for every account of a region) when the caller reads them once for the region: it is
    asked only after the first round, so that read runs meanwhile. When it gives None (that
    read failed), or without it, they are read here.
    """
    view = Snapshot()
    first = [
        Read(view, partial(read_list, ec2, operation, key, parse, account_id, region), setter(name))
        for name, operation, key, parse in (*RESOURCE_CALLS, ENDPOINT_SERVICES_CALL)
    ]
    found: list[Sequence[PrefixList] | None] = []
    if service_lists is None:
        first.append(Read(found, partial(aws_service_lists, ec2, region), list.append))
    run_reads(run, first)
    shared = service_lists() if service_lists is not None else found[0]
    aws_lists = list(shared) if shared is not None else aws_service_lists(ec2, region)

    # Second round: the calls that need a first-round answer, all independent of each other.
    second: list[Read] = []
    for vpc in view.vpcs:
        shared_vpc = vpc.account_id != account_id
        for attribute, field in (
            ("enableDnsSupport", "dns_support"),
            ("enableDnsHostnames", "dns_hostnames"),
        ):
            call = partial(vpc_attribute, ec2, vpc.id, attribute, shared_vpc)
            second.append(Read(vpc, call, setter(field)))
    # Who may connect matters only where nobody approves each connection (the rules' case).
    second += [
        Read(s, partial(allowed_principals, ec2, s.id), setter("allowed_principals"))
        for s in view.endpoint_services
        if not s.acceptance_required
    ]
    # DescribeStaleSecurityGroups works per VPC: the first one alone tells whether the API is
    # offered here, the others follow in the last round only if it is.
    checks: list[StaleGroupCheck | None] = []
    stale_vpcs = vpcs_referencing_unaudited(view, account_id, audited)
    second += [
        Read(checks, partial(stale_groups, ec2, vpc_id, account_id, region), list.append)
        for vpc_id in stale_vpcs[:1]
    ]
    known = {p.id: p for p in aws_lists if p.cidrs}
    referenced = referenced_prefix_lists(view)
    customer: list[PrefixList] = []
    second += [
        Read(customer, partial(customer_list, ec2, pl_id, region), append_known)
        for pl_id in sorted(referenced - set(known))
    ]
    run_reads(run, second)

    # Last round, only where the API is offered: the other VPCs' stale groups.
    if checks and checks[0] is not None:
        run_reads(
            run,
            [
                Read(checks, partial(stale_groups, ec2, v, account_id, region), list.append)
                for v in stale_vpcs[1:]
            ],
        )
    # Where the API is not offered, or not asked, record nothing: the rules cross-reference
    # security-group rules against the peerings and groups of the audited accounts themselves.
    view.stale_group_checks = (
        [] if any(c is None for c in checks) else [c for c in checks if c is not None]
    )
    view.prefix_lists = region_prefix_lists(region, aws_lists, known, customer, referenced)
    return view


@dataclass(frozen=True)
class Read:
    """One call of a round, declared with the resource it belongs to: `apply(resource,
    answer)` puts the call's answer there, so no answer is matched to its call by position."""

    resource: Any
    call: Callable[[], Any]
    apply: Callable[[Any, Any], None]


def run_reads(run: Runner, reads: Sequence[Read]) -> None:
    """Run independent reads through `run` (which decides how many go at once) and apply each
    answer to its own resource; raises the first (in order) failure, applying nothing."""
    for read, answer in zip(reads, run([r.call for r in reads]), strict=True):
        read.apply(read.resource, answer)


def setter(name: str) -> Callable[[Any, Any], None]:
    """An `apply` that sets the resource's field `name` to the answer."""
    return lambda resource, value: setattr(resource, name, value)


def append_known(lists: list[PrefixList], plist: PrefixList | None) -> None:
    if plist is not None:
        lists.append(plist)


def read_list(
    ec2: Any, operation: str, key: str, parse: Parser, account_id: str, region: str
) -> list[Any]:
    """One paginated describe, parsed into model objects."""
    return [parse(raw, account_id, region) for raw in paginate(ec2, operation, key)]


def vpcs_referencing_unaudited(
    view: Snapshot, account_id: str, audited: Collection[str]
) -> list[str]:
    """This account's VPCs with a security-group rule that references a group of an account
    this audit does not read: only AWS can tell whether that group is gone. A rule that
    references a group of an audited account is stale when the snapshot shows the group gone
    or the peering it goes through not active, which the rules check themselves."""
    known = {account_id, *audited}
    unaudited = {
        g.vpc_id
        for g in view.security_groups
        for rule in g.ingress + g.egress
        for ref in rule.groups
        if (ref.user_id or g.account_id) not in known
    }
    return [v.id for v in view.vpcs if v.id in unaudited and v.account_id == account_id]


def stale_groups(ec2: Any, vpc_id: str, account_id: str, region: str) -> StaleGroupCheck | None:
    """DescribeStaleSecurityGroups for one VPC; None when the API is not offered or permitted."""
    try:
        raws = fetch(ec2, "describe_stale_security_groups", "StaleSecurityGroupSet", VpcId=vpc_id)
    except STALE_UNAVAILABLE:
        return None
    groups = [
        parse_security_group(
            {
                **g,
                "IpPermissions": g.get("StaleIpPermissions", []),
                "IpPermissionsEgress": g.get("StaleIpPermissionsEgress", []),
            },
            account_id,
            region,
        )
        for g in raws
    ]
    return StaleGroupCheck(vpc_id, account_id, region, groups)


def allowed_principals(ec2: Any, service_id: str) -> list[str] | None:
    """Who may connect to one endpoint service we provide (the API takes one service at a
    time); None (unknown) for a service deleted since it was listed, rather than failing the
    account-region."""
    try:
        return [
            p["Principal"]
            for p in paginate(
                ec2,
                "describe_vpc_endpoint_service_permissions",
                "AllowedPrincipals",
                ServiceId=service_id,
            )
            if p.get("Principal")
        ]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "InvalidVpcEndpointServiceId.NotFound":
            return None
        raise


def vpc_attribute(ec2: Any, vpc_id: str, attribute: str, shared: bool) -> bool | None:
    """One DNS flag. For a VPC shared with this account (RAM), a refusal means unknown (None):
    the owner's own read fills it in when the owner is audited. For the account's own VPC an
    error fails the account-region like any other call, so a missing permission is reported as
    a coverage gap instead of flags silently unknown."""
    key = attribute[0].upper() + attribute[1:]
    try:
        reply = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
    except botocore.exceptions.ClientError as exc:
        # A VPC deleted since DescribeVpcs is as good as unknown; not a reason to fail the region.
        if shared or error_code(exc) == "InvalidVpcID.NotFound":
            return None
        raise
    value = reply.get(key, {}).get("Value")
    return value if isinstance(value, bool) else None


def referenced_prefix_lists(view: Snapshot) -> set[str]:
    ids = {
        r.destination_prefix_list_id
        for t in view.route_tables
        for r in t.routes
        if r.destination_prefix_list_id
    }
    for group in view.security_groups:
        for rule in group.ingress + group.egress:
            ids.update(rule.prefix_list_ids)
    return ids


def aws_service_lists(ec2: Any, region: str) -> list[PrefixList]:
    """The region's AWS service prefix lists (DescribePrefixLists), the S3 and DynamoDB ones
    with their CIDRs.

    DescribePrefixLists answers with the CIDRs of each list in one call, and the lists and
    their ids are the same for every account of a region, so one read serves a whole region.
    A list it answers without CIDRs gets them from GetManagedPrefixListEntries.
    """
    wanted = service_list_names(region)
    lists = [
        PrefixList(
            id=raw["PrefixListId"],
            region=region,
            name=raw.get("PrefixListName", ""),
            owner_id="AWS",
            cidrs=list(raw.get("Cidrs", [])),
        )
        for raw in paginate(ec2, "describe_prefix_lists", "PrefixLists")
    ]
    for plist in lists:
        if plist.name in wanted and not plist.cidrs:
            plist.cidrs = prefix_list_entries(ec2, plist.id)
    return lists


def service_list_names(region: str) -> set[str]:
    return {f"com.amazonaws.{region}.{service}" for service in MANAGED_SERVICES}


def prefix_list_entries(ec2: Any, prefix_list_id: str) -> list[str]:
    return [
        e["Cidr"]
        for e in paginate(
            ec2, "get_managed_prefix_list_entries", "Entries", PrefixListId=prefix_list_id
        )
    ]


def referenced_list_entries(ec2: Any, prefix_list_id: str) -> list[str] | None:
    """A referenced list's CIDRs; None when the list is gone or no longer shared with us
    (a route or rule can outlive its list), so it stays unknown instead of failing the region."""
    try:
        return prefix_list_entries(ec2, prefix_list_id)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc).lower().startswith("invalidprefixlistid"):
            return None
        raise


def customer_list(ec2: Any, prefix_list_id: str, region: str) -> PrefixList | None:
    """A referenced customer list with its CIDRs; None while it stays unknown."""
    cidrs = referenced_list_entries(ec2, prefix_list_id)
    return None if cidrs is None else PrefixList(id=prefix_list_id, region=region, cidrs=cidrs)


def region_prefix_lists(
    region: str,
    aws_lists: Sequence[PrefixList],
    known: dict[str, PrefixList],
    customer: Sequence[PrefixList],
    referenced: set[str],
) -> list[PrefixList]:
    """The region's S3/DynamoDB lists and every referenced list that could be read, each a
    copy of its own (views are merged in place)."""
    wanted = service_list_names(region)
    found = {p.id: p for p in aws_lists if p.name in wanted}
    found.update((pl_id, plist) for pl_id, plist in known.items() if pl_id in referenced)
    found.update((p.id, p) for p in customer)
    return sorted(
        (dataclasses.replace(p, cidrs=list(p.cidrs)) for p in found.values()), key=lambda p: p.id
    )


def tags_of(raw: Raw) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}


def parse_vpc(raw: Raw, viewer: str, region: str) -> Vpc:
    cidrs = [
        a["CidrBlock"]
        for a in raw.get("CidrBlockAssociationSet", [])
        if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
    ] or [raw["CidrBlock"]]
    ipv6 = [
        a["Ipv6CidrBlock"]
        for a in raw.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
        and a.get("Ipv6CidrBlock")
    ]
    return Vpc(
        id=raw["VpcId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        cidr_blocks=cidrs,
        ipv6_cidr_blocks=ipv6,
        is_default=bool(raw.get("IsDefault", False)),
        tags=tags_of(raw),
    )


def parse_subnet(raw: Raw, viewer: str, region: str) -> Subnet:
    return Subnet(
        id=raw["SubnetId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw["VpcId"],
        cidr_block=raw.get("CidrBlock"),
        ipv6_cidr_blocks=[
            a["Ipv6CidrBlock"]
            for a in raw.get("Ipv6CidrBlockAssociationSet", [])
            if a.get("Ipv6CidrBlock")
        ],
        availability_zone=raw.get("AvailabilityZone", ""),
        tags=tags_of(raw),
    )


def parse_route(raw: Raw) -> Route:
    target_type, target_id = "unknown", ""
    for key, kind in ROUTE_TARGETS:
        if raw.get(key):
            target_type, target_id = kind, raw[key]
            break
    if target_type == "gateway":
        if target_id == "local":
            target_type = "local"
        else:
            target_type = next(
                (k for p, k in GATEWAY_PREFIXES.items() if target_id.startswith(p)), "gateway"
            )
    return Route(
        target_type=target_type,
        target_id=target_id,
        destination_cidr=raw.get("DestinationCidrBlock"),
        destination_ipv6_cidr=raw.get("DestinationIpv6CidrBlock"),
        destination_prefix_list_id=raw.get("DestinationPrefixListId"),
        state=raw.get("State", "active"),
        origin=raw.get("Origin", "CreateRoute"),
    )


def parse_route_table(raw: Raw, viewer: str, region: str) -> RouteTable:
    return RouteTable(
        id=raw["RouteTableId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw["VpcId"],
        routes=[parse_route(r) for r in raw.get("Routes", [])],
        associations=[
            RouteTableAssociation(
                id=a.get("RouteTableAssociationId", ""),
                main=bool(a.get("Main", False)),
                subnet_id=a.get("SubnetId"),
                gateway_id=a.get("GatewayId"),
                state=a.get("AssociationState", {}).get("State", "associated"),
            )
            for a in raw.get("Associations", [])
        ],
        tags=tags_of(raw),
    )


def parse_nat_gateway(raw: Raw, viewer: str, region: str) -> NatGateway:
    return NatGateway(
        id=raw["NatGatewayId"],
        account_id=viewer,
        region=region,
        vpc_id=raw.get("VpcId", ""),
        subnet_id=raw.get("SubnetId"),
        state=raw.get("State", "available"),
        connectivity_type=raw.get("ConnectivityType", "public"),
        tags=tags_of(raw),
    )


def parse_internet_gateway(raw: Raw, viewer: str, region: str) -> InternetGateway:
    return InternetGateway(
        id=raw["InternetGatewayId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_ids=[a["VpcId"] for a in raw.get("Attachments", []) if a.get("VpcId")],
        tags=tags_of(raw),
    )


def parse_endpoint(raw: Raw, viewer: str, region: str) -> Endpoint:
    return Endpoint(
        id=raw["VpcEndpointId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw.get("VpcId", ""),
        endpoint_type=raw.get("VpcEndpointType", ""),
        service_name=raw.get("ServiceName", ""),
        state=str(raw.get("State", "")),
        route_table_ids=list(raw.get("RouteTableIds", [])),
        subnet_ids=list(raw.get("SubnetIds", [])),
        security_group_ids=[g["GroupId"] for g in raw.get("Groups", []) if g.get("GroupId")],
        private_dns_enabled=raw.get("PrivateDnsEnabled"),
        policy_document=raw.get("PolicyDocument"),
        tags=tags_of(raw),
    )


def parse_peering_side(raw: Raw, options: Raw | None, viewer: str, region: str) -> PeeringSide:
    cidrs = [c["CidrBlock"] for c in raw.get("CidrBlockSet", []) if c.get("CidrBlock")]
    if not cidrs and raw.get("CidrBlock"):
        cidrs = [raw["CidrBlock"]]
    allow_dns = (options or {}).get("AllowDnsResolutionFromRemoteVpc")
    return PeeringSide(
        account_id=raw.get("OwnerId", viewer),
        region=raw.get("Region", region),
        vpc_id=raw.get("VpcId", ""),
        cidr_blocks=cidrs,
        ipv6_cidr_blocks=[
            c["Ipv6CidrBlock"] for c in raw.get("Ipv6CidrBlockSet", []) if c.get("Ipv6CidrBlock")
        ],
        allow_dns_resolution_from_remote_vpc=allow_dns if isinstance(allow_dns, bool) else None,
    )


def parse_peering(raw: Raw, viewer: str, region: str) -> Peering:
    requester = raw.get("RequesterVpcInfo", {})
    accepter = raw.get("AccepterVpcInfo", {})
    expiration = raw.get("ExpirationTime")
    return Peering(
        id=raw["VpcPeeringConnectionId"],
        status=raw.get("Status", {}).get("Code", "unknown"),
        status_message=raw.get("Status", {}).get("Message", ""),
        requester=parse_peering_side(requester, requester.get("PeeringOptions"), viewer, region),
        accepter=parse_peering_side(accepter, accepter.get("PeeringOptions"), viewer, region),
        expiration_time=expiration.isoformat() if isinstance(expiration, datetime) else expiration,
        tags=tags_of(raw),
    )


def parse_sg_rule(raw: Raw) -> SecurityGroupRule:
    return SecurityGroupRule(
        protocol=str(raw.get("IpProtocol", "-1")),
        from_port=raw.get("FromPort"),
        to_port=raw.get("ToPort"),
        cidrs=[r["CidrIp"] for r in raw.get("IpRanges", []) if r.get("CidrIp")],
        ipv6_cidrs=[r["CidrIpv6"] for r in raw.get("Ipv6Ranges", []) if r.get("CidrIpv6")],
        prefix_list_ids=[p["PrefixListId"] for p in raw.get("PrefixListIds", [])],
        groups=[
            GroupReference(
                group_id=g.get("GroupId", ""),
                user_id=g.get("UserId"),
                vpc_id=g.get("VpcId"),
                peering_id=g.get("VpcPeeringConnectionId"),
                peering_status=g.get("PeeringStatus"),
            )
            for g in raw.get("UserIdGroupPairs", [])
        ],
    )


def parse_security_group(raw: Raw, viewer: str, region: str) -> SecurityGroup:
    return SecurityGroup(
        id=raw["GroupId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw.get("VpcId", ""),
        name=raw.get("GroupName", ""),
        description=raw.get("Description", ""),
        ingress=[parse_sg_rule(r) for r in raw.get("IpPermissions", [])],
        egress=[parse_sg_rule(r) for r in raw.get("IpPermissionsEgress", [])],
        tags=tags_of(raw),
    )


def parse_network_interface(raw: Raw, viewer: str, region: str) -> NetworkInterface:
    return NetworkInterface(
        id=raw["NetworkInterfaceId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw.get("VpcId", ""),
        subnet_id=raw.get("SubnetId"),
        status=raw.get("Status", ""),
        interface_type=raw.get("InterfaceType", "interface"),
        instance_id=raw.get("Attachment", {}).get("InstanceId"),
        requester_managed=bool(raw.get("RequesterManaged", False)),
        description=raw.get("Description", ""),
    )


def parse_flow_log(raw: Raw, viewer: str, region: str) -> FlowLog:
    return FlowLog(
        id=raw["FlowLogId"],
        account_id=viewer,
        region=region,
        resource_id=raw.get("ResourceId", ""),
        status=raw.get("FlowLogStatus", ""),
        deliver_logs_status=raw.get("DeliverLogsStatus"),
        traffic_type=raw.get("TrafficType", ""),
        destination_type=raw.get("LogDestinationType", ""),
    )


def parse_transit_gateway(raw: Raw, viewer: str, region: str) -> TransitGateway:
    return TransitGateway(
        id=raw["TransitGatewayId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        state=raw.get("State", ""),
        tags=tags_of(raw),
    )


def parse_endpoint_service(raw: Raw, viewer: str, region: str) -> EndpointService:
    types = [t.get("ServiceType", "") for t in raw.get("ServiceType", [])]
    return EndpointService(
        id=raw["ServiceId"],
        account_id=viewer,
        region=region,
        service_name=raw.get("ServiceName", ""),
        service_type=types[0] if types else "",
        state=raw.get("ServiceState", ""),
        acceptance_required=bool(raw.get("AcceptanceRequired", True)),
        tags=tags_of(raw),
    )


Parser = Callable[[Raw, str, str], Any]

# The first round: one paginated describe per resource type, parsed into a Snapshot list.
RESOURCE_CALLS: tuple[tuple[str, str, str, Parser], ...] = (
    ("vpcs", "describe_vpcs", "Vpcs", parse_vpc),
    ("subnets", "describe_subnets", "Subnets", parse_subnet),
    ("route_tables", "describe_route_tables", "RouteTables", parse_route_table),
    ("nat_gateways", "describe_nat_gateways", "NatGateways", parse_nat_gateway),
    ("internet_gateways", "describe_internet_gateways", "InternetGateways", parse_internet_gateway),
    ("endpoints", "describe_vpc_endpoints", "VpcEndpoints", parse_endpoint),
    (
        "peerings",
        "describe_vpc_peering_connections",
        "VpcPeeringConnections",
        parse_peering,
    ),
    ("security_groups", "describe_security_groups", "SecurityGroups", parse_security_group),
    (
        "network_interfaces",
        "describe_network_interfaces",
        "NetworkInterfaces",
        parse_network_interface,
    ),
    ("flow_logs", "describe_flow_logs", "FlowLogs", parse_flow_log),
    ("transit_gateways", "describe_transit_gateways", "TransitGateways", parse_transit_gateway),
)
# The endpoint services this account provides, read beside them.
ENDPOINT_SERVICES_CALL = (
    "endpoint_services",
    "describe_vpc_endpoint_service_configurations",
    "ServiceConfigurations",
    parse_endpoint_service,
)
