"""The in-memory dataset, its error type, and normalisation.

A :class:`Dataset` is a pair of NumPy arrays plus what the rest of LayerLoom needs
to know about them without looking inside: the task (which loss and metrics fit),
the per-sample input shape and dtype (what the Input node must declare), the
per-sample target shape and the number of classes (what the Output node must
produce). Built-in generators and user-file readers all return one, so the trainer
and the GUI never care where the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from layerloom.graph.settings import NORMALISE
from layerloom.graph.tensor import TensorSpec, fmt_shape

TASKS = ("classification", "regression", "sequence", "segmentation")
INPUT_DTYPES = ("float", "long")
NORMALISE_METHODS = NORMALISE  # the choices of the dataset's normalise setting
PREVIEW_MAX_COLUMNS = 8  # wider inputs are summarised in a preview, not listed


class DatasetError(Exception):
    """Data that cannot be used: the message names the file and the row, column or
    element at fault, quotes the value, and says what to do."""


@dataclass(eq=False)
class Dataset:
    """Samples and targets with the facts needed to build and train a model on them.

    Parameters
    ----------
    name : str
        The registry name of a built-in, or the file (or folder) name of user data.
    x : numpy.ndarray
        Inputs, ``(n, *input_shape)``: float32, or int64 token ids.
    y : numpy.ndarray
        Targets: ``(n,)`` int64 class labels, ``(n, k)`` float32 regression values,
        ``(n, T)`` int64 next tokens for sequence tasks, or ``(n, H, W)`` int64
        per-pixel classes (masks) for segmentation.
    task : str
        ``"classification"``, ``"regression"``, ``"sequence"`` or ``"segmentation"``.
    input_shape : tuple of int
        Shape of one sample, without the batch dim (a graph ``TensorSpec`` shape).
    input_dtype : str
        ``"float"`` or ``"long"``, as in a graph ``TensorSpec``.
    target_shape : tuple of int
        Shape of one target: ``()`` for a class label, ``(k,)`` for regression,
        ``(T,)`` for token targets, the input's spatial shape ``(H, W)`` (its shape
        after the channel axis) for a segmentation mask.
    num_classes : int or None
        Number of classes (classification, segmentation) or vocabulary size
        (sequence); ``None`` for regression.
    class_names : list of str or None
        A name per class where the data has them (``"setosa"``), else ``None``.
    description : str
        One or two sentences for tooltips and the command line.
    test : Dataset or None
        A held-out test split shipped with the data (``mnist1d`` has the official
        one), never used for training or validation; ``None`` for most datasets.
    feature_names : list of str or None
        Names of the features of ``(F,)`` inputs where known (CSV headers,
        scikit-learn sets), for previews and reports.
    vocabulary : str or None
        For token data that is text: the character of each token id
        (``vocabulary[i]`` is token ``i``, one per class), so tokens are shown
        and prompts encoded as text; ``None`` for other data.

    Notes
    -----
    The constructor checks that the arrays agree with the declared shapes, dtypes
    and classes, so a dataset that exists is one the trainer can use.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: str
    input_shape: tuple[int, ...]
    input_dtype: str
    target_shape: tuple[int, ...]
    num_classes: int | None
    class_names: list[str] | None
    description: str
    test: Dataset | None = field(default=None, repr=False)
    feature_names: list[str] | None = None
    vocabulary: str | None = None

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.target_shape = tuple(int(s) for s in self.target_shape)
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.input_dtype not in INPUT_DTYPES:
            raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {self.input_dtype!r}")
        want_x = np.float32 if self.input_dtype == "float" else np.int64
        if self.x.dtype != want_x:
            raise ValueError(f"{self.name}: x must be {np.dtype(want_x)}, got {self.x.dtype}")
        if self.x.shape[1:] != self.input_shape:
            raise ValueError(
                f"{self.name}: x has samples of shape {fmt_shape(self.x.shape[1:])}, "
                f"declared {fmt_shape(self.input_shape)}"
            )
        if len(self.y) != len(self.x) or self.y.shape[1:] != self.target_shape:
            raise ValueError(
                f"{self.name}: y has shape {fmt_shape(self.y.shape)}, expected "
                f"{fmt_shape((len(self.x), *self.target_shape))}"
            )
        want_y = np.float32 if self.task == "regression" else np.int64
        if self.y.dtype != want_y:
            raise ValueError(f"{self.name}: y must be {np.dtype(want_y)}, got {self.y.dtype}")
        if self.task == "segmentation" and (
                len(self.input_shape) < 2 or self.target_shape != self.input_shape[1:]):
            raise ValueError(
                f"{self.name}: segmentation needs inputs (C, H, W) and masks (H, W) of the same "
                f"size, got inputs {fmt_shape(self.input_shape)} and masks {fmt_shape(self.target_shape)}"
            )
        if self.task == "regression":
            if self.num_classes is not None or len(self.target_shape) != 1:
                raise ValueError(f"{self.name}: regression needs target_shape (k,) and no classes")
        elif self.num_classes is None or self.num_classes < 1:
            raise ValueError(f"{self.name}: {self.task} needs num_classes >= 1")
        elif len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise ValueError(
                f"{self.name}: labels must lie in 0..{self.num_classes - 1}, "
                f"got {self.y.min()}..{self.y.max()}"
            )
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")
        if self.feature_names is not None and (
            len(self.input_shape) != 1 or len(self.feature_names) != self.input_shape[0]
        ):
            raise ValueError(f"{self.name}: feature names need one name per feature of (F,) inputs")
        if self.vocabulary is not None and (
            self.input_dtype != "long" or len(self.vocabulary) != self.num_classes
        ):
            raise ValueError(f"{self.name}: a vocabulary needs token inputs and one character per token "
                             f"({self.num_classes} tokens, {len(self.vocabulary)} characters)")

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return len(self.x)

    @property
    def input_spec(self) -> TensorSpec:
        """The ``TensorSpec`` an Input node needs to accept these samples."""
        return TensorSpec(self.input_shape, self.input_dtype)

    def subset(self, indices) -> Dataset:
        """A dataset of the rows ``indices`` (copied arrays; ``test`` is not carried)."""
        idx = np.asarray(indices, dtype=np.int64)
        return replace(self, x=self.x[idx], y=self.y[idx], test=None)

    def split(self, val_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split off a random validation set.

        Rows are drawn with ``np.random.default_rng(seed)``, so the same seed gives
        the same split and the global random state is left alone. Each part keeps
        the original row order. Not stratified.

        Parameters
        ----------
        val_fraction : float
            Share of rows for validation, ``0 <= val_fraction < 1``. Zero returns
            ``(self, empty)``; otherwise at least one row goes to each side.
            The training part keeps ``test``; the validation part has none.
        seed : int
            Seed of the shuffle.

        Returns
        -------
        (train, val) : tuple of Dataset
        """
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
            raise DatasetError(f"validation fraction must be a number, got {val_fraction!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise DatasetError(
                f"validation fraction must be at least 0 and below 1, got {val_fraction!r}"
            )
        n = len(self)
        if val_fraction == 0.0:
            return self, self.subset([])
        if n < 2:
            raise DatasetError(
                f"{self.name} has {n} sample(s): too few to split off a validation set; "
                "set the validation fraction to 0 or add data"
            )
        n_val = min(max(int(round(n * val_fraction)), 1), n - 1)
        order = np.random.default_rng(seed).permutation(n)
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        return replace(self.subset(train_idx), test=self.test), self.subset(val_idx)

    # ----------------------------------------------------------------- preview

    def label_text(self, target: Any) -> str:
        """Readable text for one target (a class name where known)."""
        if self.task == "classification":
            i = int(target)
            return self.class_names[i] if self.class_names else str(i)
        arr = np.asarray(target)
        if self.task == "sequence":
            return self.tokens_text(arr)
        if self.task == "segmentation":
            counts = np.bincount(arr.reshape(-1), minlength=self.num_classes)
            names = self.class_names or [str(i) for i in range(self.num_classes)]
            parts = [f"{names[c]} {int(counts[c])} px" for c in range(1, len(counts)) if counts[c]]
            return ", ".join(parts) if parts else f"{names[0]} only"
        return ", ".join(f"{float(v):.4g}" for v in arr.reshape(-1))

    def preview(self, n: int = 5) -> dict[str, Any]:
        """The first ``n`` samples as plain data for a preview table or plot.

        Returns
        -------
        dict
            ``kind``: ``"table"`` (few features, one column each), ``"image"``
            (``(C, H, W)`` inputs), ``"signal"`` (other float arrays) or
            ``"tokens"``; ``columns``: header strings; ``rows``: lists of plain
            Python values and strings, one per sample, aligned with ``columns``;
            ``samples``: ``{"x": ndarray, "y": target, "label": str}`` per sample,
            for plotting images and signals; ``summary``: one line about the whole
            set.
        """
        n = max(0, min(int(n), len(self)))
        rank = len(self.input_shape)
        if self.input_dtype == "long":
            kind = "tokens"
        elif rank == 1 and self.input_shape[0] <= PREVIEW_MAX_COLUMNS:
            kind = "table"
        elif rank == 3:
            kind = "image"
        else:
            kind = "signal"
        target_col = {"classification": "label", "segmentation": "mask"}.get(self.task, "target")
        if kind == "table":
            features = self.feature_names or [f"x{i}" for i in range(self.input_shape[0])]
            columns = ["#", *features, target_col]
        else:
            columns = ["#", "x", target_col]
        rows, samples = [], []
        for i in range(n):
            x, y = self.x[i], self.y[i]
            label = self.label_text(y)
            if kind == "table":
                rows.append([i, *(round(float(v), 4) for v in x), label])
            elif kind == "tokens":
                rows.append([i, self.tokens_text(x), label])
            else:
                rows.append([i, f"{fmt_shape(x.shape)} min {x.min():.3g} max {x.max():.3g}", label])
            samples.append({"x": np.array(x), "y": y.item() if y.ndim == 0 else np.array(y), "label": label})
        return {
            "kind": kind,
            "columns": columns,
            "rows": rows,
            "samples": samples,
            "summary": self.summary(),
        }

    def tokens_text(self, tokens: Any) -> str:
        """Token ids as text: the characters quoted where the data has a
        vocabulary (``'the cat'``), else the ids separated by spaces."""
        ids = np.asarray(tokens).reshape(-1)
        if self.vocabulary is not None:
            return repr("".join(self.vocabulary[int(t)] for t in ids))
        return " ".join(str(int(t)) for t in ids)

    def summary(self) -> str:
        """One line: size, shapes, task and classes."""
        what = self.task
        if self.task == "classification":
            what += f", {self.num_classes} classes"
        elif self.task == "sequence":
            what += f", vocabulary {self.num_classes}"
        elif self.task == "segmentation":
            what += f", masks {fmt_shape(self.target_shape)} of {self.num_classes} classes"
        else:
            what += f", {self.target_shape[0]} target value(s)"
        return (
            f"{self.name}: {len(self):,} samples of {str(self.input_spec)}, {what}"
        )


# -------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normalisation:
    """Statistics that map inputs to ``(x - shift) / scale``.

    Computed on the training set only and applied unchanged to validation, test
    and future inputs, so no information leaks from held-out data. Save it with
    the model (:meth:`to_dict`) so predictions see inputs scaled the same way.

    ``shift`` and ``scale`` have the shape of one sample with size-1 axes where
    the statistics are shared: per feature for ``(F,)`` inputs, per channel (the
    first sample axis) for ``(C, ...)`` inputs.
    """

    method: str
    shift: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` (a batch) normalised, as float32."""
        if self.method == "none":
            return x
        return ((x - self.shift) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``method``, ``shape`` and the flat ``shift``/``scale``."""
        return {
            "method": self.method,
            "shape": list(self.shift.shape),
            "shift": [float(v) for v in self.shift.reshape(-1)],
            "scale": [float(v) for v in self.scale.reshape(-1)],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Normalisation:
        """Rebuild from :meth:`to_dict` output, checking every value."""
        try:
            method = data["method"]
            if method not in NORMALISE_METHODS:
                raise ValueError(f"method {method!r} is not one of {NORMALISE_METHODS}")
            shape = tuple(int(s) for s in data["shape"])
            shift = np.asarray(data["shift"], dtype=np.float32).reshape(shape)
            scale = np.asarray(data["scale"], dtype=np.float32).reshape(shape)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DatasetError(f"saved normalisation statistics are unreadable ({exc})") from None
        bad = ~np.isfinite(shift) | ~np.isfinite(scale) | ~(scale > 0)
        if bad.any():
            at = int(np.flatnonzero(bad.reshape(-1))[0])
            raise DatasetError(
                f"saved normalisation statistics are unusable: value {at} has shift "
                f"{float(shift.reshape(-1)[at])!r} and scale {float(scale.reshape(-1)[at])!r} "
                "(each must be finite, the scale above 0); save the model again"
            )
        return cls(method, shift, scale)


def _stat_axes(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    # Batch axis always; for (C, ...) samples also every axis after the channel.
    return (0,) if len(input_shape) <= 1 else (0, *range(2, len(input_shape) + 1))


def normalise(
    train: Dataset, *others: Dataset, method: str = "standard"
) -> tuple[tuple[Dataset, ...], Normalisation]:
    """Scale inputs with statistics computed on ``train`` only.

    Parameters
    ----------
    train : Dataset
        The training set: the only source of the statistics.
    *others : Dataset
        Validation, test or any other sets with the same input shape; they are
        scaled with the training statistics.
    method : {"standard", "minmax", "none"}
        ``standard``: zero mean, unit variance; ``minmax``: training range to
        0..1; ``none``: unchanged (still returns statistics, an identity).

    Returns
    -------
    datasets : tuple of Dataset
        ``(train, *others)`` normalised, new objects (the inputs are not changed).
    stats : Normalisation
        What was applied, to save with the model.

    Notes
    -----
    A dataset's ``test`` split, where it has one, is scaled along with it.
    Token inputs (``input_dtype == "long"``) are ids, not magnitudes, and are
    returned unchanged. Features with no spread in the training set (a constant
    column) keep a scale of 1 instead of dividing by zero.

    Examples
    --------
    >>> (train, val), stats = normalise(train, val)  # doctest: +SKIP
    """
    if method not in NORMALISE_METHODS:
        raise DatasetError(
            f"normalisation must be one of {', '.join(NORMALISE_METHODS)}, got {method!r}"
        )
    for other in others:
        if other.input_shape != train.input_shape or other.input_dtype != train.input_dtype:
            raise DatasetError(
                f"cannot normalise {other.name} {other.input_spec} with statistics of "
                f"{train.name} {train.input_spec}: the input shapes differ"
            )
    stat_shape = (1, *train.input_shape)
    if len(train.input_shape) >= 2:
        stat_shape = (1, train.input_shape[0], *(1,) * (len(train.input_shape) - 1))
    shift = np.zeros(stat_shape[1:], np.float32)
    scale = np.ones(stat_shape[1:], np.float32)
    if method != "none" and train.input_dtype == "float":
        if len(train) == 0:
            raise DatasetError(f"cannot compute normalisation statistics: {train.name} is empty")
        axes = _stat_axes(train.input_shape)
        x = train.x.astype(np.float64)
        if method == "standard":
            lo, spread = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        else:
            lo = x.min(axis=axes, keepdims=True)
            spread = x.max(axis=axes, keepdims=True) - lo
        spread = np.where(spread > 1e-12, spread, 1.0)
        shift = lo.reshape(stat_shape[1:]).astype(np.float32)
        scale = spread.reshape(stat_shape[1:]).astype(np.float32)
    effective = method if train.input_dtype == "float" else "none"
    stats = Normalisation(effective, shift, scale)
    return tuple(_scaled(d, stats) for d in (train, *others)), stats


def _scaled(d: Dataset, stats: Normalisation) -> Dataset:
    if stats.method == "none":
        return d
    test = None if d.test is None else _scaled(d.test, stats)
    return replace(d, x=stats.apply(d.x), test=test)
