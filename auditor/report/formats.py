"""More renderings of the one report dict: CSV, JUnit XML, Markdown, ASFF and the email bodies.

Each function takes the dict `build_report` made and returns text; none reads AWS or the disk.
Strings from the estate (tag values, names) are attacker-controlled: each format neutralises
them its own way (CSV formula prefixes, XML escaping, Markdown escaping, HTML autoescape, a
header-safe subject).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import css_inline

from auditor.model import Severity
from auditor.report import templates

SEVERITIES = [str(s) for s in sorted(Severity, reverse=True)]
EMAIL_TOP_FINDINGS = 20
EMAIL_LIST_LIMIT = 20

# --- CSV ---

CSV_COLUMNS = [
    "id",
    "severity",
    "rule_id",
    "title",
    "account_id",
    "region",
    "resource_type",
    "resource_id",
    "vpc_id",
    "change",
    "suppressed",
    "suppression_reason",
    "message",
    "remediation",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (a formula) gets a ' prefix."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def render_csv(report: dict[str, Any]) -> str:
    """One row per finding (suppressed ones included, marked), in the report's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for finding in report["findings"]:
        writer.writerow([csv_cell(finding.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


# --- JUnit XML ---


def render_junit(report: dict[str, Any]) -> str:
    """A testsuite per rule that ran: a failing testcase per finding (rule x resource), a
    skipped one per suppressed finding and, for a rule with no finding, one passing testcase.

    vpc-audit's rules report problems, not every resource they looked at, so a passing rule is
    one testcase ("no findings"), not one per resource. A last suite, `coverage`, has one
    testcase per account-region: passing when it was read, an error when it could not be.
    """
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        by_rule.setdefault(finding["rule_id"], []).append(finding)
    rule_ids = sorted(set(report.get("rules_evaluated") or ()) | set(by_rule))
    root = ET.Element("testsuites", name="vpc-audit")
    totals: Counter[str] = Counter()
    for rule_id in rule_ids:
        findings = by_rule.get(rule_id, [])
        suite = ET.SubElement(root, "testsuite", name=rule_id, timestamp=report["generated_at"])
        counts: Counter[str] = Counter(tests=max(1, len(findings)))
        if not findings:
            ET.SubElement(suite, "testcase", classname=rule_id, name="no findings", time="0")
        per_resource = Counter(f["resource_id"] for f in findings)
        for finding in findings:
            name = f"{finding['account_id']}/{finding['region']}/{finding['resource_id']}"
            if per_resource[finding["resource_id"]] > 1:  # several problems on one resource
                name += f" [{finding['id']}]"
            case = ET.SubElement(suite, "testcase", classname=rule_id, name=name, time="0")
            if finding["suppressed"]:
                counts["skipped"] += 1
                ET.SubElement(
                    case,
                    "skipped",
                    message=xml_text(f"suppressed: {finding.get('suppression_reason') or ''}"),
                )
                continue
            counts["failures"] += 1
            change = f" [{finding['change']}]" if finding.get("change") else ""
            failure = ET.SubElement(
                case,
                "failure",
                type=finding["severity"],
                message=xml_text(f"{finding['severity']}: {finding['title']}{change}"),
            )
            failure.text = xml_text(
                f"{finding['message']}\n\nFix: {finding['remediation']}\n\nFinding id: {finding['id']}"
            )
        set_counts(suite, counts)
        totals.update(counts)
    coverage = ET.SubElement(root, "testsuite", name="coverage", timestamp=report["generated_at"])
    counts = Counter(tests=len(report["coverage"]))
    for entry in report["coverage"]:
        case = ET.SubElement(
            coverage,
            "testcase",
            classname="coverage",
            name=f"{entry['account_id']}/{entry['region']}",
            time="0",
        )
        if entry["status"] != "ok":
            counts["errors"] += 1
            error = ET.SubElement(case, "error", type="coverage-gap", message="not audited")
            error.text = xml_text(entry.get("error") or "")
    set_counts(coverage, counts)
    totals.update(counts)
    set_counts(root, totals)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def set_counts(element: ET.Element, counts: Counter[str]) -> None:
    for key in ("tests", "failures", "errors", "skipped"):
        element.set(key, str(counts.get(key, 0)))


XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """ElementTree escapes markup but writes characters XML 1.0 forbids; drop those."""
    return XML_INVALID.sub("\ufffd", text)


# --- Markdown ---

MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#|~!])")
MD_LINE_START = re.compile(r"^(\d*)([-+=.)])")


def md_text(text: str, limit: int = 0) -> str:
    """Plain text inside Markdown: one line, markup characters backslash-escaped, so a tag value
    cannot make a link, an image, HTML, a mention (`<@U…>`), a heading or a list item."""
    flat = " ".join(str(text).split())
    if limit and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return MD_LINE_START.sub(r"\1\\\2", MD_SPECIAL.sub(r"\\\1", flat))


def md_code(text: str) -> str:
    """An id as inline code; a backtick inside cannot end the span early."""
    flat = " ".join(str(text).split()).replace("`", "'")
    return f"`{flat}`"


def render_markdown(report: dict[str, Any], scope: str = "") -> str:
    """Compact, grouped by severity: for a chat message or a ticket."""
    summary = report["summary"]
    lines = [
        f"### vpc-audit{' ' + md_text(scope) if scope else ''}: {md_text(counts_text(report))}",
        "",
    ]
    lines.append(
        f"Generated {report['generated_at']} · {summary['coverage']['ok']} account-region(s) audited"
        + (
            f" · **{summary['coverage']['error']} not audited**"
            if summary["coverage"]["error"]
            else ""
        )
        + (f" · {summary['suppressed']} suppressed" if summary["suppressed"] else "")
    )
    baseline = report.get("baseline")
    if baseline:
        lines.append(
            f"Since {md_text(since_text(baseline) or 'the first run')}: "
            f"**{baseline['new']} new**, {baseline['resolved']} resolved"
        )
    findings = [f for f in report["findings"] if not f["suppressed"]]
    for severity in SEVERITIES:
        group = [f for f in findings if f["severity"] == severity]
        if not group:
            continue
        lines += ["", f"#### {severity.capitalize()} ({len(group)})", ""]
        for f in group:
            new = "**NEW** " if f.get("change") == "new" else ""
            lines.append(
                f"- {new}{md_text(f['title'])}: {md_code(f['resource_id'])} "
                f"({md_code(f['account_id'])} {md_code(f['region'])}, {md_code(f['rule_id'])})  "
            )
            lines.append(f"  {md_text(f['message'], 300)}")
    if report.get("resolved"):
        lines += ["", f"#### Resolved ({len(report['resolved'])})", ""]
        for r in report["resolved"]:
            lines.append(
                f"- {md_text(r['title'])}: {md_code(r['resource_id'])} "
                f"({md_code(r['account_id'])} {md_code(r['region'])}, {r['severity']})"
            )
    gaps = [c for c in report["coverage"] if c["status"] != "ok"]
    if gaps:
        lines += ["", f"#### Not audited ({len(gaps)})", ""]
        for c in gaps:
            lines.append(
                f"- {md_code(c['account_id'])} {md_code(c['region'])}: {md_text(c['error'] or '', 200)}"
            )
    notes = report.get("coverage_notes") or []
    if notes:
        lines += ["", f"#### Not read, treated as unknown ({len(notes)})", ""]
        for n in notes:
            where = (
                f"{md_code(n['account_id'])} {md_code(n['region'])}"
                if n["region"]
                else md_code(n["account_id"])
            )
            lines.append(f"- {where}: {md_text(n['subject'])}: {md_text(n['reason'], 200)}")
    if not findings:
        lines += ["", "No findings."]
    return "\n".join(lines) + "\n"


# --- ASFF (AWS Security Finding Format) ---

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


def asff_resource(finding: dict[str, Any], partition: str) -> dict[str, Any]:
    """The finding's resource by its ARN (EC2 ARNs are `<resource-type>/<id>`)."""
    kind = finding["resource_type"]
    region, account = finding["region"], finding["account_id"]
    return {
        "Type": ASFF_RESOURCE_TYPES.get(kind, "Other"),
        "Id": f"arn:{partition}:ec2:{region}:{account}:{kind}/{finding['resource_id']}",
        "Region": region,
        "Partition": partition,
    }


def asff_finding(
    finding: dict[str, Any], report: dict[str, Any], record_state: str, workflow: str
) -> dict[str, Any]:
    partition = report["scope"]["partition"]
    region, account = finding["region"], finding["account_id"]
    fields = {
        "vpc-audit/RuleId": finding["rule_id"],
        "vpc-audit/FindingId": finding["id"],
        "vpc-audit/ToolVersion": report["tool_version"],
    }
    if finding.get("change"):
        fields["vpc-audit/Change"] = finding["change"]
    if finding.get("vpc_id"):
        fields["vpc-audit/VpcId"] = finding["vpc_id"]
    document: dict[str, Any] = {
        "SchemaVersion": ASFF_SCHEMA_VERSION,
        "Id": f"vpc-audit/{account}/{region}/{finding['id']}",
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": f"vpc-audit/{finding['rule_id']}",
        "AwsAccountId": account,
        "Types": ASFF_TYPES,
        "CreatedAt": report["generated_at"],
        "UpdatedAt": report["generated_at"],
        "Severity": {"Label": ASFF_SEVERITY[finding["severity"]]},
        "Title": clip(finding["title"], 256),
        "Description": clip(finding.get("message") or finding["title"], 1024),
        "Resources": [asff_resource(finding, partition)],
        "ProductFields": fields,
        "RecordState": record_state,
        "Workflow": {"Status": workflow},
    }
    if finding.get("remediation"):
        document["Remediation"] = {"Recommendation": {"Text": clip(finding["remediation"], 512)}}
    return document


def render_asff(report: dict[str, Any]) -> str:
    """A JSON list for securityhub:BatchImportFindings (send it in batches of up to 100).

    Active findings are ACTIVE (workflow NEW, or SUPPRESSED when the policy accepted them);
    findings a baseline had and this run no longer finds are ARCHIVED/RESOLVED under the same
    Id, so importing the file also closes them in Security Hub.
    """
    documents = [
        asff_finding(f, report, "ACTIVE", "SUPPRESSED" if f["suppressed"] else "NEW")
        for f in report["findings"]
    ]
    documents += [
        asff_finding(r, report, "ARCHIVED", "RESOLVED") for r in report.get("resolved") or ()
    ]
    return json.dumps(documents, indent=2, ensure_ascii=False) + "\n"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- counts and words shared by the email and the Markdown ---


def counts_text(report: dict[str, Any]) -> str:
    """`3 high, 2 medium` (non-zero severities, highest first), or `no findings`."""
    by_severity = report["summary"]["by_severity"]
    parts = [f"{by_severity[s]} {s}" for s in SEVERITIES if by_severity.get(s)]
    return ", ".join(parts) if parts else "no findings"


def scope_label(report: dict[str, Any], profile: str | None = None) -> str:
    """What was audited, in a few words: the --profile name, else the organisation (with
    --org), else the account ids (or their number when there are more than three)."""
    if profile:
        return header_safe(profile, 60)
    scope = report["scope"]
    if scope.get("organization_accounts") and scope.get("organization_id"):
        return header_safe(f"{scope['organization_id']} ({len(scope['accounts'])} accounts)", 60)
    accounts = scope.get("accounts") or sorted({c["account_id"] for c in report["coverage"]})
    if not accounts:
        return "(no account)"
    if len(accounts) <= 3:
        return header_safe(", ".join(accounts), 60)
    return f"{len(accounts)} accounts"


def since_text(baseline: dict[str, Any]) -> str:
    """`Tue` for a baseline of the last six days, `Tue 3 Nov` for an older one, '' if unknown."""
    stamp = baseline.get("generated_at")
    if not stamp:
        return ""
    try:
        when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return ""
    age = datetime.now(UTC) - when
    return when.strftime("%a") if age.days < 6 else f"{when:%a} {when.day} {when:%b %Y}"


SUBJECT_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def header_safe(text: str, limit: int = 200) -> str:
    """One line for a mail header: control and line/paragraph separator characters (CR, LF,
    NEL, U+2028 …) become spaces, runs of space collapse, and the length is bounded."""
    cleaned = "".join(" " if unicodedata.category(c) in SUBJECT_UNSAFE else c for c in text)
    return clip(" ".join(cleaned.split()), limit)


def email_subject(report: dict[str, Any], scope: str) -> str:
    """e.g. `vpc-audit prod: 3 high, 2 medium, 5 new since Tue; 1 account-region not audited`."""
    text = f"vpc-audit {scope}: {counts_text(report)}"
    baseline = report.get("baseline")
    if baseline:
        since = since_text(baseline)
        text += f", {baseline['new']} new" + (f" since {since}" if since else " (first run)")
    gaps = report["summary"]["coverage"]["error"]
    if gaps:
        text += f"; {gaps} account-region(s) not audited"
    return header_safe(text)


# --- email bodies ---


@dataclass(frozen=True)
class Attachment:
    """What the email says about the attached report: attached, gzip-compressed, or left out
    (then `locations` says where the reports were written)."""

    mode: str  # "attached" | "gzip" | "omitted"
    names: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    limit_bytes: int = 0


@dataclass(frozen=True)
class EmailContext:
    report: dict[str, Any]
    scope: str
    attachment: Attachment
    top: int = EMAIL_TOP_FINDINGS
    extra: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        findings = [f for f in self.report["findings"] if not f["suppressed"]]
        # Highest severity first (the report's order); within a severity, new ones first.
        ranked = sorted(
            findings,
            key=lambda f: (-Severity.parse(f["severity"]), f.get("change") != "new"),
        )
        gaps = [c for c in self.report["coverage"] if c["status"] != "ok"]
        baseline = self.report.get("baseline")
        return {
            "report": self.report,
            "scope": self.scope,
            "subject": email_subject(self.report, self.scope),
            "severities": SEVERITIES,
            "counts": counts_text(self.report),
            "top": ranked[: self.top],
            "more": max(0, len(ranked) - self.top),
            "gaps": gaps[:EMAIL_LIST_LIMIT],
            "more_gaps": max(0, len(gaps) - EMAIL_LIST_LIMIT),
            "baseline": baseline,
            "since": since_text(baseline) if baseline else "",
            "resolved": (self.report.get("resolved") or [])[:EMAIL_LIST_LIMIT],
            "more_resolved": max(0, len(self.report.get("resolved") or []) - EMAIL_LIST_LIMIT),
            "attachment": self.attachment,
            "limit_mb": f"{self.attachment.limit_bytes / 1_000_000:.0f}",
            **self.extra,
        }


def render_email_html(context: EmailContext) -> str:
    """The HTML alternative: tables for layout, CSS inlined (mail clients drop <style>), no
    scripts, every value autoescaped."""
    html = templates().get_template("email.html.j2").render(**context.variables())
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
    return inliner.inline(html)


def render_email_text(context: EmailContext) -> str:
    """The plain-text alternative (not HTML: no autoescape)."""
    return (
        templates(autoescape=False)
        .get_template("email.txt.j2")
        .render(**context.variables(), one_line=lambda s: " ".join(str(s).split()))
    )
