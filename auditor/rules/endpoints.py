"""VPC endpoints (gateway and interface) and the endpoint services we provide."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from typing import Any

from auditor.model import Endpoint, EndpointService, Finding, SecurityGroupRule
from auditor.net import Network, Topology, networks, overlaps
from auditor.rules.base import Found, endpoint_live, label, rule, vpc_label
from auditor.rules.commands import ec2
from auditor.rules.dns import attribute_command
from auditor.states import ENDPOINT_GONE

GATEWAY, INTERFACE = "gateway", "interface"
HTTPS = ((443,), "HTTPS")
# AWS services whose clients reach the interface endpoint on other ports than HTTPS alone, per the
# services' documentation; clients use one of the ports (the protocol they are set up for), so the
# endpoint is reachable when its security groups admit any of them.
SERVICE_PORTS: dict[str, tuple[tuple[int, ...], str]] = {
    # Amazon SES SMTP interface: STARTTLS on 25, 587, 2587; TLS wrapper on 465, 2465.
    "email-smtp": ((587, 25, 2587, 465, 2465), "SMTP"),
    # Amazon Keyspaces: CQL over TLS.
    "cassandra": ((9142,), "Cassandra CQL"),
    "cassandra-fips": ((9142,), "Cassandra CQL"),
    # CodeCommit Git endpoints serve Git over HTTPS and over SSH (the API endpoint is HTTPS only).
    "git-codecommit": ((443, 22), "Git over HTTPS or SSH"),
    "git-codecommit-fips": ((443, 22), "Git over HTTPS or SSH"),
    # AWS Transfer Family server endpoints: SFTP; FTP and FTPS control connections on 21.
    "transfer.server": ((22, 21), "SFTP, FTP or FTPS"),
    # AWS IoT Core data plane: MQTT on 8883, or MQTT and HTTPS on 443.
    "iot.data": ((443, 8883), "MQTT or HTTPS"),
}

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
    found: Found,
    endpoint: Endpoint,
    message: str,
    remediation: str,
    evidence: dict[str, object],
    commands: Iterable[str] = (),
) -> Finding:
    return found(
        commands=commands,
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
def gateway_endpoint_unrouted(topo: Topology, found: Found) -> Iterator[Finding]:
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
        # Which of the VPC's tables should use it is the user's choice (and a table that carries
        # other VPCs' traffic must not): the tables that send the service through a NAT gateway
        # get the command on their *-egress-via-nat finding.
        yield endpoint_finding(
            found,
            endpoint,
            message=(
                f"{describe(topo, endpoint)} {why}, so no subnet routes traffic through it: "
                f"requests to {short_service(endpoint)} still leave through a NAT or internet "
                f"gateway (or fail), and bucket or table policies that require this endpoint deny "
                f"them."
            ),
            remediation=(
                "Associate it with the route tables of the subnets that use the service (the "
                "s3- or dynamodb-egress-via-nat finding of a table that sends the service through "
                "a NAT gateway has the command), or delete the endpoint if it is not needed."
            ),
            evidence={
                "associated_route_tables": [label(t.id, t.tags) for t in known],
                "tables_serving_subnets_in_vpc": candidates,
            },
        )


# --- endpoint policies ---


def policy_applies(endpoint: Endpoint) -> bool:
    """Whether the endpoint's policy is one its owner can change and AWS enforces.

    AWS allows full access through endpoints of Gateway Load Balancer, resource and service-network
    types and to services that are not AWS services. A service whose `VpcEndpointPolicySupported`
    (DescribeVpcEndpointServices) is false ignores the policy; unknown support is judged.
    """
    return (
        kind(endpoint) in (GATEWAY, INTERFACE)
        and aws_service(endpoint)
        and endpoint_live(endpoint)
        and endpoint.policy_supported is not False
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


def judged_policy(endpoint: Endpoint) -> list[Statement] | None:
    return statements(endpoint.policy_document) if policy_applies(endpoint) else None


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
def endpoint_policy_full_access(topo: Topology, found: Found) -> Iterator[Finding]:
    for endpoint in topo.snapshot.endpoints:
        policy = judged_policy(endpoint)
        wide = full_access_statements(policy) if policy else []
        if not wide:
            continue
        yield endpoint_finding(
            found,
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
def endpoint_policy_untrusted_principal(topo: Topology, found: Found) -> Iterator[Finding]:
    orgs = topo.trusted_organization_ids
    for endpoint in topo.snapshot.endpoints:
        policy = judged_policy(endpoint)
        if not policy:
            continue
        accounts = topo.trusted_accounts | {endpoint.account_id}
        trust = Trust(accounts, orgs, endpoint.vpc_id, endpoint.id)
        grants = untrusted_grants(policy, trust)
        if not grants:
            continue
        strangers = {name for g in grants for name in g["untrusted"].split(", ")}
        who = (
            "any AWS principal (`*`), including identities in accounts outside your organisation,"
            if "*" in strangers
            else f"principals outside the audited accounts and trusted organisations "
            f"({', '.join(sorted(strangers))})"
        )
        yield endpoint_finding(
            found,
            endpoint,
            message=(
                f"The policy of {describe(topo, endpoint)} allows {who} with no condition on "
                f"aws:PrincipalOrgID, aws:PrincipalAccount, aws:PrincipalArn or "
                f"aws:PrincipalIsAWSService, and no Deny, that limits it to trusted ones "
                f"(aws:SourceVpc/aws:SourceVpce do not: every request through this endpoint "
                f"matches them). Anyone in the VPC holding such credentials can use the endpoint, "
                f"e.g. to move data to another account."
            ),
            remediation=policy_fix(topo, endpoint),
            evidence={
                "statements": grants,
                **not_reported(policy),
                "trusted_organizations": sorted(orgs),
                "trusted_account_count": len(accounts),
            },
        )


def not_reported(policy: list[Statement]) -> dict[str, object]:
    """The statements left out on purpose, named so a reader sees they were judged."""
    skipped = [
        {"sid": text(s.get("Sid", "")), "reason": AWS_OWNED_REASON}
        for s in policy
        if s.get("Effect") == "Allow" and reads_aws_owned_buckets(s)
    ]
    return {"not_reported": skipped} if skipped else {}


def untrusted_grants(policy: list[Statement], trust: Trust) -> list[dict[str, str]]:
    """Evidence rows for the Allow statements that admit some untrusted caller whom no Deny of
    everything stops. The AWS default statement is left to endpoint-policy-full-access."""
    contexts = {c: request_context(c, trust) for c in untrusted_callers(policy, trust)}
    denials = [s for s in policy if s.get("Effect") == "Deny" and anything(s)]
    open_to = [c for c in contexts if not any(holds(d, contexts[c]) is True for d in denials)]
    wide_open = full_access_statements(policy)
    rows = []
    for statement in policy:
        if (
            statement.get("Effect") != "Allow"
            or any(statement is s for s in wide_open)  # one problem, one finding
            or grants_nothing(statement)
            or reads_aws_owned_buckets(statement)
        ):
            continue
        admitted = [c for c in open_to if holds(statement, contexts[c]) is not False]
        # NotPrincipal in an Allow grants everyone except the principals it names.
        names = ["*"] if "NotPrincipal" in statement else aws_principals(statement)
        names = [n for n in names if any(names_caller(n, c) for c in admitted)]
        if names:
            callers = [c for c in admitted if any(names_caller(n, c) for n in names)]
            rows.append(
                {
                    **policy_evidence(statement),
                    "untrusted": ", ".join(names),
                    "admits": "; ".join(caller_labels(callers)),
                }
            )
    return rows


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
    """Whom an endpoint policy may admit (trusted accounts and organisations), and where the
    requests come from: the endpoint's VPC and id, which every request through it carries."""

    accounts: AbstractSet[str]
    orgs: AbstractSet[str]
    vpc: str
    endpoint: str


# --- endpoint policies: evaluating conditions for callers outside the trust ---
#
# A verdict is True or False when the caller alone decides it, and None when it also depends on
# what else the request carries (the resource, the caller's own tags, its address...). An Allow
# admits a caller unless its verdict is False; a Deny stops a caller only when its verdict is True.

Verdict = bool | None

# A template's blank such as <my-org-id>: AWS identifiers never contain < or >, so a value that
# holds one matches no request.
PLACEHOLDER = re.compile(r"<[A-Za-z][^<>\s]{0,80}>")


@dataclass(frozen=True)
class Caller:
    """A caller in no trusted account or organisation; account None is an anonymous request."""

    account: str | None
    org: str | None


# Stand-ins for every account and organisation the policy does not name.
OTHER_ACCOUNT, OTHER_ORG = "000000000000", "o-0000000000"
ANONYMOUS = Caller(None, None)
ACCOUNTS_IN_TEXT = re.compile(r"(?<!\d)\d{12}(?!\d)")
ORGS_IN_TEXT = re.compile(r"\bo-[a-z0-9]{10,32}\b")


def untrusted_callers(policy: list[Statement], trust: Trust) -> list[Caller]:
    """One caller per untrusted account and organisation the policy names, one for any other
    account in another organisation or in none, and an anonymous one: enough to try every
    condition value the policy holds."""
    document = json.dumps(policy)
    accounts = sorted(set(ACCOUNTS_IN_TEXT.findall(document)) - trust.accounts | {OTHER_ACCOUNT})
    orgs = sorted(set(ORGS_IN_TEXT.findall(document)) - trust.orgs | {OTHER_ORG})
    return [Caller(a, o) for a in accounts for o in [None, *orgs]] + [ANONYMOUS]


def caller_labels(callers: list[Caller]) -> list[str]:
    """The admitted callers in words; a named account is left out where any account of its
    organisation (or of none) is admitted anyway."""
    broad = {c.org for c in callers if c.account == OTHER_ACCOUNT}
    shown = {
        caller_label(c) for c in callers if c.account in (OTHER_ACCOUNT, None) or c.org not in broad
    }
    return sorted(shown)


def caller_label(caller: Caller) -> str:
    if caller.account is None:
        return "anonymous (unsigned) requests"
    who = (
        "any untrusted account" if caller.account == OTHER_ACCOUNT else f"account {caller.account}"
    )
    if caller.org is None:
        return f"{who} outside any organisation"
    org = "another organisation" if caller.org == OTHER_ORG else f"organisation {caller.org}"
    return f"{who} in {org}"


def request_context(caller: Caller, trust: Trust) -> dict[str, list[str] | None]:
    """The condition keys the caller and the endpoint decide, as AWS puts them in the request
    context (None: absent). aws:PrincipalArn and aws:PrincipalOrgPaths hold only the part the
    caller cannot choose: its account, its organisation. Keys not listed depend on more."""
    signed = caller.account is not None
    org = [caller.org] if caller.org else None
    return {
        "aws:principalaccount": [caller.account] if caller.account else None,
        "aws:principalarn": [caller.account] if caller.account else None,
        "aws:principalorgid": org,
        "aws:principalorgpaths": org,
        "aws:principalisawsservice": ["false"] if signed else None,
        "aws:principalservicename": None,
        "aws:principalservicenameslist": None,
        "aws:sourcevpc": [trust.vpc],
        "aws:sourcevpce": [trust.endpoint],
    }


def holds(statement: Statement, context: dict[str, list[str] | None]) -> Verdict:
    """Whether the statement's Condition matches: AND across operators and keys."""
    condition = statement.get("Condition")
    if not condition:
        return True
    if not isinstance(condition, dict) or not all(isinstance(b, dict) for b in condition.values()):
        return None
    return all3(
        entry_holds(operator, key, wanted, context)
        for operator, block in condition.items()
        for key, wanted in block.items()
    )


# Negated operators and the operator they negate; a negated operator holds when the key is absent.
NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}
WILDCARDS = {"StringLike", "ArnEquals", "ArnLike"}  # ArnEquals takes wildcards like ArnLike
COMPARED = {"StringEquals", "StringEqualsIgnoreCase", "Bool", *WILDCARDS}


def entry_holds(
    operator: str, key: str, wanted: object, context: dict[str, list[str] | None]
) -> Verdict:
    """One operator and key: OR across the policy's values (NOR for a negated operator), with
    ...IfExists, Null and the ForAllValues/ForAnyValue qualifiers as the IAM documentation says."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    negated, positive = base in NEGATIONS, NEGATIONS.get(base, base)
    key, policy_values = key.lower(), condition_values(wanted)
    if key not in context:
        return blank_only(base, qualifier, if_exists, policy_values)
    request = context[key]
    if base == "Null":  # "true": the key must be absent; "false": present
        return any(v.lower() == str(request is None).lower() for v in policy_values)
    if request is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        return False if qualifier == "ForAnyValue" else negated
    if positive not in COMPARED:
        return None
    each = [any3(matches(positive, key, r, p) for p in policy_values) for r in request]
    if negated:
        each = [not3(v) for v in each]
    return all3(each) if qualifier == "ForAllValues" else any3(each)


def blank_only(base: str, qualifier: str, if_exists: bool, policy_values: list[str]) -> Verdict:
    """A key the caller does not decide: unknown, unless every value is a template blank, which
    no request carries (a present key never matches it)."""
    if base == "Null" or not policy_values or not all(PLACEHOLDER.search(v) for v in policy_values):
        return None
    if base in NEGATIONS:
        return None if qualifier == "ForAnyValue" else True
    return None if if_exists or qualifier == "ForAllValues" else False


def matches(operator: str, key: str, request: str, pattern: str) -> Verdict:
    if PLACEHOLDER.search(pattern):
        return False
    wildcards = operator in WILDCARDS
    if key == "aws:principalarn":  # the caller picks any role or user name in its account
        parts = pattern.split(":")
        fixed = parts[4] if len(parts) >= 6 else pattern
        return None if compare(fixed, request, wildcards) else False
    if key == "aws:principalorgpaths":  # o-…/r-…/ou-…: the caller picks the path below its org
        return None if compare(pattern.split("/")[0], request, wildcards) else False
    if operator in ("StringEqualsIgnoreCase", "Bool"):
        return pattern.lower() == request.lower()
    return compare(pattern, request, wildcards)


def compare(pattern: str, value: str, wildcards: bool) -> bool:
    if not wildcards:
        return pattern == value
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def condition_values(wanted: object) -> list[str]:
    """Condition values as AWS compares them: booleans and numbers as their JSON text."""
    items = wanted if isinstance(wanted, list) else [wanted]
    return [
        v if isinstance(v, str) else json.dumps(v)
        for v in items
        if isinstance(v, (str, bool, int, float))
    ]


def all3(verdicts: Iterable[Verdict]) -> Verdict:
    result: Verdict = True
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is None:
            result = None
    return result


def any3(verdicts: Iterable[Verdict]) -> Verdict:
    result: Verdict = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if verdict is None:
            result = None
    return result


def not3(verdict: Verdict) -> Verdict:
    return None if verdict is None else not verdict


def names_caller(principal: str, caller: Caller) -> bool:
    """Whether a Principal entry (an account, an IAM or STS ARN, `*`) covers the caller."""
    if principal == "*":
        return True
    if caller.account is None:
        return False
    org = ORG_ARN.match(principal)
    if org:
        return org.group(1) == caller.org
    account = principal_account(principal)
    return account == "*" or account == caller.account


def grants_nothing(statement: Statement) -> bool:
    """Every action, or every resource, is a template blank: no request matches the statement."""
    return any(
        (found := values(statement.get(element))) and all(PLACEHOLDER.search(v) for v in found)
        for element in ("Action", "Resource")
    )


# Buckets AWS owns that instances and agents read from (package repositories, agents, scripts),
# from the AllowRequestsToAWSOwnedResources statement of AWS's data-perimeter VPC endpoint policy
# examples (github.com/aws-samples/data-perimeter-policy-examples, vpc_endpoint_policies/
# s3_endpoint_policy.json). <…> is a region-like part: a region, a wildcard or the blank itself.
AWS_OWNED_BUCKETS = (
    "packages.<region>.amazonaws.com",
    "repo.<region>.amazonaws.com",
    "amazonlinux.<region>.amazonaws.com",
    "amazonlinux-2-repos-<region>",
    "al2023-repos-<region>-de612dc2",
    "al2023-<region>",
    "repo.<region>.emr.amazonaws.com",
    "prod.<region>.appinfo.src",
    "aws-ssm-<region>",
    "aws-windows-downloads-<region>",
    "amazon-ssm-<region>",
    "amazon-ssm-packages-<region>",
    "<region>-birdwatcher-prod",
    "aws-ssm-distributor-file-<region>",
    "aws-ssm-document-attachments-<region>",
    "patch-baseline-snapshot-<region>",
    "aws-patchmanager-macos-<region>",
    "amazoncloudwatch-agent-<region>",
    "amazoncloudwatch-agent",
    "aws-codedeploy-<region>",
    "ec2imagebuilder-toe-<region>-prod",
    "ec2imagebuilder-managed-resources-<region>-prod",
    "prod-<region>-starport-layer-bucket",
    "aws-mgn-clients-<region>",
    "aws-mgn-clients-hashes-<region>",
    "aws-mgn-internal-<region>",
    "aws-mgn-internal-hashes-<region>",
    "aws-application-migration-service-<region>",
    "aws-application-migration-service-hashes-<region>",
    "aws-drs-clients-<region>",
    "aws-drs-clients-hashes-<region>",
    "aws-drs-internal-<region>",
    "aws-drs-internal-hashes-<region>",
    "aws-elastic-disaster-recovery-<region>",
    "aws-elastic-disaster-recovery-hashes-<region>",
    "cloudformation-waitcondition-<region>",
    "cloudformation-custom-resource-response-<region>",
    "aws-ec2-enclave-certificate-<region>-prod",
    "assets-<account>-<region>",
    "elasticbeanstalk-samples-<region>",
    "elasticbeanstalk-platform-assets-<region>",
    "elasticbeanstalk-env-resources-<region>",
    "elasticbeanstalk-<region>",
    "jumpstart-cache-prod-<region>",
    "static-<region>-prod-static-<id>",
    "aws-neptune-notebook",
    "aws-neptune-notebook-<region>",
    "athena-examples-<region>",
    "cloudformation-examples",
    "awssupportdatasvcs.com",
    "redshift-downloads",
    "session-manager-downloads",
    "ssm-document-categories",
    "aws-sap-data-provider",
    "aws-sap-dataprovider-<region>",
    "awssap-backint-agent",
    "aws-cli",
)
REGION_LIKE = r"(?:[a-z0-9*?-]+|<[^<>]+>)"


@cache
def aws_owned_patterns() -> list[re.Pattern[str]]:
    """AWS_OWNED_BUCKETS as patterns, compiled when first needed: the 57 compiles took some
    5 ms of every start-up at import."""
    return [
        re.compile("".join(REGION_LIKE if p.startswith("<") else re.escape(p) for p in parts))
        for parts in (re.split(r"(<[^<>]+>)", b) for b in AWS_OWNED_BUCKETS)
    ]


S3_ARN = re.compile(r"arn:aws[a-z-]*:s3:::([^/]+)(?:/.*)?")
AWS_OWNED_REASON = (
    "only reads (s3:Get*, s3:List*) buckets AWS owns (AllowRequestsToAWSOwnedResources of AWS's "
    "data-perimeter examples): not a path to move data out"
)


def reads_aws_owned_buckets(statement: Statement) -> bool:
    """Only s3:Get…/s3:List… actions on AWS-owned buckets: updates and agents need it, and it
    moves no data out, whoever calls."""
    actions, resources = values(statement.get("Action")), values(statement.get("Resource"))
    return (
        not {"NotPrincipal", "NotAction", "NotResource"} & statement.keys()
        and bool(actions and resources)
        and all(a.lower().startswith(("s3:get", "s3:list")) for a in actions)
        and all(aws_owned_bucket(r) for r in resources)
    )


def aws_owned_bucket(arn: str) -> bool:
    found = S3_ARN.fullmatch(arn)
    return found is not None and any(p.fullmatch(found.group(1)) for p in aws_owned_patterns())


# --- endpoint policies: template blanks ---


@rule("endpoint-policy-placeholder")
def endpoint_policy_placeholder(topo: Topology, found: Found) -> Iterator[Finding]:
    for endpoint in topo.snapshot.endpoints:
        policy = judged_policy(endpoint) or []
        rows = [
            {"sid": text(s.get("Sid", "")), "placeholders": ", ".join(holes)}
            for s in policy
            if (holes := blanks(s))
        ]
        if not rows:
            continue
        names = list(dict.fromkeys(p for r in rows for p in r["placeholders"].split(", ")))
        yield endpoint_finding(
            found,
            endpoint,
            message=(
                f"The policy of {describe(topo, endpoint)} still holds template placeholders "
                f"({', '.join(names[:8])}{', …' if len(names) > 8 else ''}). AWS reads them as "
                f"literal text that no request carries: an Allow conditioned on them grants "
                f"nothing, a Deny with a negated condition on them (StringNotEquals…) denies "
                f"everyone, and actions or resources naming them match nothing. The endpoint "
                f"does not enforce the policy its author meant."
            ),
            remediation=(
                f"Replace every placeholder with your value (your organisation id: aws "
                f"organizations describe-organization; account ids; the region "
                f"{endpoint.region}), remove statements you do not need, and apply the policy: "
                f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.id} "
                f"--policy-document file://endpoint-policy.json --region {endpoint.region}"
            ),
            evidence={"statements": rows},
        )


def blanks(statement: Statement) -> list[str]:
    """The placeholders in a statement's principals, actions, resources and conditions."""
    found = [
        blank
        for name, element in statement.items()
        if name not in ("Sid", "Effect")
        for value in strings(element)
        for blank in PLACEHOLDER.findall(value)
    ]
    return list(dict.fromkeys(found))


def strings(element: object) -> Iterator[str]:
    """Every string in a policy element, condition keys included."""
    if isinstance(element, str):
        yield element
    elif isinstance(element, list):
        for item in element:
            yield from strings(item)
    elif isinstance(element, dict):
        for key, item in element.items():
            yield key
            yield from strings(item)


# --- interface endpoints ---


@rule("interface-endpoint-private-dns-off")
def interface_endpoint_private_dns_off(topo: Topology, found: Found) -> Iterator[Finding]:
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
            found,
            endpoint,
            message=(
                f"{describe(topo, endpoint)} has private DNS off: SDKs and the CLI in the VPC "
                f"resolve {service}'s public DNS name to public addresses, so their requests leave "
                f"through a NAT or internet gateway (or fail in private subnets) and bypass the "
                f"endpoint and its policy, unless each client is set to the endpoint-specific DNS "
                f"name."
            ),
            remediation=(
                "Turn on the endpoint's private DNS (the VPC needs enableDnsSupport and "
                "enableDnsHostnames on). If clients use the endpoint-specific names or a shared "
                "private hosted zone on purpose, suppress this finding."
            ),
            evidence={"private_dns_enabled": False},
            commands=[
                ec2(
                    endpoint.account_id,
                    endpoint.region,
                    "modify-vpc-endpoint",
                    *("--vpc-endpoint-id", endpoint.id, "--private-dns-enabled"),
                )
            ],
        )


DNS_FLAGS = {
    "enableDnsSupport": "--enable-dns-support",
    "enableDnsHostnames": "--enable-dns-hostnames",
}


@rule("interface-endpoint-dns-attributes-off")
def interface_endpoint_dns_attributes_off(topo: Topology, found: Found) -> Iterator[Finding]:
    for endpoint in live_endpoints(topo, INTERFACE):
        vpc = topo.vpcs.get(endpoint.vpc_id)
        if not endpoint.private_dns_enabled or vpc is None:
            continue
        attributes = {"enableDnsSupport": vpc.dns_support, "enableDnsHostnames": vpc.dns_hostnames}
        off = [name for name, value in attributes.items() if value is False]
        if not off:
            continue
        yield endpoint_finding(
            found,
            endpoint,
            message=(
                f"{describe(topo, endpoint)} has private DNS on, but the VPC has "
                f"{' and '.join(off)} off, so the endpoint's private DNS names do not resolve in "
                f"the VPC: clients reach the service's public addresses through a NAT or internet "
                f"gateway, or fail."
            ),
            remediation=f"Turn on {' and '.join(off)} in {vpc.id}.",
            evidence={"private_dns_enabled": True, "vpc_dns_attributes": attributes},
            # enableDnsSupport first: AWS enables DNS hostnames only where it is on.
            commands=[attribute_command(vpc, DNS_FLAGS[name]) for name in off],
        )


@rule("interface-endpoint-single-az")
def interface_endpoint_single_az(topo: Topology, found: Found) -> Iterator[Finding]:
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
            found,
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


def service_ports(endpoint: Endpoint) -> tuple[tuple[int, ...], str]:
    """The TCP ports (any one suffices) and protocol clients use to reach the service."""
    service = short_service(endpoint)
    if service.startswith("transfer.server."):  # one Transfer Family server's endpoint
        service = "transfer.server"
    return SERVICE_PORTS.get(service, HTTPS)


def admits(perm: SecurityGroupRule, port: int, vpc_nets: list[Network], own: set[str]) -> bool:
    """Whether an ingress rule lets some client inside the VPC reach TCP `port`.

    A reference to the endpoint's own groups (the default group's self rule) admits only other
    members of those groups, not the VPC's clients: it does not count."""
    protocol = perm.protocol.lower()
    if protocol not in ("-1", "tcp", "6"):
        return False
    low, high = perm.from_port, perm.to_port
    if protocol != "-1" and low is not None and high is not None and not low <= port <= high:
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
def interface_endpoint_sg_blocks_https(topo: Topology, found: Found) -> Iterator[Finding]:
    groups = {g.id: g for g in topo.snapshot.security_groups}
    for endpoint in live_endpoints(topo, INTERFACE):
        if not aws_service(endpoint):
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
        ports, protocol = service_ports(endpoint)
        if any(admits(r, p, vpc_nets, own) for p in ports for g in sgs for r in g.ingress):
            continue
        cidrs = vpc.cidr_blocks or vpc.ipv6_cidr_blocks
        ranges = ",".join(f"{{CidrIp={c}}}" for c in vpc.cidr_blocks)
        tcp = "TCP " + " or ".join(str(p) for p in ports)
        yield endpoint_finding(
            found,
            endpoint,
            message=(
                f"No security group of {describe(topo, endpoint)} allows {tcp} from inside "
                f"the VPC ({', '.join(cidrs)}): clients in the VPC cannot open {protocol} "
                f"connections to the endpoint, so calls to {short_service(endpoint)} time out. "
                f"(If the endpoint only serves networks outside this VPC, such as a shared "
                f"endpoint hub, ignore this.)"
            ),
            remediation=(
                f"aws ec2 authorize-security-group-ingress --group-id "
                f"{endpoint.security_group_ids[0]} --ip-permissions "
                f"'IpProtocol=tcp,FromPort={ports[0]},ToPort={ports[0]},IpRanges=[{ranges}]' "
                f"--region {endpoint.region} (or allow {ports[0]} from the clients' security "
                f"groups{'; or the port your clients use' if len(ports) > 1 else ''})."
            ),
            evidence={
                "ports": list(ports),
                "protocol": protocol,
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
def endpoint_not_available(topo: Topology, found: Found) -> Iterator[Finding]:
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
            found,
            endpoint,
            message=f"{describe(topo, endpoint)} {problem.format(who=who)}.",
            remediation=fix,
            evidence={"service_owner": service.account_id if service else "unknown"},
        )


# --- endpoint services we provide ---


@rule("endpoint-service-open")
def endpoint_service_open(topo: Topology, found: Found) -> Iterator[Finding]:
    for service in topo.snapshot.endpoint_services:
        if service.acceptance_required or service.state.lower() in ENDPOINT_GONE:
            continue
        accounts = topo.trusted_accounts | {service.account_id}
        principals = service.allowed_principals or []
        strangers = outsiders(principals, accounts, topo.trusted_organization_ids)
        if not strangers:
            continue
        yield service_finding(found, service, strangers)


def service_finding(found: Found, service: EndpointService, strangers: list[str]) -> Finding:
    who = (
        "any AWS account (`*`)"
        if "*" in strangers
        else f"principals outside the audited accounts and trusted organisations "
        f"({', '.join(strangers)})"
    )
    removals = " ".join(f"'{p}'" for p in strangers)
    return found(
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
