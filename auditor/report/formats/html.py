"""The self-contained HTML report, with the network map drawn from the snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.document import Report
from auditor.report.formats.base import Format, RenderContext

if TYPE_CHECKING:
    from auditor.model import Snapshot

DEFAULT_HTML = "vpc-audit-report.html"


def render_html(report: Report, snapshot: Snapshot | None = None) -> str:
    """The self-contained HTML report; the snapshot, when given, feeds the topology map.

    The cyclic GC is paused as for the rules: at 10k VPCs its passes over the heap took a third
    of the time, and the few cycles Jinja leaves (some 14k objects) go on its next pass."""
    # Here, not at the top: the format registry imports every format for --help.
    from auditor.report.templating import templates
    from auditor.report.topology import build_topology
    from auditor.report.view import html_view
    from auditor.rules import cyclic_gc_paused
    from auditor.rules.base import catalogue

    rules = {rule_id: meta.as_dict() for rule_id, meta in catalogue().items()}
    with cyclic_gc_paused():
        topology = build_topology(snapshot, report.findings) if snapshot is not None else None
        view = html_view(report, rules, topology)
        return templates().get_template("report.html.j2").render(view=view)


def render(report: Report, context: RenderContext) -> str:
    return render_html(report, context.snapshot)


FORMAT = Format(
    name="html",
    what="HTML report",
    help=f"Write the HTML report to FILE. With neither --json nor --html: ./{DEFAULT_HTML}.",
    render=render,
    order=20,
)
