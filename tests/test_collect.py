"""The collector against a moto server: what it reads, how it merges views, how it records gaps.

Every test that touches AWS uses the `aws` fixture (a wiped moto server reached through
AWS_ENDPOINT_URL); set-ups are built with plain boto3 clients and kept small.
"""

from __future__ import annotations

import gc
import itertools
import json
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore
import botocore.credentials
import botocore.exceptions
import pytest
from botocore.parsers import ResponseParserError
from botocore.stub import Stubber

import auditor.collect
import auditor.collect.ec2
import auditor.collect.fanout
import auditor.collect.sessions
from auditor import __version__
from auditor.collect import Request, collect
from auditor.collect.ec2 import (
    parse_endpoint,
    parse_peering,
    parse_route,
    parse_sg_rule,
    parse_vpc,
    vpcs_referencing_unaudited,
)
from auditor.collect.merge import merge_views
from auditor.collect.sessions import (
    Identity,
    base_session,
    enabled_regions,
    identify,
)
from auditor.errors import InputError
from auditor.model import (
    Coverage,
    GroupReference,
    PrefixList,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Shard,
    Snapshot,
    Vpc,
)
from auditor.serial import dumps, from_jsonable
from tests.faults import Call, Fault, FaultServer

A, B, C = "123456789012", "222222222222", "333333333333"
USE1, EUW1, USW2 = "us-east-1", "eu-west-1", "us-west-2"
ROLE = "VpcAuditTestRole"


# --- helpers ---------------------------------------------------------------------------------


def refusing(action: str, code: str, message: str) -> Callable[[Call], Fault | None]:
    """A fault hook that answers every `action` call with the AWS error `code`."""
    return lambda call: Fault.error(code, message) if call.action == action else None


def creds(account: str) -> dict[str, str]:
    """Client kwargs acting in `account` (moto: any assumed role acts in its account)."""
    if account == A:
        return {}
    c = boto3.client("sts", region_name=USE1).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/X", RoleSessionName="test-setup"
    )["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def ec2(region: str = USE1, account: str = A) -> Any:
    return boto3.client("ec2", region_name=region, **creds(account))


def tag(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def new_vpc(client: Any, cidr: str, name: str = "") -> str:
    kwargs: dict[str, Any] = {"CidrBlock": cidr}
    if name:
        kwargs["TagSpecifications"] = tag("vpc", name)
    return str(client.create_vpc(**kwargs)["Vpc"]["VpcId"])


def new_subnet(client: Any, vpc: str, cidr: str) -> str:
    return str(client.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])


def main_table_id(client: Any, vpc: str) -> str:
    tables = client.describe_route_tables()["RouteTables"]
    return str(
        next(
            t["RouteTableId"]
            for t in tables
            if t["VpcId"] == vpc and any(a.get("Main") for a in t.get("Associations", []))
        )
    )


def by_id(items: list[Any]) -> dict[str, Any]:
    return {i.id: i for i in items}


def one(items: list[Any], item_id: str) -> Any:
    found = [i for i in items if i.id == item_id]
    assert len(found) == 1, f"{item_id}: {len(found)} copies"
    return found[0]


def client_error(code: str, operation: str, message: str = "") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


def audit_base(*regions: str) -> Snapshot:
    return collect(Request(regions=regions or (USE1,)))


# --- VPCs ------------------------------------------------------------------------------------


def test_vpcs_cidrs_dns_flags_default_and_tags(aws: FaultServer) -> None:
    client = ec2()
    vpc1 = new_vpc(client, "10.1.0.0/16", "shop")
    client.associate_vpc_cidr_block(VpcId=vpc1, CidrBlock="10.2.0.0/16")
    client.modify_vpc_attribute(VpcId=vpc1, EnableDnsHostnames={"Value": True})
    vpc2 = new_vpc(client, "10.3.0.0/16")
    client.modify_vpc_attribute(VpcId=vpc2, EnableDnsSupport={"Value": False})

    snap = audit_base()

    vpcs = by_id(snap.vpcs)
    first, second = vpcs[vpc1], vpcs[vpc2]
    assert sorted(first.cidr_blocks) == ["10.1.0.0/16", "10.2.0.0/16"]
    assert (first.dns_support, first.dns_hostnames) == (True, True)
    assert first.tags == {"Name": "shop"}
    assert (first.account_id, first.region, first.is_default) == (A, USE1, False)
    assert second.cidr_blocks == ["10.3.0.0/16"]
    assert (second.dns_support, second.dns_hostnames) == (False, False)
    assert second.tags == {}
    (default,) = [v for v in snap.vpcs if v.is_default]
    assert default.id not in (vpc1, vpc2)
    # moto's default VPC, like AWS's, has both DNS flags on.
    assert (default.dns_support, default.dns_hostnames) == (True, True)


def test_a_new_vpc_has_hostnames_off_support_on(aws: FaultServer) -> None:
    """Distinguishes the two flags: a reader that swapped them would report (False, True)."""
    vpc = new_vpc(ec2(), "10.1.0.0/16")
    found = by_id(audit_base().vpcs)[vpc]
    assert (found.dns_support, found.dns_hostnames) == (True, False)


def test_subnets_and_internet_gateways(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    subnet = client.create_subnet(
        VpcId=vpc,
        CidrBlock="10.1.1.0/24",
        AvailabilityZone="us-east-1b",
        TagSpecifications=tag("subnet", "app"),
    )["Subnet"]["SubnetId"]
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    detached = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]

    snap = audit_base()

    found = by_id(snap.subnets)[subnet]
    assert (found.vpc_id, found.cidr_block, found.availability_zone) == (
        vpc,
        "10.1.1.0/24",
        "us-east-1b",
    )
    assert (found.account_id, found.region, found.tags) == (A, USE1, {"Name": "app"})
    gateways = by_id(snap.internet_gateways)
    assert gateways[igw].vpc_ids == [vpc]
    assert gateways[detached].vpc_ids == []


# --- route tables ----------------------------------------------------------------------------


def test_route_tables_associations_and_route_targets(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    peer_vpc = new_vpc(client, "10.9.0.0/16")
    public = new_subnet(client, vpc, "10.1.0.0/24")
    private = new_subnet(client, vpc, "10.1.1.0/24")
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = client.allocate_address(Domain="vpc")["AllocationId"]
    nat = client.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    pcx = client.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer_vpc)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    client.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)

    main = main_table_id(client, vpc)
    client.create_tags(Resources=[main], Tags=[{"Key": "Name", "Value": "main"}])
    client.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assoc = client.associate_route_table(RouteTableId=rtb, SubnetId=private)["AssociationId"]
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    client.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.9.0.0/16", VpcPeeringConnectionId=pcx
    )
    vpce = client.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.s3",
        RouteTableIds=[rtb],
    )["VpcEndpoint"]["VpcEndpointId"]

    snap = audit_base()
    tables = by_id(snap.route_tables)

    main_table = tables[main]
    assert (main_table.vpc_id, main_table.account_id, main_table.region) == (vpc, A, USE1)
    assert main_table.tags == {"Name": "main"}
    (main_assoc,) = main_table.associations
    assert main_assoc.main is True
    assert main_assoc.subnet_id is None
    main_routes = {r.destination: (r.target_type, r.target_id) for r in main_table.routes}
    assert main_routes == {
        "10.1.0.0/16": ("local", "local"),
        "0.0.0.0/0": ("internet-gateway", igw),
    }

    table = tables[rtb]
    (explicit,) = table.associations
    assert (explicit.id, explicit.main, explicit.subnet_id) == (assoc, False, private)
    assert explicit.state == "associated"
    routes = {r.destination: r for r in table.routes}
    s3_pl = next(p.id for p in snap.prefix_lists if p.name == "com.amazonaws.us-east-1.s3")
    assert set(routes) == {"10.1.0.0/16", "0.0.0.0/0", "10.9.0.0/16", s3_pl}
    assert (routes["10.1.0.0/16"].target_type, routes["10.1.0.0/16"].target_id) == (
        "local",
        "local",
    )
    assert (routes["0.0.0.0/0"].target_type, routes["0.0.0.0/0"].target_id) == (
        "nat-gateway",
        nat,
    )
    assert (routes["10.9.0.0/16"].target_type, routes["10.9.0.0/16"].target_id) == (
        "vpc-peering-connection",
        pcx,
    )
    endpoint_route = routes[s3_pl]
    assert (endpoint_route.target_type, endpoint_route.target_id) == ("vpc-endpoint", vpce)
    assert endpoint_route.destination_prefix_list_id == s3_pl
    assert endpoint_route.destination_cidr is None
    assert routes["0.0.0.0/0"].destination_prefix_list_id is None
    assert all(r.state == "active" for r in table.routes)


# --- endpoints -------------------------------------------------------------------------------


def test_gateway_and_interface_endpoints(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    subnet = new_subnet(client, vpc, "10.1.1.0/24")
    sg = client.create_security_group(GroupName="vpce", Description="vpce", VpcId=vpc)["GroupId"]
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    gateway = client.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.dynamodb",
        RouteTableIds=[rtb],
        TagSpecifications=tag("vpc-endpoint", "ddb"),
    )["VpcEndpoint"]["VpcEndpointId"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "ssm:*", "Resource": "*"}
            ],
        }
    )
    interface = client.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.ssm",
        SubnetIds=[subnet],
        SecurityGroupIds=[sg],
        PrivateDnsEnabled=True,
        PolicyDocument=policy,
    )["VpcEndpoint"]["VpcEndpointId"]

    endpoints = by_id(audit_base().endpoints)

    gw = endpoints[gateway]
    assert (gw.endpoint_type, gw.service_name, gw.vpc_id) == (
        "Gateway",
        "com.amazonaws.us-east-1.dynamodb",
        vpc,
    )
    assert gw.route_table_ids == [rtb]
    assert gw.subnet_ids == []
    assert gw.tags == {"Name": "ddb"}
    assert (gw.account_id, gw.region) == (A, USE1)

    ifc = endpoints[interface]
    assert (ifc.endpoint_type, ifc.service_name, ifc.vpc_id) == (
        "Interface",
        "com.amazonaws.us-east-1.ssm",
        vpc,
    )
    assert ifc.subnet_ids == [subnet]
    assert ifc.security_group_ids == [sg]
    assert ifc.private_dns_enabled is True
    assert ifc.policy_document is not None
    assert json.loads(ifc.policy_document) == json.loads(policy)
    assert ifc.route_table_ids == []


def test_endpoint_policy_support_from_the_region_services(aws: FaultServer) -> None:
    """VpcEndpointPolicySupported of each endpoint's service, from one read of the services;
    refused, it stays unknown and is noted, and the account-region is still read."""
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = client.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.dynamodb",
        RouteTableIds=[rtb],
    )["VpcEndpoint"]["VpcEndpointId"]

    assert by_id(audit_base().endpoints)[endpoint].policy_supported is True

    aws.faults = refusing("DescribeVpcEndpointServices", "UnauthorizedOperation", "no")
    snap = audit_base()
    assert [c.status for c in snap.coverage] == ["ok"]
    assert by_id(snap.endpoints)[endpoint].policy_supported is None
    (note,) = snap.coverage_notes
    assert "DescribeVpcEndpointServices" in note.subject
    assert note.reason.startswith("UnauthorizedOperation on DescribeVpcEndpointServices")


def test_parse_endpoint_dns_options() -> None:
    raw = {
        "VpcEndpointId": "vpce-1",
        "VpcId": "vpc-1",
        "VpcEndpointType": "Interface",
        "ServiceName": "com.amazonaws.us-east-1.s3",
        "DnsOptions": {"DnsRecordIpType": "ipv4", "PrivateDnsOnlyForInboundResolverEndpoint": True},
    }
    assert parse_endpoint(raw, A, USE1).private_dns_only_for_inbound_resolver_endpoint is True
    del raw["DnsOptions"]
    assert parse_endpoint(raw, A, USE1).private_dns_only_for_inbound_resolver_endpoint is None


# --- prefix lists ----------------------------------------------------------------------------


def test_prefix_lists_aws_services_and_referenced_customer_lists(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    def customer_list(name: str, *cidrs: str) -> str:
        return str(
            client.create_managed_prefix_list(
                PrefixListName=name,
                AddressFamily="IPv4",
                MaxEntries=5,
                Entries=[{"Cidr": c} for c in cidrs],
            )["PrefixList"]["PrefixListId"]
        )

    routed = customer_list("office", "198.51.100.0/24", "203.0.113.0/24")
    unused = customer_list("unused", "192.0.2.0/24")
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    client.create_route(RouteTableId=rtb, DestinationPrefixListId=routed, GatewayId=igw)

    snap = audit_base()
    lists = by_id(snap.prefix_lists)

    names = {p.name: p for p in snap.prefix_lists}
    for service in ("s3", "dynamodb"):
        aws_list = names[f"com.amazonaws.us-east-1.{service}"]
        assert aws_list.cidrs, service
        assert aws_list.region == USE1
        assert aws_list.owner_id == "AWS"
    # AWS lists nobody references and that the rules do not need stay out.
    assert not any("cloudfront" in p.name for p in snap.prefix_lists)

    office = lists[routed]
    assert sorted(office.cidrs) == ["198.51.100.0/24", "203.0.113.0/24"]
    assert office.region == USE1
    assert unused not in lists
    # A referenced customer list costs one GetManagedPrefixListEntries, nothing more (moto's
    # DescribePrefixLists has no CIDRs, so the S3 and DynamoDB lists take one each as well).
    assert aws.calls["ec2:GetManagedPrefixListEntries"] == 3
    assert aws.calls["ec2:DescribeManagedPrefixLists"] == 0

    route = next(r for r in by_id(snap.route_tables)[rtb].routes if r.target_id == igw)
    assert route.destination_prefix_list_id == routed
    assert route.target_type == "internet-gateway"


def test_a_referenced_list_that_is_gone_stays_unknown_without_a_gap(aws: FaultServer) -> None:
    """A route can outlive its prefix list (or the list's sharing); AWS then answers
    GetManagedPrefixListEntries with InvalidPrefixListID.NotFound. The list stays unknown (its
    routes match nothing) and the account-region is still read."""
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    gone = client.create_managed_prefix_list(
        PrefixListName="gone", AddressFamily="IPv4", MaxEntries=5
    )["PrefixList"]["PrefixListId"]
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    client.create_route(RouteTableId=rtb, DestinationPrefixListId=gone, GatewayId=igw)

    def not_found(call: Call) -> Fault | None:
        if call.action == "GetManagedPrefixListEntries" and call.params.get("PrefixListId") == gone:
            return Fault.error(
                "InvalidPrefixListID.NotFound", f"The prefix list {gone} does not exist"
            )
        return None

    aws.faults = not_found
    snap = audit_base()
    assert gone not in by_id(snap.prefix_lists)
    assert [c.status for c in snap.coverage] == ["ok"]
    assert by_id(snap.route_tables)[rtb].routes


def test_dns_flags_refused_for_an_own_vpc_are_unknown_and_noted(aws: FaultServer) -> None:
    """A role without ec2:DescribeVpcAttribute must not read as "DNS flags unknown" in
    silence: each flag left unknown is a coverage note naming the call, and the rest of the
    account-region is still read (for a VPC shared with the account by an audited owner, a
    refusal stays unknown without a note: the owner's read fills it)."""
    vpc = new_vpc(ec2(), "10.1.0.0/16")

    aws.faults = refusing("DescribeVpcAttribute", "UnauthorizedOperation", "You are not authorized")
    snap = audit_base()
    assert [c.status for c in snap.coverage] == ["ok"]
    flags = by_id(snap.vpcs)[vpc]
    assert (flags.dns_support, flags.dns_hostnames) == (None, None)
    notes = [n for n in snap.coverage_notes if n.subject.startswith(vpc)]
    assert [(n.account_id, n.region, n.subject) for n in notes] == [
        (A, USE1, f"{vpc} enableDnsHostnames"),
        (A, USE1, f"{vpc} enableDnsSupport"),
    ]
    assert all(n.reason.startswith("UnauthorizedOperation on DescribeVpcAttribute") for n in notes)


def test_dns_flags_refused_for_a_shared_vpc_stay_unknown() -> None:
    from auditor.collect.ec2 import vpc_attribute

    client = boto3.client("ec2", region_name=USE1)
    stubber = Stubber(client)
    for _ in range(2):
        stubber.add_client_error("describe_vpc_attribute", "UnauthorizedOperation")
    stubber.add_client_error("describe_vpc_attribute", "InvalidVpcID.NotFound")
    stubber.activate()
    assert vpc_attribute(client, "vpc-1", "enableDnsSupport", shared=True) is None
    with pytest.raises(botocore.exceptions.ClientError):
        vpc_attribute(client, "vpc-1", "enableDnsSupport", shared=False)
    # A VPC deleted since DescribeVpcs: unknown, not a failed region.
    assert vpc_attribute(client, "vpc-1", "enableDnsSupport", shared=False) is None


def test_a_client_shared_by_many_threads_gets_a_pool_for_them() -> None:
    session = boto3.Session(region_name=USE1)
    shared = auditor.collect.sessions.client(session, "sts", USE1, connections=64)
    plain = auditor.collect.sessions.client(session, "sts", USE1)
    assert shared.meta.config.max_pool_connections == 64
    assert plain.meta.config.max_pool_connections == auditor.collect.sessions.CLIENT_CONNECTIONS


def test_an_account_session_reads_with_the_role_and_shares_the_base_loader(
    aws: FaultServer,
) -> None:
    """An account session has the role's credentials, refreshed by re-assuming it, and the
    base session's data loader, so that botocore's model files are parsed once per run."""
    base = base_session(None)
    sts = auditor.collect.sessions.client(base, "sts", USE1)
    account = auditor.collect.sessions.assume_role_session(
        base, None, identify(base, sts), B, ROLE, None, sts
    )
    credentials = account.get_credentials()
    assert isinstance(credentials, botocore.credentials.RefreshableCredentials)
    assert credentials.method == "sts-assume-role"
    loader = base._session.get_component("data_loader")  # type: ignore[attr-defined]
    assert account._session.get_component("data_loader") is loader  # type: ignore[attr-defined]
    account_ec2 = account.client("ec2", region_name=USE1)
    assert {v["OwnerId"] for v in account_ec2.describe_vpcs()["Vpcs"]} == {B}  # the role's


@pytest.mark.parametrize("shard", [None, Shard(0, 2), Shard(1, 2)])
def test_each_account_region_is_read_through_one_client_dropped_after(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch, shard: Shard | None
) -> None:
    """The region's service prefix lists are read through the client of an account-region
    being read, not one of their own, and no client outlives its read (a shard may read the
    lists through an account-region it does not audit: that client goes too)."""
    real = auditor.collect.client
    made: list[tuple[str, str]] = []
    alive: weakref.WeakSet[Any] = weakref.WeakSet()

    def counting(session: Any, service: str, region: str, *rest: Any, **kw: Any) -> Any:
        made.append((service, region))
        made_client = real(session, service, region, *rest, **kw)
        alive.add(made_client)
        return made_client

    left: list[int] = []

    def progress(done: int, total: int, failed: int) -> None:
        if done == total:  # every account-region read: no client should be left
            gc.collect()
            left.append(len(alive))

    monkeypatch.setattr(auditor.collect, "client", counting)
    regions = (USE1, EUW1, USW2)
    request = Request(accounts=(A, B, C), role_name=ROLE, regions=regions, shard=shard)
    snap = collect(request, progress)

    read = [(c.account_id, c.region) for c in snap.coverage]
    assert [c.status for c in snap.coverage] == ["ok"] * len(read)
    ec2_clients = sorted(m for m in made if m[0] == "ec2")
    if shard is None:
        assert ec2_clients == sorted(("ec2", r) for r in regions for _ in (A, B, C))
    else:
        assert len(ec2_clients) <= len(read) + len(regions)
    assert left == [0]


def test_an_unreadable_organisation_is_said_not_silently_dropped(
    aws: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """No organisation is normal and quiet; a refused DescribeOrganization is a warning and a
    coverage note, since conditions naming the organisation can then not be recognised as ours."""
    assert audit_base().coverage_notes == []
    assert "cannot read the organisation" not in caplog.text

    aws.faults = refusing("DescribeOrganization", "AccessDeniedException", "not allowed")
    snap = audit_base()
    assert snap.scope.organization_id is None
    assert "cannot read the organisation (AccessDeniedException on DescribeOrganization" in (
        caplog.text
    )
    (note,) = snap.coverage_notes  # in the snapshot too, for the report
    assert (note.account_id, note.region, note.subject) == (A, "", "organization")
    assert note.reason.startswith("AccessDeniedException on DescribeOrganization")


# --- stale security groups --------------------------------------------------------------------


def group_with_reference(client: Any, vpc: str, name: str, pair: dict[str, str]) -> str:
    group = str(
        client.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    )
    client.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [pair]}
        ],
    )
    return group


def test_stale_groups_are_asked_only_for_vpcs_referencing_unaudited_accounts(
    aws: FaultServer,
) -> None:
    """Whether a rule that references a group of an audited account is stale, the snapshot
    shows (the group, the peering); only references to other accounts' groups cost a
    DescribeStaleSecurityGroups, once per VPC that has them."""
    client = ec2()
    inside, peer, other = (new_vpc(client, f"10.{i}.0.0/16") for i in (1, 2, 3))
    pcx = client.create_vpc_peering_connection(VpcId=inside, PeerVpcId=peer)
    pcx_id = pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    client.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    own = client.create_security_group(GroupName="own", Description="o", VpcId=inside)
    group_with_reference(client, inside, "in-vpc", {"GroupId": own["GroupId"]})
    peer_group = client.create_security_group(GroupName="peer", Description="p", VpcId=peer)
    across = {"GroupId": peer_group["GroupId"], "VpcId": peer, "VpcPeeringConnectionId": pcx_id}
    group_with_reference(client, inside, "across", across)
    audit_base()
    assert aws.calls["ec2:DescribeStaleSecurityGroups"] == 0

    # moto keeps the owner a rule names; AWS would name the peer account's group.
    unaudited = {**across, "UserId": C}
    group_with_reference(client, other, "to-other-account", unaudited)
    group_with_reference(client, inside, "to-other-account-too", unaudited)
    aws.clear_calls()
    snap = audit_base()
    # Two VPCs to ask about, but moto does not offer the API: the first call tells, the second
    # is not made, and the rules cross-reference instead.
    assert aws.calls["ec2:DescribeStaleSecurityGroups"] == 1
    assert snap.stale_group_checks == []
    assert [c.status for c in snap.coverage] == ["ok"]


def test_only_references_to_accounts_outside_the_audit_need_aws_to_tell() -> None:
    def group(group_id: str, vpc: str, *owners: str) -> SecurityGroup:
        refs = [GroupReference(group_id=f"sg-{i}", user_id=o) for i, o in enumerate(owners)]
        rule = SecurityGroupRule(protocol="-1", groups=refs)
        return SecurityGroup(group_id, A, USE1, vpc, ingress=[rule])

    view = Snapshot(
        vpcs=[Vpc(v, A, USE1) for v in ("vpc-own", "vpc-audited", "vpc-other")]
        + [Vpc("vpc-shared", B, USE1)],
        security_groups=[
            group("sg-1", "vpc-own", A, ""),  # the account's own groups (no owner: its own)
            group("sg-2", "vpc-audited", B),
            group("sg-3", "vpc-other", A, C),
            group("sg-4", "vpc-shared", C),  # a VPC shared with A: its owner asks
        ],
    )
    assert vpcs_referencing_unaudited(view, A, {B}) == ["vpc-other"]
    assert vpcs_referencing_unaudited(view, A, ()) == ["vpc-audited", "vpc-other"]


def test_who_may_connect_is_read_only_for_services_that_accept_without_approval(
    aws: FaultServer,
) -> None:
    """DescribeVpcEndpointServicePermissions takes one service: it is asked only where
    connections need no approval, which is where the rules need to know who may connect."""
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    subnet = new_subnet(client, vpc, "10.1.1.0/24")
    elb = boto3.client("elbv2", region_name=USE1)
    services = {}
    for name, approval in (("approved", True), ("open", False)):
        nlb = elb.create_load_balancer(Name=name, Type="network", Subnets=[subnet])
        services[name] = client.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[nlb["LoadBalancers"][0]["LoadBalancerArn"]],
            AcceptanceRequired=approval,
        )["ServiceConfiguration"]["ServiceId"]
        client.modify_vpc_endpoint_service_permissions(
            ServiceId=services[name], AddAllowedPrincipals=[f"arn:aws:iam::{B}:root"]
        )

    snap = audit_base()

    assert aws.calls["ec2:DescribeVpcEndpointServicePermissions"] == 1
    found = by_id(snap.endpoint_services)
    assert found[services["open"]].allowed_principals == [f"arn:aws:iam::{B}:root"]
    assert found[services["approved"]].allowed_principals is None  # not read

    # Deleted between the listing and this read: unknown, and the account-region still read.
    aws.faults = refusing(
        "DescribeVpcEndpointServicePermissions", "InvalidVpcEndpointServiceId.NotFound", "gone"
    )
    snap = audit_base()
    assert by_id(snap.endpoint_services)[services["open"]].allowed_principals is None
    assert [c.status for c in snap.coverage] == ["ok"]


def test_prefix_list_referenced_by_a_security_group_is_collected(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    pl = client.create_managed_prefix_list(
        PrefixListName="partners",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "198.51.100.0/24"}],
    )["PrefixList"]["PrefixListId"]
    sg = client.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    client.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "PrefixListIds": [{"PrefixListId": pl}],
            }
        ],
    )

    snap = audit_base()

    assert by_id(snap.prefix_lists)[pl].cidrs == ["198.51.100.0/24"]
    (rule,) = by_id(snap.security_groups)[sg].ingress
    assert rule.prefix_list_ids == [pl]


def test_prefix_lists_are_per_region(aws: FaultServer) -> None:
    snap = audit_base(USE1, EUW1)
    s3 = {p.region: p for p in snap.prefix_lists if p.name.endswith(".s3")}
    assert set(s3) == {USE1, EUW1}
    assert s3[USE1].name == "com.amazonaws.us-east-1.s3"
    assert s3[EUW1].name == "com.amazonaws.eu-west-1.s3"
    assert s3[USE1].id != s3[EUW1].id


# --- peerings --------------------------------------------------------------------------------


def test_cross_account_peering_appears_once_with_both_sides(aws: FaultServer) -> None:
    client_a, client_b = ec2(USE1, A), ec2(USE1, B)
    vpc_a = new_vpc(client_a, "10.1.0.0/16")
    vpc_b = new_vpc(client_b, "10.9.0.0/16")
    pcx = client_a.create_vpc_peering_connection(
        VpcId=vpc_a,
        PeerVpcId=vpc_b,
        PeerOwnerId=B,
        TagSpecifications=tag("vpc-peering-connection", "a-to-b"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    client_b.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    # Only the accepter lets the requester resolve its private names: the sides must not swap.
    client_b.modify_vpc_peering_connection_options(
        VpcPeeringConnectionId=pcx,
        AccepterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True},
    )

    snap = collect(Request(accounts=(A, B), role_name=ROLE, regions=(USE1,)))

    assert [(c.account_id, c.region, c.status) for c in snap.coverage] == [
        (A, USE1, "ok"),
        (B, USE1, "ok"),
    ]
    assert [p.id for p in snap.peerings] == [pcx]
    (peering,) = snap.peerings
    assert peering.status == "active"
    assert peering.tags == {"Name": "a-to-b"}
    req, acc = peering.requester, peering.accepter
    assert (req.account_id, req.region, req.vpc_id, req.cidr_blocks) == (
        A,
        USE1,
        vpc_a,
        ["10.1.0.0/16"],
    )
    assert (acc.account_id, acc.region, acc.vpc_id, acc.cidr_blocks) == (
        B,
        USE1,
        vpc_b,
        ["10.9.0.0/16"],
    )
    assert req.allow_dns_resolution_from_remote_vpc is False
    assert acc.allow_dns_resolution_from_remote_vpc is True
    # Each account's VPC is read through its own credentials and owned by that account.
    owners = {v.id: v.account_id for v in snap.vpcs}
    assert (owners[vpc_a], owners[vpc_b]) == (A, B)


def test_cross_region_peering_seen_from_both_regions_appears_once(aws: FaultServer) -> None:
    east, west = ec2(USE1), ec2(EUW1)
    vpc_east = new_vpc(east, "10.1.0.0/16")
    vpc_west = new_vpc(west, "10.2.0.0/16")
    pcx = east.create_vpc_peering_connection(VpcId=vpc_east, PeerVpcId=vpc_west, PeerRegion=EUW1)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    west.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    # Both regions really do list it.
    for client in (east, west):
        listed = client.describe_vpc_peering_connections()["VpcPeeringConnections"]
        assert pcx in {p["VpcPeeringConnectionId"] for p in listed}

    snap = audit_base(USE1, EUW1)

    (peering,) = snap.peerings
    assert peering.id == pcx
    assert (peering.requester.region, peering.requester.vpc_id) == (USE1, vpc_east)
    assert (peering.accepter.region, peering.accepter.vpc_id) == (EUW1, vpc_west)
    assert peering.requester.account_id == peering.accepter.account_id == A
    assert peering.accepter.cidr_blocks == ["10.2.0.0/16"]


# --- security groups -------------------------------------------------------------------------


def test_security_group_rules_with_cidrs_and_group_references(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    db = client.create_security_group(
        GroupName="db",
        Description="database",
        VpcId=vpc,
        TagSpecifications=tag("security-group", "db"),
    )["GroupId"]
    app = client.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    client.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": app}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
            },
        ],
    )

    groups = by_id(audit_base().security_groups)

    group: SecurityGroup = groups[db]
    assert (group.name, group.description, group.vpc_id) == ("db", "database", vpc)
    assert (group.account_id, group.region, group.tags) == (A, USE1, {"Name": "db"})
    ingress = {r.from_port: r for r in group.ingress}
    assert set(ingress) == {5432, 22}
    ref_rule = ingress[5432]
    assert (ref_rule.protocol, ref_rule.to_port, ref_rule.cidrs) == ("tcp", 5432, [])
    (ref,) = ref_rule.groups
    assert ref.group_id == app
    assert ref.user_id == A
    ssh = ingress[22]
    assert sorted(ssh.cidrs) == ["10.0.0.0/8", "192.168.0.0/16"]
    assert ssh.ipv6_cidrs == ["2001:db8::/32"]
    assert ssh.groups == []
    (egress,) = group.egress
    assert (egress.protocol, egress.cidrs) == ("-1", ["0.0.0.0/0"])
    assert (egress.from_port, egress.to_port) == (None, None)


# --- coverage --------------------------------------------------------------------------------


def test_every_audited_account_region_gets_an_ok_record(aws: FaultServer) -> None:
    snap = collect(Request(accounts=(B, A), role_name=ROLE, regions=(EUW1, USE1)))
    assert snap.coverage == [
        Coverage(A, EUW1, "ok"),
        Coverage(A, USE1, "ok"),
        Coverage(B, EUW1, "ok"),
        Coverage(B, USE1, "ok"),
    ]
    assert snap.scope.accounts == [A, B]
    assert snap.scope.regions == [EUW1, USE1]
    assert snap.scope.partition == "aws"
    # moto gives every account-region a default VPC: one each, owned by the right account.
    defaults = sorted((v.account_id, v.region) for v in snap.vpcs if v.is_default)
    assert defaults == [(A, EUW1), (A, USE1), (B, EUW1), (B, USE1)]


def failing_reader(
    monkeypatch: pytest.MonkeyPatch, failures: dict[str, BaseException]
) -> list[tuple[str, str]]:
    """Make read_region raise for some regions; returns the (account, region) pairs it was asked."""
    real = auditor.collect.ec2.read_region
    calls: list[tuple[str, str]] = []

    def read_region(client: Any, account_id: str, region: str, **kwargs: Any) -> Snapshot:
        calls.append((account_id, region))
        if region in failures:
            raise failures[region]
        return real(client, account_id, region, **kwargs)

    monkeypatch.setattr(auditor.collect.ec2, "read_region", read_region)
    return calls


def test_a_failed_region_is_an_error_record_and_the_others_still_appear(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc_east = new_vpc(ec2(USE1), "10.1.0.0/16")
    vpc_west = new_vpc(ec2(EUW1), "10.2.0.0/16")
    new_vpc(ec2(USW2), "10.3.0.0/16")
    calls = failing_reader(
        monkeypatch,
        {
            EUW1: client_error(
                "UnauthorizedOperation",
                "DescribeVpcs",
                "You are not authorized to perform this operation.\n  Encoded message: abc",
            ),
            USW2: ResponseParserError("Unable to parse response (syntax error), invalid XML"),
        },
    )

    snap = audit_base(USE1, EUW1, USW2)

    assert sorted(calls) == [(A, EUW1), (A, USE1), (A, USW2)]
    status = {c.region: c for c in snap.coverage}
    assert set(status) == {USE1, EUW1, USW2}
    assert status[USE1] == Coverage(A, USE1, "ok")
    denied, unparsable = status[EUW1], status[USW2]
    assert denied.status == unparsable.status == "error"
    assert denied.error is not None and unparsable.error is not None
    assert denied.error.startswith("UnauthorizedOperation on DescribeVpcs: You are not authorized")
    assert "Encoded message: abc" in denied.error
    assert "API not available" in unparsable.error
    for error in (denied.error, unparsable.error):
        assert "\n" not in error and "  " not in error
        assert len(error) <= 300
    vpc_ids = {v.id for v in snap.vpcs}
    assert vpc_east in vpc_ids
    assert vpc_west not in vpc_ids
    assert {v.region for v in snap.vpcs} == {USE1}
    # The scope still names the failed regions: they were asked for, only not read.
    assert snap.scope.regions == sorted([USE1, EUW1, USW2])


def test_assume_role_refused_for_one_account(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc_c = new_vpc(ec2(USE1, C), "10.3.0.0/16")
    real = auditor.collect.assume_role_session
    asked: list[str] = []

    def assume_role_session(
        base: Any, profile: Any, identity: Any, account_id: str, role_name: str, *rest: Any
    ) -> Any:
        asked.append(account_id)
        assert role_name == ROLE
        if account_id == B:
            raise client_error(
                "AccessDenied",
                "AssumeRole",
                f"User is not authorized to perform: sts:AssumeRole on arn:aws:iam::{B}:role/{ROLE}",
            )
        return real(base, profile, identity, account_id, role_name, *rest)

    monkeypatch.setattr(auditor.collect, "assume_role_session", assume_role_session)

    snap = collect(Request(accounts=(A, B, C), role_name=ROLE, regions=(USE1,)))

    # The base account is read with the base credentials, never through a role.
    assert sorted(asked) == [B, C]
    assert [(c.account_id, c.status) for c in snap.coverage] == [
        (A, "ok"),
        (B, "error"),
        (C, "ok"),
    ]
    refused = snap.coverage[1]
    assert refused.region == USE1
    assert refused.error is not None
    assert refused.error.startswith("AccessDenied on AssumeRole: User is not authorized")
    assert {v.account_id for v in snap.vpcs} == {A, C}
    assert vpc_c in {v.id for v in snap.vpcs}
    assert snap.scope.accounts == [A, B, C]


def test_refused_account_without_region_list_gets_one_wildcard_record(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any) -> Any:
        raise client_error("AccessDenied", "AssumeRole", "no")

    monkeypatch.setattr(auditor.collect, "assume_role_session", refuse)
    # Keep the base account to one region so that the test stays fast.
    monkeypatch.setattr(auditor.collect, "enabled_regions", lambda session, identity: [USE1])

    snap = collect(Request(accounts=(A, B), role_name=ROLE))

    assert snap.coverage == [
        Coverage(A, USE1, "ok"),
        Coverage(B, "*", "error", "AccessDenied on AssumeRole: no"),
    ]


def test_enabled_regions_failure_is_a_gap_for_that_account(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = auditor.collect.enabled_regions

    def enabled(session: boto3.Session, identity: Identity) -> list[str]:
        creds = session.get_credentials()
        assert creds is not None
        if creds.access_key != "testing":  # the assumed-role session of account B
            raise client_error("UnauthorizedOperation", "DescribeRegions", "denied")
        return [r for r in real(session, identity) if r == USE1]

    monkeypatch.setattr(auditor.collect, "enabled_regions", enabled)

    snap = collect(Request(accounts=(A, B), role_name=ROLE))

    assert snap.coverage == [
        Coverage(A, USE1, "ok"),
        Coverage(B, "*", "error", "UnauthorizedOperation on DescribeRegions: denied"),
    ]


# --- regions ---------------------------------------------------------------------------------


def test_enabled_regions_against_moto(aws: FaultServer) -> None:
    session = base_session(None)
    regions = enabled_regions(session, identify(session))
    assert {USE1, EUW1} <= set(regions)
    assert not [r for r in regions if r.startswith(("cn-", "us-gov-", "us-iso"))]
    assert regions == sorted(set(regions))


def stubbed_regions(monkeypatch: pytest.MonkeyPatch, regions: list[dict[str, str]]) -> Stubber:
    session = boto3.Session(region_name=USE1)
    ec2_client = session.client("ec2", region_name=USE1)
    stubber = Stubber(ec2_client)
    stubber.add_response("describe_regions", {"Regions": regions}, {"AllRegions": True})
    stubber.activate()
    monkeypatch.setattr(auditor.collect.sessions, "client", lambda *a, **k: ec2_client)
    return stubber


FAKE_REGIONS = [
    {"RegionName": "us-east-1", "Endpoint": "ec2.us-east-1.amazonaws.com"},
    {"RegionName": "eu-west-1", "OptInStatus": "opt-in-not-required"},
    {"RegionName": "af-south-1", "OptInStatus": "not-opted-in"},
    {"RegionName": "ap-east-1", "OptInStatus": "opted-in"},
    {"RegionName": "me-central-1", "OptInStatus": "opting-in"},
    {"RegionName": "cn-north-1", "OptInStatus": "opt-in-not-required"},
    {"RegionName": "us-gov-west-1", "OptInStatus": "opt-in-not-required"},
]


def test_enabled_regions_skips_not_opted_in_and_other_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubber = stubbed_regions(monkeypatch, FAKE_REGIONS)
    identity = Identity(A, f"arn:aws:iam::{A}:user/me", "aws", USE1)
    assert enabled_regions(boto3.Session(region_name=USE1), identity) == [
        "ap-east-1",
        "eu-west-1",
        "us-east-1",
    ]
    stubber.assert_no_pending_responses()


def test_enabled_regions_in_the_china_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    stubbed_regions(monkeypatch, FAKE_REGIONS)
    identity = Identity(A, f"arn:aws-cn:iam::{A}:user/me", "aws-cn", "cn-north-1")
    assert enabled_regions(boto3.Session(region_name=USE1), identity) == ["cn-north-1"]


def test_enabled_regions_survives_a_region_botocore_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An opted-in region newer than the installed botocore must not cost the whole account.

    DescribeRegions answers for the caller's partition, so such a region belongs to it.
    """
    stubbed_regions(
        monkeypatch,
        [
            {"RegionName": "us-east-1", "OptInStatus": "opt-in-not-required"},
            {"RegionName": "zz-newplace-1", "OptInStatus": "opted-in"},
        ],
    )
    identity = Identity(A, f"arn:aws:iam::{A}:user/me", "aws", USE1)
    regions = enabled_regions(boto3.Session(region_name=USE1), identity)
    assert "us-east-1" in regions


# --- organisations ---------------------------------------------------------------------------


def test_org_audits_every_active_account(aws: FaultServer) -> None:
    org = boto3.client("organizations", region_name=USE1)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(Email="member@example.com", AccountName="member")[
        "CreateAccountStatus"
    ]["AccountId"]
    closed = org.create_account(Email="closed@example.com", AccountName="closed")[
        "CreateAccountStatus"
    ]["AccountId"]
    org.close_account(AccountId=closed)
    states = {a["Id"]: a["Status"] for a in org.list_accounts()["Accounts"]}
    assert states == {A: "ACTIVE", member: "ACTIVE", closed: "SUSPENDED"}
    member_vpc = new_vpc(ec2(USE1, member), "10.7.0.0/16")

    snap = collect(Request(org=True, role_name="OrganizationAccountAccessRole", regions=(USE1,)))

    assert snap.coverage == sorted(
        [Coverage(A, USE1, "ok"), Coverage(member, USE1, "ok")], key=lambda c: c.account_id
    )
    assert snap.scope.accounts == sorted([A, member])
    assert by_id(snap.vpcs)[member_vpc].account_id == member
    assert closed not in {v.account_id for v in snap.vpcs}


# --- merge_views (no AWS) --------------------------------------------------------------------


def shared_vpc(dns: bool | None, tags: dict[str, str] | None = None) -> Vpc:
    return Vpc(
        id="vpc-shared",
        account_id=A,
        region=USE1,
        cidr_blocks=["10.0.0.0/16"],
        dns_support=dns,
        dns_hostnames=None if dns is None else False,
        tags=tags or {},
    )


@pytest.mark.parametrize("participant_first", [True, False])
def test_merge_views_fills_what_one_view_lacked(participant_first: bool) -> None:
    owner = Snapshot(vpcs=[shared_vpc(True, {"Name": "shared"})])
    participant = Snapshot(vpcs=[shared_vpc(None)])
    views = [participant, owner] if participant_first else [owner, participant]

    snap = merge_views(views)

    (vpc,) = snap.vpcs
    assert (vpc.id, vpc.account_id) == ("vpc-shared", A)
    assert vpc.dns_support is True
    # A known False is a value, not a gap: it must survive the merge.
    assert vpc.dns_hostnames is False
    assert vpc.tags == {"Name": "shared"}


def test_merge_views_keeps_different_resources_apart_and_sorts_them() -> None:
    def views() -> list[Snapshot]:
        return [
            Snapshot(
                vpcs=[Vpc("vpc-b", B, USE1), Vpc("vpc-2", A, USE1)],
                prefix_lists=[PrefixList("pl-2", USE1), PrefixList("pl-1", EUW1)],
            ),
            Snapshot(
                vpcs=[Vpc("vpc-1", A, USE1), Vpc("vpc-3", A, EUW1)],
                route_tables=[RouteTable("rtb-1", A, USE1, "vpc-1")],
            ),
        ]

    snap = merge_views(views())
    again = merge_views(list(reversed(views())))

    expected = [(A, EUW1, "vpc-3"), (A, USE1, "vpc-1"), (A, USE1, "vpc-2"), (B, USE1, "vpc-b")]
    assert [(v.account_id, v.region, v.id) for v in snap.vpcs] == expected
    assert [p.id for p in snap.prefix_lists] == ["pl-1", "pl-2"]
    assert [t.id for t in snap.route_tables] == ["rtb-1"]
    assert snap == again


def test_merge_views_same_id_in_two_accounts_stays_two() -> None:
    snap = merge_views(
        [Snapshot(vpcs=[Vpc("vpc-1", A, USE1)]), Snapshot(vpcs=[Vpc("vpc-1", B, USE1)])]
    )
    assert [(v.account_id, v.id) for v in snap.vpcs] == [(A, "vpc-1"), (B, "vpc-1")]


def test_merge_views_of_nothing_is_an_empty_snapshot() -> None:
    assert merge_views([]) == Snapshot()


# --- parse_* on shapes moto does not produce ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "target"),
    [
        ({"GatewayId": "local"}, "local", "local"),
        ({"GatewayId": "igw-1"}, "internet-gateway", "igw-1"),
        ({"GatewayId": "vgw-1"}, "vpn-gateway", "vgw-1"),
        ({"GatewayId": "vpce-1"}, "vpc-endpoint", "vpce-1"),
        ({"NatGatewayId": "nat-1"}, "nat-gateway", "nat-1"),
        ({"TransitGatewayId": "tgw-1"}, "transit-gateway", "tgw-1"),
        ({"EgressOnlyInternetGatewayId": "eigw-1"}, "egress-only-internet-gateway", "eigw-1"),
        ({"InstanceId": "i-1", "NetworkInterfaceId": "eni-1"}, "instance", "i-1"),
        ({"NetworkInterfaceId": "eni-1"}, "network-interface", "eni-1"),
        ({"VpcPeeringConnectionId": "pcx-1"}, "vpc-peering-connection", "pcx-1"),
        ({}, "unknown", ""),
    ],
)
def test_parse_route_target_types(raw: dict[str, str], kind: str, target: str) -> None:
    route = parse_route({"DestinationCidrBlock": "0.0.0.0/0", **raw})
    assert (route.target_type, route.target_id) == (kind, target)


def test_parse_route_keeps_blackhole_state_and_ipv6_destination() -> None:
    route = parse_route(
        {
            "DestinationIpv6CidrBlock": "::/0",
            "EgressOnlyInternetGatewayId": "eigw-1",
            "State": "blackhole",
            "Origin": "CreateRoute",
        }
    )
    assert route == Route(
        target_type="egress-only-internet-gateway",
        target_id="eigw-1",
        destination_ipv6_cidr="::/0",
        state="blackhole",
    )
    assert route.destination == "::/0"


def test_parse_vpc_skips_disassociated_cidrs() -> None:
    vpc = parse_vpc(
        {
            "VpcId": "vpc-1",
            "OwnerId": B,
            "CidrBlock": "10.0.0.0/16",
            "CidrBlockAssociationSet": [
                {"CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}},
                {"CidrBlock": "10.1.0.0/16", "CidrBlockState": {"State": "disassociated"}},
                {"CidrBlock": "10.2.0.0/16", "CidrBlockState": {"State": "associated"}},
            ],
            "Ipv6CidrBlockAssociationSet": [
                {
                    "Ipv6CidrBlock": "2600:1f18::/56",
                    "Ipv6CidrBlockState": {"State": "associated"},
                }
            ],
        },
        viewer=A,
        region=USE1,
    )
    assert vpc.cidr_blocks == ["10.0.0.0/16", "10.2.0.0/16"]
    assert vpc.ipv6_cidr_blocks == ["2600:1f18::/56"]
    assert vpc.account_id == B  # the owner, not the account that saw it


def test_parse_peering_uses_the_full_cidr_block_set() -> None:
    """Real AWS lists every CIDR of each side in CidrBlockSet (moto sends only CidrBlock)."""
    peering = parse_peering(
        {
            "VpcPeeringConnectionId": "pcx-1",
            "Status": {"Code": "active", "Message": "Active"},
            "RequesterVpcInfo": {
                "OwnerId": A,
                "VpcId": "vpc-a",
                "Region": USE1,
                "CidrBlock": "10.0.0.0/16",
                "CidrBlockSet": [{"CidrBlock": "10.0.0.0/16"}, {"CidrBlock": "10.5.0.0/16"}],
                "PeeringOptions": {"AllowDnsResolutionFromRemoteVpc": True},
            },
            "AccepterVpcInfo": {
                "OwnerId": B,
                "VpcId": "vpc-b",
                "Region": EUW1,
                "CidrBlock": "10.9.0.0/16",
            },
        },
        viewer=A,
        region=USE1,
    )
    assert peering.requester.cidr_blocks == ["10.0.0.0/16", "10.5.0.0/16"]
    assert peering.requester.allow_dns_resolution_from_remote_vpc is True
    assert peering.accepter.cidr_blocks == ["10.9.0.0/16"]
    assert peering.accepter.allow_dns_resolution_from_remote_vpc is None
    assert (peering.accepter.account_id, peering.accepter.region) == (B, EUW1)


def test_parse_sg_rule_cross_account_peer_reference() -> None:
    rule = parse_sg_rule(
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "UserIdGroupPairs": [
                {
                    "GroupId": "sg-remote",
                    "UserId": B,
                    "VpcId": "vpc-b",
                    "VpcPeeringConnectionId": "pcx-1",
                    "PeeringStatus": "active",
                }
            ],
        }
    )
    (ref,) = rule.groups
    assert (ref.group_id, ref.user_id, ref.vpc_id, ref.peering_id, ref.peering_status) == (
        "sg-remote",
        B,
        "vpc-b",
        "pcx-1",
        "active",
    )


# --- progress, validation, serialisation -----------------------------------------------------


def test_progress_counts_up_to_total_with_failures(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_reader(monkeypatch, {EUW1: client_error("UnauthorizedOperation", "DescribeVpcs")})
    calls: list[tuple[int, int, int]] = []

    collect(
        Request(accounts=(A, B), role_name=ROLE, regions=(USE1, EUW1)),
        progress=lambda done, total, failed: calls.append((done, total, failed)),
    )

    assert calls[0] == (0, 4, 0)
    assert calls[-1] == (4, 4, 2)
    assert len(calls) == 5
    assert all(total == 4 for _, total, _ in calls)
    dones = [done for done, _, _ in calls]
    assert dones == sorted(dones) == list(range(5))
    assert all(0 <= failed <= done for done, _, failed in calls)


def test_progress_counts_refused_accounts_up_front(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any) -> Any:
        raise client_error("AccessDenied", "AssumeRole")

    monkeypatch.setattr(auditor.collect, "assume_role_session", refuse)
    calls: list[tuple[int, int, int]] = []
    collect(
        Request(accounts=(A, B), role_name=ROLE, regions=(USE1, EUW1)),
        progress=lambda *args: calls.append(args),
    )
    assert calls[0] == (2, 4, 2)
    assert calls[-1] == (4, 4, 2)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request(role_name=ROLE), "--role-name"),
        (Request(org=True, accounts=(B,)), "either --org or --account"),
        (Request(org=True, accounts=(B,), role_name=ROLE), "either --org or --account"),
    ],
)
def test_request_validation(aws: FaultServer, request_: Request, message: str) -> None:
    # With the `aws` fixture, a collector that skipped validation would reach moto, not AWS.
    with pytest.raises(InputError, match=message):
        collect(request_)


def test_snapshot_round_trips_through_json(aws: FaultServer) -> None:
    client_a, client_b = ec2(USE1, A), ec2(USE1, B)
    vpc_a = new_vpc(client_a, "10.1.0.0/16", "a")
    client_a.associate_vpc_cidr_block(VpcId=vpc_a, CidrBlock="10.2.0.0/16")
    subnet = new_subnet(client_a, vpc_a, "10.1.1.0/24")
    sg = client_a.create_security_group(GroupName="s", Description="s", VpcId=vpc_a)["GroupId"]
    client_a.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": sg}],
            }
        ],
    )
    rtb = client_a.create_route_table(VpcId=vpc_a)["RouteTable"]["RouteTableId"]
    client_a.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    client_a.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc_a,
        ServiceName="com.amazonaws.us-east-1.s3",
        RouteTableIds=[rtb],
    )
    vpc_b = new_vpc(client_b, "10.9.0.0/16")
    pcx = client_a.create_vpc_peering_connection(VpcId=vpc_a, PeerVpcId=vpc_b, PeerOwnerId=B)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    client_b.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    client_a.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.9.0.0/16", VpcPeeringConnectionId=pcx
    )

    snap = collect(Request(accounts=(A, B), role_name=ROLE, regions=(USE1,)))
    assert snap.peerings and snap.endpoints and snap.prefix_lists and snap.security_groups

    text = dumps(snap)
    back = from_jsonable(Snapshot, json.loads(text))

    assert back == snap
    assert dumps(back) == text
    assert snap.tool_version == __version__
    assert snap.collected_at.endswith("Z") and "T" in snap.collected_at


def test_base_account_only_by_default(aws: FaultServer) -> None:
    new_vpc(ec2(USE1, B), "10.9.0.0/16")
    snap = audit_base()
    assert snap.scope.accounts == [A]
    assert {v.account_id for v in snap.vpcs} == {A}
    assert snap.coverage == [Coverage(A, USE1, "ok")]


# --- scheduling: job order, fan-out within an account-region, request rate -----------------------


def test_jobs_interleave_accounts_and_rotate_regions() -> None:
    regions = ["r0", "r1", "r2"]
    accounts = [auditor.collect._Account(f"a{i}", boto3.Session(), list(regions)) for i in range(4)]
    accounts.append(auditor.collect._Account("failed", None, [], "AccessDenied"))
    jobs = [(a.account_id, r) for a, r in auditor.collect.fanout.interleave(accounts)]

    assert sorted(jobs) == sorted((f"a{i}", r) for i in range(4) for r in regions)
    # Neighbours are other accounts, and the first round starts each account in another region.
    assert all(x[0] != y[0] for x, y in itertools.pairwise(jobs))
    assert jobs[:4] == [("a0", "r0"), ("a1", "r1"), ("a2", "r2"), ("a3", "r0")]


def test_fanout_runs_each_call_once_in_order_and_bounds_the_threads() -> None:
    lock = threading.Lock()
    running, peak, seen = 0, 0, []

    def call(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            seen.append(i)
        time.sleep(0.01)
        with lock:
            running -= 1
        return i * i

    with ThreadPoolExecutor(8) as pool:
        fanout = auditor.collect.fanout.Fanout(pool, 3)
        results = fanout([lambda i=i: call(i) for i in range(20)])

    assert results == [i * i for i in range(20)]
    assert sorted(seen) == list(range(20))
    assert 1 < peak <= 3  # idle pool threads helped, no more than the width at once
    assert auditor.collect.fanout.Fanout(None, 3)([lambda: 1, lambda: 2]) == [1, 2]


def test_fanout_raises_the_first_failure_in_list_order_and_starts_nothing_after() -> None:
    started: list[int] = []

    def call(i: int) -> int:
        started.append(i)
        if i in (2, 4):
            raise client_error("UnauthorizedOperation", f"Op{i}")
        return i

    with pytest.raises(botocore.exceptions.ClientError, match="Op2"):
        auditor.collect.fanout.Fanout(None, 4)([lambda i=i: call(i) for i in range(6)])
    assert started == [0, 1, 2]


def test_request_rate_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    rate = auditor.collect.sessions.RequestRate(10.0, 5, clock=lambda: now[0], sleep=sleep)
    waits = [rate.acquire() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.1, 0.1, 0.1])
    now[0] += 10  # idle: the bucket refills, up to the burst
    assert [rate.acquire() for _ in range(5)] == [0.0] * 5
    assert rate.acquire() == pytest.approx(0.1)


def test_account_region_clients_keep_to_the_request_rate(aws: FaultServer) -> None:
    made = auditor.collect.sessions.limit_rate(
        auditor.collect.sessions.client(boto3.Session(), "ec2", USE1), rate=20.0, burst=2
    )
    started = time.monotonic()
    for _ in range(6):
        made.describe_regions()
    assert time.monotonic() - started >= 0.19  # 2 at once, then 4 more at 20 per second


def test_prefix_lists_known_from_the_region_read_cost_no_more_calls() -> None:
    """A route to an AWS-managed list that the region's DescribePrefixLists read answered with
    its CIDRs is resolved from that read: no DescribeManagedPrefixLists, no entries."""
    from auditor.collect.ec2 import ATTACHMENT_DETAIL_CALLS, RESOURCE_CALLS, read_region

    client = boto3.client("ec2", region_name=USE1)
    stubber = Stubber(client)
    for _, operation, key, _ in RESOURCE_CALLS:
        reply: dict[str, Any] = {key: []}
        if operation == "describe_route_tables":
            route = {"DestinationPrefixListId": "pl-cf", "GatewayId": "igw-1"}
            reply = {key: [{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [route]}]}
        stubber.add_response(operation, reply)
    stubber.add_response("describe_vpc_endpoint_service_configurations", {})
    for _, operation, key in ATTACHMENT_DETAIL_CALLS:
        stubber.add_response(operation, {key: []})
    stubber.activate()
    lists = [
        PrefixList("pl-s3", USE1, "com.amazonaws.us-east-1.s3", "AWS", ["52.216.0.0/15"]),
        PrefixList(
            "pl-cf", USE1, "com.amazonaws.global.cloudfront.origin-facing", "AWS", ["13.0.0.0/8"]
        ),
        PrefixList("pl-gs", USE1, "com.amazonaws.global.groundstation", "AWS", ["3.0.0.0/8"]),
    ]

    view = read_region(client, A, USE1, service_lists=lambda: lists)

    stubber.assert_no_pending_responses()
    assert [(p.id, p.cidrs) for p in view.prefix_lists] == [
        ("pl-cf", ["13.0.0.0/8"]),
        ("pl-s3", ["52.216.0.0/15"]),
    ]
    assert view.prefix_lists[0] is not lists[1]  # each view has its own copies
