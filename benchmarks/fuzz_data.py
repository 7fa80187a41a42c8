"""The user data files for :mod:`benchmarks.fuzz`: npz, IDX, CSV and image folders.

Seed files are made here from scikit-learn's bundled digits (8 x 8 images, 10
classes) and small generated arrays, written with the real writers (``np.savez``
and ``np.savez_compressed``, Pillow for images, the IDX layout by hand, raw and
gzipped), so a mutant starts from what a user's file looks like. Each mutant is read
through :func:`layerloom.backend.datasets.file_kinds.load_file`, the path the app and
the command line take; :class:`~layerloom.backend.datasets.DatasetError` is the clean
refusal. A folder seed (IDX files, image classes) has one of its files mutated.
"""

from __future__ import annotations

import gzip
import struct
import warnings
from pathlib import Path

import numpy as np

from benchmarks.fuzz_format import Format

SAMPLES = 60  # digits per seed: enough rows and classes, small enough to read fast


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The first :data:`SAMPLES` digits as uint8 images (n, 8, 8) in 0..255 and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[:SAMPLES] * 255 / 16).round().astype(np.uint8)
    return images, digits.target[:SAMPLES].astype(np.int64)


def _read(path: Path) -> object:
    from layerloom.backend.datasets.file_kinds import load_file

    with warnings.catch_warnings():  # Pillow's notes on damaged files that still decode
        warnings.simplefilter("ignore")
        return load_file(path)


def _clean() -> tuple[type[BaseException], ...]:
    from layerloom.backend.datasets import DatasetError

    return (DatasetError,)


# ------------------------------------------------------------------------ npz
def _npz_seeds(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = _digits()
    rng = np.random.default_rng(0)
    names = np.array([f"digit {i}" for i in range(10)])
    tokens = rng.integers(0, 12, (SAMPLES, 6))
    files = {
        "digits.npz": (np.savez, dict(x=images.reshape(SAMPLES, -1).astype(np.float32), y=labels)),
        "digits_named.npz": (np.savez_compressed, dict(x=images, y=labels, class_names=names)),
        "regression.npz": (np.savez, dict(x=rng.normal(size=(SAMPLES, 3)), y=rng.normal(size=(SAMPLES, 2)))),
        "sequence.npz": (np.savez_compressed, dict(x=tokens, y=np.sort(tokens, axis=1))),
        "fortran.npz": (np.savez, dict(x=np.asfortranarray(rng.normal(size=(SAMPLES, 4)).astype(">f4")),
                                       y=labels.astype(np.uint8))),
    }
    out = []
    for name, (save, arrays) in files.items():
        save(folder / name, **arrays)
        out.append(folder / name)
    return out


# ------------------------------------------------------------------------ IDX
def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX layout: 0, 0, type 0x08, dims, big-endian counts, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _idx_seeds(folder: Path) -> list[Path]:
    images, labels = _digits()
    out = []
    for name, gz in (("raw", False), ("gzipped", True)):
        seed = folder / name
        seed.mkdir(parents=True, exist_ok=True)
        for prefix, part in (("train", slice(0, 40)), ("t10k", slice(40, None))):
            for what, array in (("images-idx3", images[part]), ("labels-idx1", labels[part])):
                data = idx_bytes(array)
                path = seed / f"{prefix}-{what}-ubyte{'.gz' if gz else ''}"
                path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        out.append(seed)
    return out


# ------------------------------------------------------------------------ CSV
def _csv_seeds(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = _digits()
    pixels = images.reshape(SAMPLES, -1)[:, ::4]
    rng = np.random.default_rng(1)
    tables = {
        "digits.csv": ",".join([*(f"p{i}" for i in range(pixels.shape[1])), "digit"]) + "\n" + "".join(
            ",".join(map(str, row)) + f",{label}\n" for row, label in zip(pixels, labels, strict=True)),
        "flowers.csv": "length,width,\"kind, as named\"\n" + "".join(
            f"{a:.2f},{b:.2f},\"{['setosa', 'versicolor', 'virginica'][i % 3]}\"\r\n"
            for i, (a, b) in enumerate(rng.normal(5, 1, (SAMPLES, 2)))),
        "regression.csv": "".join(f"{a:.4f};{b:.4f};{a * 2 - b:.4f}\n" for a, b in rng.normal(size=(SAMPLES, 2))),
        "measurements.tsv": "x\ty\tz\ttarget\n" + "".join(
            "\t".join(f"{v:g}" for v in row) + "\n" for row in rng.normal(size=(SAMPLES, 4)) * 1e3),
    }
    out = []
    for name, text in tables.items():
        (folder / name).write_bytes(text.encode("utf-8"))
        out.append(folder / name)
    return out


# --------------------------------------------------------------- image folders
def _image_seeds(folder: Path) -> list[Path]:
    from PIL import Image

    images, labels = _digits()
    rng = np.random.default_rng(2)
    out = []
    for name, formats, colour in (("gray", (".png", ".bmp", ".pgm"), False),
                                  ("colour", (".png", ".jpg", ".gif", ".tiff", ".webp"), True)):
        seed = folder / name
        for i, (image, label) in enumerate(zip(images[:12], labels[:12], strict=True)):
            klass = seed / f"class_{label % 3}"
            klass.mkdir(parents=True, exist_ok=True)
            if colour:
                image = np.stack([image, rng.integers(0, 256, image.shape, dtype=np.uint8), image[::-1]], -1)
            Image.fromarray(image).save(klass / f"{i}{formats[i % len(formats)]}")
        out.append(seed)
    return out


def data_formats() -> dict[str, Format]:
    """The user data formats, each read through ``load_file`` with ``DatasetError`` clean."""
    clean = _clean()
    return {
        "npz": Format("npz", _npz_seeds, _read, clean),
        "idx": Format("idx", _idx_seeds, _read, clean),
        "csv": Format("csv", _csv_seeds, _read, clean),
        "images": Format("images", _image_seeds, _read, clean),
    }
