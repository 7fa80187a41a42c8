"""Write a file whole or not at all: a temporary file beside it, flushed, then renamed.

A crash, a kill or a full disk in the middle leaves the old file (or none) under the
real name, never half of the new one, and no temporary behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically.

    ``mode`` gives the permissions; by default an existing file keeps its own and a
    new one gets 0666 minus the umask (``mkstemp``'s 0600 would make it private).
    Errors are the ``OSError`` of the step that failed; the temporary is removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        os.chmod(tmp, file_mode(path) if mode is None else mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_mode(path: Path) -> int:
    """The permissions of ``path`` if it exists, else 0666 minus the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
