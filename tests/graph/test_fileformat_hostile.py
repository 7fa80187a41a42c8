"""Files a careless or hostile user gives as ``.loom``: each ends in one named error
(or, for harmless quirks, loads), never a hang, a traceback or a graph that cannot be
saved again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from layerloom.graph import GraphFileError, dumps, load_graph, loads
from layerloom.graph.fileformat import MAX_FILE_BYTES
from tests.graph.helpers import mlp


def _text(**changes) -> str:
    data = json.loads(dumps(mlp(hidden=(4,))))
    for key, value in changes.items():
        data[key] = value
    return json.dumps(data)


def _node_text(**fields) -> str:
    data = json.loads(dumps(mlp(hidden=(4,))))
    data["nodes"][1].update(fields)
    return json.dumps(data)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.loom"
    path.write_bytes(b"\xef\xbb\xbf" + dumps(mlp(hidden=(4,))).encode())
    assert load_graph(path) == mlp(hidden=(4,))


def test_a_key_given_twice_is_named():
    text = _text().replace('"format": "layerloom.graph"',
                           '"format": "layerloom.graph", "format": "layerloom.graph"', 1)
    with pytest.raises(GraphFileError, match="the key 'format' appears twice"):
        loads(text)


@pytest.mark.parametrize("position", ["12", "ab", [True, 2], ["1", "2"], {"x": 1, "y": 2}])
def test_a_position_must_be_two_numbers(position):
    with pytest.raises(GraphFileError, match=r"nodes\[1\].*position must be two numbers"):
        loads(_node_text(position=position))


def test_integers_beyond_float_range_are_refused_with_the_place():
    huge = 10 ** 400
    text = _node_text(position=[1, 2]).replace("[1, 2]", f"[{huge}, 2]", 1)
    with pytest.raises(GraphFileError, match=r"nodes\[1\].*outside the canvas"):
        loads(text)
    data = json.loads(dumps(mlp(hidden=(4,))))
    dropout = [n for n in data["nodes"] if n["type"] == "dense"][0]
    dropout["type"], dropout["params"] = "dropout", {"p": 0}
    text = json.dumps(data).replace('"p": 0', f'"p": {huge}')
    with pytest.raises(GraphFileError, match="must be a finite number, got an integer of 401 digits"):
        loads(text)


@pytest.mark.parametrize("field,value,place", [
    ("label", "bad \ud800 label", r"nodes\[1\]\.label"),
    ("label", "nul \u0000 label", r"nodes\[1\]\.label"),
])
def test_text_that_cannot_be_saved_again_is_refused_with_the_place(field, value, place):
    with pytest.raises(GraphFileError, match=place):
        loads(_node_text(**{field: value}))


@pytest.mark.parametrize("title,problem", [("\ud83d", "lone surrogate"), ("a\u0000b", "NUL")])
def test_a_title_that_would_break_saving_or_export_is_refused(title, problem):
    with pytest.raises(GraphFileError, match=rf"meta\.title.*{problem}"):
        loads(_text(meta={"title": title}))


def test_validate_prints_a_surrogate_file_error_without_a_traceback(tmp_path):
    path = tmp_path / "s.loom"
    path.write_text(_node_text(label="\ud800"), encoding="utf-8")  # json escapes it: \ud800
    done = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "lone surrogate" in done.stderr


def _load_within(path, seconds=10.0):
    """load_graph(path) in a thread; fails the test if it does not return in time."""
    outcome = {}

    def load():
        try:
            outcome["graph"] = load_graph(path)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} did not return within {seconds} s"
    return outcome


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.loom"
    os.mkfifo(fifo)
    outcome = _load_within(fifo)
    assert isinstance(outcome.get("error"), GraphFileError)
    assert "named pipe" in str(outcome["error"]) and "not a regular file" in str(outcome["error"])


def test_a_symlink_to_an_endless_device_is_refused(tmp_path):
    link = tmp_path / "zero.loom"
    link.symlink_to("/dev/zero")
    outcome = _load_within(link)
    assert isinstance(outcome.get("error"), GraphFileError)
    assert "is a device" in str(outcome["error"])


def test_a_symlink_loop_is_an_error_not_a_crash(tmp_path):
    a, b = tmp_path / "a.loom", tmp_path / "b.loom"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(GraphFileError, match="cannot read"):
        load_graph(a)


def test_a_symlink_to_a_real_file_still_opens(tmp_path):
    real = tmp_path / "real.loom"
    real.write_text(dumps(mlp(hidden=(4,))), encoding="utf-8")
    link = tmp_path / "link.loom"
    link.symlink_to(real)
    assert load_graph(link) == mlp(hidden=(4,))


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big.loom"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no real disk used
    with pytest.raises(GraphFileError, match="the limit is"):
        load_graph(path)


def test_an_input_of_a_billion_elements_is_an_error_before_anything_allocates():
    from layerloom.graph import Graph

    g = Graph()
    g.add_node("input", {"shape": (2000, 1000, 1000)})
    g.add_node("output")
    g.connect("input_1", "out", "output_1", "in")
    errors = dict(g.analysis().errors)
    assert "over the memory budget" in errors["input_1"] and "7.5 GiB" in errors["input_1"]


def test_a_dense_layer_with_too_many_weights_is_an_error(monkeypatch):
    from layerloom.graph import Graph

    monkeypatch.setenv("LAYERLOOM_MEMORY_BUDGET", "1M")
    g = Graph()
    g.add_node("input", {"shape": (1000,)})
    g.add_node("dense", {"units": 1000})
    g.add_node("output")
    g.connect("input_1", "out", "dense_1", "in")
    g.connect("dense_1", "out", "output_1", "in")
    assert "1,001,000 parameters need 3.8 MiB, over the memory budget of 1.0 MiB" in \
        dict(g.analysis().errors)["dense_1"]
