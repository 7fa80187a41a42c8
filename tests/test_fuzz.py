"""Mutated files of every format end in the reader's clean error, or load (and a
loaded graph saves again): no traceback, no hang. ``benchmarks/fuzz.py`` runs the
same with 10,000 mutants per format."""

from __future__ import annotations

import pytest

from benchmarks.fuzz import formats, run

MUTANTS = {"loom": 400, "safetensors": 300, "onnx": 300}
SEED = 20261205


@pytest.mark.parametrize("name", sorted(formats()))
def test_mutants_end_in_clean_errors(name, tmp_path):
    report = run(formats()[name], MUTANTS.get(name, 200), SEED, tmp_path, hang_seconds=20)
    assert report.outcomes["unexpected"] == 0 and report.outcomes["hang"] == 0, \
        "\n".join(report.unexpected[:20])
    assert report.outcomes["clean"] > 0  # the mutations do reach the readers' checks


def test_the_fuzzer_counts_tracebacks_and_hangs(tmp_path):
    import time

    from benchmarks.fuzz import Format

    def seeds(folder):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "a.txt"
        path.write_bytes(b"0123456789" * 10)
        return [path]

    def read(path):
        data = path.read_bytes()
        if len(data) < 50:
            time.sleep(5)
        if data != b"0123456789" * 10:
            raise {0: ValueError, 1: KeyError}[len(data) % 2]("bad")

    report = run(Format("toy", seeds, read, (ValueError,)), 60, 1, tmp_path, hang_seconds=0.2)
    assert report.outcomes["clean"] > 0 and report.outcomes["unexpected"] > 0
    assert report.outcomes["hang"] > 0
    assert sum(report.outcomes.values()) == 60
