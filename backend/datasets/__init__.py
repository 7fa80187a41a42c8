"""Datasets for LayerLoom: built-in generators and readers for user files.

Everything here is plain NumPy (no Qt, no downloads at run time). A
:class:`Dataset` carries its arrays and the facts the rest of the app needs: task,
per-sample input shape and dtype (for the Input node), target shape and classes
(for the Output node and the loss).

- :data:`DATASETS` / :func:`list_datasets`: the built-ins, described without
  generating data (``DATASETS["spirals"].describe(classes=5)`` resolves shapes).
- :func:`load_dataset`: a built-in by name with options, or a path to a CSV
  table, an ``.npz`` archive, a folder of class sub-folders of images, or MNIST
  IDX files. Problems raise :class:`DatasetError` naming the file and the row,
  column or element at fault.
- :func:`normalise`: statistics from the training set only, applied to all.

Built-ins: ``xor``, ``moons``, ``circles``, ``spirals``, ``blobs``, ``linear``
(2-D toys); ``iris``, ``wine``, ``breast_cancer``, ``diabetes``, ``digits``
(scikit-learn's bundled sets); ``mnist1d`` (generated locally and cached in
:func:`cache_dir`; ``split="test"`` gives the official test split, which also
rides along as ``Dataset.test`` of the training split); ``sine``, ``copy``,
``reverse``, ``sort`` (sequences). Generation never touches the global NumPy,
``random`` or torch random state.
"""

from layerloom.backend.datasets import mnist1d_set as _mnist1d_set  # noqa: F401  (registers)
from layerloom.backend.datasets import sequences as _sequences  # noqa: F401  (registers)
from layerloom.backend.datasets import sklearn_sets as _sklearn_sets  # noqa: F401  (registers)
from layerloom.backend.datasets import synthetic as _synthetic  # noqa: F401  (registers)
from layerloom.backend.datasets.base import Dataset, DatasetError, Normalisation, normalise
from layerloom.backend.datasets.files import FILE_OPTIONS, file_kind
from layerloom.backend.datasets.mnist1d_set import cache_dir
from layerloom.backend.datasets.registry import DATASETS, DatasetInfo, list_datasets, load_dataset

__all__ = [
    "DATASETS", "FILE_OPTIONS",
    "Dataset", "DatasetError", "DatasetInfo", "Normalisation",
    "cache_dir", "file_kind", "list_datasets", "load_dataset", "normalise",
]
