"""Typed parameter schemas.

Every layer declares its parameters with :class:`Param`. The schema is the single
source for defaults, ranges, choices and help text: the inspector builds its form
from it, the file loader checks values against it, and ``Graph.set_param`` refuses
values it does not allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from layerloom.graph.errors import ParamError

KINDS = ("int", "float", "bool", "choice", "ints")

# Bounds applied when a Param gives none: keeps "huge numbers" from files out of
# the model (a 10**30-unit Dense layer is a typo, not a request).
INT_LIMIT = 1_000_000_000
FLOAT_LIMIT = 1e12
MAX_TUPLE_LEN = 8


@dataclass(frozen=True)
class Param:
    """One parameter of a layer.

    Parameters
    ----------
    name : str
        Key in the node's params and in files.
    kind : str
        One of ``int``, ``float``, ``bool``, ``choice``, ``ints`` (a tuple of ints).
    default : Any
        The value a new node gets.
    help : str
        One line shown as tooltip and in the inspector.
    minimum, maximum : float, optional
        Inclusive range for numbers (for ``ints``: for every element).
    choices : tuple, optional
        Allowed strings for ``choice``; for ``ints``, strings also accepted in
        place of a tuple (``padding='same'``).
    length : int, optional
        Fixed tuple length for ``ints``; ``None`` means 1..MAX_TUPLE_LEN elements.
    label : str, optional
        Name shown in the form; defaults to ``name`` with spaces.
    key : bool
        Shown on the canvas node as one of its key parameters.
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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}; use one of {KINDS}")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def coerce(self, value: Any) -> Any:
        """Return ``value`` in canonical form, or raise :class:`ParamError`.

        Canonical forms: ``int``, ``float``, ``bool``, ``str`` and tuples of ints.
        A single int given for an ``ints`` param of fixed length is repeated
        (``kernel_size=3`` means ``(3, 3)`` for a 2-d convolution), as in PyTorch.
        """
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"{self.name} must be true or false, got {value!r}")
        if kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ParamError(
                f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
            )
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
        """Plain JSON value for ``value`` (tuples become lists)."""
        return list(value) if isinstance(value, tuple) else value


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
