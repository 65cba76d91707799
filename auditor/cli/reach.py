"""`vpc-audit reach SRC DST`: can SRC talk to DST, and if not, which component blocks it."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.cli.console import Progress, configure_logging, guarded, warn
from auditor.cli.exits import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE
from auditor.cli.options import REACH_DIAGNOSTICS, SCOPE, GroupedHelp
from auditor.errors import AuditError, InputError

if TYPE_CHECKING:
    from auditor.model import Snapshot
    from auditor.reach import Answer, Hop

REACH_EXITS = """\b
Exit codes:
  0  reachable
  1  not reachable (the component that blocks it is named, with the fix)
  2  usage error or bad input (an end not in the snapshot, options, snapshot file)
  3  AWS could not be read (credentials, profile, no account-region read)
  4  unknown: the path leaves what the snapshot holds (an account, transit gateway or
     peer VPC outside the audit, data an older snapshot lacks)
"""
AWS_FLAGS = {
    "profile": "--profile",
    "regions": "--region",
    "accounts": "--account",
    "org": "--org",
    "role_name": "--role-name",
    "external_id": "--external-id",
}


@click.command(
    cls=GroupedHelp,
    option_groups=[SCOPE, REACH_DIAGNOSTICS],
    epilog=REACH_EXITS,
    no_args_is_help=True,
)
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--port", type=click.IntRange(0, 65535), help="Destination port (tcp, udp).")
@click.option(
    "--protocol",
    type=click.Choice(["tcp", "udp", "icmp", "all"], case_sensitive=False),
    default="tcp",
    show_default=True,
    help="icmp asks about ping (echo request and reply); all needs all-traffic rules.",
)
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON, for scripts.")
@click.pass_context
def reach(ctx: click.Context, /, source: str, destination: str, **options: Any) -> None:
    """Can SRC reach DST, and if not, what blocks it: security groups, network ACLs (both
    ways: the reply's ephemeral ports too), route tables, peerings, transit gateways, NAT and
    internet gateways, gateway endpoints, across the accounts and regions of the audit.

    SRC and DST: an instance id, a network interface id, a private IP address, a subnet id,
    or 'internet'; DST also 's3' or 'dynamodb'. Reads AWS as the audit does (give --region
    to read less) or a saved snapshot (--from-snapshot). It reads configuration only, as AWS
    Reachability Analyzer does: see the README's `reach` section for what it does not model.

    \b
    Examples:
      vpc-audit reach i-0abc 10.30.1.25 --port 5432 --from-snapshot snap.json
      vpc-audit reach subnet-0abc s3 --port 443 --profile prod --region eu-west-1
    """
    configure_logging(options["verbose"], options["quiet"])
    protocol = options["protocol"].lower()
    if protocol in ("tcp", "udp") and options["port"] is None:
        raise click.UsageError(f"{protocol} needs --port N (or --protocol icmp or all)")
    if options["from_snapshot"] is not None:
        given = [flag for name, flag in AWS_FLAGS.items() if options[name]]
        if given:
            raise click.UsageError(f"--from-snapshot reads no AWS; drop {given[0]}")
    code = guarded(options["debug"], run, source, destination, protocol, options)
    ctx.exit(code)


def run(source: str, destination: str, protocol: str, options: dict[str, Any]) -> int:
    from auditor.net import Topology
    from auditor.reach import NOT_REACHABLE, REACHABLE, ReachError, reach

    snapshot = load(options)
    try:
        answer = reach(Topology(snapshot), source, destination, options["port"], protocol)
    except ReachError as exc:
        raise InputError(str(exc)) from None
    if options["as_json"]:
        click.echo(json.dumps(as_json(answer), indent=2))
    else:
        click.echo(as_text(answer))
    if answer.verdict == REACHABLE:
        return EXIT_CLEAN
    return EXIT_FINDINGS if answer.verdict == NOT_REACHABLE else EXIT_INCOMPLETE


def load(options: dict[str, Any]) -> Snapshot:
    """The saved snapshot, or what the scope options read from AWS."""
    if options["from_snapshot"] is not None:
        from auditor.serial import load_snapshot

        return load_snapshot(Path(options["from_snapshot"]))
    import auditor.cli
    from auditor.cli.settings import request_from

    request = request_from(options, cost=False)  # a path needs no NAT gateway metrics
    progress = Progress(enabled=not options["quiet"] and sys.stderr.isatty())
    try:
        snapshot = auditor.cli.collect(request, progress)
    finally:
        progress.finish()
    failed = [c for c in snapshot.coverage if c.status != "ok"]
    if not snapshot.coverage or len(failed) == len(snapshot.coverage):
        raise AuditError("no account-region could be read: nothing to answer from")
    if failed and not options["quiet"]:
        warn(f"{len(failed)} account-region(s) could not be read: a path into them is unknown")
    return snapshot


def as_json(answer: Answer) -> dict[str, Any]:
    from auditor.serial import to_jsonable

    data: dict[str, Any] = to_jsonable(answer)
    data["return"] = data.pop("back")
    return data


WORDS = {"allow": "ok", "block": "BLOCKED", "unknown": "unknown"}


def as_text(answer: Answer) -> str:
    what = answer.protocol + (f" {answer.port}" if answer.port is not None else "")
    lines = [f"{answer.source} -> {answer.destination} ({what}): {answer.verdict.upper()}"]
    stop = answer.stop
    if stop is not None:
        way = "return path" if stop in answer.back else "forward path"
        verb = "blocked" if stop.verdict == "block" else "unknown"
        lines.append(f"{verb.capitalize()} at {hop_name(stop)} ({way}): {stop.matched}")
        if stop.fix:
            lines.append(f"Fix: {stop.fix}")
    lines += [f"Note: {note}" for note in answer.notes]
    for title, hops in (("Forward", answer.forward), ("Return", answer.back)):
        if hops:
            lines += ["", title]
            for hop in hops:
                lines.append(f"  {WORDS[hop.verdict]:<8} {hop_name(hop)}")
                lines += textwrap.wrap(
                    f"{hop.check}: {hop.matched or '-'}",
                    96,
                    initial_indent=" " * 11,
                    subsequent_indent=" " * 13,
                    break_on_hyphens=False,
                )
    if not answer.back and answer.stop is not None and answer.stop.verdict == "block":
        lines += ["", "Return: not evaluated (the forward path is blocked)"]
    lines += ["", *textwrap.wrap("Not modelled: " + "; ".join(answer.not_modelled) + ".", 96)]
    return "\n".join(lines)


def hop_name(hop: Hop) -> str:
    owner = f" [{hop.account_id} {hop.region}]" if hop.account_id else ""
    return f"{hop.component} {hop.id}{owner}"
