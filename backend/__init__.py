"""LayerLoom's torch side: compile graphs, train them, export them.

The public names below are a stable interface. They load on first use (module
``__getattr__``), so ``import backend`` stays fast and does not import torch:
``layerloom validate`` never needs it.
"""

from __future__ import annotations

import importlib

# Public name -> module that defines it.
_LAZY = {
    "compile_graph": "backend.compile",
    "CompiledGraph": "backend.compile",
    "ExportError": "backend.export",
    "ExportResult": "backend.export",
    "WeightsError": "backend.export",
    "export_model": "backend.export",
    "export_onnx": "backend.export",
    "export_python": "backend.export",
    "export_torchscript": "backend.export",
    "load_model": "backend.export",
    "load_weights": "backend.export",
    "save_weights": "backend.export",
    "DatasetSettings": "backend.training",
    "EventQueue": "backend.training",
    "SettingsError": "backend.training",
    "TrainSettings": "backend.training",
    "Trainer": "backend.training",
    "TrainingError": "backend.training",
    "prepare_data": "backend.training",
    "Dataset": "backend.datasets",
    "DatasetError": "backend.datasets",
    "list_datasets": "backend.datasets",
    "load_dataset": "backend.datasets",
    "ModelImportError": "backend.importers",
    "import_file": "backend.importers",
    "import_module": "backend.importers",
    "import_onnx": "backend.importers",
    "save_import": "backend.importers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backend' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
