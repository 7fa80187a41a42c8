"""LayerLoom's torch side: compile graphs, train them, export them.

The public names below are a stable interface. They load on first use (module
``__getattr__``), so ``import layerloom.backend`` stays fast and does not import torch:
``layerloom validate`` never needs it.
"""

from __future__ import annotations

import importlib

# Public name -> module that defines it.
_LAZY = {
    "compile_graph": "layerloom.backend.compile",
    "CompiledGraph": "layerloom.backend.compile",
    "ExportError": "layerloom.backend.export",
    "ExportResult": "layerloom.backend.export",
    "WeightsError": "layerloom.backend.export",
    "export_model": "layerloom.backend.export",
    "export_onnx": "layerloom.backend.export",
    "export_python": "layerloom.backend.export",
    "export_torchscript": "layerloom.backend.export",
    "load_model": "layerloom.backend.export",
    "load_weights": "layerloom.backend.export",
    "save_weights": "layerloom.backend.export",
    "DatasetSettings": "layerloom.backend.training",
    "EventQueue": "layerloom.backend.training",
    "SettingsError": "layerloom.backend.training",
    "TrainSettings": "layerloom.backend.training",
    "Trainer": "layerloom.backend.training",
    "TrainingError": "layerloom.backend.training",
    "prepare_data": "layerloom.backend.training",
    "Dataset": "layerloom.backend.datasets",
    "DatasetError": "layerloom.backend.datasets",
    "list_datasets": "layerloom.backend.datasets",
    "load_dataset": "layerloom.backend.datasets",
    "ModelImportError": "layerloom.backend.importers",
    "import_file": "layerloom.backend.importers",
    "import_module": "layerloom.backend.importers",
    "import_onnx": "layerloom.backend.importers",
    "save_import": "layerloom.backend.importers",
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
