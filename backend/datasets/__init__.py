"""Datasets for LayerLoom: built-in generators and readers for user files.

Everything here is plain NumPy (no Qt, no downloads at run time). A
:class:`Dataset` carries its arrays and the facts the rest of the app needs: task,
per-sample input shape and dtype (for the Input node), target shape and classes
(for the Output node and the loss).

- :data:`DATASETS` / :func:`list_datasets`: the built-ins, described without
  generating data (``DATASETS["spirals"].describe(classes=5)`` resolves shapes).
- :data:`FILE_KINDS` / :func:`list_file_kinds`: the kinds of user data file, each
  a :class:`FileKind` declared with its reader (name, suffixes, how to recognise
  one, options, loader); :func:`file_kind` tells which kind a path is.
- :func:`load_dataset`: a built-in by name with options, or a path to a CSV
  table, an ``.npz`` archive, a folder of class sub-folders of images, or MNIST
  IDX files. Problems raise :class:`DatasetError` naming the file and the row,
  column or element at fault.
- :func:`normalise`: statistics from the training set only, applied to all.

Built-ins: ``xor``, ``moons``, ``circles``, ``spirals``, ``blobs``, ``linear``
and ``ring_mixture`` (2-D toys; the last, Gaussians on a ring, for GANs); ``iris``,
``wine``, ``breast_cancer``, ``diabetes``, ``digits`` (scikit-learn's bundled sets); ``mnist1d`` (generated locally and cached in
:func:`cache_dir`; ``split="test"`` gives the official test split, which also
rides along as ``Dataset.test`` of the training split); ``sine``, ``copy``,
``reverse``, ``sort``, ``text`` (sequences; ``text`` carries its character
``vocabulary``); ``shapes`` (images of discs, squares and triangles with their
segmentation masks). Generation never touches the global NumPy, ``random`` or
torch random state.

Every module of this package is imported here, in name order: a module that
registers a built-in dataset or a file kind needs no line anywhere else.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from layerloom.backend.datasets.base import Dataset, DatasetError, Normalisation, normalise
from layerloom.backend.datasets.file_kinds import FILE_KINDS, FileKind, file_kind, list_file_kinds
from layerloom.backend.datasets.mnist1d_set import cache_dir
from layerloom.backend.datasets.registry import DATASETS, DatasetInfo, list_datasets, load_dataset

for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__)):
    _importlib.import_module(f"{__name__}.{_module}")  # registers its datasets or file kinds

__all__ = [
    "DATASETS", "FILE_KINDS",
    "Dataset", "DatasetError", "DatasetInfo", "FileKind", "Normalisation",
    "cache_dir", "file_kind", "list_datasets", "list_file_kinds", "load_dataset", "normalise",
]
