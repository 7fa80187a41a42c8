"""Throw mutated files at every reader: each must end in its clean error, or load.

For every format LayerLoom reads (``.loom`` graphs, safetensors weights with their
embedded graph, ONNX models, and the user data files: npz, IDX, CSV, image folders)
real files are made from the shipped examples, then mutated: bytes flipped, cut,
repeated or inserted, numbers and fields of JSON replaced by extremes (huge or
negative numbers, surrogates, NUL, deep nesting, wrong types). Each mutant is read
in this process, with a time limit; the outcome is one of

- ``clean``: the reader's own error, with a message for the user;
- ``valid``: it loaded (a ``.loom`` must then also save again and be analysed);
- ``unexpected``: any other exception (a traceback a user would see);
- ``hang``: no answer within the limit.

Run: ``python -m benchmarks.fuzz [--mutants 10000] [--formats loom,onnx] [--seed 0]``;
it prints a table per format with the peak memory of the process. The target is 0
unexpected and 0 hangs, with the peak under 1 GiB. ``tests/test_fuzz.py`` runs a
few hundred mutants per format on every ``make test``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.fuzz_format import Format

HANG_SECONDS = 10.0
DEEP: list = [1]
for _ in range(40):
    DEEP = [DEEP]
EXTREMES = [0, -1, 1, 2 ** 31, 2 ** 63, 10 ** 30, 10 ** 400, -(10 ** 400), 1e308, -1e-308, 0.5,
            "", "12", "a" * 5000, "\ud800", "x\u0000y", "\ufeff", True, False, None, [], {},
            [1, 2], DEEP, {"a": {"b": {"c": 1}}}, [10 ** 9, 10 ** 9]]


class Hang(Exception):
    """The reader did not answer within the time limit."""


@dataclass
class Report:
    name: str
    outcomes: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ------------------------------------------------------------------ mutations
def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to four random byte-level edits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if not out:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif choice < 0.3:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        elif choice < 0.45:
            out = out[: rng.randrange(len(out))]
        elif choice < 0.6:
            i = rng.randrange(len(out))
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif choice < 0.75:
            i, j = sorted(rng.randrange(len(out) + 1) for _ in range(2))
            out[i:i] = out[i:j] * rng.randint(1, 4)
        elif choice < 0.85:
            i = rng.randrange(len(out))
            out[i:i + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff\xff\xff\xff\xff"])
        else:
            i, j = sorted(rng.randrange(len(out) + 1) for _ in range(2))
            del out[i:j]
    return bytes(out)


def mutate_json(text: str, rng: random.Random) -> str:
    """Replace, delete or duplicate one to three values of a JSON document."""
    data = json.loads(text)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(data, ()))
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = _parent(data, path)
        if parent is None:
            continue
        roll = rng.random()
        if roll < 0.6:
            parent[key] = rng.choice(EXTREMES)
        elif roll < 0.75 and isinstance(parent, dict):
            del parent[key]
        elif roll < 0.9 and isinstance(parent, list):
            parent.insert(key, parent[key])
        else:
            other = _parent(data, rng.choice(paths))
            if other[0] is not None:
                parent[key] = other[0][other[1]]
    return json.dumps(data)


def _paths(value, prefix) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _parent(data, path):
    if not path:
        return None, None
    node = data
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


# ------------------------------------------------------------------ running
@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`Hang` in this (main) thread after ``seconds``."""
    def on_alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def mutant(original: Path, target: Path, rng: random.Random, structured: bool) -> Path:
    """Write one mutant of the file (or of one file of the folder) ``original``."""
    import shutil

    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if original.is_dir():
        shutil.copytree(original, target)
        files = sorted(p for p in target.rglob("*") if p.is_file())
        victim = rng.choice(files)
        victim.write_bytes(mutate_bytes(victim.read_bytes(), rng))
        return target
    data = original.read_bytes()
    if structured and rng.random() < 0.6:
        try:
            data = mutate_json(data.decode("utf-8"), rng).encode("utf-8")
        except (ValueError, UnicodeDecodeError, RecursionError):
            data = mutate_bytes(data, rng)
    else:
        data = mutate_bytes(data, rng)
    target.write_bytes(data)
    return target


def run(fmt: Format, mutants: int, seed: int, folder: Path,
        hang_seconds: float = HANG_SECONDS) -> Report:
    """Read ``mutants`` mutants of ``fmt``'s seed files; returns the tally."""
    rng = random.Random(seed)
    seeds = fmt.seeds(folder / "seeds")
    report = Report(fmt.name)
    start = time.perf_counter()
    for i in range(mutants):
        original = seeds[i % len(seeds)]
        target = mutant(original, folder / f"mutant{original.suffix}", rng, fmt.structured)
        try:
            with time_limit(hang_seconds):
                fmt.read(target)
            report.outcomes["valid"] += 1
        except Hang:
            report.outcomes["hang"] += 1
            report.unexpected.append(f"mutant {i} of {original.name}: no answer in {hang_seconds:g} s")
        except fmt.clean:
            report.outcomes["clean"] += 1
        except Exception as exc:  # what a user would see as a traceback
            report.outcomes["unexpected"] += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            report.unexpected.append(
                f"mutant {i} of {original.name}: {type(exc).__name__}: {str(exc)[:200]} "
                f"({Path(where.filename).name}:{where.lineno})")
    report.seconds = time.perf_counter() - start
    return report


# ------------------------------------------------------------------ formats
def _examples(limit: int | None = None) -> list[Path]:
    from layerloom.resources import examples_dir

    files = sorted(examples_dir().glob("*.loom"))
    return files[:limit] if limit else files


def _loom_seeds(folder: Path) -> list[Path]:
    return _examples()


def _read_loom(path: Path) -> None:
    from layerloom.graph import dumps, load_graph

    graph = load_graph(path)
    dumps(graph)  # what loads must save again
    graph.analysis()


def _small_examples() -> list[Path]:
    names = ("mlp_two_moons.loom", "cnn_digits.loom", "gru_sine.loom")
    return [p for p in _examples() if p.name in names]


def _safetensors_seeds(folder: Path) -> list[Path]:
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.export import save_weights
    from layerloom.graph import load_graph

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for example in _small_examples():
        graph = load_graph(example)
        out.append(save_weights(graph, compile_graph(graph, seed=0),
                                folder / f"{example.stem}.safetensors").path)
    return out


def _read_safetensors(path: Path) -> None:
    from layerloom.backend.export import load_model

    load_model(path)


def _onnx_seeds(folder: Path) -> list[Path]:
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.export import export_onnx
    from layerloom.graph import load_graph

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for example in _small_examples()[:2]:
        graph = load_graph(example)
        out.append(export_onnx(graph, compile_graph(graph, seed=0), folder / f"{example.stem}.onnx").path)
    return out


def _read_onnx(path: Path) -> None:
    from layerloom.backend.importers import import_onnx

    import_onnx(path)


def formats() -> dict[str, Format]:
    """Every format with its reader and its clean errors; the user data files (npz,
    IDX, CSV, image folders) come from :mod:`benchmarks.fuzz_data`."""
    from layerloom.backend.export.common import WeightsError
    from layerloom.backend.importers.common import ModelImportError
    from layerloom.graph import GraphError, GraphFileError

    found = {
        "loom": Format("loom", _loom_seeds, _read_loom, (GraphFileError,), structured=True),
        "safetensors": Format("safetensors", _safetensors_seeds, _read_safetensors,
                              (WeightsError, GraphFileError, GraphError)),
        "onnx": Format("onnx", _onnx_seeds, _read_onnx, (ModelImportError,)),
    }
    from benchmarks.fuzz_data import data_formats

    found.update(data_formats())
    return found


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=10_000, help="mutants per format")
    parser.add_argument("--formats", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang", type=float, default=HANG_SECONDS, help="seconds before a hang")
    args = parser.parse_args(argv)
    table = formats()
    chosen = [n.strip() for n in args.formats.split(",") if n.strip()] or list(table)
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        parser.error(f"unknown formats {unknown}; choose from {sorted(table)}")
    bad = 0
    print(f"{'format':<12} {'mutants':>8} {'clean':>7} {'valid':>7} {'unexpected':>10} "
          f"{'hangs':>6} {'seconds':>8} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            folder = Path(tmp) / name
            folder.mkdir()
            report = run(table[name], args.mutants, args.seed, folder, args.hang)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            o = report.outcomes
            print(f"{name:<12} {args.mutants:>8} {o['clean']:>7} {o['valid']:>7} "
                  f"{o['unexpected']:>10} {o['hang']:>6} {report.seconds:>8.1f} {peak:>9.0f}",
                  flush=True)
            for line in report.unexpected[:10]:
                print(f"    {line}")
            bad += o["unexpected"] + o["hang"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
