"""The Sampling node (a VAE's reparameterisation): training draws, eval gives the
mean, gradients reach both inputs, exports hold the mean; and the VAE template
trained headless through the real command line, with its latent grid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from layerloom.backend.compile import compile_graph
from layerloom.backend.export import export_onnx, export_python, export_torchscript
from layerloom.backend.generative import GRID, latent_grid, latent_node
from layerloom.backend.lowerings.sampling import Sampling
from layerloom.backend.templates import load_template
from layerloom.graph import TensorSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def test_training_draws_mean_plus_scaled_noise():
    mean, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2.0]])
    torch.manual_seed(3)
    got = Sampling()(mean, logvar)
    torch.manual_seed(3)
    noise = torch.randn_like(mean)
    assert torch.allclose(got, mean + torch.exp(0.5 * logvar) * noise)


def test_eval_gives_the_mean_unless_asked_to_sample():
    mean, logvar = torch.randn(4, 2), torch.zeros(4, 2)
    assert torch.equal(Sampling().eval()(mean, logvar), mean)
    sampler = Sampling(sample_in_eval=True).eval()
    assert not torch.equal(sampler(mean, logvar), sampler(mean, logvar))


def test_gradients_flow_through_the_mean_and_the_log_variance():
    mean = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    torch.manual_seed(0)
    Sampling()(mean, logvar).sum().backward()
    torch.manual_seed(0)
    noise = torch.randn(1, 2)
    assert torch.allclose(mean.grad, torch.ones(1, 2))
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * noise)
    assert (logvar.grad != 0).all()


def test_shape_rule_refuses_a_mean_and_logvar_of_different_shapes():
    from layerloom.graph import REGISTRY, ShapeError

    spec = REGISTRY.get("sampling")
    params = spec.check_params({})
    assert spec.infer(params, {"mean": TensorSpec((2,)), "logvar": TensorSpec((2,))}) == {"out": TensorSpec((2,))}
    with pytest.raises(ShapeError, match=r"mean is \(N, 2\) but logvar is \(N, 3\)"):
        spec.infer(params, {"mean": TensorSpec((2,)), "logvar": TensorSpec((3,))})


@pytest.fixture(scope="module")
def vae():
    graph = load_template("vae_digits")
    return graph, compile_graph(graph, seed=0)


@pytest.mark.parametrize("eval_output", ["mean", "sample"])
def test_exports_hold_the_mean(vae, tmp_path, eval_output):
    graph, _ = vae
    graph = graph.copy()
    graph.set_param(latent_node(graph), "eval_output", eval_output)
    model = compile_graph(graph, seed=0)
    for export, name in ((export_onnx, "vae.onnx"), (export_torchscript, "vae.pt"), (export_python, "vae.py")):
        result = export(graph, model, tmp_path / name)
        assert result.max_difference <= 1e-5, name  # checked against the model giving the mean
    sampler = next(m for m in model.modules() if isinstance(m, Sampling))
    assert sampler.sample_in_eval == (eval_output == "sample")  # given back as it was


def test_the_latent_grid_decodes_a_grid_of_codes(vae):
    graph, model = vae
    node = latent_node(graph)
    grid = latent_grid(model, node, size=3, gap=1)
    assert grid.shape == (3 * 8 + 2, 3 * 8 + 2)
    model.eval()
    pixels = model.decoder_128  # the decoder's first layer: grid[0, 0] is code (-2, +2)
    with torch.no_grad():
        h = torch.relu(pixels(torch.tensor([[-2.0, 2.0]])))
        first = torch.sigmoid(model.pixels_0_1_64(h)).reshape(8, 8)
    assert torch.allclose(torch.from_numpy(grid[:8, :8]), first, atol=1e-6)


def test_the_vae_template_trains_headless_and_writes_its_latent_grid(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "layerloom.gui.launcher", "train", str(EXAMPLES / "vae_digits.loom"),
         "--epochs", "2", "--out", str(out), "--no-progress", "--no-record"],  # no run beside the template
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    log = done.stderr  # the progress: one line per epoch, each term and the total
    assert "loss terms: total = 1·loss_reconstruction + 1·loss_kl" in log
    assert "epoch 2/2" in log and "val_loss_reconstruction" in log and "loss_kl" in done.stdout
    assert f"wrote {out / 'latent_grid.png'}" in done.stdout
    report = json.loads((out / "metrics.json").read_text())
    first, last = report["epochs"][0]["val"], report["epochs"][-1]["val"]
    assert {"loss", "loss_reconstruction", "loss_kl"} == set(last)
    assert last["loss_reconstruction"] < first["loss_reconstruction"]
    side = (GRID * 8 + GRID - 1) * 5
    assert Image.open(out / "latent_grid.png").size == (side, side)


def test_a_bad_wiring_stops_layerloom_train_naming_the_outputs(tmp_path):
    from layerloom.graph import save_graph

    graph = load_template("vae_digits")
    graph.remove_edge(graph.incoming("kl_divergence_1")["logvar"])
    graph.connect("dense_2", "out", "kl_divergence_1", "logvar")  # the mean, again
    path = tmp_path / "bad_vae.loom"
    save_graph(graph, path)
    done = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "train", str(path),
                           "--epochs", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "KL (KLDivergence): mean and logvar both come from Mean (2) (out)" in done.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()
