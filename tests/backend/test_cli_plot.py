"""`layerloom plot FILE [--weights W] VIEW -o OUT.png`, through the real CLI: each view
writes a PNG that holds data, and a view that does not apply says why in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerloom.backend import compile_graph, save_weights
from layerloom.backend.templates import template_path

EXAMPLES = Path(str(template_path("cnn_digits"))).parent


def plot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "plot", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def has_data(path: Path) -> None:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[1] == 900 and image.shape[0] > 200
    body = image[40:-30].reshape(-1, 3)
    assert len(np.unique(body, axis=0)) > 20, f"{path} looks blank"


@pytest.fixture(scope="module")
def cnn_weights(tmp_path_factory) -> Path:
    from layerloom.graph import load_graph

    graph = load_graph(EXAMPLES / "cnn_digits.loom")
    path = tmp_path_factory.mktemp("weights") / "cnn.safetensors"
    save_weights(graph, compile_graph(graph, seed=3), path)
    return path


def test_feature_maps_with_trained_weights(tmp_path, cnn_weights):
    out = tmp_path / "maps.png"
    done = plot(EXAMPLES / "cnn_digits.loom", "--weights", cnn_weights, "activations", "--node", "conv2d_1",
                "--sample", 4, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # weights given: no note about fresh ones
    assert done.stdout.startswith(f"{out}: Conv 16 (3x3): output for validation sample 4")
    has_data(out)


def test_filters_from_a_safetensors_file_alone(tmp_path, cnn_weights):
    out = tmp_path / "filters.png"
    done = plot(cnn_weights, "filters", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "Conv 16 (3x3): kernels" in done.stdout
    has_data(out)
    patches = tmp_path / "patches.png"
    done = plot(cnn_weights, "filters", "--node", "conv2d_2", "--channel", 5, "-o", patches)
    assert done.returncode == 0, done.stderr
    assert "what channel 5 responds to" in done.stdout
    has_data(patches)


def test_attention_of_the_transformer_with_fresh_weights(tmp_path):
    out = tmp_path / "attention.png"
    done = plot(EXAMPLES / "transformer_sort.loom", "attention", "--head", 1, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "no --weights given: drawing freshly initialised weights (seed 0)" in done.stderr
    assert "Encoder layer 1: attention weights" in done.stdout
    has_data(out)


def test_activation_function_needs_no_weights(tmp_path):
    out = tmp_path / "tanh.png"
    done = plot(EXAMPLES / "activation_tanh.loom", "activation", "-o", out, "--width", 600)
    assert done.returncode == 0, done.stderr
    assert "activation" in done.stdout.lower() and done.stderr == ""
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[1] == 600
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20


def test_a_view_that_does_not_apply_says_why_in_one_line(tmp_path):
    out = tmp_path / "x.png"
    done = plot(EXAMPLES / "cnn_digits.loom", "attention", "-o", out)
    assert done.returncode == 3
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note:")]
    assert lines == ["error: attention: The attention view needs a node that computes attention (Multi-head "
                     "attention, a Transformer layer, or a block with one); this model computes none"]
    assert not out.exists()
    done = plot(EXAMPLES / "cnn_digits.loom", "filters", "--node", "dense_1", "-o", out)
    assert done.returncode == 3 and "Filters are drawn for convolution layers; Dense 64 is a Dense layer" in done.stderr


def test_bad_input_is_named(tmp_path, cnn_weights):
    done = plot(EXAMPLES / "cnn_digits.loom", "filters", "-o", tmp_path / "out.jpg")
    assert done.returncode == 2 and "the output must be a .png file; got" in done.stderr
    done = plot(EXAMPLES / "cnn_digits.loom", "nosuchview", "-o", tmp_path / "o.png")
    assert done.returncode == 2 and "invalid choice: 'nosuchview'" in done.stderr
    done = plot(EXAMPLES / "lstm_sine.loom", "--weights", cnn_weights, "activations", "-o", tmp_path / "o.png")
    assert done.returncode == 2 and "do not match the graph" in done.stderr
    assert "Traceback" not in done.stderr
