"""`vpc-audit merge`: the snapshots of `--shard` runs combined and audited as one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor.cli.console import configure_logging, guarded
from auditor.cli.options import (
    DIAGNOSTICS,
    JUDGING,
    MERGED_SNAPSHOT_OUT_HELP,
    SCHEDULED,
    GroupedHelp,
    outputs_group,
)
from auditor.cli.run import Source, run_audit
from auditor.cli.settings import outputs_from, run_settings_from


@click.command(
    cls=GroupedHelp,
    option_groups=[outputs_group(MERGED_SNAPSHOT_OUT_HELP), JUDGING, SCHEDULED, DIAGNOSTICS],
)
@click.argument("snapshots", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    outputs = outputs_from(options).with_default_html()
    outputs.check_writable()
    settings = run_settings_from(options)
    source = Source(merge_files=snapshots)
    ctx.exit(guarded(options["debug"], run_audit, source, outputs, settings))
