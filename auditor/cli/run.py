"""One audit run in four stages: load (collect from AWS, read a saved snapshot or merge shards),
evaluate (rules -> report), render (the outputs asked for), deliver (the summary, the email, the
state file); the run's outcome is its exit code."""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.cli.console import Progress, say, show_findings, warn
from auditor.cli.exits import EXIT_CLEAN, EXIT_EMAIL, EXIT_FINDINGS, EXIT_INCOMPLETE
from auditor.cli.settings import Outputs, RunSettings
from auditor.deliver import email as mail
from auditor.deliver.files import STDOUT, write_text
from auditor.errors import AuditError, InputError
from auditor.model import Severity, Shard, Snapshot
from auditor.report import Report, build_report
from auditor.report.baseline import STATE_FILE, Baseline, load_baseline, load_state
from auditor.report.formats import FORMATS, RenderContext, Renderings
from auditor.report.text import scope_label, scope_text, since_text
from auditor.serial import dumps, load_snapshot

if TYPE_CHECKING:
    from auditor.collect import Request
    from auditor.policy import AuditPolicy

# What only some runs need is imported where it is used, so that --help, `rules` and an offline
# --from-snapshot run start fast: boto3 and botocore (the collector, SES), the email stack
# (auditor.deliver.email imports it when sending), the policy's YAML parser and the rule pack.


@dataclass(frozen=True)
class Source:
    """Where the snapshot comes from: AWS (`request`), a saved snapshot, or shards to merge."""

    request: Request | None = None
    snapshot_file: Path | None = None
    merge_files: Sequence[Path] = ()

    @property
    def shard(self) -> Shard | None:
        return self.request.shard if self.request is not None else None

    def nothing_in(self) -> str:
        if self.snapshot_file is not None:
            return f"{self.snapshot_file} holds no account-region"
        if self.merge_files:
            return "the snapshots hold no account-region"
        return "no account-region was found in scope"


@dataclass(frozen=True)
class Inputs:
    """What the run reads besides AWS, read first: a typo in the policy or a bad baseline should
    not cost a whole organisation's scan."""

    policy: AuditPolicy
    baseline: Baseline | None
    ses_session: Any


def run_audit(source: Source, outputs: Outputs, settings: RunSettings) -> int:
    """load -> evaluate -> render -> deliver; returns the exit code.

    A --shard run stops after loading: it writes its snapshot, and the exit code says only
    whether its account-regions were all read (0) or not (4).
    """
    inputs = read_inputs(settings)
    snapshot = load(source, settings.quiet)
    gaps = any(c.status != "ok" for c in snapshot.coverage)
    if source.shard is not None:
        assert outputs.snapshot_path is not None
        write_output(outputs.snapshot_path, dumps(snapshot), "snapshot", settings.quiet)
        if not settings.quiet:
            say(shard_summary(snapshot, source.shard))
        return EXIT_INCOMPLETE if gaps else EXIT_CLEAN
    if not snapshot.coverage:
        raise AuditError(f"nothing to audit: {source.nothing_in()}")
    if all(c.status != "ok" for c in snapshot.coverage):
        # No report rather than an empty one over the last good report: exit 3, not 4.
        failed = list(snapshot.coverage)
        raise AuditError(
            f"no account-region could be audited ({len(failed)} tried); reports not written:"
            + gap_lines(failed, "the log with -v")
        )
    if outputs.snapshot_path:
        what = "merged snapshot" if source.merge_files else "snapshot"
        write_output(outputs.snapshot_path, dumps(snapshot), what, settings.quiet)
    report = evaluate(snapshot, inputs, settings.processes)
    renderings = render(report, snapshot, outputs, settings)
    if not deliver(report, snapshot, renderings, outputs, settings, inputs):
        return EXIT_EMAIL
    failing = failing_findings(report, settings)
    return (EXIT_FINDINGS if failing else EXIT_CLEAN) + (EXIT_INCOMPLETE if gaps else 0)


def read_inputs(settings: RunSettings) -> Inputs:
    from auditor.policy import AuditPolicy, load_policy
    from auditor.rules import REGISTRY

    policy = load_policy(settings.policy_file, REGISTRY) if settings.policy_file else AuditPolicy()
    if settings.selection is not None:
        from auditor.rules.base import catalogue

        defaults = {rule_id: meta.severity for rule_id, meta in catalogue().items()}
        policy = settings.selection.narrow(policy, defaults)
    baseline = load_comparison(settings)
    ses_session = None
    if settings.email is not None and settings.email.ses is not None:
        from auditor.collect.sessions import base_session

        ses_session = base_session(settings.email.ses.profile or settings.profile)
    return Inputs(policy, baseline, ses_session)


def load(source: Source, quiet: bool) -> Snapshot:
    """The snapshot to audit: read from AWS, from a saved file, or merged from shards."""
    if source.snapshot_file is not None:
        return load_snapshot(source.snapshot_file)
    if source.merge_files:
        from auditor.collect.merge import merge_snapshots

        files = [(str(f), load_snapshot(f)) for f in source.merge_files]
        snapshot, notes = merge_snapshots(files)
        if not quiet:
            for note in notes:
                say(f"note: {note}")
        return snapshot
    assert source.request is not None
    import auditor.cli  # its `collect` is the run's one door to AWS, which tests replace

    progress = Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        return auditor.cli.collect(source.request, progress)
    finally:
        progress.finish()


def evaluate(snapshot: Snapshot, inputs: Inputs, processes: int = 1) -> Report:
    """The rules over the snapshot, under the policy, and the report (compared with the baseline)."""
    from auditor.rules import REGISTRY
    from auditor.rules import evaluate as run_rules

    result = run_rules(snapshot, inputs.policy, processes=processes)
    return build_report(snapshot, result, inputs.baseline, inputs.policy.enabled(REGISTRY))


def render(
    report: Report, snapshot: Snapshot, outputs: Outputs, settings: RunSettings
) -> Renderings:
    """Every output asked for, written; the renderings the email and the state reuse are kept."""
    scope = scope_label(report, settings.profile)
    renderings = Renderings(report, RenderContext(snapshot, scope), kept_renderings(settings))
    for fmt in FORMATS:
        destination = outputs.reports.get(fmt.name)
        if destination:
            write_output(destination, renderings.text(fmt.name), fmt.what, settings.quiet)
    return renderings


def deliver(
    report: Report,
    snapshot: Snapshot,
    renderings: Renderings,
    outputs: Outputs,
    settings: RunSettings,
    inputs: Inputs,
) -> bool:
    """The summary on stderr, the email, then the state for the next run; False when the email
    could not be sent (then no state is saved: the next run reports the same again)."""
    if not settings.quiet:
        show_findings(report.findings)
    if not settings.silent:
        say(summary_line(snapshot, report))
    if not settings.quiet:
        for expired in report.expired_suppressions:
            say(
                f"note: suppression for {expired.suppression.rule} expired on "
                f"{expired.suppression.expires} "
                f"and no longer applies ({len(expired.finding_ids)} finding(s))"
            )
    if not settings.silent:  # even with -q: the policy may not mean what its author thinks
        for unmatched in report.unmatched_suppressions:
            warn(
                f"suppression for {unmatched.rule} ({scope_text(unmatched)}) matched no finding: "
                "fixed, or a typo in the policy?"
            )
    if settings.email is not None:
        scope = renderings.context.scope
        if not deliver_email(report, scope, renderings, outputs, settings, inputs.ses_session):
            return False
    if settings.state_dir is not None:
        state = str(settings.state_dir / STATE_FILE)
        write_output(state, renderings.text("json"), "state", settings.quiet)
    return True


def kept_renderings(settings: RunSettings) -> set[str]:
    """The renderings used again after the reports are written: by the email and the state."""
    kept = set()
    if settings.email is not None:
        kept.add("html")
        if settings.email.attach_json:
            kept.add("json")
    if settings.state_dir is not None:
        kept.add("json")
    return kept


def load_comparison(settings: RunSettings) -> Baseline | None:
    """The baseline to compare with: --baseline FILE, else --state-dir's last report (empty on
    the first run), else none."""
    if settings.state_dir is not None:
        try:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{settings.state_dir}: cannot create --state-dir: {exc.strerror or exc}"
            ) from None
    if settings.baseline_file is not None:
        return load_baseline(settings.baseline_file)
    if settings.state_dir is not None:
        return load_state(settings.state_dir)
    return None


def deliver_email(
    report: Report,
    scope: str,
    renderings: Renderings,
    outputs: Outputs,
    settings: RunSettings,
    ses_session: Any,
) -> bool:
    """Send the report email if --email-on wants it; False (after saying why) if it failed."""
    email = settings.email
    assert email is not None
    if not mail.should_send(report, email.on):
        if not settings.quiet:
            say(f"email: not sent (--email-on {email.on}: nothing to report)")
        return True
    host = socket.gethostname()
    message = mail.build_message(
        report,
        sender=email.sender,
        recipients=email.recipients,
        scope=scope,
        html_report=renderings.text("html"),
        json_report=renderings.text("json") if email.attach_json else None,
        locations=[f"{path} on {host}" for path in outputs.files()],
    )
    try:
        mail.send(message, email, password=settings.smtp_password, session=ses_session)
    except mail.EmailError as exc:
        say(f"vpc-audit: error: cannot send the report email: {exc}")
        return False
    if not settings.quiet:
        say(f"email: sent to {', '.join(email.recipients)} via {email.transport()}")
    return True


def write_output(destination: str, text: str, what: str, quiet: bool) -> None:
    try:
        write_text(destination, text)
    except OSError as exc:
        raise AuditError(f"cannot write {what} to {destination}: {exc.strerror or exc}") from None
    if not quiet and destination != STDOUT:
        say(f"wrote {what}: {Path(destination).resolve()}")


def failing_findings(report: Report, settings: RunSettings) -> int:
    """Findings that make the run exit 1: at or above --fail-on, and new with --fail-on-new."""
    if settings.fail_on == "none":
        return 0
    threshold = Severity.parse(settings.fail_on)
    if not settings.fail_on_new:
        return sum(
            count
            for name, count in report.summary.by_severity.items()
            if Severity.parse(name) >= threshold
        )
    return sum(1 for f in report.new_findings() if f.severity >= threshold)


def summary_line(snapshot: Snapshot, report: Report) -> str:
    summary = report.summary
    counts = ", ".join(f"{n} {s}" for s, n in summary.by_severity.items() if n)
    line = f"{summary.total} finding(s)" + (f" ({counts})" if counts else "")
    line += f" in {summary.coverage.ok} account-region(s)"
    if summary.suppressed:
        line += f"; {summary.suppressed} more suppressed by the policy"
    baseline = report.baseline
    if baseline:
        since = since_text(baseline)
        line += f"; {baseline.new} new, {baseline.resolved} resolved " + (
            f"since {since}" if since else "(first run)"
        )
    gaps = [c for c in snapshot.coverage if c.status != "ok"]
    if gaps:
        line += f"; {len(gaps)} could NOT be audited:" + gap_lines(
            gaps, "the report's coverage section"
        )
    return line


def shard_summary(snapshot: Snapshot, shard: Shard) -> str:
    gaps = [c for c in snapshot.coverage if c.status != "ok"]
    line = f"shard {shard}: read {len(snapshot.coverage) - len(gaps)} account-region(s)"
    if not snapshot.coverage:
        line += " (no account-region fell to this shard)"
    if gaps:
        line += f"; {len(gaps)} could NOT be read:" + gap_lines(gaps, "the snapshot's coverage")
    return line + "; `vpc-audit merge` the shards' snapshots for the report"


def gap_lines(gaps: Sequence[Any], where: str, shown: int = 10) -> str:
    """The first account-regions that could not be read, one per line, and how many more."""
    lines = "".join(f"\n  {c.account_id}/{c.region}: {c.error}" for c in gaps[:shown])
    if len(gaps) > shown:
        lines += f"\n  … and {len(gaps) - shown} more (see {where})"
    return lines
