"""Write a file whole or not at all: a temporary file beside it, flushed, then renamed.

A crash, a kill or a full disk in the middle leaves the old file (or none) under the
real name, never half of the new one, and no temporary behind.
"""

from __future__ import annotations

import errno
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
        fsync_folder(path.parent or ".")
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


# Messages of libraries that report a full disk without an OSError: safetensors
# (Rust's io error, "code: 28"), torch.save's zip writer ("unexpected pos").
_FULL_DISK_TEXTS = ("no space left", "code: 28", "storagefull", "unexpected pos",
                    "file write failed")


def describe_write_error(exc: BaseException, what: str) -> str:
    """One line for a write of ``what`` that failed with ``exc``.

    A full disk or an exhausted quota is named as such, whichever library raised it;
    a permission problem says so; anything else quotes the first line of the error.
    """
    text = str(exc)
    lowered = text.lower()
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or any(part in lowered for part in _FULL_DISK_TEXTS):
        return f"no space left on the device while writing {what}"
    if code == errno.EDQUOT or "quota" in lowered:
        return f"the disk quota is used up while writing {what}"
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to write {what}"
    if code == errno.EROFS:
        return f"cannot write {what}: the file system is read-only"
    detail = getattr(exc, "strerror", None) or (text.splitlines()[0] if text else type(exc).__name__)
    return f"cannot write {what}: {detail}"


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the system allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not sync folders; the rename itself is atomic
    finally:
        os.close(fd)
