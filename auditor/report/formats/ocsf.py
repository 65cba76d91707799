"""OCSF 1.5.0 Detection Findings (class 2004): a JSON array for Security Hub, data lakes, SIEMs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from auditor.model import Finding
from auditor.report.document import Report, ResolvedFinding
from auditor.report.formats.asff import ASFF_TYPES, asff_resource
from auditor.report.formats.base import Format, RenderContext
from auditor.report.text import fix_text

OCSF_VERSION = "1.5.0"
CATEGORY = (2, "Findings")
DETECTION_FINDING = (2004, "Detection Finding")
# OCSF severity_id and its caption, for each vpc-audit severity.
SEVERITY = {
    "info": (1, "Informational"),
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
CREATE = (1, "Create")
CLOSE = (3, "Close")
NEW = (1, "New")
SUPPRESSED = (3, "Suppressed")
RESOLVED = (4, "Resolved")
AWS_ACCOUNT = 10  # account.type_id


def epoch_ms(stamp: str) -> int:
    """OCSF `timestamp_t`: milliseconds since the epoch, from the report's `...Z` time."""
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def ocsf_finding(
    item: Finding | ResolvedFinding,
    report: Report,
    activity: tuple[int, str],
    status: tuple[int, str],
) -> dict[str, Any]:
    """One Detection Finding, of this run or resolved (no message, fix, VPC or change then).
    The account is named by its id: vpc-audit reads no account names, and OCSF's account
    object wants a name."""
    finding = item if isinstance(item, Finding) else None
    partition = report.scope.partition
    region, account = item.region, item.account_id
    severity_id, severity = SEVERITY[str(item.severity)]
    arn = asff_resource(item, partition)  # the same ARN and type name as in the ASFF
    resource: dict[str, Any] = {
        "type": arn["Type"],
        "uid": arn["Id"],
        "name": item.resource_id,
        "region": region,
        "cloud_partition": partition,
    }
    if finding and finding.vpc_id:
        resource["data"] = {"vpc_id": finding.vpc_id}
    cloud: dict[str, Any] = {
        "provider": "AWS",
        "region": region,
        "account": {"uid": account, "name": account, "type_id": AWS_ACCOUNT, "type": "AWS Account"},
    }
    if report.scope.organization_id:
        cloud["org"] = {"uid": report.scope.organization_id}
    document: dict[str, Any] = {
        "category_uid": CATEGORY[0],
        "category_name": CATEGORY[1],
        "class_uid": DETECTION_FINDING[0],
        "class_name": DETECTION_FINDING[1],
        "activity_id": activity[0],
        "activity_name": activity[1],
        "type_uid": DETECTION_FINDING[0] * 100 + activity[0],
        "type_name": f"{DETECTION_FINDING[1]}: {activity[1]}",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status[0],
        "status": status[1],
        "time": epoch_ms(report.generated_at),
        "time_dt": report.generated_at,
        "message": item.title,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "event_code": item.rule_id,
            "product": {
                "name": "vpc-audit",
                "uid": "vpc-audit",
                "vendor_name": "vpc-audit",
                "version": report.tool_version,
            },
        },
        "finding_info": {
            "uid": item.id,
            "title": item.title,
            "desc": (finding.message if finding else "") or item.title,
            "types": ASFF_TYPES,
            "analytic": {
                "uid": item.rule_id,
                "name": item.rule_id,
                "type_id": 1,
                "type": "Rule",
            },
        },
        "resources": [resource],
        "cloud": cloud,
    }
    if finding is None:
        return document
    if finding.suppressed and finding.suppression_reason:
        document["status_detail"] = finding.suppression_reason
    if finding.remediation:
        document["remediation"] = {"desc": fix_text(finding)}
    change = report.change(finding)
    if change:
        document["unmapped"] = {"change": change}
    return document


def render_ocsf(report: Report) -> str:
    """Every finding as a Detection Finding: activity Create, status New or Suppressed (the
    policy accepted it). A finding a baseline had and this run no longer finds is activity
    Close, status Resolved, with the same `finding_info.uid`, so a consumer can close it."""
    documents = [
        ocsf_finding(f, report, CREATE, SUPPRESSED if f.suppressed else NEW)
        for f in report.findings
    ]
    documents += [ocsf_finding(r, report, CLOSE, RESOLVED) for r in report.resolved]
    return json.dumps(documents, indent=2, ensure_ascii=False) + "\n"


def render(report: Report, _context: RenderContext) -> str:
    return render_ocsf(report)


FORMAT = Format(
    name="ocsf",
    what="OCSF findings",
    help="Write the findings as OCSF 1.5.0 Detection Findings (class 2004), a JSON array for Security Hub, a security data lake or a SIEM.",
    render=render,
    order=70,
)
