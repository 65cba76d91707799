"""Counts, scope and dates in a few words, shared by the Markdown format, the email and the
terminal."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from auditor.model import SEVERITY_NAMES, Finding
from auditor.report.document import BaselineSummary, Report

if TYPE_CHECKING:
    from auditor.policy import Suppression


def plural(n: int, word: str) -> str:
    """ "1 finding", "3 findings"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fix_text(finding: Finding) -> str:
    """The remediation and, after it, the commands that apply it: for the formats that hold the
    fix as one text (JUnit, ASFF, OCSF), which have no field of their own for the commands."""
    if not finding.remediation_commands:
        return finding.remediation
    return "\n\n".join([finding.remediation, *finding.remediation_commands]).strip()


def counts_text(report: Report) -> str:
    """`3 high, 2 medium` (non-zero severities, highest first), or `no findings`."""
    by_severity = report.summary.by_severity
    parts = [f"{by_severity[s]} {s}" for s in SEVERITY_NAMES if by_severity.get(s)]
    return ", ".join(parts) if parts else "no findings"


def scope_label(report: Report, profile: str | None = None) -> str:
    """What was audited, in a few words: the --profile name, else the organisation (with
    --org), else the account ids (or their number when there are more than three)."""
    if profile:
        return header_safe(profile, 60)
    scope = report.scope
    if scope.organization_accounts and scope.organization_id:
        return header_safe(f"{scope.organization_id} ({len(scope.accounts)} accounts)", 60)
    accounts = scope.accounts or sorted({c.account_id for c in report.coverage})
    if not accounts:
        return "(no account)"
    if len(accounts) <= 3:
        return header_safe(", ".join(accounts), 60)
    return f"{len(accounts)} accounts"


def since_text(baseline: BaselineSummary) -> str:
    """When the baseline was made, absolute (`2026-12-03 06:00 UTC`): a weekday alone reads
    wrong for a run seconds or weeks old. '' if unknown."""
    stamp = baseline.generated_at
    if not stamp:
        return ""
    try:
        when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ""
    return f"{when:%Y-%m-%d %H:%M} UTC"


def scope_pairs(suppression: Suppression) -> list[tuple[str, str]]:
    """Where a suppression applies: ("account", "1234…"), ("tag:env", "dev"); [] everywhere."""
    s = suppression
    where = (("account", s.account), ("region", s.region), ("resource", s.resource))
    pairs = [(key, value) for key, value in where if value]
    return pairs + [(f"tag:{k}", v) for k, v in s.tag.items()]


def scope_text(suppression: Suppression) -> str:
    """`account=1234…, resource=rtb-1` on one line, or `everywhere`."""
    pairs = scope_pairs(suppression)
    return header_safe(", ".join(f"{k}={v}" for k, v in pairs) if pairs else "everywhere")


SUBJECT_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def header_safe(text: str, limit: int = 200) -> str:
    """One line for a mail header: control and line/paragraph separator characters (CR, LF,
    NEL, U+2028 …) become spaces, runs of space collapse, and the length is bounded."""
    cleaned = "".join(" " if unicodedata.category(c) in SUBJECT_UNSAFE else c for c in text)
    return clip(" ".join(cleaned.split()), limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
