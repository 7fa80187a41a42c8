"""Reading and writing user files safely.

Writing is whole or not at all (:func:`write_atomic`): a temporary file beside the
target, flushed, then renamed, so a crash, a kill or a full disk leaves the old file
(or none) under the real name, never half of the new one. Reading takes regular
files only, with a bounded read (:func:`read_regular_file`, or
:func:`open_regular_file` for a reader that streams and bounds what it reads): a
FIFO, a device or a symlink to ``/dev/zero`` is refused instead of blocking or
reading without end. Readers check the sizes a file declares against the memory
budget (:func:`check_budget`) before they allocate.
Failures become one line that says what happened (:func:`describe_write_error`).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


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


class ReadRefused(OSError):
    """A file that is not read: not a regular file, or larger than the limit."""


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading in binary mode, if it is a regular file.

    For readers that stream a file instead of reading it whole: the same checks as
    :func:`read_regular_file` (opened without blocking, checked on the open
    descriptor), with the bound left to the reader (a declared size checked against
    the memory budget, a line length).

    Raises
    ------
    ReadRefused
        Not a regular file (a FIFO, a device, a socket); the message says which.
    OSError
        The file cannot be opened (missing, a folder, no permission, a symlink loop).
    """
    fd, _ = _open_regular(path)
    fh = os.fdopen(fd, "rb")
    fh.raw.name = os.fspath(path)  # as open() names it, for libraries that quote the name
    return fh


def read_regular_file(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    The file is opened without blocking (a FIFO with no writer would otherwise wait
    forever), checked on the open descriptor (so a swap after a check cannot slip
    through), and read with a bound (a file that grows, or reports size 0 but never
    ends, stops at the limit).

    Raises
    ------
    ReadRefused
        Not a regular file, or over ``limit`` bytes; the message says which.
    OSError
        The file cannot be opened or read (missing, no permission, a symlink loop).
    """
    fd, info = _open_regular(path)
    try:
        if info.st_size > limit:
            raise ReadRefused(errno.EFBIG, f"is {info.st_size:,} bytes; the limit is {limit:,}",
                              str(path))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ReadRefused(errno.EFBIG, f"holds more than {limit:,} bytes (the limit)",
                                  str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _open_regular(path: str | os.PathLike) -> tuple[int, os.stat_result]:
    """A read-only descriptor of ``path`` and its status, if it is a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ReadRefused(errno.EINVAL, f"is {kind_of(info.st_mode)}, not a regular file",
                              str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def kind_of(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for a message: ``"a named pipe (FIFO)"``."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


# ----------------------------------------------------------------- memory budget
BUDGET_VARIABLE = "LAYERLOOM_MEMORY_BUDGET"
DEFAULT_BUDGET = 4 << 30  # 4 GiB: far above any built-in dataset or example model
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class OverBudget(ValueError):
    """Data that would need more memory than the budget; the message says how much."""


def memory_budget(env: dict[str, str] | None = None) -> int:
    """Bytes one file's data may take in memory: ``$LAYERLOOM_MEMORY_BUDGET`` (``"16G"``,
    ``"512M"``, bytes) or 4 GiB. Readers check declared sizes against it before they
    allocate, so a small file that declares a huge array is refused, not attempted."""
    env = os.environ if env is None else env
    text = env.get(BUDGET_VARIABLE, "").strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1:] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return int(float(text[:-1]) * _UNITS[text[-1]])
    if text.isdigit():
        return int(text)
    return DEFAULT_BUDGET


def human_bytes(count: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:,.0f} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} PiB"


def check_budget(needed: int, what: str, budget: int | None = None) -> None:
    """Raise :class:`OverBudget` when ``what`` needs more than the memory budget."""
    budget = memory_budget() if budget is None else budget
    if needed > budget:
        raise OverBudget(
            f"{what} needs {human_bytes(needed)} of memory, over the budget of "
            f"{human_bytes(budget)}; refused before allocating (set {BUDGET_VARIABLE} to "
            "raise the budget if the machine has the memory)")
