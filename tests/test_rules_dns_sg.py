"""VPC DNS attributes, security groups and flow logs: hand-built snapshots, then moto end to end."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from auditor.collect import Request, collect
from auditor.model import (
    Endpoint,
    Finding,
    FlowLog,
    GroupReference,
    NetworkInterface,
    RuleSettings,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    StaleGroupCheck,
)
from auditor.rules import run_rules
from tests.builders import R1, A, B, peering, side, snapshot, subnet, vpc
from tests.faults import FaultServer


def cmds(finding: Finding) -> str:
    """The finding's remediation commands, as one text to search."""
    return "\n".join(finding.remediation_commands)


EVERYONE = "0.0.0.0/0"


def findings(snap: Snapshot, rule_id: str, **settings: Any) -> list[Finding]:
    return run_rules(snap, only=[rule_id], settings=RuleSettings(**settings))


def interface_endpoint(
    id: str, vpc_id: str, private_dns: bool | None = True, state: str = "available"
) -> Endpoint:
    return Endpoint(
        id,
        A,
        R1,
        vpc_id,
        "Interface",
        f"com.amazonaws.{R1}.ssm",
        state=state,
        private_dns_enabled=private_dns,
    )


def sg(
    id: str,
    vpc_id: str = "vpc-a",
    *,
    ingress: tuple[SecurityGroupRule, ...] = (),
    egress: tuple[SecurityGroupRule, ...] = (),
    name: str = "app",
    account: str = A,
    **extra: Any,
) -> SecurityGroup:
    return SecurityGroup(
        id, account, R1, vpc_id, name, ingress=list(ingress), egress=list(egress), **extra
    )


def allow(protocol: str, ports: tuple[int, int] | None = None, *peers: str) -> SecurityGroupRule:
    """A rule from CIDRs ('/' in them, IPv6 when ':') and groups ('sg-…', 'owner/sg-…')."""
    rule = SecurityGroupRule(protocol, *(ports or (None, None)))
    for peer in peers:
        if peer.startswith("sg-") or "/sg-" in peer:
            owner, _, group = peer.rpartition("/")
            rule.groups.append(GroupReference(group, user_id=owner or None))
        elif ":" in peer:
            rule.ipv6_cidrs.append(peer)
        else:
            rule.cidrs.append(peer)
    return rule


def via(
    peering_id: str, group: str, owner: str = A, status: str | None = None
) -> SecurityGroupRule:
    """TCP 5432 from a group across a peering."""
    ref = GroupReference(group, user_id=owner, peering_id=peering_id, peering_status=status)
    return SecurityGroupRule("tcp", 5432, 5432, groups=[ref])


# --- vpc-dns-support-off ---

SUPPORT = "vpc-dns-support-off"
HOSTNAMES = "vpc-dns-hostnames-off"


def test_dns_support_off_lists_what_breaks() -> None:
    snap = snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        interface_endpoint("vpce-1", "vpc-a"),
    )
    snap.vpcs[0].dns_support = False  # builders.vpc turns both attributes on
    (finding,) = findings(snap, SUPPORT)
    assert (finding.resource_id, finding.resource_type, str(finding.severity)) == (
        "vpc-a",
        "vpc",
        "high",
    )
    assert finding.evidence["enableDnsSupport"] is False
    assert finding.evidence["private_dns_interface_endpoints"] == [
        {"endpoint": "vpce-1", "service": f"com.amazonaws.{R1}.ssm"}
    ]
    assert "app (vpc-a)" in finding.message and "1 interface endpoint(s)" in finding.message
    assert "--enable-dns-support" in cmds(finding) and "--region us-east-1" in cmds(finding)


@pytest.mark.parametrize("value", [True, None])
def test_dns_support_on_or_unknown_is_not_claimed(value: bool | None) -> None:
    snap = snapshot(vpc("vpc-a", "10.0.0.0/16"))
    snap.vpcs[0].dns_support = value
    assert findings(snap, SUPPORT) == []


# --- vpc-dns-hostnames-off ---


def hostnames_off(*resources: Any, support: bool | None = True) -> Snapshot:
    snap = snapshot(vpc("vpc-a", "10.0.0.0/16"), *resources)
    snap.vpcs[0].dns_hostnames = False
    snap.vpcs[0].dns_support = support
    return snap


def test_hostnames_off_with_private_dns_endpoint() -> None:
    (finding,) = findings(hostnames_off(interface_endpoint("vpce-1", "vpc-a")), HOSTNAMES)
    assert finding.resource_id == "vpc-a" and str(finding.severity) == "medium"
    assert finding.evidence["private_dns_interface_endpoints"] != []
    assert finding.evidence["peerings_with_dns_resolution"] == []
    assert "--enable-dns-hostnames" in cmds(finding)
    assert "--enable-dns-support" not in cmds(finding)


def test_hostnames_off_and_unused_is_fine() -> None:
    assert findings(hostnames_off(), HOSTNAMES) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        interface_endpoint("vpce-1", "vpc-a", private_dns=False),
        interface_endpoint("vpce-1", "vpc-a", private_dns=None),
        interface_endpoint("vpce-1", "vpc-a", state="deleted"),
        Endpoint("vpce-1", A, R1, "vpc-a", "Gateway", f"com.amazonaws.{R1}.s3"),
    ],
)
def test_endpoints_that_do_not_need_hostnames(endpoint: Endpoint) -> None:
    assert findings(hostnames_off(endpoint), HOSTNAMES) == []


def test_hostnames_off_with_peering_dns_resolution_on_either_side() -> None:
    snap = hostnames_off(
        vpc("vpc-b", "10.1.0.0/16"),
        peering("pcx-1", side("vpc-b", dns=True), side("vpc-a", dns=False)),
    )
    (finding,) = findings(snap, HOSTNAMES)
    assert finding.resource_id == "vpc-a"
    assert finding.evidence["peerings_with_dns_resolution"] == [
        {"peering": "pcx-1", "peer_vpc": "vpc-b"}
    ]


@pytest.mark.parametrize(("status", "dns"), [("active", (False, False)), ("deleted", (True, True))])
def test_peering_without_dns_resolution_does_not_need_hostnames(
    status: str, dns: tuple[bool, bool]
) -> None:
    snap = hostnames_off(
        vpc("vpc-b", "10.1.0.0/16"),
        peering("pcx-1", side("vpc-a", dns=dns[0]), side("vpc-b", dns=dns[1]), status=status),
    )
    assert findings(snap, HOSTNAMES) == []


def test_hostnames_unknown_is_not_claimed() -> None:
    snap = hostnames_off(interface_endpoint("vpce-1", "vpc-a"))
    snap.vpcs[0].dns_hostnames = None
    assert findings(snap, HOSTNAMES) == []


def test_both_attributes_off_fixes_support_first() -> None:
    snap = hostnames_off(interface_endpoint("vpce-1", "vpc-a"), support=False)
    (finding,) = findings(snap, HOSTNAMES)
    assert cmds(finding).index("--enable-dns-support") < cmds(finding).index(
        "--enable-dns-hostnames"
    )
    assert [f.rule_id for f in run_rules(snap, only=[SUPPORT, HOSTNAMES])] == [SUPPORT, HOSTNAMES]


# --- sg-stale-peer-reference ---

STALE = "sg-stale-peer-reference"


def peered(status: str = "active", b_account: str = A, **kw: Any) -> list[Any]:
    return [
        vpc("vpc-a", "10.0.0.0/16"),
        vpc("vpc-b", "10.1.0.0/16", account=b_account),
        peering("pcx-1", side("vpc-a"), side("vpc-b", account=b_account), status=status, **kw),
        sg("sg-b", "vpc-b", account=b_account),
    ]


def test_reference_across_deleted_peering_is_stale() -> None:
    snap = snapshot(
        *peered("deleted"), sg("sg-a", ingress=(via("pcx-1", "sg-b"),), tags={"Name": "db"})
    )
    (finding,) = findings(snap, STALE)
    assert (finding.resource_id, finding.vpc_id, finding.resource_type) == (
        "sg-a",
        "vpc-a",
        "security-group",
    )
    assert finding.evidence["stale_rules"] == [
        {
            "direction": "ingress",
            "protocol": "tcp",
            "ports": "5432",
            "referenced_group": "sg-b",
            "group_owner": A,
            "peering": "pcx-1",
            "peering_status": "deleted",
            "reason": "peering pcx-1 is deleted",
        }
    ]
    assert "db (sg-a)" in finding.message and "(peering pcx-1 is deleted)" in finding.message
    assert (
        "aws ec2 revoke-security-group-ingress --group-id sg-a --ip-permissions "
        f"'IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{{GroupId=sg-b,UserId={A}}}]'"
        " --region us-east-1"
    ) in finding.remediation


def test_reference_across_active_peering_to_live_group_is_fine() -> None:
    snap = snapshot(*peered(), sg("sg-a", ingress=(via("pcx-1", "sg-b"),)))
    assert findings(snap, STALE) == []


def test_deleted_group_in_audited_peer_account_is_stale() -> None:
    snap = snapshot(*peered(b_account=B), sg("sg-a", ingress=(via("pcx-1", "sg-gone", owner=B),)))
    (finding,) = findings(snap, STALE)
    (row,) = finding.evidence["stale_rules"]  # type: ignore[misc]
    assert row["reason"] == f"group sg-gone no longer exists in account {B}"
    assert row["peering_status"] == "active"


def test_group_in_unaudited_account_is_not_evidence() -> None:
    # The peer account B was not audited: its groups are unknown, not gone.
    resources = [r for r in peered(b_account=B) if getattr(r, "account_id", A) == A]
    snap = snapshot(
        *resources, sg("sg-a", ingress=(via("pcx-1", "sg-b", owner=B),)), unaudited=((B, R1),)
    )
    assert findings(snap, STALE) == []
    # ...but a peering we can see is deleted still is.
    snap.peerings[0].status = "deleted"
    (finding,) = findings(snap, STALE)
    assert finding.evidence["stale_rules"][0]["reason"] == "peering pcx-1 is deleted"  # type: ignore[index]


def test_peering_gone_from_the_snapshot() -> None:
    # Deleted peerings drop out of DescribeVpcPeeringConnections after a while; the group's
    # own account-region was audited, so the peering no longer exists.
    snap = snapshot(
        vpc("vpc-a", "10.0.0.0/16"), sg("sg-a", ingress=(via("pcx-old", "sg-x", owner=B),))
    )
    (finding,) = findings(snap, STALE)
    (row,) = finding.evidence["stale_rules"]  # type: ignore[misc]
    assert row["peering_status"] == "not found"
    # the referenced group's account B was not audited: only the peering is evidence
    assert row["reason"] == "peering pcx-old no longer exists"


def test_peering_status_on_the_reference_is_used_when_the_peering_is_unknown() -> None:
    snap = snapshot(
        vpc("vpc-a", "10.0.0.0/16"),
        sg("sg-a", ingress=(via("pcx-old", "sg-x", owner=B, status="deleted"),)),
    )
    (finding,) = findings(snap, STALE)
    assert finding.evidence["stale_rules"][0]["peering_status"] == "deleted"  # type: ignore[index]


def test_several_stale_rules_are_one_finding() -> None:
    snap = snapshot(
        *peered("deleted"),
        sg(
            "sg-a",
            ingress=(via("pcx-1", "sg-b"),),
            egress=(allow("-1", None, "sg-gone"), allow("tcp", (443, 443), "sg-b")),
        ),
    )
    (finding,) = findings(snap, STALE)
    rows = finding.evidence["stale_rules"]
    assert [(r["direction"], r["referenced_group"]) for r in rows] == [  # type: ignore[attr-defined]
        ("ingress", "sg-b"),
        ("egress", "sg-gone"),
    ]
    assert rows[1]["ports"] == "all" and rows[1]["peering"] == ""  # type: ignore[index]
    assert "revoke-security-group-egress --group-id sg-a" in finding.remediation


def test_describe_stale_security_groups_answer_is_used_for_its_vpc() -> None:
    stale = sg("sg-a", ingress=(via("pcx-1", "sg-b", status="deleted"),))
    snap = snapshot(
        *peered(),  # active and sg-b exists: cross-referencing alone would find nothing
        sg("sg-a", tags={"Name": "db"}),
        StaleGroupCheck("vpc-a", A, R1, [stale]),
    )
    (finding,) = findings(snap, STALE)
    assert "db (sg-a)" in finding.message
    (row,) = finding.evidence["stale_rules"]  # type: ignore[misc]
    assert row["reason"] == "reported stale by DescribeStaleSecurityGroups"
    assert row["peering_status"] == "deleted"


def test_an_empty_api_answer_overrides_cross_referencing() -> None:
    snap = snapshot(
        *peered("deleted"),
        sg("sg-a", ingress=(via("pcx-1", "sg-b"),)),
        StaleGroupCheck("vpc-a", A, R1, []),
    )
    assert findings(snap, STALE) == []


# --- sg-open-admin-port ---

OPEN = "sg-open-admin-port"


@pytest.mark.parametrize(
    ("rule", "exposes"),
    [
        (allow("tcp", (22, 22), EVERYONE), "SSH (22)"),
        (allow("6", (3389, 3389), EVERYONE), "RDP (3389)"),
        (allow("tcp", (0, 65535), EVERYONE), "SSH (22), RDP (3389)"),
        (allow("tcp", (20, 30), EVERYONE), "SSH (22)"),
        (allow("-1", None, EVERYONE), "SSH (22), RDP (3389)"),
        (allow("tcp", (22, 22), "::/0"), "SSH (22)"),
    ],
)
def test_admin_port_open_to_the_world(rule: SecurityGroupRule, exposes: str) -> None:
    (finding,) = findings(snapshot(vpc("vpc-a", "10.0.0.0/16"), sg("sg-a", ingress=(rule,))), OPEN)
    assert str(finding.severity) == "high" and finding.resource_id == "sg-a"
    (row,) = finding.evidence["open_rules"]  # type: ignore[misc]
    assert row["exposes"] == exposes
    assert row["source"] in (EVERYONE, "::/0")


def test_ipv6_source_is_revoked_as_ipv6() -> None:
    snap = snapshot(sg("sg-a", ingress=(allow("-1", None, EVERYONE, "::/0"),)))
    (finding,) = findings(snap, OPEN)
    assert [r["source"] for r in finding.evidence["open_rules"]] == [EVERYONE, "::/0"]  # type: ignore[attr-defined]
    assert "'IpProtocol=-1,Ipv6Ranges=[{CidrIpv6=::/0}]'" in finding.remediation
    assert "'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]'" in finding.remediation
    assert "(TCP 22) and RDP (TCP 3389)" in finding.message


@pytest.mark.parametrize(
    "rule",
    [
        allow("tcp", (22, 22), "10.0.0.0/8"),
        allow("-1", None, "10.0.0.0/8", "sg-other"),
        allow("tcp", (443, 443), EVERYONE),
        allow("tcp", (23, 3388), EVERYONE),
        allow("udp", (3389, 3389), EVERYONE),
        allow("icmp", (-1, -1), EVERYONE),
    ],
)
def test_not_open_admin_ports(rule: SecurityGroupRule) -> None:
    assert findings(snapshot(sg("sg-a", ingress=(rule,))), OPEN) == []


def test_open_egress_is_not_inbound_exposure() -> None:
    assert findings(snapshot(sg("sg-a", egress=(allow("-1", None, EVERYONE),))), OPEN) == []


def test_several_open_rules_are_one_finding() -> None:
    snap = snapshot(
        sg(
            "sg-a",
            ingress=(
                allow("tcp", (22, 22), EVERYONE),
                allow("tcp", (3389, 3389), "::/0", "10.0.0.0/8"),
            ),
        )
    )
    (finding,) = findings(snap, OPEN)
    assert len(finding.evidence["open_rules"]) == 2  # type: ignore[arg-type]


# --- sg-default-allows-traffic ---

DEFAULT = "sg-default-allows-traffic"
AWS_DEFAULTS = (allow("-1", None, EVERYONE, "::/0"),)


@pytest.mark.parametrize(
    "ingress",
    [
        (allow("-1", None, "sg-d"),),  # AWS: all traffic from the group itself
        (),  # moto, or someone removed the self-reference: fewer rules are fine
    ],
)
def test_default_group_with_only_defaults(ingress: tuple[SecurityGroupRule, ...]) -> None:
    snap = snapshot(sg("sg-d", name="default", ingress=ingress, egress=AWS_DEFAULTS))
    assert findings(snap, DEFAULT) == []


def test_default_group_with_no_rules_at_all() -> None:
    assert findings(snapshot(sg("sg-d", name="default")), DEFAULT) == []


def test_default_group_with_extra_rules() -> None:
    snap = snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        sg(
            "sg-d",
            name="default",
            ingress=(allow("-1", None, "sg-d"), allow("tcp", (443, 443), "10.0.0.0/8", "sg-d")),
            egress=(allow("-1", None, EVERYONE, "10.9.0.0/16"),),
        ),
    )
    (finding,) = findings(snap, DEFAULT)
    assert str(finding.severity) == "low" and finding.resource_id == "sg-d"
    assert finding.evidence["extra_rules"] == [
        {"direction": "ingress", "protocol": "tcp", "ports": "443", "peer": "10.0.0.0/8"},
        {"direction": "ingress", "protocol": "tcp", "ports": "443", "peer": "sg-d"},
        {"direction": "egress", "protocol": "all", "ports": "all", "peer": "10.9.0.0/16"},
    ]
    assert "app (vpc-a)" in finding.message and "3 rule(s)" in finding.message
    assert "revoke-security-group-egress --group-id sg-d" in finding.remediation


def test_other_groups_with_the_same_rules_are_not_default() -> None:
    snap = snapshot(sg("sg-a", name="default-ish", ingress=(allow("tcp", (443, 443), EVERYONE),)))
    assert findings(snap, DEFAULT) == []


# --- vpc-flow-logs-off ---

FLOW = "vpc-flow-logs-off"


def eni(id: str, vpc_id: str = "vpc-a", subnet_id: str = "subnet-a1") -> NetworkInterface:
    return NetworkInterface(id, A, R1, vpc_id, subnet_id)


def flow_log(id: str, resource: str, delivery: str | None = "SUCCESS") -> FlowLog:
    return FlowLog(id, A, R1, resource, deliver_logs_status=delivery)


def used_vpc(*resources: Any) -> Snapshot:
    return snapshot(
        vpc("vpc-a", "10.0.0.0/16", tags={"Name": "app"}),
        subnet("subnet-a1", "vpc-a", "10.0.1.0/24", tags={"Name": "app-1"}),
        subnet("subnet-a2", "vpc-a", "10.0.2.0/24"),
        eni("eni-1"),
        *resources,
    )


def test_vpc_in_use_without_flow_log() -> None:
    (finding,) = findings(used_vpc(), FLOW)
    assert (finding.resource_id, finding.resource_type) == ("vpc-a", "vpc")
    assert finding.evidence["network_interfaces"] == 1
    assert "app (vpc-a) has 1 network interface(s) but no flow log" in finding.message
    assert "create-flow-logs --resource-type VPC --resource-ids vpc-a" in finding.remediation
    assert "arn:aws:s3:::" in finding.remediation


@pytest.mark.parametrize("delivery", ["SUCCESS", None])
def test_vpc_with_active_flow_log(delivery: str | None) -> None:
    assert findings(used_vpc(flow_log("fl-1", "vpc-a", delivery)), FLOW) == []


def test_empty_vpc_is_skipped_unless_include_empty() -> None:
    snap = snapshot(vpc("vpc-a", "10.0.0.0/16"), eni("eni-other", vpc_id="vpc-b"))
    assert findings(snap, FLOW) == []
    (finding,) = findings(snap, FLOW, include_empty=True)
    assert finding.resource_id == "vpc-a" and finding.evidence["network_interfaces"] == 0


def test_failed_delivery_is_reported_differently() -> None:
    snap = used_vpc(flow_log("fl-1", "vpc-a", "FAILED"))
    (finding,) = findings(snap, FLOW)
    assert "delivery FAILED" in finding.message and "no flow log" not in finding.message
    assert "--flow-log-ids fl-1" in finding.remediation
    assert finding.evidence["vpc_flow_logs"][0]["deliver_logs_status"] == "FAILED"  # type: ignore[index]
    (off,) = findings(used_vpc(), FLOW)
    assert finding.id != off.id  # a different problem, tracked separately


def test_one_working_flow_log_is_enough() -> None:
    snap = used_vpc(flow_log("fl-1", "vpc-a", "FAILED"), flow_log("fl-2", "vpc-a"))
    assert findings(snap, FLOW) == []


def test_subnet_and_interface_flow_logs_are_partial_coverage() -> None:
    snap = used_vpc(
        flow_log("fl-s", "subnet-a1"),
        flow_log("fl-e", "eni-1"),
        flow_log("fl-bad", "subnet-a2", "FAILED"),
    )
    (finding,) = findings(snap, FLOW)
    assert finding.evidence["partial_coverage"] == [
        {"resource": "app-1 (subnet-a1)", "flow_log": "fl-s"},
        {"resource": "eni-1", "flow_log": "fl-e"},
    ]
    assert "Only 2 subnet or interface flow log(s)" in finding.message


def test_inactive_flow_log_does_not_count() -> None:
    snap = used_vpc(flow_log("fl-1", "vpc-a"))
    snap.flow_logs[0].status = "DELETING"
    assert len(findings(snap, FLOW)) == 1


# --- end to end on moto ---


def run(rule_ids: list[str], **settings: Any) -> list[Finding]:
    snap = collect(Request(regions=("us-east-1",)))
    return run_rules(snap, only=rule_ids, settings=RuleSettings(**settings))


def test_moto_dns_attributes(aws: FaultServer) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    no_dns = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=no_dns, EnableDnsSupport={"Value": False})
    with_endpoint = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]  # hostnames off
    subnet_id = ec2.create_subnet(VpcId=with_endpoint, CidrBlock="10.1.1.0/24")["Subnet"][
        "SubnetId"
    ]
    ec2.create_vpc_endpoint(
        VpcId=with_endpoint,
        VpcEndpointType="Interface",
        ServiceName="com.amazonaws.us-east-1.ssm",
        SubnetIds=[subnet_id],
        PrivateDnsEnabled=True,
    )
    ec2.create_vpc(CidrBlock="10.2.0.0/16")  # hostnames off, unused: fine
    got = {(f.rule_id, f.resource_id) for f in run([SUPPORT, HOSTNAMES])}
    assert got == {(SUPPORT, no_dns), (HOSTNAMES, with_endpoint)}


def test_moto_security_groups_and_flow_logs(aws: FaultServer) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    a = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"
    ]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=a)["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=b)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": app, "VpcId": a, "VpcPeeringConnectionId": pcx}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=app,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
    )
    default_b = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [b]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=default_b,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )
    subnet_a = ec2.create_subnet(VpcId=a, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    subnet_b = ec2.create_subnet(VpcId=b, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet_a)
    ec2.create_network_interface(SubnetId=subnet_b)
    c = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnet_c = ec2.create_subnet(VpcId=c, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet_c)
    boto3.client("logs", region_name="us-east-1").create_log_group(logGroupName="flows")
    for vpc_id, group in ((b, "flows"), (c, "missing")):  # moto: FAILED without the log group
        ec2.create_flow_logs(
            ResourceIds=[vpc_id],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="cloud-watch-logs",
            LogGroupName=group,
            DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
        )
    rules = [STALE, OPEN, DEFAULT, FLOW]
    got = run(rules)
    assert {(f.rule_id, f.resource_id) for f in got} == {
        (OPEN, app),
        (DEFAULT, default_b),
        (FLOW, a),
        (FLOW, c),
    }
    failing = next(f for f in got if f.resource_id == c)
    assert "delivery FAILED" in failing.message
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    stale = [f for f in run(rules) if f.rule_id == STALE]
    assert [f.resource_id for f in stale] == [db]
    (row,) = stale[0].evidence["stale_rules"]  # type: ignore[misc]
    assert (row["referenced_group"], row["peering"], row["peering_status"]) == (app, pcx, "deleted")
