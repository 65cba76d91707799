"""Typed data passed between the pipeline stages.

Everything here is a plain dataclass that round-trips through JSON (see `auditor.serial`),
so a snapshot saved by one run can be re-audited offline by another.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

# Version 2 added coverage notes, transit gateway attachments and route tables, endpoint policy
# support and DNS options; version 3 network ACLs and the network interfaces' addresses and
# security groups. Older snapshots still read (the new fields take their defaults, and what
# they lack is unknown: `vpc-audit reach` says so). Fields added since with defaults that read
# as unknown (Subnet.enable_dns64, NatGateway.data_processed) kept the version.
SNAPSHOT_SCHEMA_VERSION = 3
READABLE_SNAPSHOT_VERSIONS = (1, 2, 3)
REPORT_SCHEMA_VERSION = 1

Tags = dict[str, str]


class Severity(enum.IntEnum):
    """Ordered so that `severity >= threshold` works for --fail-on."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    @classmethod
    def rank(cls, name: str | None) -> int:
        """The order of a severity named in a report (`info` 0 … `critical` 4); -1 for none."""
        member = cls.__members__.get((name or "").upper())
        return -1 if member is None else int(member)


# Severity names, most severe first: the order reports list and count them in.
SEVERITY_NAMES: tuple[str, ...] = tuple(str(s) for s in sorted(Severity, reverse=True))


def name_of(tags: Tags, default: str = "") -> str:
    return tags.get("Name", default)


# --- Resources (account_id is always the resource owner, not the account that saw it) ---


@dataclass
class Vpc:
    id: str
    account_id: str
    region: str
    cidr_blocks: list[str] = field(default_factory=list)
    ipv6_cidr_blocks: list[str] = field(default_factory=list)
    is_default: bool = False
    dns_support: bool | None = None
    dns_hostnames: bool | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class Subnet:
    id: str
    account_id: str
    region: str
    vpc_id: str
    cidr_block: str | None = None
    ipv6_cidr_blocks: list[str] = field(default_factory=list)
    availability_zone: str = ""
    # EnableDns64: the Route 53 Resolver synthesises 64:ff9b::/96 addresses for IPv4-only names.
    enable_dns64: bool | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class Route:
    """One route; exactly one destination field is set, target_type names the target's kind."""

    target_type: str
    target_id: str
    destination_cidr: str | None = None
    destination_ipv6_cidr: str | None = None
    destination_prefix_list_id: str | None = None
    state: str = "active"
    origin: str = "CreateRoute"

    @property
    def destination(self) -> str:
        return (
            self.destination_cidr
            or self.destination_ipv6_cidr
            or self.destination_prefix_list_id
            or "?"
        )


@dataclass
class RouteTableAssociation:
    id: str
    main: bool = False
    subnet_id: str | None = None
    gateway_id: str | None = None
    state: str = "associated"


@dataclass
class RouteTable:
    id: str
    account_id: str
    region: str
    vpc_id: str
    routes: list[Route] = field(default_factory=list)
    associations: list[RouteTableAssociation] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)


@dataclass
class NatGateway:
    id: str
    account_id: str
    region: str
    vpc_id: str
    subnet_id: str | None = None
    state: str = "available"
    connectivity_type: str = "public"
    tags: Tags = field(default_factory=dict)
    # What it processed over the collector's period (CloudWatch); None: not read (an older
    # snapshot, --no-cost, or GetMetricData refused: a coverage note says which).
    data_processed: DataProcessed | None = None


@dataclass
class DataProcessed:
    """The bytes a NAT gateway processed from `start` to `end` (UTC, RFC 3339): what it received
    from either side (AWS/NATGateway BytesInFromSource + BytesInFromDestination), since AWS
    charges NAT data processing in both directions. `data_points` 0: CloudWatch had no data in
    the period (an idle gateway), which is 0 bytes, not unknown."""

    bytes: int
    start: str
    end: str
    data_points: int = 0


@dataclass
class InternetGateway:
    id: str
    account_id: str
    region: str
    vpc_ids: list[str] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)


@dataclass
class Endpoint:
    id: str
    account_id: str
    region: str
    vpc_id: str
    endpoint_type: str
    service_name: str
    state: str = "available"
    route_table_ids: list[str] = field(default_factory=list)
    subnet_ids: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    private_dns_enabled: bool | None = None
    policy_document: str | None = None
    # VpcEndpointPolicySupported of the service (DescribeVpcEndpointServices); None: not known.
    policy_supported: bool | None = None
    # DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint (interface endpoints); None: not known.
    private_dns_only_for_inbound_resolver_endpoint: bool | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class PrefixList:
    id: str
    region: str
    name: str = ""
    owner_id: str = ""
    cidrs: list[str] = field(default_factory=list)


@dataclass
class PeeringSide:
    account_id: str
    region: str
    vpc_id: str
    cidr_blocks: list[str] = field(default_factory=list)
    ipv6_cidr_blocks: list[str] = field(default_factory=list)
    allow_dns_resolution_from_remote_vpc: bool | None = None


@dataclass
class Peering:
    id: str
    status: str
    requester: PeeringSide
    accepter: PeeringSide
    status_message: str = ""
    expiration_time: str | None = None
    tags: Tags = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.requester.account_id

    @property
    def region(self) -> str:
        return self.requester.region

    def sides(self) -> tuple[PeeringSide, PeeringSide]:
        return (self.requester, self.accepter)


@dataclass
class GroupReference:
    group_id: str
    user_id: str | None = None
    vpc_id: str | None = None
    peering_id: str | None = None
    peering_status: str | None = None


@dataclass
class SecurityGroupRule:
    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    cidrs: list[str] = field(default_factory=list)
    ipv6_cidrs: list[str] = field(default_factory=list)
    prefix_list_ids: list[str] = field(default_factory=list)
    groups: list[GroupReference] = field(default_factory=list)


@dataclass
class SecurityGroup:
    id: str
    account_id: str
    region: str
    vpc_id: str
    name: str = ""
    description: str = ""
    ingress: list[SecurityGroupRule] = field(default_factory=list)
    egress: list[SecurityGroupRule] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)


@dataclass
class NetworkInterface:
    """An ENI. They number tens of thousands in a region, so a snapshot writes only the fields
    that differ from their defaults (`compact`), and reads no tags or description."""

    compact: ClassVar[bool] = True

    id: str
    account_id: str
    region: str
    vpc_id: str
    subnet_id: str | None = None
    status: str = "in-use"
    interface_type: str = "interface"
    instance_id: str | None = None
    device_index: int = 0  # the attachment's; 0 is an instance's primary interface
    requester_managed: bool = False
    description: str = ""  # no longer read (version 3); kept so that older snapshots load
    # Private IPv4 addresses, the primary first; IPv6 addresses; the public IPv4 address.
    private_ips: list[str] = field(default_factory=list)
    ipv6_addresses: list[str] = field(default_factory=list)
    public_ip: str | None = None
    security_group_ids: list[str] = field(default_factory=list)


@dataclass
class NetworkAclEntry:
    """One numbered rule of a network ACL. `protocol` is AWS's number ("-1" all, "6" tcp,
    "17" udp, "1" icmp, "58" icmpv6); ports and ICMP type/code are None when not given (all)."""

    compact: ClassVar[bool] = True

    rule_number: int
    egress: bool
    protocol: str
    rule_action: str  # allow | deny
    cidr: str | None = None
    ipv6_cidr: str | None = None
    from_port: int | None = None
    to_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


@dataclass
class NetworkAcl:
    """A network ACL with the subnets associated with it (a subnet without an explicit
    association uses its VPC's default ACL). The final `*` deny rule is implied: AWS denies
    what no numbered rule matches."""

    id: str
    account_id: str
    region: str
    vpc_id: str
    is_default: bool = False
    subnet_ids: list[str] = field(default_factory=list)
    entries: list[NetworkAclEntry] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)


@dataclass
class FlowLog:
    id: str
    account_id: str
    region: str
    resource_id: str
    status: str = "ACTIVE"
    deliver_logs_status: str | None = None
    traffic_type: str = "ALL"
    destination_type: str = ""


@dataclass
class TransitGateway:
    """A transit gateway owned by, or shared (AWS RAM) with, an audited account; `account_id`
    is its owner. Options are None when not known (e.g. an older snapshot)."""

    id: str
    account_id: str
    region: str
    state: str = "available"
    dns_support: bool | None = None
    auto_accept_shared_attachments: bool | None = None
    default_route_table_association: bool | None = None
    default_route_table_propagation: bool | None = None
    association_default_route_table_id: str | None = None
    propagation_default_route_table_id: str | None = None
    # Accounts (or organisation / OU ARNs) it is shared with through AWS RAM; None: not read.
    shared_with: list[str] | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class TransitGatewayAttachment:
    """One attachment (vpc, peering, vpn, direct-connect-gateway, connect, ...) of a transit
    gateway. `account_id` is the transit gateway's owner, `resource_owner_id` the owner of what
    is attached (the VPC's account for a VPC attachment)."""

    id: str
    account_id: str
    region: str
    transit_gateway_id: str
    resource_type: str
    resource_id: str = ""
    resource_owner_id: str = ""
    state: str = "available"
    # The TGW route table the attachment is associated with (its traffic is routed by it).
    association_route_table_id: str | None = None
    # VPC attachments (DescribeTransitGatewayVpcAttachments): subnets, one per AZ, and options.
    subnet_ids: list[str] = field(default_factory=list)
    dns_support: bool | None = None
    appliance_mode_support: bool | None = None
    ipv6_support: bool | None = None
    # Peering attachments: the transit gateway on the other side, and whether this side
    # (transit_gateway_id) is the accepter, who must accept a pending request.
    peer_transit_gateway_id: str | None = None
    peer_account_id: str | None = None
    peer_region: str | None = None
    accepter_side: bool | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class TransitGatewayRoute:
    """One route of a TGW route table (SearchTransitGatewayRoutes). `route_type` is static or
    propagated; `state` active or blackhole; a blackhole route has no attachment."""

    route_type: str
    state: str = "active"
    destination_cidr: str | None = None
    destination_prefix_list_id: str | None = None
    attachment_ids: list[str] = field(default_factory=list)

    @property
    def destination(self) -> str:
        return self.destination_cidr or self.destination_prefix_list_id or "?"


@dataclass
class TransitGatewayRouteTable:
    """A TGW route table with its associations and routes (readable only by the
    transit gateway's owner). `routes_complete` is False when the routes could not all be read;
    the reason is then a coverage note, and rules must not treat a missing route as proof."""

    id: str
    account_id: str
    region: str
    transit_gateway_id: str
    state: str = "available"
    default_association: bool = False
    default_propagation: bool = False
    associations: list[str] = field(default_factory=list)  # attachment ids
    routes: list[TransitGatewayRoute] = field(default_factory=list)
    routes_complete: bool = True
    tags: Tags = field(default_factory=dict)


@dataclass
class EndpointService:
    """A PrivateLink service this account provides, with who may connect to it."""

    id: str
    account_id: str
    region: str
    service_name: str
    service_type: str = "Interface"
    state: str = "Available"
    acceptance_required: bool = True
    # None: not read. Read only where connections need no approval: elsewhere each one is
    # accepted by hand, whoever may ask (DescribeVpcEndpointServicePermissions takes one
    # service at a time).
    allowed_principals: list[str] | None = None
    tags: Tags = field(default_factory=dict)


@dataclass
class StaleGroupCheck:
    """DescribeStaleSecurityGroups' answer for one VPC: the groups whose rules reference
    security groups that are gone or across a peering that is no longer active."""

    id: str  # the VPC id
    account_id: str
    region: str
    stale_groups: list[SecurityGroup] = field(default_factory=list)


# --- Run-level records ---


@dataclass
class Coverage:
    """Whether one account-region was read completely; a failure is a value, not a crash."""

    account_id: str
    region: str
    status: str  # "ok" | "error"
    error: str | None = None


@dataclass
class CoverageNote:
    """Something the audit could not read although its account-region was read: the rules
    treat it as unknown, and the report says so instead of staying silent."""

    account_id: str
    region: str  # "" for an account-wide read (the organisation)
    subject: str  # what could not be read, e.g. "vpc-0abc enableDnsSupport"
    reason: str


@dataclass
class Scope:
    partition: str = "aws"
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    organization_id: str | None = None
    organization_accounts: list[str] = field(default_factory=list)


@dataclass
class Shard:
    """Which share of the account-regions a snapshot holds (`--shard INDEX/COUNT`, from 0)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class Snapshot:
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    tool_version: str = ""
    collected_at: str = ""
    scope: Scope = field(default_factory=Scope)
    coverage: list[Coverage] = field(default_factory=list)
    coverage_notes: list[CoverageNote] = field(default_factory=list)
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
    network_acls: list[NetworkAcl] = field(default_factory=list)
    flow_logs: list[FlowLog] = field(default_factory=list)
    transit_gateways: list[TransitGateway] = field(default_factory=list)
    transit_gateway_attachments: list[TransitGatewayAttachment] = field(default_factory=list)
    transit_gateway_route_tables: list[TransitGatewayRouteTable] = field(default_factory=list)
    endpoint_services: list[EndpointService] = field(default_factory=list)
    stale_group_checks: list[StaleGroupCheck] = field(default_factory=list)
    # Set only in a shard's snapshot: `vpc-audit merge` combines the shards of one audit.
    shard: Shard | None = None


@dataclass(frozen=True)
class RuleSettings:
    """What an audit policy tells the rules (trust, scope options); defaults are policy-free."""

    trusted_accounts: frozenset[str] = frozenset()
    trusted_organization_ids: frozenset[str] = frozenset()
    include_empty: bool = False
    # Data processing prices for the egress rules' cost, the first that has a region's wins
    # (the policy's, then the table shipped in policies/pricing); none: the cost is unknown.
    prices: tuple[Prices, ...] = ()


@dataclass(frozen=True)
class Prices:
    """USD per GB (2**30 bytes) of data processed, by region, for NAT gateways and transit
    gateways, with where the figures come from and their date (the report says both)."""

    nat_gateway_per_gb: Mapping[str, float]
    transit_gateway_per_gb: Mapping[str, float]
    source: str
    as_of: str


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    title: str
    account_id: str
    region: str
    resource_type: str
    resource_id: str
    vpc_id: str | None
    message: str
    remediation: str
    evidence: dict[str, object] = field(default_factory=dict)
    id: str = ""
    suppressed: bool = False
    suppression_reason: str | None = None
    suppression_expires: str | None = None
    # Complete AWS CLI commands that apply the fix, where AWS has a precise one: each is a
    # comment line naming the account and region to run it in, then the command (POSIX-quoted).
    remediation_commands: list[str] = field(default_factory=list)
