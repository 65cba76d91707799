"""Network ACLs and network interfaces as `reach` needs them, read from moto (DescribeNetworkAcls,
DescribeNetworkInterfaces); a refused ACL read leaves them unknown with a note."""

from __future__ import annotations

from tests.faults import FaultServer
from tests.test_collect import audit_base, by_id, ec2, new_subnet, new_vpc, refusing


def test_network_acls_with_their_numbered_entries_and_subnets(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    subnet = new_subnet(client, vpc, "10.1.1.0/24")
    acl = client.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    client.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="10.2.0.0/16",
        PortRange={"From": 5432, "To": 5432},
    )
    client.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=90, Protocol="-1", RuleAction="deny", Egress=True,
        CidrBlock="0.0.0.0/0",
    )  # fmt: skip
    default = next(
        a["Associations"][0]["NetworkAclAssociationId"]
        for a in client.describe_network_acls()["NetworkAcls"]
        if a["VpcId"] == vpc and a["IsDefault"]
    )
    client.replace_network_acl_association(AssociationId=default, NetworkAclId=acl)

    snap = audit_base()
    acls = by_id(snap.network_acls)
    custom = acls[acl]
    assert (custom.vpc_id, custom.is_default, custom.subnet_ids) == (vpc, False, [subnet])
    inbound = [e for e in custom.entries if not e.egress and e.rule_number == 100]
    assert [(e.protocol, e.rule_action, e.cidr, e.from_port, e.to_port) for e in inbound] == [
        ("6", "allow", "10.2.0.0/16", 5432, 5432)
    ]
    outbound = [e for e in custom.entries if e.egress and e.rule_number == 90]
    assert [(e.protocol, e.rule_action, e.cidr) for e in outbound] == [("-1", "deny", "0.0.0.0/0")]
    defaults = [a for a in snap.network_acls if a.vpc_id == vpc and a.is_default]
    assert len(defaults) == 1 and defaults[0].subnet_ids == []
    assert snap.coverage_notes == []


def test_network_interfaces_keep_addresses_groups_and_attachment(aws: FaultServer) -> None:
    client = ec2()
    vpc = new_vpc(client, "10.1.0.0/16")
    subnet = new_subnet(client, vpc, "10.1.1.0/24")
    group = client.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    eni = client.create_network_interface(
        SubnetId=subnet,
        Groups=[group],
        PrivateIpAddress="10.1.1.10",
        SecondaryPrivateIpAddressCount=1,
    )["NetworkInterface"]["NetworkInterfaceId"]

    found = by_id(audit_base().network_interfaces)[eni]
    assert found.subnet_id == subnet and found.vpc_id == vpc
    assert found.private_ips[0] == "10.1.1.10" and len(found.private_ips) == 2
    assert found.security_group_ids == [group]


def test_a_refused_network_acl_read_is_a_note_not_a_gap(aws: FaultServer) -> None:
    new_vpc(ec2(), "10.1.0.0/16")
    aws.faults = refusing("DescribeNetworkAcls", "UnauthorizedOperation", "not allowed")
    snap = audit_base()
    assert [c.status for c in snap.coverage] == ["ok"]
    assert snap.vpcs and snap.network_acls == []
    (note,) = snap.coverage_notes
    assert note.subject == "network ACLs (DescribeNetworkAcls)"
    assert note.reason.startswith("UnauthorizedOperation on DescribeNetworkAcls")
