"""User data files: CSV, .npz, image folders and MNIST IDX, good and bad."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerloom.backend.cli import main
from layerloom.backend.datasets import DatasetError, file_kind, load_dataset


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path, **options) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(path, **options)
    message = str(info.value)
    assert str(path) in message  # every message names the file at fault
    return message


# ------------------------------------------------------------------------ CSV

IRIS_LIKE = """sepal,petal,species
5.1,1.4,setosa
7.0,4.7,versicolor
6.3,6.0,virginica
4.9,1.5,setosa
"""


def test_csv_with_header_and_text_target(tmp_path):
    ds = load_dataset(write(tmp_path / "flowers.csv", IRIS_LIKE))
    assert ds.name == "flowers.csv" and ds.task == "classification"
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    assert ds.y.tolist() == [0, 1, 2, 0]
    assert ds.feature_names == ["sepal", "petal"]
    assert ds.x.dtype == np.float32 and ds.x.tolist()[1] == pytest.approx([7.0, 4.7])
    assert ds.input_shape == (2,) and ds.target_shape == ()


def test_csv_without_header_semicolons_and_regression(tmp_path):
    ds = load_dataset(write(tmp_path / "r.csv", "1;2;0.5\n3;4;1.75\n5;6;2.25\n\n7;8;3.5\n"))
    assert ds.task == "regression" and ds.y.shape == (4, 1) and ds.y.dtype == np.float32
    assert ds.y[:, 0].tolist() == [0.5, 1.75, 2.25, 3.5] and ds.x[3].tolist() == [7, 8]
    assert ds.feature_names is None


def test_csv_few_whole_numbers_are_classes_unless_forced(tmp_path):
    rows = "".join(f"{i},{i * 2},{i % 3}\n" for i in range(12))
    path = write(tmp_path / "n.csv", "a,b,label\n" + rows)
    ds = load_dataset(path)
    assert ds.task == "classification" and ds.num_classes == 3 and ds.class_names == ["0", "1", "2"]
    forced = load_dataset(path, task="regression")
    assert forced.task == "regression" and forced.y[:, 0].tolist() == [i % 3 for i in range(12)]
    many = write(tmp_path / "m.csv", "a,age\n" + "".join(f"{i},{20 + 3 * i}\n" for i in range(40)))
    assert load_dataset(many).task == "regression"  # 40 distinct whole numbers: a measurement


def test_csv_column_selection_by_name_and_index(tmp_path):
    path = write(tmp_path / "f.csv", "a,b,c,d\n1,2,3,0\n4,5,6,1\n7,8,9,0\n")
    ds = load_dataset(path, features=["c", 0], target="d")
    assert ds.x.tolist() == [[3, 1], [6, 4], [9, 7]] and ds.feature_names == ["c", "a"]
    multi = load_dataset(path, features="a,b", target=[2, -1])
    assert multi.task == "regression" and multi.y.shape == (3, 2) and multi.y[1].tolist() == [6, 1]


@pytest.mark.parametrize(
    ("text", "options", "pattern"),
    [
        ("", {}, "the file is empty"),
        ("  \n\n", {}, "the file is empty"),
        ("a,b,c\n", {}, "header row but no data rows"),
        ("a,b,c\n1,2,0\n3,4\n", {}, r"row 3 has 2 values but the header has 3 columns"),
        ("1,2,0\n3,4,1,9\n", {}, r"row 2 has 4 values but row 1 has 3 columns"),
        ("a,b,c\n1,2,0\n3,oops,1\n", {}, r"row 3, column 'b' \(feature\) holds 'oops'"),
        ("a,b,c\n1,2,0\n3,,1\n", {}, r"row 3, column 'b' \(feature\) is empty"),
        ("a,b,c\n1,2,0\n3,inf,1\n", {}, r"row 3, column 'b' \(feature\) holds 'inf'"),
        ("a,b,c\n1,2,0\n3,4,\n", {}, r"row 3, column 'c' \(target\) is empty"),
        ("a,b,c\n1,2,0\n3,4,1\n", {"target": "label"}, r"no column 'label'; the columns are a, b, c"),
        ("a,b,c\n1,2,0\n3,4,1\n", {"features": [7]}, r"column index 7 is out of range: the file has 3 columns"),
        ("a,b,c\n1,2,x\n3,4,y\n", {"task": "regression"}, r"row 2, column 'c' \(target\) holds 'x'.*task='classification'"),
        ("a,b,c\n1,2,0\n3,4,1\n", {"features": ["a", "c"]}, "'c' is both a feature and the target"),
        ("a,b,c\n1,2,0\n3,4,1\n", {"task": "clustering"}, "task must be one of 'auto', 'classification', 'regression'"),
        ("a\n1\n2\n", {}, "single column"),
    ],
)
def test_bad_csv_names_file_row_and_column(tmp_path, text, options, pattern):
    message = error_for(write(tmp_path / "bad.csv", text), **options)
    assert re.search(pattern, message), message


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b,c\n1,2,caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in error_for(path)


def test_unknown_file_option_lists_accepted_ones(tmp_path):
    message = error_for(write(tmp_path / "f.csv", IRIS_LIKE), size=(2, 2))
    assert "csv data has no option 'size'; it accepts features, target, task, header, delimiter" in message


def test_unknown_file_kind(tmp_path):
    assert "unknown kind of data file" in error_for(write(tmp_path / "model.json", "{}"))


# ------------------------------------------------------------------------ NPZ


def test_npz_classification_regression_and_sequences(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", x=rng.normal(size=(20, 2, 3)), y=np.arange(20) % 4,
             class_names=np.array(["a", "b", "c", "d"]))
    ds = load_dataset(tmp_path / "c.npz")
    assert ds.task == "classification" and ds.input_shape == (2, 3) and ds.x.dtype == np.float32
    assert ds.num_classes == 4 and ds.class_names == ["a", "b", "c", "d"]

    np.savez(tmp_path / "r.npz", x=rng.normal(size=(10, 4)), y=rng.normal(size=10))
    ds = load_dataset(tmp_path / "r.npz")
    assert ds.task == "regression" and ds.y.shape == (10, 1) and ds.num_classes is None

    tokens = rng.integers(0, 9, size=(8, 5))
    np.savez(tmp_path / "s.npz", x=tokens, y=tokens[:, ::-1])
    ds = load_dataset(tmp_path / "s.npz")
    assert ds.task == "sequence" and ds.input_dtype == "long" and ds.num_classes == tokens.max() + 1

    np.savez(tmp_path / "f.npz", x=rng.normal(size=(6, 2)), y=np.array([0.0, 1, 2, 1, 0, 2]))
    assert load_dataset(tmp_path / "f.npz", task="classification").y.tolist() == [0, 1, 2, 1, 0, 2]


@pytest.mark.parametrize(
    ("arrays", "options", "pattern"),
    [
        ({"inputs": np.zeros((3, 2)), "y": np.zeros(3)}, {}, r"no array 'x' \(arrays found: 'inputs', 'y'\)"),
        ({"x": np.zeros((3, 2))}, {}, "no array 'y'"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, {}, r"x has 3 samples.*y has 4"),
        ({"x": np.array([[0.0, np.nan], [1, 2]]), "y": np.zeros(2)}, {}, r"x\[0, 1\] is nan"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 2])}, {}, r"y\[1\] is -1"),
        ({"x": np.zeros((3, 2)), "y": np.array([0.0, 0.5, 1])}, {"task": "classification"}, r"y\[1\] is 0.5, not a whole number"),
        ({"x": np.array(["a", "b"]), "y": np.zeros(2)}, {}, "array 'x' has dtype <U1, not numbers"),
        ({"x": np.zeros((2, 2)), "y": np.array([0, 2]), "class_names": np.array(["a", "b"])}, {}, "class_names has 2 names but y has labels up to 2"),
    ],
)
def test_bad_npz(tmp_path, arrays, options, pattern):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    message = error_for(path, **options)
    assert re.search(pattern, message), message


def test_npz_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    assert "holds Python objects (dtype object)" in error_for(path)


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file at all")
    assert "not a readable .npz archive" in error_for(path)


# ---------------------------------------------------------------- image folder


def make_images(root: Path, classes=("cat", "dog"), per_class=3, size=(6, 5), colour=False) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if colour else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_image_folder_grayscale_default_size(tmp_path):
    root = make_images(tmp_path / "pets")
    (root / "cat" / "notes.txt").write_text("not an image, skipped")
    ds = load_dataset(root)
    assert ds.name == "pets" and ds.class_names == ["cat", "dog"]
    assert ds.x.shape == (6, 1, 5, 6) and ds.input_shape == (1, 5, 6)  # (C, H, W) from a 6x5 image
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    expected = np.asarray(Image.open(root / "dog" / "1.png"), np.float32) / 255
    assert np.allclose(ds.x[4, 0], expected)


def test_image_folder_rgb_and_resize(tmp_path):
    root = make_images(tmp_path / "c", colour=True)
    ds = load_dataset(root, size=(4, 3))
    assert ds.x.shape == (6, 3, 4, 3)
    assert load_dataset(root, mode="grayscale", size=8).input_shape == (1, 8, 8)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    root = make_images(tmp_path / "a")
    (root / "bird").mkdir()
    message = error_for(root)
    assert str(root / "bird") in message and "holds no images" in message

    root = make_images(tmp_path / "b")
    broken = root / "dog" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    message = error_for(root)
    assert str(broken) in message and "not a readable image" in message

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no class sub-folders" in error_for(empty)
    assert "size must be at least 1, got 0" in error_for(make_images(tmp_path / "c"), size=(0, 3))
    assert "size needs 2 values, got 3" in error_for(tmp_path / "c", size=(4, 4, 4))


# ------------------------------------------------------------------------- IDX


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype({0x08: "u1", 0x0C: ">i4", 0x0D: ">f4"}[type_code]).tobytes()


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08, gz: bool = False) -> Path:
    data = idx_bytes(array, type_code)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


IMAGES = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3) * 4
LABELS = np.array([3, 1, 0, 2, 1], dtype=np.uint8)


def test_idx_files_raw_and_gzip(tmp_path):
    images = write_idx(tmp_path / "imgs.idx3", IMAGES)
    labels = write_idx(tmp_path / "labs.idx1", LABELS, gz=True)
    assert file_kind(images).name == "idx"
    ds = load_dataset(images, labels=str(labels))
    assert ds.x.shape == (5, 1, 4, 3) and ds.num_classes == 4
    assert np.allclose(ds.x[2, 0], IMAGES[2] / 255) and ds.y.tolist() == LABELS.tolist()


def test_idx_relative_labels_path_is_taken_next_to_the_images(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    images = write_idx(data / "imgs.idx3", IMAGES)
    write_idx(data / "labs.idx1", LABELS)
    monkeypatch.chdir(tmp_path)  # the working folder is not the data's
    ds = load_dataset(images, labels="labs.idx1")
    assert ds.y.tolist() == LABELS.tolist()
    assert "labels file not found" in error_for(images, labels="missing.idx1")


def test_idx_folder_with_usual_names_carries_the_test_split(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", IMAGES, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", LABELS, gz=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", IMAGES[:2])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", LABELS[:2])
    ds = load_dataset(tmp_path)
    assert len(ds) == 5 and len(ds.test) == 2 and ds.test.num_classes == ds.num_classes == 4
    assert len(load_dataset(tmp_path, split="test")) == 2
    # an images file alone finds its labels by the usual name
    assert len(load_dataset(tmp_path / "train-images-idx3-ubyte.gz")) == 5


def test_idx_folder_missing_labels(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", IMAGES)
    assert file_kind(tmp_path).name == "idx"
    message = error_for(tmp_path)
    assert "no train labels file; expected train-images-idx3-ubyte and train-labels-idx1-ubyte" in message
    assert "no test images file" in error_for(tmp_path, split="test")


def test_bad_idx_files(tmp_path):
    labels = write_idx(tmp_path / "labels.idx1", LABELS)
    bad_magic = tmp_path / "bad-images-idx3-ubyte"
    bad_magic.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 3)
    assert "the header declares 3 dims" in error_for(bad_magic, labels=str(labels))

    wrong = tmp_path / "wrong-images-idx3-ubyte"
    wrong.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 4, 3) + bytes(59))
    assert "declares 5 x 4 x 3 ubyte values (60 bytes) but the file holds 59 bytes" in error_for(wrong, labels=str(labels))

    images = write_idx(tmp_path / "images.idx3", IMAGES)
    message = error_for(images, labels=str(write_idx(tmp_path / "short.idx1", LABELS[:4])))
    assert "holds 5 images" in message and "short.idx1 holds 4 labels" in message
    assert "labels file holds one whole number per image" in error_for(images, labels=str(images))
    lonely = write_idx(tmp_path / "digits.idx3", IMAGES)
    assert "no labels file found next to it; give it with labels=PATH" in error_for(lonely)

    swapped = tmp_path / "magic.idx1"
    swapped.write_bytes(b"\x08\x03\x00\x00" + bytes(8))
    with pytest.raises(DatasetError, match="bad magic number 0x08030000"):
        load_dataset(images, labels=str(swapped))


def test_cli_reads_a_user_file(tmp_path, capsys):
    path = write(tmp_path / "flowers.csv", IRIS_LIKE)
    assert main(["datasets", str(path), "--preview", "2"]) == 0
    out = capsys.readouterr().out
    assert "flowers.csv: 4 samples of (N, 2), classification, 3 classes" in out
    assert "setosa, versicolor, virginica" in out and "sepal" in out
    assert main(["datasets", str(path), "-o", "target=nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
