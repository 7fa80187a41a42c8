"""Numbers as the window shows them: parameter counts, FLOPs and sizes in bytes.

The GUI's own short forms (``"1.23 M"``, ``"3.1 KiB"``, ``"512 B"``) for the
inspector, the status bar and the template gallery; the file loader's
:func:`layerloom.graph.fileio.human_bytes` writes whole words for error messages
(``"512 bytes"``) and stays as it is.
"""

from __future__ import annotations


def human_count(n: int) -> str:
    """``1234567`` -> ``"1.23 M"``; small numbers stay exact (``"25,120"``)."""
    n = int(n)
    if abs(n) < 100_000:
        return f"{n:,}"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {suffix}"
    return str(n)


def human_bytes(n: int) -> str:
    """``3_200`` -> ``"3.1 KiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
