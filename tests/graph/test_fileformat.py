"""The .loom format: round trips, migrations, and one named error per bad file."""

import json

import pytest

from layerloom.graph import (
    FORMAT_VERSION,
    GraphFileError,
    dumps,
    fileformat,
    load_graph,
    loads,
    save_graph,
)
from tests.graph.helpers import mlp


def _sample():
    g = mlp(hidden=(8, 8))
    g.set_label("dense_1", "Hidden — ü")
    g.move_node("dense_2", (12.5, -40))
    g.meta = {"title": "MLP", "description": "two hidden layers"}
    g.dataset = {"name": "iris", "options": {"seed": 3}}
    g.training = {"optimizer": "adam", "lr": 0.001}
    return g


def test_save_load_save_is_byte_identical(tmp_path):
    path = tmp_path / "m.loom"
    g = _sample()
    save_graph(g, path)
    first = path.read_bytes()
    again = load_graph(path)
    assert again == g
    save_graph(again, path)
    assert path.read_bytes() == first
    data = json.loads(first)
    assert data["format"] == "layerloom.graph" and data["format_version"] == FORMAT_VERSION


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "m.loom"
    save_graph(_sample(), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(fileformat.os, "replace", boom)
    with pytest.raises(OSError):
        save_graph(mlp(hidden=(3,)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.loom"]


def test_migrations_run_in_order(monkeypatch):
    data = json.loads(dumps(_sample()))
    data["format_version"] = 1
    monkeypatch.setattr(fileformat, "FORMAT_VERSION", 2)

    def v1_to_v2(d):
        d["meta"]["migrated"] = True
        return d

    monkeypatch.setitem(fileformat.MIGRATIONS, 1, v1_to_v2)
    out = fileformat.parse(json.dumps(data))
    assert out["format_version"] == 2 and out["meta"]["migrated"] is True


def _bad(mutate):
    data = json.loads(dumps(_sample()))
    mutate(data)
    return json.dumps(data)


CASES = {
    "truncated": (lambda: dumps(_sample())[:200], "line .* ends too early"),
    "not json": (lambda: "hello world", "not valid JSON"),
    "not utf8": (lambda: b"\xff\xfe\x00", "not UTF-8"),
    "top level list": (lambda: "[]", "top level: expected a JSON object"),
    "wrong format": (lambda: _bad(lambda d: d.update(format="keras")), "not a LayerLoom graph"),
    "newer version": (lambda: _bad(lambda d: d.update(format_version=99)), "unsupported version 99.*newer"),
    "version text": (lambda: _bad(lambda d: d.update(format_version="1")), "format_version: expected an integer"),
    "unknown type": (
        lambda: _bad(lambda d: d["nodes"][1].update(type="os.system")),
        r"nodes\[1\] \(id 'dense_1'\): unknown layer type 'os.system'",
    ),
    "bad value": (
        lambda: _bad(lambda d: d["nodes"][1]["params"].update(units=-3)),
        "units must be at least 1, got -3",
    ),
    "wrong value type": (
        lambda: _bad(lambda d: d["nodes"][1]["params"].update(bias="yes")),
        "bias must be true or false",
    ),
    "huge number": (
        lambda: _bad(lambda d: d["nodes"][1]["params"].update(units=10**40)),
        "too large",
    ),
    "huge int literal": (lambda: '{"format": "layerloom.graph", "format_version": ' + "9" * 5000 + "}", "unreadable number"),
    "nan": (lambda: dumps(_sample()).replace('"lr": 0.001', '"lr": NaN'), "NaN is not allowed"),
    "duplicate id": (
        lambda: _bad(lambda d: d["nodes"][2].update(id="dense_1")),
        "duplicate node id 'dense_1'",
    ),
    "dangling edge": (
        lambda: _bad(lambda d: d["edges"][0].update(target="ghost")),
        r"edges\[0\]: refers to node 'ghost'",
    ),
    "bad port": (
        lambda: _bad(lambda d: d["edges"][0].update(target_port="q")),
        "no input port 'q'",
    ),
    "cycle": (
        lambda: _bad(lambda d: d["edges"].append(
            {"source": "dense_2", "source_port": "out", "target": "dense_1", "target_port": "in"})),
        "already has a wire|cycle",
    ),
    "deep junk": (lambda: "[" * 100_000 + "]" * 100_000, "nested too deeply|top level"),
    "deep settings": (
        lambda: _bad(lambda d: d.update(training=json.loads('{"a":' * 20 + "1" + "}" * 20))),
        "training.a.a.*nested too deeply",
    ),
    "nodes not list": (lambda: _bad(lambda d: d.update(nodes={})), "nodes: expected a list"),
    "params not object": (lambda: _bad(lambda d: d["nodes"][0].update(params=[1])), r"nodes\[0\].*params: expected an object"),
    "position junk": (lambda: _bad(lambda d: d["nodes"][0].update(position="here")), "position must be two numbers"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_raise_one_named_error(case, tmp_path):
    make, pattern = CASES[case]
    text = make()
    path = tmp_path / "bad.loom"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(GraphFileError, match=pattern) as info:
        load_graph(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(GraphFileError, match="no such file"):
        load_graph(tmp_path / "nope.loom")
    with pytest.raises(GraphFileError, match="is a folder"):
        load_graph(tmp_path)


def test_loading_never_imports_or_executes(tmp_path, monkeypatch):
    text = _bad(lambda d: d["nodes"][1].update(type="__import__('os').system('touch pwned')"))
    with pytest.raises(GraphFileError, match="unknown layer type"):
        loads(text)
    assert not (tmp_path / "pwned").exists()


def test_alias_in_file_is_resolved():
    text = _bad(lambda d: d["nodes"][1].update(type="linear"))
    assert loads(text).node("dense_1").type == "dense"


def test_save_keeps_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "m.loom"
    save_graph(_sample(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    save_graph(_sample(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
