"""Blocks in .loom files: version 2, the migration from version 1, hostile block data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerloom.graph import FORMAT_VERSION, GraphFileError, dumps, load_graph, loads, make_block
from tests.graph.test_blocks import residual_mlp

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def blocked() -> dict:
    g, ids = residual_mlp()
    make_block(g, ids, "residual")
    return json.loads(dumps(g))


def test_blocked_graph_round_trips_byte_for_byte():
    text = json.dumps(blocked())
    g = loads(text)
    assert g.blocks.names() == ["residual"] and g.analysis().valid
    assert dumps(loads(dumps(g))) == dumps(g)
    g.lint()


def test_version_1_files_open_unchanged_and_save_as_version_2():
    for path in sorted(EXAMPLES.glob("*.loom")):
        raw = json.loads(path.read_text())
        if raw["format_version"] != 1:
            continue
        g = load_graph(path)
        data = json.loads(dumps(g))
        assert FORMAT_VERSION == data["format_version"] == 2 and data["blocks"] == []
        assert data["edges"] == raw["edges"], path.name
        assert [n["id"] for n in data["nodes"]] == [n["id"] for n in raw["nodes"]], path.name
        for saved, old in zip(data["nodes"], raw["nodes"], strict=True):
            assert saved["params"] | old.get("params", {}) == saved["params"], (path.name, saved["id"])


def _with(mutate) -> str:
    data = blocked()
    mutate(data)
    return json.dumps(data)


def _self_nested(d):
    body = d["blocks"][0]
    body["nodes"].append({"id": "me", "type": "block", "params": {"block": "residual"}})


def _two_cycle(d):
    other = json.loads(json.dumps(d["blocks"][0]))
    other["name"] = "other"
    other["nodes"].append({"id": "back", "type": "block", "params": {"block": "residual"}})
    d["blocks"][0]["nodes"].append({"id": "fwd", "type": "block", "params": {"block": "other"}})
    d["blocks"].append(other)


HOSTILE = {
    "blocks not a list": (lambda d: d.update(blocks={}), r"at blocks: expected a list"),
    "entry not an object": (lambda d: d["blocks"].append(3), r"blocks\[1\]: expected an object"),
    "bad name": (lambda d: d["blocks"][0].update(name="1 bad"), r"blocks\[0\].name: block name '1 bad'"),
    "name not text": (lambda d: d["blocks"][0].update(name=7), r"blocks\[0\].name"),
    "duplicate name": (lambda d: d["blocks"].append(dict(d["blocks"][0])), r"blocks\[1\] \(name 'residual'\): duplicate"),
    "missing definition": (lambda d: d["nodes"][2]["params"].update(block="nope"),
                           r"nodes\[2\] \(id 'residual'\): no block definition 'nope'"),
    "missing inner definition": (lambda d: d["blocks"][0]["nodes"].append(
        {"id": "x", "type": "block", "params": {"block": "ghost"}}), r"refers to block 'ghost', which is not defined"),
    "recursive": (_self_nested, r"block 'residual' contains itself \(residual > residual\)"),
    "recursive through another": (_two_cycle, r"contains itself \((residual > other > residual|other > residual > other)\)"),
    "inner nodes not a list": (lambda d: d["blocks"][0].update(nodes="x"), r"blocks\[0\] \(name 'residual'\).nodes: expected a list"),
    "inner unknown type": (lambda d: d["blocks"][0]["nodes"][1].update(type="warp"),
                           r"blocks\[0\] \(name 'residual'\).nodes\[1\].*unknown layer type 'warp'"),
    "inner bad param": (lambda d: d["blocks"][0]["nodes"][1]["params"].update(units="many"),
                        r"blocks\[0\] \(name 'residual'\).nodes\[1\].*units must be a whole number"),
    "exposed not a list": (lambda d: d["blocks"][0].update(exposed={}), r"exposed: expected a list"),
    "exposed missing node": (lambda d: d["blocks"][0]["exposed"].append({"name": "w", "node": "zz", "param": "units"}),
                             r"exposed\[0\]: no node 'zz'"),
    "exposed wrong field": (lambda d: d["blocks"][0]["exposed"].append({"name": 3}), r"exposed\[0\]: needs text fields"),
    "instance bad repeat": (lambda d: d["nodes"][2]["params"].update(repeat=0), r"repeat must be at least 1"),
    "instance huge repeat": (lambda d: d["nodes"][2]["params"].update(repeat=10**9), r"repeat must be at most 1000"),
    "instance wrong port": (lambda d: d["edges"][1].update(target_port="nope"), r"has no input port 'nope'"),
    "block param not text": (lambda d: d["nodes"][2]["params"].update(block=[1]), r"no block definition \[1\]"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_block_data_is_a_named_error(case):
    mutate, pattern = HOSTILE[case]
    with pytest.raises(GraphFileError, match=pattern):
        loads(_with(mutate))


def test_expansion_is_bounded():
    data = blocked()
    inner = data["blocks"][0]
    for level in range(1, 4):
        nodes = [{"id": "i", "type": "input", "params": {"shape": [8]}},
                 {"id": "b", "type": "block", "params": {"block": inner["name"], "repeat": 1000}},
                 {"id": "o", "type": "output"}]
        in_port = "in" if level == 1 else "i"
        out_port = "out" if level == 1 else "o"
        edges = [{"source": "i", "source_port": "out", "target": "b", "target_port": in_port},
                 {"source": "b", "source_port": out_port, "target": "o", "target_port": "in"}]
        inner = {"name": f"level{level}", "exposed": [], "nodes": nodes, "edges": edges}
        data["blocks"].append(inner)
    data["nodes"][2]["params"]["block"] = "level3"
    data["edges"] = [e for e in data["edges"]]
    for e in data["edges"]:
        if e["target"] == "residual":
            e["target_port"] = "i"
        if e["source"] == "residual":
            e["source_port"] = "o"
    g = loads(json.dumps(data))
    message = g.analysis().nodes["residual"].error
    assert "expands to" in message and "the limit is 100,000" in message
