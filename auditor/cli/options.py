"""The command line's options, declared once in groups by purpose; --help lists them so."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from auditor.cli.console import say, show_error
from auditor.cli.exits import EXIT_INTERRUPTED
from auditor.concurrency import DEFAULT_PROCESSES, DEFAULT_WORKERS
from auditor.deliver import email as mail
from auditor.model import Severity, Shard
from auditor.report.baseline import STATE_FILE
from auditor.report.formats import FORMATS

FAIL_ON_CHOICES = [str(s) for s in Severity] + ["none"]
SNAPSHOT_OUT_HELP = "Also save the collected snapshot, to re-audit it later with --from-snapshot."
MERGED_SNAPSHOT_OUT_HELP = (
    "Also save the merged snapshot, to re-audit it later with --from-snapshot."
)


@dataclass(frozen=True)
class OptionGroup:
    """Options that serve one purpose, listed under `title` in --help."""

    title: str
    options: tuple[click.Option, ...]


class GroupedHelp(click.Command):
    """A command whose --help lists its options by group; --help and --version go last."""

    def __init__(self, *args: Any, option_groups: Sequence[OptionGroup] = (), **kwargs: Any):
        self.option_groups = tuple(option_groups)
        params = [option for group in self.option_groups for option in group.options]
        kwargs["params"] = params + list(kwargs.get("params") or [])
        super().__init__(*args, **kwargs)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        grouped = {option for group in self.option_groups for option in group.options}
        others = [p for p in self.get_params(ctx) if p not in grouped]
        sections = [(group.title, group.options) for group in self.option_groups]
        for title, params in [*sections, ("Other options", others)]:
            rows = [row for p in params if (row := p.get_help_record(ctx)) is not None]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)


class GroupedHelpGroup(GroupedHelp, click.Group):
    """The top command: the audit itself, with subcommands (demo, rules, merge). Its errors,
    click's own included, print in vpc-audit's one style (console.show_error)."""

    def main(  # type: ignore[override]  # click types it by overloads (NoReturn standalone)
        self, args: Sequence[str] | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, standalone_mode=False, **extra)
        try:
            code = super().main(args, standalone_mode=False, **extra)
        except click.ClickException as exc:
            show_error(exc)
            sys.exit(exc.exit_code)
        except click.Abort:
            say("vpc-audit: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


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


def option(*decls: str, **attrs: Any) -> click.Option:
    return click.Option(list(decls), **attrs)


SCOPE = OptionGroup(
    "What to audit",
    (
        option(
            "--profile",
            metavar="NAME",
            help="AWS profile for the base credentials (SSO, assume-role and credential_process profiles work). Default: the standard credential chain.",
        ),
        option(
            "--region",
            "regions",
            multiple=True,
            metavar="REGION",
            help="Region to audit (repeatable). Default: every region enabled for each account.",
        ),
        option(
            "--account",
            "accounts",
            multiple=True,
            metavar="ID",
            callback=account_id,
            help="Account to audit through --role-name (repeatable). Default: the base credentials' own account.",
        ),
        option(
            "--org",
            is_flag=True,
            help="Audit every ACTIVE account of the organisation (organizations:ListAccounts) through --role-name.",
        ),
        option(
            "--role-name",
            metavar="ROLE",
            help="Role assumed in each account given by --account or --org [default: OrganizationAccountAccessRole]. The base credentials' own account is read directly.",
        ),
        option("--external-id", metavar="ID", help="ExternalId passed to sts:AssumeRole."),
        option(
            "--from-snapshot",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Audit a saved snapshot offline (no AWS calls).",
        ),
    ),
)


# The audit's own scope option (reach reads no metrics): appended to SCOPE by the audit.
NO_COST = option(
    "--no-cost",
    is_flag=True,
    help="Do not read what NAT gateways processed (CloudWatch GetMetricData, one call per account-region with NAT gateways): the cost on the S3/DynamoDB egress findings is then unknown.",
)
AUDIT_SCOPE = OptionGroup(SCOPE.title, (*SCOPE.options, NO_COST))


def outputs_group(snapshot_out_help: str) -> OptionGroup:
    """`--<name> FILE` for each registered format, in the registry's order, with
    `--snapshot-out` after `--html`, where it has always been."""
    options = []
    for fmt in FORMATS:
        options.append(option(fmt.option, fmt.dest, metavar="FILE", help=fmt.help))
        if fmt.name == "html":
            options.append(option("--snapshot-out", metavar="FILE", help=snapshot_out_help))
    return OptionGroup("Outputs (FILE or '-' for stdout; default: --html)", tuple(options))


JUDGING = OptionGroup(
    "Rules and exit code",
    (
        option(
            "--policy",
            "policy_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Audit policy (YAML or TOML): enable/disable rules, severities, trusted accounts, suppressions. Example: policies/example-policy.yaml.",
        ),
        option(
            "--fail-on",
            type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
            default="low",
            show_default=True,
            help="Exit 1 when a finding is at or above this severity ('none': never).",
        ),
        option(
            "--rule",
            "rules",
            multiple=True,
            metavar="ID",
            help="Run only the rules matching ID, a rule id or a glob such as 'peering-*' (repeatable). With --policy, narrows its enabled rules.",
        ),
        option(
            "--exclude-rule",
            "excluded_rules",
            multiple=True,
            metavar="ID",
            help="Do not run the rules matching ID, a rule id or a glob (repeatable).",
        ),
        option(
            "--min-severity",
            type=click.Choice([str(s) for s in Severity], case_sensitive=False),
            help="Run only the rules of this severity or above (the policy's severities count).",
        ),
    ),
)

SCHEDULED = OptionGroup(
    "Scheduled runs and email",
    (
        option(
            "--baseline",
            "baseline_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="A previous JSON report: mark each finding new or unchanged and list the resolved ones.",
        ),
        option(
            "--state-dir",
            type=click.Path(path_type=Path, file_okay=False),
            metavar="DIR",
            help=f"For scheduled runs: compare with DIR/{STATE_FILE} (unless --baseline is given; none on the first run) and save this run's JSON report there at the end of a run that completed (not when the email failed). DIR is created if needed.",
        ),
        option(
            "--fail-on-new",
            is_flag=True,
            help="Exit 1 only for NEW findings at or above --fail-on (needs --baseline or --state-dir).",
        ),
        option(
            "--email-to",
            "email_to",
            multiple=True,
            metavar="ADDR",
            help="Email the report to ADDR (repeatable): a summary in HTML and text, the HTML report attached. Needs --email-from and --smtp-host or --ses-region.",
        ),
        option("--email-from", metavar="ADDR", help="Sender address of the report email."),
        option(
            "--email-on",
            type=click.Choice(mail.EMAIL_ON, case_sensitive=False),
            help="When to send: always; findings (a finding or a coverage gap); new (a new finding or a coverage gap; needs --baseline or --state-dir). [default: always]",
        ),
        option(
            "--email-attach-json", is_flag=True, help="Also attach the JSON report to the email."
        ),
        option("--smtp-host", metavar="HOST", help="Send the email through this SMTP server."),
        option(
            "--smtp-port",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            help="SMTP port. [default: 465 with --smtp-tls ssl, else 587]",
        ),
        option(
            "--smtp-tls",
            type=click.Choice(mail.TLS_MODES, case_sensitive=False),
            help="auto: STARTTLS when the server offers it; starttls: require it (fail if not offered); ssl: TLS from the start (SMTPS); off: never. [default: auto]",
        ),
        option(
            "--smtp-user",
            metavar="USER",
            help=f"Log in to the SMTP server as USER, with the password from the environment variable {mail.PASSWORD_ENV} (never a flag). Only over TLS unless --smtp-tls off.",
        ),
        option(
            "--ses-region",
            metavar="REGION",
            help="Send the email through Amazon SES (SendRawEmail) in REGION, with the audit's base credentials.",
        ),
        option(
            "--ses-profile",
            metavar="NAME",
            help="AWS profile for SES instead of the audit's base credentials.",
        ),
    ),
)

PERFORMANCE = OptionGroup(
    "Performance and sharding",
    (
        option(
            "--workers",
            type=click.IntRange(1, 256),
            default=DEFAULT_WORKERS,
            show_default=True,
            help="Account-regions read in parallel (threads, shared among --processes).",
        ),
        option(
            "--processes",
            type=click.IntRange(1, 64),
            default=DEFAULT_PROCESSES,
            show_default="two per CPU core, at most 8; 1 outside Linux",
            envvar="VPC_AUDIT_PROCESSES",
            help="Processes that read the accounts, each with its share of the --workers threads; each account is read by one process, so one AssumeRole per account still. With 2 or more, the rules of a snapshot of 2,000+ VPCs run in two processes. [env: VPC_AUDIT_PROCESSES]",
        ),
        option(
            "--shard",
            metavar="INDEX/COUNT",
            callback=shard_option,
            help="Read only share INDEX (from 0) of COUNT of the account-regions and write just the snapshot (needs --snapshot-out; no report, no rules). `vpc-audit merge` combines the COUNT snapshots and audits them. E.g. --shard $AWS_BATCH_JOB_ARRAY_INDEX/10.",
        ),
    ),
)

DIAGNOSTICS = OptionGroup(
    "Diagnostics",
    (
        option(
            "-v",
            "--verbose",
            count=True,
            help="Log each account-region (-vv: more detail from vpc-audit itself).",
        ),
        option(
            "-q",
            "--quiet",
            count=True,
            help="Print only the count line and errors, not the findings table nor the files written (-qq: only errors, for cron).",
        ),
        option("--debug", is_flag=True, help="Show a traceback on internal errors."),
    ),
)
# reach's: the same, with -q saying what it leaves out there (reach has no count line or table).
REACH_DIAGNOSTICS = OptionGroup(
    DIAGNOSTICS.title,
    (
        DIAGNOSTICS.options[0],
        option(
            "-q",
            "--quiet",
            count=True,
            help="Print no progress and no warnings: the answer and errors only.",
        ),
        DIAGNOSTICS.options[2],
    ),
)
