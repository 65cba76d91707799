"""`vpc-audit rules [RULE_ID...]`: the rule catalogue as a list, one rule's documentation,
JSON for scripts, or Markdown (docs/rules.md)."""

from __future__ import annotations

import difflib
import json
import textwrap

import click

from auditor.report import render_rules_markdown


@click.command()
@click.argument("rule_ids", nargs=-1, metavar="[RULE_ID]...")
@click.option("--json", "as_json", is_flag=True, help="The rules' metadata as a JSON list.")
@click.option(
    "--markdown", is_flag=True, help="The full catalogue as Markdown (docs/rules.md is made so)."
)
def rules(rule_ids: tuple[str, ...], as_json: bool, markdown: bool) -> None:
    """List the rules: id, default severity and title. With RULE_IDs, each rule's what, why,
    how to fix and references; --json or --markdown for the whole metadata."""
    from auditor.rules import all_rules

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --markdown")
    metas = list(all_rules())
    if rule_ids:
        by_id = {m.id: m for m in metas}
        for rule_id in rule_ids:
            if rule_id not in by_id:
                close = difflib.get_close_matches(rule_id, by_id, n=1)
                hint = (
                    f" (did you mean {close[0]}?)" if close else " (`vpc-audit rules` lists them)"
                )
                raise click.UsageError(f"unknown rule {rule_id!r}{hint}")
        metas = [by_id[rule_id] for rule_id in dict.fromkeys(rule_ids)]
    if markdown:
        click.echo(render_rules_markdown([m.as_dict(cases=True) for m in metas]), nl=False)
    elif as_json:
        click.echo(json.dumps([m.as_dict() for m in metas], indent=2))
    elif rule_ids:
        click.echo("\n\n".join(rule_text(m.as_dict()) for m in metas))
    else:
        width = max(len(m.id) for m in metas)
        for meta in metas:
            click.echo(f"{meta.id:<{width}}  {meta.severity!s:<8}  {meta.title}")


def rule_text(meta: dict[str, object]) -> str:
    """One rule's documentation for a terminal: each paragraph and list item wrapped to 88
    columns."""
    lines = [f"{meta['id']} ({meta['severity']}, {meta['resource_type']})", str(meta["title"])]
    for heading, key in (("What it checks", "what"), ("Why", "why"), ("How to fix", "fix")):
        lines += ["", f"{heading}:", *wrapped(str(meta[key]))]
    references = meta["references"]
    if isinstance(references, list) and references:
        lines += ["", "References:", *(f"  {ref}" for ref in references)]
    return "\n".join(lines)


def wrapped(text: str) -> list[str]:
    """Metadata text (paragraphs, '- ' list items) filled to the terminal's 88 columns."""
    items: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            items.append("")
        elif line.startswith("- ") or not items or not items[-1]:
            items.append(line.strip())
        else:
            items[-1] += " " + line.strip()
    return [
        textwrap.fill(
            item,
            88,
            initial_indent="  ",
            subsequent_indent="    " if item.startswith("- ") else "  ",
            break_on_hyphens=False,
        )
        for item in items
    ]
