"""Errors the CLI turns into one-line messages and exit codes (never tracebacks)."""


class AuditError(Exception):
    """The run could not go on (no credentials, unknown profile, nothing reachable)."""


class InputError(AuditError):
    """A file or option the user gave us is wrong; exits with the usage-error code."""
