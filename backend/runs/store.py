"""Runs kept next to their graph: ``NAME.runs/run-NNN/`` beside ``NAME.loom``.

Every run (in the app or ``layerloom train``) becomes one folder::

    NAME.runs/run-003/
        run.json            settings (training + dataset), status, results, when, where
        graph.loom          the graph as it was trained (a .loom file of its own)
        history.json        the curves the plots need (loss, lr, val loss, metrics)
        model.safetensors   the final weights, as Save Weights writes them (none
                            when the run failed before it trained anything)

A run is written whole or not at all: into a hidden ``.tmp-*`` folder first, then
renamed to ``run-NNN`` in one step, so a killed process leaves at most a hidden
folder that listing ignores. Reading never trusts the folder: a run that is
damaged (a file missing or unreadable), written by a newer LayerLoom (its
``format_version``), or not a run folder at all is listed with the reason
(:attr:`StoredRun.problem`) and can still be deleted. Nothing is unpickled or
executed; weights are only read when asked for (:attr:`StoredRun.weights`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerloom.backend.runs.compare import signature_hash
from layerloom.backend.runs.history import HistoryError, curves_from_json, curves_to_json
from layerloom.graph import Graph, GraphFileError, load_graph, save_graph
from layerloom.graph.fileio import (
    ReadRefused,
    describe_write_error,
    read_regular_file,
    write_atomic,
)
from layerloom.graph.settings import defaults

FORMAT = "layerloom.run"
FORMAT_VERSION = 1
RUNS_SUFFIX = ".runs"
RECORD, GRAPH, HISTORY = "run.json", "graph.loom", "history.json"
WEIGHTS = "model.safetensors"  # the weights the run ended with (the best epoch's, where kept)
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_HISTORY_BYTES = 64 * 1024 * 1024
STATUSES = ("finished", "stopped", "failed")
_NAME = re.compile(r"^run-(\d{1,9})$")


class RunsError(Exception):
    """A run that cannot be written, found or deleted; the message says why."""


def runs_folder(graph_path: str | os.PathLike) -> Path:
    """``NAME.runs`` beside ``NAME.loom`` (``FILE.runs`` for another name)."""
    path = Path(graph_path)
    stem = path.name[:-len(".loom")] if path.name.endswith(".loom") else path.name
    return path.with_name(stem + RUNS_SUFFIX)


@dataclass
class NewRun:
    """What a run leaves behind, before it is written (:func:`write_run`)."""

    graph: Graph  # the graph as trained; its settings are replaced by the two below
    training: dict[str, Any]
    dataset: dict[str, Any]
    status: str  # finished, stopped or failed
    source: str = "cli"  # "app" or "cli"
    message: str = ""
    final: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] | None = None
    steps: int = 0
    epochs: int = 0
    wall_time: float | None = None
    device: str | None = None
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    best: dict[str, Any] = field(default_factory=dict)  # the epoch whose weights were kept: epoch, metric, value


@dataclass
class StoredRun:
    """One folder of ``NAME.runs``, as read; ``problem`` says why it cannot be used."""

    id: str
    folder: Path
    number: int | None = None
    problem: str | None = None
    status: str = "damaged"
    source: str = ""
    message: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] | None = None
    steps: int = 0
    epochs: int = 0
    wall_time: float | None = None
    device: str | None = None
    created: float | None = None
    signature: str = ""
    graph: Graph | None = None
    best: dict[str, Any] = field(default_factory=dict)  # the epoch whose weights were kept

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def weights(self) -> Path | None:
        """The final weights' file, if the run has one."""
        path = self.folder / WEIGHTS
        return path if self.ok and path.is_file() else None

    @property
    def label(self) -> str:
        """``run-003 · adam, lr 0.01 · moons``: enough to tell runs apart."""
        if not self.ok:
            return self.id
        t = {**defaults("training"), **self.training}
        lr = t.get("lr")
        lr_text = f"{lr:g}" if isinstance(lr, (int, float)) else str(lr)
        data = str(self.dataset.get("name") or "no data").replace("\\", "/").rsplit("/", 1)[-1]
        return f"{self.id} · {t.get('optimizer')}, lr {lr_text} · {data}"

    def matches(self, graph: Graph) -> bool:
        """True when this run trained the model ``graph`` describes now."""
        return self.ok and self.signature == signature_hash(graph)

    def graph_note(self, graph: Graph | None) -> str:
        """The problem, or whether the run trained ``graph`` as it is now."""
        if not self.ok:
            return self.problem or ""
        if graph is None:
            return ""
        return "same graph" if self.matches(graph) else "an earlier version of the graph"

    def history(self) -> dict[str, tuple[list[float], list[float]]]:
        """The run's curves (empty when it kept none); raises :class:`RunsError`."""
        path = self.folder / HISTORY
        if not path.exists():
            return {}
        try:
            data = json.loads(read_regular_file(path, MAX_HISTORY_BYTES))
            return curves_from_json(data.get("curves") if isinstance(data, dict) else data)
        except (OSError, ValueError, HistoryError) as exc:
            raise RunsError(f"{HISTORY}: {_reason(exc)}") from None

    def summary(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"id": self.id, "number": self.number, "status": self.status, "problem": self.problem,
                "source": self.source, "message": self.message, "created": self.created,
                "training": self.training, "dataset": self.dataset, "final": self.final,
                "test": self.test, "steps": self.steps, "epochs": self.epochs,
                "wall_time": self.wall_time, "device": self.device, "folder": str(self.folder),
                "weights": str(self.weights) if self.weights else None,
                "best": self.best or None}


# -------------------------------------------------------------------- writing
def write_run(graph_path: str | os.PathLike, new: NewRun, model=None,
              metadata: dict[str, str] | None = None) -> StoredRun:
    """Write ``new`` as the next ``run-NNN`` of ``graph_path``'s runs folder.

    ``model`` (the weights the run ended with: the best epoch's where the trainer
    kept them, ``new.best`` says which) is written as ``save_weights`` writes it, with
    ``metadata`` (the input normalisation, a text model's vocabulary). Raises
    :class:`RunsError` when the folder cannot be written; nothing half-written
    stays under a run's name.
    """
    if new.status not in STATUSES:
        raise RunsError(f"a run's status is one of {', '.join(STATUSES)}, got {new.status!r}")
    folder = runs_folder(graph_path)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise RunsError(f"cannot create {folder}: {exc.strerror or exc}") from None
    tmp = folder / f".tmp-{secrets.token_hex(6)}"
    try:
        tmp.mkdir()
        snapshot = new.graph.copy()
        snapshot.training, snapshot.dataset = dict(new.training), dict(new.dataset)
        save_graph(snapshot, tmp / GRAPH)
        _write_json(tmp / HISTORY, {"curves": curves_to_json(new.curves)})
        if model is not None:
            _write_weights(snapshot, model, tmp / WEIGHTS, metadata)
        _write_json(tmp / RECORD, _record(new, snapshot))
        return _settle(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunsError(describe_write_error(exc, f"the run in {folder}")) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _record(new: NewRun, snapshot: Graph) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "status": new.status,
            "source": new.source, "message": new.message, "created": round(new.created, 3),
            "training": new.training, "dataset": new.dataset, "final": _finite(new.final),
            "test": _finite(new.test) if new.test is not None else None, "steps": int(new.steps),
            "epochs": int(new.epochs),
            "wall_time": round(new.wall_time, 4) if new.wall_time is not None else None,
            "device": new.device, "signature": signature_hash(snapshot), "best": _best_record(new.best)}


def _best_record(best: dict[str, Any]) -> dict[str, Any]:
    """The kept epoch (``{"epoch", "metric", "value"}``) as JSON allows."""
    if not best:
        return {}
    return {"epoch": int(best["epoch"]), "metric": str(best["metric"]),
            **_finite({"value": best.get("value")})}


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if isinstance(v, (int, float)) and v == v and abs(v) != float("inf") else None)
            for k, v in values.items()}


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, allow_nan=False) if path.name == RECORD else \
        json.dumps(data, separators=(",", ":"), allow_nan=False)
    write_atomic(path, (text + "\n").encode("utf-8"))


def _write_weights(graph: Graph, model, path: Path, metadata: dict[str, str] | None) -> None:
    from layerloom.backend.export import ExportError, save_weights

    try:
        save_weights(graph, model, path, dict(metadata or {}))
    except ExportError as exc:
        raise RunsError(str(exc)) from None


def _settle(tmp: Path, folder: Path) -> StoredRun:
    """Rename ``tmp`` to the next free ``run-NNN`` (another process may take one
    meanwhile: then the next)."""
    number = next_number(folder)
    for _ in range(1000):
        target = folder / f"run-{number:03d}"
        if not target.exists():
            try:
                os.rename(tmp, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            else:
                return read_run(target)
        number += 1
    raise RunsError(f"no free run name in {folder}")


def next_number(folder: Path) -> int:
    """One more than the highest ``run-NNN`` in ``folder`` (1 for none)."""
    numbers = [int(m.group(1)) for m in (_NAME.match(p.name) for p in _entries(folder)) if m]
    return max(numbers, default=0) + 1


# -------------------------------------------------------------------- reading
def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return []


def list_runs(graph_path: str | os.PathLike) -> list[StoredRun]:
    """Every run folder of ``graph_path``, oldest first; a damaged one has its
    :attr:`~StoredRun.problem`."""
    runs = [read_run(p) for p in _entries(runs_folder(graph_path))]
    return sorted(runs, key=lambda r: (r.number is None, r.number or 0, r.id))


def read_run(folder: Path) -> StoredRun:
    """The run in ``folder``; never raises for what is inside it."""
    match = _NAME.match(folder.name)
    run = StoredRun(folder.name, folder, int(match.group(1)) if match else None)
    if match is None:
        run.problem = "not a run folder (its name is not run-NNN)"
        return run
    try:
        data = json.loads(read_regular_file(folder / RECORD, MAX_RECORD_BYTES))
    except FileNotFoundError:
        run.problem = f"damaged: {RECORD} is missing"
        return run
    except (OSError, ValueError) as exc:
        run.problem = f"damaged: {RECORD}: {_reason(exc)}"
        return run
    run.problem = _check_record(data)
    if run.problem:
        run.status = "newer" if run.problem.startswith("written by a newer") else "damaged"
        return run
    run.status, run.source, run.message = data["status"], str(data.get("source", "")), str(data.get("message", ""))
    run.training, run.dataset, run.final = data["training"], data["dataset"], data["final"]
    run.test = data.get("test")
    run.steps, run.epochs = data["steps"], data["epochs"]
    run.wall_time, run.device, run.created = data.get("wall_time"), data.get("device"), data.get("created")
    run.signature = str(data.get("signature", ""))
    best = data.get("best")
    run.best = best if isinstance(best, dict) else {}
    try:
        run.graph = load_graph(folder / GRAPH)
    except GraphFileError as exc:
        run.problem = f"damaged: its graph cannot be read ({exc.problem})"
        run.status = "damaged"
    return run


def _check_record(data: Any) -> str | None:
    """Why ``data`` is not a run record this version reads (``None`` when it is)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f"damaged: {RECORD} is not a LayerLoom run record"
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"damaged: {RECORD}: format_version should be a whole number, got {version!r}"
    if version > FORMAT_VERSION:
        return (f"written by a newer LayerLoom (run format {version}; this version reads up to "
                f"{FORMAT_VERSION}): update LayerLoom to open it")
    expected = {"status": str, "training": dict, "dataset": dict, "final": dict, "steps": int, "epochs": int}
    for key, kind in expected.items():
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"damaged: {RECORD}: {key!r} should be {kind.__name__}, got {type(value).__name__}"
    if data["status"] not in STATUSES:
        return f"damaged: {RECORD}: unknown status {data['status']!r}"
    bad = [k for k, v in data["final"].items() if v is not None and not isinstance(v, (int, float))]
    if bad:
        return f"damaged: {RECORD}: the final value {bad[0]!r} is not a number"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON (line {exc.lineno}: {exc.msg})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, ReadRefused):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def find_run(graph_path: str | os.PathLike, ident: str) -> StoredRun:
    """The run named ``ident``: ``run-003``, ``run-3`` or ``3`` (any folder name
    of the runs folder, damaged ones included). Raises :class:`RunsError`."""
    runs = list_runs(graph_path)
    text = str(ident).strip()
    digits = text[4:] if text.startswith("run-") else text
    for run in runs:
        if run.id == text or (digits.isdigit() and run.number == int(digits)):
            return run
    known = ", ".join(r.id for r in runs) or "none yet"
    raise RunsError(f"no run {text!r} in {runs_folder(graph_path)} (runs: {known})")


# ------------------------------------------------------------------- deleting
def delete_run(run: StoredRun) -> None:
    """Remove ``run``'s folder (renamed away first, so it vanishes in one step).
    Raises :class:`RunsError`."""
    folder = run.folder
    if not folder.parent.name.endswith(RUNS_SUFFIX) or not folder.is_dir() or folder.is_symlink():
        raise RunsError(f"{folder} is not a run folder of a graph; nothing deleted")
    doomed = folder.with_name(f".deleting-{folder.name}-{secrets.token_hex(4)}")
    try:
        os.rename(folder, doomed)
    except OSError as exc:
        raise RunsError(f"cannot delete {folder}: {exc.strerror or exc}") from None
    shutil.rmtree(doomed, ignore_errors=True)
