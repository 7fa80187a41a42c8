"""From a graph's ``"dataset"`` section to normalised train / validation / test sets."""

from __future__ import annotations

from dataclasses import dataclass, replace

from layerloom.backend.datasets import Dataset, DatasetError, Normalisation, load_dataset, normalise
from layerloom.backend.training.settings import DatasetSettings


@dataclass
class TrainingData:
    """The sets one run uses, scaled with statistics of ``train`` only.

    ``val`` is ``None`` when ``val_split`` is 0; ``test`` is the dataset's own
    held-out split where it ships one (``mnist1d``), else ``None``.
    ``normalisation`` is what was applied, to store with the trained weights.
    """

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    normalisation: Normalisation


def prepare_data(settings: DatasetSettings, seed: int = 0, base_dir: str | None = None,
                 dataset: Dataset | None = None) -> TrainingData:
    """Load (unless ``dataset`` is given), split and normalise.

    Parameters
    ----------
    settings : DatasetSettings
        The ``"dataset"`` section: name, options, normalisation, validation share.
    seed : int
        Seed of the validation split (the run's seed).
    base_dir : str, optional
        Folder that relative data paths are relative to (the ``.loom`` file's).
    dataset : Dataset, optional
        Data already loaded (``settings.name`` and ``options`` are then ignored).

    Raises
    ------
    DatasetError
        No dataset chosen, unknown name, missing file, bad options, too few samples.
    """
    if dataset is None:
        if not settings.name:
            raise DatasetError(
                "no dataset is chosen: set one in the graph's dataset settings or pass "
                "--dataset NAME|PATH"
            )
        dataset = load_dataset(settings.resolve_name(base_dir), **settings.options)
    train, val = dataset.split(settings.val_split, seed)
    (train, val), stats = normalise(train, val, method=settings.normalise)  # scales train.test too
    test = train.test
    if settings.target == "input":
        train, val = reconstruction(train), reconstruction(val)
        test = reconstruction(test) if test is not None else None
    return TrainingData(train, val if len(val) else None, test, stats)


def reconstruction(data: Dataset) -> Dataset:
    """``data`` with its own inputs, flattened, as regression targets (autoencoders).

    Raises
    ------
    DatasetError
        For token inputs: ids are categories, not values to reproduce.
    """
    if data.input_dtype != "float":
        raise DatasetError(
            f"{data.name}: the target 'input' needs float inputs; token ids cannot be "
            "reconstructed as values — use the dataset's labels as the target"
        )
    flat = data.x.reshape(len(data.x), -1).copy()
    return replace(
        data, y=flat, task="regression", target_shape=flat.shape[1:], num_classes=None,
        class_names=None, test=None,
        description=f"{data.description} Target: the input itself (reconstruction).",
    )
