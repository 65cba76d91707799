"""Read one account-region into a Snapshot (only its resource lists filled), and parse the replies.

The calls come in rounds: first one paginated describe per resource type (a fixed number,
whatever the size of the estate), then the few calls that need a first-round answer: the DNS
flags of each VPC (DescribeVpcAttribute, two per VPC: the API takes one VPC and one attribute),
who may connect to each endpoint service the account owns that accepts connections without
approval, stale security groups of each VPC whose group rules reference a group of an account
this audit does not read, and the entries of each referenced prefix list that is not an AWS
service list. None of these four APIs takes more than one resource at a time. Besides them,
once per account-region: which services support endpoint policies (DescribeVpcEndpointServices,
for the services of the account-region's endpoints), who the transit gateways it owns are shared with
(AWS RAM) and what its NAT gateways processed (CloudWatch, metrics.py); and one
SearchTransitGatewayRoutes per route table of those transit gateways (only
the owner may read them; the API takes one table at a time). A table's associations come from
its attachments' Association, read with the attachments.
The calls of one round do not depend on each other; `run` decides how many go at once.

A failed call fails the account-region, except the reads that only add detail (the DNS flags,
endpoint policy support, transit gateway sharing, NAT gateway metrics): their failure is a
CoverageNote and what they would have filled stays unknown (None).

Parsing only translates AWS's shapes into the model; judging belongs to the rules.
No server-side filters: several endpoints ignore or lack them, so we fetch all and keep all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import botocore.exceptions
from botocore.parsers import ResponseParserError

from auditor.collect.metrics import SUBJECT as METRICS_SUBJECT
from auditor.collect.metrics import nat_data_processed, set_data_processed
from auditor.collect.sessions import AWS_FAILURES, error_code, one_line
from auditor.model import (
    CoverageNote,
    Endpoint,
    EndpointService,
    FlowLog,
    GroupReference,
    InternetGateway,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
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
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
    Vpc,
)

log = logging.getLogger(__name__)

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
    ram: Callable[[], Any] | None = None,
    cloudwatch: Callable[[], Any] | None = None,
) -> Snapshot:
    """All networking state visible to `account_id` in `region`; raises on any failed call
    but those that only add detail (see the module's docstring).

    `audited`: the accounts this audit reads (whose security groups the rules see).

    `service_lists` gives the region's AWS service prefix lists (DescribePrefixLists, the same
    for every account of a region) when the caller reads them once for the region: it is
    asked only after the first round, so that read runs meanwhile. When it gives None (that
    read failed), or without it, they are read here.

    `ram` makes the account-region's AWS RAM client, asked only where the account owns a
    transit gateway; without it, whom they are shared with stays unknown.

    `cloudwatch` makes its CloudWatch client, asked only where the account owns a working NAT
    gateway (what each processed: metrics.py); without it (--no-cost), that stays unknown.
    """
    view = Snapshot()
    first = [
        Read(view, partial(read_list, ec2, operation, key, parse, account_id, region), setter(name))
        for name, operation, key, parse in (*RESOURCE_CALLS, ENDPOINT_SERVICES_CALL)
    ]
    details: dict[str, dict[str, Raw]] = {}
    first += [
        Read(details, partial(by_attachment_id, ec2, operation, key), partial(set_item, kind))
        for kind, operation, key in ATTACHMENT_DETAIL_CALLS
    ]
    # Network ACLs only add detail (reach's hops): a refusal leaves them unknown, noted.
    first.append(
        Read(
            view,
            partial(read_list, ec2, *NETWORK_ACLS_CALL, account_id, region),
            set_network_acls,
            unknown=NETWORK_ACLS_SUBJECT,
        )
    )
    found: list[Sequence[PrefixList] | None] = []
    if service_lists is None:
        first.append(Read(found, partial(aws_service_lists, ec2, region), list.append))
    note(view, account_id, region, run_reads(run, first))
    shared = service_lists() if service_lists is not None else found[0]
    aws_lists = list(shared) if shared is not None else aws_service_lists(ec2, region)
    for attachment in view.transit_gateway_attachments:
        add_attachment_details(attachment, details)
    # Only the owner may read a transit gateway's route tables; a shared one is a boundary.
    own_tgws = [t for t in view.transit_gateways if t.account_id == account_id]
    own_ids = {t.id for t in own_tgws}
    view.transit_gateway_route_tables = [
        t for t in view.transit_gateway_route_tables if t.transit_gateway_id in own_ids
    ]

    # Second round: the calls that need a first-round answer, all independent of each other.
    second: list[Read] = []
    for vpc in view.vpcs:
        # A refusal for a VPC shared by an audited owner says nothing: the owner's read fills it.
        quiet = vpc.account_id != account_id and vpc.account_id in audited
        for attribute, field in (
            ("enableDnsSupport", "dns_support"),
            ("enableDnsHostnames", "dns_hostnames"),
        ):
            call = partial(vpc_attribute, ec2, vpc.id, attribute, quiet)
            second.append(Read(vpc, call, setter(field), unknown=f"{vpc.id} {attribute}"))
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
    services = sorted({e.service_name for e in view.endpoints if e.service_name})
    for i in range(0, len(services), FILTER_VALUES):
        names = services[i : i + FILTER_VALUES]
        endpoints = [e for e in view.endpoints if e.service_name in names]
        support = partial(policy_support, ec2, names)
        second.append(Read(endpoints, support, set_policy_support, unknown=POLICY_SUBJECT))
    if own_tgws and ram is not None:
        shares = partial(tgw_shares, ram, [t.id for t in own_tgws])
        second.append(Read(own_tgws, shares, set_shared_with, unknown=SHARING_SUBJECT))
    nats = [n for n in view.nat_gateways if n.account_id == account_id and n.state == "available"]
    if nats and cloudwatch is not None:
        processed = partial(nat_data_processed, cloudwatch, [n.id for n in nats])
        second.append(Read(nats, processed, set_data_processed, unknown=METRICS_SUBJECT))
    associate_from_attachments(view)
    second += [
        Read(table, partial(tgw_routes, ec2, table.id), set_routes)
        for table in view.transit_gateway_route_tables
    ]
    note(view, account_id, region, run_reads(run, second))

    # Last round: the other VPCs' stale groups, only where the API is offered, and the prefix
    # lists that only hub routes name (known once the hub tables are read).
    last: list[Read] = []
    if checks and checks[0] is not None:
        last += [
            Read(checks, partial(stale_groups, ec2, v, account_id, region), list.append)
            for v in stale_vpcs[1:]
        ]
    hub_lists = {
        r.destination_prefix_list_id
        for t in view.transit_gateway_route_tables
        for r in t.routes
        if r.destination_prefix_list_id
    } - referenced
    last += [
        Read(customer, partial(customer_list, ec2, pl_id, region), append_known)
        for pl_id in sorted(hub_lists - set(known))
    ]
    referenced |= hub_lists
    if last:
        run_reads(run, last)
    # Where the API is not offered, or not asked, record nothing: the rules cross-reference
    # security-group rules against the peerings and groups of the audited accounts themselves.
    view.stale_group_checks = (
        [] if any(c is None for c in checks) else [c for c in checks if c is not None]
    )
    view.prefix_lists = region_prefix_lists(region, aws_lists, known, customer, referenced)
    view.coverage_notes += [
        CoverageNote(account_id, region, f"{t.id} routes", TRUNCATED)
        for t in view.transit_gateway_route_tables
        if not t.routes_complete
    ]
    return view


@dataclass(frozen=True)
class Read:
    """One call of a round, declared with the resource it belongs to: `apply(resource,
    answer)` puts the call's answer there, so no answer is matched to its call by position.

    `unknown` names what the read fills for a coverage note: such a read only adds detail, and
    its failure leaves that unknown (the answer is None) instead of failing the account-region.
    """

    resource: Any
    call: Callable[[], Any]
    apply: Callable[[Any, Any], None]
    unknown: str = ""


@dataclass(frozen=True)
class Failed:
    """What a read that only adds detail gives when its call failed: why, in one line."""

    reason: str


def run_reads(run: Runner, reads: Sequence[Read]) -> list[tuple[str, str]]:
    """Run independent reads through `run` (which decides how many go at once) and apply each
    answer to its own resource. Raises the first (in order) failure of a read that must not
    fail, applying nothing; returns (what is unknown, why) for each other read that failed."""
    answers = run([r.call if not r.unknown else partial(or_failed, r.call) for r in reads])
    failed = []
    for read, answer in zip(reads, answers, strict=True):
        if isinstance(answer, Failed):
            failed.append((read.unknown, answer.reason))
            answer = None
        read.apply(read.resource, answer)
    return failed


def or_failed(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except AWS_FAILURES as exc:
        return Failed(one_line(exc))


def note(view: Snapshot, account_id: str, region: str, failed: list[tuple[str, str]]) -> None:
    """Coverage notes for what the failed reads left unknown (the report shows them)."""
    for subject, reason in failed:
        log.info("%s/%s: %s not read: %s", account_id, region, subject, reason)
        view.coverage_notes.append(CoverageNote(account_id, region, subject, reason))


def setter(name: str) -> Callable[[Any, Any], None]:
    """An `apply` that sets the resource's field `name` to the answer."""
    return lambda resource, value: setattr(resource, name, value)


def set_network_acls(view: Snapshot, acls: list[NetworkAcl] | None) -> None:
    """Unread ACLs stay an empty list: every VPC has a default ACL, so a VPC with none in the
    snapshot is one whose ACLs are unknown (as in snapshots from before version 3)."""
    view.network_acls = acls or []


def set_item(key: str, mapping: dict[str, Any], value: Any) -> None:
    mapping[key] = value


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
    """One DNS flag; raises when it cannot be read (read_region notes it as unknown). `shared`:
    a VPC shared with this account (RAM) by an owner whose own read fills it in, so that a
    refusal is simply unknown (None)."""
    key = attribute[0].upper() + attribute[1:]
    try:
        reply = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
    except botocore.exceptions.ClientError as exc:
        # A VPC deleted since DescribeVpcs is as good as unknown; nothing to note.
        if shared or error_code(exc) == "InvalidVpcID.NotFound":
            return None
        raise
    value = reply.get(key, {}).get("Value")
    return value if isinstance(value, bool) else None


def policy_support(ec2: Any, names: Sequence[str]) -> dict[str, bool]:
    """VpcEndpointPolicySupported of these services, by name. A filter rather than ServiceNames,
    which fails the call on the name of a service that is gone; an endpoint that ignored the
    filter would answer every service, which maps the same way."""
    return {
        raw["ServiceName"]: raw["VpcEndpointPolicySupported"]
        for raw in paginate(
            ec2,
            "describe_vpc_endpoint_services",
            "ServiceDetails",
            Filters=[{"Name": "service-name", "Values": list(names)}],
        )
        if "ServiceName" in raw and isinstance(raw.get("VpcEndpointPolicySupported"), bool)
    }


def set_policy_support(endpoints: list[Endpoint], supported: dict[str, bool] | None) -> None:
    for endpoint in endpoints:  # a service not answered (gone, or no longer ours) stays unknown
        endpoint.policy_supported = (supported or {}).get(endpoint.service_name)


def tgw_shares(ram: Callable[[], Any], tgw_ids: Sequence[str]) -> dict[str, list[str]]:
    """Whom each of these transit gateways (the account's own) is shared with through AWS RAM:
    accounts, organisation and OU ARNs. Two calls (the shares' resources, their principals)
    whatever the number of shares."""
    client = ram()

    def associated(kind: str) -> list[Raw]:
        return [
            a
            for page in client.get_paginator("get_resource_share_associations").paginate(
                associationType=kind, associationStatus="ASSOCIATED"
            )
            for a in page.get("resourceShareAssociations", [])
        ]

    shares: dict[str, set[str]] = {}
    for a in associated("RESOURCE"):
        tgw_id = a.get("associatedEntity", "").rsplit("/", 1)[-1]
        if ":transit-gateway/" in a.get("associatedEntity", "") and tgw_id in tgw_ids:
            shares.setdefault(a["resourceShareArn"], set()).add(tgw_id)
    shared_with: dict[str, set[str]] = {tgw_id: set() for tgw_id in tgw_ids}
    for a in associated("PRINCIPAL") if shares else ():
        for tgw_id in shares.get(a.get("resourceShareArn", ""), ()):
            shared_with[tgw_id].add(a["associatedEntity"])
    return {tgw_id: sorted(principals) for tgw_id, principals in shared_with.items()}


def set_shared_with(tgws: list[TransitGateway], shares: dict[str, list[str]] | None) -> None:
    for tgw in tgws:
        tgw.shared_with = None if shares is None else shares.get(tgw.id, [])


def associate_from_attachments(view: Snapshot) -> None:
    """Each owned route table's associations, from its attachments' Association (which
    DescribeTransitGatewayAttachments returns): no per-table call needed."""
    tables = {t.id: t for t in view.transit_gateway_route_tables}
    for attachment in view.transit_gateway_attachments:
        table = tables.get(attachment.association_route_table_id or "")
        if table is not None:
            table.associations.append(attachment.id)


def tgw_routes(ec2: Any, table_id: str) -> tuple[list[TransitGatewayRoute], bool]:
    """A TGW route table's static and propagated routes (blackholes included), and whether
    that is all of them. A search answers at most 1,000 routes and says when more exist
    (AdditionalRoutesAvailable); the rest are read through NextToken. An answer that says
    more exist but gives no token to read them leaves the routes incomplete."""
    routes: list[TransitGatewayRoute] = []
    token: dict[str, str] = {}
    while True:
        page = ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=table_id, Filters=ROUTE_TYPES, **token
        )
        routes += [parse_tgw_route(raw) for raw in page.get("Routes", [])]
        if not page.get("NextToken"):
            return routes, not page.get("AdditionalRoutesAvailable", False)
        token = {"NextToken": page["NextToken"]}


def set_routes(
    table: TransitGatewayRouteTable, found: tuple[list[TransitGatewayRoute], bool]
) -> None:
    table.routes, table.routes_complete = found


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
        private_dns_only_for_inbound_resolver_endpoint=flag(
            raw.get("DnsOptions", {}).get("PrivateDnsOnlyForInboundResolverEndpoint")
        ),
        tags=tags_of(raw),
    )


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


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
    """What `reach` needs of an ENI (addresses, groups, attachment), no tags or description:
    a region can hold tens of thousands."""
    attachment = raw.get("Attachment") or {}
    primary_first = sorted(raw.get("PrivateIpAddresses") or [], key=lambda a: not a.get("Primary"))
    private = [a["PrivateIpAddress"] for a in primary_first if a.get("PrivateIpAddress")]
    if not private and raw.get("PrivateIpAddress"):
        private = [raw["PrivateIpAddress"]]
    return NetworkInterface(
        id=raw["NetworkInterfaceId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw.get("VpcId", ""),
        subnet_id=raw.get("SubnetId"),
        status=raw.get("Status", ""),
        interface_type=raw.get("InterfaceType", "interface"),
        instance_id=attachment.get("InstanceId"),
        device_index=int(attachment.get("DeviceIndex") or 0),
        requester_managed=bool(raw.get("RequesterManaged", False)),
        private_ips=private,
        ipv6_addresses=[
            a["Ipv6Address"] for a in raw.get("Ipv6Addresses", []) if a.get("Ipv6Address")
        ],
        public_ip=(raw.get("Association") or {}).get("PublicIp"),
        security_group_ids=[g["GroupId"] for g in raw.get("Groups", []) if g.get("GroupId")],
    )


def parse_network_acl(raw: Raw, viewer: str, region: str) -> NetworkAcl:
    return NetworkAcl(
        id=raw["NetworkAclId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        vpc_id=raw.get("VpcId", ""),
        is_default=bool(raw.get("IsDefault", False)),
        subnet_ids=[a["SubnetId"] for a in raw.get("Associations", []) if a.get("SubnetId")],
        entries=[parse_nacl_entry(e) for e in raw.get("Entries", [])],
        tags=tags_of(raw),
    )


def parse_nacl_entry(raw: Raw) -> NetworkAclEntry:
    ports = raw.get("PortRange") or {}
    icmp = raw.get("IcmpTypeCode") or {}
    return NetworkAclEntry(
        rule_number=int(raw.get("RuleNumber", 0)),
        egress=bool(raw.get("Egress", False)),
        protocol=str(raw.get("Protocol", "-1")),
        rule_action=str(raw.get("RuleAction", "deny")),
        cidr=raw.get("CidrBlock"),
        ipv6_cidr=raw.get("Ipv6CidrBlock"),
        from_port=ports.get("From"),
        to_port=ports.get("To"),
        icmp_type=icmp.get("Type"),
        icmp_code=icmp.get("Code"),
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


def enabled(value: Any) -> bool | None:
    """An `enable` / `disable` option as a flag; None when absent or unknown."""
    return {"enable": True, "disable": False}.get(value) if isinstance(value, str) else None


def parse_transit_gateway(raw: Raw, viewer: str, region: str) -> TransitGateway:
    options = raw.get("Options", {})
    return TransitGateway(
        id=raw["TransitGatewayId"],
        account_id=raw.get("OwnerId", viewer),
        region=region,
        state=raw.get("State", ""),
        dns_support=enabled(options.get("DnsSupport")),
        auto_accept_shared_attachments=enabled(options.get("AutoAcceptSharedAttachments")),
        default_route_table_association=enabled(options.get("DefaultRouteTableAssociation")),
        default_route_table_propagation=enabled(options.get("DefaultRouteTablePropagation")),
        association_default_route_table_id=options.get("AssociationDefaultRouteTableId"),
        propagation_default_route_table_id=options.get("PropagationDefaultRouteTableId"),
        tags=tags_of(raw),
    )


def parse_tgw_attachment(raw: Raw, viewer: str, region: str) -> TransitGatewayAttachment:
    """DescribeTransitGatewayAttachments' view of any attachment; a VPN, Direct Connect
    gateway or Connect attachment is an opaque next hop (its type and resource id)."""
    association = raw.get("Association") or {}
    return TransitGatewayAttachment(
        id=raw["TransitGatewayAttachmentId"],
        account_id=raw.get("TransitGatewayOwnerId", viewer),
        region=region,
        transit_gateway_id=raw.get("TransitGatewayId", ""),
        resource_type=raw.get("ResourceType", ""),
        resource_id=raw.get("ResourceId", ""),
        resource_owner_id=raw.get("ResourceOwnerId", ""),
        state=raw.get("State", ""),
        association_route_table_id=(
            association.get("TransitGatewayRouteTableId")
            if association.get("State") != "disassociated"
            else None
        ),
        tags=tags_of(raw),
    )


def by_attachment_id(ec2: Any, operation: str, key: str) -> dict[str, Raw]:
    return {raw["TransitGatewayAttachmentId"]: raw for raw in paginate(ec2, operation, key)}


def add_attachment_details(
    attachment: TransitGatewayAttachment, details: dict[str, dict[str, Raw]]
) -> None:
    """What the VPC and peering attachment describes add to an attachment: a VPC attachment's
    subnets and options, a peering attachment's other side (the side whose transit gateway
    is not this attachment's)."""
    vpc = details.get("vpc", {}).get(attachment.id)
    if vpc is not None:
        options = vpc.get("Options", {})
        attachment.subnet_ids = list(vpc.get("SubnetIds", []))
        attachment.dns_support = enabled(options.get("DnsSupport"))
        attachment.appliance_mode_support = enabled(options.get("ApplianceModeSupport"))
        attachment.ipv6_support = enabled(options.get("Ipv6Support"))
    peering = details.get("peering", {}).get(attachment.id)
    if peering is not None:
        requester = peering.get("RequesterTgwInfo", {})
        accepter = peering.get("AccepterTgwInfo", {})
        ours = requester.get("TransitGatewayId") == attachment.transit_gateway_id
        peer = accepter if ours else requester
        attachment.peer_transit_gateway_id = peer.get("TransitGatewayId")
        attachment.peer_account_id = peer.get("OwnerId")
        attachment.peer_region = peer.get("Region")
        attachment.accepter_side = not ours


def parse_tgw_route_table(raw: Raw, viewer: str, region: str) -> TransitGatewayRouteTable:
    return TransitGatewayRouteTable(
        id=raw["TransitGatewayRouteTableId"],
        account_id=viewer,  # only the transit gateway's owner reads its tables
        region=region,
        transit_gateway_id=raw.get("TransitGatewayId", ""),
        state=raw.get("State", ""),
        default_association=bool(raw.get("DefaultAssociationRouteTable", False)),
        default_propagation=bool(raw.get("DefaultPropagationRouteTable", False)),
        tags=tags_of(raw),
    )


def parse_tgw_route(raw: Raw) -> TransitGatewayRoute:
    return TransitGatewayRoute(
        route_type=raw.get("Type", ""),
        state=raw.get("State", ""),
        destination_cidr=raw.get("DestinationCidrBlock"),
        destination_prefix_list_id=raw.get("PrefixListId"),
        attachment_ids=[
            a["TransitGatewayAttachmentId"]
            for a in raw.get("TransitGatewayAttachments", [])
            if a.get("TransitGatewayAttachmentId")
        ],
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
    (
        "transit_gateway_attachments",
        "describe_transit_gateway_attachments",
        "TransitGatewayAttachments",
        parse_tgw_attachment,
    ),
    (
        "transit_gateway_route_tables",
        "describe_transit_gateway_route_tables",
        "TransitGatewayRouteTables",
        parse_tgw_route_table,
    ),
)
# What the VPC and peering attachments add to DescribeTransitGatewayAttachments' answer.
ATTACHMENT_DETAIL_CALLS = (
    ("vpc", "describe_transit_gateway_vpc_attachments", "TransitGatewayVpcAttachments"),
    (
        "peering",
        "describe_transit_gateway_peering_attachments",
        "TransitGatewayPeeringAttachments",
    ),
)
# SearchTransitGatewayRoutes needs a filter: every route but the system's.
ROUTE_TYPES = [{"Name": "type", "Values": ["static", "propagated"]}]
TRUNCATED = (
    "SearchTransitGatewayRoutes said more routes exist but gave no NextToken to read them: "
    "the table's routes are incomplete"
)
# Values per filter in one call (EC2 takes up to 200).
FILTER_VALUES = 200
POLICY_SUBJECT = "endpoint services' policy support (DescribeVpcEndpointServices)"
SHARING_SUBJECT = "transit gateway sharing (AWS RAM)"
# The endpoint services this account provides, read beside them.
ENDPOINT_SERVICES_CALL = (
    "endpoint_services",
    "describe_vpc_endpoint_service_configurations",
    "ServiceConfigurations",
    parse_endpoint_service,
)
NETWORK_ACLS_SUBJECT = "network ACLs (DescribeNetworkAcls)"
NETWORK_ACLS_CALL = ("describe_network_acls", "NetworkAcls", parse_network_acl)
