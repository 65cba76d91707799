"""The IAM permission policy we ship passes parliament (the IAM policy linter security teams run on
what they deploy) with no findings at all, community auditors included: every action that
supports resource-level permissions is scoped to its resource type's ARN, and only the actions
that do not stay on Resource "*". Trust policies are outside parliament's scope (it asks every
statement for a Resource), so only the permission policy is linted.

parliament is a dev dependency; it needs setuptools' pkg_resources (see pyproject.toml).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import parliament
import pytest

ROOT = Path(__file__).parent.parent
POLICY = ROOT / "policies" / "iam" / "vpc-audit-readonly.json"

# Each scoped action and the resource type it is granted on, as the Service Authorization
# Reference gives it (arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId} and so on).
# Region, account and id are wildcards: the audit reads every region, VPCs shared with the
# account through RAM belong to their owner's account, and AWS-managed prefix lists to AWS.
SCOPED = {
    "ec2:DescribeVpcAttribute": "arn:aws:ec2:*:*:vpc/*",
    "ec2:DescribeVpcEndpointServicePermissions": "arn:aws:ec2:*:*:vpc-endpoint-service/*",
    "ec2:GetManagedPrefixListEntries": "arn:aws:ec2:*:*:prefix-list/*",
    "ec2:SearchTransitGatewayRoutes": "arn:aws:ec2:*:*:transit-gateway-route-table/*",
}


def findings(document: dict[str, Any]) -> list[tuple[str, Any]]:
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, f.detail) for f in policy.findings]


def shipped() -> dict[str, Any]:
    return dict(json.loads(POLICY.read_text()))


def star_statement(document: dict[str, Any]) -> Any:
    """The one statement on Resource "*" (the document's own, not a copy)."""
    (statement,) = [s for s in document["Statement"] if s["Resource"] == "*"]
    return statement


def test_shipped_policy_has_no_findings() -> None:
    assert findings(shipped()) == []


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_policy_adapted_to_another_partition_has_no_findings(partition: str) -> None:
    # The README's way to deploy the policy outside the aws partition.
    text = POLICY.read_text().replace('"arn:aws:', f'"arn:{partition}:')
    assert f"arn:{partition}:ec2:" in text
    assert findings(json.loads(text)) == []


def test_scoped_actions_are_granted_on_their_resource_type_only() -> None:
    granted = {
        action: statement["Resource"]
        for statement in shipped()["Statement"]
        if statement["Resource"] != "*"
        for action in statement["Action"]
    }
    assert granted == SCOPED


def test_an_action_left_on_resource_star_is_a_finding() -> None:
    # What the test guards against: a scopable action (an existing one or a new one) added to
    # the statement on Resource "*" fails the lint.
    document = shipped()
    star_statement(document)["Action"].append("ec2:DescribeVpcAttribute")
    assert ("RESOURCE_STAR", ["ec2:DescribeVpcAttribute"]) in findings(document)


def test_an_action_scoped_to_the_wrong_resource_type_is_a_finding() -> None:
    document = shipped()
    for statement in document["Statement"]:
        if statement["Action"] == ["ec2:DescribeVpcAttribute"]:
            statement["Resource"] = "arn:aws:ec2:*:*:subnet/*"
    assert [issue for issue, _ in findings(document)] == ["RESOURCE_MISMATCH"]


def test_readme_shows_the_shipped_policy() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Permissions\n", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert shown is not None
    assert json.loads(shown.group(1)) == shipped()
