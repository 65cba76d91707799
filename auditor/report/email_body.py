"""The report email's bodies: an HTML summary (CSS inlined, no scripts) and a plain-text one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import css_inline

from auditor.model import SEVERITY_NAMES, Severity
from auditor.report.templating import templates
from auditor.report.text import counts_text, header_safe, since_text

EMAIL_TOP_FINDINGS = 20
EMAIL_LIST_LIMIT = 20


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
            "severities": SEVERITY_NAMES,
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
