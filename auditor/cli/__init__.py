"""Command line: `vpc-audit` (the audit) with its subcommands, each in a module of its own.

The stages of a run are in `run.py`; options in `options.py`, checked into settings in
`settings.py`; `console.py` is the terminal side, `exits.py` the exit codes. A subcommand
is a module with one click command, attached below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.cli import demo, merge, reach, rules
from auditor.cli.audit import main
from auditor.cli.exits import EXIT_ERROR, EXIT_USAGE

if TYPE_CHECKING:
    from auditor.cli.console import Progress
    from auditor.collect import Request
    from auditor.model import Snapshot

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "collect", "main"]

for command in (demo.demo, rules.rules, merge.merge, reach.reach):
    main.add_command(command)


def collect(request: Request, progress: Progress) -> Snapshot:
    """Read AWS, importing the collector and boto3 only now. The run's one door to AWS, here
    so that tests and benchmarks/collect.py can replace it (`auditor.cli.collect`)."""
    from auditor.collect import collect as read_aws

    return read_aws(request, progress)
