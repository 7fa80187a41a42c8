"""Typed parameter schemas.

Every layer declares its parameters with :class:`Param`, and so do the options of
built-in datasets and of user data files. The schema is the single source for
defaults, ranges, choices and help text: the inspector and the set-up panel build
their forms from it, the file loader checks values against it, and
``Graph.set_param`` refuses values it does not allow.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from layerloom.graph.errors import ParamError

KINDS = ("int", "float", "bool", "choice", "ints", "text", "path", "columns")

# Bounds applied when a Param gives none: keeps "huge numbers" from files out of
# the model (a 10**30-unit Dense layer is a typo, not a request).
INT_LIMIT = 1_000_000_000
FLOAT_LIMIT = 1e12
MAX_TUPLE_LEN = 8
MAX_TEXT = 4096  # characters of a text or path value
MAX_COLUMNS = 100_000  # columns named by one ``columns`` value


@dataclass(frozen=True)
class Param:
    """One parameter of a layer.

    Parameters
    ----------
    name : str
        Key in the node's params and in files.
    kind : str
        One of ``int``, ``float``, ``bool``, ``choice``, ``ints`` (a tuple of ints),
        ``text`` (a string), ``path`` (a file's path, as a string) or ``columns``
        (table columns by name or 0-based index: one, or a tuple of several).
    default : Any
        The value a new node gets. ``None`` makes the parameter optional: ``None``
        is then accepted and means what ``unset`` says.
    help : str
        One line shown as tooltip and in the inspector.
    minimum, maximum : float, optional
        Inclusive range for numbers (for ``ints``: for every element).
    choices : tuple, optional
        Allowed values for ``choice`` (strings, or ``True``/``False``); for
        ``ints``, strings also accepted in place of a tuple (``padding='same'``).
    length : int, optional
        Fixed tuple length for ``ints``, ``None`` meaning 1..MAX_TUPLE_LEN
        elements; for ``text``, the exact number of characters.
    label : str, optional
        Name shown in the form; defaults to ``name`` with spaces.
    key : bool
        Shown on the canvas node as one of its key parameters.
    unset : str, optional
        For an optional parameter: what leaving it unset means, in words
        (``"last column"``); forms show it in the empty field.
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    length: int | None = None
    label: str = ""
    key: bool = False
    unset: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}; use one of {KINDS}")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def optional(self) -> bool:
        """Whether ``None`` is a value: the default is ``None``."""
        return self.default is None

    def coerce(self, value: Any) -> Any:
        """Return ``value`` in canonical form, or raise :class:`ParamError`.

        Canonical forms: ``int``, ``float``, ``bool``, ``str``, tuples of ints and,
        for ``columns``, an ``int`` or ``str`` or a tuple of them. A single int
        given for an ``ints`` param of fixed length is repeated (``kernel_size=3``
        means ``(3, 3)`` for a 2-d convolution), as in PyTorch; text with commas
        given for ``columns`` names several (``"a, b"`` means ``("a", "b")``).
        ``None`` is kept for an optional param.
        """
        kind = self.kind
        if value is None and self.optional:
            return None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"{self.name} must be true or false, got {value!r}")
        if kind == "choice":
            for choice in self.choices:
                if _same(value, choice):
                    return choice
            raise ParamError(
                f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
            )
        if kind in ("text", "path"):
            return self._check_text(value)
        if kind == "columns":
            return self._check_columns(value)
        if kind == "int":
            return self._check_int(value, self.name)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number, got {value!r}")
            try:
                value = float(value)
            except OverflowError:  # an integer beyond float range
                raise ParamError(f"{self.name} must be a finite number, got an integer of "
                                 f"{len(str(abs(value)))} digits") from None
            if not math.isfinite(value) or abs(value) > FLOAT_LIMIT:
                raise ParamError(f"{self.name} must be a finite number, got {value!r}")
            self._check_range(value)
            return value
        # ints
        if isinstance(value, str):
            if value in self.choices:
                return value
            allowed = f" or one of {', '.join(map(repr, self.choices))}" if self.choices else ""
            raise ParamError(f"{self.name} must be a tuple of ints{allowed}, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and self.length:
            value = (value,) * self.length
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{self.name} must be a tuple of ints, got {value!r}")
        if self.length is not None and len(value) != self.length:
            raise ParamError(
                f"{self.name} needs {self.length} values, got {len(value)}: {list(value)!r}"
            )
        if not 1 <= len(value) <= MAX_TUPLE_LEN:
            raise ParamError(
                f"{self.name} needs 1 to {MAX_TUPLE_LEN} values, got {len(value)}"
            )
        return tuple(self._check_int(v, self.name) for v in value)

    def _check_text(self, value: Any) -> str:
        if self.kind == "path" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        what = "a path" if self.kind == "path" else "text"
        if not isinstance(value, str):
            raise ParamError(f"{self.name} must be {what}, got {value!r}")
        if self.length is not None and len(value) != self.length:
            count = "one character" if self.length == 1 else f"{self.length} characters"
            raise ParamError(f"{self.name} must be {count}, got {value!r}")
        if self.kind == "path" and not value.strip():
            raise ParamError(f"{self.name} must be a path, got an empty one {value!r}")
        if len(value) > MAX_TEXT:
            raise ParamError(f"{self.name} is too long: {len(value):,} characters (limit {MAX_TEXT:,})")
        return value

    def _check_columns(self, value: Any) -> int | str | tuple:
        if isinstance(value, str) and "," in value:
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (list, tuple)):
            if not 1 <= len(value) <= MAX_COLUMNS:
                raise ParamError(f"{self.name} needs 1 to {MAX_COLUMNS:,} columns, got {len(value):,}")
            return tuple(self._check_column(v) for v in value)
        return self._check_column(value)

    def _check_column(self, value: Any) -> int | str:
        if isinstance(value, str) and value and len(value) <= MAX_TEXT:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return self._check_int(value, self.name)
        raise ParamError(
            f"{self.name} must name columns by name or 0-based index, such as 'price' or 2, got {value!r}"
        )

    def _check_int(self, value: Any, name: str) -> int:
        limit = self.int_limit
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) <= limit:
                value = int(value)
            else:
                raise ParamError(f"{name} must be a whole number, got {value!r}")
        if abs(value) > limit:
            raise ParamError(f"{name} is too large: {value} (limit {limit:,})")
        self._check_range(value)
        return value

    @property
    def int_limit(self) -> int:
        """The largest magnitude of a whole number: ``INT_LIMIT``, unless the declared
        range reaches further (a 64-bit seed)."""
        bounds = [abs(b) for b in (self.minimum, self.maximum) if b is not None]
        return int(max([INT_LIMIT, *bounds]))

    def _check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{self.name} must be at least {_fmt(self.minimum)}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"{self.name} must be at most {_fmt(self.maximum)}, got {value!r}")

    def to_json(self, value: Any) -> Any:
        """Plain JSON value for canonical ``value`` (tuples become lists)."""
        return list(value) if isinstance(value, tuple) else value


def _same(value: Any, choice: Any) -> bool:
    """``value`` is ``choice`` as a user means it: ``True`` is not ``1``, nor ``1`` ``True``."""
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice
    return isinstance(value, type(choice)) and value == choice


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def Int(name, default, help="", minimum=None, maximum=None, **kw) -> Param:
    return Param(name, "int", default, help, minimum, maximum, **kw)


def Float(name, default, help="", minimum=None, maximum=None, **kw) -> Param:
    return Param(name, "float", default, help, minimum, maximum, **kw)


def Bool(name, default, help="", **kw) -> Param:
    return Param(name, "bool", default, help, **kw)


def Choice(name, default, choices, help="", **kw) -> Param:
    return Param(name, "choice", default, help, choices=tuple(choices), **kw)


def Ints(name, default, help="", length=None, minimum=None, maximum=None, choices=(), **kw) -> Param:
    return Param(
        name, "ints", default, help, minimum, maximum, choices=tuple(choices), length=length, **kw
    )


def Text(name, default, help="", length=None, **kw) -> Param:
    return Param(name, "text", default, help, length=length, **kw)


def FilePath(name, default, help="", **kw) -> Param:
    return Param(name, "path", default, help, **kw)


def Columns(name, default, help="", **kw) -> Param:
    return Param(name, "columns", default, help, **kw)
