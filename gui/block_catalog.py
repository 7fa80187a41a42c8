"""The blocks the palette and the quick-add popup offer: built-ins and the user's library.

One shared :func:`catalog` reads :mod:`layerloom.graph.block_store` (the folder the
command line uses too) and reads it again when the library folder changes (a
block saved or deleted, here or by ``layerloom blocks``), saying ``changed``.
Lists name a stored block by a key, ``"block:NAME"``, next to the layer type ids.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal

from layerloom.graph.block_store import BUILTIN, StoredBlock, all_blocks, user_blocks_dir

BLOCK_KEY = "block:"
BUILTIN_CATEGORY = "Blocks"
LIBRARY_CATEGORY = "My blocks"


def block_key(name: str) -> str:
    return BLOCK_KEY + name


def key_block_name(key: str | None) -> str | None:
    """The block name in a ``"block:NAME"`` key; ``None`` for a layer type id."""
    return key[len(BLOCK_KEY):] if isinstance(key, str) and key.startswith(BLOCK_KEY) else None


def block_category(block: StoredBlock) -> str:
    return BUILTIN_CATEGORY if block.source == BUILTIN else LIBRARY_CATEGORY


def block_doc(block: StoredBlock) -> str:
    s = block.summary()
    ports = ", ".join(f"{k} {v}" for k, v in s["inputs"].items())
    outs = ", ".join(f"{k} {v}" for k, v in s["outputs"].items())
    exposed = ", ".join(s["exposed"]) or "none"
    params = "?" if s["params"] is None else f"{s['params']:,}"
    lead = f"{block.description} " if block.description else ""
    return f"{lead}In: {ports}. Out: {outs}. Parameters: {exposed}. {params} weights."


class BlockCatalog(QObject):
    """The stored blocks, read once per state of the library folder."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._state: tuple | None = None
        self._blocks: list[StoredBlock] = []
        self._docs: dict[str, str] = {}
        self.warnings: list[str] = []

    @staticmethod
    def folder():
        return user_blocks_dir()

    def _folder_state(self) -> tuple:
        folder = self.folder()
        try:
            return (str(folder), os.stat(folder).st_mtime_ns)
        except OSError:
            return (str(folder), None)

    def blocks(self) -> list[StoredBlock]:
        """Built-ins, then the user's blocks (read again if the folder changed)."""
        state = self._folder_state()
        if state != self._state:
            self._state = state
            self._blocks, self.warnings = all_blocks(self.folder())
            self._docs = {}
        return self._blocks

    def reload(self) -> None:
        """Read the folder again and tell the lists."""
        self._state = None
        self.blocks()
        self.changed.emit()

    def get(self, name: str) -> StoredBlock | None:
        return next((b for b in self.blocks() if b.name == name), None)

    def doc(self, block: StoredBlock) -> str:
        if block.name not in self._docs:
            self._docs[block.name] = block_doc(block)
        return self._docs[block.name]

    def search(self, text: str) -> list[StoredBlock]:
        """Blocks whose name or category hold every word of ``text`` (not the
        description: it names layers, and a layer search would list every block);
        names that start with it first."""
        words = text.lower().split()
        found = []
        for i, b in enumerate(self.blocks()):
            hay = " ".join((b.name, b.name.replace("_", " "), block_category(b), "block")).lower()
            if words and all(w in hay for w in words):
                found.append((not b.name.lower().startswith(text.strip().lower()), i, b))
        return [b for *_, b in sorted(found, key=lambda t: t[:2])]


def ranked(specs: list, blocks: list[StoredBlock], query: str) -> list:
    """One list of search results: the layers and blocks whose name starts with
    ``query`` (layers first), then the other layers, then the other blocks."""
    q = query.strip().lower()

    def named(name: str, *more: str) -> bool:
        return any(n.lower().startswith(q) for n in (name, *more))

    first = [s for s in specs if named(s.name, s.type_id)] + [b for b in blocks if named(b.name)]
    return first + [s for s in specs if s not in first] + [b for b in blocks if b not in first]


def result_key(entry) -> str:
    """The list key of a search result: a type id, or ``"block:NAME"``."""
    return block_key(entry.name) if isinstance(entry, StoredBlock) else entry.type_id


_CATALOG: BlockCatalog | None = None


def catalog() -> BlockCatalog:
    """The application's one catalog."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = BlockCatalog()
    return _CATALOG
