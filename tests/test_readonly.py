"""Read-only by construction: mutating calls are refused in-process, and the IAM policy we ship
grants exactly the operations the collector performs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.collect import Request, collect, sessions
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from tests.faults import FaultServer

IAM = Path(__file__).parent.parent / "policies" / "iam"
BASE_ONLY = {"sts:GetCallerIdentity", "sts:AssumeRole", "organizations:DescribeOrganization"}


def statement_actions(name: str) -> list[str]:
    """Every action of the policy, statement after statement: the actions scoped to their
    resource ARNs and those that can only be granted on Resource "*" alike."""
    document = json.loads((IAM / name).read_text())
    actions: list[str] = []
    for statement in document["Statement"]:
        action = statement["Action"]
        actions += [action] if isinstance(action, str) else action
    return actions


def policy_actions(name: str) -> set[str]:
    return set(statement_actions(name))


def test_each_policy_action_is_granted_once() -> None:
    actions = statement_actions("vpc-audit-readonly.json")
    assert len(actions) == len(set(actions)), sorted(a for a in actions if actions.count(a) > 1)


def test_mutating_call_is_refused_before_it_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    ec2 = sessions.client(boto3.Session(), "ec2", "us-east-1")
    with pytest.raises(sessions.ReadOnlyViolation, match="refused ec2:CreateVpc"):
        ec2.create_vpc(CidrBlock="10.0.0.0/16")


def test_refused_call_changes_nothing(aws: FaultServer) -> None:
    ec2 = sessions.client(boto3.Session(), "ec2", "us-east-1")
    before = len(ec2.describe_vpcs()["Vpcs"])
    for call in (
        lambda: ec2.create_vpc(CidrBlock="10.0.0.0/16"),
        lambda: ec2.modify_vpc_attribute(VpcId="vpc-1", EnableDnsSupport={"Value": False}),
        lambda: ec2.accept_vpc_peering_connection(VpcPeeringConnectionId="pcx-1"),
    ):
        with pytest.raises(sessions.ReadOnlyViolation):
            call()
    assert len(ec2.describe_vpcs()["Vpcs"]) == before


def test_allowlist_holds_only_reads() -> None:
    for action in sessions.READ_ONLY_OPERATIONS - {"sts:AssumeRole"}:
        assert action.split(":")[1].startswith(("Describe", "List", "Get", "Search")), action


def test_iam_policy_equals_what_the_collector_calls(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)
    # An endpoint service we own (behind a network load balancer), so its permissions are read.
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    nlb = boto3.client("elbv2", region_name="us-east-1").create_load_balancer(
        Name="svc", Subnets=[subnet], Type="network", Scheme="internal"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=False
    )
    # A group rule that references a group of an account outside the audit (moto keeps the
    # owner given), so stale groups are asked for.
    peer_vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer_vpc)["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    peer_group = ec2.create_security_group(GroupName="peer", Description="p", VpcId=peer_vpc)
    group = ec2.create_security_group(GroupName="app", Description="a", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [
                    {
                        "GroupId": peer_group["GroupId"],
                        "VpcId": peer_vpc,
                        "VpcPeeringConnectionId": pcx["VpcPeeringConnectionId"],
                        "UserId": "999999999999",
                    }
                ],
            }
        ],
    )
    # A transit gateway of our own (moto gives it a default route table), so its route tables
    # and whom it is shared with (AWS RAM) are read.
    ec2.create_transit_gateway(Description="hub")
    called: set[str] = set()
    make_client = sessions.client

    def recording_client(*args: Any, **kwargs: Any) -> Any:
        made = make_client(*args, **kwargs)
        made.meta.events.register(
            "before-call.*.*", lambda model, **_: called.add(sessions.iam_action(model))
        )
        return made

    monkeypatch.setattr(sessions, "client", recording_client)
    monkeypatch.setattr("auditor.collect.client", recording_client)
    # Two accounts through the role, every enabled region (read through DescribeRegions).
    snapshot = collect(Request(accounts=DEMO_ACCOUNTS, role_name=DEMO_ROLE))
    assert {c.region for c in snapshot.coverage} >= set(DEMO_REGIONS)
    assert all(c.status == "ok" for c in snapshot.coverage)

    member = {a for a in called if a not in BASE_ONLY}
    assert member == policy_actions("vpc-audit-readonly.json")
    assert called <= sessions.READ_ONLY_OPERATIONS
