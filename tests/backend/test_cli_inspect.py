"""``layerloom plot``: saliency, Grad-CAM and the loss landscape as PNGs, through
the real command line; bad input ends in one ``error:`` line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerloom.backend.templates import load_template
from layerloom.graph import save_graph

ENV_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def layerloom(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ, **ENV_THREADS})


def template_file(tmp_path: Path, name: str, **training) -> Path:
    graph = load_template(name)
    graph.training = {**graph.training, **training}
    path = tmp_path / f"{name}.loom"
    save_graph(graph, path)
    return path


def assert_drawn(png: Path, min_ink: float = 0.2) -> np.ndarray:
    """The PNG exists and shows a picture, not blank axes: many colours, and a
    large share of the pixels neither white nor one flat colour."""
    pixels = np.asarray(Image.open(png).convert("RGB"), np.int32)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    not_white = (pixels.sum(axis=-1) < 3 * 245).mean()
    assert colours > 100 and not_white > min_ink, (colours, not_white)
    return pixels


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> Path:
    return template_file(tmp_path_factory.mktemp("cnn"), "cnn_digits", epochs=1)


def test_saliency_and_gradcam_of_a_cnn_trained_first(cnn, tmp_path):
    out = tmp_path / "gradcam.png"
    done = layerloom("plot", str(cnn), "gradcam", "--sample", "3", "--class", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "no --weights: training" in done.stderr and f"wrote {out}" in done.stdout
    assert_drawn(out)
    out = tmp_path / "saliency.png"
    done = layerloom("plot", str(cnn), "saliency", "--sample", "3", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert_drawn(out)


def test_landscape_of_trained_weights_and_of_a_run_with_its_path(tmp_path):
    loom = template_file(tmp_path, "single_neuron_line")
    trained = layerloom("train", str(loom), "--out", str(tmp_path / "run"), "--no-progress")
    assert trained.returncode == 0, trained.stderr
    with_weights = tmp_path / "weights.png"
    code = ("import sys; from layerloom.backend.cli import main; rc = main(sys.argv[1:]);"
            "print('QT', sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')));"
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "plot", str(loom), "landscape", "--weights",
                           str(tmp_path / "run"), "--grid", "15", "-o", str(with_weights)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "QT []" in done.stdout  # headless: no Qt, matplotlib's Agg only
    assert "training" not in done.stderr  # the weights were used as they are
    assert_drawn(with_weights)
    with_path = tmp_path / "path.png"
    done = layerloom("plot", str(loom), "landscape", "--grid", "15", "-o", str(with_path))
    assert done.returncode == 0, done.stderr
    a, b = assert_drawn(with_weights), assert_drawn(with_path)
    orange = np.array([249, 115, 22])
    assert (np.abs(b - orange).sum(axis=-1) < 40).sum() > 50  # the training path is drawn ...
    assert (np.abs(a - orange).sum(axis=-1) < 40).sum() < (np.abs(b - orange).sum(axis=-1) < 40).sum()


def test_landscape_of_an_mlp_along_random_and_path_directions(tmp_path):
    loom = template_file(tmp_path, "mlp_two_moons", epochs=2)
    for directions in ("random", "pca"):
        out = tmp_path / f"{directions}.png"
        done = layerloom("plot", str(loom), "landscape", "--directions", directions, "--grid", "7",
                         "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert_drawn(out)


@pytest.fixture(scope="module")
def line_run(tmp_path_factory) -> tuple[Path, Path]:
    """single_neuron_line.loom and the folder 'layerloom train' wrote for it."""
    folder = tmp_path_factory.mktemp("line")
    loom = template_file(folder, "single_neuron_line", epochs=2)
    trained = layerloom("train", str(loom), "--out", str(folder / "run"), "--no-progress")
    assert trained.returncode == 0, trained.stderr
    return loom, folder / "run"


@pytest.mark.parametrize("args, message", [
    (["saliency"], "applies to classifiers"),
    (["gradcam"], "applies to classifiers"),
    (["landscape", "--grid", "101", "--max-seconds", "0.05"], "choose a grid of"),
    (["landscape", "--directions", "pca"], "recorded path"),
    (["landscape", "--grid", "2"], "must be from 3 to 101"),
])
def test_bad_requests_end_in_one_error_line(tmp_path, line_run, args, message):
    loom, run = line_run
    out = tmp_path / "x.png"
    done = layerloom("plot", str(loom), *args, "--weights", str(run), "-o", str(out))
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_gradcam_needs_a_convolution_and_the_output_must_be_a_png(tmp_path):
    loom = template_file(tmp_path, "mlp_two_moons", epochs=1)
    done = layerloom("plot", str(loom), "gradcam", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 1 and "has none; use saliency instead" in done.stderr
    done = layerloom("plot", str(loom), "saliency", "-o", str(tmp_path / "x.jpg"))
    assert done.returncode == 2 and "give a name ending in .png" in done.stderr
    done = layerloom("plot", str(loom), "saliency", "--weights", str(tmp_path / "missing"),
                     "-o", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "no such file" in done.stderr
    done = layerloom("plot", str(loom), "saliency", "--sample", "100000", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "the validation set has 200 samples" in done.stderr
    assert json.loads(loom.read_text())["format"] == "layerloom.graph"  # the user's file is untouched


def test_embedding_of_the_word_template_is_drawn_with_its_words(tmp_path):
    loom = template_file(tmp_path, "word_embeddings", epochs=3)
    out = tmp_path / "embedding.png"
    done = layerloom("plot", str(loom), "embedding", "-o", str(out))
    assert done.returncode == 0, done.stderr
    pixels = assert_drawn(out, min_ink=0.03)  # points and names on white
    blue = np.array([37, 99, 235])
    assert (np.abs(pixels - blue).sum(axis=-1) < 40).sum() > 27 * 20  # 27 word points drawn
    done = layerloom("plot", str(loom), "embedding", "--node", "flatten_1", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 1 and "--node flatten_1: not an Embedding; choose one of embedding_1" in done.stderr
    assert "training" not in done.stderr  # refused before training
