"""Built-in datasets, the registry, splits, normalisation and `layerloom datasets`."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.backend.cli import main
from layerloom.backend.datasets import (
    DATASETS,
    Dataset,
    DatasetError,
    DatasetInfo,
    Normalisation,
    list_datasets,
    load_dataset,
    normalise,
)
from layerloom.graph import TensorSpec

# mnist1d generates 5,000 signals on a cache miss: its own file checks it with a
# cache in a temporary folder.
FAST = [info.name for info in list_datasets() if info.name != "mnist1d"]
SEEDED = [info.name for info in list_datasets() if "seed" in info.defaults]
SMALL = {"n_samples": 60}


def small(name: str) -> dict:
    return SMALL if "n_samples" in DATASETS[name].defaults else {}


def toy(n: int = 20, features: int = 3, classes: int = 2) -> Dataset:
    """A dataset whose rows are told apart by x[:, 0] = row number."""
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    x[:, 0] = np.arange(n)
    return Dataset(
        name="toy", x=x, y=(np.arange(n) % classes).astype(np.int64), task="classification",
        input_shape=(features,), input_dtype="float", target_shape=(), num_classes=classes,
        class_names=None, description="rows numbered in x[:, 0]",
    )


# ----------------------------------------------------------------- registry


def test_registry_lists_every_builtin_with_consistent_metadata():
    names = [info.name for info in list_datasets()]
    expected = {
        "xor", "moons", "circles", "spirals", "blobs", "linear", "iris", "wine",
        "breast_cancer", "diabetes", "digits", "mnist1d", "shapes", "sine", "copy", "reverse", "sort", "text",
        "line", "curve", "word_contexts", "ring_mixture",
    }
    assert set(names) == expected and len(names) == len(expected)
    for info in list_datasets():
        assert isinstance(info, DatasetInfo) and info.description
        assert info.task in ("classification", "regression", "sequence", "segmentation")
        assert info.input_dtype in ("float", "long")
        assert (info.num_classes is None) == (info.task == "regression")


@pytest.mark.parametrize("name", FAST)
def test_builtin_matches_its_declaration(name):
    info = DATASETS[name]
    ds = load_dataset(name)
    assert ds.name == name and len(ds) > 0
    assert ds.task == info.task
    assert ds.input_shape == info.input_shape == ds.x.shape[1:]
    assert ds.input_dtype == info.input_dtype
    assert ds.x.dtype == (np.float32 if info.input_dtype == "float" else np.int64)
    assert ds.target_shape == info.target_shape == ds.y.shape[1:]
    assert ds.num_classes == info.num_classes
    assert ds.input_spec == TensorSpec(info.input_shape, info.input_dtype)
    if ds.task == "regression":
        assert ds.y.dtype == np.float32
    else:
        assert ds.y.dtype == np.int64
        assert 0 <= ds.y.min() and ds.y.max() < ds.num_classes
    if ds.task == "classification":
        assert set(np.unique(ds.y)) == set(range(ds.num_classes))  # every class present
    if ds.input_dtype == "float":
        assert np.isfinite(ds.x).all()


def test_describe_resolves_shapes_from_options_without_generating():
    assert DATASETS["spirals"].describe(classes=5).num_classes == 5
    rev = DATASETS["reverse"].describe(length=7, vocab=30)
    assert rev.input_shape == (7,) and rev.target_shape == (7,) and rev.num_classes == 30
    assert DATASETS["sine"].describe(length=12).input_shape == (12, 1)
    ds = load_dataset("reverse", length=7, vocab=30, n_samples=50)
    assert (ds.input_shape, ds.target_shape, ds.num_classes) == ((7,), (7,), 30)


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(DatasetError, match=r"'moons' has no option 'clases'.*n_samples, noise, seed"):
        load_dataset("moons", clases=3)


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("moons", {"n_samples": 1}, "n_samples must be at least 2, got 1"),
        ("spirals", {"classes": 50}, "classes must be at most 20, got 50"),
        ("blobs", {"noise": "lots"}, "noise must be a number, got 'lots'"),
        ("mnist1d", {"split": "validation"}, "split must be one of 'train', 'test'"),
        ("iris", {"seed": 1}, "'iris' has no option 'seed'; it accepts no options"),
        ("copy", {"n_samples": 1_000_000, "length": 10_000}, "more than 100,000,000"),
    ],
)
def test_bad_option_values_are_dataset_errors(name, options, pattern):
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(name, **options)


def test_unknown_name_says_it_is_neither_builtin_nor_file(tmp_path):
    missing = tmp_path / "nothing.csv"
    with pytest.raises(DatasetError, match=r"not a built-in \(xor, moons.*no file or folder.*nothing\.csv"):
        load_dataset(str(missing))


# --------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", SEEDED)
def test_same_seed_same_data_other_seed_other_data(name):
    a = load_dataset(name, seed=3, **small(name))
    b = load_dataset(name, seed=3, **small(name))
    c = load_dataset(name, seed=4, **small(name))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", FAST)
def test_loading_leaves_global_random_states_alone(name):
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    seed = torch.initial_seed()
    expected = (np.random.random(), random.random(), torch.rand(1).item())
    np.random.set_state(np_state)
    random.setstate(py_state)
    torch.set_rng_state(torch_state)
    load_dataset(name, **small(name))
    assert torch.initial_seed() == seed
    assert (np.random.random(), random.random(), torch.rand(1).item()) == expected


# ----------------------------------------------------------- what the data is


def test_xor_labels_follow_the_quadrants_without_noise():
    ds = load_dataset("xor", noise=0.0, n_samples=200)
    assert np.array_equal(ds.y, ((ds.x[:, 0] > 0) != (ds.x[:, 1] > 0)).astype(np.int64))


def test_linear_is_separable_so_a_perceptron_converges():
    ds = load_dataset("linear", n_samples=200, seed=7)
    x = np.hstack([ds.x, np.ones((len(ds), 1), np.float32)])
    sign = np.where(ds.y == 1, 1.0, -1.0)
    w = np.zeros(3)
    for _ in range(200):  # perceptron epochs; converges in finitely many on separable data
        errors = 0
        for xi, si in zip(x, sign, strict=True):
            if si * (xi @ w) <= 0:
                w += si * xi
                errors += 1
        if errors == 0:
            break
    assert errors == 0


@pytest.mark.parametrize(("name", "k"), [("spirals", 4), ("blobs", 5)])
def test_classes_option_makes_balanced_classes(name, k):
    ds = load_dataset(name, classes=k, n_samples=103)
    counts = np.bincount(ds.y, minlength=k)
    assert ds.num_classes == k and len(counts) == k and counts.max() - counts.min() <= 1


def test_token_tasks_produce_their_rule():
    x = load_dataset("copy", n_samples=30).x
    for name, rule in (("copy", lambda a: a), ("reverse", lambda a: a[:, ::-1]),
                       ("sort", lambda a: np.sort(a, axis=1))):
        ds = load_dataset(name, n_samples=30, length=6, vocab=7, seed=1)
        assert ds.x.max() < 7 and np.array_equal(ds.y, rule(ds.x))
    assert x.shape == (30, 10)


def test_sine_target_continues_the_window():
    ds = load_dataset("sine", noise=0.0, length=15, n_samples=40)
    assert ds.x.shape == (40, 15, 1) and ds.y.shape == (40, 1)
    # A noise-free sine obeys s[t+1] = 2 cos(w) s[t] - s[t-1]; recover cos(w) from the
    # window and check the target follows the same recurrence.
    s = np.concatenate([ds.x[:, :, 0], ds.y], axis=1).astype(np.float64)
    c = (s[:, 2] + s[:, 0]) / (2 * s[:, 1])
    ok = np.abs(s[:, 1]) > 0.2
    predicted = 2 * c * s[:, -2] - s[:, -3]
    assert np.allclose(predicted[ok], s[ok, -1], atol=1e-3)


def test_sklearn_sets_keep_names_and_scales():
    iris = load_dataset("iris")
    assert iris.class_names == ["setosa", "versicolor", "virginica"]
    assert iris.feature_names[0] == "sepal length (cm)"
    digits = load_dataset("digits")
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0
    assert load_dataset("diabetes").y.shape == (442, 1)


# ---------------------------------------------------------------------- split


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 300), fraction=st.floats(0.0, 0.95), seed=st.integers(0, 2**32 - 1))
def test_split_sizes_disjoint_and_covering(n, fraction, seed):
    ds = toy(n)
    train, val = ds.split(fraction, seed=seed)
    assert len(train) + len(val) == n
    rows_train, rows_val = set(train.x[:, 0].tolist()), set(val.x[:, 0].tolist())
    assert not rows_train & rows_val and rows_train | rows_val == set(range(n))
    if fraction == 0:
        assert train is ds and len(val) == 0
    else:
        assert len(val) == min(max(round(n * fraction), 1), n - 1)
    assert np.array_equal(train.y, train.x[:, 0].astype(np.int64) % 2)  # rows keep their labels


def test_split_is_seeded_and_keeps_metadata():
    ds = load_dataset("iris")
    a_train, a_val = ds.split(0.2, seed=5)
    b_train, b_val = ds.split(0.2, seed=5)
    c_val = ds.split(0.2, seed=6)[1]
    assert np.array_equal(a_val.x, b_val.x) and np.array_equal(a_train.y, b_train.y)
    assert not np.array_equal(a_val.x, c_val.x)
    assert len(a_val) == 30 and a_val.class_names == ds.class_names
    assert a_val.input_shape == ds.input_shape and a_val.num_classes == 3


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, "half"])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(DatasetError, match="validation fraction"):
        toy().split(fraction)


def test_split_of_one_sample_explains():
    with pytest.raises(DatasetError, match="1 sample.*too few"):
        toy(1).split(0.5)


# ------------------------------------------------------------------ normalise


def test_standard_normalise_uses_training_statistics_only():
    train, val = toy(40).split(0.25, seed=0)
    val = val.subset(range(len(val)))
    val.x[:] += 1000.0  # a shifted validation set must not move the statistics
    (n_train, n_val), stats = normalise(train, val)
    assert np.allclose(n_train.x.mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(n_train.x.std(axis=0), 1.0, atol=1e-4)
    assert np.allclose(stats.shift, train.x.mean(axis=0))
    assert np.allclose(n_val.x, (val.x - train.x.mean(axis=0)) / train.x.std(axis=0), atol=1e-4)
    assert n_val.x.mean() > 10  # still far away: val statistics were not used
    assert train.x[0, 0] != n_train.x[0, 0]  # inputs not changed in place
    assert n_train.x.dtype == np.float32


def test_minmax_and_constant_features():
    ds = toy(10)
    ds.x[:, 2] = 4.0  # constant column
    (out,), stats = normalise(ds, method="minmax")
    assert out.x[:, 0].min() == 0.0 and out.x[:, 0].max() == 1.0
    assert np.all(out.x[:, 2] == 0.0) and stats.scale[2] == 1.0


def test_images_are_normalised_per_channel_and_stats_round_trip():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2, 4, 4)).astype(np.float32) * np.array([1, 5], np.float32)[:, None, None] + 3
    ds = Dataset("img", x, np.zeros(30, np.int64), "classification", (2, 4, 4), "float", (), 1, None, "")
    (out,), stats = normalise(ds)
    assert stats.shift.shape == (2, 1, 1)
    assert np.allclose(out.x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(out.x.std(axis=(0, 2, 3)), 1, atol=1e-4)
    again = Normalisation.from_dict(stats.to_dict())
    assert np.allclose(again.apply(x), out.x)


def test_normalise_none_and_tokens_leave_data_alone():
    ds = toy()
    (same,), stats = normalise(ds, method="none")
    assert same is ds and stats.method == "none"
    tokens = load_dataset("copy", n_samples=10)
    (out,), stats = normalise(tokens)
    assert np.array_equal(out.x, tokens.x) and out.x.dtype == np.int64 and stats.method == "none"


def test_normalise_rejects_bad_method_and_mismatched_sets():
    with pytest.raises(DatasetError, match="normalisation must be one of standard, minmax, none"):
        normalise(toy(), method="zscore")
    with pytest.raises(DatasetError, match="input shapes differ"):
        normalise(toy(features=3), toy(features=4))
    with pytest.raises(DatasetError, match="unreadable"):
        Normalisation.from_dict({"method": "standard", "shape": [2], "shift": [1.0]})
    with pytest.raises(DatasetError, match=r"value 1 has shift 2\.0 and scale 0\.0"):
        Normalisation.from_dict({"method": "standard", "shape": [2], "shift": [1.0, 2.0],
                                 "scale": [1.0, 0.0]})


# -------------------------------------------------------------------- preview


def test_preview_is_plain_rows_for_a_table():
    ds = load_dataset("iris")
    p = ds.preview(3)
    assert p["kind"] == "table" and len(p["rows"]) == 3
    assert p["columns"][1] == "sepal length (cm)" and p["columns"][-1] == "label"
    assert p["rows"][0][-1] == ds.class_names[ds.y[0]]
    assert p["rows"][0][1] == pytest.approx(float(ds.x[0, 0]), abs=1e-3)
    assert all(isinstance(v, (int, float, str)) for row in p["rows"] for v in row)


@pytest.mark.parametrize(("name", "kind"), [("digits", "image"), ("sine", "signal"), ("sort", "tokens")])
def test_preview_kinds(name, kind):
    ds = load_dataset(name, **small(name))
    p = ds.preview(2)
    assert p["kind"] == kind and len(p["samples"]) == 2
    assert np.array_equal(p["samples"][1]["x"], ds.x[1])
    assert len(p["rows"][0]) == len(p["columns"])
    assert ds.preview(10_000)["rows"].__len__() == len(ds)


def test_dataset_refuses_arrays_that_contradict_the_declaration():
    with pytest.raises(ValueError, match="declared"):
        Dataset("bad", np.zeros((3, 2), np.float32), np.zeros(3, np.int64), "classification",
                (3,), "float", (), 2, None, "")
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        Dataset("bad", np.zeros((3, 2), np.float32), np.array([0, 1, 2]), "classification",
                (2,), "float", (), 2, None, "")


def test_datasets_never_import_qt():
    code = (
        "import sys, layerloom.backend.datasets, layerloom.backend.cli.datasets, mnist1d.data\n"
        "layerloom.backend.datasets.load_dataset('digits')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------ CLI


def test_cli_lists_every_builtin(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "task", "input", "shape", "dtype", "classes", "description"]
    for info in list_datasets():
        row = next(line for line in lines if line.split()[0] == info.name)
        assert info.task in row and info.input_dtype in row
        assert f"({', '.join(map(str, info.input_shape))}" in row


def test_cli_describes_one_and_previews(capsys):
    assert main(["datasets", "spirals", "-o", "classes=4", "--preview", "2"]) == 0
    out = capsys.readouterr().out
    assert "classes=3" in out and "4 classes" in out and "turns" in out
    assert len([line for line in out.splitlines() if line.startswith(("0 ", "1 "))]) == 2


def test_cli_errors_are_one_line(capsys):
    assert main(["datasets", "moons", "-o", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'moons' has no option 'bogus'") and "Traceback" not in err
    assert main(["datasets", "moons", "-o", "n_samples"]) == 2
    assert "not KEY=VALUE" in capsys.readouterr().err
