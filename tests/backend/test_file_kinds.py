"""Kinds of data file as registered declarations: recognised, checked, loaded and
offered on the command line from one declaration each, a new kind included."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from layerloom.backend.cli import main
from layerloom.backend.datasets import (
    FILE_KINDS,
    DatasetError,
    FileKind,
    file_kind,
    list_file_kinds,
    load_dataset,
)
from layerloom.backend.datasets.file_kinds import register_file_kind
from tests.backend.helpers import error_line, moons_file
from tests.backend.toy_file_kind import NUMBERS, numbers_kind, write_numbers

DATASETS_DIR = Path(__file__).resolve().parents[2] / "backend" / "datasets"


def test_every_kind_is_declared_with_its_reader():
    assert [kind.name for kind in list_file_kinds()] == ["csv", "idx", "npz", "images"]  # the folder last
    for kind in list_file_kinds():
        reader = sys.modules[kind.loader.__module__]
        assert any(value is kind for value in vars(reader).values()), f"{kind.name} is declared beside its reader"
        assert kind.display_name and kind.description and (kind.suffixes or kind.sniff)
        for param in kind.options:  # the declared defaults are values the schema accepts
            assert param.coerce(param.default) == param.default, (kind.name, param.name)
            assert param.help, (kind.name, param.name)


def test_the_readers_and_the_registry_import_no_cycle():
    """Readers import the registry; the registry imports no reader (nor does any
    module of the package import its importer)."""
    imports = {}
    for path in DATASETS_DIR.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("layerloom.backend.datasets."):
                names.add(node.module.rsplit(".", 1)[1])
        imports[path.stem] = names
    assert not {"csv_file", "npz_file", "idx_file", "image_folder"} & (imports["file_kinds"] | imports["registry"])

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in imports.get(start, ()))

    cycles = [name for name in imports if reaches(name, name, set())]
    assert not cycles, cycles


def test_a_new_kind_registered_in_a_test_is_sniffed_checked_and_loaded(tmp_path):
    path = write_numbers(tmp_path / "sums.numbers")
    with pytest.raises(DatasetError, match=r"sums.numbers: unknown kind of data file \(suffix '.numbers'\)"):
        load_dataset(path)
    with numbers_kind() as kind:
        assert file_kind(path) is kind and list_file_kinds()[-1].name == "images"  # the fallback stays last
        assert file_kind(write_numbers(tmp_path / "table.csv")) is FILE_KINDS["csv"]  # others unchanged
        data = load_dataset(path)
        assert data.task == "classification" and data.input_shape == (2,) and data.num_classes == 2
        scaled = load_dataset(path, scale=3)
        assert np.allclose(scaled.x, 3 * data.x)
        assert load_dataset(path, task="regression").target_shape == (1,)
        with pytest.raises(DatasetError, match=r"sums.numbers: scale must be at least 0.01, got 0"):
            load_dataset(path, scale=0)
        with pytest.raises(DatasetError, match="numbers data has no option 'size'; it accepts scale, task"):
            load_dataset(path, size=(2, 2))
        with pytest.raises(DatasetError, match="task must be one of 'classification', 'regression'"):
            load_dataset(path, task="auto")
    assert "numbers" not in FILE_KINDS
    with pytest.raises(DatasetError, match="LayerLoom reads CSV tables"):
        file_kind(path)


def test_the_command_line_lists_describes_and_trains_on_a_new_kind(tmp_path, capsys):
    data = write_numbers(tmp_path / "sums.numbers", n=60)
    with numbers_kind():
        assert main(["datasets"]) == 0
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("numbers "))
        assert "number lists (.numbers)" in row and "scale, task" in row

        assert main(["datasets", str(data), "-o", "scale=2", "--preview", "1"]) == 0
        out = capsys.readouterr().out
        assert "sums.numbers: 60 samples of (N, 2), classification, 2 classes" in out
        assert "number list (numbers): number lists (.numbers)" in out
        assert "scale=1.0" in out and "0.01..100" in out and "classification | regression" in out

        assert main(["datasets", str(data), "-o", "scale=500"]) == 2
        assert "scale must be at most 100, got 500" in error_line(capsys)[0]

        loom = moons_file(tmp_path, training={"epochs": 1, "batch_size": 20})
        out_dir = tmp_path / "run"
        assert main(["train", str(loom), "--dataset", str(data), "-o", "scale=2", "--out", str(out_dir),
                     "--no-progress"]) == 0
        report = json.loads((out_dir / "metrics.json").read_text())
        assert report["dataset"]["options"] == {"scale": 2}
        assert report["dataset"]["name"] == str(data)
        capsys.readouterr()
        assert main(["train", str(loom), "--dataset", str(data), "-o", "task=sorted", "--out", str(out_dir)]) == 2
        assert "task must be one of 'classification', 'regression', got 'sorted'" in error_line(capsys)[0]


def test_train_options_go_over_the_files_options(tmp_path, capsys):
    loom = moons_file(tmp_path, training={"epochs": 1, "batch_size": 50})
    out_dir = tmp_path / "run"
    assert main(["train", str(loom), "-o", "noise=0.3", "--out", str(out_dir), "--no-progress"]) == 0
    assert json.loads((out_dir / "metrics.json").read_text())["dataset"]["options"] == {"n_samples": 200, "noise": 0.3}
    capsys.readouterr()
    assert main(["train", str(loom), "-o", "bogus=1", "--out", str(out_dir)]) == 2
    assert "dataset 'moons' has no option 'bogus'" in error_line(capsys)[0]


def test_an_option_that_does_not_apply_to_the_path_is_refused(tmp_path):
    from tests.backend.test_datasets_files import IMAGES, LABELS, write_idx

    images = write_idx(tmp_path / "imgs.idx3", IMAGES)
    write_idx(tmp_path / "train-images-idx3-ubyte", IMAGES)
    write_idx(tmp_path / "train-labels-idx1-ubyte", LABELS)
    idx = FILE_KINDS["idx"]
    assert [p.name for p in idx.options_for(images)] == ["labels"]
    assert [p.name for p in idx.options_for(tmp_path)] == ["split"]
    with pytest.raises(DatasetError, match=r"imgs.idx3: option 'split' is not for a single file of IDX images; "
                                           "here it takes labels"):
        load_dataset(images, split="test")
    with pytest.raises(DatasetError, match="option 'labels' is not for a folder of IDX images; here it takes split"):
        load_dataset(tmp_path, labels="labs.idx1")


@pytest.mark.parametrize(("change", "pattern"), [
    ({"name": "csv"}, "file kind 'csv' is registered twice"),
    ({"name": "Numbers"}, "must be lower-case"),
    ({"suffixes": ()}, "needs suffixes or a sniff function"),
    ({"options": NUMBERS.options * 2}, "declares an option twice"),
])
def test_a_bad_declaration_is_refused_when_registered(change, pattern):
    from dataclasses import replace

    with pytest.raises(ValueError, match=pattern):
        register_file_kind(replace(NUMBERS, **change))
    assert set(FILE_KINDS) == {"csv", "idx", "npz", "images"}
    assert isinstance(FILE_KINDS["csv"], FileKind)
