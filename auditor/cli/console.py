"""The terminal side of a run: messages and progress on stderr, logging, and every failure
turned into one line and an exit code."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click

from auditor.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from auditor.errors import AuditError, InputError
from auditor.model import Finding


def say(message: str) -> None:
    click.echo(message, err=True)


def show_findings(findings: Sequence[Finding]) -> None:
    """The findings table on stderr (with the other words for a person; stdout may carry a
    report), coloured only on a terminal and never when NO_COLOR is set (no-color.org)."""
    from auditor.report.terminal import findings_table

    colour = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((100, 24)).columns
    for line in findings_table(findings, width, colour=colour):
        click.echo(line, err=True, color=colour)


def warn(message: str) -> None:
    say(f"vpc-audit: warning: {message}")


def show_error(exc: click.ClickException) -> None:
    """`vpc-audit: error: ...`, after the command's usage line for a usage error."""
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        say(exc.ctx.get_usage())
    say(f"vpc-audit: error: {exc.format_message()}")


class Progress:
    """`collecting: 12/34 account-regions` on stderr, only for a person watching a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        if not self.enabled:
            return
        gaps = f" ({failed} not audited)" if failed else ""
        sys.stderr.write(f"\rcollecting: {done}/{total} account-regions{gaps}")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def configure_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # Never botocore's or urllib3's debug logs: they print request headers, session tokens included.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class ConsoleFormatter(logging.Formatter):
    """Warnings and errors read as every other message of vpc-audit's (`vpc-audit: warning:
    ...`); the detail that -v and -vv add keeps the logger's name, for whoever debugs."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            kind = "warning" if record.levelno == logging.WARNING else "error"
            return f"vpc-audit: {kind}: {record.getMessage()}"
        return super().format(record)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so that collector processes and temporary files
    are cleaned up on the way out."""


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once
    raise Terminated


def guarded(debug: bool, action: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """Run a pipeline and turn every failure into a one-line message and an exit code."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return int(action(*args, **kwargs))
    except Terminated:
        say("vpc-audit: terminated")
        return EXIT_TERMINATED
    except click.ClickException as exc:  # an option found wrong once the run started
        show_error(exc)
        return exc.exit_code
    except InputError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_USAGE
    except AuditError as exc:
        say(f"vpc-audit: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say("vpc-audit: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(
            f"vpc-audit: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)"
        )
        return EXIT_ERROR
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
