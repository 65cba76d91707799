"""Command line: parse options, wire collect -> rules -> report -> deliver, map results to exit codes."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from auditor import __version__
from auditor.collect import DEFAULT_WORKERS, Request, collect
from auditor.deliver.files import STDOUT, write_text
from auditor.errors import AuditError, InputError
from auditor.model import Severity, Snapshot
from auditor.policy import AuditPolicy, load_policy
from auditor.report import build_report, render_html, render_json, render_rules_markdown
from auditor.rules import REGISTRY, all_rules, evaluate
from auditor.serial import dumps, load_snapshot

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INCOMPLETE = 4  # added to EXIT_FINDINGS: 5 = findings and coverage gaps
DEFAULT_HTML = "vpc-audit-report.html"
FAIL_ON_CHOICES = [str(s) for s in Severity] + ["none"]

AWS_OPTIONS = {
    "profile": "--profile",
    "regions": "--region",
    "accounts": "--account",
    "org": "--org",
    "role_name": "--role-name",
    "external_id": "--external-id",
    "snapshot_out": "--snapshot-out",
}

EXIT_CODES_HELP = """\b
Exit codes:
  0  audit complete, no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage error or bad input file (options, snapshot)
  3  error: the audit could not run (credentials, profile, organisation)
  4  some account-regions could not be audited (reports still written)
  5  both 1 and 4
"""


@dataclass(frozen=True)
class Outputs:
    json_path: str | None = None
    html_path: str | None = None
    snapshot_path: str | None = None

    def with_default_html(self) -> Outputs:
        if self.json_path or self.html_path:
            return self
        return Outputs(None, DEFAULT_HTML, self.snapshot_path)


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


def run_pipeline(
    request: Request | None,
    snapshot_file: Path | None,
    outputs: Outputs,
    fail_on: str,
    quiet: bool,
    policy_file: Path | None = None,
) -> int:
    """collect (or load) -> rules -> report -> deliver; returns the exit code."""
    # The policy is read first: a typo in it should not cost a whole organisation's scan.
    policy = load_policy(policy_file, REGISTRY) if policy_file else AuditPolicy()
    if snapshot_file is not None:
        snapshot = load_snapshot(snapshot_file)
    else:
        assert request is not None
        progress = Progress(enabled=not quiet and sys.stderr.isatty())
        try:
            snapshot = collect(request, progress)
        finally:
            progress.finish()
        if not snapshot.coverage:
            raise AuditError("nothing to audit: no account-region was found in scope")
        if outputs.snapshot_path:
            write_output(outputs.snapshot_path, dumps(snapshot), "snapshot", quiet)
    result = evaluate(snapshot, policy)
    report = build_report(snapshot, result)
    if outputs.json_path:
        write_output(outputs.json_path, render_json(report), "JSON report", quiet)
    if outputs.html_path:
        write_output(outputs.html_path, render_html(report, snapshot), "HTML report", quiet)
    if not quiet:
        say(summary_line(snapshot, report))
        for expired in report["expired_suppressions"]:
            say(
                f"note: suppression for {expired['rule']} expired on {expired['expires']} "
                f"and no longer applies ({len(expired['finding_ids'])} finding(s))"
            )
    return exit_code(snapshot, findings_at_or_above(report, fail_on))


def write_output(destination: str, text: str, what: str, quiet: bool) -> None:
    try:
        write_text(destination, text)
    except OSError as exc:
        raise InputError(f"cannot write {what} to {destination}: {exc.strerror or exc}") from None
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
    gaps = [c for c in snapshot.coverage if c.status != "ok"]
    if gaps:
        line += f"; {len(gaps)} could NOT be audited:"
        line += "".join(f"\n  {c.account_id}/{c.region}: {c.error}" for c in gaps[:10])
        if len(gaps) > 10:
            line += f"\n  … and {len(gaps) - 10} more (see the report's coverage section)"
    return line


def account_id(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        if not (value.isdigit() and len(value) == 12):
            raise click.BadParameter(f"{value!r} is not a 12-digit AWS account id")
    return values


def configure_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbose < 2:
        logging.getLogger("botocore").setLevel(logging.WARNING)


def guarded(debug: bool, action: Any, *args: Any, **kwargs: Any) -> int:
    """Run a pipeline and turn every failure into a one-line message and an exit code."""
    try:
        return int(action(*args, **kwargs))
    except InputError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_USAGE
    except AuditError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say("vpc-audit: interrupted")
        return 130
    except Exception as exc:
        if debug:
            raise
        say(
            f"vpc-audit: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)"
        )
        return EXIT_ERROR


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
@click.option(
    "--json", "json_path", metavar="FILE", help="Write the JSON report to FILE ('-' for stdout)."
)
@click.option(
    "--html",
    "html_path",
    metavar="FILE",
    help=f"Write the HTML report to FILE. With neither --json nor --html: ./{DEFAULT_HTML}.",
)
@click.option(
    "--snapshot-out",
    metavar="FILE",
    help="Also save the collected snapshot, to re-audit it later with --from-snapshot.",
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
    help="Account-regions read in parallel.",
)
@click.option(
    "-v", "--verbose", count=True, help="Log each account-region (-vv: also botocore debug)."
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
    with no route back, peering DNS resolution off) and writes an HTML and/or JSON report.

    \b
    Examples:
      vpc-audit --profile prod
      vpc-audit --profile mgmt --org --role-name AuditRole --html report.html --json report.json
      vpc-audit --from-snapshot snap.json --json -
      vpc-audit demo
    """
    if ctx.invoked_subcommand is not None:
        return
    configure_logging(options["verbose"], options["quiet"])
    outputs = Outputs(options["json_path"], options["html_path"], options["snapshot_out"])
    snapshot_file = options["from_snapshot"]
    if snapshot_file is not None:
        clashing = [flag for name, flag in AWS_OPTIONS.items() if options[name]]
        if clashing:
            raise click.UsageError(f"--from-snapshot audits offline; drop {clashing[0]}")
        request = None
    else:
        request = Request(
            profile=options["profile"],
            regions=options["regions"],
            accounts=options["accounts"],
            org=options["org"],
            role_name=options["role_name"],
            external_id=options["external_id"],
            workers=options["workers"],
        )
    code = guarded(
        options["debug"],
        run_pipeline,
        request,
        snapshot_file,
        outputs.with_default_html(),
        options["fail_on"].lower(),
        options["quiet"],
        options["policy_file"],
    )
    ctx.exit(code)


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
            return run_pipeline(request, None, Outputs(json_path, html_path), "none", quiet)

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
    metas = list(all_rules())
    if markdown:
        click.echo(render_rules_markdown([m.as_dict() for m in metas]), nl=False)
        return
    width = max(len(m.id) for m in metas)
    for meta in metas:
        click.echo(f"{meta.id:<{width}}  {meta.severity!s:<8}  {meta.title}")
