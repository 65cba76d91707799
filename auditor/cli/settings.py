"""The options checked together and turned into typed settings: outputs, the run's settings,
the email; a bad combination is a usage error before anything is read."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.concurrency import DEFAULT_PROCESSES
from auditor.deliver import email as mail
from auditor.deliver.files import STDOUT
from auditor.model import Severity
from auditor.report.formats import FORMATS
from auditor.report.formats.html import DEFAULT_HTML

if TYPE_CHECKING:
    from auditor.collect import Request
    from auditor.policy import RuleSelection

# Options that read AWS, which an offline audit (--from-snapshot) refuses.
AWS_OPTIONS = {
    "profile": "--profile",
    "regions": "--region",
    "accounts": "--account",
    "org": "--org",
    "role_name": "--role-name",
    "external_id": "--external-id",
    "snapshot_out": "--snapshot-out",
    "shard": "--shard",
    "no_cost": "--no-cost",
}
# What a --shard run does not do: it writes its snapshot and leaves the report to `merge`.
SHARD_CLASHES = {
    **{fmt.dest: fmt.option for fmt in FORMATS},
    "baseline_file": "--baseline",
    "state_dir": "--state-dir",
    "fail_on_new": "--fail-on-new",
    "email_to": "--email-to",
    "policy_file": "--policy",
    "fail_on": "--fail-on",
    "rules": "--rule",
    "excluded_rules": "--exclude-rule",
    "min_severity": "--min-severity",
}
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


class BadInput(click.ClickException):
    """An option's value that cannot work (a path nowhere, a region that does not exist):
    exit 2 before anything is read, without the usage line a usage error shows."""

    exit_code = 2


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

    def check_writable(self) -> None:
        """Every output's directory exists and is writable, and no output is a directory:
        found now, not after an organisation's scan."""
        flags = {fmt.name: fmt.option for fmt in FORMATS}
        wanted = [(flags[name], path) for name, path in self.reports.items()]
        if self.snapshot_path:
            wanted.append(("--snapshot-out", self.snapshot_path))
        for flag, destination in wanted:
            if destination == STDOUT:
                continue
            path = Path(destination)
            folder = path.parent
            if path.is_dir():
                raise BadInput(f"{flag} {destination}: is a directory")
            if not folder.is_dir():
                raise BadInput(f"{flag} {destination}: no directory {folder}")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise BadInput(f"{flag} {destination}: directory {folder} is not writable")

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
    silent: bool = False  # -qq: not even the count line
    policy_file: Path | None = None
    baseline_file: Path | None = None
    state_dir: Path | None = None
    fail_on_new: bool = False
    email: mail.EmailSettings | None = None
    smtp_password: str | None = field(default=None, repr=False)
    profile: str | None = None
    selection: RuleSelection | None = None
    processes: int = 1  # the rules of a big snapshot may use two (auditor.rules.processes)


def outputs_from(options: dict[str, Any]) -> Outputs:
    """The output files the output options name; at most one may be stdout ('-')."""
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
    from auditor.policy import RuleSelection  # with the YAML parser: not for --help

    minimum = options["min_severity"]
    selection = RuleSelection(
        tuple(options["rules"]),
        tuple(options["excluded_rules"]),
        Severity.parse(minimum) if minimum else None,
    )
    return RunSettings(
        fail_on=options["fail_on"].lower(),
        quiet=options["quiet"] >= 1,
        silent=options["quiet"] >= 2,
        policy_file=options["policy_file"],
        baseline_file=options["baseline_file"],
        state_dir=options["state_dir"],
        fail_on_new=options["fail_on_new"],
        email=email,
        smtp_password=password,
        profile=profile,
        selection=selection if selection != RuleSelection() else None,
        processes=options.get("processes", DEFAULT_PROCESSES),  # merge has no --processes
    )


def request_from(options: dict[str, Any], **performance: Any) -> Request:
    """What to read from AWS, from the scope options (checked first: region names; a warning
    when accounts are read through the administrator role by default). `performance`: the
    audit's workers, processes and shard."""
    from auditor.cli.console import warn
    from auditor.collect import Request
    from auditor.collect.sessions import DEFAULT_ORG_ROLE

    check_regions(options["regions"], "--region")
    silent = options.get("quiet", 0) >= 2  # -qq: only errors
    if (options["accounts"] or options["org"]) and not options["role_name"] and not silent:
        warn(
            f"no --role-name: using {DEFAULT_ORG_ROLE}, AWS Organizations' administrator "
            "role, in each account; name a read-only audit role (or this one) with --role-name"
        )
    return Request(
        profile=options["profile"],
        regions=options["regions"],
        accounts=options["accounts"],
        org=options["org"],
        role_name=options["role_name"],
        external_id=options["external_id"],
        **performance,
    )


def check_regions(regions: Sequence[str], flag: str) -> None:
    """Region names as botocore's partition data knows them: a typo fails here with a
    suggestion, instead of minutes of calls to an endpoint that does not exist."""
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("partitions")["partitions"]
    known = sorted(region for p in partitions for region in p["regions"])
    for region in regions:
        if region not in known:
            close = difflib.get_close_matches(region, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "e.g. us-east-1"
            raise click.BadParameter(
                f"{region!r} is not an AWS region ({hint}; a region newer than this "
                "botocore needs a newer botocore)",
                param_hint=flag,
            )


def check_offline_options(options: dict[str, Any]) -> None:
    """--from-snapshot reads no AWS: an option that would is a mistake, not something to drop."""
    clashing = [flag for name, flag in AWS_OPTIONS.items() if options.get(name)]
    if clashing:
        raise click.UsageError(f"--from-snapshot audits offline; drop {clashing[0]}")


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
        check_regions([options["ses_region"]], "--ses-region")
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
