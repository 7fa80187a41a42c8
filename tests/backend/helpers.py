"""Builders and checks shared by the backend tests.

``Builder``, ``layer`` and ``sequential`` build graphs through the public Graph
API (compile, export and import tests); ``moons_file`` writes a small trainable
``.loom`` file and ``error_line`` reads the one error line a command prints
(command-line tests).
"""

from __future__ import annotations

from layerloom.graph import Graph, save_graph
from tests.graph.helpers import chain


def layer(type_id: str, label: str = "", **params):
    """One step of a chain: a layer id, an optional label and its params."""
    return (type_id, label, params)


class Builder:
    """Adds nodes and wires them in one call each: ``b.node("add", a, c)``."""

    def __init__(self) -> None:
        self.graph = Graph()

    def node(self, type_id: str, *sources: str, label: str = "", **params) -> str:
        node = self.graph.add_node(type_id, params, label=label)
        for port, source in zip(node.input_ports(), sources, strict=True):
            self.graph.connect(source, "out", node.id, port)
        return node.id

    def input(self, *shape: int, dtype: str = "float", label: str = "") -> str:
        return self.node("input", label=label, shape=shape, dtype=dtype)

    def output(self, source: str, label: str = "") -> str:
        return self.node("output", source, label=label)

    def chain(self, source: str, *layers) -> str:
        for type_id, label, params in layers:
            source = self.node(type_id, source, label=label, **params)
        return source


def sequential(shape, *layers, dtype: str = "float") -> Graph:
    """Input(shape) -> layers... -> Output."""
    b = Builder()
    b.output(b.chain(b.input(*shape, dtype=dtype), *layers))
    return b.graph


def moons_file(tmp_path, name="moons.loom", training=None, dataset=None, inputs=2):
    """A small MLP on two moons saved as ``tmp_path / name``, with its dataset and
    training sections (a few quick epochs unless given)."""
    g = Graph()
    chain(g, ("input", {"shape": [inputs]}), ("dense", {"units": 16, "activation": "relu"}),
          ("dense", {"units": 2}), "output")
    g.dataset = dataset if dataset is not None else {"name": "moons", "options": {"n_samples": 200}}
    g.training = training if training is not None else {"epochs": 3, "lr": 0.01, "batch_size": 20}
    path = tmp_path / name
    save_graph(g, path)
    return path


def error_line(capsys):
    """The one ``error:`` line a failed command wrote to stderr (and all of stderr);
    fails the test on a traceback or on several error lines."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0], err


def fill_disk(folder, leave: int = 0) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    import os

    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "ballast", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
