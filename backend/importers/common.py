"""What the PyTorch and ONNX importers share: errors, values, the result.

An importer walks the source model once, in data-flow order, and turns each
operation into LayerLoom nodes through a
:class:`~layerloom.backend.importers.builder.GraphBuilder`. Reshapes are kept
lazy (a :class:`Value` remembers the shape it is viewed as), so a chain such as
``x.view(n, -1).unsqueeze(1)`` becomes one Reshape node, or none at all when the
shape comes back to what the producing node gives. Whatever the importer cannot
map is collected as a :class:`Problem`; at the end the import either fails with
the whole list (:class:`ModelImportError`) or the builder lays the graph out,
validates it, compiles it and loads the source weights into the compiled model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import check_close
from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error

MAX_LABEL = 80
MAX_LISTED_ERRORS = 8
MAX_GROUPED = 4  # places named for one kind of problem


# ------------------------------------------------------------------- errors
@dataclass(frozen=True)
class Problem:
    """One part of a source model that LayerLoom cannot represent.

    Attributes
    ----------
    what : str
        The operation: ``"torch.nn.Bilinear"``, ``"torch.sin"``, ``"ONNX Einsum"``.
    where : str
        Where it is: ``"module 'head.bil'"``, ``"'sin' in module 'block'"``,
        ``"node 'node_Einsum_3'"``.
    line : str
        ``"model.py:12: return torch.sin(x)"`` when the source line is known.
    why : str
        What exactly is not supported, when more than the operation itself.
    """

    what: str
    where: str
    line: str = ""
    why: str = ""

    def __str__(self) -> str:
        text = f"{self.what} at {self.where}"
        if self.why:
            text += f": {self.why}"
        if self.line:
            text += f" ({self.line})"
        return text


class ModelImportError(Exception):
    """A model cannot be imported. ``problems`` lists every part at fault, so the
    user sees the whole list at once rather than one problem per attempt."""

    def __init__(self, summary: str, problems: Iterable[Problem] = ()):
        self.summary = summary
        self.problems = list(problems)
        lines = [summary, *(f"  - {line}" for line in _grouped(self.problems))]
        super().__init__("\n".join(lines))


def _grouped(problems: list[Problem]) -> list[str]:
    """One line per kind of problem: an unrolled loop or a decomposed layer repeats
    the same operation many times, and a long list would hide the other kinds."""
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.what, p.why), []).append(p)
    lines = []
    for (what, why), group in groups.items():
        if len(group) == 1:
            lines.append(str(group[0]))
            continue
        places = ", ".join(p.where for p in group[:MAX_GROUPED])
        more = f" and {len(group) - MAX_GROUPED} more" if len(group) > MAX_GROUPED else ""
        text = f"{what} at {places}{more}"
        if why:
            text += f": {why}"
        if group[0].line:
            text += f" ({group[0].line})"
        lines.append(text)
    return lines


class Unsupported(Exception):
    """Raised by a mapping rule: the operation cannot be mapped, ``why`` says why."""

    def __init__(self, why: str = ""):
        super().__init__(why)
        self.why = why


def map_until_settled(attempt: Callable[[dict[str, str]], Any], subject: str, part: str) -> Any:
    """Map a source model with ``attempt(modes)`` (a mapper after its pass), and
    once more when the recurrent layers' uses ask for other modes than assumed.

    ``modes`` is recurrent layer -> ``"seq"`` or ``"last"`` (see
    :class:`Recurrent`); the first pass assumes every step. Returns the mapper of
    the last pass.

    Raises
    ------
    ModelImportError
        Listing the mapper's problems, ``part`` naming what is at fault
        (``"operator"``) and ``subject`` the source model.
    """
    modes: dict[str, str] = {}
    for _ in range(2):
        mapper = attempt(modes)
        needed = mapper.modes_needed()
        if mapper.problems:
            count = len(mapper.problems)
            raise ModelImportError(
                f"cannot import {subject}: {count} {part}{'s' if count > 1 else ''} "
                f"{'have' if count > 1 else 'has'} no LayerLoom equivalent:", mapper.problems,
            )
        if needed == modes:
            break
        modes = needed
    return mapper


def refuse(condition: bool, why: str) -> None:
    """Raise :class:`Unsupported` with ``why`` when ``condition`` holds."""
    if condition:
        raise Unsupported(why)


# ------------------------------------------------------------------- values
@dataclass(frozen=True)
class Value:
    """A tensor of the source model, as an output port of a LayerLoom node.

    ``node_shape`` is the per-sample shape the node gives on ``port``; ``shape`` the
    per-sample shape the source model sees. They differ when the source reshaped
    the tensor and no Reshape node has been made yet (it is made on first use).
    """

    node: str
    port: str
    node_shape: tuple[int, ...]
    shape: tuple[int, ...]
    dtype: str = "float"

    def viewed(self, shape: Sequence[int]) -> Value:
        """The same values seen with another per-sample shape (a lazy reshape)."""
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) != math.prod(self.shape):
            raise Unsupported(f"reshapes {self.shape} into {shape}, which mixes samples of the batch")
        return replace(self, shape=shape)

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass
class Recurrent:
    """An RNN, LSTM or GRU node being imported, with the uses seen of its results.

    ``mode`` is ``"seq"`` (every step) or ``"last"`` (the last step): LayerLoom's
    recurrent layers return one of them (``return_sequences``). Importers run a
    first pass with ``"seq"``, read ``uses``, and map again when the model only
    uses the last step.
    """

    key: str
    node: str
    hidden: int
    dirs: int
    layers: int
    steps: int
    mode: str = "seq"
    uses: set[str] = field(default_factory=set)
    where: str = ""
    time_major: bool = False  # torch's batch_first=False: the output is (T, N, H·dirs)

    def rows(self) -> tuple[tuple[int, int], ...]:
        """(layer, direction) of each row of torch's ``h_n``."""
        return tuple((layer, d) for layer in range(self.layers) for d in range(self.dirs))


@dataclass(frozen=True)
class RecurrentPart:
    """A piece of a recurrent layer's results on the way to a tensor LayerLoom has.

    ``kind`` is one of: ``call`` (torch's ``(output, state)`` tuple), ``state``
    (an LSTM's ``(h_n, c_n)``), ``hn`` (``h_n``; ``rows`` says which (layer,
    direction) each row holds), ``cn``, ``seq`` (every step, batch first),
    ``select_last`` / ``select_first`` (one step of a bidirectional output),
    ``half_fwd`` / ``half_bwd`` (one direction's last step), ``y``, ``yt`` and
    ``seq_tm`` (ONNX's time-major outputs on the way to ``seq``).
    """

    rec: Recurrent
    kind: str
    rows: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class TimeMajor:
    """``value`` (batch first) with its first two dims swapped: a sequence
    (T, N, F) as ONNX's recurrent operators and torch's ``batch_first=False``
    layers read it, or a recurrent state (layers·dirs, N, H). LayerLoom keeps the
    batch first; this is only a step on the way to a layer that reads it so (or
    to a transpose back)."""

    value: Value


# ------------------------------------------------------------------ builder
@dataclass
class ImportResult:
    """An imported model.

    Attributes
    ----------
    graph : Graph
        The editable graph, laid out and valid.
    model : CompiledGraph
        ``graph`` compiled, holding the source model's weights (eval mode).
    origins : dict
        Name in ``model.state_dict()`` -> the source tensor it was made from
        (``features.0.weight``, an ONNX initializer). One source tensor may give
        several (a module used twice; an ONNX recurrent operator's weights, split
        by direction).
    notes : list of str
        What the user should know (shared weights, a fixed batch size, ...).
    max_difference : float
        Largest difference between the source model's and ``model``'s outputs on
        random inputs (eval mode).
    batch_dims : list of int
        Where each source input had its batch dim (empty: dim 0 for all). The
        graph's inputs are batch first: :meth:`batch_first` lays source inputs out
        for ``model``.
    """

    graph: Graph
    model: CompiledGraph
    origins: dict[str, str]
    notes: list[str] = field(default_factory=list)
    max_difference: float = 0.0
    batch_dims: list[int] = field(default_factory=list)

    def batch_first(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``inputs`` laid out for ``model``, whose inputs are batch first: each
        source input whose batch was in another dim (``batch_dims``, a time-first
        sequence or a recurrent state) has it moved to the front."""
        dims = self.batch_dims or [0] * len(inputs)
        return tuple(x.movedim(d, 0) for x, d in zip(inputs, dims, strict=True))

    @property
    def key_map(self) -> dict[str, str]:
        """Source tensor name -> name in ``model.state_dict()`` (the first, when a
        source tensor gives several): loads a source checkpoint into ``model``."""
        mapping: dict[str, str] = {}
        for target, source in self.origins.items():
            mapping.setdefault(source, target)
        return mapping

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())


def save_import(result: ImportResult, path: str | Path) -> list[Path]:
    """Write the graph to ``path`` (``.loom``) and its weights next to it as
    ``<name>.safetensors`` (with the graph embedded). Returns both paths.

    Raises
    ------
    ModelImportError
        The files cannot be written.
    """
    from layerloom.backend.export.common import ExportError
    from layerloom.backend.export.weights import save_weights
    from layerloom.graph import save_graph

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        raise ModelImportError(f"give the graph file a .loom name, not {path.name}; the weights go next to it")
    weights = path.with_suffix(".safetensors")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelImportError(f"cannot write {path}: the folder {parent} does not exist")
    if path.is_dir():
        raise ModelImportError(f"cannot write {path}: it is a folder; give a file name")
    try:
        save_weights(result.graph, result.model, weights)
        save_graph(result.graph, path)
    except ExportError as exc:
        raise ModelImportError(str(exc)) from None
    except OSError as exc:
        raise ModelImportError(describe_write_error(exc, str(path))) from None
    return [path, weights]


# ------------------------------------------------------------------- helpers
def clean_label(text: str) -> str:
    """A node label from a source name: one line, at most :data:`MAX_LABEL` chars
    (the end of a long dotted path is kept: it names the layer)."""
    text = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return text if len(text) <= MAX_LABEL else text[-MAX_LABEL:]


def label_of(name: str) -> str:
    """A node label from a weight's name: ``features.0.weight`` -> ``features.0``;
    a generated name without a dot gives none."""
    head, dot, _ = name.rpartition(".")
    return clean_label(head) if dot else ""


def as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    return torch.from_numpy(value.copy()) if hasattr(value, "dtype") else torch.as_tensor(value)


def compare(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor], what: str) -> float:
    """Largest difference between the imported model's outputs and the source's;
    raises :class:`ModelImportError` beyond the exporters' tolerance (relative for
    large outputs), since an import that changes the results must not be kept."""
    return check_close(got, expected, "the imported graph", what, ModelImportError,
                       "; please report this model")


def per_sample(shape: Sequence[int], batch: int, what: str) -> tuple[int, ...]:
    """Drop the batch dim of a recorded shape; refuse a tensor whose first dim is
    not the batch (the operation moved or mixed samples)."""
    shape = tuple(int(d) for d in shape)
    if not shape or shape[0] != batch:
        raise Unsupported(
            f"{what} gives a tensor of shape {shape} whose first dim is not the batch ({batch} in the "
            "trial run): LayerLoom keeps the batch first and each sample apart"
        )
    return shape[1:]
