"""What the fuzzer needs to know about one kind of file: :class:`Format`.

Its own module, so that the tables of formats (:mod:`benchmarks.fuzz`,
:mod:`benchmarks.fuzz_data`) and the runner share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Format:
    """One kind of file, its seed files and its reader.

    ``seeds(folder)`` writes example files into ``folder`` and returns their paths;
    ``read(path)`` reads one (raising on any problem); ``clean`` are the error
    types that count as a clean refusal; ``structured`` mutates JSON text too.
    """

    name: str
    seeds: Callable[[Path], list[Path]]
    read: Callable[[Path], object]
    clean: tuple[type[BaseException], ...]
    structured: bool = False
