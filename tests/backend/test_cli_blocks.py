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


def flat_file(tmp_path):
    """Input -> dense_1 -> dense_2 -> output, plus a skip dense_1 -> add <- dense_2."""
    g = Graph()
    inp, a, b = chain(g, ("input", {"shape": [4]}), ("dense", {"units": 4, "activation": "relu"}),
                      ("dense", {"units": 4}))
    add = g.add_node("add").id
    g.connect(a, "out", add, "in1")
    g.connect(b, "out", add, "in2")
    out = g.add_node("output").id
    g.connect(add, "out", out, "in")
    path = tmp_path / "flat.loom"
    save_graph(g, path)
    return path, (inp, a, b, add, out)


def test_make_and_ungroup_round_trip(tmp_path):
    path, (inp, a, b, add, out) = flat_file(tmp_path)
    blocked = tmp_path / "blocked.loom"
    done = blocks(tmp_path, "make", str(path), "--nodes", f"{b},{add}", "--name", "tail", "-o", str(blocked))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"made block 'tail' of 2 node(s) ({b}, {add}) in the graph: block node 'tail'")
    assert "inputs: in; outputs: out" in done.stdout
    assert load_graph(path).blocks.names() == []  # -o leaves FILE as it was
    g = load_graph(blocked)
    assert [n.id for n in g.nodes] == [inp, a, "tail", out]
    assert {n.id for n in g.blocks["tail"].body.nodes} >= {b, add}
    assert g.analysis().valid and g.analysis().total_params == load_graph(path).analysis().total_params

    # nested: a block inside the definition, then back out again, in place
    inner = blocks(tmp_path, "make", str(blocked), "--nodes", b, "--name", "proj", "--inside", "tail")
    assert inner.returncode == 0, inner.stderr
    assert "in block 'tail': block node 'proj'" in inner.stdout
    assert load_graph(blocked).blocks["tail"].body.node("proj").is_block
    back = blocks(tmp_path, "ungroup", str(blocked), "proj", "--inside", "tail")
    assert back.returncode == 0, back.stderr
    assert load_graph(blocked).blocks["tail"].body.has_node(b)

    done = blocks(tmp_path, "ungroup", str(blocked), "tail")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ungrouped block node 'tail' (definition 'tail', kept) in the graph into "
                                  f"2 node(s): {b}, {add}")
    g = load_graph(blocked)
    assert sorted(n.id for n in g.nodes) == sorted([inp, a, b, add, out])
    assert sorted((e.source, e.target) for e in g.edges) == sorted(
        (e.source, e.target) for e in load_graph(path).edges)


def test_make_and_ungroup_refusals_leave_the_file(tmp_path):
    path, (inp, a, b, add, out) = flat_file(tmp_path)
    before = path.read_bytes()
    for args, code, text in [
        (("make", str(path), "--nodes", f"{a},nope", "--name", "x"), 1, "the graph has no node 'nope' (its nodes: "),
        (("make", str(path), "--nodes", f"{inp},{a}", "--name", "x"), 1, "Input and Output nodes stay outside"),
        (("make", str(path), "--nodes", f"{a},{add}", "--name", "x"), 1, f"would make a cycle through {b}"),
        (("make", str(path), "--nodes", a, "--name", "2bad"), 1, "block name '2bad' is not valid"),
        (("make", str(path), "--nodes", a), 2, "needs --nodes A,B,... and --name NAME"),
        (("make", str(path), "--nodes", a, "--name", "x", "--inside", "zz"), 1, "no block definition 'zz'"),
        (("ungroup", str(path), a), 1, "not a block; only a block can be ungrouped"),
        (("ungroup", str(path), "ghost"), 1, "the graph has no node 'ghost' (its block nodes: none)"),
        (("ungroup", str(path)), 2, "takes FILE NODE_ID"),
        (("make", str(tmp_path / "none.loom"), "--nodes", a, "--name", "x"), 2, "no such file"),
    ]:
        done = blocks(tmp_path, *args)
        assert done.returncode == code, (args, done.stderr)
        assert done.stderr.startswith("error: ") and text in done.stderr, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
        assert path.read_bytes() == before
