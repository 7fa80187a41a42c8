"""Import of existing models into editable LayerLoom graphs.

:func:`import_module` and :func:`import_file` read PyTorch models,
:func:`import_onnx` reads ONNX files; each returns an :class:`ImportResult` (the
graph, the compiled model holding the source weights, and the map from source
tensor names to the compiled model's) or raises :class:`ModelImportError` listing
every part LayerLoom cannot represent. :func:`save_import` writes the graph and
its weights.
"""

from layerloom.backend.importers import families  # noqa: F401  (joins the families' rules)
from layerloom.backend.importers.common import ImportResult, ModelImportError, Problem, save_import
from layerloom.backend.importers.onnx import import_onnx
from layerloom.backend.importers.pytorch import import_file, import_module

__all__ = [
    "ImportResult", "ModelImportError", "Problem",
    "import_file", "import_module", "import_onnx", "save_import",
]
