"""AWS Security Finding Format: a JSON list for securityhub:BatchImportFindings."""

from __future__ import annotations

import json
from typing import Any

from auditor.model import Finding
from auditor.report.document import Report, ResolvedFinding
from auditor.report.formats.base import Format, RenderContext
from auditor.report.text import clip, fix_text

ASFF_SCHEMA_VERSION = "2018-10-08"
ASFF_TYPES = ["Software and Configuration Checks/AWS Security Best Practices"]
ASFF_SEVERITY = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
ASFF_RESOURCE_TYPES = {
    "route-table": "AwsEc2RouteTable",
    "vpc": "AwsEc2Vpc",
    "vpc-peering-connection": "AwsEc2VpcPeeringConnection",
    "security-group": "AwsEc2SecurityGroup",
    "vpc-endpoint-service": "AwsEc2VpcEndpointService",
    "subnet": "AwsEc2Subnet",
    "network-interface": "AwsEc2NetworkInterface",
    "transit-gateway": "AwsEc2TransitGateway",
    "nat-gateway": "AwsEc2NatGateway",
}


def asff_resource(item: Finding | ResolvedFinding, partition: str) -> dict[str, Any]:
    """The finding's resource by its ARN (EC2 ARNs are `<resource-type>/<id>`)."""
    kind = item.resource_type
    region, account = item.region, item.account_id
    return {
        "Type": ASFF_RESOURCE_TYPES.get(kind, "Other"),
        "Id": f"arn:{partition}:ec2:{region}:{account}:{kind}/{item.resource_id}",
        "Region": region,
        "Partition": partition,
    }


def asff_finding(
    item: Finding | ResolvedFinding, report: Report, record_state: str, workflow: str
) -> dict[str, Any]:
    """A finding of this run, or a resolved one (which has no message, fix, VPC or change)."""
    finding = item if isinstance(item, Finding) else None
    partition = report.scope.partition
    region, account = item.region, item.account_id
    fields = {
        "vpc-audit/RuleId": item.rule_id,
        "vpc-audit/FindingId": item.id,
        "vpc-audit/ToolVersion": report.tool_version,
    }
    change = report.change(finding) if finding else None
    if change:
        fields["vpc-audit/Change"] = change
    if finding and finding.vpc_id:
        fields["vpc-audit/VpcId"] = finding.vpc_id
    if finding and finding.remediation_commands:
        # Whole, where the Recommendation's 512 characters would cut them (values hold 2,048).
        fields["vpc-audit/RemediationCommands"] = clip(
            "\n\n".join(finding.remediation_commands), 2048
        )
    document: dict[str, Any] = {
        "SchemaVersion": ASFF_SCHEMA_VERSION,
        "Id": f"vpc-audit/{account}/{region}/{item.id}",
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": f"vpc-audit/{item.rule_id}",
        "AwsAccountId": account,
        "Types": ASFF_TYPES,
        "CreatedAt": report.generated_at,
        "UpdatedAt": report.generated_at,
        "Severity": {"Label": ASFF_SEVERITY[str(item.severity)]},
        "Title": clip(item.title, 256),
        "Description": clip((finding.message if finding else "") or item.title, 1024),
        "Resources": [asff_resource(item, partition)],
        "ProductFields": fields,
        "RecordState": record_state,
        "Workflow": {"Status": workflow},
    }
    if finding and finding.remediation:
        document["Remediation"] = {"Recommendation": {"Text": clip(fix_text(finding), 512)}}
    return document


def render_asff(report: Report) -> str:
    """A JSON list for securityhub:BatchImportFindings (send it in batches of up to 100).

    Active findings are ACTIVE (workflow NEW, or SUPPRESSED when the policy accepted them);
    findings a baseline had and this run no longer finds are ARCHIVED/RESOLVED under the same
    Id, so importing the file also closes them in Security Hub.
    """
    documents = [
        asff_finding(f, report, "ACTIVE", "SUPPRESSED" if f.suppressed else "NEW")
        for f in report.findings
    ]
    documents += [asff_finding(r, report, "ARCHIVED", "RESOLVED") for r in report.resolved]
    return json.dumps(documents, indent=2, ensure_ascii=False) + "\n"


def render(report: Report, _context: RenderContext) -> str:
    return render_asff(report)


FORMAT = Format(
    name="asff",
    what="ASFF findings",
    help="Write the findings in the AWS Security Finding Format, a JSON list for securityhub:BatchImportFindings (the file only; no API call).",
    render=render,
    order=60,
)
