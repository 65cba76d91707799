"""Exit codes of every vpc-audit command, and their table for --help (README: Exit codes)."""

from __future__ import annotations

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INCOMPLETE = 4  # added to EXIT_FINDINGS: 5 = findings and coverage gaps
EXIT_EMAIL = 6  # the report email could not be sent (the reports were written first)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process ended by a signal
EXIT_TERMINATED = 143  # 128 + SIGTERM

EXIT_CODES_HELP = """\b
Exit codes:
  0  audit complete, no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage error or bad input (options, region names, output paths, policy, snapshot)
  3  the audit could not run (credentials, profile, organisation, no account-region read)
  4  some account-regions could not be audited (reports still written)
  5  both 1 and 4
  6  the report email could not be sent (reports still written; wins over 1, 4, 5)
  130  interrupted (Ctrl-C); 143  stopped by SIGTERM (a scheduler's timeout, docker stop)
"""
