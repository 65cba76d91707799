"""VPC endpoints (gateway and interface) and the endpoint services we provide."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from auditor.model import Endpoint, EndpointService, Finding, SecurityGroupRule
from auditor.net import Network, Topology, networks, overlaps
from auditor.rules.base import ENDPOINT_GONE, endpoint_live, found, label, rule, vpc_label
from auditor.rules.dns import attribute_command

GATEWAY, INTERFACE = "gateway", "interface"
# States in which the endpoint is going away or never came up: its settings no longer matter.
# AWS services reached through an interface endpoint on a port other than 443: Amazon SES SMTP
# and Amazon Keyspaces (Cassandra, port 9142). The HTTPS check does not apply to them.
NOT_HTTPS = {"email-smtp", "cassandra", "cassandra-fips"}

ACCOUNT = re.compile(r"\d{12}")
# An allowed principal may be an organisation or OU: arn:aws:organizations::MGMT:ou/o-…/ou-…
ORG_ARN = re.compile(
    r"arn:aws[\w-]*:organizations::\d{12}:(?:ou|organization)/(o-[a-z0-9]+)(?:/|$)"
)

Statement = dict[str, Any]


def kind(endpoint: Endpoint) -> str:
    return endpoint.endpoint_type.lower()


def aws_service(endpoint: Endpoint) -> bool:
    """An AWS service, not a customer or partner PrivateLink service (com.amazonaws.vpce.…)."""
    name = endpoint.service_name
    return name.startswith("com.amazonaws.") and not name.startswith("com.amazonaws.vpce.")


def short_service(endpoint: Endpoint) -> str:
    return endpoint.service_name.removeprefix(f"com.amazonaws.{endpoint.region}.")


def live_endpoints(topo: Topology, endpoint_kind: str) -> Iterator[Endpoint]:
    return (e for e in topo.snapshot.endpoints if kind(e) == endpoint_kind and endpoint_live(e))


def describe(topo: Topology, endpoint: Endpoint) -> str:
    return (
        f"{endpoint.endpoint_type} endpoint {label(endpoint.id, endpoint.tags)} for "
        f"{endpoint.service_name} in VPC {vpc_label(topo, endpoint.vpc_id)}"
    )


def endpoint_finding(
    rule_id: str, endpoint: Endpoint, message: str, remediation: str, evidence: dict[str, object]
) -> Finding:
    return found(
        rule_id,
        account_id=endpoint.account_id,
        region=endpoint.region,
        resource_id=endpoint.id,
        vpc_id=endpoint.vpc_id,
        message=message,
        remediation=remediation,
        evidence={
            "endpoint": label(endpoint.id, endpoint.tags),
            "type": endpoint.endpoint_type,
            "service": endpoint.service_name,
            "state": endpoint.state,
            **evidence,
        },
    )


# --- gateway endpoints ---


@rule("gateway-endpoint-unrouted")
def gateway_endpoint_unrouted(topo: Topology) -> Iterator[Finding]:
    for endpoint in live_endpoints(topo, GATEWAY):
        tables = [topo.route_tables.get(t) for t in endpoint.route_table_ids]
        known = [t for t in tables if t is not None]
        if len(known) < len(tables) or any(topo.subnets_of_table(t) for t in known):
            continue  # a table we did not see may serve subnets: do not claim
        candidates = [
            t.id for t in topo.tables_by_vpc.get(endpoint.vpc_id, []) if topo.subnets_of_table(t)
        ]
        if known:
            names = ", ".join(label(t.id, t.tags) for t in known)
            why = (
                f"is associated only with route table(s) {names}, which serve no subnet (no "
                f"subnet association, and not the VPC's main table)"
            )
        else:
            why = "is associated with no route table"
        fix = (
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id} --add-route-table-ids "
            f"{' '.join(candidates[:10])} --region {endpoint.region}"
            if candidates
            else "Associate it with the route tables of the subnets that use the service"
        )
        yield endpoint_finding(
            "gateway-endpoint-unrouted",
            endpoint,
            message=(
                f"{describe(topo, endpoint)} {why}, so no subnet routes traffic through it: "
                f"requests to {short_service(endpoint)} still leave through a NAT or internet "
                f"gateway (or fail), and bucket or table policies that require this endpoint deny "
                f"them."
            ),
            remediation=(
                f"{fix}; or delete the endpoint if it is not needed (aws ec2 delete-vpc-endpoints "
                f"--vpc-endpoint-ids {endpoint.id} --region {endpoint.region})."
            ),
            evidence={
                "associated_route_tables": [label(t.id, t.tags) for t in known],
                "tables_serving_subnets_in_vpc": candidates,
            },
        )


# --- endpoint policies ---


def policy_applies(endpoint: Endpoint) -> bool:
    """Whether the endpoint's policy is one its owner can change.

    AWS allows full access through endpoints of Gateway Load Balancer, resource and service-network
    types and to services that are not AWS services. Which AWS services support endpoint policies
    is `VpcEndpointPolicySupported` in DescribeVpcEndpointServices, which the snapshot does not
    hold: endpoints of the few services without support are judged like the others.
    """
    return (
        kind(endpoint) in (GATEWAY, INTERFACE) and aws_service(endpoint) and endpoint_live(endpoint)
    )


def statements(document: str | None) -> list[Statement] | None:
    """The policy's statements; None without a policy or when it is not a readable policy.

    AWS returns the document (the default full-access one included) for every endpoint that has
    one, so a missing document means there is no policy to judge.
    """
    if not document:
        return None
    try:
        policy = json.loads(document)
    except ValueError:
        return None
    raw = policy.get("Statement") if isinstance(policy, dict) else None
    items: list[Any] = raw if isinstance(raw, list) else [raw]
    return items if all(isinstance(s, dict) for s in items) else None


def values(element: object) -> list[str]:
    """A policy element that may be one string or a list of strings."""
    if isinstance(element, str):
        return [element]
    if isinstance(element, list):
        return [v for v in element if isinstance(v, str)]
    return []


def aws_principals(statement: Statement) -> list[str]:
    """The AWS principals a statement names; service and federated principals are not accounts."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    return values(principal.get("AWS")) if isinstance(principal, dict) else []


def anything(statement: Statement) -> bool:
    """Every principal, action and resource, with no Not… element."""
    return (
        not {"NotPrincipal", "NotAction", "NotResource"} & statement.keys()
        and "*" in aws_principals(statement)
        and "*" in values(statement.get("Action"))
        and "*" in values(statement.get("Resource"))
    )


def full_access_statements(policy: list[Statement]) -> list[Statement]:
    """The AWS default statement (anyone, anything, anywhere, unconditionally), unless a Deny of
    everything (with a condition: a perimeter) narrows it; a Deny of a few actions leaves it full
    access. endpoint-policy-full-access reports it, and only that rule."""
    if any(s.get("Effect") == "Deny" and anything(s) for s in policy):
        return []
    return [
        s for s in policy if s.get("Effect") == "Allow" and anything(s) and not s.get("Condition")
    ]


def policy_evidence(statement: Statement) -> dict[str, str]:
    """One statement as a flat row; a Not… element is shown prefixed with "not "."""
    row = {"sid": text(statement.get("Sid", "")), "effect": text(statement.get("Effect", ""))}
    for element in ("Principal", "Action", "Resource"):
        if f"Not{element}" in statement:
            row[element.lower()] = "not " + text(statement[f"Not{element}"])
        else:
            row[element.lower()] = text(statement.get(element, ""))
    row["condition"] = text(statement.get("Condition") or "")
    return row


def text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def policy_fix(topo: Topology, endpoint: Endpoint) -> str:
    orgs = sorted(topo.trusted_organization_ids)
    key, value = (
        ("aws:PrincipalOrgID", orgs[0]) if orgs else ("aws:PrincipalAccount", endpoint.account_id)
    )
    return (
        f"Replace the policy with one that names the principals and resources the VPC needs, e.g. "
        f'a Condition {{"StringEquals": {{"{key}": "{value}"}}}} on the Allow statement, and '
        f"apply it: aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id} "
        f"--policy-document file://endpoint-policy.json --region {endpoint.region}"
    )


@rule("endpoint-policy-full-access")
def endpoint_policy_full_access(topo: Topology) -> Iterator[Finding]:
    for endpoint in topo.snapshot.endpoints:
        policy = statements(endpoint.policy_document) if policy_applies(endpoint) else None
        wide = full_access_statements(policy) if policy else []
        if not wide:
            continue
        yield endpoint_finding(
            "endpoint-policy-full-access",
            endpoint,
            message=(
                f"The policy of {describe(topo, endpoint)} allows any principal every action on "
                f"every resource, with no condition (the AWS default). The endpoint sets no "
                f"perimeter: code in the VPC can use it with any credentials to reach any "
                f"account's resources, e.g. to copy data to a bucket outside your organisation."
            ),
            remediation=policy_fix(topo, endpoint),
            evidence={"statements": [policy_evidence(s) for s in wide]},
        )


@rule("endpoint-policy-untrusted-principal")
def endpoint_policy_untrusted_principal(topo: Topology) -> Iterator[Finding]:
    orgs = topo.trusted_organization_ids
    for endpoint in topo.snapshot.endpoints:
        policy = statements(endpoint.policy_document) if policy_applies(endpoint) else None
        if not policy:
            continue
        accounts = topo.trusted_accounts | {endpoint.account_id}
        trust = Trust(accounts, orgs, {endpoint.vpc_id, endpoint.id})
        if any(perimeter(s, trust) for s in policy):
            continue
        grants: list[dict[str, str]] = []
        strangers: set[str] = set()
        wide_open = full_access_statements(policy)
        for statement in policy:
            if statement.get("Effect") != "Allow" or limited(statement, trust):
                continue
            if any(statement is s for s in wide_open):
                continue  # one problem, one finding: endpoint-policy-full-access reports it
            # NotPrincipal in an Allow grants everyone except the principals it names.
            found_here = (
                ["*"]
                if "NotPrincipal" in statement
                else outsiders(aws_principals(statement), accounts, orgs)
            )
            if found_here:
                grants.append({**policy_evidence(statement), "untrusted": ", ".join(found_here)})
                strangers.update(found_here)
        if not grants:
            continue
        who = (
            "any AWS principal (`*`), including identities in accounts outside your organisation,"
            if "*" in strangers
            else f"principals outside the audited accounts and trusted organisations "
            f"({', '.join(sorted(strangers))})"
        )
        yield endpoint_finding(
            "endpoint-policy-untrusted-principal",
            endpoint,
            message=(
                f"The policy of {describe(topo, endpoint)} allows {who} with no condition on "
                f"aws:PrincipalOrgID, aws:PrincipalAccount or aws:PrincipalArn that limits it to "
                f"trusted ones (aws:SourceVpc/aws:SourceVpce do not: every request through this "
                f"endpoint matches them). Anyone in the VPC holding such credentials can use "
                f"the endpoint, e.g. to move data to another account."
            ),
            remediation=policy_fix(topo, endpoint),
            evidence={
                "statements": grants,
                "trusted_organizations": sorted(orgs),
                "trusted_account_count": len(accounts),
            },
        )


def principal_account(principal: str) -> str | None:
    """The account of an AWS principal ('*' for any account); None when it names no account."""
    if principal == "*" or ACCOUNT.fullmatch(principal):
        return principal
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] in ("iam", "sts"):
        if ACCOUNT.fullmatch(parts[4]):
            return parts[4]
        return "*" if "*" in parts[4] or "?" in parts[4] else None
    return None


def outsiders(
    principals: list[str], accounts: AbstractSet[str], orgs: AbstractSet[str]
) -> list[str]:
    """The principals that belong to no trusted account or organisation."""
    out = []
    for principal in principals:
        org = ORG_ARN.match(principal)
        if org:
            if org.group(1) not in orgs:
                out.append(principal)
            continue
        account = principal_account(principal)
        if account is not None and account not in accounts:
            out.append(principal)
    return out


@dataclass(frozen=True)
class Trust:
    """Whom an endpoint policy may admit: trusted accounts and organisations, and `here` (the
    endpoint's own VPC and id, which every request through it carries)."""

    accounts: AbstractSet[str]
    orgs: AbstractSet[str]
    here: AbstractSet[str]


# Condition keys that limit who may use the endpoint, and when a value names only trusted callers.
# aws:SourceVpc/aws:SourceVpce equal to this endpoint's VPC or id hold for every request through
# it, so they limit nothing; naming another VPC or endpoint, the statement never matches here.
LIMITING_KEYS: dict[str, Callable[[str, Trust], bool]] = {
    "aws:principalorgid": lambda v, t: v in t.orgs,
    "aws:principalorgpaths": lambda v, t: v.split("/")[0] in t.orgs,
    "aws:principalaccount": lambda v, t: v in t.accounts,
    "aws:principalarn": lambda v, t: principal_account(v) in t.accounts,
    "aws:sourcevpc": lambda v, t: v not in t.here,
    "aws:sourcevpce": lambda v, t: v not in t.here,
}
# Allow: the key must match (IfExists and ForAllValues pass when the key is absent: not limiting).
MATCHING = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"}
# Deny: a key that does not match (or is absent) denies.
NOT_MATCHING = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
}


def limiting(key: str, value: object, trust: Trust) -> bool:
    check = LIMITING_KEYS.get(key.lower())
    names = values(value)
    return check is not None and bool(names) and all(check(v, trust) for v in names)


def limited(statement: Statement, trust: Trust) -> bool:
    """An Allow whose condition admits only trusted principals (one such key suffices: AND)."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    return any(
        operator.removeprefix("ForAnyValue:") in MATCHING and limiting(key, value, trust)
        for operator, block in condition.items()
        if isinstance(block, dict)
        for key, value in block.items()
    )


def perimeter(statement: Statement, trust: Trust) -> bool:
    """A Deny of everything to everyone whose single condition exempts only trusted principals."""
    condition = statement.get("Condition")
    if statement.get("Effect") != "Deny" or not anything(statement):
        return False
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    ((operator, block),) = condition.items()
    if not isinstance(block, dict) or len(block) != 1:
        return False
    ((key, value),) = block.items()
    return operator.removesuffix("IfExists") in NOT_MATCHING and limiting(key, value, trust)


# --- interface endpoints ---


@rule("interface-endpoint-private-dns-off")
def interface_endpoint_private_dns_off(topo: Topology) -> Iterator[Finding]:
    for endpoint in live_endpoints(topo, INTERFACE):
        if endpoint.private_dns_enabled is not False or not aws_service(endpoint):
            continue
        siblings = [
            e
            for e in topo.endpoints_by_vpc.get(endpoint.vpc_id, [])
            if e is not endpoint and e.service_name == endpoint.service_name and endpoint_live(e)
        ]
        if any(kind(e) == GATEWAY or e.private_dns_enabled for e in siblings):
            # Another endpoint answers for the public name: a gateway endpoint (S3, DynamoDB)
            # routes it, or an interface endpoint with private DNS resolves it.
            continue
        service = short_service(endpoint)
        yield endpoint_finding(
            "interface-endpoint-private-dns-off",
            endpoint,
            message=(
                f"{describe(topo, endpoint)} has private DNS off: SDKs and the CLI in the VPC "
                f"resolve {service}'s public DNS name to public addresses, so their requests leave "
                f"through a NAT or internet gateway (or fail in private subnets) and bypass the "
                f"endpoint and its policy, unless each client is set to the endpoint-specific DNS "
                f"name."
            ),
            remediation=(
                f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id} "
                f"--private-dns-enabled --region {endpoint.region} (the VPC needs "
                f"enableDnsSupport and enableDnsHostnames on). If clients use the "
                f"endpoint-specific names or a shared private hosted zone on purpose, suppress "
                f"this finding."
            ),
            evidence={"private_dns_enabled": False},
        )


DNS_FLAGS = {"enableDnsSupport": "enable-dns-support", "enableDnsHostnames": "enable-dns-hostnames"}


@rule("interface-endpoint-dns-attributes-off")
def interface_endpoint_dns_attributes_off(topo: Topology) -> Iterator[Finding]:
    for endpoint in live_endpoints(topo, INTERFACE):
        vpc = topo.vpcs.get(endpoint.vpc_id)
        if not endpoint.private_dns_enabled or vpc is None:
            continue
        attributes = {"enableDnsSupport": vpc.dns_support, "enableDnsHostnames": vpc.dns_hostnames}
        off = [name for name, value in attributes.items() if value is False]
        if not off:
            continue
        commands = " and ".join(attribute_command(vpc, DNS_FLAGS[name]) for name in off)
        yield endpoint_finding(
            "interface-endpoint-dns-attributes-off",
            endpoint,
            message=(
                f"{describe(topo, endpoint)} has private DNS on, but the VPC has "
                f"{' and '.join(off)} off, so the endpoint's private DNS names do not resolve in "
                f"the VPC: clients reach the service's public addresses through a NAT or internet "
                f"gateway, or fail."
            ),
            remediation=f"In account {vpc.account_id}: {commands}.",
            evidence={"private_dns_enabled": True, "vpc_dns_attributes": attributes},
        )


@rule("interface-endpoint-single-az")
def interface_endpoint_single_az(topo: Topology) -> Iterator[Finding]:
    for endpoint in live_endpoints(topo, INTERFACE):
        known = [
            topo.subnets[s]
            for s in endpoint.subnet_ids
            if s in topo.subnets and topo.subnets[s].availability_zone
        ]
        zones = {s.availability_zone for s in known}
        if len(zones) != 1:
            continue  # no subnet we know, or several zones
        (zone,) = zones
        unknown = [s for s in endpoint.subnet_ids if s not in {k.id for k in known}]
        others = {
            s.availability_zone: s.id
            for s in topo.subnets_by_vpc.get(endpoint.vpc_id, [])
            if s.availability_zone and s.availability_zone != zone
        }
        caveat = (
            f" (judged on its known subnets; not in the snapshot: {', '.join(unknown)})"
            if unknown
            else ""
        )
        fix = (
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id} --add-subnet-ids "
            f"{' '.join(sorted(others.values())[:2])} --region {endpoint.region}"
            if others
            else f"Create a subnet in another Availability Zone of {endpoint.vpc_id} and add it "
            f"to the endpoint (aws ec2 modify-vpc-endpoint --add-subnet-ids)"
        )
        yield endpoint_finding(
            "interface-endpoint-single-az",
            endpoint,
            message=(
                f"{describe(topo, endpoint)} has network interfaces only in {zone}{caveat}. If "
                f"that Availability Zone fails, clients in every zone lose the service, and "
                f"clients in other zones pay cross-zone data charges."
            ),
            remediation=(
                f"{fix} (one subnet per Availability Zone that has clients and that the service "
                f"supports)."
            ),
            evidence={
                "subnets": [
                    {
                        "id": s.id,
                        "name": s.tags.get("Name", ""),
                        "availability_zone": s.availability_zone,
                    }
                    for s in known
                ],
                "subnets_not_in_snapshot": unknown,
            },
        )


def allows_https(perm: SecurityGroupRule, vpc_nets: list[Network], own: set[str]) -> bool:
    """Whether an ingress rule lets some client inside the VPC reach TCP 443.

    A reference to the endpoint's own groups (the default group's self rule) admits only other
    members of those groups, not the VPC's clients: it does not count."""
    protocol = perm.protocol.lower()
    if protocol not in ("-1", "tcp", "6"):
        return False
    low, high = perm.from_port, perm.to_port
    if protocol != "-1" and low is not None and high is not None and not low <= 443 <= high:
        return False
    if perm.prefix_list_ids or any(g.group_id not in own for g in perm.groups):
        return True  # references name clients we cannot place by address: assume some are inside
    sources = networks(perm.cidrs + perm.ipv6_cidrs)
    return any(overlaps(s, v) for s in sources for v in vpc_nets)


def rule_row(group_id: str, perm: SecurityGroupRule) -> dict[str, str]:
    ports = (
        "all"
        if perm.protocol == "-1" or perm.from_port is None
        else f"{perm.from_port}-{perm.to_port}"
    )
    sources = (
        perm.cidrs + perm.ipv6_cidrs + perm.prefix_list_ids + [g.group_id for g in perm.groups]
    )
    return {
        "group": group_id,
        "protocol": perm.protocol,
        "ports": ports,
        "sources": ", ".join(sources),
    }


@rule("interface-endpoint-sg-blocks-https")
def interface_endpoint_sg_blocks_https(topo: Topology) -> Iterator[Finding]:
    groups = {g.id: g for g in topo.snapshot.security_groups}
    for endpoint in live_endpoints(topo, INTERFACE):
        if not aws_service(endpoint) or short_service(endpoint) in NOT_HTTPS:
            continue
        vpc = topo.vpcs.get(endpoint.vpc_id)
        found_groups = [groups.get(g) for g in endpoint.security_group_ids]
        sgs = [g for g in found_groups if g is not None]
        # AWS always lists the endpoint's groups (the VPC's default group when none was
        # chosen): an empty list or a group we did not read is unknown, not "blocked".
        if vpc is None or not sgs or len(sgs) < len(found_groups):
            continue
        vpc_nets = networks(vpc.cidr_blocks + vpc.ipv6_cidr_blocks)
        own = set(endpoint.security_group_ids)
        if any(allows_https(r, vpc_nets, own) for g in sgs for r in g.ingress):
            continue
        cidrs = vpc.cidr_blocks or vpc.ipv6_cidr_blocks
        ranges = ",".join(f"{{CidrIp={c}}}" for c in vpc.cidr_blocks)
        yield endpoint_finding(
            "interface-endpoint-sg-blocks-https",
            endpoint,
            message=(
                f"No security group of {describe(topo, endpoint)} allows TCP 443 from inside "
                f"the VPC ({', '.join(cidrs)}): clients in the VPC cannot open HTTPS connections "
                f"to the endpoint, so calls to {short_service(endpoint)} time out. (If the "
                f"endpoint only serves networks outside this VPC, such as a shared endpoint hub, "
                f"ignore this.)"
            ),
            remediation=(
                f"aws ec2 authorize-security-group-ingress --group-id "
                f"{endpoint.security_group_ids[0]} --ip-permissions "
                f"'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{ranges}]' "
                f"--region {endpoint.region} (or allow 443 from the clients' security groups)."
            ),
            evidence={
                "vpc_cidrs": cidrs,
                "security_groups": [label(g.id, g.tags) for g in sgs],
                "ingress_rules": [rule_row(g.id, r) for g in sgs for r in g.ingress],
            },
        )


# --- endpoint state ---

STATE_PROBLEMS = {
    "pendingacceptance": "is waiting for {who} to accept the connection; no traffic flows yet",
    "pending": "is still being created and carries no traffic yet",
    "rejected": "was rejected by the service provider and carries no traffic",
    "failed": "could not be created and carries no traffic",
    "expired": "expired before the service provider accepted it and carries no traffic",
    "partial": "is only partly provisioned, so it may not serve every subnet or Availability Zone",
}


@rule("endpoint-not-available")
def endpoint_not_available(topo: Topology) -> Iterator[Finding]:
    providers = {s.service_name: s for s in topo.snapshot.endpoint_services}
    for endpoint in topo.snapshot.endpoints:
        state = endpoint.state.lower()
        if not state or state == "available" or state in ENDPOINT_GONE:
            continue
        service = providers.get(endpoint.service_name)
        who = (
            f"account {service.account_id} (owner of endpoint service {service.id})"
            if service
            else f"the provider of {endpoint.service_name}"
        )
        problem = STATE_PROBLEMS.get(
            state, f"is in state {endpoint.state} and may carry no traffic"
        )
        if state == "pendingacceptance" and service:
            fix = (
                f"In account {service.account_id}: aws ec2 accept-vpc-endpoint-connections "
                f"--service-id {service.id} --vpc-endpoint-ids {endpoint.id} "
                f"--region {service.region}; or delete the endpoint if it is not wanted."
            )
        elif state == "pendingacceptance":
            fix = f"Ask {who} to accept endpoint {endpoint.id}, or delete it if it is not wanted."
        elif state == "pending":
            fix = "Wait a few minutes; if it stays pending, delete and recreate it."
        elif state == "partial":
            fix = (
                f"Check that the service is offered in each of the endpoint's subnets' "
                f"Availability Zones (aws ec2 describe-vpc-endpoint-services --service-names "
                f"{endpoint.service_name} --region {endpoint.region}) and fix the subnets with "
                f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id}."
            )
        else:
            fix = (
                f"Find the cause (service permissions, subnets, Availability Zones), then delete "
                f"and recreate it: aws ec2 delete-vpc-endpoints --vpc-endpoint-ids {endpoint.id} "
                f"--region {endpoint.region}."
            )
        yield endpoint_finding(
            "endpoint-not-available",
            endpoint,
            message=f"{describe(topo, endpoint)} {problem.format(who=who)}.",
            remediation=fix,
            evidence={"service_owner": service.account_id if service else "unknown"},
        )


# --- endpoint services we provide ---


@rule("endpoint-service-open")
def endpoint_service_open(topo: Topology) -> Iterator[Finding]:
    for service in topo.snapshot.endpoint_services:
        if service.acceptance_required or service.state.lower() in ENDPOINT_GONE:
            continue
        accounts = topo.trusted_accounts | {service.account_id}
        principals = service.allowed_principals or []
        strangers = outsiders(principals, accounts, topo.trusted_organization_ids)
        if not strangers:
            continue
        yield service_finding(service, strangers)


def service_finding(service: EndpointService, strangers: list[str]) -> Finding:
    who = (
        "any AWS account (`*`)"
        if "*" in strangers
        else f"principals outside the audited accounts and trusted organisations "
        f"({', '.join(strangers)})"
    )
    removals = " ".join(f"'{p}'" for p in strangers)
    return found(
        "endpoint-service-open",
        account_id=service.account_id,
        region=service.region,
        resource_id=service.id,
        vpc_id=None,
        message=(
            f"Endpoint service {label(service.id, service.tags)} ({service.service_name}) lets "
            f"{who} create endpoints to it, and does not require acceptance: they connect to the "
            f"load balancer behind it at once, without your approval."
        ),
        remediation=(
            f"aws ec2 modify-vpc-endpoint-service-configuration --service-id {service.id} "
            f"--acceptance-required --region {service.region}; and "
            f"aws ec2 modify-vpc-endpoint-service-permissions --service-id {service.id} "
            f"--remove-allowed-principals {removals} --region {service.region}."
        ),
        evidence={
            "service_name": service.service_name,
            "acceptance_required": service.acceptance_required,
            "allowed_principals": (service.allowed_principals or [])[:50],
            "untrusted_principals": strangers,
        },
    )
