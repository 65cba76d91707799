"""A compact Markdown summary for a chat message or a ticket, estate text escaped."""

from __future__ import annotations

import re

from auditor.model import SEVERITY_NAMES
from auditor.report.document import NEW, Report
from auditor.report.formats.base import Format, RenderContext
from auditor.report.text import counts_text, since_text

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


def render_markdown(report: Report, scope: str = "") -> str:
    """Compact, grouped by severity: for a chat message or a ticket."""
    summary = report.summary
    lines = [
        f"### vpc-audit{' ' + md_text(scope) if scope else ''}: {md_text(counts_text(report))}",
        "",
    ]
    lines.append(
        f"Generated {report.generated_at} · {summary.coverage.ok} account-region(s) audited"
        + (f" · **{summary.coverage.error} not audited**" if summary.coverage.error else "")
        + (f" · {summary.suppressed} suppressed" if summary.suppressed else "")
    )
    baseline = report.baseline
    if baseline:
        lines.append(
            f"Since {md_text(since_text(baseline) or 'the first run')}: "
            f"**{baseline.new} new**, {baseline.resolved} resolved"
        )
    findings = report.active_findings()
    for severity in SEVERITY_NAMES:
        group = [f for f in findings if str(f.severity) == severity]
        if not group:
            continue
        lines += ["", f"#### {severity.capitalize()} ({len(group)})", ""]
        for f in group:
            new = "**NEW** " if report.change(f) == NEW else ""
            lines.append(
                f"- {new}{md_text(f.title)}: {md_code(f.resource_id)} "
                f"({md_code(f.account_id)} {md_code(f.region)}, {md_code(f.rule_id)})  "
            )
            lines.append(f"  {md_text(f.message, 300)}")
    if report.resolved:
        lines += ["", f"#### Resolved ({len(report.resolved)})", ""]
        for r in report.resolved:
            lines.append(
                f"- {md_text(r.title)}: {md_code(r.resource_id)} "
                f"({md_code(r.account_id)} {md_code(r.region)}, {r.severity})"
            )
    gaps = [c for c in report.coverage if c.status != "ok"]
    if gaps:
        lines += ["", f"#### Not audited ({len(gaps)})", ""]
        for c in gaps:
            lines.append(
                f"- {md_code(c.account_id)} {md_code(c.region)}: {md_text(c.error or '', 200)}"
            )
    if report.coverage_notes:
        notes = report.coverage_notes
        lines += ["", f"#### Not read, treated as unknown ({len(notes)})", ""]
        for n in notes:
            where = (
                f"{md_code(n.account_id)} {md_code(n.region)}"
                if n.region
                else md_code(n.account_id)
            )
            lines.append(f"- {where}: {md_text(n.subject)}: {md_text(n.reason, 200)}")
    if not findings:
        lines += ["", "No findings."]
    return "\n".join(lines) + "\n"


def render(report: Report, context: RenderContext) -> str:
    return render_markdown(report, context.scope)


FORMAT = Format(
    name="markdown",
    what="Markdown report",
    help="Write a compact Markdown summary grouped by severity (for chat or tickets).",
    render=render,
    order=50,
)
