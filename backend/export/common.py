"""What every exporter shares: errors, results, example inputs, checks, atomic files.

An exporter writes to a temporary name next to the target, checks what it wrote
(reloads it and compares its outputs with the compiled model's), and only then
renames it over the target. A failed export therefore never leaves a half-written
or untrustworthy file behind, and never replaces a good one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from layerloom.graph import TensorSpec
from layerloom.graph.fileio import describe_write_error

BATCH_SIZES = (2, 3)  # every export is checked on two batch sizes
TOLERANCE = 1e-5  # largest accepted difference to the compiled model's outputs


class ExportError(Exception):
    """An export could not be written or did not pass its checks; the message says
    what failed and, where there is one, what to do."""


class WeightsError(ValueError):
    """A weights file cannot be used: unreadable, or its tensors do not match the
    graph (the message names each tensor at fault)."""


@dataclass
class ExportResult:
    """What an exporter wrote and what the user should know about it.

    Attributes
    ----------
    path : Path
        The main file written.
    format : str
        ``"safetensors"``, ``"onnx"``, ``"torchscript"`` or ``"python"``.
    files : list of Path
        Every file written (the Python export also writes its weights).
    notes : list of str
        Facts the user must hear, e.g. a sequence length fixed in the file.
    max_difference : float
        Largest difference between the reloaded export's outputs and the
        compiled model's over the checks run (0.0 for weights files).
    """

    path: Path
    format: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_difference: float = 0.0


def first_line(exc: BaseException | None) -> str:
    """The first line of an exception's message (tools raise pages of text; the
    user needs the one line that says what went wrong)."""
    text = str(exc).strip().splitlines() if exc is not None else []
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------- inputs
def token_limit(model: nn.Module) -> int:
    """Token ids valid for every Embedding of ``model`` (2 when it has none)."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    return min(sizes) if sizes else 2


def example_inputs(
    model: nn.Module,
    specs: Sequence[TensorSpec],
    batch: int,
    sizes: Sequence[Sequence[int]] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Random inputs for ``model``: one tensor per spec with ``batch`` samples.

    ``sizes`` replaces the per-sample shapes (to try another sequence length).
    Token (long) inputs draw ids below :func:`token_limit`, so they are valid for
    every Embedding. The draws come from their own generator: the same arguments
    give the same tensors, and the global random state is not touched.
    """
    generator = torch.Generator().manual_seed(seed)
    limit = token_limit(model)
    tensors = []
    for i, spec in enumerate(specs):
        shape = (batch, *(sizes[i] if sizes is not None else spec.shape))
        if spec.dtype == "long":
            tensors.append(torch.randint(0, limit, shape, generator=generator))
        else:
            tensors.append(torch.randn(shape, generator=generator))
    return tuple(tensors)


def as_tuple(outputs) -> tuple[torch.Tensor, ...]:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def largest_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference between ``a`` and ``b`` (one shape); equal
    infinities and NaN on both sides count as equal (a masked score of -inf, the
    log of a negative value), a NaN on one side only as NaN."""
    a, b = a.double(), b.double()
    difference = (a - b).abs()
    difference[(a == b) | (a.isnan() & b.isnan())] = 0.0
    return float(difference.max())


def check_close(got: Sequence, expected: Sequence, what: str, reference: str = "the model",
                error: type[Exception] = ExportError, advice: str = "") -> float:
    """Largest absolute difference between the outputs ``got`` of ``what`` and
    ``expected``, those of ``reference``.

    Raises ``error`` when they differ in number or shape, or by more than
    :data:`TOLERANCE` (relative for large outputs; a NaN on one side only fails
    too, see :func:`largest_difference`), naming both sides; ``advice`` ends that
    last message. Tensors or NumPy arrays.
    """
    if len(got) != len(expected):
        raise error(f"{what} returns {len(got)} outputs; {reference} returns {len(expected)}")
    worst = scale = 0.0
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        a, b = torch.as_tensor(a).detach(), torch.as_tensor(b).detach()  # a view of a Parameter keeps requires_grad
        if tuple(a.shape) != tuple(b.shape):
            raise error(
                f"output {i + 1} of {what} has shape {tuple(a.shape)}; {reference} gives {tuple(b.shape)}"
            )
        if a.numel():
            worst = max(worst, largest_difference(a, b))
            scale = max(scale, float(b[b.isfinite()].abs().max())) if b.isfinite().any() else scale
    if not worst <= TOLERANCE * max(1.0, scale):  # also catches NaN
        raise error(
            f"{what} does not reproduce {reference}: outputs differ by up to {worst:.3g} "
            f"(accepted: {TOLERANCE:g}){advice}"
        )
    return worst


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Export and check in eval mode (dropout off, running statistics), then give
    the model back in the mode it was in.

    A Sampling node set to draw in eval mode too (``eval_output="sample"``) gives
    its mean meanwhile: a file cannot hold random draws that match the model's, so
    every export holds the mean (the README says so)."""
    was_training = model.training
    sampling = [m for m in model.modules() if getattr(m, "sample_in_eval", False)]
    model.eval()
    for m in sampling:
        m.sample_in_eval = False
    try:
        yield model
    finally:
        model.train(was_training)
        for m in sampling:
            m.sample_in_eval = True


def reference_outputs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return tuple(t.detach().clone() for t in as_tuple(model(*inputs)))


# -------------------------------------------------------------------- files
def check_target(path: str | os.PathLike) -> Path:
    """The target as a Path, after checking that its folder exists and the name is
    not a folder (before any slow work starts)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ExportError(f"cannot write {path}: the folder {parent} is not writable")
    return path


@contextlib.contextmanager
def staging(path: Path) -> Iterator[Path]:
    """A private folder next to ``path`` to write into.

    Yields the path the file should be written under (same name, inside the
    folder, so that side files such as ONNX external data keep the right names).
    The caller checks what it wrote, then calls :func:`publish`; the folder and
    anything left in it are removed in every case.
    """
    parent = path.parent if str(path.parent) else Path(".")
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise ExportError(describe_write_error(exc, str(path))) from None
    try:
        yield folder / path.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staged: Path, path: Path) -> list[Path]:
    """Move every file of the staging folder next to ``path`` (same names);
    the main file last, so that it appears only once its side files are there."""
    folder = staged.parent
    moved = []
    others = sorted(p for p in folder.iterdir() if p != staged and p.is_file())
    try:
        for item in [*others, staged]:
            target = path.parent / item.name
            os.replace(item, target)
            moved.append(target)
    except OSError as exc:
        raise ExportError(describe_write_error(exc, str(path))) from None
    return moved[-1:] + moved[:-1]
