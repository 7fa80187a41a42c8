"""Typed parameter schemas.

Every layer declares its parameters with :class:`Param`, and so do the training and
dataset settings (:mod:`layerloom.graph.settings`), the built-in datasets' options and
the options of user data files. The
schema is the single source for defaults, ranges, choices and help text: the forms
are built from it, the file loader checks values against it, ``Graph.set_param``
refuses values it does not allow, and ``layerloom train`` makes its options from
the settings' schemas.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from layerloom.graph.errors import ParamError

KINDS = ("int", "float", "bool", "choice", "ints", "floats", "text", "path", "columns", "object")
FORMS = ("main", "more", "")

# Bounds applied when a Param gives none: keeps "huge numbers" from files out of
# the model (a 10**30-unit Dense layer is a typo, not a request).
INT_LIMIT = 1_000_000_000
FLOAT_LIMIT = 1e12
MAX_TUPLE_LEN = 8
MAX_TEXT = 10_000  # characters of a text or path value
MAX_COLUMNS = 100_000  # columns named by one ``columns`` value


@dataclass(frozen=True)
class Param:
    """One parameter of a layer, a setting or a data option.

    Parameters
    ----------
    name : str
        Key in the node's params (or the settings section) and in files.
    kind : str
        One of ``int``, ``float``, ``bool``, ``choice``, ``ints`` (a tuple of ints),
        ``floats`` (a tuple of numbers), ``text`` (a string), ``path`` (a file's
        path, as a string), ``columns`` (table columns by name or 0-based index:
        one, or a tuple of several) or ``object`` (a JSON object with text keys,
        whose values its owner checks: a dataset's options).
    default : Any
        The value a new node (or a section without this key) gets. ``None`` makes
        the parameter optional: ``None`` is then accepted and means what ``unset``
        says.
    help : str
        One line shown as tooltip, in the inspector and in command-line help.
    minimum, maximum : float, optional
        Range for numbers (for ``ints`` and ``floats``: for every element),
        inclusive unless ``exclusive_minimum`` / ``exclusive_maximum``.
    choices : tuple, optional
        Allowed values for ``choice`` (strings, or ``True``/``False``); for
        ``ints``, strings also accepted in place of a tuple (``padding='same'``).
    length : int, optional
        Fixed tuple length for ``ints`` and ``floats`` (``None``: 1..MAX_TUPLE_LEN
        elements); for ``text``, the exact number of characters.
    label : str, optional
        Name shown in the form; defaults to ``name`` with spaces.
    key : bool
        Shown on the canvas node as one of its key parameters.
    unset : str, optional
        For an optional parameter: what leaving it unset means, in words
        (``"last column"``); forms show it in the empty field.
    exclusive_minimum, exclusive_maximum : bool
        The bound itself is not allowed: ``lr`` above 0, ``momentum`` below 1.
    convert : callable, optional
        Turns another spelling into a value of the kind before the kind's checks
        (batch size ``"full"`` is 0, device ``"CUDA"`` is ``"cuda"``); raises
        :class:`ParamError` for values it knows are wrong. For rules the kind
        and range cannot say.
    form : str
        Where a form shows it: ``"main"``, ``"more"`` (folded away under More) or
        ``""`` (only in files).
    flag : str, optional
        The command-line option that sets it, as a usage line shows it:
        ``"--epochs N"`` (option, then the value's name); empty: none.
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
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    convert: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    form: str = "main"
    flag: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}; use one of {KINDS}")
        if self.form not in FORMS:
            raise ValueError(f"unknown form place {self.form!r} for {self.name}; use one of {FORMS}")
        if self.flag and not self.flag.startswith("--"):
            raise ValueError(f"flag of {self.name} must start with '--', got {self.flag!r}")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def optional(self) -> bool:
        """Whether ``None`` is a value: the default is ``None``."""
        return self.default is None

    def range_text(self) -> str:
        """The allowed range in words for help texts: ``"0 … 1000"``,
        ``"above 0, at most 1000"``; empty when unbounded."""
        lo, hi = self.minimum, self.maximum
        if lo is None and hi is None:
            return ""
        if not (self.exclusive_minimum or self.exclusive_maximum) and lo is not None and hi is not None:
            return f"{_fmt(lo)} … {_fmt(hi)}"
        parts = []
        if lo is not None:
            parts.append(f"{'above' if self.exclusive_minimum else 'at least'} {_fmt(lo)}")
        if hi is not None:
            parts.append(f"{'below' if self.exclusive_maximum else 'at most'} {_fmt(hi)}")
        return ", ".join(parts)

    def coerce(self, value: Any) -> Any:
        """Return ``value`` in canonical form, or raise :class:`ParamError`.

        Canonical forms: ``int``, ``float``, ``bool``, ``str``, ``dict`` (a copy),
        tuples of ints or floats and, for ``columns``, an ``int`` or ``str`` or a
        tuple of them. A single int given for an ``ints`` param of fixed length is
        repeated (``kernel_size=3`` means ``(3, 3)`` for a 2-d convolution), as in
        PyTorch; text with commas given for ``columns`` names several (``"a, b"``
        means ``("a", "b")``). ``None`` is kept for an optional param.
        """
        if self.convert is not None:
            value = self.convert(value)
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
            return self._check_float(value)
        if kind == "object":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ParamError(f"{self.name} must be an object with text keys, got {value!r}")
            return dict(value)
        if kind == "floats":
            return tuple(self._check_float(v) for v in self._elements(value, "numbers"))
        # ints
        if isinstance(value, str):
            if value in self.choices:
                return value
            allowed = f" or one of {', '.join(map(repr, self.choices))}" if self.choices else ""
            raise ParamError(f"{self.name} must be a tuple of ints{allowed}, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and self.length:
            value = (value,) * self.length
        return tuple(self._check_int(v, self.name) for v in self._elements(value, "ints"))

    def _elements(self, value: Any, what: str) -> list | tuple:
        """``value`` as a list or tuple of the right length (elements not checked yet)."""
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{self.name} must be a tuple of {what}, got {value!r}")
        if self.length is not None and len(value) != self.length:
            raise ParamError(
                f"{self.name} needs {self.length} values, got {len(value)}: {list(value)!r}"
            )
        if not 1 <= len(value) <= MAX_TUPLE_LEN:
            raise ParamError(
                f"{self.name} needs 1 to {MAX_TUPLE_LEN} values, got {len(value)}"
            )
        return value

    def _check_float(self, value: Any) -> float:
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
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value <= lo if self.exclusive_minimum else value < lo):
            word = "above" if self.exclusive_minimum else "at least"
            raise ParamError(f"{self.name} must be {word} {_fmt(lo)}, got {value!r}")
        if hi is not None and (value >= hi if self.exclusive_maximum else value > hi):
            word = "below" if self.exclusive_maximum else "at most"
            raise ParamError(f"{self.name} must be {word} {_fmt(hi)}, got {value!r}")

    def to_json(self, value: Any) -> Any:
        """Plain JSON value for ``value`` (tuples become lists)."""
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


def Floats(name, default, help="", length=None, minimum=None, maximum=None, **kw) -> Param:
    return Param(name, "floats", default, help, minimum, maximum, length=length, **kw)


def Text(name, default, help="", length=None, **kw) -> Param:
    return Param(name, "text", default, help, length=length, **kw)


def FilePath(name, default, help="", **kw) -> Param:
    return Param(name, "path", default, help, **kw)


def Columns(name, default, help="", **kw) -> Param:
    return Param(name, "columns", default, help, **kw)


def Object(name, help="", **kw) -> Param:
    """A JSON object (default empty) whose values its owner checks."""
    return Param(name, "object", {}, help, **kw)
