"""Autosave and crash recovery.

While the document has unsaved changes, its graph is written every two minutes to
a recovery file in a ``recovery`` folder beside the user's settings. Each running
LayerLoom holds a :class:`QLockFile` next to its recovery file; a recovery file
whose lock is free (its process crashed or was killed) is an orphan, and the next
launch offers to restore it. A clean save or a normal close deletes the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer, Signal

from layerloom.graph import Graph, dumps, load_graph
from layerloom.graph.fileio import describe_write_error, write_atomic
from layerloom.gui.document import Document
from layerloom.gui.user_settings import user_settings

INTERVAL_MS = 2 * 60 * 1000
RECOVERY_FOLDER = "recovery"


def default_recovery_dir() -> Path:
    """``recovery/`` next to the user's settings file (the app-data folder where
    settings live in the Windows registry)."""
    name = user_settings().fileName()
    if os.path.isabs(name) and not name.startswith("\\HKEY"):
        return Path(name).parent / RECOVERY_FOLDER
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / RECOVERY_FOLDER


@dataclass
class Recovery:
    """An autosave left behind by a LayerLoom that did not close normally."""

    graph_file: Path
    original_path: Path | None
    saved_at: float
    lock: QLockFile  # held while the recovery is offered, so no other launch offers it

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        name = self.original_path.name if self.original_path else "an untitled graph"
        return f"unsaved changes to {name} from {when}"

    def load(self) -> Graph:
        """The recovered graph; raises :class:`~layerloom.graph.GraphFileError` if unreadable."""
        return load_graph(self.graph_file)

    def discard(self) -> None:
        """Delete the recovery files and release the lock."""
        for path in (self.graph_file, self.graph_file.with_suffix(".json")):
            _unlink(path)
        self.lock.unlock()


class Autosaver(QObject):
    failed = Signal(str)  # one line: why the recovery copy could not be written

    """Writes the document to its recovery file every ``interval_ms`` while modified.

    Parameters
    ----------
    document : Document
        The document to protect.
    directory : Path, optional
        Where recovery files live; :func:`default_recovery_dir` by default.
    interval_ms : int
        Time between autosaves (two minutes).
    """

    def __init__(
        self,
        document: Document,
        directory: Path | None = None,
        interval_ms: int = INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._document = document
        self.directory = Path(directory) if directory is not None else default_recovery_dir()
        self.session = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock: QLockFile | None = None
        self._saved_revision: int | None = None
        self.last_error: str | None = None
        self.timer = QTimer(self)
        self.timer.setObjectName("autosaveTimer")
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_if_modified)
        self.timer.start()
        document.modifiedChanged.connect(self._on_modified_changed)

    @property
    def recovery_file(self) -> Path:
        return self.directory / f"{self.session}.loom"

    def save_if_modified(self) -> bool:
        """Write the recovery file if there are unsaved changes not written yet.

        Returns True when a file was written. A failure to write (full disk,
        read-only folder) does not interrupt the user with a dialog: ``failed``
        carries one line for the status bar (once per problem, not every tick), no
        half-written recovery file is left, and the next tick tries again.
        """
        doc = self._document
        if not doc.is_modified or doc.graph.revision == self._saved_revision:
            return False
        try:
            self._write()
        except OSError as exc:
            problem = describe_write_error(exc, "the recovery copy")
            if problem != self.last_error:
                self.last_error = problem
                self.failed.emit(problem)
            return False
        self.last_error = None
        self._saved_revision = doc.graph.revision
        return True

    def _write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            lock = QLockFile(str(self.recovery_file.with_suffix(".lock")))
            lock.setStaleLockTime(0)  # stale only when its process is gone
            if not lock.tryLock(0):
                if lock.error() != QLockFile.LockError.LockFailedError:
                    _probe_write(self.directory)  # raises the real cause (a full disk)
                raise OSError(f"cannot lock {lock.fileName()}")
            self._lock = lock
        path = self._document.path
        info = {"path": str(path) if path else None, "saved_at": time.time()}
        write_atomic(self.recovery_file, dumps(self._document.graph).encode("utf-8"))
        write_atomic(self.recovery_file.with_suffix(".json"), (json.dumps(info) + "\n").encode())

    def discard(self) -> None:
        """Delete this session's recovery file (after a clean save or close)."""
        _unlink(self.recovery_file)
        _unlink(self.recovery_file.with_suffix(".json"))
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self._saved_revision = None

    def stop(self) -> None:
        self.timer.stop()

    def _on_modified_changed(self, modified: bool) -> None:
        if not modified:
            self.discard()

    def find_orphan(self) -> Recovery | None:
        """The newest recovery file whose LayerLoom is no longer running, locked
        for this process; ``None`` when there is none."""
        if not self.directory.is_dir():
            return None
        candidates = sorted(
            self.directory.glob("*.loom"), key=lambda p: _mtime(p), reverse=True
        )
        for graph_file in candidates:
            if graph_file == self.recovery_file:
                continue
            lock = QLockFile(str(graph_file.with_suffix(".lock")))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # another LayerLoom is running and owns it
            if not graph_file.exists():  # its owner closed cleanly meanwhile
                lock.unlock()
                continue
            original, saved_at = _read_info(graph_file.with_suffix(".json"), graph_file)
            return Recovery(graph_file, original, saved_at, lock)
        return None


def _read_info(info_file: Path, graph_file: Path) -> tuple[Path | None, float]:
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    path = info.get("path") if isinstance(info, dict) else None
    saved = info.get("saved_at") if isinstance(info, dict) else None
    if not isinstance(saved, (int, float)) or isinstance(saved, bool):
        saved = _mtime(graph_file)
    return (Path(path) if isinstance(path, str) and path else None), float(saved)


def _probe_write(folder: Path) -> None:
    """Write and flush one byte in ``folder``; raises the ``OSError`` that stops it."""
    with tempfile.TemporaryFile(dir=folder) as fh:
        fh.write(b"\0")
        fh.flush()
        os.fsync(fh.fileno())


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:  # already gone, or not ours to delete: nothing to recover from
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
