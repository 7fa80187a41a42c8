"""MNIST-1D: local generation (never a download), the cache, the official test split."""

from __future__ import annotations

import random

import mnist1d.data
import numpy as np
import pytest

from layerloom.backend.datasets import DATASETS, cache_dir, load_dataset, mnist1d_set


def refuse_download(*args, **kwargs):
    raise AssertionError("the mnist1d downloader must never be called")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One real generation (about 2 s) into a temporary cache, checked for side effects."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAYERLOOM_CACHE", str(folder))
        mp.setattr(mnist1d.data, "get_dataset", refuse_download)
        mp.setattr(mnist1d.data.requests, "get", refuse_download)
        np_state, py_state = np.random.get_state(), random.getstate()
        expected = (np.random.random(), random.random())
        np.random.set_state(np_state)
        random.setstate(py_state)
        ds = load_dataset("mnist1d")
        drawn = (np.random.random(), random.random())
    return folder, ds, expected, drawn


@pytest.fixture
def cache(generated, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_CACHE", str(generated[0]))
    return generated[0]


def test_generation_matches_declaration_and_paper_sizes(generated):
    _, ds, _, _ = generated
    info = DATASETS["mnist1d"]
    assert ds.x.shape == (4000, 1, 40) and ds.x.dtype == np.float32
    assert ds.y.shape == (4000,) and ds.y.dtype == np.int64
    assert (ds.input_shape, ds.input_dtype, ds.num_classes) == (info.input_shape, "float", 10)
    assert len(ds.test) == 1000 and ds.test.input_shape == (1, 40)
    # 5,000 signals, 500 per digit, split 4,000 / 1,000 after one shuffle
    assert np.bincount(np.concatenate([ds.y, ds.test.y]), minlength=10).tolist() == [500] * 10
    everything = np.concatenate([ds.x, ds.test.x])
    assert abs(everything.mean()) < 1e-3 and abs(everything.std() - 1) < 1e-3  # the generator standardises


def test_generation_restores_the_global_random_states(generated):
    _, _, expected, drawn = generated
    assert drawn == expected


def test_second_load_reads_the_cache(cache, monkeypatch, generated):
    files = list(cache.glob("mnist1d-*.npz"))
    assert len(files) == 1 and cache_dir() == cache

    def no_generation(args):
        raise AssertionError("the cached arrays should have been used")

    monkeypatch.setattr(mnist1d_set, "_generate", no_generation)
    again = load_dataset("mnist1d")
    assert np.array_equal(again.x, generated[1].x) and np.array_equal(again.y, generated[1].y)
    test = load_dataset("mnist1d", split="test")
    assert len(test) == 1000 and test.test is None
    assert np.array_equal(test.x, generated[1].test.x)


def fake_arrays(args):
    rng = np.random.default_rng(1)
    return {
        "x": rng.normal(size=(20, 1, 40)).astype(np.float32), "y": np.arange(20, dtype=np.int64) % 10,
        "x_test": rng.normal(size=(10, 1, 40)).astype(np.float32), "y_test": np.arange(10, dtype=np.int64),
    }


def test_damaged_cache_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist1d_set, "_generate", fake_arrays)
    path = mnist1d_set._cache_path(mnist1d_set._generator_args())
    path.write_bytes(b"PK\x03\x04 damaged")
    assert len(load_dataset("mnist1d")) == 20
    np.savez(path, x=np.zeros((3, 40), np.float32), y=np.zeros(3, np.int64))  # wrong keys and shape
    assert len(load_dataset("mnist1d")) == 20
    with np.load(path, allow_pickle=False) as npz:
        assert npz["x"].shape == (20, 1, 40)  # rewritten with good arrays


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("LAYERLOOM_CACHE", str(blocker))
    monkeypatch.setattr(mnist1d_set, "_generate", fake_arrays)
    assert len(load_dataset("mnist1d", split="test")) == 10
