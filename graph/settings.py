"""Training and dataset settings, declared once: the ``"training"`` and ``"dataset"``
sections of a ``.loom`` file.

Each setting is a :class:`~graph.params.Param`, like a layer's parameter: its type,
default, range or choices, help text, where the set-up form shows it (``form``) and
the ``layerloom train`` option that overrides it (``flag``). Every surface reads these
two tuples and nothing else:

- the file loader (:mod:`graph.fileformat`) checks a file's sections with
  :func:`check_setting` and :func:`check_rules`;
- ``TrainSettings`` and ``DatasetSettings`` (:mod:`backend.training.settings`) check
  their values with :func:`check_values`;
- the set-up form (:mod:`gui.training.setup.setup_panel`) builds its fields from them, with
  the same editor factory as a layer's property form;
- ``layerloom train`` (:mod:`backend.cli.settings_options`) makes its options from the
  settings that have a ``flag``.

So a value one of them accepts, they all accept. Read the tuples through
:func:`declared` (not by importing them), so that a test can add a setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layerloom.graph.errors import ParamError
from layerloom.graph.gan_settings import gan_settings
from layerloom.graph.params import INT_LIMIT, Bool, Choice, Float, Floats, Int, Object, Param, Text

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
LOSSES = ("auto", "cross_entropy", "nll", "mse", "l1", "huber", "bce_with_logits")
SCHEDULES = ("none", "step", "cosine", "one_cycle", "plateau")
PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("auto", "min", "max")
METRICS = ("loss", "accuracy", "mae", "r2")
MONITORS = (*METRICS, *(f"val_{m}" for m in METRICS))
DEVICES = ("auto", "cpu", "cuda", "mps")
NORMALISE = ("standard", "minmax", "none")
TARGETS = ("labels", "input")
MAX_EPOCHS = 1_000_000
MAX_BATCH = INT_LIMIT  # also the most a form's spin box holds
MAX_SEED = 2**63 - 1  # any 64-bit seed (a timestamp); the form types it as text
MAX_PROCESSES = 1024


def _batch_words(value: Any) -> Any:
    """``"full"`` (any case) is batch size 0: the whole training set in one batch."""
    if isinstance(value, str):
        if value.strip().lower() == "full":
            return 0
        raise ParamError(f"batch_size must be a whole number of samples or 'full', got {value!r}")
    return value


def _device(value: Any) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (any case); whether this
    machine has it is checked when a run starts."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
            return text
    raise ParamError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")


# In the order the set-up form shows them: main fields, then More, then file-only ones.
TRAINING: tuple[Param, ...] = (
    Choice("optimizer", "adam", OPTIMIZERS, "The optimizer that updates the weights",
           flag="--optimizer"),
    Float("lr", 1e-3, "Learning rate: the size of each update (try 1e-3 for adam, 0.01–0.1 for sgd; "
          "the peak rate for one_cycle)", minimum=0.0, exclusive_minimum=True, maximum=1e3,
          label="learning rate", flag="--lr LR"),
    Int("batch_size", 32, "Samples per step, over all processes together (the global batch: each of "
        "N processes takes 1/N of it); 0 or 'full' puts the whole training set in one batch", minimum=0, maximum=MAX_BATCH, convert=_batch_words,
        label="batch size", flag="--batch-size B"),
    Int("epochs", 10, "Passes over the training set", minimum=1, maximum=MAX_EPOCHS, flag="--epochs N"),
    Choice("loss", "auto", LOSSES, "auto: cross-entropy for classes, tokens and masks, MSE for regression"),
    Choice("schedule", "none", SCHEDULES,
           "How the learning rate changes: step decay, cosine, one-cycle, or on a plateau"),
    Int("seed", 0, "Seeds initialisation, validation split, batch order and dropout: the same seed "
        "repeats a run", minimum=0, maximum=MAX_SEED, flag="--seed S"),
    Text("device", "auto", "Where to train: auto (CUDA, then MPS, then CPU), cpu, cuda, "
          "cuda:N or mps", convert=_device, flag="--device auto|cpu|cuda|mps"),
    Int("processes", 1, "Processes that train together on this machine, data-parallel with "
        "torch.distributed (one per GPU on CUDA); the batch size stays the whole batch, split "
        "between them", minimum=1, maximum=MAX_PROCESSES, flag="--nproc N"),
    Choice("precision", "fp32", PRECISIONS, "Mixed precision on a CUDA GPU (bf16 or fp16)",
           label="mixed precision"),
    Float("momentum", 0.0, "Momentum of sgd and rmsprop", minimum=0.0, maximum=1.0,
          exclusive_maximum=True, form="more"),
    Float("weight_decay", 0.0, "L2 penalty on the weights (decoupled for adamw)", minimum=0.0,
          maximum=1e3, label="weight decay", form="more"),
    Float("grad_clip", 0.0, "Clip the gradient norm to this value (0: off)", minimum=0.0,
          maximum=1e9, label="gradient clip", form="more"),
    Bool("early_stopping", False, "Stop when the monitored value (the validation loss) stops improving",
         label="early stopping", form="more"),
    Int("patience", 10, "Epochs without improvement before early stopping", minimum=1,
        maximum=MAX_EPOCHS, form="more"),
    Bool("keep_best", True, "Keep the weights of the epoch with the best monitored value (the "
         "validation loss by default) and restore them when the run ends; runs with validation only",
         label="keep best weights", form="more", flag="--keep-best"),
    Choice("monitor", "val_loss", MONITORS,
           "What best weights, early stopping and the plateau schedule watch (val_loss: lowest; "
           "val_accuracy: highest; val_ metrics fall back to the training ones without a "
           "validation set)", label="monitored value", form="more"),
    Bool("compile", False, "Fast path: a fused optimizer, and on a CUDA GPU torch.compile with CUDA "
         "graphs (slow first steps); falls back to plain PyTorch where it cannot", label="fast path",
         form="more", flag="--compile"),
    Bool("nesterov", False, "Nesterov momentum for sgd (needs momentum above 0)", form=""),
    Floats("betas", (0.9, 0.999), "beta1 and beta2 of adam and adamw", length=2, minimum=0.0,
           maximum=1.0, exclusive_maximum=True, form=""),
    Float("huber_delta", 1.0, "Where the Huber loss turns from quadratic to linear", minimum=0.0,
          exclusive_minimum=True, maximum=1e9, form=""),
    Int("lr_step_size", 10, "Epochs between the step schedule's decays", minimum=1,
        maximum=MAX_EPOCHS, form=""),
    Float("lr_gamma", 0.1, "Factor of the step and plateau schedules", minimum=0.0,
          exclusive_minimum=True, maximum=1.0, form=""),
    Int("lr_patience", 5, "Epochs without improvement before the plateau schedule decays",
        minimum=0, maximum=MAX_EPOCHS, form=""),
    Float("min_lr", 0.0, "Where the cosine schedule ends", minimum=0.0, maximum=1e3, form=""),
    Choice("mode", "auto", MODES, "Whether the monitored value should fall or rise (auto: rise for "
           "accuracy and r2)", form=""),
    Float("min_delta", 0.0, "The least change that counts as an improvement", minimum=0.0,
          maximum=1e9, form=""),
    *gan_settings(OPTIMIZERS),
)

DATASET: tuple[Param, ...] = (
    Text("name", "", "A built-in dataset, or a data file or folder; a relative path is taken "
         "from the .loom file's folder", label="data",
         flag="--dataset NAME|PATH"),
    Object("options", "The dataset's options, checked by the dataset itself"),
    Choice("normalise", "standard", NORMALISE,
           "How inputs are scaled, with statistics of the training part only"),
    Float("val_split", 0.2, "Share of the samples held out for validation; 0: none", minimum=0.0,
          maximum=1.0, exclusive_maximum=True, label="validation share", flag="--val-split F"),
    Choice("target", "labels", TARGETS, "What the model learns to output: the dataset's labels, "
           "or its own input (autoencoders)", form=""),
)

SECTIONS = ("dataset", "training")


def declared(section: str) -> tuple[Param, ...]:
    """The settings of ``section`` (``"dataset"`` or ``"training"``), in form order."""
    if section == "training":
        return TRAINING
    if section == "dataset":
        return DATASET
    raise ValueError(f"unknown settings section {section!r}; use one of {', '.join(SECTIONS)}")


def setting(section: str, key: str) -> Param:
    """The declaration of setting ``key``; unknown keys raise :class:`ParamError`
    naming them and listing the known ones (a typo such as ``learning_rate`` must not
    be ignored and train with the default)."""
    for param in declared(section):
        if param.name == key:
            return param
    known = ", ".join(p.name for p in declared(section))
    raise ParamError(f"unknown {section} setting {key!r}; known settings are {known}")


def defaults(section: str) -> dict[str, Any]:
    """Every setting of ``section`` with its default value."""
    return {p.name: p.default for p in declared(section)}


def check_setting(section: str, key: str, value: Any) -> Any:
    """``value`` in canonical form (a tuple for ``betas``), or :class:`ParamError`."""
    return setting(section, key).coerce(value)


def check_rules(section: str, values: Mapping[str, Any]) -> None:
    """Rules between settings, on a section's checked values (missing keys take
    their defaults): Nesterov momentum needs momentum."""
    if section != "training":
        return
    full = {**defaults(section), **values}
    if full.get("nesterov") and full.get("optimizer") == "sgd" and full.get("momentum") == 0.0:
        raise ParamError("nesterov needs momentum above 0 (for example momentum 0.9)")


def check_values(section: str, data: Any) -> dict[str, Any]:
    """The keys of ``data`` checked and canonical; missing keys stay missing.

    Raises :class:`ParamError` for anything but an object, an unknown key, a value
    of the wrong type or out of range, or a broken rule between settings.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ParamError(f"the {section} settings must be an object, got {data!r}")
    unknown = [k for k in data if k not in {p.name for p in declared(section)}]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        known = ", ".join(p.name for p in declared(section))
        raise ParamError(f"unknown {section} setting{'s' if len(unknown) > 1 else ''} {names}; "
                         f"known settings are {known}")
    values = {key: check_setting(section, key, value) for key, value in data.items()}
    check_rules(section, values)
    return values


def to_json(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked values as plain JSON data (tuples become lists)."""
    return {key: setting(section, key).to_json(value) for key, value in values.items()}
