"""`vpc-audit rules`: the rule catalogue, as a list or as Markdown (docs/rules.md)."""

from __future__ import annotations

import click

from auditor.report import render_rules_markdown


@click.command()
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
