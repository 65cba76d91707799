"""The report email's bodies: an HTML summary (CSS inlined, no scripts) and a plain-text one."""

from __future__ import annotations

from dataclasses import dataclass

import css_inline

from auditor.model import SEVERITY_NAMES
from auditor.report.document import Report
from auditor.report.templating import templates
from auditor.report.text import counts_text, header_safe, since_text
from auditor.report.view import (
    Capped,
    Comparison,
    CostBlock,
    CoverageRow,
    FindingView,
    NoteRow,
    Option,
    ResolvedRow,
    capped,
    comparison,
    coverage_rows,
    note_rows,
    report_cost,
    resolved_rows,
    top_findings,
)

EMAIL_TOP_FINDINGS = 20
EMAIL_LIST_LIMIT = 20


def email_subject(report: Report, scope: str) -> str:
    """e.g. `vpc-audit prod: 3 high, 2 medium, 5 new since Tue; 1 account-region not audited`."""
    text = f"vpc-audit {scope}: {counts_text(report)}"
    baseline = report.baseline
    if baseline:
        since = since_text(baseline)
        text += f", {baseline.new} new" + (f" since {since}" if since else " (first run)")
    gaps = report.summary.coverage.error
    if gaps:
        text += f"; {gaps} account-region(s) not audited"
    return header_safe(text)


@dataclass(frozen=True)
class Attachment:
    """What the email says about the attached report: attached, gzip-compressed, or left out
    (then `locations` says where the reports were written)."""

    mode: str  # "attached" | "gzip" | "omitted"
    names: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    limit_bytes: int = 0


@dataclass(frozen=True)
class EmailView:
    """Everything the email's two bodies show, ready to lay out."""

    subject: str
    scope: str
    counts: str
    generated_at: str
    tool_version: str
    audited: int  # account-regions read
    not_audited: int
    severity_counts: tuple[Option, ...]
    comparison: Comparison | None  # None: not compared with a previous run
    since: str  # the previous run's date in a word or two, '' if unknown
    suppressed: int
    gaps: Capped[CoverageRow]
    notes: tuple[NoteRow, ...]
    top: Capped[FindingView]
    cost: CostBlock | None  # "cost at stake" (view.py's, as the HTML report's summary has it)
    resolved: Capped[ResolvedRow]
    expired: int  # suppressions past their date
    unmatched: int  # suppressions that hid nothing
    attachment: Attachment
    names: str  # the attached files, comma-separated
    locations: str  # where the reports were written, when not attached
    limit_mb: str


@dataclass(frozen=True)
class EmailContext:
    report: Report
    scope: str
    attachment: Attachment
    top: int = EMAIL_TOP_FINDINGS

    def view(self) -> EmailView:
        """The one place the email reads the report."""
        report = self.report
        summary = report.summary
        baseline = report.baseline
        return EmailView(
            subject=email_subject(report, self.scope),
            scope=self.scope,
            counts=counts_text(report),
            generated_at=report.generated_at,
            tool_version=report.tool_version,
            audited=summary.coverage.ok,
            not_audited=summary.coverage.error,
            severity_counts=tuple(Option(s, summary.by_severity[s]) for s in SEVERITY_NAMES),
            comparison=comparison(baseline, baseline.new if baseline else 0),
            since=since_text(baseline) if baseline else "",
            suppressed=summary.suppressed,
            gaps=capped([c for c in coverage_rows(report.coverage) if c.failed], EMAIL_LIST_LIMIT),
            notes=tuple(note_rows(report.coverage_notes)),
            top=top_findings(report, self.top),
            cost=report_cost(report),
            resolved=capped(resolved_rows(report.resolved), EMAIL_LIST_LIMIT),
            expired=len(report.expired_suppressions),
            unmatched=len(report.unmatched_suppressions),
            attachment=self.attachment,
            names=", ".join(self.attachment.names),
            locations=", ".join(self.attachment.locations),
            limit_mb=f"{self.attachment.limit_bytes / 1_000_000:.0f}",
        )


def render_email_html(context: EmailContext) -> str:
    """The HTML alternative: tables for layout, CSS inlined (mail clients drop <style>), no
    scripts, every value autoescaped."""
    html = templates().get_template("email.html.j2").render(view=context.view())
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
    return inliner.inline(html)


def render_email_text(context: EmailContext) -> str:
    """The plain-text alternative (not HTML: no autoescape)."""
    return (
        templates(autoescape=False)
        .get_template("email.txt.j2")
        .render(view=context.view(), one_line=lambda s: " ".join(str(s).split()))
    )
