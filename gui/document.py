"""The open document: one graph, its undo stack, its file and whether it is saved.

The :class:`Document` keeps the same :class:`~layerloom.graph.Graph` object for the whole
session; opening a file replaces its content (``Graph.replace_with``), so the
canvas and the inspector, which follow the graph's events, never need rewiring.
"Unsaved changes" is the undo stack's clean state, as in every Qt editor.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QUndoStack

from layerloom.graph import Graph, load_graph, save_graph

UNTITLED = "Untitled"
RECENT_KEY = "recentFiles"
MAX_RECENT = 10


class Document(QObject):
    """The graph being edited, where it lives on disk and whether it is saved.

    Signals
    -------
    modifiedChanged(bool)
        True when there are unsaved changes, False once saved (or undone back).
    pathChanged(object)
        The new :class:`~pathlib.Path`, or ``None`` for an untitled document.
    replaced()
        The content was replaced by another graph (New, Open, an import, a
        recovery): whatever belonged to the one before (its training runs) goes.
    saved(object)
        The graph was written to this :class:`~pathlib.Path` (runs of a graph that
        had no file yet are kept beside it from then on).
    """

    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)
    replaced = Signal()
    saved = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph = Graph()
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("undoStack")
        self._path: Path | None = None
        self._origin: str | None = None
        # A bound method, not a lambda: Qt drops the connection when this object
        # goes, so a stack emitting while it is destroyed calls nothing stale.
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    def _on_clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    # ------------------------------------------------------------ state
    @property
    def path(self) -> Path | None:
        return self._path

    def _set_path(self, path: Path | None) -> None:
        path = None if path is None else Path(path)
        if path != self._path:
            self._path = path
            self.pathChanged.emit(path)

    @property
    def origin(self) -> str | None:
        """Where an imported graph came from (``model.py:Net``) until it is saved;
        the title names it. Changes are announced with ``pathChanged``."""
        return self._origin

    def _set_origin(self, origin: str | None) -> None:
        if origin != self._origin:
            self._origin = origin
            self.pathChanged.emit(self._path)

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        """File name for the title bar; ``Untitled`` until first saved."""
        return self._path.name if self._path else UNTITLED

    # ------------------------------------------------------------ changes
    def new(self) -> None:
        """An empty, untitled, unmodified document."""
        self._adopt(Graph(), None)

    def open(self, path: str | Path) -> None:
        """Replace the content with the file at ``path``.

        Raises :class:`~layerloom.graph.GraphFileError` (with the loader's message) before
        anything changes, so a bad file leaves the current document as it was.
        """
        path = Path(path)
        self.take(load_graph(path), path)

    def take(self, graph: Graph, path: str | Path | None) -> None:
        """Take over ``graph``, just read from ``path`` (``None``: as an untitled
        copy), as the new unmodified document; ``graph`` itself is emptied (its
        nodes move here instead of being copied: a big file read in the
        background opens without a second pass over it)."""
        self._adopt(graph, None if path is None else Path(path).absolute(), take=True)

    def open_copy(self, path: str | Path) -> None:
        """Open ``path`` as a new untitled document (templates, samples): saving
        asks for a new name instead of overwriting the original."""
        self.take(load_graph(Path(path)), None)

    def open_imported(self, graph: Graph, origin: str) -> None:
        """Take over an imported graph as a new untitled, unmodified document;
        ``origin`` (``model.py:Net``, ``model.onnx``) names its source in the
        title until it is saved."""
        self._adopt(graph, None)
        self._set_origin(origin)

    def restore(self, graph: Graph, original_path: Path | None) -> None:
        """Take over a recovered graph: it belongs to ``original_path`` but is not
        saved there, so the document starts out modified."""
        self._adopt(graph, original_path, take=True)
        self.undo_stack.resetClean()

    def save(self, path: str | Path | None = None) -> Path:
        """Write the graph atomically to ``path`` (default: the current file).

        Raises ``ValueError`` for an untitled document without ``path`` and
        ``OSError`` when the file cannot be written (the old file is kept).
        """
        target = Path(path) if path is not None else self._path
        if target is None:
            raise ValueError("an untitled document needs a file name to be saved")
        save_graph(self.graph, target)
        self.undo_stack.setClean()
        self._set_path(target.absolute())
        self._set_origin(None)
        self.saved.emit(self._path)
        return target

    def _adopt(self, graph: Graph, path: Path | None, take: bool = False) -> None:
        self.graph.replace_with(graph, take)
        self.undo_stack.clear()  # opening a file clears the stack
        self.undo_stack.setClean()
        self._set_path(path)
        self._set_origin(None)
        self.replaced.emit()


class RecentFiles:
    """The last :data:`MAX_RECENT` files opened or saved, newest first.

    Kept in the user's settings as JSON text, which reads back identically in
    every QSettings format (INI files turn a one-element list into a string).
    """

    def __init__(self, settings: QSettings, limit: int = MAX_RECENT) -> None:
        self._settings = settings
        self._limit = limit

    def paths(self) -> list[Path]:
        raw = self._settings.value(RECENT_KEY, "[]")
        try:
            items = json.loads(raw) if isinstance(raw, str) else []
        except ValueError:
            items = []
        return [Path(p) for p in items if isinstance(p, str)][: self._limit]

    def add(self, path: str | Path) -> None:
        path = Path(path).absolute()
        items = [path] + [p for p in self.paths() if p != path]
        self._write(items[: self._limit])

    def remove(self, path: str | Path) -> None:
        path = Path(path).absolute()
        self._write([p for p in self.paths() if p != path])

    def clear(self) -> None:
        self._write([])

    def _write(self, items: list[Path]) -> None:
        self._settings.setValue(RECENT_KEY, json.dumps([str(p) for p in items]))
        self._settings.sync()
