"""Training and dataset settings: the ``"training"`` and ``"dataset"`` sections of a
``.loom`` file.

Both are plain dataclasses with ``to_dict``/``from_dict``. ``from_dict`` checks every
value and raises :class:`SettingsError` with a message that names the key, quotes the
value and says what is allowed; unknown keys are refused by name (a typo such as
``"learning_rate"`` must not be silently ignored and train with the default). Missing
keys take their defaults, so older files and hand-written sections stay valid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
LOSSES = ("auto", "cross_entropy", "nll", "mse", "l1", "huber", "bce_with_logits")
SCHEDULES = ("none", "step", "cosine", "one_cycle", "plateau")
PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("auto", "min", "max")
NORMALISE = ("standard", "minmax", "none")
METRICS = ("loss", "accuracy", "mae", "r2")
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1 << 31
MAX_PROCESSES = 1024


class SettingsError(ValueError):
    """A settings value that cannot be used; the message names the key and the value."""


def _from_section(cls, data: Any, section: str):
    """``cls`` built from the file section ``section`` (``None`` counts as empty):
    refuses anything but an object, and unknown keys by name."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"the {section} settings must be an object, got {data!r}")
    known = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in known]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise SettingsError(
            f"unknown {section} setting{'s' if len(unknown) > 1 else ''} {names}; "
            f"known settings are {', '.join(known)}"
        )
    return cls(**data)


def _number(key: str, value: Any, lo: float, hi: float, *, integer: bool = False,
            lo_open: bool = False) -> float | int:
    """``value`` as a number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{key} must be {kind}, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise SettingsError(f"{key} must be a whole number, got {value!r}")
        value = int(value)
    elif not math.isfinite(value):
        raise SettingsError(f"{key} must be a finite number, got {value!r}")
    low_ok = value > lo if lo_open else value >= lo
    if not low_ok or value > hi:
        left = "above" if lo_open else "at least"
        raise SettingsError(f"{key} must be {left} {_fmt(lo)} and at most {_fmt(hi)}, got {value!r}")
    return value if integer else float(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{key} must be true or false, got {value!r}")
    return value


def parse_batch_size(value: Any) -> int:
    """``"full"`` or ``0`` mean the whole training set in one batch (returned as 0)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "full":
            return 0
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(
                f"batch_size must be a whole number of samples or 'full', got {value!r}"
            ) from None
    return int(_number("batch_size", value, 0, MAX_BATCH, integer=True))


def check_device(value: Any) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``; availability is checked later."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "cpu", "mps", "cuda"):
            return text
        if text.startswith("cuda:") and text[5:].isdigit():
            return text
    raise SettingsError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")


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
        ``auto`` picks from the task: cross-entropy for classification and sequence
        tasks, MSE for regression. ``mse``/``l1``/``huber``/``bce_with_logits`` on
        class labels train against one-hot targets (or the 0/1 label itself when the
        model has a single output).
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
        Wrap the model in ``torch.compile`` (first steps are slower while it compiles).
    processes : int
        Training processes on this machine for ``layerloom train`` (data-parallel
        with torch.distributed: one per GPU on CUDA, CPU processes otherwise);
        ``--nproc`` overrides it. ``batch_size`` stays the global batch, split
        across the processes, so the same file learns the same way on any count.
        The in-app trainer runs one process.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    loss: str = "auto"
    huber_delta: float = 1.0
    epochs: int = 10
    batch_size: int = 32
    grad_clip: float = 0.0
    schedule: str = "none"
    lr_step_size: int = 10
    lr_gamma: float = 0.1
    lr_patience: int = 5
    min_lr: float = 0.0
    early_stopping: bool = False
    monitor: str = "val_loss"
    mode: str = "auto"
    patience: int = 10
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    processes: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check (and canonicalise) every field; raises :class:`SettingsError`."""
        self.optimizer = _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.lr = _number("lr", self.lr, 0.0, 1e3, lo_open=True)
        self.momentum = _number("momentum", self.momentum, 0.0, 1.0)
        if self.momentum >= 1.0:
            raise SettingsError(f"momentum must be below 1, got {self.momentum!r}")
        self.nesterov = _bool("nesterov", self.nesterov)
        if self.nesterov and self.optimizer == "sgd" and self.momentum == 0.0:
            raise SettingsError("nesterov needs momentum above 0 (for example momentum 0.9)")
        betas = self.betas
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise SettingsError(f"betas must be two numbers like [0.9, 0.999], got {betas!r}")
        self.betas = tuple(_number("betas", b, 0.0, 1.0) for b in betas)
        if max(self.betas) >= 1.0:
            raise SettingsError(f"betas must each be below 1, got {list(betas)!r}")
        self.weight_decay = _number("weight_decay", self.weight_decay, 0.0, 1e3)
        self.loss = _choice("loss", self.loss, LOSSES)
        self.huber_delta = _number("huber_delta", self.huber_delta, 0.0, 1e9, lo_open=True)
        self.epochs = _number("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        self.batch_size = parse_batch_size(self.batch_size)
        self.grad_clip = _number("grad_clip", self.grad_clip, 0.0, 1e9)
        self.schedule = _choice("schedule", self.schedule, SCHEDULES)
        self.lr_step_size = _number("lr_step_size", self.lr_step_size, 1, MAX_EPOCHS, integer=True)
        self.lr_gamma = _number("lr_gamma", self.lr_gamma, 0.0, 1.0, lo_open=True)
        self.lr_patience = _number("lr_patience", self.lr_patience, 0, MAX_EPOCHS, integer=True)
        self.min_lr = _number("min_lr", self.min_lr, 0.0, 1e3)
        self.early_stopping = _bool("early_stopping", self.early_stopping)
        self.monitor = check_monitor(self.monitor)
        self.mode = _choice("mode", self.mode, MODES)
        self.patience = _number("patience", self.patience, 1, MAX_EPOCHS, integer=True)
        self.min_delta = _number("min_delta", self.min_delta, 0.0, 1e9)
        self.seed = _number("seed", self.seed, 0, 2**63 - 1, integer=True)
        self.device = check_device(self.device)
        self.precision = _choice("precision", self.precision, PRECISIONS)
        self.compile = _bool("compile", self.compile)
        self.processes = _number("processes", self.processes, 1, MAX_PROCESSES, integer=True)

    @property
    def monitor_mode(self) -> str:
        """``"min"`` or ``"max"``: the direction in which ``monitor`` improves."""
        if self.mode != "auto":
            return self.mode
        return "max" if self.monitor.removeprefix("val_") in ("accuracy", "r2") else "min"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data with every key (``betas`` as a list)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> TrainSettings:
        """Settings from a file section; missing keys take their defaults."""
        return _from_section(cls, data, "training")

    def replace(self, **changes: Any) -> TrainSettings:
        """A checked copy with ``changes`` applied (command-line overrides)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return TrainSettings.from_dict(data)


def check_monitor(value: Any) -> str:
    if isinstance(value, str) and value.removeprefix("val_") in METRICS:
        return value
    allowed = ", ".join([*METRICS, *(f"val_{m}" for m in METRICS)])
    raise SettingsError(f"monitor must be one of {allowed}, got {value!r}")


TARGETS = ("labels", "input")


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

    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    normalise: str = "standard"
    val_split: float = 0.2
    target: str = "labels"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise SettingsError(f"dataset name must be text, got {self.name!r}")
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise SettingsError(f"dataset options must be an object, got {self.options!r}")
        self.options = dict(self.options)
        self.normalise = _choice("normalise", self.normalise, NORMALISE)
        self.val_split = _number("val_split", self.val_split, 0.0, 1.0)
        if self.val_split >= 1.0:
            raise SettingsError(f"val_split must be below 1, got {self.val_split!r}")
        self.target = _choice("target", self.target, TARGETS)

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
