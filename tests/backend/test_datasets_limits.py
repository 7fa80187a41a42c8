"""Hostile data files end in a DatasetError that says what was refused and why: small
files that declare or inflate to huge arrays, CSV rows without end, quoted line
breaks, pipes, devices, link loops and pickled objects. Nothing blocks, nothing
allocates what the memory budget does not allow, no traceback."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerloom.backend.datasets import FILE_KINDS, DatasetError, load_dataset

MiB = 1 << 20


@contextlib.contextmanager
def within_seconds(seconds: int):
    """Fail instead of waiting forever (a FIFO's open) or reading without end."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refusal(path: Path, at_fault: Path | None = None, **options) -> str:
    """The DatasetError message of loading ``path``, which must name the file at fault."""
    with within_seconds(10), pytest.raises(DatasetError) as info:
        load_dataset(path, **options)
    message = str(info.value)
    assert str(at_fault or path) in message, message
    return message


def loader_refusal(kind: str, path: Path, **options) -> str:
    """The same, calling the kind's reader directly (as a caller that knows the kind)."""
    declared = FILE_KINDS[kind]
    with within_seconds(10), pytest.raises(DatasetError) as info:
        declared.loader(path, **{**declared.defaults, **options})
    return str(info.value)


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def traced_peak(function) -> tuple[object, int]:
    """``function()``'s result (or exception) and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        try:
            result = function()
        except Exception as exc:  # the caller checks which
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- huge sizes


def test_npz_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_MEMORY_BUDGET", "64M")
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:  # 96 MiB of zeros
            member.write(npy_header((12 * MiB,)))
            for _ in range(96):
                member.write(bytes(MiB))
        archive.writestr("y.npy", npy_header((12 * MiB,), "<i1") + bytes(12 * MiB))
    assert path.stat().st_size < 1 * MiB

    result, peak = traced_peak(lambda: load_dataset(path))
    assert isinstance(result, DatasetError), result
    message = str(result)
    assert f"{path}: member 'x.npy' (" in message and "compressed) needs 96.0 MiB of memory" in message
    assert "over the budget of 64.0 MiB; refused before allocating" in message
    assert "LAYERLOOM_MEMORY_BUDGET" in message
    assert peak < 8 * MiB  # nothing was inflated


def test_npz_whose_header_declares_a_huge_array_is_refused(tmp_path):
    path = tmp_path / "tiny.npz"
    with zipfile.ZipFile(path, "w") as archive:  # headers only, no data
        archive.writestr("x.npy", npy_header((100_000, 40_000)))
        archive.writestr("y.npy", npy_header((100_000,), "<i8"))
    assert path.stat().st_size < 1024
    message = refusal(path)
    assert "array 'x' (100000 x 40000 float64) needs 44.7 GiB of memory" in message
    assert "over the budget of 4.0 GiB; refused before allocating" in message


def test_gzipped_idx_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_MEMORY_BUDGET", "64M")
    images = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(images, "wb") as fh:  # 120,000 28 x 28 images of zeros: 90 MiB
        fh.write(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 120_000, 28, 28))
        for _ in range(90):
            fh.write(bytes(28 * 28 * 120_000 // 90))
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 120_000) + bytes(120_000))
    assert images.stat().st_size < 1 * MiB

    result, peak = traced_peak(lambda: load_dataset(tmp_path))
    assert isinstance(result, DatasetError), result
    message = str(result)
    assert message.startswith(f"{images}: the array its header declares (120000 x 28 x 28 ubyte, "
                              "read and converted to float32) needs 448.6 MiB of memory"), message
    assert "over the budget of 64.0 MiB; refused before allocating" in message
    assert peak < 8 * MiB


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path):
    root = tmp_path / "photos"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        Image.fromarray(np.zeros((3, 3), np.uint8)).save(root / name / "0.png")
    ihdr = struct.pack(">2I5B", 8000, 8000, 8, 2, 0, 0, 0)  # RGB, and next to no pixels
    idat = zlib.compress(bytes(4096))
    huge = root / "dog" / "1.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    result, peak = traced_peak(lambda: load_dataset(root))
    assert isinstance(result, DatasetError), result
    assert str(result).startswith(f"{huge}: the image declares 8000 x 8000 pixels (64,000,000), more "
                                  "than LayerLoom decodes (50,000,000); scale it down")
    assert peak < 8 * MiB


# ----------------------------------------------------------------------- CSV


def test_csv_quoted_number_with_a_line_break_is_a_bad_cell(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('a,b,c\n1,"2\n3",0\n4,5,1\n6,7,0\n', encoding="utf-8")
    message = refusal(path)
    assert "row 2, column 'b' (feature) holds '2\\n3' (a quoted cell with a line break), " \
        "which is not a finite number" in message

    # quoted text with a line break is a class like any other, and rows keep their lines
    path.write_text('a,b,c\n1,2,"x\r\ny"\r\n3,4,z\n5,oops,z\n', encoding="utf-8")
    assert "row 5, column 'b' (feature) holds 'oops'" in refusal(path)


def test_csv_giant_line_is_refused_naming_its_row_in_bounded_memory(tmp_path):
    path = tmp_path / "giant.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("a,b,c\n1,2,0\n")
        fh.write("7" * (24 * MiB) + ",2,1\n")
        fh.write("3,4,1\n")
    result, peak = traced_peak(lambda: load_dataset(path))
    assert isinstance(result, DatasetError), result
    assert str(result) == (
        f"{path}: row 3 is longer than 1,048,576 bytes (the limit for one row); a CSV table "
        "holds one row of numbers or short labels per line: check that this is a CSV table "
        "and that every quote is closed")
    assert peak < 8 * MiB

    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('a,b,c\n1,2,0\n"3' + ",4,1\n" * 40_000, encoding="utf-8")
    assert "row 3 holds a cell longer than 131,072 characters" in refusal(unclosed)


def test_csv_peak_memory_is_a_small_multiple_of_the_data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(65_000, 8)).round(6)
    y = rng.integers(0, 3, len(x))
    path = tmp_path / "table.csv"
    lines = [",".join([*(f"f{i}" for i in range(8)), "label"])]
    lines += [",".join(f"{v:.6f}" for v in row) + f",{label}" for row, label in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = path.stat().st_size
    assert 4 * MiB < size < 6 * MiB

    data, peak = traced_peak(lambda: load_dataset(path))
    assert np.allclose(data.x, x, atol=1e-6) and data.y.tolist() == y.tolist()
    arrays = data.x.nbytes + data.y.nbytes
    assert peak < 10 * size and peak < 4 * arrays, (peak, size, arrays)


# --------------------------------------------------------------- special files


@pytest.mark.parametrize("name", ["data.csv", "data.npz", "train-images-idx3-ubyte"])
def test_a_fifo_as_data_file_is_refused_without_blocking(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    message = refusal(fifo)
    assert f"{fifo}: is a named pipe (FIFO), not a regular file" in message
    kind = {".csv": "csv", ".npz": "npz"}.get(fifo.suffix, "idx")
    options = {"labels": str(fifo)} if kind == "idx" else {}
    assert "is a named pipe (FIFO), not a regular file" in loader_refusal(kind, fifo, **options)


def test_a_fifo_as_labels_file_or_image_is_refused(tmp_path):
    images = tmp_path / "images.idx3"
    images.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 1, 2, 2) + bytes(4))
    labels = tmp_path / "labels.idx1"
    os.mkfifo(labels)
    assert f"{labels}: is a named pipe (FIFO)" in refusal(images, labels, labels=str(labels))

    (tmp_path / "pets" / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "pets" / "cat" / "0.png")
    os.mkfifo(tmp_path / "pets" / "cat" / "1.png")
    message = refusal(tmp_path / "pets")
    assert f"{tmp_path / 'pets' / 'cat' / '1.png'}: is a named pipe (FIFO), not an image file" in message


@pytest.mark.parametrize("name", ["zero.csv", "zero.npz", "zero-images-idx3-ubyte"])
def test_a_link_to_dev_zero_is_refused_not_read_forever(tmp_path, name):
    link = tmp_path / name
    link.symlink_to("/dev/zero")
    assert f"{link}: is a device, not a regular file" in refusal(link)
    kind = {".csv": "csv", ".npz": "npz"}.get(link.suffix, "idx")
    options = {"labels": str(link)} if kind == "idx" else {}
    assert "is a device, not a regular file" in loader_refusal(kind, link, **options)


def test_symlink_loops_are_dataset_errors(tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    assert f"{loop}: a symbolic link loop (the link leads back to itself)" in refusal(loop)

    root = tmp_path / "pets"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        Image.fromarray(np.zeros((3, 3), np.uint8)).save(root / name / "0.png")
    image_loop = root / "dog" / "1.png"
    image_loop.symlink_to(image_loop)
    assert f"{image_loop}: a symbolic link loop" in refusal(root)
    image_loop.unlink()
    (root / "bird").symlink_to(root / "bird")  # a class folder that leads back to itself
    assert f"{root / 'bird'}: a symbolic link loop" in refusal(root)


# --------------------------------------------------------------- pickled data


def test_object_arrays_are_refused_without_advising_the_unsafe_option(tmp_path):
    archive = tmp_path / "objects.npz"
    np.savez(archive, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    message = refusal(archive)
    assert "array 'x' holds Python objects (dtype object), pickled data that can carry code; " \
        "LayerLoom refused it without reading it" in message
    assert "allow_pickle" not in message

    lone = tmp_path / "lone.npz"  # one object array saved with np.save, not an archive
    with lone.open("wb") as fh:
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    message = refusal(lone)
    assert "holds a single array, not an archive" in message and "allow_pickle" not in message
