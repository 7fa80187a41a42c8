"""Training and dataset settings: the ``"training"`` and ``"dataset"`` sections of a
``.loom`` file, as typed objects for the trainer.

Both are plain dataclasses with ``to_dict``/``from_dict``. Their fields and every rule
on their values come from the settings' one declaration, :mod:`graph.settings` (the
file loader, the set-up form and ``layerloom train`` read it too): ``from_dict``
raises :class:`SettingsError` with its message, which names the key, quotes the
value and says what is allowed; unknown keys are refused by name (a typo such as
``"learning_rate"`` must not be silently ignored and train with the default).
Missing keys take their defaults, so older files and hand-written sections stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from layerloom.graph import ParamError
from layerloom.graph import settings as declaration
from layerloom.graph.settings import LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULES

__all__ = ["LOSSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULES", "DatasetSettings", "SettingsError",
           "TrainSettings", "check_values"]


class SettingsError(ValueError):
    """A settings value that cannot be used; the message names the key and the value."""


def check_values(section: str, data: Any) -> dict[str, Any]:
    """:func:`graph.settings.check_values`, raising :class:`SettingsError`."""
    try:
        return declaration.check_values(section, data)
    except ParamError as exc:
        raise SettingsError(str(exc)) from None


def _default(section: str, key: str) -> Any:
    """A field's default: the declared one."""
    return declaration.setting(section, key).default


def _from_section(cls, data: Any, section: str):
    """``cls`` built from the file section ``section`` (``None`` counts as empty),
    checked against the declaration."""
    values = check_values(section, data)
    # Fields and declaration are the same names (a test keeps them so); a setting
    # declared without a field yet is checked here and left to whoever reads it.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def _check_fields(obj, section: str) -> None:
    """Check and canonicalise every field of ``obj`` in place."""
    values = check_values(section, {f.name: getattr(obj, f.name) for f in fields(obj)})
    for key, value in values.items():
        setattr(obj, key, value)


@dataclass
class TrainSettings:
    """How to train: the ``"training"`` section of a ``.loom`` file.

    Parameters
    ----------
    optimizer : {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
    lr : float
        Learning rate (the peak rate for ``one_cycle``).
    momentum : float
        Momentum of ``sgd`` and ``rmsprop``; ignored by the others.
    nesterov : bool
        Nesterov momentum for ``sgd`` (needs ``momentum > 0``).
    betas : tuple of float
        ``(beta1, beta2)`` of ``adam`` and ``adamw``.
    weight_decay : float
        L2 penalty (decoupled for ``adamw``).
    loss : str
        ``auto`` picks from the task: cross-entropy for classification, sequence and
        segmentation tasks (over every pixel of a mask), MSE for regression.
        ``mse``/``l1``/``huber``/``bce_with_logits`` on class labels train against
        one-hot targets (or the 0/1 label itself when the model has a single output).
    huber_delta : float
        Where the Huber loss turns from quadratic to linear.
    epochs : int
        Passes over the training set.
    batch_size : int or "full"
        Samples per step; ``0`` or ``"full"`` puts the whole training set in one
        batch (stored as ``0``).
    grad_clip : float
        Clip the global gradient norm to this value; ``0`` turns clipping off.
    schedule : {"none", "step", "cosine", "one_cycle", "plateau"}
        ``step`` multiplies the rate by ``lr_gamma`` every ``lr_step_size`` epochs;
        ``cosine`` anneals it to ``min_lr`` over the run and ``one_cycle`` warms it
        up to ``lr`` and back down (both per step; momentum is not cycled);
        ``plateau`` multiplies it by ``lr_gamma`` when ``monitor`` has not improved
        for ``lr_patience`` epochs.
    lr_step_size, lr_gamma, lr_patience, min_lr
        Parameters of the schedules above.
    early_stopping : bool
        Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.
    monitor : str
        ``loss``, ``accuracy``, ``mae`` or ``r2``, optionally prefixed with ``val_``;
        used by early stopping and the plateau schedule. Without a validation set
        ``val_`` metrics fall back to the training ones.
    mode : {"auto", "min", "max"}
        Whether the monitored value should fall or rise; ``auto``: rise for
        accuracy and R², fall otherwise.
    patience, min_delta
        Early-stopping parameters.
    seed : int
        Seeds initialisation, batch order and dropout: the same seed gives the same
        losses, step for step.
    device : str
        ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    precision : {"fp32", "bf16", "fp16"}
        Mixed precision (autocast; fp16 with gradient scaling). It exists on CUDA
        only: elsewhere the run trains in fp32 and says so in a note of its
        ``started`` event, so a file saved on a GPU machine still trains on a laptop.
    compile : bool
        The fast path (:mod:`layerloom.backend.training.fast`): a fused optimizer, and on
        CUDA ``torch.compile`` with CUDA graphs (the first steps are slow while it
        compiles); where compiling fails the run trains on without it and says so.
    keep_best : bool
        Keep the weights of the epoch where ``monitor`` was best and restore them
        when the run ends (:mod:`layerloom.backend.training.best`); on runs with a
        validation set only, when ``monitor`` is a validation metric.
    processes : int
        Training processes on this machine for ``layerloom train`` (data-parallel
        with torch.distributed: one per GPU on CUDA, CPU processes otherwise);
        ``--nproc`` overrides it. ``batch_size`` stays the global batch, split
        across the processes, so the same file learns the same way on any count.
        The in-app trainer runs one process.
    """

    optimizer: str = _default("training", "optimizer")
    lr: float = _default("training", "lr")
    momentum: float = _default("training", "momentum")
    nesterov: bool = _default("training", "nesterov")
    betas: tuple[float, float] = _default("training", "betas")
    weight_decay: float = _default("training", "weight_decay")
    loss: str = _default("training", "loss")
    huber_delta: float = _default("training", "huber_delta")
    epochs: int = _default("training", "epochs")
    batch_size: int = _default("training", "batch_size")
    grad_clip: float = _default("training", "grad_clip")
    schedule: str = _default("training", "schedule")
    lr_step_size: int = _default("training", "lr_step_size")
    lr_gamma: float = _default("training", "lr_gamma")
    lr_patience: int = _default("training", "lr_patience")
    min_lr: float = _default("training", "min_lr")
    early_stopping: bool = _default("training", "early_stopping")
    monitor: str = _default("training", "monitor")
    mode: str = _default("training", "mode")
    patience: int = _default("training", "patience")
    min_delta: float = _default("training", "min_delta")
    keep_best: bool = _default("training", "keep_best")
    seed: int = _default("training", "seed")
    device: str = _default("training", "device")
    precision: str = _default("training", "precision")
    compile: bool = _default("training", "compile")
    processes: int = _default("training", "processes")
    task: str = _default("training", "task")  # the GAN settings: layerloom.graph.gan_settings
    gan_loss: str = _default("training", "gan_loss")
    d_steps: int = _default("training", "d_steps")
    g_lr: float = _default("training", "g_lr")
    d_lr: float = _default("training", "d_lr")
    g_optimizer: str = _default("training", "g_optimizer")
    d_optimizer: str = _default("training", "d_optimizer")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check (and canonicalise) every field against the declaration; raises
        :class:`SettingsError`."""
        _check_fields(self, "training")

    @property
    def monitor_mode(self) -> str:
        """``"min"`` or ``"max"``: the direction in which ``monitor`` improves."""
        if self.mode != "auto":
            return self.mode
        return "max" if self.monitor.removeprefix("val_") in ("accuracy", "r2") else "min"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data with every key (``betas`` as a list)."""
        return declaration.to_json("training", {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Any) -> TrainSettings:
        """Settings from a file section; missing keys take their defaults."""
        return _from_section(cls, data, "training")

    def replace(self, **changes: Any) -> TrainSettings:
        """A checked copy with ``changes`` applied (command-line overrides)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return TrainSettings.from_dict(data)


@dataclass
class DatasetSettings:
    """What to train on: the ``"dataset"`` section of a ``.loom`` file.

    Example::

        "dataset": {"name": "moons", "options": {"n_samples": 1000, "noise": 0.2},
                    "normalise": "standard", "val_split": 0.2}

    Parameters
    ----------
    name : str
        A built-in dataset (``backend.datasets.list_datasets()``) or a path to user
        data (``.csv``, ``.npz``, an image folder, IDX files). A relative path is
        taken relative to the ``.loom`` file's folder (see :meth:`resolve_name`).
        Empty means no dataset is chosen yet.
    options : dict
        The dataset's options, checked by ``load_dataset``.
    normalise : {"standard", "minmax", "none"}
        How inputs are scaled, with statistics from the training part only
        (token inputs are never scaled).
    val_split : float
        Share of the samples held out for validation, ``0 <= val_split < 1``
        (``0``: no validation set). The split is drawn with the run's seed.
    target : {"labels", "input"}
        What the model learns to output: the dataset's labels, or its own
        (normalised) input, flattened, for autoencoders (a regression on every
        input value). Written to the file only when it is ``"input"``.
    """

    name: str = _default("dataset", "name")
    options: dict[str, Any] = field(default_factory=dict)
    normalise: str = _default("dataset", "normalise")
    val_split: float = _default("dataset", "val_split")
    target: str = _default("dataset", "target")

    def __post_init__(self) -> None:
        _check_fields(self, "dataset")

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "options": dict(self.options),
                "normalise": self.normalise, "val_split": self.val_split}
        if self.target != "labels":
            data["target"] = self.target
        return data

    @classmethod
    def from_dict(cls, data: Any) -> DatasetSettings:
        """Settings from a file section; missing keys take their defaults."""
        return _from_section(cls, data, "dataset")

    def replace(self, **changes: Any) -> DatasetSettings:
        """A checked copy with ``changes`` applied (command-line overrides)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return DatasetSettings.from_dict(data)

    def resolve_name(self, base_dir: str | None) -> str:
        """The name to load: built-in names unchanged, relative paths joined to
        ``base_dir`` (the ``.loom`` file's folder) when the file exists there."""
        import os

        from layerloom.backend.datasets import list_datasets

        if not self.name or any(info.name == self.name for info in list_datasets()):
            return self.name
        if base_dir and not os.path.isabs(self.name):
            candidate = os.path.join(base_dir, self.name)
            if os.path.exists(candidate):
                return candidate
        return self.name
