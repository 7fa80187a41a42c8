"""Small real datasets bundled with scikit-learn: iris, wine, breast_cancer, diabetes, digits.

They are read from the files scikit-learn installs (its ``load_*`` functions, which
never download), so they work offline. scikit-learn is imported only when one of
them is loaded, which keeps ``import layerloom.backend.datasets`` quick.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset
from layerloom.backend.datasets.registry import DatasetInfo, register

IRIS_DOC = "150 iris flowers, 4 measurements each, 3 species (Fisher, 1936)."
WINE_DOC = "178 wines from 3 cultivars, 13 chemical measurements each."
CANCER_DOC = "569 breast tumour biopsies, 30 cell-nucleus features, malignant or benign."
DIABETES_DOC = ("442 diabetes patients, 10 standardised measurements; predict disease "
                "progression a year later (regression).")
DIGITS_DOC = "1,797 hand-written digits as 8x8 grey images (1, 8, 8), pixels scaled to 0..1."


def _bunch(loader_name: str):
    from sklearn import datasets

    return getattr(datasets, loader_name)()


def _tabular(name: str, loader_name: str, doc: str) -> Dataset:
    bunch = _bunch(loader_name)
    names = [str(n) for n in bunch.target_names]
    return Dataset(
        name=name, x=np.ascontiguousarray(bunch.data, dtype=np.float32),
        y=np.asarray(bunch.target, dtype=np.int64), task="classification",
        input_shape=(bunch.data.shape[1],), input_dtype="float", target_shape=(),
        num_classes=len(names), class_names=names, description=doc,
        feature_names=[str(f) for f in bunch.feature_names],
    )


def load_iris() -> Dataset:
    return _tabular("iris", "load_iris", IRIS_DOC)


def load_wine() -> Dataset:
    return _tabular("wine", "load_wine", WINE_DOC)


def load_breast_cancer() -> Dataset:
    return _tabular("breast_cancer", "load_breast_cancer", CANCER_DOC)


def load_diabetes() -> Dataset:
    bunch = _bunch("load_diabetes")
    return Dataset(
        name="diabetes", x=np.ascontiguousarray(bunch.data, dtype=np.float32),
        y=np.asarray(bunch.target, dtype=np.float32).reshape(-1, 1), task="regression",
        input_shape=(10,), input_dtype="float", target_shape=(1,), num_classes=None,
        class_names=None, description=DIABETES_DOC,
        feature_names=[str(f) for f in bunch.feature_names],
    )


def load_digits() -> Dataset:
    bunch = _bunch("load_digits")
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return Dataset(
        name="digits", x=np.ascontiguousarray(x), y=np.asarray(bunch.target, dtype=np.int64),
        task="classification", input_shape=(1, 8, 8), input_dtype="float", target_shape=(),
        num_classes=10, class_names=[str(i) for i in range(10)], description=DIGITS_DOC,
    )


for _name, _doc, _loader, _task, _shape, _classes, _target, _category in (
    ("iris", IRIS_DOC, load_iris, "classification", (4,), 3, (), "Tables"),
    ("wine", WINE_DOC, load_wine, "classification", (13,), 3, (), "Tables"),
    ("breast_cancer", CANCER_DOC, load_breast_cancer, "classification", (30,), 2, (), "Tables"),
    ("diabetes", DIABETES_DOC, load_diabetes, "regression", (10,), None, (1,), "Tables"),
    ("digits", DIGITS_DOC, load_digits, "classification", (1, 8, 8), 10, (), "Signals and images"),
):
    register(DatasetInfo(
        name=_name, description=_doc, task=_task, input_shape=_shape, input_dtype="float",
        num_classes=_classes, options=(), target_shape=_target, loader=_loader,
        category=_category,
    ))
