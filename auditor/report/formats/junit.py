"""JUnit XML for CI test reports: a suite per rule, a testcase per finding, coverage as a suite."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from auditor.model import Finding
from auditor.report.document import Report
from auditor.report.formats.base import Format, RenderContext
from auditor.report.text import fix_text


def render_junit(report: Report) -> str:
    """A testsuite per rule that ran: a failing testcase per finding (rule x resource), a
    skipped one per suppressed finding and, for a rule with no finding, one passing testcase.

    vpc-audit's rules report problems, not every resource they looked at, so a passing rule is
    one testcase ("no findings"), not one per resource. A last suite, `coverage`, has one
    testcase per account-region: passing when it was read, an error when it could not be.
    """
    by_rule: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    rule_ids = sorted(set(report.rules_evaluated) | set(by_rule))
    root = ET.Element("testsuites", name="vpc-audit")
    totals: Counter[str] = Counter()
    for rule_id in rule_ids:
        findings = by_rule.get(rule_id, [])
        suite = ET.SubElement(root, "testsuite", name=rule_id, timestamp=report.generated_at)
        counts: Counter[str] = Counter(tests=max(1, len(findings)))
        if not findings:
            ET.SubElement(suite, "testcase", classname=rule_id, name="no findings", time="0")
        per_resource = Counter(f.resource_id for f in findings)
        for finding in findings:
            name = f"{finding.account_id}/{finding.region}/{finding.resource_id}"
            if per_resource[finding.resource_id] > 1:  # several problems on one resource
                name += f" [{finding.id}]"
            case = ET.SubElement(suite, "testcase", classname=rule_id, name=name, time="0")
            if finding.suppressed:
                counts["skipped"] += 1
                ET.SubElement(
                    case,
                    "skipped",
                    message=xml_text(f"suppressed: {finding.suppression_reason or ''}"),
                )
                continue
            counts["failures"] += 1
            change = report.change(finding)
            severity = str(finding.severity)
            failure = ET.SubElement(
                case,
                "failure",
                type=severity,
                message=xml_text(
                    f"{severity}: {finding.title}" + (f" [{change}]" if change else "")
                ),
            )
            failure.text = xml_text(
                f"{finding.message}\n\nFix: {fix_text(finding)}\n\nFinding id: {finding.id}"
            )
        set_counts(suite, counts)
        totals.update(counts)
    coverage = ET.SubElement(root, "testsuite", name="coverage", timestamp=report.generated_at)
    counts = Counter(tests=len(report.coverage))
    for entry in report.coverage:
        case = ET.SubElement(
            coverage,
            "testcase",
            classname="coverage",
            name=f"{entry.account_id}/{entry.region}",
            time="0",
        )
        if entry.status != "ok":
            counts["errors"] += 1
            error = ET.SubElement(case, "error", type="coverage-gap", message="not audited")
            error.text = xml_text(entry.error or "")
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


def render(report: Report, _context: RenderContext) -> str:
    return render_junit(report)


FORMAT = Format(
    name="junit",
    what="JUnit report",
    help="Write JUnit XML for CI: a testsuite per rule, a failing testcase per finding, a passing one for a rule with no finding, and a 'coverage' suite.",
    render=render,
    order=40,
)
