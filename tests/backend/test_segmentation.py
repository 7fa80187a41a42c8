"""Segmentation: the ``shapes`` dataset, the per-pixel objective and its checks, a small
model that learns masks, pixel confusion and mean IoU, npz masks, and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from layerloom.backend.datasets import DATASETS, Dataset, DatasetError, load_dataset
from layerloom.backend.training import Finished, Trainer, TrainSettings
from layerloom.backend.training.checks import TrainingError, plan_run
from layerloom.backend.training.losses import Objective, describe_shapes
from layerloom.backend.training.metrics import MetricSums, mean_iou
from layerloom.backend.training.probes import predict
from layerloom.graph import Graph

SMALL = {"n_samples": 40, "size": 16}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv_net(size: int, classes: int, width: int = 12, head: int | None = None) -> Graph:
    """Input (1, size, size) -> two 3x3 convolutions -> 1x1 convolution to ``head`` channels."""
    g = Graph()
    last = g.add_node("input", {"shape": [1, size, size]}).id
    for channels, kernel, act in ((width, 3, "relu"), (width, 3, "relu"), (head or classes, 1, "none")):
        node = g.add_node("conv2d", {"channels": channels, "kernel_size": [kernel, kernel],
                                     "padding": "same", "activation": act})
        g.connect(last, "out", node.id, "in")
        last = node.id
    g.connect(last, "out", g.add_node("output").id, "in")
    return g


# ------------------------------------------------------------------ dataset
def test_shapes_gives_images_and_per_pixel_masks():
    ds = load_dataset("shapes", **SMALL)
    assert ds.task == "segmentation" and len(ds) == 40
    assert ds.x.shape == (40, 1, 16, 16) and ds.x.dtype == np.float32
    assert ds.y.shape == (40, 16, 16) and ds.y.dtype == np.int64
    assert ds.target_shape == (16, 16) and ds.num_classes == 4
    assert ds.class_names == ["background", "disc", "square", "triangle"]
    assert set(np.unique(ds.y)) == {0, 1, 2, 3}  # every kind appears in 40 images
    assert all((ds.y[i] > 0).any() for i in range(len(ds)))  # at least one shape each
    info = DATASETS["shapes"].describe(size=24, masks="foreground")
    assert (info.input_shape, info.target_shape, info.num_classes) == ((1, 24, 24), (24, 24), 2)
    assert info.category == "Signals and images"


def test_shapes_is_deterministic_with_its_seed():
    a, b = load_dataset("shapes", **SMALL), load_dataset("shapes", **SMALL)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    c = load_dataset("shapes", **SMALL, seed=1)
    assert not np.array_equal(a.y, c.y)


def test_masks_agree_with_the_images():
    """Without noise a pixel is bright exactly where the mask has a shape, and each
    shape is one brightness; with noise the mask is the same."""
    clean = load_dataset("shapes", **SMALL, noise=0.0)
    lit = clean.x[:, 0] > 0
    assert np.array_equal(lit, clean.y > 0)
    assert clean.x.min() == 0.0 and 0.5 <= clean.x[clean.x > 0].min() and clean.x.max() <= 1.0
    noisy = load_dataset("shapes", **SMALL, noise=0.3)
    assert np.array_equal(noisy.y, clean.y)
    assert 0.2 < float((noisy.x - clean.x).std()) < 0.4
    fg = load_dataset("shapes", **SMALL, noise=0.0, masks="foreground")
    assert np.array_equal(fg.y, (clean.y > 0).astype(np.int64))
    assert fg.class_names == ["background", "shape"]


def test_shape_kinds_have_their_outlines():
    """A square fills its bounding box; a disc about pi/4 of it; a triangle half."""
    ds = load_dataset("shapes", n_samples=30, size=48, shapes=1, noise=0.0)
    fill = {1: [], 2: [], 3: []}
    for mask in ds.y:
        kind = int(mask.max())
        rows, cols = np.nonzero(mask)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fill[kind].append(len(rows) / box)
    assert 0.7 < np.mean(fill[1]) < 0.85  # disc
    assert np.mean(fill[2]) > 0.95  # square
    assert 0.45 < np.mean(fill[3]) < 0.65  # triangle


def test_bad_options_and_huge_sets_are_refused():
    with pytest.raises(DatasetError, match="size"):
        load_dataset("shapes", size=4)
    with pytest.raises(DatasetError, match="masks"):
        load_dataset("shapes", masks="edges")
    with pytest.raises(DatasetError, match="pixels, more than"):
        load_dataset("shapes", n_samples=1_000_000, size=256)


def test_segmentation_dataset_needs_masks_of_the_image_size():
    with pytest.raises(ValueError, match=r"masks \(H, W\) of the same size.*\(1, 8, 8\).*\(8, 7\)"):
        Dataset("bad", np.zeros((2, 1, 8, 8), np.float32), np.zeros((2, 8, 7), np.int64), "segmentation",
                (1, 8, 8), "float", (8, 7), 2, None, "")


def test_preview_and_summary_speak_of_masks():
    ds = load_dataset("shapes", **SMALL)
    assert "segmentation, masks (16, 16) of 4 classes" in ds.summary()
    preview = ds.preview(2)
    assert preview["kind"] == "image" and preview["columns"] == ["#", "x", "mask"]
    assert preview["samples"][0]["y"].shape == (16, 16)
    counts = np.bincount(ds.y[0].reshape(-1), minlength=4)
    for kind in np.flatnonzero(counts[1:]) + 1:
        assert f"{ds.class_names[kind]} {counts[kind]} px" in preview["rows"][0][2]


# ---------------------------------------------------------------- objective
def test_objective_scores_every_pixel():
    obj = Objective("auto", "segmentation", 3, (3, 4, 5))
    assert obj.name == "cross_entropy"
    out = torch.randn(2, 3, 4, 5)
    y = torch.randint(0, 3, (2, 4, 5))
    torch.testing.assert_close(obj(out, obj.loss_targets(y)), torch.nn.functional.cross_entropy(out, y))
    assert torch.equal(obj.predictions(out), out.argmax(dim=1))
    mse = Objective("mse", "segmentation", 3, (3, 4, 5))
    one_hot = mse.loss_targets(y)
    assert one_hot.shape == (2, 3, 4, 5) and torch.equal(one_hot.argmax(dim=1), y)


def test_describe_shapes_says_what_a_segmentation_output_must_be():
    assert describe_shapes((4, 16, 16), "segmentation", 4, (16, 16)) is None
    msg = describe_shapes((8, 16, 16), "segmentation", 4, (16, 16))
    assert msg.startswith("the model outputs (8, 16, 16) per sample but the dataset has per-pixel "
                          "masks of (16, 16) with 4 classes, so the output must be (4, 16, 16)")
    assert "1x1 Conv2d of 4 channels" in msg
    assert "keep the size (16, 16)" in describe_shapes((4, 8, 8), "segmentation", 4, (16, 16))
    assert "no Flatten" in describe_shapes((4,), "segmentation", 4, (16, 16))


def test_a_model_with_the_wrong_output_is_refused_before_training():
    data = load_dataset("shapes", **SMALL)
    with pytest.raises(TrainingError, match=r"output must be \(4, 16, 16\).*1x1 Conv2d of 4 channels"):
        plan_run(conv_net(16, 4, head=6), data, TrainSettings())
    with pytest.raises(TrainingError, match=r"monitor 'val_r2' is not measured.*val_accuracy"):
        plan_run(conv_net(16, 4), data, TrainSettings(monitor="val_r2"))


def test_pixel_confusion_and_mean_iou():
    obj = Objective("auto", "segmentation", 3, (3, 2, 2))
    y = torch.tensor([[[0, 0], [1, 2]]])
    out = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [1, 1]]]), 3).movedim(-1, 1).float()
    sums = MetricSums(obj, torch.device("cpu"), confusion=True)
    sums.add(out, y)
    assert sums.result() == {"accuracy": 0.5}  # 2 of 4 pixels
    matrix = sums.confusion()
    assert matrix == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    # IoU: background 1/2, class 1 1/3, class 2 0/1
    assert mean_iou(matrix) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert mean_iou([[5, 0], [0, 0]]) == 1.0  # a class nobody saw or said is left out
    assert mean_iou([[0, 0], [0, 0]]) is None


# ---------------------------------------------------------------- training
def test_a_small_conv_net_learns_masks_beyond_always_background():
    data = load_dataset("shapes", n_samples=240, size=16, masks="foreground")
    train, val = data.split(0.25, seed=0)
    background = float((val.y == 0).mean())
    assert 0.6 < background < 0.9
    settings = TrainSettings(epochs=6, batch_size=16, lr=0.01, device="cpu", seed=0)
    confusions = []
    trainer = Trainer(conv_net(16, 2), train, val, settings,
                      on_event=lambda e: e.kind == "confusion" and confusions.append(e))
    final = trainer.run()
    assert isinstance(final, Finished), getattr(final, "message", final)
    accuracy = final.metrics["val_accuracy"]
    assert accuracy > background + 0.08, (accuracy, background)
    matrix = np.asarray(confusions[-1].matrix)
    assert matrix.shape == (2, 2) and matrix.sum() == val.y.size  # one count per pixel
    assert np.trace(matrix) / matrix.sum() == pytest.approx(accuracy)
    assert confusions[-1].class_names == ("background", "shape")
    assert mean_iou(matrix) > 0.6
    probs = predict(trainer.model.cpu(), val.x[:3], "cross_entropy", False, "segmentation")
    assert probs.shape == (3, 16, 16, 2)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- npz files
def test_npz_masks_load_as_segmentation(tmp_path):
    path = tmp_path / "masks.npz"
    x = np.random.default_rng(0).random((5, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    np.savez(path, x=x, y=y, class_names=np.array(["dark", "light"]))
    ds = load_dataset(path)
    assert ds.task == "segmentation" and ds.target_shape == (6, 6) and ds.class_names == ["dark", "light"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=x, y=y[:, :4])
    with pytest.raises(DatasetError, match=r"segmentation task needs images x \(n, C, H, W\)"):
        load_dataset(bad, task="segmentation")


# -------------------------------------------------------------- train script
def test_exported_train_script_trains_a_segmentation_like_layerloom(tmp_path):
    from safetensors.torch import load_file

    from layerloom.backend.cli import main
    from layerloom.backend.training import DatasetSettings, prepare_data
    from layerloom.graph import save_graph
    from tests.backend.test_train_script import import_script

    g = conv_net(8, 2, width=4)
    g.dataset = {"name": "shapes", "options": {"n_samples": 24, "size": 8, "masks": "foreground"},
                 "normalise": "none", "val_split": 0.25}
    g.training = {"epochs": 2, "lr": 0.01, "batch_size": 6, "seed": 3, "device": "cpu"}
    path = tmp_path / "seg.loom"
    save_graph(g, path)
    script = tmp_path / "train.py"
    assert main(["export", str(path), "--format", "train-script", "-o", str(script), "--with-data",
                 "--seed", "3"]) == 0
    masks = np.load(tmp_path / "train.npz")["y"]
    assert masks.shape == (18, 8, 8)
    module = import_script(script)
    assert module.main(["--out", str(tmp_path / "run")], module.Model, module.CONFIG, str(script),
                       module.load_safetensors) == 0
    trained = load_file(tmp_path / "run" / "model.safetensors")
    settings = TrainSettings.from_dict(g.training)
    data = prepare_data(DatasetSettings.from_dict(g.dataset), settings.seed)
    trainer = Trainer(g, data.train, data.val, settings)
    assert isinstance(trainer.run(), Finished)
    expected = trainer.model.state_dict()
    assert max(float((trained[k] - expected[k]).abs().max()) for k in expected) < 1e-5


# ---------------------------------------------------------------------- CLI
def layerloom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_lists_describes_and_previews_shapes():
    listing = layerloom("datasets")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("shapes "))
    assert "segmentation" in row and "(1, 32, 32)" in row
    shown = layerloom("datasets", "shapes", "-o", "n_samples=20", "-o", "size=16", "--preview", "2")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "masks (16, 16) of 4 classes" in out and "background, disc, square, triangle" in out
    assert "masks=kinds" in out and "kinds | foreground" in out
    assert len([line for line in out.splitlines() if line.startswith(("0 ", "1 "))]) == 2
    bad = layerloom("datasets", "shapes", "-o", "size=2")
    assert bad.returncode == 2 and "size" in bad.stderr and "Traceback" not in bad.stderr
