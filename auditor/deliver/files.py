"""Writing reports and snapshots without ever leaving a half-written file behind."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

STDOUT = "-"


def write_text(destination: str | Path, text: str) -> None:
    """Write atomically: a temp file in the same folder, then rename over the target.

    An interrupted run leaves the previous file (or none), never a truncated one.
    """
    if str(destination) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(destination)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should get normal perms
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
