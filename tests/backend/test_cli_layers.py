"""`layerloom layers [NAME]`: the reference of every layer type, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from layerloom.graph import CATEGORIES, REGISTRY
from layerloom.graph.examples import examples_of


def layers(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "layers", *args],
                          capture_output=True, text=True, timeout=60)


def test_the_list_has_one_row_per_type_in_category_order():
    done = layers()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "id", "category", "help"]
    rows = [line for line in lines[2:] if line and not line.startswith(f"{len(REGISTRY)} layer types")]
    assert len(rows) == len(REGISTRY)
    start, end = lines[0].index(" id ") + 1, lines[0].index(" category ")  # columns are fixed-width
    ids = [row[start:end].strip() for row in rows]
    assert set(ids) == {spec.type_id for spec in REGISTRY}
    order = [CATEGORIES.index(REGISTRY.get(i).category) for i in ids]
    assert order == sorted(order)
    assert lines[-1] == f"{len(REGISTRY)} layer types; 'layerloom layers NAME' shows one in full"


def test_one_type_shows_parameters_ports_shape_rule_and_example():
    done = layers("CONV2D")  # any case, the palette name or the id
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Conv2d (conv2d) - Convolution")
    assert "  channels     int     16    1 … 65536" in out
    assert "Inputs: in" in out and "Outputs: out" in out
    # the rule itself is asked: refusals carry its message and fix
    assert "refused: Conv2d needs (C, H, W); it receives (6, 8)" in out
    assert "fix: use Conv1d for (C, L) sequences" in out
    assert "(N, 4, 8, 8)     -> out (N, 16, 6, 6)" in out
    spec = REGISTRY.get("conv2d")
    example = examples_of(spec)[0]
    params = spec.check_params(example.params)
    outs = spec.infer(params, example.inputs)
    given = ", ".join(f"{k}={v}" for k, v in example.params.items())
    assert (f"  {given}: in {example.inputs['in']} -> out {outs['out']}; "
            f"{spec.param_count(params, example.inputs, outs):,} parameters") in out


def test_json_describes_every_type_the_way_the_registry_does():
    done = layers("--json")
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows] == [r["id"] for r in sorted(rows, key=lambda r: CATEGORIES.index(r["category"]))]
    detail = json.loads(layers("dense", "--json").stdout)
    spec = REGISTRY.get("dense")
    assert [p["name"] for p in detail["parameters"]] == [p.name for p in spec.params]
    assert detail["parameters"][0] == {"name": "units", "kind": "int", "default": 32, "range": "1 … 1000000",
                                       "help": spec.param("units").help}
    assert detail["aliases"] == ["linear"]
    (example,) = detail["examples"]
    assert example == {"params": {"units": 4}, "inputs": {"in": "(N, 8)"}, "outputs": {"out": "(N, 4)"},
                       "parameters": 8 * 4 + 4}


def test_variable_ports_say_so():
    out = layers("concat").stdout
    assert "Inputs: in1, in2 (the number follows a parameter; shown with the defaults)" in out


def test_search_and_category_narrow_the_list():
    done = layers("--search", "relu")
    ids = [line.split()[1] for line in done.stdout.splitlines()[2:-2]]
    assert ids[0] == "relu"  # the exact name first
    assert "leaky_relu" in ids
    done = layers("--category", "Pooling")
    cats = {REGISTRY.get(line.split()[1]).category for line in done.stdout.splitlines()[2:-2]}
    assert cats == {"Pooling"}


def test_unknown_names_and_bad_usage_give_one_error_line():
    done = layers("Convv2d")
    assert done.returncode == 2
    assert done.stderr.startswith("error: no layer type is called 'Convv2d'; did you mean Conv2d, ")
    done = layers("dense", "--search", "x")
    assert done.returncode == 2 and done.stderr.startswith("error: give a NAME or --category/--search")
    done = layers("--search", "zzzz")
    assert done.returncode == 2 and done.stderr == "error: no layer type matches 'zzzz'\n"
    assert "Traceback" not in done.stderr


def test_the_readme_table_is_the_registry_s():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- layers-table -->\n")[1].split("\n<!-- /layers-table -->")[0]
    done = layers("--markdown")
    assert table == done.stdout.strip(), "the README's layer table is out of date: run 'layerloom layers --markdown'"
