"""MNIST-1D, generated locally and cached.

MNIST-1D (Greydanus, 2020) turns ten 1-D digit templates into 40-sample signals
with random padding, scaling, translation, noise and shear. It separates MLPs,
CNNs and RNNs about as well as MNIST does, yet trains in seconds on a CPU. The
data is made here with the ``mnist1d`` package's own generator and its default
arguments (5,000 signals, seed 42, the first 4,000 for training and the last
1,000 as the official test split, as in the paper), never with its downloader.

Generating takes a couple of seconds, so the arrays are cached as ``.npz`` in
:func:`cache_dir`; later loads read them back (``allow_pickle=False``). The
generator reseeds the global NumPy and ``random`` states; they are saved before
and restored after, so loading this dataset changes no one else's random stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from layerloom.backend.datasets.base import Dataset
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.graph.params import Choice

MNIST1D_DOC = ("MNIST-1D: 10 digit classes as 1-D signals of 40 samples, shape (1, 40) "
               "for Conv1d; 4,000 training and 1,000 official test signals.")
CACHE_FORMAT = 1  # bump when the cached arrays change meaning
LENGTH = 40
KEYS = ("x", "y", "x_test", "y_test")


def cache_dir() -> Path:
    """Where generated data is cached: ``$LAYERLOOM_CACHE``, else ``~/.cache/layerloom``."""
    env = os.environ.get("LAYERLOOM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "layerloom"


def _generator_args():
    from mnist1d.data import get_dataset_args

    return get_dataset_args(as_dict=False)


def _cache_path(args) -> Path:
    # The key covers every generation argument, so a package update that changes a
    # default makes a new cache file instead of serving stale data.
    relevant = {k: v for k, v in sorted(vars(args).items()) if k != "url"}
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, relevant]).encode()).hexdigest()[:12]
    return cache_dir() / f"mnist1d-{digest}.npz"


def _generate(args) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(data["x"], np.float32).reshape(-1, 1, LENGTH),
        "y": np.asarray(data["y"], np.int64),
        "x_test": np.asarray(data["x_test"], np.float32).reshape(-1, 1, LENGTH),
        "y_test": np.asarray(data["y_test"], np.int64),
    }


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` when missing, unreadable or malformed."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in KEYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    ok = (
        arrays["x"].dtype == np.float32 and arrays["x_test"].dtype == np.float32
        and arrays["y"].dtype == np.int64 and arrays["y_test"].dtype == np.int64
        and arrays["x"].shape[1:] == (1, LENGTH) and arrays["x_test"].shape[1:] == (1, LENGTH)
        and len(arrays["x"]) == len(arrays["y"]) and len(arrays["x_test"]) == len(arrays["y_test"])
        and all(a.ndim == 1 for a in (arrays["y"], arrays["y_test"]))
        and all(((a >= 0) & (a < 10)).all() for a in (arrays["y"], arrays["y_test"]))
    )
    return arrays if ok else None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temporary file, then rename); a read-only cache is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mnist1d-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def mnist1d_arrays() -> dict[str, np.ndarray]:
    """Train and test arrays (``x``, ``y``, ``x_test``, ``y_test``), cached on disk."""
    args = _generator_args()
    path = _cache_path(args)
    arrays = _read_cache(path)
    if arrays is None:
        arrays = _generate(args)
        _write_cache(path, arrays)
    return arrays


def load_mnist1d(split: str) -> Dataset:
    """The training split (with the official test split as ``.test``), or the test split.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: 4,000 signals, with ``Dataset.test`` holding the 1,000 test
        signals for a final evaluation; ``"test"``: those 1,000 signals alone.
    """
    arrays = mnist1d_arrays()
    names = [str(i) for i in range(10)]

    def make(x, y, doc, test=None):
        return Dataset(
            name="mnist1d", x=x, y=y, task="classification", input_shape=(1, LENGTH),
            input_dtype="float", target_shape=(), num_classes=10, class_names=names,
            description=doc, test=test,
        )

    test = make(arrays["x_test"], arrays["y_test"], MNIST1D_DOC + " (official test split)")
    if split == "test":
        return test
    return make(arrays["x"], arrays["y"], MNIST1D_DOC, test)


register(DatasetInfo(
    name="mnist1d", description=MNIST1D_DOC, task="classification", input_shape=(1, LENGTH),
    input_dtype="float", num_classes=10,
    options=(Choice("split", "train", ("train", "test"),
                    "train: 4,000 signals (the 1,000 test signals ride along as .test); "
                    "test: the official 1,000 test signals, to compare with published results"),),
    target_shape=(), loader=load_mnist1d, category="Signals and images",
))
