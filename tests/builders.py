"""Small hand-built snapshots for rule tests: a few lines describe a network."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from auditor.collect.ec2 import GATEWAY_PREFIXES
from auditor.model import (
    Coverage,
    Endpoint,
    GroupReference,
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
    Subnet,
    Vpc,
)

A, B = "111111111111", "222222222222"
R1, R2 = "us-east-1", "eu-west-1"
S3_CIDRS = ["52.216.0.0/15", "3.5.0.0/19"]
S3_PL = "pl-63a5400a"

TARGET_TYPES = {
    "nat-": "nat-gateway",
    "pcx-": "vpc-peering-connection",
    "tgw-": "transit-gateway",
    "eni-": "network-interface",
    "i-": "instance",
    **GATEWAY_PREFIXES,
}


def route(destination: str, target: str, **extra: Any) -> Route:
    kind = (
        "local"
        if target == "local"
        else next((k for prefix, k in TARGET_TYPES.items() if target.startswith(prefix)), "gateway")
    )
    if destination.startswith("pl-"):
        return Route(kind, target, destination_prefix_list_id=destination, **extra)
    if ":" in destination:
        return Route(kind, target, destination_ipv6_cidr=destination, **extra)
    return Route(kind, target, destination_cidr=destination, **extra)


def vpc(id: str, *cidrs: str, account: str = A, region: str = R1, **extra: Any) -> Vpc:
    return Vpc(
        id, account, region, cidr_blocks=list(cidrs), dns_support=True, dns_hostnames=True, **extra
    )


def subnet(
    id: str, vpc_id: str, cidr: str, account: str = A, region: str = R1, **extra: Any
) -> Subnet:
    return Subnet(id, account, region, vpc_id, cidr_block=cidr, **extra)


def table(
    id: str,
    vpc_id: str,
    *routes: Route,
    subnets: tuple[str, ...] = (),
    main: bool = False,
    account: str = A,
    region: str = R1,
    **extra: Any,
) -> RouteTable:
    associations = [RouteTableAssociation(f"rtbassoc-{id}-{s}", subnet_id=s) for s in subnets]
    if main:
        associations.append(RouteTableAssociation(f"rtbassoc-{id}-main", main=True))
    return RouteTable(id, account, region, vpc_id, list(routes), associations, **extra)


def side(
    vpc_id: str, *cidrs: str, account: str = A, region: str = R1, dns: bool | None = True
) -> PeeringSide:
    return PeeringSide(
        account, region, vpc_id, list(cidrs), allow_dns_resolution_from_remote_vpc=dns
    )


def peering(
    id: str, requester: PeeringSide, accepter: PeeringSide, status: str = "active", **extra: Any
) -> Peering:
    return Peering(id, status, requester, accepter, **extra)


def s3_endpoint(id: str, vpc_id: str, *tables: str, account: str = A, region: str = R1) -> Endpoint:
    return Endpoint(
        id,
        account,
        region,
        vpc_id,
        "Gateway",
        f"com.amazonaws.{region}.s3",
        route_table_ids=list(tables),
    )


def s3_prefix_list(region: str = R1) -> PrefixList:
    return PrefixList(
        S3_PL if region == R1 else f"{S3_PL}-{region}",
        region,
        f"com.amazonaws.{region}.s3",
        "AWS",
        S3_CIDRS,
    )


def eni(
    id: str,
    subnet_id: str,
    vpc_id: str,
    ip: str,
    *groups: str,
    account: str = A,
    region: str = R1,
    **extra: Any,
) -> NetworkInterface:
    """An instance's network interface (instance id: `i-` and the ENI id's tail)."""
    extra.setdefault("instance_id", "i-" + id.removeprefix("eni-"))
    return NetworkInterface(
        id,
        account,
        region,
        vpc_id,
        subnet_id,
        private_ips=[ip],
        security_group_ids=list(groups),
        **extra,
    )


def sg_rule(
    protocol: str = "-1", ports: tuple[int, int] | None = None, *peers: str
) -> SecurityGroupRule:
    """A rule allowing `peers`: CIDRs, prefix list ids (pl-) or group ids (sg-)."""
    low, high = ports or (None, None)
    return SecurityGroupRule(
        protocol,
        low,
        high,
        cidrs=[p for p in peers if "." in p],
        ipv6_cidrs=[p for p in peers if ":" in p],
        prefix_list_ids=[p for p in peers if p.startswith("pl-")],
        groups=[GroupReference(p) for p in peers if p.startswith("sg-")],
    )


OPEN_EGRESS = sg_rule("-1", None, "0.0.0.0/0")


def group(
    id: str,
    vpc_id: str,
    *ingress: SecurityGroupRule,
    egress: tuple[SecurityGroupRule, ...] = (OPEN_EGRESS,),
    account: str = A,
    region: str = R1,
) -> SecurityGroup:
    """A security group; egress open to everywhere unless given (AWS's default)."""
    return SecurityGroup(id, account, region, vpc_id, id, "", list(ingress), list(egress))


def acl_entry(
    number: int,
    egress: bool,
    action: str = "allow",
    cidr: str = "0.0.0.0/0",
    protocol: str = "-1",
    ports: tuple[int, int] | None = None,
) -> NetworkAclEntry:
    low, high = ports or (None, None)
    return NetworkAclEntry(number, egress, protocol, action, cidr, from_port=low, to_port=high)


def nacl(
    id: str,
    vpc_id: str,
    *entries: NetworkAclEntry,
    subnets: tuple[str, ...] = (),
    default: bool = False,
    account: str = A,
    region: str = R1,
) -> NetworkAcl:
    """A network ACL; with no entries, AWS's default one's: all allowed both ways. AWS lists its
    final `*` rules too (32767 for IPv4, 32768 for IPv6, deny all): so do these."""
    rules = list(entries) or [acl_entry(100, False), acl_entry(100, True)]
    final = [
        NetworkAclEntry(number, egress, "-1", "deny", cidr, ipv6)
        for egress in (False, True)
        for number, cidr, ipv6 in ((32767, "0.0.0.0/0", None), (32768, None, "::/0"))
    ]
    return NetworkAcl(id, account, region, vpc_id, default, list(subnets), rules + final)


def snapshot(*resources: Any, unaudited: tuple[tuple[str, str], ...] = ()) -> Snapshot:
    """A snapshot of these resources; every (account, region) they live in is audited unless listed."""
    lists = {
        typing.get_args(hint)[0]: name
        for name, hint in typing.get_type_hints(Snapshot).items()
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0])
    }
    snap = Snapshot()
    places = set()
    for item in resources:
        getattr(snap, lists[type(item)]).append(item)
        if hasattr(item, "account_id"):
            places.add((item.account_id, item.region))
    # A route to a NAT gateway the test did not spell out gets an available one, so that only
    # tests about dead targets need to think about it (they remove it).
    nats = {n.id for n in snap.nat_gateways}
    for t in snap.route_tables:
        for r in t.routes:
            if r.target_type == "nat-gateway" and r.target_id not in nats:
                nats.add(r.target_id)
                snap.nat_gateways.append(NatGateway(r.target_id, t.account_id, t.region, t.vpc_id))
    if not any(isinstance(r, PrefixList) for r in resources):
        snap.prefix_lists = [s3_prefix_list(R1), s3_prefix_list(R2)]
    snap.coverage = [
        Coverage(account, region, "error" if (account, region) in unaudited else "ok", None)
        for account, region in sorted(places | set(unaudited))
    ]
    return snap


def app_and_db(
    *,
    b_account: str = A,
    b_region: str = R1,
    status: str = "active",
    db_ingress: tuple[Any, ...] = (sg_rule("tcp", (5432, 5432), "10.1.0.0/16"),),
    app_egress: tuple[Any, ...] | None = None,
    acl_a: tuple[Any, ...] = (),
    acl_b: tuple[Any, ...] = (),
    a_routes: tuple[Any, ...] = (route("10.2.0.0/16", "pcx-1"),),
    b_routes: tuple[Any, ...] = (route("10.1.0.0/16", "pcx-1"),),
    own_acl_b: bool = False,
) -> list[Any]:
    """App (vpc-a 10.1.0.0/16, eni-app 10.1.1.10) and database (vpc-b 10.2.0.0/16, eni-db
    10.2.1.20) VPCs peered both ways (pcx-1), the database's group admitting the app VPC on 5432.
    `own_acl_b`: the database subnet's ACL is its own, beside vpc-b's default one (acl-b0)."""
    b = {"account": b_account, "region": b_region}
    app_group = (
        group("sg-app", "vpc-a")
        if app_egress is None
        else group("sg-app", "vpc-a", egress=app_egress)
    )
    acls_b = (
        [
            nacl("acl-b", "vpc-b", *acl_b, subnets=("subnet-b",), **b),
            nacl("acl-b0", "vpc-b", default=True, **b),
        ]
        if own_acl_b
        else [nacl("acl-b", "vpc-b", *acl_b, default=True, subnets=("subnet-b",), **b)]
    )
    return [
        vpc("vpc-a", "10.1.0.0/16"),
        subnet("subnet-a", "vpc-a", "10.1.1.0/24", availability_zone="us-east-1a"),
        vpc("vpc-b", "10.2.0.0/16", **b),
        subnet("subnet-b", "vpc-b", "10.2.1.0/24", **b),
        table("rtb-a", "vpc-a", route("10.1.0.0/16", "local"), *a_routes, main=True),
        table("rtb-b", "vpc-b", route("10.2.0.0/16", "local"), *b_routes, main=True, **b),
        peering("pcx-1", side("vpc-a", "10.1.0.0/16"), side("vpc-b", "10.2.0.0/16", **b), status),
        eni("eni-app", "subnet-a", "vpc-a", "10.1.1.10", "sg-app"),
        eni("eni-db", "subnet-b", "vpc-b", "10.2.1.20", "sg-db", **b),
        app_group,
        group("sg-db", "vpc-b", *db_ingress, **b),
        nacl("acl-a", "vpc-a", *acl_a, default=True, subnets=("subnet-a",)),
        *acls_b,
    ]  # fmt: skip
