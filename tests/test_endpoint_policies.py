"""Endpoint policies judged as AWS evaluates them: data perimeters, multi-key conditions, AWS-owned
buckets, template placeholders, policy support; and interface endpoints reached on other ports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.model import (
    Endpoint,
    Finding,
    RuleSettings,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
)
from auditor.rules import run_rules
from tests.builders import R1, A, snapshot, subnet, vpc

EXAMPLES = sorted((Path(__file__).parent / "data" / "endpoint_policies").glob("*.json"))
ORG, OTHER_ORG = "o-a1b2c3d4e5", "o-zzzzzzzzzz"
PARTNERS = ("333333333333", "444444444444")
FULL = "endpoint-policy-full-access"
UNTRUSTED = "endpoint-policy-untrusted-principal"
PLACEHOLDER = "endpoint-policy-placeholder"
POLICY_RULES = [FULL, UNTRUSTED, PLACEHOLDER]

# What a user of AWS's examples writes in place of each blank.
FILLED = {
    "<my-org-id>": ORG,
    "<region>": R1,
    "<RegionWithoutDashes>": "useast1",
    "<CodeArtifact-Region-Account>": "123456789012",
    "<string>": "a1b2c3",
    "<ecr-account-id>": "602401143452",
    "<glue-account-id>": "123456789012",
    "<service-account-id>": "123456789012",
    "<third-party-account-a>": PARTNERS[0],
    "<third-party-account-b>": PARTNERS[1],
    "<action>": "s3:GetObject",
    "<third-party-resource-arn>": "arn:aws:s3:::partner-exchange/*",
}


def fill(document: str, **changes: str) -> str:
    values = {**FILLED, **changes}
    filled = re.sub(r"<[^<>]+>", lambda m: values[m.group(0)], document)
    assert "<" not in filled
    return filled


def example(path: Path, **changes: str) -> str:
    return fill(path.read_text(), **changes)


def without_org_condition(document: str) -> str:
    """The policy with every aws:PrincipalOrgID condition taken out."""
    policy = json.loads(document)
    for statement in policy["Statement"]:
        condition = statement.get("Condition", {})
        for block in condition.values():
            block.pop("aws:PrincipalOrgID", None)
        statement["Condition"] = {op: block for op, block in condition.items() if block}
        if not statement["Condition"]:
            del statement["Condition"]
    return json.dumps(policy)


def endpoint(document: str | None, service: str = "s3", **extra: Any) -> Endpoint:
    return Endpoint(
        "vpce-1",
        A,
        R1,
        "vpc-1",
        extra.pop("kind", "Interface"),
        f"com.amazonaws.{R1}.{service}",
        subnet_ids=["subnet-a"],
        policy_document=document,
        **extra,
    )


def estate(*resources: Any, org: str | None = ORG) -> Snapshot:
    snap = snapshot(
        vpc("vpc-1", "10.0.0.0/16", tags={"Name": "shop"}),
        subnet("subnet-a", "vpc-1", "10.0.1.0/24", availability_zone="us-east-1a"),
        *resources,
    )
    snap.scope.organization_id = org
    return snap


def verdicts(document: str | None, **extra: Any) -> list[Finding]:
    settings = RuleSettings(trusted_accounts=frozenset(PARTNERS))
    return run_rules(estate(endpoint(document, **extra)), only=POLICY_RULES, settings=settings)


def rule_ids(document: str | None, **extra: Any) -> set[str]:
    return {f.rule_id for f in verdicts(document, **extra)}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", **extra}
    return {**statement, "Condition": condition} if condition else statement


def deny(condition: dict[str, Any]) -> dict[str, Any]:
    return {**allow(condition), "Effect": "Deny"}


def untrusted(document: str) -> Finding:
    (finding,) = [f for f in verdicts(document) if f.rule_id == UNTRUSTED]
    return finding


# --- AWS's data-perimeter examples ---


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_aws_data_perimeter_examples_filled_with_the_trusted_org_are_clean(path: Path) -> None:
    assert verdicts(example(path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_aws_data_perimeter_examples_for_another_org_admit_untrusted_principals(
    path: Path,
) -> None:
    finding = untrusted(example(path, **{"<my-org-id>": OTHER_ORG}))
    assert finding.severity.name == "HIGH"
    sids = [g["sid"] for g in finding.evidence["statements"]]  # type: ignore[attr-defined]
    assert "AllowRequestsByOrgsIdentitiesToOrgsResources" in sids
    assert "AllowRequestsByAWSServicePrincipals" not in sids
    assert FULL not in rule_ids(example(path, **{"<my-org-id>": OTHER_ORG}))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_aws_data_perimeter_examples_without_the_org_condition_admit_untrusted_principals(
    path: Path,
) -> None:
    assert rule_ids(without_org_condition(example(path))) == {UNTRUSTED}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_aws_data_perimeter_examples_left_unfilled_are_placeholder_findings_only(
    path: Path,
) -> None:
    (finding,) = verdicts(path.read_text())
    assert finding.rule_id == PLACEHOLDER and finding.severity.name == "MEDIUM"
    assert "<my-org-id>" in finding.message
    rows = finding.evidence["statements"]
    assert {
        "sid": "AllowRequestsByOrgsIdentitiesToOrgsResources",
        "placeholders": "<my-org-id>",
    } in rows  # type: ignore[operator]


def test_third_party_identities_of_the_s3_example_are_untrusted_unless_trusted() -> None:
    document = example(next(p for p in EXAMPLES if p.stem == "s3_endpoint_policy"))
    finding = run_rules(estate(endpoint(document)), only=[UNTRUSTED])[0]
    (grant,) = finding.evidence["statements"]  # type: ignore[misc]
    assert grant["sid"] == "AllowRequestsByThirdPartyIdentitiesToThirdPartyResources"
    assert f"account {PARTNERS[0]}" in grant["admits"]


# --- conditions as AWS evaluates them ---


def test_principal_is_aws_service_limits_a_statement() -> None:
    assert verdicts(policy(allow({"Bool": {"aws:PrincipalIsAWSService": "true"}}))) == []
    assert verdicts(policy(allow({"Bool": {"aws:PrincipalIsAWSService": True}}))) == []


def test_principal_is_aws_service_false_admits_everyone_else() -> None:
    finding = untrusted(policy(allow({"Bool": {"aws:PrincipalIsAWSService": "false"}})))
    assert "another organisation" in finding.evidence["statements"][0]["admits"]  # type: ignore[index]


@pytest.mark.parametrize(
    "more",
    [
        {"aws:ResourceOrgID": ORG},
        {"aws:PrincipalTag/dp:exclude:resource": "true"},
        {"aws:ResourceAccount": ["123456789012", "602401143452"]},
    ],
)
def test_more_keys_beside_a_trusted_principal_org_only_narrow_the_statement(
    more: dict[str, Any],
) -> None:
    assert verdicts(policy(allow({"StringEquals": {"aws:PrincipalOrgID": ORG, **more}}))) == []


def test_keys_in_separate_operators_are_anded_too() -> None:
    condition = {
        "StringEquals": {"aws:PrincipalOrgID": ORG},
        "StringLike": {"aws:PrincipalTag/team": "data-*"},
    }
    assert verdicts(policy(allow(condition))) == []


def test_more_keys_beside_an_untrusted_org_do_not_make_it_trusted() -> None:
    condition = {"StringEquals": {"aws:PrincipalOrgID": OTHER_ORG, "aws:ResourceOrgID": ORG}}
    finding = untrusted(policy(allow(condition)))
    assert f"organisation {OTHER_ORG}" in finding.evidence["statements"][0]["admits"]  # type: ignore[index]


def test_values_of_one_key_are_alternatives() -> None:
    assert untrusted(policy(allow({"StringEquals": {"aws:PrincipalOrgID": [ORG, OTHER_ORG]}})))


def test_principal_tags_are_chosen_by_the_caller_and_limit_nothing() -> None:
    assert untrusted(policy(allow({"StringEquals": {"aws:PrincipalTag/dp:trusted": "true"}})))


def test_for_all_values_passes_when_the_key_is_absent() -> None:
    condition = {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": [f"{ORG}/*"]}}
    finding = untrusted(policy(allow(condition)))
    assert "outside any organisation" in finding.evidence["statements"][0]["admits"]  # type: ignore[index]


def test_for_any_value_fails_when_the_key_is_absent() -> None:
    condition = {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{ORG}/*"]}}
    assert verdicts(policy(allow(condition))) == []


def test_null_false_requires_the_key_but_not_a_trusted_value() -> None:
    assert untrusted(policy(allow({"Null": {"aws:PrincipalOrgID": "false"}})))


# --- the Allow-all and Deny perimeter ---

PERIMETER = {
    "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG},
    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
}


def test_allow_all_with_a_deny_outside_the_org_except_aws_services_is_a_perimeter() -> None:
    assert verdicts(policy(allow(), deny(PERIMETER))) == []


def test_deny_perimeter_keyed_on_principal_accounts_also_counts() -> None:
    condition = {
        "StringNotEqualsIfExists": {"aws:PrincipalAccount": [A, *PARTNERS]},
        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
    }
    assert verdicts(policy(allow(), deny(condition))) == []


def test_deny_perimeter_for_another_org_stops_nobody_from_it() -> None:
    perimeter = {**PERIMETER, "StringNotEqualsIfExists": {"aws:PrincipalOrgID": OTHER_ORG}}
    finding = untrusted(policy(allow(), deny(perimeter)))
    assert finding.evidence["statements"][0]["untrusted"] == "*"  # type: ignore[index]


def test_bool_without_if_exists_lets_anonymous_requests_through_the_deny() -> None:
    perimeter = {**PERIMETER, "Bool": {"aws:PrincipalIsAWSService": "false"}}
    del perimeter["BoolIfExists"]
    finding = untrusted(policy(allow(), deny(perimeter)))
    assert finding.evidence["statements"][0]["admits"] == "anonymous (unsigned) requests"  # type: ignore[index]


def test_deny_exempting_a_principal_tag_does_not_stop_outsiders_who_set_it() -> None:
    condition = {
        "StringNotEqualsIfExists": {
            "aws:PrincipalOrgID": ORG,
            "aws:PrincipalTag/dp:exclude:identity": "true",
        }
    }
    assert untrusted(policy(allow(), deny(condition)))


def test_deny_of_everyone_outside_any_org_leaves_other_orgs_in() -> None:
    finding = untrusted(policy(allow(), deny({"Null": {"aws:PrincipalOrgID": "true"}})))
    admits = finding.evidence["statements"][0]["admits"]  # type: ignore[index]
    assert "another organisation" in admits and "outside any organisation" not in admits


def test_unconditional_deny_of_everything_leaves_nothing_to_report() -> None:
    assert verdicts(policy(allow(Action="s3:GetObject"), {**allow(), "Effect": "Deny"})) == []


def test_deny_of_principal_arns_outside_the_trusted_accounts_is_a_perimeter() -> None:
    condition = {"ArnNotLikeIfExists": {"aws:PrincipalArn": [f"arn:aws:iam::{A}:*"]}}
    assert verdicts(policy(allow(), deny(condition))) == []


def test_deny_sparing_a_role_name_spares_that_name_in_every_account() -> None:
    condition = {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}
    finding = untrusted(policy(allow(), deny(condition)))
    assert "anonymous" not in finding.evidence["statements"][0]["admits"]  # type: ignore[index]


@pytest.mark.parametrize(
    "condition",
    [
        "not a condition",
        {"StringEquals": "not a block"},
        {"StringEquals": {"aws:PrincipalOrgID": {"not": "a value"}}},
        {"Bool": {"aws:PrincipalIsAWSService": None}},
        {"NumericLessThan": {"aws:PrincipalAccount": 5}},
        {"ForAnyValue:StringLikeIfExists": {"aws:PrincipalOrgPaths": []}},
    ],
)
def test_malformed_conditions_are_judged_without_error(condition: Any) -> None:
    for statement in (allow(condition, Action="s3:GetObject"), deny(condition)):
        verdicts(policy(allow(Action="s3:GetObject"), statement))


# --- reads of AWS-owned buckets ---


def aws_owned_reads(*resources: str, actions: Any = ("s3:GetObject", "s3:ListBucket")) -> Any:
    return allow(
        Sid="AllowRequestsToAWSOwnedResources", Action=list(actions), Resource=list(resources)
    )


@pytest.mark.parametrize(
    "resources",
    [
        ["arn:aws:s3:::amazonlinux-2-repos-us-east-1/*", "arn:aws:s3:::aws-ssm-us-east-1/*"],
        ["arn:aws:s3:::packages.us-east-1.amazonaws.com/*", "arn:aws:s3:::aws-cli/*"],
        ["arn:aws:s3:::amazonlinux-2-repos-*/*"],  # any region
        ["arn:aws:s3:::jumpstart-cache-prod-eu-west-1"],
    ],
)
def test_reading_aws_owned_buckets_is_not_an_untrusted_principal(resources: list[str]) -> None:
    assert verdicts(policy(aws_owned_reads(*resources))) == []


@pytest.mark.parametrize(
    "statement",
    [
        aws_owned_reads("arn:aws:s3:::aws-ssm-us-east-1/*", actions=["s3:PutObject"]),
        aws_owned_reads("arn:aws:s3:::aws-ssm-us-east-1/*", actions=["s3:*"]),
        aws_owned_reads("arn:aws:s3:::aws-ssm-us-east-1/*", "arn:aws:s3:::my-bucket/*"),
        aws_owned_reads("arn:aws:s3:::*"),
        {**aws_owned_reads("arn:aws:s3:::aws-ssm-us-east-1/*"), "NotAction": "s3:PutObject"},
    ],
)
def test_writes_or_other_buckets_are_still_reported(statement: dict[str, Any]) -> None:
    assert untrusted(policy(statement))


def test_aws_owned_reads_are_named_as_not_reported_beside_a_finding() -> None:
    document = policy(
        aws_owned_reads("arn:aws:s3:::aws-ssm-us-east-1/*"),
        allow(Sid="Open", Action="s3:PutObject"),
    )
    finding = untrusted(document)
    assert [g["sid"] for g in finding.evidence["statements"]] == ["Open"]  # type: ignore[attr-defined]
    (skipped,) = finding.evidence["not_reported"]  # type: ignore[misc]
    assert skipped["sid"] == "AllowRequestsToAWSOwnedResources"
    assert "AWS owns" in skipped["reason"]


# --- placeholders ---


def test_placeholder_in_a_deny_perimeter_is_reported_and_denies_everyone() -> None:
    perimeter = {**PERIMETER, "StringNotEqualsIfExists": {"aws:PrincipalOrgID": "<my-org-id>"}}
    (finding,) = verdicts(policy(allow(), deny(perimeter)))
    assert finding.rule_id == PLACEHOLDER
    assert finding.evidence["statements"] == [{"sid": "", "placeholders": "<my-org-id>"}]
    assert "--vpc-endpoint-id vpce-1 --policy-document" in finding.remediation


@pytest.mark.parametrize(
    "statement",
    [
        allow(Principal={"AWS": "arn:aws:iam::<my-account-id>:root"}, Action="s3:GetObject"),
        allow({"StringEquals": {"aws:ResourceOrgID": "<my-resource-org-id>"}}, Action="s3:*"),
        allow(Action="<action>", Resource="<third-party-resource-arn>"),
        allow(Action="s3:GetObject", Resource="arn:aws:s3:::<my-bucket>/*"),
    ],
)
def test_placeholders_anywhere_are_reported_and_grant_nothing(statement: dict[str, Any]) -> None:
    assert rule_ids(policy(statement)) == {PLACEHOLDER}


def test_placeholder_beside_an_open_statement_does_not_hide_it() -> None:
    document = policy(
        allow({"StringEquals": {"aws:PrincipalOrgID": "<my-org-id>"}}), allow(Action="s3:*")
    )
    assert rule_ids(document) == {PLACEHOLDER, UNTRUSTED}


def test_angle_brackets_are_only_placeholders_in_policy_elements() -> None:
    assert verdicts(policy(allow({"StringEquals": {"aws:PrincipalOrgID": ORG}}, Sid="a"))) == []


# --- endpoint policy support ---


@pytest.mark.parametrize(
    ("supported", "reported"),
    [(False, set()), (None, {FULL}), (True, {FULL})],
)
def test_policies_of_services_without_endpoint_policy_support_are_not_judged(
    supported: bool | None, reported: set[str]
) -> None:
    assert rule_ids(policy(allow()), policy_supported=supported) == reported


def test_unsupported_policies_are_not_judged_for_placeholders_or_principals() -> None:
    document = policy(
        allow({"StringEquals": {"aws:PrincipalOrgID": "<my-org-id>"}}), allow(Action="s3:*")
    )
    assert rule_ids(document, policy_supported=False) == set()


# --- interface endpoints reached on other ports ---

HTTPS = "interface-endpoint-sg-blocks-https"


def port_rule(port: int) -> SecurityGroupRule:
    return SecurityGroupRule("tcp", port, port, cidrs=["10.0.0.0/16"])


def sg_findings(service: str, *ports: int) -> list[Finding]:
    group = SecurityGroup("sg-1", A, R1, "vpc-1", ingress=[port_rule(p) for p in ports])
    ep = endpoint(None, service, security_group_ids=["sg-1"])
    return run_rules(estate(group, ep), only=[HTTPS])


@pytest.mark.parametrize(
    ("service", "open_port"),
    [
        ("git-codecommit", 22),  # Git over SSH
        ("git-codecommit", 443),  # Git over HTTPS
        ("git-codecommit-fips", 22),
        ("transfer.server", 22),  # SFTP
        ("transfer.server", 21),  # FTP, FTPS
        ("email-smtp", 587),
        ("email-smtp", 465),
        ("cassandra", 9142),
        ("cassandra-fips", 9142),
        ("iot.data", 8883),  # MQTT
        ("ssm", 443),
        ("codecommit", 443),  # the API endpoint
    ],
)
def test_services_are_reachable_on_any_port_their_docs_name(service: str, open_port: int) -> None:
    assert sg_findings(service, open_port) == []


@pytest.mark.parametrize(
    ("service", "blocked_port", "words"),
    [
        ("transfer.server", 443, "TCP 22 or 21"),
        ("git-codecommit", 80, "TCP 443 or 22"),
        ("email-smtp", 443, "TCP 587 or 25 or 2587 or 465 or 2465"),
        ("cassandra", 443, "TCP 9142"),
        ("iot.data", 1883, "TCP 443 or 8883"),
        ("codecommit", 22, "TCP 443"),  # SSH is for the git-codecommit endpoint only
    ],
)
def test_services_are_judged_on_their_own_ports_not_on_443(
    service: str, blocked_port: int, words: str
) -> None:
    (finding,) = sg_findings(service, blocked_port)
    assert f"allows {words} from inside the VPC" in finding.message
    first = words.split()[1]
    assert f"FromPort={first},ToPort={first}" in finding.remediation
    assert finding.evidence["ports"] == [int(p) for p in words[4:].split(" or ")]


def test_https_services_keep_their_https_finding() -> None:
    (finding,) = sg_findings("ssm", 22)
    assert (
        "allows TCP 443 from inside" in finding.message and "HTTPS connections" in finding.message
    )
    assert finding.evidence["protocol"] == "HTTPS"
