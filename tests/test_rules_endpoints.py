"""Endpoint rules (and dynamodb-egress-via-nat) on hand-built snapshots, plus moto end to end."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from auditor.collect import Request, collect
from auditor.model import (
    Endpoint,
    EndpointService,
    Finding,
    GroupReference,
    PrefixList,
    RuleSettings,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
)
from auditor.rules import run_rules
from tests.builders import (
    R1,
    A,
    B,
    route,
    s3_endpoint,
    s3_prefix_list,
    snapshot,
    subnet,
    table,
    vpc,
)
from tests.faults import FaultServer


def cmds(finding: Finding) -> str:
    """The finding's remediation commands, as one text to search."""
    return "\n".join(finding.remediation_commands)


DDB_PL = "pl-02cd2c6b"
DDB_CIDRS = ["3.218.180.0/22", "35.71.64.0/22"]
ORG = "o-a1b2c3d4e5"


def findings(snap: Snapshot, rule_id: str, settings: RuleSettings | None = None) -> list[Finding]:
    return run_rules(snap, only=[rule_id], settings=settings)


def endpoint(
    id: str = "vpce-1",
    service: str = "ssm",
    kind: str = "Interface",
    vpc_id: str = "vpc-1",
    **extra: Any,
) -> Endpoint:
    name = service if service.startswith("com.") else f"com.amazonaws.{R1}.{service}"
    return Endpoint(id, A, R1, vpc_id, kind, name, **extra)


def network(*resources: Any, **kw: Any) -> Snapshot:
    """VPC shop (10.0.0.0/16) with subnets in us-east-1a and us-east-1b, plus `resources`."""
    return snapshot(
        vpc("vpc-1", "10.0.0.0/16", tags={"Name": "shop"}),
        subnet("subnet-a", "vpc-1", "10.0.1.0/24", availability_zone="us-east-1a"),
        subnet("subnet-b", "vpc-1", "10.0.2.0/24", availability_zone="us-east-1b"),
        *resources,
        **kw,
    )


# --- dynamodb-egress-via-nat ---

DDB = "dynamodb-egress-via-nat"


def ddb_prefix_list() -> PrefixList:
    return PrefixList(DDB_PL, R1, f"com.amazonaws.{R1}.dynamodb", "AWS", DDB_CIDRS)


def private_table(*routes: Any) -> Any:
    return table(
        "rtb-priv",
        "vpc-1",
        route("10.0.0.0/16", "local"),
        route("0.0.0.0/0", "nat-1"),
        *routes,
        subnets=("subnet-a", "subnet-b"),
    )


def test_dynamodb_through_nat_without_endpoint() -> None:
    (finding,) = findings(network(private_table(), ddb_prefix_list()), DDB)
    assert finding.resource_id == "rtb-priv" and finding.resource_type == "route-table"
    assert finding.severity.name == "MEDIUM"
    assert finding.evidence["prefix_list"] == DDB_PL
    assert finding.evidence["nat_gateways"] == ["nat-1"]
    assert "DynamoDB" in finding.message and "shop (vpc-1)" in finding.message
    assert f"--service-name com.amazonaws.{R1}.dynamodb" in cmds(finding)


def test_dynamodb_gateway_endpoint_route_is_healthy() -> None:
    snap = network(
        private_table(route(DDB_PL, "vpce-ddb")),
        ddb_prefix_list(),
        endpoint("vpce-ddb", "dynamodb", "Gateway", route_table_ids=["rtb-priv"]),
    )
    assert findings(snap, DDB) == []


def test_s3_endpoint_does_not_serve_dynamodb() -> None:
    snap = network(
        private_table(route("pl-63a5400a", "vpce-s3")),
        ddb_prefix_list(),
        s3_prefix_list(),
        s3_endpoint("vpce-s3", "vpc-1", "rtb-priv"),
    )
    assert [f.resource_id for f in findings(snap, DDB)] == ["rtb-priv"]
    assert findings(snap, "s3-egress-via-nat") == []


def test_dynamodb_endpoint_not_associated_with_the_table() -> None:
    snap = network(
        private_table(),
        ddb_prefix_list(),
        endpoint("vpce-ddb", "dynamodb", "Gateway", route_table_ids=[]),
    )
    (finding,) = findings(snap, DDB)
    assert "--vpc-endpoint-id vpce-ddb --add-route-table-ids rtb-priv" in cmds(finding)


def test_dynamodb_without_prefix_list_uses_the_default_route() -> None:
    (finding,) = findings(network(private_table(), s3_prefix_list()), DDB)
    assert finding.evidence["prefix_list"] == f"com.amazonaws.{R1}.dynamodb (not collected)"


@pytest.mark.parametrize(("private_dns", "reported"), [(True, False), (False, True)])
def test_interface_endpoint_with_private_dns_answers_for_the_service(
    private_dns: bool, reported: bool
) -> None:
    snap = network(
        private_table(),
        ddb_prefix_list(),
        endpoint(
            "vpce-ddb-if", "dynamodb", subnet_ids=["subnet-a"], private_dns_enabled=private_dns
        ),
    )
    assert bool(findings(snap, DDB)) is reported


# --- gateway-endpoint-unrouted ---

UNROUTED = "gateway-endpoint-unrouted"


def main_table(**kw: Any) -> Any:
    return table("rtb-main", "vpc-1", route("10.0.0.0/16", "local"), main=True, **kw)


def test_gateway_endpoint_without_route_tables() -> None:
    snap = network(main_table(), s3_endpoint("vpce-s3", "vpc-1"))
    (finding,) = findings(snap, UNROUTED)
    assert finding.resource_id == "vpce-s3" and finding.resource_type == "vpc-endpoint"
    assert "associated with no route table" in finding.message
    assert finding.evidence["tables_serving_subnets_in_vpc"] == ["rtb-main"]
    # Which tables should use it is the user's call: the egress findings carry the command.
    assert "Associate it with the route tables" in finding.remediation
    assert finding.remediation_commands == []


def test_gateway_endpoint_on_a_table_that_serves_no_subnet() -> None:
    snap = network(
        main_table(),
        table("rtb-spare", "vpc-1", tags={"Name": "spare"}),
        s3_endpoint("vpce-s3", "vpc-1", "rtb-spare"),
    )
    (finding,) = findings(snap, UNROUTED)
    assert "spare (rtb-spare)" in finding.message and "serve no subnet" in finding.message
    assert finding.evidence["associated_route_tables"] == ["spare (rtb-spare)"]


def test_main_table_serves_its_implicit_subnets() -> None:
    snap = network(main_table(), s3_endpoint("vpce-s3", "vpc-1", "rtb-main"))
    assert findings(snap, UNROUTED) == []


def test_main_table_whose_subnets_all_have_their_own_tables_serves_none() -> None:
    snap = network(
        main_table(),
        table("rtb-own", "vpc-1", subnets=("subnet-a", "subnet-b")),
        s3_endpoint("vpce-s3", "vpc-1", "rtb-main"),
    )
    (finding,) = findings(snap, UNROUTED)
    assert finding.evidence["tables_serving_subnets_in_vpc"] == ["rtb-own"]


def test_one_serving_table_is_enough() -> None:
    snap = network(
        main_table(),
        table("rtb-spare", "vpc-1"),
        table("rtb-a", "vpc-1", subnets=("subnet-a",)),
        s3_endpoint("vpce-s3", "vpc-1", "rtb-spare", "rtb-a"),
    )
    assert findings(snap, UNROUTED) == []


def test_unknown_route_table_is_not_judged() -> None:
    snap = network(main_table(), s3_endpoint("vpce-s3", "vpc-1", "rtb-elsewhere"))
    assert findings(snap, UNROUTED) == []


def test_interface_and_deleted_endpoints_are_not_gateway_routing_problems() -> None:
    snap = network(
        main_table(),
        endpoint("vpce-if", subnet_ids=["subnet-a"]),
        endpoint("vpce-old", "s3", "Gateway", state="deleted"),
    )
    assert findings(snap, UNROUTED) == []


# --- endpoint policies ---

FULL = "endpoint-policy-full-access"
UNTRUSTED = "endpoint-policy-untrusted-principal"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    principal: Any = "*", action: Any = "*", resource: Any = "*", **extra: Any
) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": resource,
        **extra,
    }


DEFAULT = json.dumps(
    {"Version": "2008-10-17", "Statement": [allow()]}  # what AWS attaches when none is given
)


def with_policy(document: str | None, **kw: Any) -> Snapshot:
    kw.setdefault("subnet_ids", ["subnet-a"])
    return network(endpoint(policy_document=document, **kw))


@pytest.mark.parametrize(
    "document",
    [
        DEFAULT,
        policy(allow({"AWS": "*"}, ["*"], ["*"])),
        policy(allow({"AWS": ["*", f"arn:aws:iam::{A}:root"]}), allow(action="ssm:GetParameter")),
        json.dumps({"Statement": allow()}),  # a single statement need not be a list
    ],
)
def test_full_access_policies(document: str) -> None:
    (finding,) = findings(with_policy(document), FULL)
    assert finding.resource_id == "vpce-1" and finding.severity.name == "LOW"
    assert "every action" in finding.message
    assert finding.evidence["statements"][0]["action"] in ("*", '["*"]')  # type: ignore[index]
    assert "modify-vpc-endpoint --vpc-endpoint-id vpce-1 --policy-document" in finding.remediation


@pytest.mark.parametrize(
    "document",
    [
        policy(allow(action="ssm:*")),
        policy(allow(resource="arn:aws:s3:::my-bucket/*")),
        policy(allow(Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}})),
        policy(
            {
                "Effect": "Allow",
                "Principal": "*",
                "NotAction": "ssm:DeleteParameter",
                "Resource": "*",
            }
        ),
        policy(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "*",
                "Resource": "*",
            }
        ),
        None,
        "",
        "{not json",
        json.dumps(["a list, not a policy"]),
        json.dumps({"Statement": ["not a statement"]}),
    ],
)
def test_not_full_access(document: str | None) -> None:
    assert findings(with_policy(document), FULL) == []


@pytest.mark.parametrize(
    "kw",
    [
        {"service": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"},
        {"kind": "GatewayLoadBalancer", "service": "com.amazonaws.vpce.us-east-1.vpce-svc-1"},
        {"state": "failed"},
        {"state": "Deleting"},
    ],
)
def test_policy_rules_skip_endpoints_whose_policy_cannot_matter(kw: dict[str, Any]) -> None:
    snap = with_policy(DEFAULT, **kw)
    assert findings(snap, FULL) == [] and findings(snap, UNTRUSTED) == []


def test_default_policy_is_one_finding_of_the_full_access_rule() -> None:
    assert [f.rule_id for f in run_rules(with_policy(DEFAULT), only=[FULL, UNTRUSTED])] == [FULL]


def test_everyone_for_some_actions_grants_everyone() -> None:
    (finding,) = findings(with_policy(policy(allow(action="s3:GetObject"))), UNTRUSTED)
    assert finding.severity.name == "HIGH"
    assert "any AWS principal (`*`)" in finding.message
    (grant,) = finding.evidence["statements"]  # type: ignore[misc]
    assert grant["untrusted"] == "*"
    assert f'"aws:PrincipalAccount": "{A}"' in finding.remediation


def test_remediation_names_the_organisation_when_known() -> None:
    snap = with_policy(policy(allow(action="s3:GetObject")))
    snap.scope.organization_id = ORG
    (finding,) = findings(snap, UNTRUSTED)
    assert f'"aws:PrincipalOrgID": "{ORG}"' in finding.remediation
    assert finding.evidence["trusted_organizations"] == [ORG]


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": B},
        {"AWS": f"arn:aws:iam::{B}:root"},
        {"AWS": [f"arn:aws:iam::{A}:role/app", f"arn:aws:sts::{B}:assumed-role/x/session"]},
        {"AWS": "arn:aws:iam::*:role/app"},
    ],
)
def test_principals_of_untrusted_accounts(principal: dict[str, Any]) -> None:
    (finding,) = findings(with_policy(policy(allow(principal, "ssm:GetParameter"))), UNTRUSTED)
    (grant,) = finding.evidence["statements"]  # type: ignore[misc]
    assert f"arn:aws:iam::{A}:role/app" not in grant["untrusted"]
    assert B in grant["untrusted"] or "*" in grant["untrusted"]


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": A},  # the endpoint's own (audited) account
        {"AWS": f"arn:aws:iam::{A}:role/app"},
        {"Service": "ec2.amazonaws.com"},  # not an account
        {"AWS": "AROAEXAMPLEUNIQUEID"},  # names no account we can judge
    ],
)
def test_trusted_or_unjudgeable_principals(principal: dict[str, Any]) -> None:
    assert findings(with_policy(policy(allow(principal))), UNTRUSTED) == []


def test_policy_trusted_accounts_from_rule_settings() -> None:
    snap = with_policy(policy(allow({"AWS": f"arn:aws:iam::{B}:root"})))
    assert findings(snap, UNTRUSTED)
    assert findings(snap, UNTRUSTED, RuleSettings(trusted_accounts=frozenset({B}))) == []


@pytest.mark.parametrize(
    ("condition", "reported"),
    [
        ({"StringEquals": {"aws:PrincipalOrgID": ORG}}, False),
        ({"StringEquals": {"aws:principalorgid": [ORG]}}, False),  # keys are case-insensitive
        ({"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}, True),
        ({"StringEquals": {"aws:PrincipalOrgID": [ORG, "o-zzzzzzzzzz"]}}, True),
        ({"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, True),  # passes when absent
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/r-ab12/*"}}, False),
        ({"StringEquals": {"aws:PrincipalAccount": A}}, False),
        ({"StringEquals": {"aws:PrincipalAccount": B}}, True),
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:role/*"}}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deploy"}}, True),
        # Every request through the endpoint comes from its own VPC and endpoint: no limit.
        ({"StringEquals": {"aws:SourceVpce": "vpce-1"}}, True),
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, True),
        # Naming another VPC or endpoint, the statement never matches here: it grants nothing.
        ({"StringEquals": {"aws:SourceVpce": "vpce-other"}}, False),
        ({"StringEquals": {"aws:SourceVpc": "vpc-other"}}, False),
        ({"StringNotEquals": {"aws:PrincipalOrgID": ORG}}, True),  # negation on an Allow
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, True),
        (
            {"StringEquals": {"aws:PrincipalOrgID": ORG}, "Bool": {"aws:SecureTransport": "true"}},
            False,
        ),
    ],
)
def test_conditions_that_limit_an_allow(condition: dict[str, Any], reported: bool) -> None:
    snap = with_policy(policy(allow(Condition=condition)))
    snap.scope.organization_id = ORG
    assert bool(findings(snap, UNTRUSTED)) is reported


def deny_outside(condition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": condition,
        **extra,
    }


@pytest.mark.parametrize(
    ("deny", "reported"),
    [
        (deny_outside({"StringNotEquals": {"aws:PrincipalOrgID": ORG}}), False),
        (deny_outside({"StringNotEqualsIfExists": {"aws:PrincipalAccount": [A]}}), False),
        (deny_outside({"StringNotEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}), True),
        (
            deny_outside(
                {"StringNotEquals": {"aws:PrincipalOrgID": ORG, "aws:SourceVpce": "vpce-1"}}
            ),
            True,  # both must hold for the deny to apply: narrower than a perimeter
        ),
        (
            {**deny_outside({"StringNotEquals": {"aws:PrincipalOrgID": ORG}}), "Action": "ssm:*"},
            True,
        ),
    ],
)
def test_deny_perimeter_limits_the_whole_policy(deny: dict[str, Any], reported: bool) -> None:
    snap = with_policy(policy(allow(), deny))
    snap.scope.organization_id = ORG
    # The open Allow is reported once: as full access, or (when a Deny of everything narrows
    # it, but not to trusted principals) as an untrusted principal.
    assert bool(run_rules(snap, only=[FULL, UNTRUSTED])) is reported


def test_a_deny_of_a_few_actions_leaves_full_access() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "ssm:DeleteParameter", "Resource": "*"}
    snap = with_policy(policy(allow(), deny))
    assert [f.rule_id for f in run_rules(snap, only=[FULL, UNTRUSTED])] == [FULL]


def test_not_principal_allow_grants_everyone_else() -> None:
    statement = {"Effect": "Allow", "NotPrincipal": {"AWS": B}, "Action": "ssm:*", "Resource": "*"}
    (finding,) = findings(with_policy(policy(statement)), UNTRUSTED)
    assert "any AWS principal" in finding.message
    (grant,) = finding.evidence["statements"]  # type: ignore[misc]
    assert grant["principal"] == f'not {{"AWS": "{B}"}}' and grant["untrusted"] == "*"


def test_malformed_policy_is_skipped_without_error() -> None:
    for document in (
        "{not json",
        "null",
        json.dumps({"Statement": 7}),
        json.dumps({"Statement": []}),
    ):
        assert findings(with_policy(document), UNTRUSTED) == []


def test_one_finding_lists_every_untrusted_statement() -> None:
    document = policy(
        allow({"AWS": B}, "ssm:GetParameter", Sid="b"),
        allow({"AWS": "333333333333"}, "ssm:GetParameter", Sid="c"),
        allow({"AWS": A}, Sid="own"),
    )
    (finding,) = findings(with_policy(document), UNTRUSTED)
    assert [g["sid"] for g in finding.evidence["statements"]] == ["b", "c"]  # type: ignore[attr-defined]
    assert f"({B}, 333333333333)" in finding.message


# --- interface-endpoint-private-dns-off ---

PRIVATE_DNS = "interface-endpoint-private-dns-off"


def test_private_dns_off() -> None:
    snap = network(
        endpoint(subnet_ids=["subnet-a"], private_dns_enabled=False, tags={"Name": "ssm"})
    )
    (finding,) = findings(snap, PRIVATE_DNS)
    assert finding.resource_id == "vpce-1" and finding.vpc_id == "vpc-1"
    assert "ssm (vpce-1)" in finding.message and "NAT" in finding.message
    assert "--vpc-endpoint-id vpce-1 --private-dns-enabled" in cmds(finding)


@pytest.mark.parametrize(
    "resources",
    [
        [endpoint(private_dns_enabled=True)],
        [endpoint(private_dns_enabled=None)],  # unknown
        [endpoint(service="com.amazonaws.vpce.us-east-1.vpce-svc-1", private_dns_enabled=False)],
        [endpoint(private_dns_enabled=False, state="rejected")],
        # another endpoint for the service answers for its name
        [endpoint(private_dns_enabled=False), endpoint("vpce-2", private_dns_enabled=True)],
        [endpoint(service="s3", private_dns_enabled=False), s3_endpoint("vpce-gw", "vpc-1")],
    ],
)
def test_private_dns_off_not_reported(resources: list[Any]) -> None:
    assert findings(network(*resources), PRIVATE_DNS) == []


def test_s3_interface_endpoint_without_gateway_endpoint_is_reported() -> None:
    snap = network(
        endpoint(service="s3", private_dns_enabled=False), s3_endpoint("vpce-gw", "vpc-2")
    )
    assert [f.resource_id for f in findings(snap, PRIVATE_DNS)] == ["vpce-1"]


# --- interface-endpoint-dns-attributes-off ---

DNS_ATTRS = "interface-endpoint-dns-attributes-off"


def vpc_with_dns(
    support: bool | None, hostnames: bool | None, private_dns: bool | None = True
) -> Snapshot:
    shop = vpc("vpc-1", "10.0.0.0/16")
    shop.dns_support, shop.dns_hostnames = support, hostnames
    return snapshot(shop, endpoint(private_dns_enabled=private_dns))


def test_private_dns_with_hostnames_off() -> None:
    (finding,) = findings(vpc_with_dns(True, False), DNS_ATTRS)
    assert finding.severity.name == "HIGH"
    assert "enableDnsHostnames off" in finding.message
    assert "--enable-dns-hostnames" in cmds(finding)
    assert "--enable-dns-support" not in cmds(finding)
    assert finding.evidence["vpc_dns_attributes"] == {
        "enableDnsSupport": True,
        "enableDnsHostnames": False,
    }


def test_private_dns_with_both_attributes_off() -> None:
    (finding,) = findings(vpc_with_dns(False, False), DNS_ATTRS)
    assert "enableDnsSupport and enableDnsHostnames off" in finding.message
    assert cmds(finding).count("modify-vpc-attribute") == 2


@pytest.mark.parametrize(
    "args", [(True, True), (None, None), (None, True), (False, False, False), (False, True, None)]
)
def test_dns_attributes_not_reported(args: tuple[Any, ...]) -> None:
    assert findings(vpc_with_dns(*args), DNS_ATTRS) == []


# --- interface-endpoint-single-az ---

SINGLE_AZ = "interface-endpoint-single-az"


def test_all_subnets_in_one_zone() -> None:
    snap = network(
        subnet("subnet-a2", "vpc-1", "10.0.3.0/24", availability_zone="us-east-1a"),
        endpoint(subnet_ids=["subnet-a", "subnet-a2"]),
    )
    (finding,) = findings(snap, SINGLE_AZ)
    assert "only in us-east-1a" in finding.message
    assert "--add-subnet-ids subnet-b" in finding.remediation
    assert finding.evidence["subnets_not_in_snapshot"] == []


def test_subnets_in_two_zones_are_fine() -> None:
    assert findings(network(endpoint(subnet_ids=["subnet-a", "subnet-b"])), SINGLE_AZ) == []


def test_unknown_subnets_are_named_and_the_known_ones_judged() -> None:
    (finding,) = findings(network(endpoint(subnet_ids=["subnet-a", "subnet-gone"])), SINGLE_AZ)
    assert "subnet-gone" in finding.message
    assert finding.evidence["subnets_not_in_snapshot"] == ["subnet-gone"]


@pytest.mark.parametrize(
    "ep",
    [
        endpoint(subnet_ids=[]),
        endpoint(subnet_ids=["subnet-gone"]),
        endpoint(kind="GatewayLoadBalancer", subnet_ids=["subnet-a"]),
        endpoint(subnet_ids=["subnet-a"], state="deleting"),
    ],
)
def test_single_az_not_judged(ep: Endpoint) -> None:
    assert findings(network(ep), SINGLE_AZ) == []


# --- interface-endpoint-sg-blocks-https ---

HTTPS = "interface-endpoint-sg-blocks-https"


def sg(id: str, *ingress: SecurityGroupRule) -> SecurityGroup:
    return SecurityGroup(id, A, R1, "vpc-1", ingress=list(ingress))


def tcp(low: int, high: int, *cidrs: str, **extra: Any) -> SecurityGroupRule:
    return SecurityGroupRule("tcp", low, high, cidrs=list(cidrs), **extra)


def with_groups(*groups: SecurityGroup, ids: list[str] | None = None, **kw: Any) -> Snapshot:
    ids = [g.id for g in groups] if ids is None else ids
    return network(*groups, endpoint(subnet_ids=["subnet-a"], security_group_ids=ids, **kw))


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [tcp(443, 443, "192.168.0.0/16")],  # only from outside the VPC
        [tcp(80, 80, "10.0.0.0/16")],
        [SecurityGroupRule("udp", 443, 443, cidrs=["10.0.0.0/16"])],
        [tcp(443, 443, ipv6_cidrs=["2001:db8::/32"])],  # the VPC has no IPv6 range
        # The default group's self rule: only other members of the endpoint's group get in.
        [SecurityGroupRule("-1", groups=[GroupReference("sg-1")])],
    ],
)
def test_https_blocked(rules: list[SecurityGroupRule]) -> None:
    (finding,) = findings(with_groups(sg("sg-1", *rules)), HTTPS)
    assert finding.resource_id == "vpce-1" and finding.severity.name == "MEDIUM"
    assert "TCP 443" in finding.message and "10.0.0.0/16" in finding.message
    assert "--group-id sg-1" in finding.remediation and "CidrIp=10.0.0.0/16" in finding.remediation
    assert finding.evidence["security_groups"] == ["sg-1"]


@pytest.mark.parametrize(
    "rule",
    [
        tcp(443, 443, "10.0.0.0/16"),
        tcp(443, 443, "10.0.1.0/24"),  # part of the VPC is enough
        tcp(0, 65535, "0.0.0.0/0"),
        SecurityGroupRule("6", 443, 443, cidrs=["10.0.0.0/8"]),
        SecurityGroupRule("-1", None, None, cidrs=["10.0.5.0/24"]),
        tcp(443, 443, groups=[GroupReference("sg-clients")]),
        tcp(443, 443, prefix_list_ids=["pl-clients"]),
    ],
)
def test_https_allowed(rule: SecurityGroupRule) -> None:
    assert findings(with_groups(sg("sg-1", rule)), HTTPS) == []


def test_one_group_allowing_is_enough() -> None:
    snap = with_groups(sg("sg-1"), sg("sg-2", tcp(443, 443, "10.0.0.0/16")))
    assert findings(snap, HTTPS) == []


def test_ipv6_source_inside_an_ipv6_vpc() -> None:
    snap = with_groups(sg("sg-1", tcp(443, 443, ipv6_cidrs=["::/0"])))
    snap.vpcs[0].ipv6_cidr_blocks = ["2600:1f18:1234:5600::/56"]
    assert findings(snap, HTTPS) == []


@pytest.mark.parametrize(
    ("groups", "kw"),
    [
        ([], {}),  # moto lists no groups where AWS lists the default group: unknown
        ([sg("sg-1")], {"ids": ["sg-1", "sg-unread"]}),
        ([sg("sg-1", tcp(587, 587, "10.0.0.0/16"))], {"service": "email-smtp"}),  # SMTP, not 443
        ([sg("sg-1")], {"service": "com.amazonaws.vpce.us-east-1.vpce-svc-1"}),
        ([sg("sg-1")], {"state": "failed"}),
    ],
)
def test_https_not_judged(groups: list[SecurityGroup], kw: dict[str, Any]) -> None:
    assert findings(with_groups(*groups, **kw), HTTPS) == []


# --- endpoint-not-available ---

STATE = "endpoint-not-available"


def provider(**kw: Any) -> EndpointService:
    return EndpointService("vpce-svc-1", B, R1, "com.amazonaws.vpce.us-east-1.vpce-svc-1", **kw)


def test_pending_acceptance_names_the_audited_provider() -> None:
    snap = network(
        endpoint(service="com.amazonaws.vpce.us-east-1.vpce-svc-1", state="pendingAcceptance"),
        provider(),
    )
    (finding,) = findings(snap, STATE)
    assert f"account {B} (owner of endpoint service vpce-svc-1)" in finding.message
    assert finding.remediation.startswith(
        f"In account {B}: aws ec2 accept-vpc-endpoint-connections"
    )
    assert "--service-id vpce-svc-1 --vpc-endpoint-ids vpce-1" in finding.remediation
    assert finding.evidence["service_owner"] == B


def test_pending_acceptance_with_an_unknown_provider() -> None:
    snap = network(
        endpoint(service="com.amazonaws.vpce.us-east-1.vpce-svc-9", state="PendingAcceptance")
    )
    (finding,) = findings(snap, STATE)
    assert "the provider of com.amazonaws.vpce.us-east-1.vpce-svc-9" in finding.message
    assert finding.evidence["service_owner"] == "unknown"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("Failed", "could not be created"),
        ("rejected", "rejected by the service provider"),
        ("Expired", "expired"),
        ("Partial", "partly provisioned"),
        ("pending", "still being created"),
        ("SomethingNew", "is in state SomethingNew"),
    ],
)
def test_other_states(state: str, words: str) -> None:
    (finding,) = findings(network(endpoint(state=state)), STATE)
    assert words in finding.message


@pytest.mark.parametrize("state", ["available", "Available", "deleting", "Deleted", ""])
def test_available_or_going_away(state: str) -> None:
    assert findings(network(endpoint(state=state)), STATE) == []


# --- endpoint-service-open ---

OPEN = "endpoint-service-open"


def service(*principals: str, acceptance: bool = False, **kw: Any) -> Snapshot:
    svc = EndpointService(
        "vpce-svc-1",
        A,
        R1,
        "com.amazonaws.vpce.us-east-1.vpce-svc-1",
        acceptance_required=acceptance,
        allowed_principals=list(principals),
        **kw,
    )
    return snapshot(vpc("vpc-1", "10.0.0.0/16"), svc)


def test_open_to_everyone_without_acceptance() -> None:
    (finding,) = findings(service("*"), OPEN)
    assert finding.resource_id == "vpce-svc-1" and finding.resource_type == "vpc-endpoint-service"
    assert finding.severity.name == "HIGH" and finding.vpc_id is None
    assert "any AWS account (`*`)" in finding.message
    assert "--acceptance-required" in finding.remediation
    assert "--remove-allowed-principals '*'" in finding.remediation


@pytest.mark.parametrize(
    ("principals", "untrusted"),
    [
        ([f"arn:aws:iam::{B}:root"], [f"arn:aws:iam::{B}:root"]),
        ([f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:role/x"], [f"arn:aws:iam::{B}:role/x"]),
        (
            [f"arn:aws:organizations::{B}:ou/o-zzzzzzzzzz/ou-ab12-cdef3456"],
            [f"arn:aws:organizations::{B}:ou/o-zzzzzzzzzz/ou-ab12-cdef3456"],
        ),
    ],
)
def test_untrusted_principals_without_acceptance(
    principals: list[str], untrusted: list[str]
) -> None:
    (finding,) = findings(service(*principals), OPEN)
    assert finding.evidence["untrusted_principals"] == untrusted


@pytest.mark.parametrize(
    "snap",
    [
        service("*", acceptance=True),
        service(f"arn:aws:iam::{A}:root"),
        service(),
        service("*", state="Deleting"),
        service("elasticloadbalancing.amazonaws.com"),  # a service principal is not an account
    ],
)
def test_service_not_open(snap: Snapshot) -> None:
    assert findings(snap, OPEN) == []


def test_trusted_accounts_and_organisations() -> None:
    snap = service(f"arn:aws:iam::{B}:root", f"arn:aws:organizations::{A}:organization/{ORG}")
    snap.scope.organization_id = ORG
    assert findings(snap, OPEN, RuleSettings(trusted_accounts=frozenset({B}))) == []
    (finding,) = findings(snap, OPEN)
    assert finding.evidence["untrusted_principals"] == [f"arn:aws:iam::{B}:root"]


# --- end to end on moto ---


def test_moto_endpoints_end_to_end(aws: FaultServer) -> None:
    ec2 = boto3.client("ec2", region_name=R1)
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    private = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a"
    )
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.2.0/24", AvailabilityZone="us-east-1b")
    private_id, public_id = private["Subnet"]["SubnetId"], public["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public_id, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=private_id)
    spare = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    # moto adds the prefix-list route to `spare`, a table no subnet uses
    ddb = ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{R1}.dynamodb",
        RouteTableIds=[spare],
    )["VpcEndpoint"]["VpcEndpointId"]
    ssm = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{R1}.ssm",
        SubnetIds=[private_id, public_id],
        PrivateDnsEnabled=False,
    )["VpcEndpoint"]["VpcEndpointId"]

    snap = collect(Request(regions=(R1,)))
    got = {
        (f.rule_id, f.resource_id): f
        for f in run_rules(snap, only=[DDB, UNROUTED, PRIVATE_DNS, SINGLE_AZ, HTTPS])
    }

    assert set(got) == {(DDB, rtb), (UNROUTED, ddb), (PRIVATE_DNS, ssm)}
    assert f"gateway endpoint for DynamoDB ({ddb})" in got[DDB, rtb].message
    assert got[DDB, rtb].evidence["prefix_list"].startswith("pl-")  # type: ignore[union-attr]
    assert got[UNROUTED, ddb].evidence["associated_route_tables"] == [spare]
    main = next(
        t for t in snap.route_tables if t.vpc_id == vpc_id and any(a.main for a in t.associations)
    )
    assert sorted(got[UNROUTED, ddb].evidence["tables_serving_subnets_in_vpc"]) == sorted(  # type: ignore[arg-type]
        [rtb, main.id]  # the main table serves the public subnet implicitly
    )


def test_moto_endpoint_policy_and_service_end_to_end(aws: FaultServer) -> None:
    ec2 = boto3.client("ec2", region_name=R1)
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    main = rtb["RouteTables"][0]["RouteTableId"]
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.1.0/24")
    outsider = policy(allow({"AWS": f"arn:aws:iam::{B}:root"}, "dynamodb:GetItem"))
    gw = ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{R1}.dynamodb",
        RouteTableIds=[main],
        PolicyDocument=outsider,
    )["VpcEndpoint"]["VpcEndpointId"]
    elb = boto3.client("elbv2", region_name=R1)
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][
        0
    ]["SubnetId"]
    nlb = elb.create_load_balancer(Name="svc", Type="network", Subnets=[subnet_id])
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb["LoadBalancers"][0]["LoadBalancerArn"]],
        AcceptanceRequired=False,
    )["ServiceConfiguration"]["ServiceId"]
    ec2.modify_vpc_endpoint_service_permissions(ServiceId=svc, AddAllowedPrincipals=["*"])

    snap = collect(Request(regions=(R1,)))
    got = {
        (f.rule_id, f.resource_id) for f in run_rules(snap, only=[UNTRUSTED, FULL, OPEN, UNROUTED])
    }

    assert got == {(UNTRUSTED, gw), (OPEN, svc)}
