"""`layerloom blocks`: list, save, insert, delete, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from layerloom.graph import Graph, load_graph, make_block, save_graph
from tests.graph.helpers import chain


def blocks(library, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAYERLOOM_BLOCKS_DIR": str(library)}
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "blocks", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def model_file(tmp_path):
    g = Graph()
    inp, a, b, out = chain(g, ("input", {"shape": [4]}), ("dense", {"units": 4, "activation": "relu"}),
                           ("dense", {"units": 4}), "output")
    make_block(g, [a, b], "mlp")
    path = tmp_path / "model.loom"
    save_graph(g, path)
    return path


def test_list_shows_built_ins_and_the_library(tmp_path):
    lib = tmp_path / "lib"
    (tmp_path / "lib").mkdir()
    (lib / "broken.loom").write_text("{")
    done = blocks(lib)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "source", "inputs", "outputs", "exposed", "params"]
    row = next(line for line in lines if line.startswith("residual_basic "))
    assert "built-in" in row and "x (16, 8, 8)" in row and "width=16" in row and "4,672" in row
    assert "warning: skipped block file broken.loom" in done.stderr
    assert lines[-1] == f"8 blocks; your library is {lib}"


def test_save_insert_delete_round_trip(tmp_path):
    lib, model = tmp_path / "lib", model_file(tmp_path)
    done = blocks(lib, "save", str(model), "mlp")
    assert done.returncode == 0, done.stderr
    assert (lib / "mlp.loom").is_file()
    again = blocks(lib, "save", str(model), "mlp")
    assert again.returncode == 1 and "already has a block 'mlp'" in again.stderr
    assert blocks(lib, "save", str(model), "mlp", "--replace").returncode == 0
    listed = json.loads(blocks(lib, "--json").stdout)
    mine = [r for r in listed if r["source"] == "library"]
    assert [(r["name"], r["inputs"], r["outputs"], r["params"]) for r in mine] == \
        [("mlp", {"in": "(4,)"}, {"out": "(4,)"}, 40)]

    target = tmp_path / "target.loom"
    save_graph(Graph(), target)
    done = blocks(lib, "insert", str(target), "transformer_encoder", "--id", "enc")
    assert done.returncode == 0, done.stderr
    assert "added block node 'enc'" in done.stdout
    g = load_graph(target)
    assert g.node("enc").params["block"] == "transformer_encoder"
    assert g.blocks.names() == ["transformer_encoder"]
    assert blocks(lib, "insert", str(target), "mlp").returncode == 0
    assert load_graph(target).blocks.names() == ["transformer_encoder", "mlp"]

    assert blocks(lib, "delete", "mlp").returncode == 0
    assert not (lib / "mlp.loom").exists()
    gone = blocks(lib, "delete", "mlp")
    assert gone.returncode == 1 and "has no block 'mlp'" in gone.stderr


def test_bad_input_is_one_error_line(tmp_path):
    lib = tmp_path / "lib"
    for args, text in [(("insert", str(tmp_path / "none.loom"), "unet_up"), "no such file"),
                       (("save", str(model_file(tmp_path)), "nope"), "no block definition 'nope'"),
                       (("insert", str(model_file(tmp_path)), "nope"), "no built-in or library block"),
                       (("save", "x"), "takes FILE BLOCK_NAME")]:
        done = blocks(lib, *args)
        assert done.returncode != 0
        assert done.stderr.startswith("error: ") and text in done.stderr and "Traceback" not in done.stderr
