"""`layerloom plot ... --image PNG_OR_NPY`, through the real CLI: a picture of one's own
becomes the sample (resized, made grey or colour, scaled like the validation samples),
and a file that cannot become one says why."""

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
CNN = EXAMPLES / "cnn_digits.loom"


def plot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "plot", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cnn_weights(tmp_path_factory) -> Path:
    from layerloom.graph import load_graph

    graph = load_graph(CNN)
    path = tmp_path_factory.mktemp("weights") / "cnn.safetensors"
    save_weights(graph, compile_graph(graph, seed=3), path)
    return path


@pytest.fixture(scope="module")
def digits_val():
    from layerloom.backend.training import DatasetSettings, TrainSettings, prepare_data
    from layerloom.graph import load_graph

    graph = load_graph(CNN)
    return prepare_data(DatasetSettings.from_dict(graph.dataset), TrainSettings.from_dict(graph.training).seed)


def a_seven(size: int = 64, colour: bool = False) -> Image.Image:
    """A bright 7 on black, larger than the 8x8 input."""
    picture = np.zeros((size, size), np.uint8)
    picture[size // 8: size // 4, size // 6: size - size // 6] = 255
    for row in range(size // 4, size - size // 8):
        col = size - size // 6 - (row - size // 4) // 2
        picture[row, col - size // 10: col] = 255
    if colour:
        return Image.fromarray(np.stack([picture, picture // 2, picture], axis=-1), "RGB")
    return Image.fromarray(picture, "L")


def test_a_png_is_the_sample_of_the_output_view(tmp_path, cnn_weights):
    png = tmp_path / "seven.png"
    a_seven(colour=True).save(png)  # colour: made grey for the 1-channel input
    out = tmp_path / "out.png"
    done = plot(CNN, "--weights", cnn_weights, "activations", "--node", "output_1", "--image", png, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "output for seven.png" in done.stdout and "no true class" in done.stdout
    assert Image.open(out).size[0] == 900


def test_the_picture_is_resized_and_scaled_like_the_data(tmp_path, digits_val):
    from layerloom.backend.datasets.own_image import InkRange, read_image

    val = digits_val.val
    png = tmp_path / "seven.png"
    a_seven().save(png)
    sample = read_image(png, val, digits_val.normalisation)
    assert sample.shape == (1, 8, 8) and sample.dtype == np.float32
    ink = InkRange.of(val)
    assert sample.min() == pytest.approx(float(ink.low.min()), abs=1e-5)  # black: the darkest value of the data
    assert sample.max() > float(ink.low.min()) + 0.5 * float(ink.high.max() - ink.low.min())
    # a .npy in the data's own units (raw digits, 0..1) is normalised as the validation set was
    raw = val.x[3] * digits_val.normalisation.scale + digits_val.normalisation.shift
    npy = tmp_path / "raw.npy"
    np.save(npy, raw[0])  # (H, W)
    assert np.allclose(read_image(npy, val, digits_val.normalisation), val.x[3], atol=1e-5)


def test_saliency_of_a_picture(tmp_path, cnn_weights):
    png = tmp_path / "seven.png"
    a_seven(16).save(png)
    out = tmp_path / "saliency.png"
    done = plot(CNN, "--weights", cnn_weights, "saliency", "--image", png, "-o", out)
    assert done.returncode == 0, done.stderr
    assert out.exists()


def test_files_that_cannot_be_a_sample_say_why(tmp_path, cnn_weights):
    out = tmp_path / "out.png"
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    done = plot(CNN, "--weights", cnn_weights, "activations", "--image", text, "-o", out)
    assert done.returncode == 2 and "notes.png: not an image file" in done.stderr
    two = tmp_path / "two.npy"
    np.save(two, np.zeros((2, 8, 8), np.float32))
    done = plot(CNN, "--weights", cnn_weights, "activations", "--image", two, "-o", out)
    assert done.returncode == 2
    assert "two.npy: 2 channels (shape (2, 8, 8)); the model takes 1; give 1 (grey) or 3 (RGB)" in done.stderr
    done = plot(CNN, "--weights", cnn_weights, "activations", "--image", tmp_path / "missing.png", "-o", out)
    assert done.returncode == 2 and "no such file" in done.stderr
    done = plot(CNN, "--weights", cnn_weights, "filters", "--image", two, "-o", out)
    assert done.returncode == 2 and "filters shows no sample" in done.stderr
    png = tmp_path / "seven.png"
    a_seven().save(png)
    done = plot(EXAMPLES / "mlp_two_moons.loom", "activations", "--image", png, "-o", out)
    assert done.returncode == 2
    assert "--image seven.png needs an image input (channels, height, width); this model takes (2)" in done.stderr
    assert not out.exists()
