"""`vpc-audit demo`: the built-in estate on a local moto server, audited end to end."""

from __future__ import annotations

import os

import click

from auditor.cli.console import guarded, say
from auditor.cli.run import Source, run_audit
from auditor.cli.settings import Outputs, RunSettings


@click.command()
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
            outputs = Outputs({"json": json_path, "html": html_path})
            return run_audit(
                Source(request=request), outputs, RunSettings("none", quiet, silent=quiet)
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
