"""Command-line options made from the settings' declaration (:mod:`graph.settings`).

Every setting with a ``flag`` becomes an option of ``layerloom train``: its name and
value name from the flag, its help from the setting's help with the allowed range or
choices and the declared default, its choices for a ``choice`` setting, and a type
that reads the text and checks the value with the same rules as the file loader
and the set-up form (a refused value ends in argparse's one ``error:`` line). An
option left out is ``None``: the file's value holds.
"""

from __future__ import annotations

import argparse
from typing import Any

from layerloom.graph import Param, ParamError
from layerloom.graph import settings as declaration


def options() -> list[tuple[str, Param]]:
    """``(section, setting)`` for every setting with a command-line flag, dataset first."""
    return [(section, param) for section in declaration.SECTIONS
            for param in declaration.declared(section) if param.flag]


def dest(param: Param) -> str:
    """The attribute of the parsed arguments that holds ``param``'s option
    (``--batch-size`` -> ``batch_size``)."""
    return param.flag.split()[0].removeprefix("--").replace("-", "_")


def add_options(parser, groups: dict[str, Any] | None = None) -> None:
    """Add an option for every setting with a flag to ``parser`` (or to the
    argument group ``groups[name]`` given for a setting)."""
    for _section, param in options():
        flag, _, metavar = param.flag.partition(" ")
        target = (groups or {}).get(param.name, parser)
        kwargs: dict[str, Any] = {"dest": dest(param), "default": None, "help": option_help(param)}
        if param.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif param.kind == "choice":
            kwargs["choices"] = param.choices
        else:
            kwargs["type"] = _reader(param)
            if metavar:
                kwargs["metavar"] = metavar
        target.add_argument(flag, **kwargs)


def option_help(param: Param) -> str:
    """The setting's help, then what is allowed and the default (``%`` escaped for argparse)."""
    allowed = param.range_text()
    default = param.default
    if param.kind == "text" and default == "":
        shown = "none"
    elif isinstance(default, bool):
        shown = "on" if default else "off"
    else:
        shown = str(default)
    parts = [p for p in (allowed, f"default: the file's, else {shown}") if p]
    text = f"{param.help[:1].lower()}{param.help[1:]} ({'; '.join(parts)})"
    return text.replace("%", "%%")


def _reader(param: Param):
    """argparse ``type``: text -> the checked value of ``param``."""

    def read(text: str) -> Any:
        try:
            return param.coerce(_from_text(param, text))
        except ParamError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    read.__name__ = param.name  # argparse names the type in some messages
    return read


def _from_text(param: Param, text: str) -> Any:
    """The value ``text`` spells for ``param``'s kind; text that is no number stays
    text, for the setting's own words (``full``) or its error message."""
    kind = param.kind
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind in ("ints", "floats"):
            number = int if kind == "ints" else float
            return tuple(number(part) for part in text.replace(",", " ").split())
    except ValueError:
        return text
    return text


def overrides(args, section: str) -> dict[str, Any]:
    """The settings of ``section`` given on the command line (checked already)."""
    found = {}
    for where, param in options():
        value = getattr(args, dest(param), None)
        if where == section and value is not None:
            found[param.name] = value
    return found
