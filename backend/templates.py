"""The teaching templates: example graphs shipped in ``resources/examples``.

A template is an ordinary ``.loom`` file with its dataset and training settings, so
opening it and pressing Train works with no other step. Its name is the file stem
(``cnn_digits``); its ``meta`` section gives ``title``, ``description``, ``group``
(how the gallery and ``layerloom new --list`` group them), ``order`` (its place
within the group) and ``expected``, the result its saved settings reach.

``expected`` is text a person reads and ``benchmarks/templates_table.py`` checks:
clauses separated by ``;``, each ``METRIC >= NUMBER`` or ``METRIC <= NUMBER`` (a
trailing ``%`` divides by 100), or the single word ``diverges``. Metrics are the
final epoch's ``train``/``val``/``test`` ``loss``, ``accuracy``, ``mae`` and ``r2``,
plus ``val loss rise`` (how far the last validation loss ends above the best one,
as a fraction of the best), ``grad ratio`` (gradient norm of the first layer
with weights over that of the last; the median over the run's statistics) and
``val mean iou`` (a segmentation's mean intersection over union, from the last
validation confusion matrix), ``dead units`` (the share of units of the
layers followed by a ReLU that are zero for every probe sample, at the end), and
for GANs (:mod:`layerloom.backend.training.gan_measures`) ``modes covered`` and
``good share`` (2-D clusters), ``classes covered`` and ``confident share``
(labelled images, judged by a classifier of the real ones). A graph trained on loss
terms also reports each term, ``val loss_reconstruction`` (``loss_`` and the node's name).

Files are read through :mod:`importlib.resources`, so this works from a source
checkout and from an installed wheel alike.
"""

from __future__ import annotations

import difflib
import re
from importlib.resources.abc import Traversable
from typing import Any, NamedTuple

from layerloom.graph import Graph, loads
from layerloom.graph.fileformat import SUFFIX, parse
from layerloom.resources import EXAMPLES, resource

# Gallery order of the groups; templates with another group come after these.
GROUPS = ("Basics", "Activations", "Losses", "Optimisation", "Deep networks",
          "Regularisation", "Architectures", "Generative models", "MNIST-1D")
OTHER_GROUP = "More examples"
METRICS = ("loss", "accuracy", "mae", "r2")
SPECIAL_METRICS = ("val loss rise", "grad ratio", "val mean iou", "dead units",
                   "modes covered", "good share", "classes covered", "confident share")  # the last four: GANs
DIVERGES = "diverges"
_TERM = re.compile(r"^(train|val|test) loss_[a-z0-9_]+$")  # a loss term of a graph (training/loss_terms.py)
_CLAUSE = re.compile(r"^\s*([a-z0-9_ ]+?)\s*(>=|<=)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$")


class TemplateError(LookupError):
    """No template of that name; the message lists close names."""


class Template(NamedTuple):
    """One template as lists show it."""

    name: str
    title: str
    description: str
    path: Traversable


class Expectation(NamedTuple):
    """One clause of ``meta["expected"]``: ``metric op value`` (or ``diverges``)."""

    metric: str
    op: str  # ">=", "<=", or "" for diverges
    value: float

    def holds(self, measured: float | None) -> bool:
        """Whether ``measured`` meets the clause (never for a missing value)."""
        if measured is None:
            return False
        if self.op == ">=":
            return measured >= self.value
        if self.op == "<=":
            return measured <= self.value
        return bool(measured)


def folder() -> Traversable:
    """The folder of template files inside the installed ``resources`` package."""
    return resource(EXAMPLES)


def template_names() -> list[str]:
    """Every template name (file stem), sorted."""
    return sorted(
        entry.name[: -len(SUFFIX)] for entry in folder().iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIX)
    )


def template_path(name: str) -> Traversable:
    """The file of template ``name``.

    Raises
    ------
    TemplateError
        When there is none; the message names the closest templates.
    """
    if isinstance(name, str) and name in template_names():
        return folder().joinpath(name + SUFFIX)
    raise TemplateError(unknown_message(name))


def unknown_message(name: Any) -> str:
    """``no template 'x'; did you mean ...`` naming the closest templates."""
    close = close_names(str(name))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"no template {str(name)!r}{hint} ('layerloom new --list' lists them all)"


def close_names(name: str, limit: int = 5) -> list[str]:
    """Names that contain ``name`` (``sine`` -> the three ``*_sine``), then the most
    similar spellings (``cnn_digit`` -> ``cnn_digits``)."""
    names = template_names()
    text = name.strip().lower().removesuffix(SUFFIX)
    found = [n for n in names if text and text in n]
    for n in difflib.get_close_matches(text, names, n=limit, cutoff=0.6):
        if n not in found:
            found.append(n)
    return found[:limit]


def read_meta(name: str) -> dict[str, Any]:
    """The ``meta`` section of template ``name`` (parsed, not built into a graph)."""
    path = template_path(name)
    meta = parse(path.read_bytes(), path.name).get("meta", {})
    return meta if isinstance(meta, dict) else {}


def load_template(name: str) -> Graph:
    """Template ``name`` as a new graph, ready to edit and train."""
    path = template_path(name)
    return loads(path.read_bytes(), path.name)


def group_of(meta: dict[str, Any]) -> str:
    group = meta.get("group")
    return group if isinstance(group, str) and group else OTHER_GROUP


def _text(meta: dict[str, Any], key: str, fallback: str = "") -> str:
    value = meta.get(key)
    return value if isinstance(value, str) and value else fallback


def list_templates() -> list[Template]:
    """Every template, ordered by :data:`GROUPS`, then within a group by
    ``meta["order"]`` (a teaching sequence: perceptron before MLP) and name."""
    found = []
    for name in template_names():
        meta = read_meta(name)
        title = _text(meta, "title", name.replace("_", " ").capitalize())
        order = meta.get("order")
        if isinstance(order, bool) or not isinstance(order, int):
            order = 1 << 30
        key = (_group_rank(group_of(meta)), order, name)
        found.append((key, Template(name, title, _text(meta, "description"), template_path(name))))
    return [t for _, t in sorted(found, key=lambda kt: kt[0])]


def _group_rank(group: str) -> int:
    return GROUPS.index(group) if group in GROUPS else len(GROUPS)


def parse_expected(text: str) -> list[Expectation]:
    """The clauses of a ``meta["expected"]`` text.

    Raises
    ------
    ValueError
        For a clause that does not follow the syntax in the module docstring,
        quoting it.
    """
    clauses = []
    for part in str(text).split(";"):
        part = part.strip()
        if part.lower() == DIVERGES:
            clauses.append(Expectation(DIVERGES, "", 1.0))
            continue
        match = _CLAUSE.match(part.lower())
        if not match:
            raise ValueError(
                f"cannot read the expected result {part!r}: write 'METRIC >= NUMBER' or "
                f"'METRIC <= NUMBER' (for example 'val accuracy >= 97%'), or '{DIVERGES}'"
            )
        metric, op, number, percent = match.groups()
        if metric not in known_metrics() and not _TERM.match(metric):
            raise ValueError(
                f"cannot read the expected result {part!r}: unknown metric {metric!r}; "
                f"known metrics are {', '.join(known_metrics())}"
            )
        value = float(number) / (100.0 if percent else 1.0)
        clauses.append(Expectation(metric, op, value))
    return clauses


def known_metrics() -> tuple[str, ...]:
    plain = tuple(f"{part} {m}" for part in ("train", "val", "test") for m in METRICS)
    return plain + SPECIAL_METRICS
