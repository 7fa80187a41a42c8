"""Loading a user's model code and weights for the PyTorch importer.

``FILE.py:ClassName`` names a class in a Python file. Loading it runs the file,
which is why the command line says so before it does: this is for files the
user trusts. Weights are a state dict read with ``torch.load(weights_only=True)``
(tensors and plain containers only) or from ``.safetensors``. Errors in the
user's code are reported with its own file and line, not a traceback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from layerloom.backend.export.common import WeightsError, first_line
from layerloom.backend.export.weights import load_tensor_file
from layerloom.backend.importers.common import ModelImportError

TORCH_DIR = os.path.dirname(torch.__file__)
IMPORTER_DIR = os.path.dirname(os.path.abspath(__file__))


def parse_source(text: str) -> tuple[Path, str]:
    """``"model.py:Net"`` -> (path, class name)."""
    path, sep, name = text.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise ModelImportError(
            f"expected FILE.py:ClassName (for example model.py:Net), got {text!r}"
        )
    return Path(path), name


def load_class(path: str | os.PathLike, class_name: str) -> type[nn.Module]:
    """Run the Python file ``path`` and return its ``nn.Module`` class ``class_name``.

    This executes the file's code, with its folder on ``sys.path`` while it loads
    (so that it can import its neighbours).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: {'is a folder' if path.is_dir() else 'no such file'}")
    name = f"layerloom_import_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    try:
        with _on_path(path.resolve().parent):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise ModelImportError(f"{path}: line {exc.lineno}: syntax error: {exc.msg}") from None
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ModelImportError(f"{path} fails while loading: {type(exc).__name__}: {first_line(exc)}{user_line(exc)}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        found = sorted(
            n for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == name
        )
        known = f"; it defines {', '.join(found)}" if found else "; it defines no nn.Module class"
        what = "is not an nn.Module class" if cls is not None else "not found"
        sys.modules.pop(name, None)
        raise ModelImportError(f"class {class_name!r} {what} in {path}{known}")
    return cls


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def instantiate(cls: type[nn.Module], kwargs: dict | None) -> nn.Module:
    try:
        return cls(**(kwargs or {}))
    except Exception as exc:
        given = json.dumps(kwargs or {}, default=repr)
        raise ModelImportError(
            f"cannot create {cls.__name__}(**{given}): {type(exc).__name__}: {first_line(exc)}{user_line(exc)}; "
            "give its arguments as a JSON object (--args)"
        ) from None


def load_weights(module: nn.Module, path: str | os.PathLike) -> None:
    """Load a state dict from ``.safetensors`` or a ``torch.save`` file (read
    with ``weights_only=True``: tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"weights file {path}: {'is a folder' if path.is_dir() else 'no such file'}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = load_tensor_file(path)
    except WeightsError as exc:
        raise ModelImportError(f"cannot read weights file: {exc}") from None
    except Exception as exc:
        raise ModelImportError(
            f"cannot read weights file {path}: {first_line(exc)} (save model.state_dict() with "
            "torch.save, or use a .safetensors file)"
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelImportError(f"weights file {path} does not hold a state dict (a mapping of names to tensors)")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise ModelImportError(f"the weights in {path} do not fit the model: {detail[:600]}") from None


def user_frame(exc: BaseException) -> str:
    """``model.py:12: y = self.fc(x)``: the innermost frame of ``exc`` in the
    user's code (not in torch or LayerLoom), or ``""``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not is_library(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno}: {(f.line or '').strip()}"


def user_line(exc: BaseException) -> str:
    """:func:`user_frame` in parentheses, to end a message with (or ``""``)."""
    frame = user_frame(exc)
    return f" ({frame})" if frame else ""


def is_library(filename: str) -> bool:
    return (
        filename.startswith((TORCH_DIR, IMPORTER_DIR, "<"))
        or os.path.basename(os.path.dirname(filename)) == "importlib"
    )
