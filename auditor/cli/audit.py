"""`vpc-audit [OPTIONS]`: the audit itself, the top command that the subcommands hang from."""

from __future__ import annotations

from typing import Any

import click

from auditor import __version__
from auditor.cli.console import configure_logging, guarded
from auditor.cli.exits import EXIT_CODES_HELP
from auditor.cli.options import (
    AUDIT_SCOPE,
    DIAGNOSTICS,
    JUDGING,
    PERFORMANCE,
    SCHEDULED,
    SNAPSHOT_OUT_HELP,
    GroupedHelpGroup,
    outputs_group,
)
from auditor.cli.run import Source, run_audit
from auditor.cli.settings import (
    check_offline_options,
    check_shard_options,
    outputs_from,
    request_from,
    run_settings_from,
)


@click.group(
    cls=GroupedHelpGroup,
    option_groups=[
        AUDIT_SCOPE,
        outputs_group(SNAPSHOT_OUT_HELP),
        JUDGING,
        SCHEDULED,
        PERFORMANCE,
        DIAGNOSTICS,
    ],
    invoke_without_command=True,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
    if options["from_snapshot"] is not None:
        check_offline_options(options)
        source = Source(snapshot_file=options["from_snapshot"])
    else:
        request = request_from(
            options,
            workers=options["workers"],
            processes=options["processes"],
            shard=options["shard"],
            cost=not options["no_cost"],
        )
        if request.shard is not None:
            check_shard_options(ctx, options)
        source = Source(request=request)
    settings = run_settings_from(options, profile=options["profile"])
    if source.shard is None:
        outputs = outputs.with_default_html()
    outputs.check_writable()
    ctx.exit(guarded(options["debug"], run_audit, source, outputs, settings))
