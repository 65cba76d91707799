"""Writing reports and snapshots without ever leaving a half-written file behind."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

STDOUT = "-"


def write_text(destination: str | Path, text: str) -> None:
    """Write atomically: a temp file in the same folder, then rename over the target.

    An interrupted run leaves the previous file (or none), never a truncated one. Targets that
    are not plain files (devices, pipes, symlinks) are written through instead of replaced.
    """
    if str(destination) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(destination)
    if (path.exists() and not path.is_file()) or path.is_symlink():
        # /dev/stdout, a FIFO, a symlink we must not replace: write through it, in place.
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; reports get normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every filesystem allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


UMASK = _read_umask()  # once, at import, before any worker thread could create files
