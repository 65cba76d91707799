"""Read one account-region with a fixed number of paginated describe calls and parse the replies.

Parsing only translates AWS's shapes into the model; judging belongs to the rules.
No server-side filters: several endpoints ignore or lack them, so we fetch all and keep all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import botocore.exceptions
from botocore.parsers import ResponseParserError

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
    StaleGroupCheck,
    Subnet,
    TransitGateway,
    Vpc,
)

Raw = dict[str, Any]

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


@dataclass
class RegionView:
    """What one account saw in one region."""

    vpcs: list[Vpc] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    route_tables: list[RouteTable] = field(default_factory=list)
    nat_gateways: list[NatGateway] = field(default_factory=list)
    internet_gateways: list[InternetGateway] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    prefix_lists: list[PrefixList] = field(default_factory=list)
    peerings: list[Peering] = field(default_factory=list)
    security_groups: list[SecurityGroup] = field(default_factory=list)
    network_interfaces: list[NetworkInterface] = field(default_factory=list)
    flow_logs: list[FlowLog] = field(default_factory=list)
    transit_gateways: list[TransitGateway] = field(default_factory=list)
    endpoint_services: list[EndpointService] = field(default_factory=list)
    stale_group_checks: list[StaleGroupCheck] = field(default_factory=list)


def paginate(ec2: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Raw]:
    for page in ec2.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def read_region(ec2: Any, account_id: str, region: str) -> RegionView:
    """All networking state visible to `account_id` in `region`; raises on any failed call."""
    view = RegionView()
    view.vpcs = [parse_vpc(v, account_id, region) for v in paginate(ec2, "describe_vpcs", "Vpcs")]
    for vpc in view.vpcs:
        vpc.dns_support = vpc_attribute(ec2, vpc.id, "enableDnsSupport")
        vpc.dns_hostnames = vpc_attribute(ec2, vpc.id, "enableDnsHostnames")
    view.subnets = [
        parse_subnet(s, account_id, region) for s in paginate(ec2, "describe_subnets", "Subnets")
    ]
    view.route_tables = [
        parse_route_table(t, account_id, region)
        for t in paginate(ec2, "describe_route_tables", "RouteTables")
    ]
    view.nat_gateways = [
        parse_nat_gateway(n, account_id, region)
        for n in paginate(ec2, "describe_nat_gateways", "NatGateways")
    ]
    view.internet_gateways = [
        parse_internet_gateway(g, account_id, region)
        for g in paginate(ec2, "describe_internet_gateways", "InternetGateways")
    ]
    view.endpoints = [
        parse_endpoint(e, account_id, region)
        for e in paginate(ec2, "describe_vpc_endpoints", "VpcEndpoints")
    ]
    view.peerings = [
        parse_peering(p, account_id, region)
        for p in paginate(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections")
    ]
    view.security_groups = [
        parse_security_group(g, account_id, region)
        for g in paginate(ec2, "describe_security_groups", "SecurityGroups")
    ]
    view.network_interfaces = [
        parse_network_interface(n, account_id, region)
        for n in paginate(ec2, "describe_network_interfaces", "NetworkInterfaces")
    ]
    view.flow_logs = [
        parse_flow_log(f, account_id, region)
        for f in paginate(ec2, "describe_flow_logs", "FlowLogs")
    ]
    view.transit_gateways = [
        parse_transit_gateway(t, account_id, region)
        for t in paginate(ec2, "describe_transit_gateways", "TransitGateways")
    ]
    view.endpoint_services = read_endpoint_services(ec2, account_id, region)
    view.stale_group_checks = read_stale_groups(ec2, account_id, region, view)
    view.prefix_lists = read_prefix_lists(ec2, region, referenced_prefix_lists(view))
    return view


def read_stale_groups(
    ec2: Any, account_id: str, region: str, view: RegionView
) -> list[StaleGroupCheck]:
    """DescribeStaleSecurityGroups for each of our VPCs that has a peering (the API works per VPC).

    Where the endpoint does not offer it, return nothing: the rules then cross-reference
    security-group rules against peerings and groups themselves.
    """
    peered = {s.vpc_id for p in view.peerings for s in p.sides()}
    checks = []
    for vpc in view.vpcs:
        if vpc.id not in peered or vpc.account_id != account_id:
            continue
        try:
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
                for g in paginate(
                    ec2, "describe_stale_security_groups", "StaleSecurityGroupSet", VpcId=vpc.id
                )
            ]
        except (NotImplementedError, ResponseParserError, botocore.exceptions.ClientError):
            return []  # not offered or not permitted here: the rules cross-reference instead
        checks.append(StaleGroupCheck(vpc.id, account_id, region, groups))
    return checks


def read_endpoint_services(ec2: Any, account_id: str, region: str) -> list[EndpointService]:
    """Services this account provides, each with its allowed principals.

    The permissions API takes one service at a time: one call per service we own (usually few).
    """
    services = []
    for raw in paginate(
        ec2, "describe_vpc_endpoint_service_configurations", "ServiceConfigurations"
    ):
        service = parse_endpoint_service(raw, account_id, region)
        service.allowed_principals = [
            p["Principal"]
            for p in paginate(
                ec2,
                "describe_vpc_endpoint_service_permissions",
                "AllowedPrincipals",
                ServiceId=service.id,
            )
            if p.get("Principal")
        ]
        services.append(service)
    return services


def vpc_attribute(ec2: Any, vpc_id: str, attribute: str) -> bool | None:
    """One DNS flag; None (unknown) when this account may not read it, e.g. a RAM-shared VPC."""
    key = attribute[0].upper() + attribute[1:]
    try:
        reply = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
    except botocore.exceptions.ClientError:
        return None
    value = reply.get(key, {}).get("Value")
    return value if isinstance(value, bool) else None


def referenced_prefix_lists(view: RegionView) -> set[str]:
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


def read_prefix_lists(ec2: Any, region: str, referenced: set[str]) -> list[PrefixList]:
    """The region's S3/DynamoDB lists and every referenced list, each with its CIDRs.

    DescribePrefixLists returns AWS service lists with CIDRs in one call; only lists still
    without CIDRs (customer-managed ones) need GetManagedPrefixListEntries each.
    """
    wanted_names = {f"com.amazonaws.{region}.{service}" for service in MANAGED_SERVICES}
    found: dict[str, PrefixList] = {}
    for raw in paginate(ec2, "describe_managed_prefix_lists", "PrefixLists"):
        if raw["PrefixListId"] in referenced or raw.get("PrefixListName") in wanted_names:
            found[raw["PrefixListId"]] = PrefixList(
                id=raw["PrefixListId"],
                region=region,
                name=raw.get("PrefixListName", ""),
                owner_id=raw.get("OwnerId", ""),
            )
    for raw in paginate(ec2, "describe_prefix_lists", "PrefixLists"):
        pl_id = raw["PrefixListId"]
        if pl_id in referenced or raw.get("PrefixListName") in wanted_names:
            entry = found.setdefault(
                pl_id,
                PrefixList(
                    id=pl_id, region=region, name=raw.get("PrefixListName", ""), owner_id="AWS"
                ),
            )
            entry.cidrs = list(raw.get("Cidrs", []))
    for entry in found.values():
        if not entry.cidrs:
            entry.cidrs = [
                e["Cidr"]
                for e in paginate(
                    ec2, "get_managed_prefix_list_entries", "Entries", PrefixListId=entry.id
                )
            ]
    return sorted(found.values(), key=lambda p: p.id)


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
