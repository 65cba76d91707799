"""Command line: parse options, wire collect -> rules -> report -> deliver, map results to exit codes."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from auditor import __version__
from auditor.concurrency import DEFAULT_PROCESSES, DEFAULT_WORKERS
from auditor.deliver import email as mail
from auditor.deliver.files import STDOUT, write_text
from auditor.errors import AuditError, InputError
from auditor.model import Severity, Shard, Snapshot
from auditor.report import build_report, render_rules_markdown
from auditor.report.baseline import STATE_FILE, Baseline, load_baseline, load_state
from auditor.report.formats import FORMATS, RenderContext, Renderings
from auditor.report.formats.html import DEFAULT_HTML
from auditor.report.text import scope_label, since_text
from auditor.serial import dumps, load_snapshot

if TYPE_CHECKING:
    from auditor.collect import Request

# What only some runs need is imported where it is used, so that --help, `rules` and an offline
# --from-snapshot run start fast: boto3 and botocore (the collector, SES), the email stack
# (auditor.deliver.email imports it when sending), the policy's YAML parser and the rule pack.

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INCOMPLETE = 4  # added to EXIT_FINDINGS: 5 = findings and coverage gaps
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process ended by a signal
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_EMAIL = 6  # the report email could not be sent (the reports were written first)
FAIL_ON_CHOICES = [str(s) for s in Severity] + ["none"]

AWS_OPTIONS = {
    "profile": "--profile",
    "regions": "--region",
    "accounts": "--account",
    "org": "--org",
    "role_name": "--role-name",
    "external_id": "--external-id",
    "snapshot_out": "--snapshot-out",
    "shard": "--shard",
}
SNAPSHOT_OUT_HELP = "Also save the collected snapshot, to re-audit it later with --from-snapshot."
# What a --shard run does not do: it writes its snapshot and leaves the report to `merge`.
SHARD_CLASHES = {
    **{fmt.dest: fmt.option for fmt in FORMATS},
    "baseline_file": "--baseline",
    "state_dir": "--state-dir",
    "fail_on_new": "--fail-on-new",
    "email_to": "--email-to",
    "policy_file": "--policy",
    "fail_on": "--fail-on",
}

EXIT_CODES_HELP = """\b
Exit codes:
  0  audit complete, no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage error or bad input file (options, snapshot)
  3  error: the audit could not run (credentials, profile, organisation)
  4  some account-regions could not be audited (reports still written)
  5  both 1 and 4
  6  the report email could not be sent (reports still written; wins over 1, 4, 5)
  130  interrupted (Ctrl-C); 143  stopped by SIGTERM (a scheduler's timeout, docker stop)
"""


@dataclass(frozen=True)
class Outputs:
    """Where each report goes, by format name (FILE, or '-' for stdout), and the snapshot."""

    reports: Mapping[str, str] = field(default_factory=dict)
    snapshot_path: str | None = None

    def with_default_html(self) -> Outputs:
        if self.reports:
            return self
        return dataclasses.replace(self, reports={"html": DEFAULT_HTML})

    def stdout_flags(self) -> list[str]:
        flags = [fmt.option for fmt in FORMATS if self.reports.get(fmt.name) == STDOUT]
        return flags + (["--snapshot-out"] if self.snapshot_path == STDOUT else [])

    def files(self) -> list[str]:
        """Where the JSON and HTML reports were written on disk, for an email too large to
        carry them."""
        paths = (self.reports.get("html"), self.reports.get("json"))
        return [str(Path(path).resolve()) for path in paths if path and path != STDOUT]


@dataclass(frozen=True)
class RunSettings:
    """Everything about a run besides what to read and where to write the reports."""

    fail_on: str = "low"
    quiet: bool = False
    policy_file: Path | None = None
    baseline_file: Path | None = None
    state_dir: Path | None = None
    fail_on_new: bool = False
    email: mail.EmailSettings | None = None
    smtp_password: str | None = field(default=None, repr=False)
    profile: str | None = None


class Progress:
    """`collecting: 12/34 account-regions` on stderr, only for a person watching a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        if not self.enabled:
            return
        gaps = f" ({failed} not audited)" if failed else ""
        sys.stderr.write(f"\rcollecting: {done}/{total} account-regions{gaps}")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def say(message: str) -> None:
    click.echo(message, err=True)


def collect(request: Request, progress: Progress) -> Snapshot:
    """Read AWS (auditor.collect.collect), importing the collector and boto3 only now."""
    from auditor.collect import collect as read_aws

    return read_aws(request, progress)


def run_pipeline(
    request: Request | None,
    snapshot_file: Path | None,
    outputs: Outputs,
    settings: RunSettings,
    merge_files: Sequence[Path] = (),
) -> int:
    """collect (or load, or merge) -> rules -> report -> deliver; returns the exit code.

    A --shard run stops after collecting: it writes its snapshot, and the exit code says only
    whether its account-regions were all read (0) or not (4).
    """
    from auditor.policy import AuditPolicy, load_policy
    from auditor.rules import REGISTRY, evaluate

    quiet = settings.quiet
    # Every input is read first: a typo in the policy or a bad baseline should not cost a
    # whole organisation's scan.
    policy = load_policy(settings.policy_file, REGISTRY) if settings.policy_file else AuditPolicy()
    baseline = load_comparison(settings)
    ses_session = None
    if settings.email is not None and settings.email.ses is not None:
        from auditor.collect.sessions import base_session

        ses_session = base_session(settings.email.ses.profile or settings.profile)
    if snapshot_file is not None:
        snapshot = load_snapshot(snapshot_file)
        if not snapshot.coverage:
            raise AuditError(f"nothing to audit: {snapshot_file} holds no account-region")
    elif merge_files:
        from auditor.collect import merge_snapshots

        snapshot, notes = merge_snapshots([(str(f), load_snapshot(f)) for f in merge_files])
        if not quiet:
            for note in notes:
                say(f"note: {note}")
        if not snapshot.coverage:
            raise AuditError("nothing to audit: the snapshots hold no account-region")
        if outputs.snapshot_path:
            write_output(outputs.snapshot_path, dumps(snapshot), "merged snapshot", quiet)
    else:
        assert request is not None
        progress = Progress(enabled=not quiet and sys.stderr.isatty())
        try:
            snapshot = collect(request, progress)
        finally:
            progress.finish()
        if request.shard is not None:
            assert outputs.snapshot_path is not None
            write_output(outputs.snapshot_path, dumps(snapshot), "snapshot", quiet)
            if not quiet:
                say(shard_summary(snapshot, request.shard))
            gaps = any(c.status != "ok" for c in snapshot.coverage)
            return EXIT_INCOMPLETE if gaps else EXIT_CLEAN
        if not snapshot.coverage:
            raise AuditError("nothing to audit: no account-region was found in scope")
        if outputs.snapshot_path:
            write_output(outputs.snapshot_path, dumps(snapshot), "snapshot", quiet)
    result = evaluate(snapshot, policy)
    report = build_report(snapshot, result, baseline, policy.enabled(REGISTRY))
    scope = scope_label(report, settings.profile)
    renderings = Renderings(report, RenderContext(snapshot, scope), kept_renderings(settings))
    for fmt in FORMATS:
        destination = outputs.reports.get(fmt.name)
        if destination:
            write_output(destination, renderings.text(fmt.name), fmt.what, quiet)
    if not quiet:
        say(summary_line(snapshot, report))
        for expired in report["expired_suppressions"]:
            say(
                f"note: suppression for {expired['rule']} expired on {expired['expires']} "
                f"and no longer applies ({len(expired['finding_ids'])} finding(s))"
            )
    if settings.email is not None:
        sent = deliver_email(report, scope, renderings, outputs, settings, ses_session)
        if not sent:
            return EXIT_EMAIL
    if settings.state_dir is not None:
        write_output(str(settings.state_dir / STATE_FILE), renderings.text("json"), "state", quiet)
    return exit_code(snapshot, failing_findings(report, settings))


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
    report: dict[str, Any],
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


def findings_at_or_above(report: dict[str, Any], fail_on: str) -> int:
    if fail_on == "none":
        return 0
    threshold = Severity.parse(fail_on)
    return sum(
        count
        for name, count in report["summary"]["by_severity"].items()
        if Severity.parse(name) >= threshold
    )


def failing_findings(report: dict[str, Any], settings: RunSettings) -> int:
    """Findings that make the run exit 1: at or above --fail-on, and new with --fail-on-new."""
    if not settings.fail_on_new:
        return findings_at_or_above(report, settings.fail_on)
    if settings.fail_on == "none":
        return 0
    threshold = Severity.parse(settings.fail_on)
    return sum(
        1
        for f in report["findings"]
        if f.get("change") == "new" and Severity.parse(f["severity"]) >= threshold
    )


def exit_code(snapshot: Snapshot, failing: int) -> int:
    incomplete = any(c.status != "ok" for c in snapshot.coverage)
    return (EXIT_FINDINGS if failing else EXIT_CLEAN) + (EXIT_INCOMPLETE if incomplete else 0)


def summary_line(snapshot: Snapshot, report: dict[str, Any]) -> str:
    summary = report["summary"]
    counts = ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items() if n)
    line = f"{summary['total']} finding(s)" + (f" ({counts})" if counts else "")
    line += f" in {summary['coverage']['ok']} account-region(s)"
    if summary["suppressed"]:
        line += f"; {summary['suppressed']} more suppressed by the policy"
    baseline = report.get("baseline")
    if baseline:
        since = since_text(baseline)
        line += f"; {baseline['new']} new, {baseline['resolved']} resolved " + (
            f"since {since}" if since else "(first run)"
        )
    gaps = [c for c in snapshot.coverage if c.status != "ok"]
    if gaps:
        line += f"; {len(gaps)} could NOT be audited:"
        line += "".join(f"\n  {c.account_id}/{c.region}: {c.error}" for c in gaps[:10])
        if len(gaps) > 10:
            line += f"\n  … and {len(gaps) - 10} more (see the report's coverage section)"
    return line


def shard_summary(snapshot: Snapshot, shard: Shard) -> str:
    gaps = [c for c in snapshot.coverage if c.status != "ok"]
    line = f"shard {shard}: read {len(snapshot.coverage) - len(gaps)} account-region(s)"
    if not snapshot.coverage:
        line += " (no account-region fell to this shard)"
    if gaps:
        line += f"; {len(gaps)} could NOT be read:"
        line += "".join(f"\n  {c.account_id}/{c.region}: {c.error}" for c in gaps[:10])
        if len(gaps) > 10:
            line += f"\n  … and {len(gaps) - 10} more (see the snapshot's coverage)"
    return line + "; `vpc-audit merge` the shards' snapshots for the report"


def shard_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    index, slash, count = value.partition("/")
    if not (slash and index.isdigit() and count.isdigit()):
        raise click.BadParameter(f"{value!r} is not INDEX/COUNT, e.g. 0/4")
    shard = Shard(int(index), int(count))
    if shard.count < 1:
        raise click.BadParameter(f"{value!r}: COUNT must be at least 1")
    if shard.index >= shard.count:
        raise click.BadParameter(
            f"{value!r}: INDEX must be from 0 to {shard.count - 1} "
            "(shards are numbered from 0, like AWS_BATCH_JOB_ARRAY_INDEX)"
        )
    return shard


def account_id(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        if not (value.isdigit() and len(value) == 12):
            raise click.BadParameter(f"{value!r} is not a 12-digit AWS account id")
    return values


def outputs_from(options: dict[str, Any]) -> Outputs:
    """The output files the shared output options name; at most one may be stdout ('-')."""
    reports = {fmt.name: options[fmt.dest] for fmt in FORMATS if options[fmt.dest]}
    outputs = Outputs(reports, options["snapshot_out"])
    on_stdout = outputs.stdout_flags()
    if len(on_stdout) > 1:
        raise click.UsageError(
            f"only one output can go to stdout ('-'): {' and '.join(on_stdout)} both ask for it"
        )
    return outputs


def run_settings_from(options: dict[str, Any], profile: str | None = None) -> RunSettings:
    """What happens after the rules (policy, baseline, email, exit code): the shared options."""
    comparing = options["baseline_file"] is not None or options["state_dir"] is not None
    if options["fail_on_new"] and not comparing:
        raise click.UsageError("--fail-on-new needs --baseline or --state-dir")
    email, password = email_settings(options, comparing)
    return RunSettings(
        fail_on=options["fail_on"].lower(),
        quiet=options["quiet"],
        policy_file=options["policy_file"],
        baseline_file=options["baseline_file"],
        state_dir=options["state_dir"],
        fail_on_new=options["fail_on_new"],
        email=email,
        smtp_password=password,
        profile=profile,
    )


def configure_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Never botocore's or urllib3's debug logs: they print request headers, session tokens included.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so that collector processes and temporary files
    are cleaned up on the way out."""


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once
    raise Terminated


def guarded(debug: bool, action: Any, *args: Any, **kwargs: Any) -> int:
    """Run a pipeline and turn every failure into a one-line message and an exit code."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return int(action(*args, **kwargs))
    except Terminated:
        say("vpc-audit: terminated")
        return EXIT_TERMINATED
    except InputError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_USAGE
    except AuditError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say("vpc-audit: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(
            f"vpc-audit: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)"
        )
        return EXIT_ERROR
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


Command = TypeVar("Command", bound=Callable[..., Any])


def report_options(command: Command) -> Command:
    """`--<name> FILE` for each registered format, in the registry's order, with
    `--snapshot-out` after `--html`, where it has always been."""
    for fmt in reversed(FORMATS):  # a decorator applied last is listed first
        if fmt.name == "html":
            command = click.option("--snapshot-out", metavar="FILE", help=SNAPSHOT_OUT_HELP)(
                command
            )
        command = click.option(fmt.option, fmt.dest, metavar="FILE", help=fmt.help)(command)
    return command


@click.group(
    invoke_without_command=True,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--profile",
    metavar="NAME",
    help="AWS profile for the base credentials (SSO, assume-role and credential_process profiles work). Default: the standard credential chain.",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Region to audit (repeatable). Default: every region enabled for each account.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="ID",
    callback=account_id,
    help="Account to audit through --role-name (repeatable). Default: the base credentials' own account.",
)
@click.option(
    "--org",
    is_flag=True,
    help="Audit every ACTIVE account of the organisation (organizations:ListAccounts) through --role-name.",
)
@click.option(
    "--role-name",
    metavar="ROLE",
    help="Role assumed in each account given by --account or --org [default: OrganizationAccountAccessRole]. The base credentials' own account is read directly.",
)
@click.option("--external-id", metavar="ID", help="ExternalId passed to sts:AssumeRole.")
@report_options
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="A previous JSON report: mark each finding new or unchanged and list the resolved ones.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help=f"For scheduled runs: compare with DIR/{STATE_FILE} (unless --baseline is given; none on the first run) and save this run's JSON report there at the end of a run that completed (not when the email failed). DIR is created if needed.",
)
@click.option(
    "--fail-on-new",
    is_flag=True,
    help="Exit 1 only for NEW findings at or above --fail-on (needs --baseline or --state-dir).",
)
@click.option(
    "--email-to",
    "email_to",
    multiple=True,
    metavar="ADDR",
    help="Email the report to ADDR (repeatable): a summary in HTML and text, the HTML report attached. Needs --email-from and --smtp-host or --ses-region.",
)
@click.option("--email-from", metavar="ADDR", help="Sender address of the report email.")
@click.option(
    "--email-on",
    type=click.Choice(mail.EMAIL_ON, case_sensitive=False),
    help="When to send: always; findings (a finding or a coverage gap); new (a new finding or a coverage gap; needs --baseline or --state-dir). [default: always]",
)
@click.option("--email-attach-json", is_flag=True, help="Also attach the JSON report to the email.")
@click.option("--smtp-host", metavar="HOST", help="Send the email through this SMTP server.")
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="SMTP port. [default: 465 with --smtp-tls ssl, else 587]",
)
@click.option(
    "--smtp-tls",
    type=click.Choice(mail.TLS_MODES, case_sensitive=False),
    help="auto: STARTTLS when the server offers it; starttls: require it (fail if not offered); ssl: TLS from the start (SMTPS); off: never. [default: auto]",
)
@click.option(
    "--smtp-user",
    metavar="USER",
    help=f"Log in to the SMTP server as USER, with the password from the environment variable {mail.PASSWORD_ENV} (never a flag). Only over TLS unless --smtp-tls off.",
)
@click.option(
    "--ses-region",
    metavar="REGION",
    help="Send the email through Amazon SES (SendRawEmail) in REGION, with the audit's base credentials.",
)
@click.option(
    "--ses-profile",
    metavar="NAME",
    help="AWS profile for SES instead of the audit's base credentials.",
)
@click.option(
    "--from-snapshot",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Audit a saved snapshot offline (no AWS calls).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Audit policy (YAML or TOML): enable/disable rules, severities, trusted accounts, suppressions. Example: policies/example-policy.yaml.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
    default="low",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity ('none': never).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Account-regions read in parallel (threads, shared among --processes).",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=DEFAULT_PROCESSES,
    show_default="two per CPU core, at most 8; 1 outside Linux",
    envvar="VPC_AUDIT_PROCESSES",
    help="Processes that read the accounts, each with its share of the --workers threads; each account is read by one process, so one AssumeRole per account still. [env: VPC_AUDIT_PROCESSES]",
)
@click.option(
    "--shard",
    metavar="INDEX/COUNT",
    callback=shard_option,
    help="Read only share INDEX (from 0) of COUNT of the account-regions and write just the snapshot (needs --snapshot-out; no report, no rules). `vpc-audit merge` combines the COUNT snapshots and audits them. E.g. --shard $AWS_BATCH_JOB_ARRAY_INDEX/10.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log each account-region (-vv: more detail from vpc-audit itself).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.version_option(__version__, prog_name="vpc-audit")
@click.pass_context
def main(ctx: click.Context, /, **options: Any) -> None:
    """Audit AWS VPC networking across accounts and regions.

    Reads VPCs, subnets, route tables, NAT and internet gateways, endpoints, peerings,
    security groups and DNS flags (read-only calls only), checks them against the rule pack
    (`vpc-audit rules`... S3 traffic through NAT, peerings pending acceptance, peering routes
    with no route back, peering DNS resolution off) and writes an HTML and/or JSON report,
    and CSV, JUnit XML, Markdown or Security Hub (ASFF) files. For scheduled runs it can
    compare with the last run (--state-dir, --baseline) and email a summary (--email-to).

    \b
    Examples:
      vpc-audit --profile prod
      vpc-audit --profile mgmt --org --role-name AuditRole --html report.html --json report.json
      vpc-audit --from-snapshot snap.json --json -
      vpc-audit --profile prod --state-dir /var/lib/vpc-audit --html report.html \\
                --email-to ops@example.com --email-from vpc-audit@example.com \\
                --smtp-host smtp.example.com --email-on new
      vpc-audit demo

    Only one output may be '-' (stdout).
    """
    if ctx.invoked_subcommand is not None:
        return
    configure_logging(options["verbose"], options["quiet"])
    outputs = outputs_from(options)
    snapshot_file = options["from_snapshot"]
    if snapshot_file is not None:
        clashing = [flag for name, flag in AWS_OPTIONS.items() if options[name]]
        if clashing:
            raise click.UsageError(f"--from-snapshot audits offline; drop {clashing[0]}")
        request = None
    else:
        from auditor.collect import Request

        request = Request(
            profile=options["profile"],
            regions=options["regions"],
            accounts=options["accounts"],
            org=options["org"],
            role_name=options["role_name"],
            external_id=options["external_id"],
            workers=options["workers"],
            processes=options["processes"],
            shard=options["shard"],
        )
        if request.shard is not None:
            check_shard_options(ctx, options)
    settings = run_settings_from(options, profile=options["profile"])
    code = guarded(
        options["debug"],
        run_pipeline,
        request,
        snapshot_file,
        outputs if options["shard"] else outputs.with_default_html(),
        settings,
    )
    ctx.exit(code)


def check_shard_options(ctx: click.Context, options: dict[str, Any]) -> None:
    """A shard writes its snapshot, nothing else: its share alone would fail cross-account
    checks (peer sides read by other shards), so the rules run once, in `merge`."""
    if not options["snapshot_out"]:
        raise click.UsageError(
            "--shard needs --snapshot-out FILE: a shard writes only its snapshot "
            "(`vpc-audit merge` combines them and writes the report)"
        )
    for name, flag in SHARD_CLASHES.items():
        given = ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        if given:
            raise click.UsageError(
                f"--shard writes only the snapshot; drop {flag} (give it to `vpc-audit merge`)"
            )


EMAIL_OPTIONS = {
    "email_from": "--email-from",
    "email_on": "--email-on",
    "email_attach_json": "--email-attach-json",
    "smtp_host": "--smtp-host",
    "smtp_port": "--smtp-port",
    "smtp_tls": "--smtp-tls",
    "smtp_user": "--smtp-user",
    "ses_region": "--ses-region",
    "ses_profile": "--ses-profile",
}
SMTP_ONLY = ("smtp_port", "smtp_tls", "smtp_user")


def email_settings(
    options: dict[str, Any], comparing: bool
) -> tuple[mail.EmailSettings | None, str | None]:
    """The email options checked together; the SMTP password comes from the environment."""
    if not options["email_to"]:
        given = [flag for name, flag in EMAIL_OPTIONS.items() if options[name]]
        if given:
            raise click.UsageError(f"{given[0]} needs --email-to")
        return None, None
    if not options["email_from"]:
        raise click.UsageError("--email-to needs --email-from")
    for address in (*options["email_to"], options["email_from"]):
        if not mail.valid_address(address):
            raise click.UsageError(f"{address!r} is not a valid email address")
    if options["smtp_host"] and options["ses_region"]:
        raise click.UsageError("send the email either by --smtp-host or by --ses-region, not both")
    if not options["smtp_host"] and not options["ses_region"]:
        raise click.UsageError("--email-to needs --smtp-host or --ses-region")
    if options["ses_region"]:
        smtp_given = [EMAIL_OPTIONS[name] for name in SMTP_ONLY if options[name]]
        if smtp_given:
            raise click.UsageError(f"{smtp_given[0]} needs --smtp-host")
    elif options["ses_profile"]:
        raise click.UsageError("--ses-profile needs --ses-region")
    on = (options["email_on"] or "always").lower()
    if on == "new" and not comparing:
        raise click.UsageError("--email-on new needs --baseline or --state-dir")
    smtp = None
    password = None
    if options["smtp_host"]:
        tls = (options["smtp_tls"] or "auto").lower()
        smtp = mail.SmtpSettings(
            options["smtp_host"],
            options["smtp_port"] or mail.default_port(tls),
            tls,
            options["smtp_user"],
        )
        if smtp.user:
            password = os.environ.get(mail.PASSWORD_ENV)
            if not password:
                raise click.UsageError(
                    f"--smtp-user needs the password in the environment variable {mail.PASSWORD_ENV}"
                )
    ses = (
        mail.SesSettings(options["ses_region"], options["ses_profile"])
        if options["ses_region"]
        else None
    )
    settings = mail.EmailSettings(
        recipients=tuple(options["email_to"]),
        sender=options["email_from"],
        on=on,
        attach_json=options["email_attach_json"],
        smtp=smtp,
        ses=ses,
    )
    return settings, password


@main.command()
@click.option(
    "--html",
    "html_path",
    default="vpc-audit-demo.html",
    show_default=True,
    metavar="FILE",
    help="Where to write the HTML report.",
)
@click.option(
    "--json",
    "json_path",
    default="vpc-audit-demo.json",
    show_default=True,
    metavar="FILE",
    help="Where to write the JSON report.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.pass_context
def demo(ctx: click.Context, html_path: str, json_path: str, quiet: bool) -> None:
    """Audit a built-in demo estate: no AWS account needed.

    Starts moto (an AWS simulator) as a local HTTP server, builds two accounts in two regions
    with each problem vpc-audit finds plus healthy look-alikes, audits them through the normal
    collector (assuming a role into each account) and writes the reports.
    """
    from auditor import demo as demo_estate
    from auditor.collect import Request

    def run() -> int:
        with demo_estate.MotoServer() as server:
            isolate_from_real_aws(server.url)
            if not quiet:
                say(f"demo: moto server at {server.url}; building the estate…")
            demo_estate.seed_estate(server.url)
            request = Request(
                accounts=demo_estate.DEMO_ACCOUNTS,
                regions=demo_estate.DEMO_REGIONS,
                role_name=demo_estate.DEMO_ROLE,
            )
            return run_pipeline(
                request,
                None,
                Outputs({"json": json_path, "html": html_path}),
                RunSettings("none", quiet),
            )

    ctx.exit(guarded(False, run))


def isolate_from_real_aws(endpoint_url: str) -> None:
    """Point every boto3 call of this process at the demo server with dummy credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )


@main.command()
@click.option(
    "--markdown", is_flag=True, help="The full catalogue as Markdown (docs/rules.md is made so)."
)
def rules(markdown: bool) -> None:
    """List the rules: id, default severity and title (--markdown: what/why/how to fix)."""
    from auditor.rules import all_rules

    metas = list(all_rules())
    if markdown:
        click.echo(render_rules_markdown([m.as_dict(cases=True) for m in metas]), nl=False)
        return
    width = max(len(m.id) for m in metas)
    for meta in metas:
        click.echo(f"{meta.id:<{width}}  {meta.severity!s:<8}  {meta.title}")


@main.command()
@click.argument("snapshots", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--snapshot-out",
    metavar="FILE",
    help="Also save the merged snapshot, to re-audit it later with --from-snapshot.",
)
@click.pass_context
def merge(ctx: click.Context, /, snapshots: tuple[Path, ...], **options: Any) -> None:
    """Combine the snapshots of `--shard` runs and audit them as one run.

    Give every shard's snapshot (INDEX/COUNT from 0/COUNT to COUNT-1/COUNT). Resources seen
    from several account-regions merge as in a single run, the coverage is concatenated and
    the scope unioned; then the rules run once over the whole and the reports are written as
    by the audit itself, with the same exit codes. Snapshots of another schema version,
    partition or organisation, shards of different splits, a missing or repeated shard, or two
    snapshots holding the same account-region are an error (exit code 2). Whole audits of
    separate account-regions can be merged the same way.
    """
    configure_logging(options["verbose"], options["quiet"])
    outputs = outputs_from(options)
    settings = run_settings_from(options)
    code = guarded(
        options["debug"],
        run_pipeline,
        None,
        None,
        outputs.with_default_html(),
        settings,
        snapshots,
    )
    ctx.exit(code)


# `merge` takes the audit's own report, policy and email options, as they are defined above.
MERGE_OPTIONS = {
    *(fmt.dest for fmt in FORMATS),
    "baseline_file",
    "state_dir",
    "fail_on_new",
    "email_to",
    *EMAIL_OPTIONS,
    "policy_file",
    "fail_on",
    "verbose",
    "quiet",
    "debug",
}
merge.params.extend(p for p in main.params if p.name in MERGE_OPTIONS)
